/*
 * The exit table: one handler per exit code, shared by both backends; each VM has its own
 * copy of the defaults below.
 *
 * Devices are reached through inout_dispatch / mmio_dispatch, the platform through the
 * handlers it registered with vm_set_platform_ops.
 */
#include <sched.h>
#include <stdio.h>

#include "vmm/inout.h"
#include "vmm/mmio.h"
#include "vmm/vm_internal.h"

static int vmexit_continue(struct vcpu *vcpu, struct vm_exit *exit)
{
	return VMEXIT_CONTINUE;
}

static int vmexit_inout(struct vcpu *vcpu, struct vm_exit *exit)
{
	uint32_t eax = exit->u.inout.eax;
	int in = exit->u.inout.in;

	if (exit->u.inout.bytes != 1 && exit->u.inout.bytes != 2 && exit->u.inout.bytes != 4)
		return VMEXIT_ABORT;   /* no such access on x86: a backend bug */
	if (inout_dispatch(vcpu, in, exit->u.inout.port, exit->u.inout.bytes, &eax) < 0)
		return VMEXIT_ABORT;
	if (in) {
		if (exit->u.inout.bytes < 4)
			eax &= (1u << (8 * exit->u.inout.bytes)) - 1;
		exit->u.inout.eax = eax;
	}
	return VMEXIT_CONTINUE;
}

static int vmexit_mmio(struct vcpu *vcpu, struct vm_exit *exit)
{
	uint64_t val = exit->u.mmio.val;
	int dir = exit->u.mmio.write ? MEM_F_WRITE : MEM_F_READ;

	if (exit->u.mmio.bytes == 0 || exit->u.mmio.bytes > 8 ||
	    (exit->u.mmio.bytes & (exit->u.mmio.bytes - 1)))
		return VMEXIT_ABORT;
	if (mmio_dispatch(vcpu, dir, exit->u.mmio.gpa, exit->u.mmio.bytes, &val) < 0)
		return VMEXIT_ABORT;
	if (!exit->u.mmio.write)
		exit->u.mmio.val = val;
	return VMEXIT_CONTINUE;
}

/* MSRs: the platform's first (APIC base, x2APIC, TSC deadline), then bhyve's policy for the
 * rest: #GP unless -w (x86.strictmsr=false) made reads return 0 and writes be ignored. */
static int vmexit_msr(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vm *vm = vcpu_vm(vcpu);
	bool wr = exit->code == VM_EXITCODE_WRMSR;
	int rc = 1;

	const struct vm_platform_ops *ops = atomic_load_explicit(&vm->plat_ops,
								 memory_order_acquire);

	exit->u.msr.gp = false;
	if (wr && ops && ops->wrmsr)
		rc = ops->wrmsr(vm, vcpu_id(vcpu), exit->u.msr.msr, exit->u.msr.val);
	else if (!wr && ops && ops->rdmsr)
		rc = ops->rdmsr(vm, vcpu_id(vcpu), exit->u.msr.msr, &exit->u.msr.val);
	if (rc == 0)
		return VMEXIT_CONTINUE;
	if (rc < 0 || vm_get_options(vm)->strictmsr) {
		exit->u.msr.gp = true;
		return VMEXIT_CONTINUE;
	}
	if (!wr)
		exit->u.msr.val = 0;
	return VMEXIT_CONTINUE;
}

static int vmexit_intr_ack(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vm *vm = vcpu_vm(vcpu);
	const struct vm_platform_ops *ops = atomic_load_explicit(&vm->plat_ops,
								 memory_order_acquire);

	exit->u.intr.vector = ops && ops->intr_ack ? ops->intr_ack(vm, vcpu_id(vcpu)) : -1;
	return VMEXIT_CONTINUE;
}

static int vmexit_pause(struct vcpu *vcpu, struct vm_exit *exit)
{
	sched_yield();
	return VMEXIT_CONTINUE;
}

static int vmexit_shutdown(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct cpu_regs r;

	/* Where it died is the first thing anyone debugging a guest wants to know. */
	if (vcpu_get_regs(vcpu, &r) == 0)
		fprintf(stderr, "bhyve: vCPU %d triple fault at rip 0x%llx (cr0 0x%llx, "
			"efer 0x%llx)\n", vcpu_id(vcpu), (unsigned long long)r.rip,
			(unsigned long long)r.cr0, (unsigned long long)r.efer);
	vm_suspend(vcpu_vm(vcpu), VM_SUSPEND_TRIPLEFAULT, "triple fault");
	return VMEXIT_CONTINUE;
}

static int vmexit_invalid(struct vcpu *vcpu, struct vm_exit *exit)
{
	fprintf(stderr, "bhyve: vCPU %d cannot continue at rip 0x%llx: %s\n", vcpu_id(vcpu),
		(unsigned long long)exit->rip,
		exit->u.invalid.msg ? exit->u.invalid.msg : "invalid state");
	return VMEXIT_ABORT;
}

static const vm_exit_handler_t vm_exit_defaults[VM_EXITCODE_MAX] = {
	[VM_EXITCODE_NONE] = vmexit_continue,
	[VM_EXITCODE_INOUT] = vmexit_inout,
	[VM_EXITCODE_MMIO] = vmexit_mmio,
	[VM_EXITCODE_HLT] = vcpu_handle_hlt,
	[VM_EXITCODE_PAUSE] = vmexit_pause,
	[VM_EXITCODE_RDMSR] = vmexit_msr,
	[VM_EXITCODE_WRMSR] = vmexit_msr,
	[VM_EXITCODE_SHUTDOWN] = vmexit_shutdown,
	[VM_EXITCODE_WAIT_SIPI] = vcpu_handle_wait_sipi,
	[VM_EXITCODE_DEBUG] = vmexit_continue,
	[VM_EXITCODE_KICK] = vmexit_continue,
	[VM_EXITCODE_INTR_ACK] = vmexit_intr_ack,
	[VM_EXITCODE_INVALID] = vmexit_invalid,
};

int vm_exit_dispatch(struct vcpu *vcpu, struct vm_exit *exit)
{
	vm_exit_handler_t fn;

	if ((unsigned)exit->code >= VM_EXITCODE_MAX)
		return VMEXIT_ABORT;
	fn = __atomic_load_n(&vcpu_vm(vcpu)->exit_handlers[exit->code], __ATOMIC_ACQUIRE);
	if (!fn)
		fn = vm_exit_defaults[exit->code];
	return fn ? fn(vcpu, exit) : VMEXIT_ABORT;
}

vm_exit_handler_t vm_exit_set_handler(struct vm *vm, enum vm_exitcode code,
				      vm_exit_handler_t fn)
{
	if ((unsigned)code >= VM_EXITCODE_MAX)
		return NULL;
	vm_exit_handler_t old = __atomic_exchange_n(&vm->exit_handlers[code], fn, __ATOMIC_ACQ_REL);
	return old ? old : vm_exit_defaults[code];
}

void vm_set_platform_ops(struct vm *vm, const struct vm_platform_ops *ops)
{
	atomic_store_explicit(&vm->plat_ops, ops, memory_order_release);
}
