/*
 * The KVM backend's interrupt route (used by vmm/irq.c): when a VM runs on KVM, the
 * 8259 pair, the IOAPIC and the local APICs are KVM's in-kernel models, so the functions of
 * vmm/irq.h forward to these instead of the platform's own models.
 */
#ifndef BHYVE_KVM_IRQ_H
#define BHYVE_KVM_IRQ_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* True if `vm` runs on KVM with the in-kernel irqchip. */
bool vm_irq_in_kernel(const struct vm *vm);

/* how: 1 assert, 0 deassert, 2 pulse.  atpic_irq / ioapic_pin may be -1. */
#define KVM_IRQ_DEASSERT 0
#define KVM_IRQ_ASSERT   1
#define KVM_IRQ_PULSE    2
int kvm_irq_isa(struct vm *vm, int atpic_irq, int ioapic_pin, int how);
int kvm_irq_msi(struct vm *vm, uint64_t addr, uint64_t data);
int kvm_irq_set_trigger(struct vm *vm, int atpic_irq, int level);

#endif
