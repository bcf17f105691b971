/*
 * Interrupt routing from devices: ISA IRQs (to the 8259 pair and the IOAPIC together, as on a
 * PC), IOAPIC pins, and MSI messages.  Implemented by the platform (src/platform/) on the
 * software backend; the KVM backend routes them to the kernel's irqchip.
 */
#ifndef BHYVE_IRQ_H
#define BHYVE_IRQ_H

#include <stdint.h>

struct vm;

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
