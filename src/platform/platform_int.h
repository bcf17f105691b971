/*
 * Inside the platform: the per-VM device set and the functions the devices call on each other.
 * Lock order: a device never holds its own lock while calling into another device, except the
 * IOAPIC, which calls the LAPICs' delivery with its lock held (IOAPIC -> LAPIC); the LAPIC
 * drops its lock before it signals an EOI to the IOAPIC.  The 8259 and the LAPICs never nest.
 */
#ifndef BHYVE_PLATFORM_INT_H
#define BHYVE_PLATFORM_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform/platform.h"
#include "vmm/vmm.h"

struct vatpic;
struct vioapic;
struct vlapic;
struct vatpit;
struct vhpet;
struct vrtc;
struct vpm;
struct lpc_uart;
struct atkbdc;

#define PLAT_LAPIC_PAGES 8

struct platform {
	struct vm *vm;
	int ncpus;
	bool x2apic_allowed;          /* x86.x2apic: IA32_APIC_BASE.EXTD may be set */
	struct vatpic *atpic;
	struct vioapic *ioapic;
	struct vlapic *lapic[VM_MAXCPU];
	struct vatpit *pit;
	struct vhpet *hpet;
	struct vrtc *rtc;
	struct vpm *pm;
	struct lpc_uart *com[4];
	struct atkbdc *kbd;           /* i8042 with PS/2 keyboard and mouse */
	struct platform_observer obs;
	/* Pages where an xAPIC is decoded: the default one, then those a guest moved its APICs
	 * to (IA32_APIC_BASE), at most PLAT_LAPIC_PAGES in a VM's life. */
	pthread_mutex_t lapic_map_lock;
	uint64_t lapic_page[PLAT_LAPIC_PAGES];
	int nlapic_pages;
	bool lapic_map_warned;
};

/* NULL if the VM has no platform (not created, or the KVM backend's own irqchip). */
struct platform *platform_of(struct vm *vm);

/* Events to vCPUs (the VM core's functions plus the test observer). */
void plat_notify_intr(struct platform *p, int vcpuid);
void plat_inject_nmi(struct platform *p, int vcpuid);
void plat_send_init(struct platform *p, int vcpuid);
void plat_send_sipi(struct platform *p, int vcpuid, uint8_t vector);
void plat_suspend(struct platform *p, enum vm_suspend_how how, const char *why);
/* Decode an xAPIC page at `base` (a guest moved an APIC there).  Over guest RAM or another
 * device, or beyond PLAT_LAPIC_PAGES pages, the page stays undecoded (logged once). */
void plat_lapic_map(struct platform *p, uint64_t base);

/* Periodic timers (LAPIC, PIT, HPET) interrupt at most this often: a guest that programs a
 * shorter period still sees exact counters, but missed periods are skipped rather than the
 * timer thread spinning on them. */
#define PLAT_MIN_PERIODIC_NS 10000ULL

/* ---- 8259 pair (vatpic.c) ---- */
struct vatpic *vatpic_create(struct platform *p);
void vatpic_destroy(struct vatpic *a);
void vatpic_set_irq(struct vatpic *a, int irq, int how);   /* how: PLAT_IRQ_* */
void vatpic_set_trigger(struct vatpic *a, int irq, bool level);
bool vatpic_pending(struct vatpic *a);     /* INTR output of the master */
int vatpic_intr_accept(struct vatpic *a);  /* INTA cycle: the vector (spurious 7/15 too) */

#define PLAT_IRQ_DEASSERT 0
#define PLAT_IRQ_ASSERT   1
#define PLAT_IRQ_PULSE    2

/* ---- interrupt routing registered with the VM (plat_irq.c; see vmm/irq.h) ---- */
int plat_irq_isa(struct vm *vm, int atpic_irq, int ioapic_irq, int how);
int plat_irq_msi(struct vm *vm, uint64_t addr, uint64_t data);
int plat_irq_set_trigger(struct vm *vm, int atpic_irq, int level);

/* ---- IOAPIC (vioapic.c) ---- */
struct vioapic *vioapic_create(struct platform *p);
void vioapic_destroy(struct vioapic *io);
int vioapic_set_irq(struct vioapic *io, int pin, int how);
void vioapic_eoi(struct vioapic *io, int vector);

/* ---- local APIC (vlapic.c) ---- */
#define APIC_DELMODE_FIXED   0
#define APIC_DELMODE_LOWPRIO 1
#define APIC_DELMODE_SMI     2
#define APIC_DELMODE_NMI     4
#define APIC_DELMODE_INIT    5
#define APIC_DELMODE_SIPI    6
#define APIC_DELMODE_EXTINT  7

struct vlapic *vlapic_create(struct platform *p, int vcpuid);
void vlapic_destroy(struct vlapic *l);
/* An interrupt message from the IOAPIC or an MSI (8-bit destination, no shorthand). */
void vlapic_deliver_msg(struct platform *p, uint32_t dest, bool logical, int delmode,
			int vector, bool level);
int vlapic_intr_ack(struct vlapic *l);     /* highest deliverable IRR vector -> ISR, or -1 */
bool vlapic_extint_ok(struct vlapic *l);   /* 8259 INTR reaches the CPU through LINT0 */
int vlapic_rdmsr(struct vlapic *l, uint32_t msr, uint64_t *val);
int vlapic_wrmsr(struct vlapic *l, uint32_t msr, uint64_t val);
int vlapic_mmio(struct vcpu *vcpu, int dir, uint64_t addr, int size, uint64_t *val,
		void *arg1, long arg2);
uint8_t vlapic_get_cr8(struct vlapic *l);
void vlapic_set_cr8(struct vlapic *l, uint8_t val);

/* ---- timers and the rest ---- */
struct vatpit *vatpit_create(struct platform *p);
void vatpit_destroy(struct vatpit *t);
struct vhpet *vhpet_create(struct platform *p);
void vhpet_destroy(struct vhpet *h);
struct vrtc *vrtc_create(struct platform *p);
void vrtc_destroy(struct vrtc *r);
struct vpm *vpm_create(struct platform *p);
void vpm_destroy(struct vpm *pm);
void vpm_power_button(struct vpm *pm);
/* vpmtmr.c: the PM timer port, registered by vpm_create. */
int vpmtmr_register(struct platform *p);
/* The LPC serial ports (COM1-4) from lpc.comN.path. */
int plat_uarts_create(struct platform *p, char *err, size_t errlen);
void plat_uarts_destroy(struct platform *p);
/* Tests: the UART behind COM1-4 (n = 0-3), or NULL. */
struct uart_softc *plat_uart_softc(struct vm *vm, int n);

#endif
