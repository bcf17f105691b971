/*
 * The VM interface: what FreeBSD keeps in vmm.ko + libvmmapi, behind one API with two backends
 * (the software CPU, src/cpu/, and KVM).  Devices, loaders and the run loop use only this.
 *
 * Guest RAM lives in a named POSIX shared-memory object ("/bhyve.<name>") so that bhyveload
 * (creates and loads the VM) and bhyve (runs it) are separate processes, as on FreeBSD; the
 * object's header page records the memory size and the boot vCPU state set by the loader.
 */
#ifndef BHYVE_VMM_H
#define BHYVE_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu.h"

#define VM_MAXCPU 16          /* bhyve(8): "The current maximum number of guest virtual CPUs is 16" */
#define VM_NAME_MAX 64

struct vm;
struct vcpu;

enum vm_backend_kind { VM_BACKEND_AUTO = 0, VM_BACKEND_SOFT, VM_BACKEND_KVM };

/* How a VM ended; maps 1:1 onto bhyve's exit status (see bhyve(8) EXIT STATUS). */
enum vm_suspend_how {
	VM_SUSPEND_NONE = -1,
	VM_SUSPEND_RESET = 0,      /* exit 0: rebooted */
	VM_SUSPEND_POWEROFF = 1,   /* exit 1: powered off */
	VM_SUSPEND_HALT = 2,       /* exit 2: halted */
	VM_SUSPEND_TRIPLEFAULT = 3,/* exit 3: triple fault */
	VM_SUSPEND_ERROR = 4,      /* exit 4: error */
};

/* ---- Lifetime (shared memory object) ---- */

/* Create the named VM with `memsize` bytes of RAM; fails with EEXIST if it exists. */
int vm_create(const char *name, uint64_t memsize);
/* Open an existing VM (maps its RAM).  NULL with errno on failure. */
struct vm *vm_open(const char *name);
/* Remove the named VM's shared memory; the mapping of processes that have it stays valid. */
int vm_destroy(const char *name);
void vm_close(struct vm *vm);
bool vm_name_valid(const char *name);
const char *vm_name(const struct vm *vm);

/* ---- Memory ---- */
uint64_t vm_mem_size(const struct vm *vm);       /* total RAM */
uint64_t vm_lowmem_size(const struct vm *vm);    /* RAM below the PCI hole (layout.h) */
uint64_t vm_highmem_size(const struct vm *vm);   /* RAM from 4 GiB up */
/* Host pointer for [gpa, gpa+len) if it lies wholly in RAM, else NULL.  Every guest-supplied
 * address (DMA descriptors, loader targets) must go through this. */
void *vm_map_gpa(struct vm *vm, uint64_t gpa, size_t len);

/* ---- Boot state stored by bhyveload for bhyve (lives in the shm header) ---- */
struct vm_boot_state {
	uint32_t valid;            /* non-zero once a loader has set it */
	struct cpu_regs regs;      /* BSP registers at entry */
};
int vm_set_boot_state(struct vm *vm, const struct vm_boot_state *bs);
int vm_get_boot_state(struct vm *vm, struct vm_boot_state *bs);

/* ---- vCPUs and running ---- */

/* Configure the run-time side (backend, vCPU count, options from the config tree) once per
 * bhyve process, after vm_open.  Reads config keys itself (cpus, x86.*, ...). */
int vm_setup(struct vm *vm, enum vm_backend_kind backend, int ncpus);
int vm_ncpus(const struct vm *vm);
struct vcpu *vm_vcpu(struct vm *vm, int id);
int vcpu_id(const struct vcpu *vcpu);
struct vm *vcpu_vm(const struct vcpu *vcpu);
struct cpu *vcpu_soft_cpu(struct vcpu *vcpu);    /* NULL on KVM */

int vcpu_get_regs(struct vcpu *vcpu, struct cpu_regs *regs);
int vcpu_set_regs(struct vcpu *vcpu, const struct cpu_regs *regs);

/* Start every vCPU thread (the BSP runs, APs wait for INIT/SIPI) and wait until the VM
 * suspends; returns how it ended. */
enum vm_suspend_how vm_run(struct vm *vm);
/* Ask the VM to stop with `how` (first caller wins); wakes every vCPU. */
void vm_suspend(struct vm *vm, enum vm_suspend_how how, const char *why);

/* ---- Events from devices to vCPUs (any thread) ---- */

/* An interrupt may have become pending for this vCPU: set its flag and wake it from HLT. */
void vcpu_notify_intr(struct vm *vm, int vcpuid);
void vcpu_inject_nmi(struct vm *vm, int vcpuid);
void vcpu_send_init(struct vm *vm, int vcpuid);
void vcpu_send_sipi(struct vm *vm, int vcpuid, uint8_t vector);

#endif
