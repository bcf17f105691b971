/* 8254 PIT: channel 2 gate/OUT2 through port 0x61 exact against the virtual clock, mode 0
 * counting, latch and read-back, access modes, BCD; channel 0 interrupts in modes 0, 2, 3
 * through IOAPIC pin 2. */
#include "plat_test.h"
#include "unit.h"

#define PIT_HZ 1193182ULL

static uint64_t ticks(uint64_t ns) { return ns * PIT_HZ / 1000000000ULL; }

static uint16_t latch_read(struct vm *vm, int ch)
{
	pt_out(vm, 0x43, 1, (uint32_t)ch << 6);          /* counter latch */
	uint16_t lo = (uint16_t)pt_in(vm, 0x40 + ch, 1);
	return lo | (uint16_t)(pt_in(vm, 0x40 + ch, 1) << 8);
}

static void test_channel2(struct vm *vm)
{
	pt_out(vm, 0x61, 1, 0x00);                       /* gate low */
	pt_out(vm, 0x43, 1, 0xB0);                       /* ch2, LSB/MSB, mode 0, binary */
	uint16_t n = 11932;                              /* 10 ms */
	pt_out(vm, 0x42, 1, n & 0xFF);
	pt_out(vm, 0x42, 1, n >> 8);
	CHECK_EQ(pt_in(vm, 0x61, 1) & 0x20, 0);          /* OUT2 low after the count is written */
	CHECK_EQ(latch_read(vm, 2), n);                  /* gate low: not counting */
	pt_sleep_ms(2);
	CHECK_EQ(latch_read(vm, 2), n);
	uint64_t t0 = vclock_ns(vm);
	pt_out(vm, 0x61, 1, 0x01);                       /* gate high: counting starts */
	uint64_t t1 = vclock_ns(vm);
	CHECK_EQ(pt_in(vm, 0x61, 1) & 0x01, 1);
	pt_sleep_ms(3);
	uint64_t t2 = vclock_ns(vm);
	uint16_t c = latch_read(vm, 2);
	uint64_t t3 = vclock_ns(vm);
	/* The count agrees with the virtual clock to a tick. */
	CHECK((uint64_t)c <= n - ticks(t2 - t1) + 1);
	CHECK((uint64_t)c + 1 >= n - ticks(t3 - t0));
	/* OUT2 goes high exactly when N ticks have passed. */
	uint64_t seen = 0;
	for (int i = 0; i < 5000 && !seen; i++) {
		if (pt_in(vm, 0x61, 1) & 0x20)
			seen = vclock_ns(vm);
		else
			pt_sleep_ms(1);
	}
	CHECK(seen != 0);
	CHECK(ticks(seen - t0) + 1 >= n);                 /* never early */
	/* After terminal count mode 0 wraps around and keeps counting; OUT stays high.  (OUT
	 * may have been seen at the very tick the count reached 0: let a little time pass.) */
	pt_sleep_ms(1);
	uint16_t w = latch_read(vm, 2);
	CHECK(w > n);
	CHECK(pt_in(vm, 0x61, 1) & 0x20);
	/* Gate low pauses the count. */
	pt_out(vm, 0x61, 1, 0x00);
	uint16_t p1 = latch_read(vm, 2);
	pt_sleep_ms(2);
	CHECK_EQ(latch_read(vm, 2), p1);
}

static void test_access_modes(struct vm *vm)
{
	pt_out(vm, 0x61, 1, 0x01);
	/* Latch holds the value while the counter runs; LSB then MSB. */
	pt_out(vm, 0x43, 1, 0xB0);
	pt_out(vm, 0x42, 1, 0xFF);
	pt_out(vm, 0x42, 1, 0xFF);
	pt_out(vm, 0x43, 1, 0x80);
	pt_sleep_ms(2);
	uint16_t lo = (uint16_t)pt_in(vm, 0x42, 1);
	uint16_t v = lo | (uint16_t)(pt_in(vm, 0x42, 1) << 8);
	CHECK(v > 0xFFFF - 200);                         /* latched before the sleep */
	/* Read-back: status of channel 2 (mode 0, LSB/MSB, binary, OUT low, count loaded). */
	pt_out(vm, 0x43, 1, 0xE8);
	CHECK_EQ(pt_in(vm, 0x42, 1), 0x30);
	/* Read-back of count and status together: status first. */
	pt_out(vm, 0x43, 1, 0xC8);
	CHECK_EQ(pt_in(vm, 0x42, 1), 0x30);
	lo = (uint16_t)pt_in(vm, 0x42, 1);
	v = lo | (uint16_t)(pt_in(vm, 0x42, 1) << 8);
	CHECK(v < 0xFFFF && v > 0xFFFF - 20000);
	/* Control word: null count set until the count is written. */
	pt_out(vm, 0x43, 1, 0x94);                       /* ch2, LSB only, mode 2 */
	pt_out(vm, 0x43, 1, 0xE8);
	CHECK_EQ(pt_in(vm, 0x42, 1), 0x80 | 0x40 | 0x14);
	pt_out(vm, 0x42, 1, 200);
	pt_out(vm, 0x43, 1, 0xE8);
	CHECK_EQ(pt_in(vm, 0x42, 1) & 0x40, 0);
	uint32_t c = pt_in(vm, 0x42, 1);                  /* LSB mode: one byte per read */
	CHECK(c >= 1 && c <= 200);
	/* BCD: 1234 decimal counts in decimal. */
	pt_out(vm, 0x43, 1, 0xB1);                       /* ch2, LSB/MSB, mode 0, BCD */
	pt_out(vm, 0x42, 1, 0x34);
	pt_out(vm, 0x42, 1, 0x12);
	uint16_t b = latch_read(vm, 2);
	CHECK(b <= 0x1234 && b >= 0x1200);
	CHECK((b & 0xF) <= 9 && ((b >> 4) & 0xF) <= 9);
	/* The control port reads as nothing. */
	CHECK_EQ(pt_in(vm, 0x43, 1), 0xFF);
	pt_out(vm, 0x61, 1, 0x00);
}

/* Count IRQ0 deliveries (vector 0x30 via IOAPIC pin 2) over up to 2 s until `want`. */
static int count_irq0(struct vm *vm, int want, uint64_t *elapsed)
{
	uint64_t t0 = vclock_ns(vm);
	int n = 0;
	while (n < want && vclock_ns(vm) - t0 < 2000000000ULL) {
		if (platform_intr_ack(vm, 0) == 0x30) {
			n++;
			pt_lapic_eoi(vm, 0);
		} else {
			pt_sleep_ms(1);
		}
	}
	*elapsed = vclock_ns(vm) - t0;
	return n;
}

static void test_channel0(struct vm *vm)
{
	pt_lapic_enable(vm, 0);
	pt_ioapic_rte(vm, 2, 0x30);
	uint64_t el;
	/* Mode 2, 1193 ticks = 1 ms. */
	pt_out(vm, 0x43, 1, 0x34);
	uint64_t t0 = vclock_ns(vm);
	pt_out(vm, 0x40, 1, 1193 & 0xFF);
	pt_out(vm, 0x40, 1, 1193 >> 8);
	int n = count_irq0(vm, 20, &el);
	CHECK_EQ(n, 20);
	CHECK(vclock_ns(vm) - t0 >= 20 * 999000ULL);     /* no more than one per period */
	uint16_t c = latch_read(vm, 0);
	CHECK(c >= 1 && c <= 1193);
	/* Mode 3 (square wave), same period. */
	pt_out(vm, 0x43, 1, 0x36);
	t0 = vclock_ns(vm);
	pt_out(vm, 0x40, 1, 1193 & 0xFF);
	pt_out(vm, 0x40, 1, 1193 >> 8);
	n = count_irq0(vm, 10, &el);
	CHECK_EQ(n, 10);
	CHECK(vclock_ns(vm) - t0 >= 10 * 999000ULL);
	/* Mode 0: a single interrupt at terminal count. */
	pt_out(vm, 0x43, 1, 0x30);
	while (platform_intr_ack(vm, 0) >= 0)
		pt_lapic_eoi(vm, 0);
	pt_out(vm, 0x40, 1, 0x00);
	pt_out(vm, 0x40, 1, 0x10);                       /* 4096 ticks, ~3.4 ms */
	n = count_irq0(vm, 1, &el);
	CHECK_EQ(n, 1);
	pt_sleep_ms(10);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	/* The same tick also reaches the 8259's IRQ0 input. */
	pt_pic_init(vm, 0x01, 0xFE, 0xFF);
	pt_mw(vm, 0, LAYOUT_LAPIC_BASE + 0x350, 4, 0x700);
	pt_ioapic_rte(vm, 2, 0x10030);                   /* IOAPIC pin masked */
	pt_out(vm, 0x43, 1, 0x30);
	pt_out(vm, 0x40, 1, 0x00);
	pt_out(vm, 0x40, 1, 0x04);
	int v = -1;
	for (int i = 0; i < 2000 && v < 0; i++) {
		v = platform_intr_ack(vm, 0);
		if (v < 0)
			pt_sleep_ms(1);
	}
	CHECK_EQ(v, 0x20);
	pt_out(vm, 0x43, 1, 0x30);                       /* stop: control word without count */
}

int main(void)
{
	config_reset();
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (vm) {
		test_channel2(vm);
		test_access_modes(vm);
		test_channel0(vm);
		pt_vm_free(vm);
	}
	return unit_report("vatpit");
}
