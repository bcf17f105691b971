/* Local APIC: reset state, IPIs (fixed, shorthands, logical flat/cluster, NMI/INIT/SIPI),
 * priorities (TPR/PPR, EOI), the timer in one-shot, periodic and TSC-deadline modes, x2APIC. */
#include "plat_test.h"
#include "unit.h"

#define ID 0x20
#define VER 0x30
#define TPR 0x80
#define PPR 0xA0
#define LDR 0xD0
#define DFR 0xE0
#define SVR 0xF0
#define ISR 0x100
#define IRR 0x200
#define ESR 0x280
#define ICRLO 0x300
#define ICRHI 0x310
#define LVTT 0x320
#define LINT0 0x350
#define TICR 0x380
#define TCCR 0x390
#define TDCR 0x3E0

/* LAPIC timer counts per millisecond (the crystal clock). */
#define MS ((uint32_t)(VCLOCK_CRYSTAL_HZ / 1000))

static void ipi(struct vm *vm, int from, uint32_t dest, uint32_t lo)
{
	pt_lapic_wr(vm, from, ICRHI, dest << 24);
	pt_lapic_wr(vm, from, ICRLO, lo);
}

static void test_reset_state(struct vm *vm)
{
	CHECK_EQ(pt_lapic_rd(vm, 0, ID), 0);
	CHECK_EQ(pt_lapic_rd(vm, 1, ID), 1u << 24);
	CHECK_EQ(pt_lapic_rd(vm, 2, ID), 2u << 24);
	CHECK_EQ(pt_lapic_rd(vm, 0, VER) & 0xFF, 0x14);
	CHECK_EQ((pt_lapic_rd(vm, 0, VER) >> 16) & 0xFF, 5);
	CHECK_EQ(pt_lapic_rd(vm, 0, SVR), 0xFF);
	CHECK_EQ(pt_lapic_rd(vm, 0, LVTT), 0x10000);
	CHECK_EQ(pt_lapic_rd(vm, 0, DFR), 0xFFFFFFFFu);
	uint64_t base = 0;
	CHECK_EQ(platform_rdmsr(vm, 0, 0x1B, &base), 0);
	CHECK_EQ(base, 0xFEE00900ULL);
	CHECK_EQ(platform_rdmsr(vm, 1, 0x1B, &base), 0);
	CHECK_EQ(base, 0xFEE00800ULL);
	CHECK_EQ(platform_rdmsr(vm, 0, 0x10, &base), 1);   /* not a platform MSR */
	CHECK_EQ(platform_rdmsr(vm, 0, 0x802, &base), -1); /* x2APIC MSRs #GP in xAPIC mode */
	/* Software-disabled: fixed interrupts are dropped. */
	ipi(vm, 0, 1, 0x40);
	CHECK_EQ(platform_intr_ack(vm, 1), -1);
}

static void test_fixed_priority(struct vm *vm)
{
	for (int i = 0; i < 3; i++)
		pt_lapic_enable(vm, i);
	ipi(vm, 0, 1, 0x40);
	CHECK(pt_ev.intr[1] > 0);
	CHECK_EQ(pt_lapic_rd(vm, 1, IRR + 0x20), 1u);     /* vector 0x40 = bit 0 of IRR[2] */
	CHECK_EQ(platform_intr_ack(vm, 1), 0x40);
	CHECK_EQ(pt_lapic_rd(vm, 1, ISR + 0x20), 1u);
	CHECK_EQ(pt_lapic_rd(vm, 1, PPR), 0x40);
	ipi(vm, 0, 1, 0x35);                              /* lower class: waits */
	CHECK_EQ(platform_intr_ack(vm, 1), -1);
	ipi(vm, 0, 1, 0x90);                              /* higher class: nests */
	CHECK_EQ(platform_intr_ack(vm, 1), 0x90);
	pt_lapic_eoi(vm, 1);                              /* retires 0x90 */
	CHECK_EQ(platform_intr_ack(vm, 1), -1);
	pt_lapic_eoi(vm, 1);                              /* retires 0x40 */
	CHECK_EQ(platform_intr_ack(vm, 1), 0x35);
	pt_lapic_eoi(vm, 1);
	CHECK_EQ(pt_lapic_rd(vm, 1, PPR), 0);
	/* TPR blocks its class and below. */
	pt_lapic_wr(vm, 1, TPR, 0x50);
	ipi(vm, 0, 1, 0x55);
	CHECK_EQ(platform_intr_ack(vm, 1), -1);
	CHECK_EQ(platform_get_cr8(vm, 1), 5);
	platform_set_cr8(vm, 1, 0);
	CHECK_EQ(pt_lapic_rd(vm, 1, TPR), 0);
	CHECK_EQ(platform_intr_ack(vm, 1), 0x55);
	pt_lapic_eoi(vm, 1);
	/* An illegal vector sets ESR "send illegal vector" on the sender. */
	ipi(vm, 0, 1, 0x05);
	pt_lapic_wr(vm, 0, ESR, 0);
	CHECK_EQ(pt_lapic_rd(vm, 0, ESR), 0x20);
	CHECK_EQ(platform_intr_ack(vm, 1), -1);
}

static void test_shorthands_logical(struct vm *vm)
{
	ipi(vm, 1, 0, 0x40000 | 0x61);                   /* self */
	CHECK_EQ(platform_intr_ack(vm, 1), 0x61);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	pt_lapic_eoi(vm, 1);
	ipi(vm, 0, 0, 0xC0000 | 0x62);                   /* all excluding self */
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	CHECK_EQ(platform_intr_ack(vm, 1), 0x62);
	CHECK_EQ(platform_intr_ack(vm, 2), 0x62);
	pt_lapic_eoi(vm, 1); pt_lapic_eoi(vm, 2);
	ipi(vm, 0, 0, 0x80000 | 0x63);                   /* all including self */
	CHECK_EQ(platform_intr_ack(vm, 0), 0x63);
	CHECK_EQ(platform_intr_ack(vm, 2), 0x63);
	CHECK_EQ(platform_intr_ack(vm, 1), 0x63);
	for (int i = 0; i < 3; i++) pt_lapic_eoi(vm, i);
	/* Flat logical: LDR bits 1 and 2; destination 0x06 reaches both. */
	pt_lapic_wr(vm, 1, LDR, 0x02u << 24);
	pt_lapic_wr(vm, 2, LDR, 0x04u << 24);
	ipi(vm, 0, 0x06, 0x800 | 0x70);
	CHECK_EQ(platform_intr_ack(vm, 1), 0x70);
	CHECK_EQ(platform_intr_ack(vm, 2), 0x70);
	pt_lapic_eoi(vm, 1); pt_lapic_eoi(vm, 2);
	ipi(vm, 0, 0x06, 0x800 | 0x100 | 0x75);          /* lowest priority: one of them */
	CHECK_EQ(platform_intr_ack(vm, 1), 0x75);
	CHECK_EQ(platform_intr_ack(vm, 2), -1);
	pt_lapic_eoi(vm, 1);
	ipi(vm, 0, 0x04, 0x800 | 0x71);
	CHECK_EQ(platform_intr_ack(vm, 1), -1);
	CHECK_EQ(platform_intr_ack(vm, 2), 0x71);
	pt_lapic_eoi(vm, 2);
	/* Cluster model: cluster 1, members 1 and 2. */
	for (int i = 0; i < 3; i++) pt_lapic_wr(vm, i, DFR, 0x0FFFFFFF);
	pt_lapic_wr(vm, 1, LDR, 0x11u << 24);
	pt_lapic_wr(vm, 2, LDR, 0x12u << 24);
	ipi(vm, 0, 0x12, 0x800 | 0x72);
	CHECK_EQ(platform_intr_ack(vm, 1), -1);
	CHECK_EQ(platform_intr_ack(vm, 2), 0x72);
	pt_lapic_eoi(vm, 2);
	ipi(vm, 0, 0x22, 0x800 | 0x73);                  /* other cluster: nobody */
	CHECK_EQ(platform_intr_ack(vm, 2), -1);
	/* Physical broadcast 0xFF. */
	ipi(vm, 0, 0xFF, 0x74);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x74);
	CHECK_EQ(platform_intr_ack(vm, 1), 0x74);
	for (int i = 0; i < 3; i++) pt_lapic_eoi(vm, i);
	platform_intr_ack(vm, 2);
	pt_lapic_eoi(vm, 2);
}

static void test_nmi_init_sipi(struct vm *vm)
{
	ipi(vm, 0, 2, 0x400);                            /* NMI */
	CHECK_EQ(pt_ev.nmi[2], 1);
	ipi(vm, 0, 1, 0x4500);                           /* INIT assert */
	CHECK_EQ(pt_ev.init[1], 1);
	CHECK_EQ(pt_lapic_rd(vm, 1, SVR), 0xFF);         /* INIT reset the APIC */
	ipi(vm, 0, 1, 0x8500);                           /* INIT level de-assert: nothing */
	CHECK_EQ(pt_ev.init[1], 1);
	ipi(vm, 0, 1, 0x4600 | 0x9A);                    /* SIPI */
	CHECK_EQ(pt_ev.sipi[1], 1);
	CHECK_EQ(pt_ev.sipi_vec[1], 0x9A);
	ipi(vm, 0, 0, 0xC4600 | 0x10);                   /* SIPI to all others */
	CHECK_EQ(pt_ev.sipi[1], 2);
	CHECK_EQ(pt_ev.sipi[2], 1);
	CHECK_EQ(pt_ev.sipi[0], 0);
	pt_lapic_enable(vm, 1);
}

/* Wait (at most ~2 s) for `vec` at vCPU 0; acknowledges and EOIs it. */
static bool wait_vec(struct vm *vm, int vec)
{
	int v = -1;
	for (int i = 0; i < 2000 && v < 0; i++) {
		v = platform_intr_ack(vm, 0);
		if (v < 0)
			pt_sleep_ms(1);
	}
	if (v >= 0)
		pt_lapic_eoi(vm, 0);
	return v == vec;
}

static void test_timer_oneshot(struct vm *vm)
{
	pt_lapic_wr(vm, 0, TDCR, 0xB);                   /* divide by 1 */
	pt_lapic_wr(vm, 0, LVTT, 0x50);
	uint64_t t0 = vclock_ns(vm);
	pt_lapic_wr(vm, 0, TICR, MS);                    /* 1 ms */
	uint32_t c1 = pt_lapic_rd(vm, 0, TCCR);
	CHECK(c1 > 0 && c1 <= MS);
	CHECK(wait_vec(vm, 0x50));
	CHECK(vclock_ns(vm) - t0 >= 1000000);            /* never early */
	CHECK_EQ(pt_lapic_rd(vm, 0, TCCR), 0);
	pt_sleep_ms(5);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);          /* one-shot: once */
	/* Divide by 16 counts 16x slower. */
	pt_lapic_wr(vm, 0, TDCR, 0x3);
	pt_lapic_wr(vm, 0, TICR, 0xFFFFFFFFu);
	uint64_t ta = vclock_ns(vm);
	uint32_t a = pt_lapic_rd(vm, 0, TCCR);
	pt_sleep_ms(20);
	uint32_t b = pt_lapic_rd(vm, 0, TCCR);
	uint64_t tb = vclock_ns(vm);
	CHECK(b < a);
	CHECK((uint64_t)(a - b) <= (tb - ta) * (VCLOCK_CRYSTAL_HZ / 16) / 1000000000ULL + 1);
	pt_lapic_wr(vm, 0, TICR, 0);                     /* stop */
	CHECK_EQ(pt_lapic_rd(vm, 0, TCCR), 0);
	/* Masked: counts but no interrupt. */
	pt_lapic_wr(vm, 0, TDCR, 0xB);
	pt_lapic_wr(vm, 0, LVTT, 0x10050);
	pt_lapic_wr(vm, 0, TICR, MS / 10);
	pt_sleep_ms(5);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
}

static void test_timer_periodic(struct vm *vm)
{
	pt_lapic_wr(vm, 0, TDCR, 0xB);
	pt_lapic_wr(vm, 0, LVTT, 0x20051);
	uint64_t t0 = vclock_ns(vm);
	pt_lapic_wr(vm, 0, TICR, 2 * MS);                /* 2 ms */
	int n = 0;
	while (n < 10 && vclock_ns(vm) - t0 < 3000000000ULL) {
		int v = platform_intr_ack(vm, 0);
		if (v == 0x51) {
			n++;
			pt_lapic_eoi(vm, 0);
		} else {
			pt_sleep_ms(1);
		}
	}
	uint64_t el = vclock_ns(vm) - t0;
	CHECK_EQ(n, 10);
	CHECK(el >= 10 * 2000000ULL);                    /* 10 periods cannot come sooner */
	uint32_t c = pt_lapic_rd(vm, 0, TCCR);
	CHECK(c > 0 && c <= 2 * MS);                     /* reloads, never 0 */
	pt_lapic_wr(vm, 0, LVTT, 0x10051);
	pt_lapic_wr(vm, 0, TICR, 0);
	pt_sleep_ms(3);
	while (platform_intr_ack(vm, 0) >= 0)
		pt_lapic_eoi(vm, 0);
}

static void test_timer_tsc_deadline(struct vm *vm)
{
	pt_lapic_wr(vm, 0, LVTT, 0x40052);               /* TSC-deadline mode */
	uint64_t v = 1;
	CHECK_EQ(platform_rdmsr(vm, 0, 0x6E0, &v), 0);
	CHECK_EQ(v, 0);
	pt_lapic_wr(vm, 0, TICR, 1000);                  /* ignored in this mode */
	CHECK_EQ(pt_lapic_rd(vm, 0, TCCR), 0);
	uint64_t dl = vclock_tsc(vm) + vclock_tsc_hz(vm) / 500;   /* +2 ms */
	CHECK_EQ(platform_wrmsr(vm, 0, 0x6E0, dl), 0);
	CHECK_EQ(platform_rdmsr(vm, 0, 0x6E0, &v), 0);
	CHECK_EQ(v, dl);
	CHECK(wait_vec(vm, 0x52));
	CHECK(vclock_tsc(vm) >= dl);
	CHECK_EQ(platform_rdmsr(vm, 0, 0x6E0, &v), 0);
	CHECK_EQ(v, 0);                                  /* disarmed after firing */
	/* A deadline in the past fires at once; writing 0 disarms. */
	platform_wrmsr(vm, 0, 0x6E0, 1);
	CHECK(wait_vec(vm, 0x52));
	platform_wrmsr(vm, 0, 0x6E0, vclock_tsc(vm) + vclock_tsc_hz(vm) / 1000);
	platform_wrmsr(vm, 0, 0x6E0, 0);
	pt_sleep_ms(5);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	pt_lapic_wr(vm, 0, LVTT, 0x10000);
}

/* SDM 11.5.4.1: one-shot <-> periodic leaves the count running; only TSC-deadline mode in or
 * out stops it. */
static void test_timer_mode_change(struct vm *vm)
{
	pt_lapic_wr(vm, 0, TDCR, 0xB);
	pt_lapic_wr(vm, 0, LVTT, 0x53);                  /* one-shot */
	pt_lapic_wr(vm, 0, TICR, 10 * MS);
	pt_sleep_ms(6);
	pt_lapic_wr(vm, 0, LVTT, 0x20053);               /* -> periodic mid-count */
	uint32_t c = pt_lapic_rd(vm, 0, TCCR);
	CHECK(c > 0 && c <= 4 * MS);                     /* not reloaded: still 4 ms to go */
	CHECK_EQ(pt_lapic_rd(vm, 0, TICR), 10 * MS);
	pt_sleep_ms(3);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	pt_sleep_ms(1);                                  /* 10 ms: the first expiry */
	CHECK_EQ(platform_intr_ack(vm, 0), 0x53);
	pt_lapic_eoi(vm, 0);
	pt_sleep_ms(2);
	c = pt_lapic_rd(vm, 0, TCCR);
	CHECK(c > 7 * MS && c <= 8 * MS);                /* periodic: reloaded at expiry */
	pt_lapic_wr(vm, 0, LVTT, 0x53);                  /* -> one-shot: runs out, no reload */
	CHECK(pt_lapic_rd(vm, 0, TCCR) <= 8 * MS);
	pt_sleep_ms(8);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x53);
	pt_lapic_eoi(vm, 0);
	CHECK_EQ(pt_lapic_rd(vm, 0, TCCR), 0);
	pt_sleep_ms(12);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	pt_lapic_wr(vm, 0, LVTT, 0x20053);               /* run out: periodic does not restart */
	CHECK_EQ(pt_lapic_rd(vm, 0, TCCR), 0);
	pt_sleep_ms(12);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	/* Into TSC-deadline mode: the running count stops. */
	pt_lapic_wr(vm, 0, TICR, 5 * MS);
	pt_lapic_wr(vm, 0, LVTT, 0x40053);
	pt_sleep_ms(10);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	pt_lapic_wr(vm, 0, LVTT, 0x10000);
}

/* A TSC deadline already passed is pending when the WRMSR returns: no time has to pass. */
static void test_tsc_deadline_past(struct vm *vm)
{
	pt_lapic_wr(vm, 0, LVTT, 0x40054);
	int before = pt_ev.intr[0];
	CHECK_EQ(platform_wrmsr(vm, 0, 0x6E0, vclock_tsc(vm)), 0);
	CHECK(pt_ev.intr[0] > before);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x54);
	pt_lapic_eoi(vm, 0);
	uint64_t v = 1;
	CHECK_EQ(platform_rdmsr(vm, 0, 0x6E0, &v), 0);
	CHECK_EQ(v, 0);
	pt_lapic_wr(vm, 0, LVTT, 0x10000);
}

/* IA32_APIC_BASE moves one vCPU's xAPIC page; the others stay where they are. */
static void test_apic_move(struct vm *vm)
{
	const uint64_t alt = 0xFED40000ULL;
	uint32_t ver = pt_lapic_rd(vm, 1, VER);
	CHECK_EQ(platform_wrmsr(vm, 1, 0x1B, alt | 0x800), 0);
	CHECK_EQ((uint32_t)pt_mr(vm, 1, alt + VER, 4), ver);
	CHECK_EQ(pt_lapic_rd(vm, 1, VER), 0xFFFFFFFFu);  /* the old page is not its APIC now */
	CHECK_EQ(pt_lapic_rd(vm, 0, VER), ver);           /* vCPU 0's APIC has not moved */
	CHECK_EQ((uint32_t)pt_mr(vm, 0, alt + VER, 4), 0xFFFFFFFFu);
	pt_mw(vm, 1, alt + TPR, 4, 0x20);
	CHECK_EQ((uint32_t)pt_mr(vm, 1, alt + TPR, 4), 0x20);
	pt_mw(vm, 1, alt + TPR, 4, 0);
	/* Over guest RAM: accepted, not decoded. */
	CHECK_EQ(platform_wrmsr(vm, 1, 0x1B, 0x100000ULL | 0x800), 0);
	CHECK_EQ(platform_wrmsr(vm, 1, 0x1B, LAYOUT_LAPIC_BASE | 0x800), 0);
	CHECK_EQ(pt_lapic_rd(vm, 1, VER), ver);
	CHECK_EQ((uint32_t)pt_mr(vm, 1, alt + VER, 4), 0xFFFFFFFFu);
	/* Moved while disabled, then enabled where it is. */
	CHECK_EQ(platform_wrmsr(vm, 1, 0x1B, 0xFED50000ULL), 0);
	CHECK_EQ(platform_wrmsr(vm, 1, 0x1B, 0xFED50000ULL | 0x800), 0);
	CHECK_EQ((uint32_t)pt_mr(vm, 1, 0xFED50000ULL + VER, 4), ver);
	pt_lapic_enable(vm, 1);                          /* the disable reset it */
	CHECK_EQ(platform_wrmsr(vm, 1, 0x1B, LAYOUT_LAPIC_BASE | 0x800), 0);
	/* A hostile guest moving it again and again: a bounded number of pages. */
	for (uint64_t i = 0; i < 64; i++)
		CHECK_EQ(platform_wrmsr(vm, 1, 0x1B, (0xF0000000ULL + (i << 12)) | 0x800), 0);
	CHECK(vm_platform(vm)->nlapic_pages <= PLAT_LAPIC_PAGES);
	CHECK_EQ(platform_wrmsr(vm, 1, 0x1B, LAYOUT_LAPIC_BASE | 0x800), 0);
	CHECK_EQ(pt_lapic_rd(vm, 1, VER), ver);
}

static void test_x2apic(void)
{
	config_set("x86.x2apic", "true");
	struct vm *vm = pt_vm_create(2);
	CHECK(vm != NULL);
	if (!vm)
		return;
	CHECK(platform_wrmsr(vm, 1, 0x1B, 0xFEE00000ULL | 0x400) < 0);   /* EXTD without EN */
	for (int i = 0; i < 2; i++)
		CHECK_EQ(platform_wrmsr(vm, i, 0x1B, 0xFEE00C00ULL), 0);
	uint64_t v = 0;
	CHECK_EQ(platform_rdmsr(vm, 1, 0x802, &v), 0);
	CHECK_EQ(v, 1);
	CHECK_EQ(platform_rdmsr(vm, 1, 0x80D, &v), 0);
	CHECK_EQ(v, 2);                                  /* cluster 0, bit 1 */
	CHECK(platform_rdmsr(vm, 1, 0x80E, &v) < 0);     /* no DFR in x2APIC mode */
	CHECK_EQ(pt_lapic_rd(vm, 0, ID), 0xFFFFFFFFu);   /* the MMIO page is gone */
	for (int i = 0; i < 2; i++)
		CHECK_EQ(platform_wrmsr(vm, i, 0x80F, 0x1FF), 0);
	CHECK_EQ(platform_wrmsr(vm, 0, 0x830, (1ULL << 32) | 0x44), 0);
	CHECK_EQ(platform_intr_ack(vm, 1), 0x44);
	CHECK(platform_wrmsr(vm, 1, 0x80B, 1) < 0);      /* EOI must be written with 0 */
	CHECK_EQ(platform_wrmsr(vm, 1, 0x80B, 0), 0);
	CHECK_EQ(platform_wrmsr(vm, 0, 0x83F, 0x45), 0); /* SELF IPI */
	CHECK_EQ(platform_intr_ack(vm, 0), 0x45);
	CHECK(platform_wrmsr(vm, 0, 0x1B, 0xFEE00900ULL) < 0);  /* x2APIC -> xAPIC: #GP */
	pt_vm_free(vm);
	config_unset("x86.x2apic");
	/* Without x86.x2apic the EXTD bit is refused. */
	vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (vm) {
		CHECK(platform_wrmsr(vm, 0, 0x1B, 0xFEE00D00ULL) < 0);
		pt_vm_free(vm);
	}
}

int main(void)
{
	config_reset();
	struct vm *vm = pt_vm_create(3);
	CHECK(vm != NULL);
	if (vm) {
		test_reset_state(vm);
		test_fixed_priority(vm);
		test_shorthands_logical(vm);
		test_nmi_init_sipi(vm);
		test_timer_oneshot(vm);
		test_timer_periodic(vm);
		test_timer_tsc_deadline(vm);
		test_timer_mode_change(vm);
		test_tsc_deadline_past(vm);
		test_apic_move(vm);
		pt_vm_free(vm);
	}
	test_x2apic();
	return unit_report("vlapic");
}
