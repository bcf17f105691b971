/*
 * The platform's side of interrupt routing (vmm/irq.h, registered with vm_set_platform_ops):
 * an ISA IRQ goes to the 8259 pair and to an IOAPIC pin together, as the wiring of a PC does;
 * an MSI is decoded into a LAPIC message.
 */
#include "platform/platform_int.h"
#include "vmm/irq.h"
#include "vmm/layout.h"

_Static_assert(VM_IRQ_ASSERT == PLAT_IRQ_ASSERT && VM_IRQ_DEASSERT == PLAT_IRQ_DEASSERT &&
	       VM_IRQ_PULSE == PLAT_IRQ_PULSE, "one encoding of `how`");

int plat_irq_isa(struct vm *vm, int atpic_irq, int ioapic_irq, int how)
{
	struct platform *p = platform_of(vm);
	if (!p || atpic_irq > 15 || ioapic_irq >= IOAPIC_NPINS)
		return -1;
	if (atpic_irq < 0)
		return ioapic_irq >= 0 ? vioapic_set_irq(p->ioapic, ioapic_irq, how) : 0;
	vatpic_set_irq(p->atpic, atpic_irq, how);
	if (ioapic_irq >= 0)
		vioapic_set_irq(p->ioapic, ioapic_irq, how);
	return 0;
}

/* MSI (Intel SDM 10.11): address 0xFEE[dest:8][rsvd][RH][DM]xx, data: vector, delivery mode
 * (bits 8-10), level (14), trigger (15).  Redirection hint with logical mode is treated as
 * plain logical delivery. */
int plat_irq_msi(struct vm *vm, uint64_t addr, uint64_t data)
{
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

int plat_irq_set_trigger(struct vm *vm, int atpic_irq, int level)
{
	struct platform *p = platform_of(vm);
	if (!p || atpic_irq < 0 || atpic_irq > 15)
		return -1;
	vatpic_set_trigger(p->atpic, atpic_irq, level != 0);
	return 0;
}
