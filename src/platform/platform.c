/*
 * The platform of one VM: creates every PC device, wires them together and answers the
 * software CPU's questions (interrupt acknowledge, platform MSRs, CR8).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "platform/atkbdc.h"
#include "platform/platform_int.h"
#include "vmm/irq.h"
#include "vmm/layout.h"
#include "vmm/mmio.h"

struct platform *platform_of(struct vm *vm)
{
	return vm ? vm_platform(vm) : NULL;
}

/* ---- events to the VM core (and the test observer) ---- */

void plat_notify_intr(struct platform *p, int vcpuid)
{
	if (p->obs.intr)
		p->obs.intr(p->obs.arg, vcpuid);
	vcpu_notify_intr(p->vm, vcpuid);
}

void plat_inject_nmi(struct platform *p, int vcpuid)
{
	if (p->obs.nmi)
		p->obs.nmi(p->obs.arg, vcpuid);
	vcpu_inject_nmi(p->vm, vcpuid);
}

void plat_send_init(struct platform *p, int vcpuid)
{
	if (p->obs.init)
		p->obs.init(p->obs.arg, vcpuid);
	vcpu_send_init(p->vm, vcpuid);
}

void plat_send_sipi(struct platform *p, int vcpuid, uint8_t vector)
{
	if (p->obs.sipi)
		p->obs.sipi(p->obs.arg, vcpuid, vector);
	vcpu_send_sipi(p->vm, vcpuid, vector);
}

void plat_suspend(struct platform *p, enum vm_suspend_how how, const char *why)
{
	if (p->obs.suspend)
		p->obs.suspend(p->obs.arg, how);
	vm_suspend(p->vm, how, why);
}

void platform_set_observer(struct vm *vm, const struct platform_observer *obs)
{
	struct platform *p = platform_of(vm);
	if (!p)
		return;
	if (obs)
		p->obs = *obs;
	else
		memset(&p->obs, 0, sizeof(p->obs));
}

/* ---- life ---- */

static const struct mem_range plat_lapic_range = {
	.name = "lapic", .flags = MEM_F_RW | MEM_F_PERCPU, .handler = vlapic_mmio,
	.base = LAYOUT_LAPIC_BASE, .size = 0x1000,
};

/* The LAPIC pages, for every vCPU: each vCPU's handler decodes only its own base. */
static int plat_lapic_register(struct platform *p, uint64_t base)
{
	struct mem_range mr = plat_lapic_range;
	mr.arg1 = p;
	mr.base = base;
	if (register_mem(p->vm, &mr) < 0)
		return -1;
	p->lapic_page[p->nlapic_pages++] = base;
	return 0;
}

static void plat_lapic_map_warn(struct platform *p, uint64_t base, const char *why)
{
	if (p->lapic_map_warned)
		return;
	p->lapic_map_warned = true;
	fprintf(stderr, "bhyve: local APIC moved to 0x%llx: %s; its registers are not decoded "
		"there (logged once)\n", (unsigned long long)base, why);
}

void plat_lapic_map(struct platform *p, uint64_t base)
{
	pthread_mutex_lock(&p->lapic_map_lock);
	for (int i = 0; i < p->nlapic_pages; i++) {
		if (p->lapic_page[i] == base) {
			pthread_mutex_unlock(&p->lapic_map_lock);
			return;
		}
	}
	if (vm_map_gpa(p->vm, base, 0x1000))
		plat_lapic_map_warn(p, base, "that is guest RAM");
	else if (p->nlapic_pages == PLAT_LAPIC_PAGES)
		plat_lapic_map_warn(p, base, "too many APIC addresses in this VM's life");
	else if (plat_lapic_register(p, base) < 0)
		plat_lapic_map_warn(p, base, "another device is there");
	pthread_mutex_unlock(&p->lapic_map_lock);
}

static void plat_lapic_unmap_all(struct platform *p)
{
	for (int i = 0; i < p->nlapic_pages; i++) {
		struct mem_range mr = plat_lapic_range;
		mr.base = p->lapic_page[i];
		unregister_mem(p->vm, &mr);
	}
	p->nlapic_pages = 0;
}

static void plat_free(struct platform *p)
{
	plat_uarts_destroy(p);
	atkbdc_destroy(p->kbd);
	vpm_destroy(p->pm);
	vrtc_destroy(p->rtc);
	vhpet_destroy(p->hpet);
	vatpit_destroy(p->pit);
	for (int i = 0; i < VM_MAXCPU; i++)
		vlapic_destroy(p->lapic[i]);
	vioapic_destroy(p->ioapic);
	vatpic_destroy(p->atpic);
	pthread_mutex_destroy(&p->lapic_map_lock);
	free(p);
}

static int plat_fail(struct platform *p, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "platform: cannot create %s: %s", what, strerror(errno ? errno : ENOMEM));
	return -1;
}

/* The keyboard controller's CPU reset line. */
static void plat_kbd_reset(void *arg)
{
	plat_suspend(arg, VM_SUSPEND_RESET, "reset through the keyboard controller");
}

static int plat_build(struct platform *p, char *err, size_t errlen)
{
	if (!(p->atpic = vatpic_create(p)))
		return plat_fail(p, err, errlen, "the 8259 pair");
	if (!(p->ioapic = vioapic_create(p)))
		return plat_fail(p, err, errlen, "the IOAPIC");
	for (int i = 0; i < p->ncpus; i++)
		if (!(p->lapic[i] = vlapic_create(p, i)))
			return plat_fail(p, err, errlen, "a local APIC");
	/* With KVM's in-kernel LAPICs the page is the kernel's (and moves with IA32_APIC_BASE
	 * there): an access that reaches user space hits nothing. */
	if (!vm_irq_in_kernel(p->vm) && plat_lapic_register(p, LAYOUT_LAPIC_BASE) < 0)
		return plat_fail(p, err, errlen, "the local APIC page");
	if (!(p->pit = vatpit_create(p)))
		return plat_fail(p, err, errlen, "the 8254 PIT");
	if (!(p->hpet = vhpet_create(p)))
		return plat_fail(p, err, errlen, "the HPET");
	if (!(p->rtc = vrtc_create(p)))
		return plat_fail(p, err, errlen, "the RTC");
	if (!(p->pm = vpm_create(p)))
		return plat_fail(p, err, errlen, "the ACPI PM registers");
	if (!(p->kbd = atkbdc_create(p->vm, plat_kbd_reset, p)))
		return plat_fail(p, err, errlen, "the keyboard controller");
	return plat_uarts_create(p, err, errlen);
}

static const struct vm_platform_ops plat_vm_ops = {
	.intr_ack = platform_intr_ack,
	.rdmsr = platform_rdmsr,
	.wrmsr = platform_wrmsr,
	.isa_irq = plat_irq_isa,
	.msi = plat_irq_msi,
	.isa_set_trigger = plat_irq_set_trigger,
};

int platform_create(struct vm *vm, char *err, size_t errlen)
{
	if (vm_platform(vm)) {
		snprintf(err, errlen, "platform: already created");
		return -1;
	}
	struct platform *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "platform: out of memory");
		return -1;
	}
	p->vm = vm;
	pthread_mutex_init(&p->lapic_map_lock, NULL);
	p->ncpus = vm_ncpus(vm);
	if (p->ncpus < 1 || p->ncpus > VM_MAXCPU)
		p->ncpus = 1;
	p->x2apic_allowed = config_get_bool("x86.x2apic", false);
	/* Devices may raise interrupts while being created: publish first. */
	vm_set_platform(vm, p);
	vm_set_platform_ops(vm, &plat_vm_ops);
	errno = 0;
	if (plat_build(p, err, errlen) < 0) {
		vm_set_platform_ops(vm, NULL);
		plat_lapic_unmap_all(p);
		vm_set_platform(vm, NULL);
		plat_free(p);
		return -1;
	}
	return 0;
}

void platform_destroy(struct vm *vm)
{
	struct platform *p = vm_platform(vm);
	if (!p)
		return;
	vm_set_platform_ops(vm, NULL);
	plat_lapic_unmap_all(p);
	vm_set_platform(vm, NULL);
	plat_free(p);
}

/* ---- the CPU's questions ---- */

int platform_intr_ack(struct vm *vm, int vcpuid)
{
	struct platform *p = platform_of(vm);
	if (!p || vcpuid < 0 || vcpuid >= p->ncpus)
		return -1;
	int v = vlapic_intr_ack(p->lapic[vcpuid]);
	if (v >= 0)
		return v;
	/* The 8259's INTR is wired to the BSP's LINT0. */
	if (vcpuid == 0 && vlapic_extint_ok(p->lapic[0]) && vatpic_pending(p->atpic))
		return vatpic_intr_accept(p->atpic);
	return -1;
}

int platform_rdmsr(struct vm *vm, int vcpuid, uint32_t msr, uint64_t *val)
{
	struct platform *p = platform_of(vm);
	if (!p || vcpuid < 0 || vcpuid >= p->ncpus)
		return 1;
	return vlapic_rdmsr(p->lapic[vcpuid], msr, val);
}

int platform_wrmsr(struct vm *vm, int vcpuid, uint32_t msr, uint64_t val)
{
	struct platform *p = platform_of(vm);
	if (!p || vcpuid < 0 || vcpuid >= p->ncpus)
		return 1;
	return vlapic_wrmsr(p->lapic[vcpuid], msr, val);
}

uint8_t platform_get_cr8(struct vm *vm, int vcpuid)
{
	struct platform *p = platform_of(vm);
	if (!p || vcpuid < 0 || vcpuid >= p->ncpus)
		return 0;
	return vlapic_get_cr8(p->lapic[vcpuid]);
}

void platform_set_cr8(struct vm *vm, int vcpuid, uint8_t cr8)
{
	struct platform *p = platform_of(vm);
	if (p && vcpuid >= 0 && vcpuid < p->ncpus)
		vlapic_set_cr8(p->lapic[vcpuid], cr8);
}

void platform_power_button(struct vm *vm)
{
	struct platform *p = platform_of(vm);
	if (p)
		vpm_power_button(p->pm);
}
