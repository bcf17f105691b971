/* RTC/CMOS: host time (UTC and local), BCD/binary and 12/24-hour formats, setting the time and
 * rolling over a century, periodic/alarm/update interrupts on IRQ 8 with register C, NVRAM and
 * the memory-size bytes. */
#include "plat_test.h"
#include "unit.h"

static uint8_t cmos(struct vm *vm, uint8_t reg) { pt_out(vm, 0x70, 1, reg); return (uint8_t)pt_in(vm, 0x71, 1); }
static void cmos_w(struct vm *vm, uint8_t reg, uint8_t v) { pt_out(vm, 0x70, 1, reg); pt_out(vm, 0x71, 1, v); }
static int bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0xF); }

/* The RTC's time as seconds (BCD 24-hour mode), waiting out an update in progress. */
static int64_t rtc_epoch(struct vm *vm)
{
	while (cmos(vm, 0x0A) & 0x80)
		;
	struct tm tm = { 0 };
	tm.tm_sec = bcd(cmos(vm, 0));
	tm.tm_min = bcd(cmos(vm, 2));
	tm.tm_hour = bcd(cmos(vm, 4));
	tm.tm_mday = bcd(cmos(vm, 7));
	tm.tm_mon = bcd(cmos(vm, 8)) - 1;
	tm.tm_year = bcd(cmos(vm, 0x32)) * 100 + bcd(cmos(vm, 9)) - 1900;
	return (int64_t)timegm(&tm);
}

static void test_host_time(void)
{
	config_set("rtc.use_localtime", "false");
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (!vm)
		return;
	int64_t d = rtc_epoch(vm) - (int64_t)time(NULL);
	CHECK(d >= -2 && d <= 2);
	pt_vm_free(vm);
	config_unset("rtc.use_localtime");
	vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (!vm)
		return;
	time_t now = time(NULL);
	struct tm lt;
	localtime_r(&now, &lt);
	d = rtc_epoch(vm) - ((int64_t)now + lt.tm_gmtoff);
	CHECK(d >= -2 && d <= 2);
	pt_vm_free(vm);
}

static void test_formats(struct vm *vm)
{
	CHECK_EQ(cmos(vm, 0x0D), 0x80);
	CHECK_EQ(cmos(vm, 0x0A) & 0x7F, 0x26);
	CHECK_EQ(cmos(vm, 0x0B), 0x02);
	/* Stop the clock at 1999-12-31 23:59:58 (BCD), with SET. */
	cmos_w(vm, 0x0B, 0x82);
	cmos_w(vm, 0x32, 0x19); cmos_w(vm, 9, 0x99); cmos_w(vm, 8, 0x12); cmos_w(vm, 7, 0x31);
	cmos_w(vm, 4, 0x23); cmos_w(vm, 2, 0x59); cmos_w(vm, 0, 0x58);
	CHECK_EQ(cmos(vm, 0), 0x58);
	CHECK_EQ(cmos(vm, 6), 0x06);                     /* a Friday: Sunday = 1 */
	/* 12-hour mode shows 11 PM. */
	cmos_w(vm, 0x0B, 0x80);
	CHECK_EQ(cmos(vm, 4), 0x91);
	/* Binary mode. */
	cmos_w(vm, 0x0B, 0x86);
	CHECK_EQ(cmos(vm, 4), 23);
	CHECK_EQ(cmos(vm, 2), 59);
	cmos_w(vm, 2, 30);                               /* a binary write */
	CHECK_EQ(cmos(vm, 2), 30);
	cmos_w(vm, 2, 59);
	cmos_w(vm, 0x0B, 0x82);
	/* Run: two seconds later it is 2000-01-01 00:00:00. */
	cmos_w(vm, 0x0B, 0x02);
	pt_sleep_ms(2100);
	CHECK_EQ(cmos(vm, 0x32), 0x20);
	CHECK_EQ(cmos(vm, 9), 0x00);
	CHECK_EQ(cmos(vm, 8), 0x01);
	CHECK_EQ(cmos(vm, 7), 0x01);
	CHECK_EQ(cmos(vm, 4), 0x00);
	CHECK_EQ(cmos(vm, 2), 0x00);
	CHECK(cmos(vm, 0) <= 0x01);
	CHECK_EQ(cmos(vm, 6), 0x07);                     /* Saturday */
}

/* Wait for vector 0x58 (IRQ 8 via IOAPIC pin 8); returns register C (read after it). */
static int wait_irq8(struct vm *vm, int ms)
{
	for (int i = 0; i < ms; i++) {
		int v = platform_intr_ack(vm, 0);
		if (v >= 0) {
			pt_lapic_eoi(vm, 0);
			return v == 0x58 ? cmos(vm, 0x0C) : -2;
		}
		pt_sleep_ms(1);
	}
	return -1;
}

static void test_interrupts(struct vm *vm)
{
	pt_lapic_enable(vm, 0);
	pt_ioapic_rte(vm, 8, 0x58);
	cmos(vm, 0x0C);
	/* Periodic at 1024 Hz: each interrupt needs register C read before the next. */
	cmos_w(vm, 0x0A, 0x26);
	cmos_w(vm, 0x0B, 0x42);
	int ok = 0;
	for (int i = 0; i < 5; i++)
		ok += wait_irq8(vm, 1000) == 0xC0;
	CHECK_EQ(ok, 5);
	pt_sleep_ms(5);
	CHECK_EQ(cmos(vm, 0x0C) & 0xC0, 0xC0);           /* it kept ticking */
	CHECK_EQ(cmos(vm, 0x0C), 0);                     /* read clears */
	cmos_w(vm, 0x0B, 0x02);
	pt_sleep_ms(3);
	cmos(vm, 0x0C);
	while (platform_intr_ack(vm, 0) >= 0)
		pt_lapic_eoi(vm, 0);
	/* Alarm at the next second, minutes and hours "don't care". */
	uint8_t s = cmos(vm, 0);
	int next = (bcd(s) + 1) % 60;
	cmos_w(vm, 1, (uint8_t)(((next / 10) << 4) | (next % 10)));
	cmos_w(vm, 3, 0xC0);
	cmos_w(vm, 5, 0xFF);
	cmos_w(vm, 0x0B, 0x22);
	int c = wait_irq8(vm, 2500);
	CHECK(c >= 0 && (c & 0xA0) == 0xA0);
	cmos_w(vm, 0x0B, 0x12);                          /* update-ended */
	c = wait_irq8(vm, 1500);
	CHECK(c >= 0 && (c & 0x90) == 0x90);
	cmos_w(vm, 0x0B, 0x02);
	/* SET clears UIE. */
	cmos_w(vm, 0x0B, 0x92);
	CHECK_EQ(cmos(vm, 0x0B), 0x82);
	cmos_w(vm, 0x0B, 0x02);
}

static void test_nvram(struct vm *vm)
{
	CHECK_EQ(cmos(vm, 0x15) | (cmos(vm, 0x16) << 8), 640);
	CHECK_EQ(cmos(vm, 0x34) | (cmos(vm, 0x35) << 8), (256 - 16) * 16);
	CHECK_EQ(cmos(vm, 0x5B) | cmos(vm, 0x5C) | cmos(vm, 0x5D), 0);
	CHECK_EQ(cmos(vm, 0x17) | (cmos(vm, 0x18) << 8), 0xFFFF);     /* capped */
	cmos_w(vm, 0x40, 0xA5);
	CHECK_EQ(cmos(vm, 0x40), 0xA5);
	pt_out(vm, 0x70, 1, 0xC0);                       /* bit 7 is the NMI mask */
	CHECK_EQ(pt_in(vm, 0x71, 1), 0xA5);
	cmos_w(vm, 0x0D, 0);
	CHECK_EQ(cmos(vm, 0x0D), 0x80);                  /* read-only */
}

int main(void)
{
	config_reset();
	test_host_time();
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (vm) {
		test_nvram(vm);
		test_formats(vm);
		test_interrupts(vm);
		pt_vm_free(vm);
	}
	return unit_report("vrtc");
}
