/*
 * Interrupt routing from devices (irq.h): to KVM's in-kernel 8259/IOAPIC/LAPICs when the VM
 * has them, else to the platform's models through the handlers it registered.  Without a
 * platform every call fails (-1).
 */
#include "vmm/irq.h"
#include "vmm/kvm_irq.h"
#include "vmm/vm_internal.h"

_Static_assert(VM_IRQ_ASSERT == KVM_IRQ_ASSERT && VM_IRQ_DEASSERT == KVM_IRQ_DEASSERT &&
	       VM_IRQ_PULSE == KVM_IRQ_PULSE, "one encoding of `how`");

static const struct vm_platform_ops *irq_ops(struct vm *vm)
{
	return atomic_load_explicit(&vm->plat_ops, memory_order_acquire);
}

static int irq_isa(struct vm *vm, int atpic_irq, int ioapic_irq, int how)
{
	if (vm_irq_in_kernel(vm))
		return kvm_irq_isa(vm, atpic_irq, ioapic_irq, how);
	const struct vm_platform_ops *ops = irq_ops(vm);
	return ops && ops->isa_irq ? ops->isa_irq(vm, atpic_irq, ioapic_irq, how) : -1;
}

/* An IOAPIC pin alone (PCI INTx, HPET): a negative pin is an error, not "no line". */
static int irq_ioapic(struct vm *vm, int pin, int how)
{
	if (vm_irq_in_kernel(vm))
		return kvm_irq_isa(vm, -1, pin, how);
	const struct vm_platform_ops *ops = irq_ops(vm);
	if (pin < 0 || !ops || !ops->isa_irq)
		return -1;
	return ops->isa_irq(vm, -1, pin, how);
}

int vm_isa_assert_irq(struct vm *vm, int atpic_irq, int ioapic_irq)
{
	return irq_isa(vm, atpic_irq, ioapic_irq, VM_IRQ_ASSERT);
}

int vm_isa_deassert_irq(struct vm *vm, int atpic_irq, int ioapic_irq)
{
	return irq_isa(vm, atpic_irq, ioapic_irq, VM_IRQ_DEASSERT);
}

int vm_isa_pulse_irq(struct vm *vm, int atpic_irq, int ioapic_irq)
{
	return irq_isa(vm, atpic_irq, ioapic_irq, VM_IRQ_PULSE);
}

int vm_ioapic_assert_irq(struct vm *vm, int pin)
{
	return irq_ioapic(vm, pin, VM_IRQ_ASSERT);
}

int vm_ioapic_deassert_irq(struct vm *vm, int pin)
{
	return irq_ioapic(vm, pin, VM_IRQ_DEASSERT);
}

int vm_ioapic_pulse_irq(struct vm *vm, int pin)
{
	return irq_ioapic(vm, pin, VM_IRQ_PULSE);
}

int vm_lapic_msi(struct vm *vm, uint64_t addr, uint64_t data)
{
	if (vm_irq_in_kernel(vm))
		return kvm_irq_msi(vm, addr, data);
	const struct vm_platform_ops *ops = irq_ops(vm);
	return ops && ops->msi ? ops->msi(vm, addr, data) : -1;
}

int vm_isa_set_irq_trigger(struct vm *vm, int atpic_irq, int level)
{
	if (vm_irq_in_kernel(vm))
		return kvm_irq_set_trigger(vm, atpic_irq, level);
	const struct vm_platform_ops *ops = irq_ops(vm);
	return ops && ops->isa_set_trigger ? ops->isa_set_trigger(vm, atpic_irq, level) : -1;
}
