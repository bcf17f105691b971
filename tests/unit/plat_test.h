/*
 * Shared by the platform unit tests (test_vlapic.c, test_vatpit.c, ...): make a VM with the
 * platform, record what the platform tells the vCPUs, and access ports and MMIO as a vCPU.
 * Header-only so each test program stays one file.
 */
#ifndef BHYVE_PLAT_TEST_H
#define BHYVE_PLAT_TEST_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "platform/platform.h"
#include "platform/platform_int.h"
#include "vmm/inout.h"
#include "vmm/irq.h"
#include "vmm/layout.h"
#include "vmm/mmio.h"
#include "vmm/vclock.h"
#include "vmm/vm_backend.h"
#include "vmm/vmm.h"

struct pt_events {
	atomic_int intr[VM_MAXCPU], nmi[VM_MAXCPU], init[VM_MAXCPU], sipi[VM_MAXCPU];
	atomic_int sipi_vec[VM_MAXCPU];
	atomic_int suspends, suspend_how;
};
static struct pt_events pt_ev;
/* The VM whose manual clock pt_sleep_ms() advances (the latest pt_vm_create()). */
static struct vm *pt_cur_vm;

static inline void pt_on_intr(void *a, int id) { (void)a; if (id >= 0 && id < VM_MAXCPU) pt_ev.intr[id]++; }
static inline void pt_on_nmi(void *a, int id) { (void)a; if (id >= 0 && id < VM_MAXCPU) pt_ev.nmi[id]++; }
static inline void pt_on_init(void *a, int id) { (void)a; if (id >= 0 && id < VM_MAXCPU) pt_ev.init[id]++; }
static inline void pt_on_sipi(void *a, int id, uint8_t v)
{
	(void)a;
	if (id >= 0 && id < VM_MAXCPU) {
		pt_ev.sipi[id]++;
		pt_ev.sipi_vec[id] = v;
	}
}
static inline void pt_on_suspend(void *a, int how) { (void)a; pt_ev.suspends++; pt_ev.suspend_how = how; }

static inline void pt_events_reset(void)
{
	memset(&pt_ev, 0, sizeof(pt_ev));
	pt_ev.suspend_how = -1;
}

/* A VM with `ncpus` vCPUs, `ram` bytes of RAM from address 0 and its platform; NULL (and a
 * message) on failure. */
static inline struct vm *pt_vm_create_mem(int ncpus, uint64_t ram)
{
	static int seq;
	char name[64], err[256];
	snprintf(name, sizeof(name), "ptest-%d-%d", (int)getpid(), seq++);
	vm_destroy(name);
	if (vm_create(name, ram) < 0) {
		perror("vm_create");
		return NULL;
	}
	struct vm *vm = vm_open(name);
	vm_destroy(name);      /* the mapping stays; nothing is left behind in /dev/shm */
	if (!vm) {
		perror("vm_open");
		return NULL;
	}
	/* No CPU: a backend with no operations; events land in the VM core's flags. */
	static const struct vm_backend_ops none = { .name = "plat-test" };
	if (vm_setup_backend(vm, &none, ncpus, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm_setup_backend: %s\n", err);
		vm_close(vm);
		return NULL;
	}
	if (platform_create(vm, err, sizeof(err)) < 0) {
		fprintf(stderr, "platform_create: %s\n", err);
		vm_close(vm);
		return NULL;
	}
	pt_events_reset();
	struct platform_observer obs = { NULL, pt_on_intr, pt_on_nmi, pt_on_init, pt_on_sipi,
					 pt_on_suspend };
	platform_set_observer(vm, &obs);
	/* Guest time moves only when the test says so (pt_sleep_ms), and every timer due by then
	 * has fired when it returns: assertions about counters and interrupts do not race the
	 * host's scheduler. */
	vclock_set_manual(vm);
	pt_cur_vm = vm;
	return vm;
}

/* The same with 256 MiB of RAM. */
static inline struct vm *pt_vm_create(int ncpus)
{
	return pt_vm_create_mem(ncpus, 256ULL << 20);
}

static inline void pt_vm_free(struct vm *vm)
{
	if (!vm)
		return;
	if (pt_cur_vm == vm)
		pt_cur_vm = NULL;
	platform_destroy(vm);
	vm_close(vm);
}

static inline uint32_t pt_in(struct vm *vm, uint16_t port, int bytes)
{
	uint32_t v = 0;
	inout_dispatch(vm_vcpu(vm, 0), 1, port, bytes, &v);
	return v;
}

static inline int pt_out(struct vm *vm, uint16_t port, int bytes, uint32_t v)
{
	return inout_dispatch(vm_vcpu(vm, 0), 0, port, bytes, &v);
}

static inline uint64_t pt_mr(struct vm *vm, int cpu, uint64_t gpa, int size)
{
	uint64_t v = 0;
	mmio_dispatch(vm_vcpu(vm, cpu), MEM_F_READ, gpa, size, &v);
	return v;
}

static inline void pt_mw(struct vm *vm, int cpu, uint64_t gpa, int size, uint64_t v)
{
	mmio_dispatch(vm_vcpu(vm, cpu), MEM_F_WRITE, gpa, size, &v);
}

/* Let `ms` milliseconds of guest time pass (timers due by then have fired on return). */
static inline void pt_sleep_ms(int ms)
{
	if (pt_cur_vm) {
		vclock_advance(pt_cur_vm, (uint64_t)ms * 1000000ULL);
		return;
	}
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Poll `cond` (set by a timer or by another host thread, e.g. a device worker) every
 * millisecond of guest and of host time, for up to `ms` of them; the value of cond. */
#define PT_WAIT(cond, ms) ({ int _i = 0; while (!(cond) && _i++ < (ms)) { pt_sleep_ms(1); \
	nanosleep(&(struct timespec){ 0, 1000000L }, NULL); } (cond); })

/* LAPIC helpers (xAPIC page of vCPU `cpu`). */
static inline uint32_t pt_lapic_rd(struct vm *vm, int cpu, uint32_t off)
{
	return (uint32_t)pt_mr(vm, cpu, LAYOUT_LAPIC_BASE + off, 4);
}

static inline void pt_lapic_wr(struct vm *vm, int cpu, uint32_t off, uint32_t v)
{
	pt_mw(vm, cpu, LAYOUT_LAPIC_BASE + off, 4, v);
}

/* Software-enable the LAPIC of `cpu` with spurious vector 0xFF. */
static inline void pt_lapic_enable(struct vm *vm, int cpu)
{
	pt_lapic_wr(vm, cpu, 0xF0, 0x1FF);
}

static inline void pt_lapic_eoi(struct vm *vm, int cpu) { pt_lapic_wr(vm, cpu, 0xB0, 0); }

/* IOAPIC redirection entry. */
static inline void pt_ioapic_rte(struct vm *vm, int pin, uint64_t rte)
{
	pt_mw(vm, 0, LAYOUT_IOAPIC_BASE, 4, 0x10 + 2 * pin);
	pt_mw(vm, 0, LAYOUT_IOAPIC_BASE + 0x10, 4, (uint32_t)rte);
	pt_mw(vm, 0, LAYOUT_IOAPIC_BASE, 4, 0x11 + 2 * pin);
	pt_mw(vm, 0, LAYOUT_IOAPIC_BASE + 0x10, 4, (uint32_t)(rte >> 32));
}

static inline uint64_t pt_ioapic_rte_get(struct vm *vm, int pin)
{
	pt_mw(vm, 0, LAYOUT_IOAPIC_BASE, 4, 0x10 + 2 * pin);
	uint64_t lo = pt_mr(vm, 0, LAYOUT_IOAPIC_BASE + 0x10, 4);
	pt_mw(vm, 0, LAYOUT_IOAPIC_BASE, 4, 0x11 + 2 * pin);
	uint64_t hi = pt_mr(vm, 0, LAYOUT_IOAPIC_BASE + 0x10, 4);
	return lo | (hi << 32);
}

/* Program the 8259 pair like Linux/a BIOS: master vectors 0x20-0x27, slave 0x28-0x2F. */
static inline void pt_pic_init(struct vm *vm, uint8_t icw4, uint8_t mmask, uint8_t smask)
{
	pt_out(vm, 0x20, 1, 0x11); pt_out(vm, 0x21, 1, 0x20); pt_out(vm, 0x21, 1, 0x04);
	pt_out(vm, 0x21, 1, icw4);
	pt_out(vm, 0xA0, 1, 0x11); pt_out(vm, 0xA1, 1, 0x28); pt_out(vm, 0xA1, 1, 0x02);
	pt_out(vm, 0xA1, 1, icw4 & ~0x10);
	pt_out(vm, 0x21, 1, mmask);
	pt_out(vm, 0xA1, 1, smask);
}

#endif
