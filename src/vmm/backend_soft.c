/*
 * The software backend: each vCPU is a struct cpu from src/cpu/.
 *
 * The CPU calls back synchronously for port I/O, MMIO, MSRs it does not own and interrupt
 * acknowledge; each callback becomes a struct vm_exit handled by vcpu_handle_exit(), so
 * devices see the same thing as on KVM.  cpu_run() returns for HLT, PAUSE (-P), triple fault,
 * wait-for-SIPI and kicks; those go back to the run loop in vcpu.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/layout.h"
#include "vmm/vclock.h"
#include "vmm/vm_internal.h"

struct soft_vcpu {
	struct cpu *cpu;
	struct vcpu *vcpu;
};

/* ---- Memory ---- */

static void *soft_gpa_ptr(void *memctx, uint64_t gpa)
{
	uint8_t *page = vm_map_gpa(memctx, gpa & ~0xfffULL, 0x1000);

	if (page)
		return page + (gpa & 0xfff);
	return vm_devmem_ptr(memctx, gpa);
}

static int soft_vm_init(struct vm *vm, char *err, size_t errlen)
{
	struct cpu_vm *cvm;
	uint64_t max_gpa = vm_highmem_size(vm) ? LAYOUT_HIGHMEM_BASE + vm_highmem_size(vm) :
						 LAYOUT_HIGHMEM_BASE;

	cvm = cpu_vm_create(soft_gpa_ptr, vm, max_gpa);
	if (cvm == NULL) {
		snprintf(err, errlen, "cannot create the software CPU's memory map");
		return -1;
	}
	vm_set_backend_data(vm, cvm);
	return 0;
}

static void soft_vm_fini(struct vm *vm)
{
	struct cpu_vm *cvm = vm_backend_data(vm);

	if (cvm)
		cpu_vm_destroy(cvm);
	vm_set_backend_data(vm, NULL);
}

struct cpu_vm *vm_soft_cpu_vm(struct vm *vm)
{
	return vm->ops == &vm_backend_soft ? vm_backend_data(vm) : NULL;
}

/* A boot ROM is read and executed in place; writes still reach the MMIO handler the owner
 * registered for the range. */
static int soft_map_rom(struct vm *vm, uint64_t gpa, void *host, uint64_t size)
{
	struct cpu_vm *cvm = vm_backend_data(vm);

	return cvm ? cpu_vm_add_rom(cvm, gpa, host, size) : -1;
}

/* Decoded code cached for the written pages is dropped. */
static void soft_notify_write(struct vm *vm, uint64_t gpa, uint64_t len)
{
	struct cpu_vm *cvm = vm_backend_data(vm);

	if (cvm)
		cpu_vm_notify_write(cvm, gpa, len);
}

/* ---- Callbacks from the CPU ---- */

static int soft_dispatch(struct soft_vcpu *s, struct vm_exit *exit)
{
	return vcpu_handle_exit(s->vcpu, exit) == VMEXIT_ABORT ? CPU_CB_ABORT : CPU_CB_OK;
}

static int soft_pio_in(void *ctx, uint16_t port, int bytes, uint32_t *val)
{
	struct vm_exit e = { .code = VM_EXITCODE_INOUT };
	int rc;

	e.u.inout.in = true;
	e.u.inout.port = port;
	e.u.inout.bytes = (uint8_t)bytes;
	rc = soft_dispatch(ctx, &e);
	*val = e.u.inout.eax;
	return rc;
}

static int soft_pio_out(void *ctx, uint16_t port, int bytes, uint32_t val)
{
	struct vm_exit e = { .code = VM_EXITCODE_INOUT };

	e.u.inout.port = port;
	e.u.inout.bytes = (uint8_t)bytes;
	e.u.inout.eax = val;
	return soft_dispatch(ctx, &e);
}

static int soft_mmio_read(void *ctx, uint64_t gpa, int bytes, uint64_t *val)
{
	struct vm_exit e = { .code = VM_EXITCODE_MMIO };
	int rc;

	e.u.mmio.gpa = gpa;
	e.u.mmio.bytes = (uint8_t)bytes;
	rc = soft_dispatch(ctx, &e);
	*val = e.u.mmio.val;
	return rc;
}

static int soft_mmio_write(void *ctx, uint64_t gpa, int bytes, uint64_t val)
{
	struct vm_exit e = { .code = VM_EXITCODE_MMIO };

	e.u.mmio.write = true;
	e.u.mmio.gpa = gpa;
	e.u.mmio.bytes = (uint8_t)bytes;
	e.u.mmio.val = val;
	return soft_dispatch(ctx, &e);
}

static int soft_rdmsr(void *ctx, uint32_t msr, uint64_t *val)
{
	struct vm_exit e = { .code = VM_EXITCODE_RDMSR };
	int rc;

	e.u.msr.msr = msr;
	rc = soft_dispatch(ctx, &e);
	*val = e.u.msr.val;
	return rc != CPU_CB_OK ? rc : (e.u.msr.gp ? CPU_CB_GP : CPU_CB_OK);
}

static int soft_wrmsr(void *ctx, uint32_t msr, uint64_t val)
{
	struct vm_exit e = { .code = VM_EXITCODE_WRMSR };
	int rc;

	e.u.msr.msr = msr;
	e.u.msr.val = val;
	rc = soft_dispatch(ctx, &e);
	return rc != CPU_CB_OK ? rc : (e.u.msr.gp ? CPU_CB_GP : CPU_CB_OK);
}

static int soft_intr_ack(void *ctx)
{
	struct soft_vcpu *s = ctx;
	struct vm_exit e = { .code = VM_EXITCODE_INTR_ACK };

	e.u.intr.vector = -1;
	if (vcpu_handle_exit(s->vcpu, &e) == VMEXIT_ABORT)
		return -1;
	return e.u.intr.vector;
}

/* The TSC is the VM's one virtual clock (vclock.c). */
static uint64_t soft_rdtsc(void *ctx)
{
	struct soft_vcpu *s = ctx;

	return vclock_tsc(vcpu_vm(s->vcpu));
}

static const struct cpu_ops soft_cpu_ops = {
	.pio_in = soft_pio_in,
	.pio_out = soft_pio_out,
	.mmio_read = soft_mmio_read,
	.mmio_write = soft_mmio_write,
	.rdmsr = soft_rdmsr,
	.wrmsr = soft_wrmsr,
	.intr_ack = soft_intr_ack,
	.rdtsc = soft_rdtsc,
};

/* ---- vCPUs ---- */

static int soft_vcpu_init(struct vcpu *vcpu, const struct cpu_model *model, char *err,
			  size_t errlen)
{
	struct soft_vcpu *s = calloc(1, sizeof(*s));
	struct cpu_model m = *model;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* The clock is created later (platform_create); its frequencies are constants of the
	 * clock, not of its state, so they can be asked now. */
	m.tsc_hz = vclock_tsc_hz(vcpu_vm(vcpu));
	m.crystal_hz = vclock_crystal_hz(vcpu_vm(vcpu));
	s->vcpu = vcpu;
	s->cpu = cpu_create(vm_backend_data(vcpu_vm(vcpu)), &soft_cpu_ops, s, &m);
	if (s->cpu == NULL) {
		snprintf(err, errlen, "cannot create vCPU %d", vcpu_id(vcpu));
		free(s);
		return -1;
	}
	cpu_reset(s->cpu);
	/* Application processors start in wait-for-SIPI, as after the BIOS's INIT. */
	if (vcpu_id(vcpu) != 0)
		cpu_init_signal(s->cpu);
	vcpu_set_backend_data(vcpu, s);
	return 0;
}

static void soft_vcpu_fini(struct vcpu *vcpu)
{
	struct soft_vcpu *s = vcpu_backend_data(vcpu);

	if (s == NULL)
		return;
	cpu_destroy(s->cpu);
	free(s);
	vcpu_set_backend_data(vcpu, NULL);
}

static struct cpu *soft_cpu(struct vcpu *vcpu)
{
	struct soft_vcpu *s = vcpu_backend_data(vcpu);

	return s ? s->cpu : NULL;
}

struct cpu *vcpu_soft_cpu(struct vcpu *vcpu)
{
	return vcpu_vm(vcpu)->ops == &vm_backend_soft ? soft_cpu(vcpu) : NULL;
}

static bool soft_intr_enabled(struct cpu *cpu)
{
	struct cpu_regs r;

	cpu_get_regs(cpu, &r);
	return (r.rflags & 0x200) != 0;
}

static int soft_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct cpu *cpu = soft_cpu(vcpu);
	struct cpu_exit ce = { 0 };

	switch (cpu_run(cpu, 0, &ce)) {
	case CPU_EXIT_HLT:
		exit->code = VM_EXITCODE_HLT;
		exit->u.hlt.intr_enabled = soft_intr_enabled(cpu);
		break;
	case CPU_EXIT_PAUSE: exit->code = VM_EXITCODE_PAUSE; break;
	case CPU_EXIT_SHUTDOWN: exit->code = VM_EXITCODE_SHUTDOWN; break;
	case CPU_EXIT_WAIT_SIPI: exit->code = VM_EXITCODE_WAIT_SIPI; break;
	case CPU_EXIT_DEBUG: exit->code = VM_EXITCODE_DEBUG; break;
	case CPU_EXIT_KICK: exit->code = VM_EXITCODE_KICK; break;
	case CPU_EXIT_INVALID:
		exit->code = VM_EXITCODE_INVALID;
		exit->u.invalid.msg = ce.msg;
		break;
	case CPU_EXIT_ABORT:   /* a callback already stopped the VM */
	default:
		exit->code = VM_EXITCODE_NONE;
		break;
	}
	return 0;
}

static int soft_get_regs(struct vcpu *vcpu, struct cpu_regs *regs)
{
	cpu_get_regs(soft_cpu(vcpu), regs);
	return 0;
}

static int soft_set_regs(struct vcpu *vcpu, const struct cpu_regs *regs)
{
	cpu_set_regs(soft_cpu(vcpu), regs);
	return 0;
}

static void soft_kick(struct vcpu *vcpu)
{
	cpu_kick(soft_cpu(vcpu));
}

static void soft_notify_intr(struct vcpu *vcpu)
{
	cpu_set_irq_pending(soft_cpu(vcpu));
}

static void soft_inject_nmi(struct vcpu *vcpu)
{
	cpu_set_nmi_pending(soft_cpu(vcpu));
}

static void soft_init_signal(struct vcpu *vcpu)
{
	cpu_init_signal(soft_cpu(vcpu));
}

static void soft_sipi(struct vcpu *vcpu, uint8_t vector)
{
	cpu_sipi(soft_cpu(vcpu), vector);
}

static void soft_set_exit_on_pause(struct vcpu *vcpu, bool on)
{
	cpu_set_exit_on_pause(soft_cpu(vcpu), on);
}

static uint64_t soft_insn_count(struct vcpu *vcpu)
{
	return cpu_insn_count(soft_cpu(vcpu));
}

const struct vm_backend_ops vm_backend_soft = {
	.name = "soft",
	.vm_init = soft_vm_init,
	.vm_fini = soft_vm_fini,
	.map_rom = soft_map_rom,
	.notify_write = soft_notify_write,
	.vcpu_init = soft_vcpu_init,
	.vcpu_fini = soft_vcpu_fini,
	.vcpu_run = soft_vcpu_run,
	.get_regs = soft_get_regs,
	.set_regs = soft_set_regs,
	.kick = soft_kick,
	.notify_intr = soft_notify_intr,
	.inject_nmi = soft_inject_nmi,
	.init_signal = soft_init_signal,
	.sipi = soft_sipi,
	.set_exit_on_pause = soft_set_exit_on_pause,
	.insn_count = soft_insn_count,
};
