/*
 * Interrupt routing on KVM: devices' ISA IRQs, IOAPIC pins and MSIs go to KVM's in-kernel
 * 8259 pair and IOAPIC (KVM_IRQ_LINE, KVM_SIGNAL_MSI).
 *
 * GSI numbering of our routing table (KVM_SET_GSI_ROUTING):
 *   GSI 1-23      IOAPIC pin n only
 *   GSI 24+n      8259 input n only (n = 0-15)
 *   GSI 0         8259 input 0 and IOAPIC pin 2: the in-kernel PIT raises GSI 0, and the
 *                 MADT tells the guest that IRQ0 arrives on pin 2 (interrupt source override).
 * GSI 0 is set last so that KVM's reverse map (chip pin -> GSI, used for the PIT's
 * acknowledge notifier) names it for PIC input 0 and IOAPIC pin 2; no other GSI reaches pin 2.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/kvm_int.h"
#include "vmm/kvm_irq.h"
#include "vmm/layout.h"

#define KVM_IRQ_NPINS   24
#define KVM_IRQ_PIC_GSI 24
#define KVM_IRQ_NROUTES (KVM_IRQ_NPINS - 2 + 16 + 2)

static void kvm_route(struct kvm_irq_routing_entry *e, uint32_t gsi, uint32_t chip,
		      uint32_t pin)
{
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

int kvm_irq_setup(int vm_fd, char *err, size_t errlen)
{
	struct kvm_irq_routing *r;
	uint32_t n = 0, i;
	int rc;

	r = calloc(1, sizeof(*r) + KVM_IRQ_NROUTES * sizeof(r->entries[0]));
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 1; i < KVM_IRQ_NPINS; i++)
		if (i != 2)
			kvm_route(&r->entries[n++], i, KVM_IRQCHIP_IOAPIC, i);
	for (i = 0; i < 16; i++)
		kvm_route(&r->entries[n++], KVM_IRQ_PIC_GSI + i,
			  i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, i & 7);
	kvm_route(&r->entries[n++], 0, KVM_IRQCHIP_PIC_MASTER, 0);
	kvm_route(&r->entries[n++], 0, KVM_IRQCHIP_IOAPIC, 2);
	r->nr = n;
	rc = kvm_ioctl(vm_fd, KVM_SET_GSI_ROUTING, r);
	free(r);
	if (rc < 0) {
		snprintf(err, errlen, "KVM: cannot set the interrupt routing: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int kvm_irq_line(struct vm *vm, uint32_t gsi, int how)
{
	struct kvm_vmstate *s = kvm_vm_of(vm);
	struct kvm_irq_level l = { .irq = gsi };

	if (s == NULL)
		return -1;
	l.level = how == KVM_IRQ_DEASSERT ? 0 : 1;
	if (kvm_ioctl(s->vm_fd, KVM_IRQ_LINE, &l) < 0)
		return -1;
	if (how == KVM_IRQ_PULSE) {
		l.level = 0;
		return kvm_ioctl(s->vm_fd, KVM_IRQ_LINE, &l);
	}
	return 0;
}

/* The GSI of IOAPIC pin p (pin 2 is only reachable with PIC input 0 through GSI 0). */
static uint32_t kvm_pin_gsi(int pin)
{
	return pin == 2 ? 0 : (uint32_t)pin;
}

int kvm_irq_isa(struct vm *vm, int atpic_irq, int ioapic_pin, int how)
{
	int rc = 0;

	if (atpic_irq > 15 || ioapic_pin >= KVM_IRQ_NPINS)
		return -1;
	/* IRQ0 -> pin 2 is one GSI that reaches both controllers. */
	if (ioapic_pin == 2 && atpic_irq == 0)
		return kvm_irq_line(vm, 0, how);
	if (atpic_irq >= 0)
		rc |= kvm_irq_line(vm, KVM_IRQ_PIC_GSI + (uint32_t)atpic_irq, how);
	if (ioapic_pin > 0)
		rc |= kvm_irq_line(vm, kvm_pin_gsi(ioapic_pin), how);
	return rc ? -1 : 0;
}

int kvm_irq_msi(struct vm *vm, uint64_t addr, uint64_t data)
{
	struct kvm_vmstate *s = kvm_vm_of(vm);
	struct kvm_msi m = { 0 };

	if (s == NULL)
		return -1;
	if ((addr & 0xFFF00000ULL) != (LAYOUT_LAPIC_BASE & 0xFFF00000ULL))
		return -1;                   /* not an interrupt message: dropped */
	m.address_lo = (uint32_t)addr;
	m.address_hi = (uint32_t)(addr >> 32);
	m.data = (uint32_t)data;
	return kvm_ioctl(s->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -1 : 0;
}

/* The 8259's ELCR bit of one input (PCI INTx lines are level-triggered). */
int kvm_irq_set_trigger(struct vm *vm, int atpic_irq, int level)
{
	struct kvm_vmstate *s = kvm_vm_of(vm);
	struct kvm_irqchip chip = { 0 };
	uint8_t bit;

	if (s == NULL || atpic_irq < 0 || atpic_irq > 15)
		return -1;
	chip.chip_id = atpic_irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
	if (kvm_ioctl(s->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return -1;
	bit = (uint8_t)(1u << (atpic_irq & 7));
	if (level)
		chip.chip.pic.elcr |= bit;
	else
		chip.chip.pic.elcr &= (uint8_t)~bit;
	return kvm_ioctl(s->vm_fd, KVM_SET_IRQCHIP, &chip) < 0 ? -1 : 0;
}
