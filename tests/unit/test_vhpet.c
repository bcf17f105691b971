/* HPET: capabilities, the 10 MHz main counter against the virtual clock, halt and set,
 * one-shot and periodic comparators, legacy replacement routing, level mode with the
 * interrupt status register, both lines of a legacy level timer dropping together. */
#include "plat_test.h"
#include "unit.h"

#define H(off) (LAYOUT_HPET_BASE + (off))
#define TCONF(n) H(0x100 + 0x20 * (n))
#define TCMP(n) H(0x108 + 0x20 * (n))

static int wait_vec(struct vm *vm, int ms)
{
	int v = -1;
	for (int i = 0; i < ms && v < 0; i++) {
		v = platform_intr_ack(vm, 0);
		if (v < 0)
			pt_sleep_ms(1);
	}
	return v;
}

static void test_counter(struct vm *vm)
{
	uint64_t cap = pt_mr(vm, 0, H(0), 8);
	CHECK_EQ(cap >> 32, 100000000ULL);
	CHECK_EQ((cap >> 8) & 0x1F, 2);
	CHECK(cap & (1ULL << 13));
	CHECK(cap & (1ULL << 15));
	CHECK_EQ(pt_mr(vm, 0, H(4), 4), 100000000ULL);  /* upper half read alone */
	CHECK_EQ(pt_mr(vm, 0, H(0xF0), 8), 0);          /* halted at reset */
	pt_mw(vm, 0, H(0xF0), 8, 1000);                 /* settable while halted */
	CHECK_EQ(pt_mr(vm, 0, H(0xF0), 8), 1000);
	uint64_t t0 = vclock_ns(vm);
	pt_mw(vm, 0, H(0x10), 4, 1);                    /* ENABLE_CNF */
	uint64_t t1 = vclock_ns(vm);
	pt_sleep_ms(3);
	uint64_t t2 = vclock_ns(vm);
	uint64_t c = pt_mr(vm, 0, H(0xF0), 8);
	uint64_t t3 = vclock_ns(vm);
	CHECK(c - 1000 >= (t2 - t1) / 100);             /* 100 ns per count, exactly */
	CHECK(c - 1000 <= (t3 - t0) / 100 + 1);
	pt_mw(vm, 0, H(0xF0), 8, 5);                    /* ignored while running */
	CHECK(pt_mr(vm, 0, H(0xF0), 8) >= c);
	pt_mw(vm, 0, H(0x10), 4, 0);
	uint64_t f = pt_mr(vm, 0, H(0xF0), 8);
	pt_sleep_ms(2);
	CHECK_EQ(pt_mr(vm, 0, H(0xF0), 8), f);          /* frozen */
	pt_mw(vm, 0, H(0x10), 4, 1);
	CHECK(pt_mr(vm, 0, H(0xF0), 4) >= (uint32_t)f); /* resumes from where it stopped */
}

static void test_oneshot_periodic(struct vm *vm)
{
	pt_lapic_enable(vm, 0);
	pt_ioapic_rte(vm, 20, 0x40);
	pt_ioapic_rte(vm, 21, 0x41);
	/* Route capability: pins 20-23 only. */
	CHECK_EQ(pt_mr(vm, 0, TCONF(2) + 4, 4), 0x00F00000);
	pt_mw(vm, 0, TCONF(2), 4, (5 << 9) | 4);        /* pin 5 is not allowed: kept */
	CHECK_EQ((pt_mr(vm, 0, TCONF(2), 4) >> 9) & 0x1F, 22);
	/* Timer 2, one-shot on pin 20, 1 ms ahead. */
	pt_mw(vm, 0, TCONF(2), 4, (20 << 9) | 4);
	uint64_t now = pt_mr(vm, 0, H(0xF0), 8);
	pt_mw(vm, 0, TCMP(2), 8, now + 10000);
	CHECK_EQ(wait_vec(vm, 2000), 0x40);
	CHECK(pt_mr(vm, 0, H(0xF0), 8) >= now + 10000);
	pt_lapic_eoi(vm, 0);
	pt_sleep_ms(5);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);         /* once */
	/* Timer 0, periodic on pin 21 every 1 ms (Linux's sequence: VAL_SET, start, period). */
	pt_mw(vm, 0, TCONF(0), 4, (21 << 9) | 0x4C);
	now = pt_mr(vm, 0, H(0xF0), 8);
	pt_mw(vm, 0, TCMP(0), 8, now + 10000);
	pt_mw(vm, 0, TCMP(0), 8, 10000);
	int n = 0;
	for (int i = 0; i < 8; i++) {
		int v = wait_vec(vm, 2000);
		n += v == 0x41;
		pt_lapic_eoi(vm, 0);
	}
	CHECK_EQ(n, 8);
	uint64_t cnt = pt_mr(vm, 0, H(0xF0), 8);
	CHECK(cnt >= now + 8 * 10000);
	uint64_t cmp = pt_mr(vm, 0, TCMP(0), 8);
	CHECK(cmp > cnt && cmp <= cnt + 10000);          /* the comparator moves by the period */
	CHECK_EQ((cmp - now) % 10000, 0);
	/* 32-bit periodic with a period shorter than the timer thread can keep up with: it
	 * skips missed periods instead of wrapping into a 7-minute pause. */
	pt_mw(vm, 0, TCONF(0), 4, (21 << 9) | 0x14C);
	now = pt_mr(vm, 0, H(0xF0), 4);
	pt_mw(vm, 0, TCMP(0), 4, (uint32_t)(now + 10));
	pt_mw(vm, 0, TCMP(0), 4, 10);                    /* 1 us */
	n = 0;
	for (int i = 0; i < 5; i++) {
		n += wait_vec(vm, 2000) == 0x41;
		pt_lapic_eoi(vm, 0);
	}
	CHECK_EQ(n, 5);
	pt_mw(vm, 0, TCONF(0), 4, 21 << 9);              /* interrupts off */
	pt_sleep_ms(3);
	while (platform_intr_ack(vm, 0) >= 0)
		pt_lapic_eoi(vm, 0);
}

static void test_legacy_level(struct vm *vm)
{
	/* Legacy replacement: timer 0 drives IRQ0, i.e. IOAPIC pin 2. */
	pt_ioapic_rte(vm, 2, 0x42);
	pt_mw(vm, 0, H(0x10), 4, 3);
	pt_mw(vm, 0, TCONF(0), 4, 4);
	uint64_t now = pt_mr(vm, 0, H(0xF0), 8);
	pt_mw(vm, 0, TCMP(0), 8, now + 5000);
	CHECK_EQ(wait_vec(vm, 2000), 0x42);
	pt_lapic_eoi(vm, 0);
	pt_mw(vm, 0, TCONF(0), 4, 0);
	pt_mw(vm, 0, H(0x10), 4, 1);
	/* Level-triggered timer 1 on pin 22: status bit set until cleared. */
	pt_ioapic_rte(vm, 22, (1ULL << 15) | 0x43);
	pt_mw(vm, 0, TCONF(1), 4, (22 << 9) | 0x6);
	now = pt_mr(vm, 0, H(0xF0), 8);
	pt_mw(vm, 0, TCMP(1), 4, (uint32_t)(now + 5000));
	pt_mw(vm, 0, TCMP(1) + 4, 4, (uint32_t)((now + 5000) >> 32));
	CHECK_EQ(wait_vec(vm, 2000), 0x43);
	CHECK_EQ(pt_mr(vm, 0, H(0x20), 4) & 2, 2);
	pt_lapic_eoi(vm, 0);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x43);        /* still asserted: again */
	pt_mw(vm, 0, H(0x20), 4, 2);                     /* clear status: line drops */
	CHECK_EQ(pt_mr(vm, 0, H(0x20), 4) & 2, 0);
	pt_lapic_eoi(vm, 0);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	/* 32-bit mode: the comparator reads back 32 bits. */
	pt_mw(vm, 0, TCONF(1), 4, (22 << 9) | 0x100);
	pt_mw(vm, 0, TCMP(1), 8, 0x123456789ULL);
	CHECK_EQ(pt_mr(vm, 0, TCMP(1), 8), 0x23456789ULL);
	/* Odd accesses are harmless. */
	CHECK_EQ(pt_mr(vm, 0, H(0x3), 1), 0);
	pt_mw(vm, 0, H(0x11), 2, 0xFFFF);
	CHECK_EQ(pt_mr(vm, 0, H(0x10), 4), 1);
}

static uint8_t pic_irr(struct vm *vm) { pt_out(vm, 0x20, 1, 0x0A); return (uint8_t)pt_in(vm, 0x20, 1); }

/* Wait (bounded) for timer n's level status bit. */
static bool wait_isr(struct vm *vm, int n, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (pt_mr(vm, 0, H(0x20), 4) & (1u << n))
			return true;
		pt_sleep_ms(1);
	}
	return false;
}

static void fire_level_t0(struct vm *vm)
{
	uint64_t now = pt_mr(vm, 0, H(0xF0), 8);
	pt_mw(vm, 0, TCMP(0), 8, now + 5000);
	CHECK(wait_isr(vm, 0, 2000));
}

/* Legacy replacement, level mode: timer 0 drives IRQ0 on the 8259 and IOAPIC pin 2.  Clearing
 * the status bit must drop both lines, so the next match is a new edge at the edge-triggered
 * 8259 input (a line left high would never request IRQ0 again). */
static void test_legacy_level_8259(void)
{
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (!vm)
		return;
	pt_pic_init(vm, 0x01, 0xFF, 0xFF);               /* all masked: IRR still latches */
	pt_ioapic_rte(vm, 2, (1ULL << 16) | 0x42);       /* IOAPIC pin masked */
	pt_mw(vm, 0, H(0x10), 4, 3);                     /* enable, legacy replacement */
	pt_mw(vm, 0, TCONF(0), 4, 0x6);                  /* level, interrupt enabled */
	fire_level_t0(vm);
	CHECK_EQ(pic_irr(vm) & 1, 1);
	pt_out(vm, 0x21, 1, 0xFE);                       /* take IRQ0: INTA clears IRR */
	struct platform *p = platform_of(vm);
	CHECK_EQ(vatpic_intr_accept(p->atpic), 0x20);
	pt_out(vm, 0x20, 1, 0x20);
	pt_out(vm, 0x21, 1, 0xFF);
	CHECK_EQ(pic_irr(vm) & 1, 0);
	pt_mw(vm, 0, H(0x20), 4, 1);                     /* clear status: both lines drop */
	CHECK_EQ(pt_mr(vm, 0, H(0x20), 4) & 1, 0);
	fire_level_t0(vm);
	CHECK_EQ(pic_irr(vm) & 1, 1);                    /* a new edge */
	/* Leaving legacy mode with the status set moves the line from IRQ0 to pin 20. */
	pt_ioapic_rte(vm, 20, (1ULL << 15) | 0x45);
	pt_lapic_enable(vm, 0);
	pt_mw(vm, 0, H(0x10), 4, 1);
	CHECK_EQ(wait_vec(vm, 2000), 0x45);
	pt_mw(vm, 0, H(0x20), 4, 1);                     /* clear status, then EOI */
	CHECK_EQ(pt_mr(vm, 0, H(0x20), 4) & 1, 0);
	pt_lapic_eoi(vm, 0);
	CHECK_EQ(wait_vec(vm, 5), -1);                   /* pin 20 dropped: no re-delivery */
	pt_out(vm, 0x21, 1, 0xFE);
	CHECK_EQ(vatpic_intr_accept(p->atpic), 0x20);    /* the IRQ0 edge latched before */
	pt_out(vm, 0x20, 1, 0x20);
	pt_vm_free(vm);
}

int main(void)
{
	config_reset();
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (vm) {
		test_counter(vm);
		test_oneshot_periodic(vm);
		test_legacy_level(vm);
		pt_vm_free(vm);
	}
	test_legacy_level_8259();
	return unit_report("vhpet");
}
