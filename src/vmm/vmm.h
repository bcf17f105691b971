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

#include "common/topology.h"
#include "cpu/cpu.h"
#include "vmm/vm_exit.h"

#define VM_MAXCPU TOPOLOGY_MAXCPU   /* the largest -c the command line accepts */

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
	/* A test device's exit port (pc-testdev's isa-debug-exit): bhyve exits with the status
	 * the guest chose, vm_debug_exit_status(). */
	VM_SUSPEND_DEBUG_EXIT = 5,
};

/* ---- Lifetime (shared memory object) ---- */

/* Create the named VM with `memsize` bytes of RAM; fails with EEXIST if it exists. */
int vm_create(const char *name, uint64_t memsize);
/* Open an existing VM (maps its RAM).  NULL with errno on failure: EPERM if another user owns
 * it, EACCES if its object is open to other users (mode wider than 0600), EINVAL if it is not
 * a whole VM object of this version. */
struct vm *vm_open(const char *name);
/* Why vm_open failed, as the end of "VM 'x' ...". */
const char *vm_open_strerror(int err);
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
/* The message of the last vm_setup failure. */
const char *vm_last_error(const struct vm *vm);
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
/* Stop the VM with VM_SUSPEND_DEBUG_EXIT and process exit status `status` (0-255). */
void vm_suspend_debug_exit(struct vm *vm, int status);
int vm_debug_exit_status(const struct vm *vm);

/* ---- Events from devices to vCPUs (any thread) ---- */

/* An interrupt may have become pending for this vCPU: set its flag and wake it from HLT. */
void vcpu_notify_intr(struct vm *vm, int vcpuid);
void vcpu_inject_nmi(struct vm *vm, int vcpuid);
void vcpu_send_init(struct vm *vm, int vcpuid);
void vcpu_send_sipi(struct vm *vm, int vcpuid, uint8_t vector);

/* ---- Names, scratch VMs, memory ranges, boot ROM ---- */

/* Longest VM name (bhyve's rule: 1..31 characters of [A-Za-z0-9_.-], not starting with '-' or
 * '.'); the shm object is "/bhyve.<name>". */
#define VM_NAME_LEN 31
#define VM_SHM_PREFIX "/bhyve."

/* Per-VM state of the parts above the VM core.  The VM owns one platform (platform/) and one
 * PCI bus (pci/); the VM core never looks inside them, it only keeps the pointer so that the
 * part can find its state from any struct vm.  The part sets it when it creates its state and
 * clears it (NULL) before freeing it. */
struct platform;
struct pci_bus;
struct platform *vm_platform(const struct vm *vm);
void vm_set_platform(struct vm *vm, struct platform *p);
struct pci_bus *vm_pci_bus(const struct vm *vm);
void vm_set_pci_bus(struct vm *vm, struct pci_bus *bus);

/* Questions the VM core passes up to the platform (interrupt controllers, platform MSRs),
 * registered by it with vm_set_platform_ops (`ops` must outlive the registration; NULL:
 * none).  Without a handler an interrupt
 * acknowledge finds nothing (-1) and every MSR is "not ours". */
struct vm_platform_ops {
	/* At an instruction boundary with IF=1 (software backend): the vector to deliver to
	 * vcpuid now, moved to in-service, or -1. */
	int (*intr_ack)(struct vm *vm, int vcpuid);
	/* 0 handled, 1 not the platform's (the caller applies the unknown-MSR policy), -1 #GP. */
	int (*rdmsr)(struct vm *vm, int vcpuid, uint32_t msr, uint64_t *val);
	int (*wrmsr)(struct vm *vm, int vcpuid, uint32_t msr, uint64_t val);
	/* Interrupt lines and messages from devices (vmm/irq.h), when the backend does not
	 * model the interrupt controllers itself.  how: VM_IRQ_*.  0, or -1 for a bad line. */
	int (*isa_irq)(struct vm *vm, int atpic_irq, int ioapic_irq, int how);
	int (*msi)(struct vm *vm, uint64_t addr, uint64_t data);
	int (*isa_set_trigger)(struct vm *vm, int atpic_irq, int level);
};
void vm_set_platform_ops(struct vm *vm, const struct vm_platform_ops *ops);

/* A VM that lives only in this process (no shm object; RAM is anonymous memory): unit tests
 * and tools that need a scratch VM.  Same layout rules as vm_create; vm_close frees it. */
struct vm *vm_create_anon(uint64_t memsize);

/* Guest-physical RAM ranges in ascending order, as (gpa, len) pairs: low RAM, then RAM from
 * 4 GiB; returns the count (1 or 2). */
int vm_mem_ranges(const struct vm *vm, uint64_t gpa[2], uint64_t len[2]);
/* Read-only memory (a boot ROM) at gpa: `host` (page-aligned, size a multiple of 4 KiB, alive
 * while vCPUs run) becomes guest memory that the guest can execute from, where the
 * backend can do that (KVM: a read-only memory slot; writes still reach the MMIO handler the
 * caller registered for the range).  -1 where it cannot (the software CPU executes from the
 * MMIO range itself). */
int vm_map_rom(struct vm *vm, uint64_t gpa, void *host, uint64_t size);

/* Device memory (a framebuffer BAR) that the guest reads and writes as ordinary memory:
 * `host` (page-aligned, size a multiple of 4 KiB, alive as long as the VM) appears at gpa, or
 * vm_unmap_devmem(host) removes it again.  Accesses never reach an MMIO handler while mapped; DMA (vm_map_gpa) does not see it.  0, or -1 (no free entry, bad
 * alignment, the backend refused). */
int vm_map_devmem(struct vm *vm, uint64_t gpa, void *host, uint64_t size);
void vm_unmap_devmem(struct vm *vm, void *host);
/* The host address of device memory at gpa (valid to the end of its page), or NULL. */
void *vm_devmem_ptr(struct vm *vm, uint64_t gpa);

/* The software CPU's view of this VM's memory (NULL before vm_setup or on KVM). */
struct cpu_vm *vm_soft_cpu_vm(struct vm *vm);
/* Writes into guest RAM through vm_map_gpa pointers (loaders, device DMA) are not seen by the
 * software CPU, which caches decoded code per page.  Whoever writes must call vm_notify_write
 * for the range after writing it and before telling the guest the write is done (for DMA:
 * before the completion the guest waits for); it drops decoded code only in pages that hold
 * some, so it is cheap.  virtio devices get this from the ring (vq_push, struct vq_mem).
 * vm_tracks_dma_writes is false where nothing needs it (KVM), so callers may skip the work. */
void vm_notify_write(struct vm *vm, uint64_t gpa, uint64_t len);
bool vm_tracks_dma_writes(struct vm *vm);

/* The pid of the bhyve process running this VM, or 0 if none (a stale record of a process
 * that died counts as none). */
int vm_running_pid(struct vm *vm);

/* Any thread while the VM runs: the registers of a vCPU, taken by its own thread at its next
 * stop (it is kicked).  0, or -1 if it did not answer within timeout_ms. */
int vcpu_snapshot_regs(struct vcpu *vcpu, struct cpu_regs *regs, int timeout_ms);

/* ---- Control channel of a running VM (vm_ctl.c) ----
 * bhyve serves requests on an abstract UNIX socket named after the VM; bhyvectl uses it for
 * the state of a running VM.  Only the same user (or root) may connect. */
int vm_ctl_start(struct vm *vm);          /* 0, or -1 (bhyve runs on without it) */
void vm_ctl_stop(struct vm *vm);
/* Client: registers of vCPU `vcpuid` of the running VM `name`.  0, or -1 with a message. */
int vm_ctl_get_regs(const char *name, int vcpuid, struct cpu_regs *regs, char *err,
		    size_t errlen);

/* Which suspend reason ended the VM (VM_SUSPEND_NONE while it runs). */
enum vm_suspend_how vm_suspended(const struct vm *vm);
const char *vm_suspend_name(enum vm_suspend_how how);

/* Options that vm_setup reads from the config tree (exposed for tests and bhyvectl). */
struct vm_options {
	bool vmexit_on_hlt;        /* -H, x86.vmexit_on_hlt: a halted vCPU sleeps (else polls) */
	bool vmexit_on_pause;      /* -P, x86.vmexit_on_pause */
	bool strictmsr;            /* !-w, x86.strictmsr: #GP on unknown MSRs (default true) */
	int sockets, cores, threads;
};
const struct vm_options *vm_get_options(const struct vm *vm);

/* Per-vCPU run statistics (bhyvectl --get-stats reads what the running bhyve kept). */
struct vcpu_stats {
	uint64_t exits[VM_EXITCODE_MAX];   /* by enum vm_exitcode (vm_exit.h) */
	uint64_t insns;            /* retired instructions (soft backend) */
};
int vcpu_get_stats(struct vcpu *vcpu, struct vcpu_stats *st);
/* The statistics a bhyve process running this VM publishes in the shm header (another
 * process's view; zero if it never ran).  0, or -1 for a bad vCPU number. */
int vm_read_vcpu_stats(struct vm *vm, int vcpuid, struct vcpu_stats *st);

#endif
