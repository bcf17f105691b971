/*
 * Interrupt routing from devices (irq.h) on the software backend: an ISA IRQ goes to the
 * 8259 pair and to an IOAPIC pin together, as the wiring of a PC does; an MSI is decoded into
 * a LAPIC message.
 * KVM route (helper kvm): on a VM that runs on KVM the in-kernel PIC/IOAPIC/LAPIC take them
 * instead (vm_irq_in_kernel, vmm/kvm_irq.h): one line at the top of each function.
 */
#include "platform/platform_int.h"
#include "vmm/irq.h"
#include "vmm/kvm_irq.h"
#include "vmm/layout.h"

static int irq_isa(struct vm *vm, int atpic_irq, int ioapic_irq, int how)
{
	struct platform *p = platform_of(vm);
	if (vm_irq_in_kernel(vm))
		return kvm_irq_isa(vm, atpic_irq, ioapic_irq, how);
	if (!p || atpic_irq > 15 || ioapic_irq >= IOAPIC_NPINS)
		return -1;
	if (atpic_irq >= 0)
		vatpic_set_irq(p->atpic, atpic_irq, how);
	if (ioapic_irq >= 0)
		vioapic_set_irq(p->ioapic, ioapic_irq, how);
	return 0;
}

int vm_isa_assert_irq(struct vm *vm, int atpic_irq, int ioapic_irq)
{
	return irq_isa(vm, atpic_irq, ioapic_irq, PLAT_IRQ_ASSERT);
}

int vm_isa_deassert_irq(struct vm *vm, int atpic_irq, int ioapic_irq)
{
	return irq_isa(vm, atpic_irq, ioapic_irq, PLAT_IRQ_DEASSERT);
}

int vm_isa_pulse_irq(struct vm *vm, int atpic_irq, int ioapic_irq)
{
	return irq_isa(vm, atpic_irq, ioapic_irq, PLAT_IRQ_PULSE);
}

int vm_ioapic_assert_irq(struct vm *vm, int pin)
{
	if (vm_irq_in_kernel(vm))
		return kvm_irq_isa(vm, -1, pin, KVM_IRQ_ASSERT);
	struct platform *p = platform_of(vm);
	return p ? vioapic_set_irq(p->ioapic, pin, PLAT_IRQ_ASSERT) : -1;
}

int vm_ioapic_deassert_irq(struct vm *vm, int pin)
{
	if (vm_irq_in_kernel(vm))
		return kvm_irq_isa(vm, -1, pin, KVM_IRQ_DEASSERT);
	struct platform *p = platform_of(vm);
	return p ? vioapic_set_irq(p->ioapic, pin, PLAT_IRQ_DEASSERT) : -1;
}

int vm_ioapic_pulse_irq(struct vm *vm, int pin)
{
	if (vm_irq_in_kernel(vm))
		return kvm_irq_isa(vm, -1, pin, KVM_IRQ_PULSE);
	struct platform *p = platform_of(vm);
	return p ? vioapic_set_irq(p->ioapic, pin, PLAT_IRQ_PULSE) : -1;
}

/* MSI (Intel SDM 10.11): address 0xFEE[dest:8][rsvd][RH][DM]xx, data: vector, delivery mode
 * (bits 8-10), level (14), trigger (15).  Redirection hint with logical mode is treated as
 * plain logical delivery. */
int vm_lapic_msi(struct vm *vm, uint64_t addr, uint64_t data)
{
	if (vm_irq_in_kernel(vm))
		return kvm_irq_msi(vm, addr, data);
	struct platform *p = platform_of(vm);
	if (!p)
		return -1;
	if ((addr & 0xFFF00000ULL) != (LAYOUT_LAPIC_BASE & 0xFFF00000ULL))
		return -1;                     /* not an interrupt message: dropped */
	uint32_t dest = (uint32_t)(addr >> 12) & 0xFF;
	bool logical = (addr >> 2) & 1;
	int delmode = (int)(data >> 8) & 7;
	bool level = (data >> 15) & 1;
	vlapic_deliver_msg(p, dest, logical, delmode, (int)(data & 0xFF), level);
	return 0;
}

int vm_isa_set_irq_trigger(struct vm *vm, int atpic_irq, int level)
{
	if (vm_irq_in_kernel(vm))
		return kvm_irq_set_trigger(vm, atpic_irq, level);
	struct platform *p = platform_of(vm);
	if (!p || atpic_irq < 0 || atpic_irq > 15)
		return -1;
	vatpic_set_trigger(p->atpic, atpic_irq, level != 0);
	return 0;
}
