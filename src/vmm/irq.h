/*
 * Interrupt routing from devices: ISA IRQs (to the 8259 pair and the IOAPIC together, as on a
 * PC), IOAPIC pins, and MSI messages (vmm/irq.c).  With KVM's in-kernel irqchip they go to
 * the kernel; otherwise to the handlers the platform registered (vm_platform_ops).
 */
#ifndef BHYVE_IRQ_H
#define BHYVE_IRQ_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* `how` of vm_platform_ops.isa_irq. */
#define VM_IRQ_DEASSERT 0
#define VM_IRQ_ASSERT   1
#define VM_IRQ_PULSE    2

/* True when the VM's 8259s, IOAPIC and local APICs are KVM's in-kernel models (the platform's
 * own then stay unused: their MMIO pages are not registered). */
bool vm_irq_in_kernel(const struct vm *vm);

/* atpic_irq: 8259 input 0-15 or -1; ioapic_irq: IOAPIC pin 0-23 or -1. */
int vm_isa_assert_irq(struct vm *vm, int atpic_irq, int ioapic_irq);
int vm_isa_deassert_irq(struct vm *vm, int atpic_irq, int ioapic_irq);
int vm_isa_pulse_irq(struct vm *vm, int atpic_irq, int ioapic_irq);
int vm_ioapic_assert_irq(struct vm *vm, int pin);
int vm_ioapic_deassert_irq(struct vm *vm, int pin);
int vm_ioapic_pulse_irq(struct vm *vm, int pin);
/* A PCI MSI/MSI-X message: address 0xFEExxxxx, data = vector | delivery mode | trigger. */
int vm_lapic_msi(struct vm *vm, uint64_t addr, uint64_t data);
/* Set an 8259 input's ELCR-independent trigger mode (PCI INTx are level). */
int vm_isa_set_irq_trigger(struct vm *vm, int atpic_irq, int level);

#endif
