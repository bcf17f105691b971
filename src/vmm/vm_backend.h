/*
 * The backend interface: what the VM core needs from an execution engine (the software CPU in
 * backend_soft.c, KVM in backend_kvm.c).  One struct of operations per backend.
 *
 * vcpu_run runs guest code until something the run loop must handle; exits a backend
 * handles itself while the guest keeps going (the soft CPU's synchronous port/MMIO/MSR and
 * interrupt-acknowledge callbacks, KVM's I/O, MMIO and MSR exits) go through the same
 * vcpu_handle_exit() as the run loop's.
 */
#ifndef BHYVE_VM_BACKEND_H
#define BHYVE_VM_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "vmm/ioevent.h"
#include "vmm/vm_exit.h"
#include "vmm/vmm.h"

struct vm;
struct vcpu;

struct vm_backend_ops {
	const char *name;
	/* Per VM (after memory is mapped) and per vCPU.  0, or -1 with a message in err. */
	int (*vm_init)(struct vm *vm, char *err, size_t errlen);
	void (*vm_fini)(struct vm *vm);
	int (*vcpu_init)(struct vcpu *vcpu, const struct cpu_model *model, char *err,
			 size_t errlen);
	void (*vcpu_fini)(struct vcpu *vcpu);
	/* Run until an exit the loop handles; fills *exit.  0, or -1 on a backend failure. */
	int (*vcpu_run)(struct vcpu *vcpu, struct vm_exit *exit);
	int (*get_regs)(struct vcpu *vcpu, struct cpu_regs *regs);
	int (*set_regs)(struct vcpu *vcpu, const struct cpu_regs *regs);
	/* Any thread: make vcpu_run return soon (VM_EXITCODE_KICK). */
	void (*kick)(struct vcpu *vcpu);
	/* Any thread: an interrupt may be deliverable. */
	void (*notify_intr)(struct vcpu *vcpu);
	void (*inject_nmi)(struct vcpu *vcpu);
	/* vCPU thread only: INIT (to wait-for-SIPI) and SIPI (start at vector << 12). */
	void (*init_signal)(struct vcpu *vcpu);
	void (*sipi)(struct vcpu *vcpu, uint8_t vector);
	void (*set_exit_on_pause)(struct vcpu *vcpu, bool on);
	uint64_t (*insn_count)(struct vcpu *vcpu);
	/* Optional (vm_map_rom): read-only guest memory backed by `host`. */
	int (*map_rom)(struct vm *vm, uint64_t gpa, void *host, uint64_t size);
	/* Optional (vm_map_devmem): slot `idx` of device memory now maps [gpa, gpa + size) to
	 * `host`, or is removed (size 0).  The software CPU needs none: it reads vm->devmem. */
	int (*map_devmem)(struct vm *vm, int idx, uint64_t gpa, void *host, uint64_t size);
	/* Optional (vm_notify_write): a device or loader wrote [gpa, gpa + len) of guest RAM.
	 * A backend that has it tracks such writes (vm_tracks_dma_writes). */
	void (*notify_write)(struct vm *vm, uint64_t gpa, uint64_t len);
	/* Optional (ioevent.h): writes completed without stopping the vCPU. */
	int (*ioevent_add)(struct vm *vm, const struct vm_ioevent_spec *spec);
	void (*ioevent_del)(struct vm *vm, int handle);
	void (*ioevent_stop)(struct vm *vm);
	/* KVM: the backend's kernel models the LAPICs, so INIT/SIPI and HLT never
	 * reach the run loop and every vCPU thread enters vcpu_run from the start. */
	bool lapic_in_kernel;
};

/* The one exit path of both backends and the run loop (vcpu.c): count the exit in the vCPU's
 * statistics, dispatch it through the VM's exit table, and on VMEXIT_ABORT stop the VM with
 * an error naming the exit.  Returns VMEXIT_CONTINUE or VMEXIT_ABORT. */
int vcpu_handle_exit(struct vcpu *vcpu, struct vm_exit *exit);

extern const struct vm_backend_ops vm_backend_soft;
/* KVM backend: backend_kvm.c; the choice for vmm.backend (kvm_probe.c): NULL
 * with a message in err if KVM was asked for and cannot run guests. */
extern const struct vm_backend_ops vm_backend_kvm;
const struct vm_backend_ops *vm_backend_select(enum vm_backend_kind kind, char *err,
					       size_t errlen);

/* Set up `ncpus` vCPUs on an explicit backend (vm_setup uses this; tests pass a fake one). */
int vm_setup_backend(struct vm *vm, const struct vm_backend_ops *ops, int ncpus, char *err,
		     size_t errlen);
/* Backend-private per-VM / per-vCPU data. */
void *vm_backend_data(const struct vm *vm);
void vm_set_backend_data(struct vm *vm, void *p);
void *vcpu_backend_data(const struct vcpu *vcpu);
void vcpu_set_backend_data(struct vcpu *vcpu, void *p);

#endif
