/*
 * MC146818 RTC and CMOS NVRAM at 0x70 (index, bit 7 = NMI mask) / 0x71 (data).
 *
 * The clock starts at the host's time (local time when rtc.use_localtime is true, the default;
 * UTC with -u) and advances with the virtual clock.  Time registers honour register B's binary
 * (DM) and 24-hour bits; SET stops updates while the guest writes the time.  Interrupts on ISA
 * IRQ 8: periodic (rate from register A), alarm (with "don't care" values >= 0xC0) and
 * update-ended; the line stays asserted until register C is read.  The NVRAM carries the
 * memory-size bytes a BIOS would (0x15-0x18, 0x30-0x31, 0x34-0x35, 0x5B-0x5D).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "platform/platform_int.h"
#include "vmm/inout.h"
#include "vmm/irq.h"
#include "vmm/layout.h"
#include "vmm/vclock.h"

#define RTC_SEC      0x00
#define RTC_SEC_ALM  0x01
#define RTC_MIN      0x02
#define RTC_MIN_ALM  0x03
#define RTC_HOUR     0x04
#define RTC_HOUR_ALM 0x05
#define RTC_WDAY     0x06
#define RTC_MDAY     0x07
#define RTC_MONTH    0x08
#define RTC_YEAR     0x09
#define RTC_A        0x0A
#define RTC_B        0x0B
#define RTC_C        0x0C
#define RTC_D        0x0D
#define RTC_CENTURY  0x32

#define B_SET  0x80
#define B_PIE  0x40
#define B_AIE  0x20
#define B_UIE  0x10
#define B_DM   0x04
#define B_24H  0x02
#define C_IRQF 0x80
#define C_PF   0x40
#define C_AF   0x20
#define C_UF   0x10

#define NS 1000000000LL

struct vrtc {
	struct platform *p;
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t nv[128];
	int64_t secs;            /* RTC time (seconds, RTC's own zone) at base_ns */
	int64_t base_ns;         /* vclock time at which `secs` began */
	bool halted;             /* SET: time frozen at `secs` */
	bool irq;                /* IRQ 8 asserted */
	struct vtimer *per, *upd;
	int64_t per_start;
	uint64_t per_k;
	int64_t upd_next;
};

static int64_t rtc_now(struct vrtc *r) { return (int64_t)vclock_ns(r->p->vm); }

static int64_t rtc_secs(struct vrtc *r, int64_t now)
{
	if (r->halted)
		return r->secs;
	int64_t d = now - r->base_ns;
	return r->secs + (d >= 0 ? d / NS : -((-d + NS - 1) / NS));
}

static uint8_t rtc_enc(struct vrtc *r, int v)
{
	return (r->nv[RTC_B] & B_DM) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int rtc_dec(struct vrtc *r, uint8_t v)
{
	return (r->nv[RTC_B] & B_DM) ? v : (v >> 4) * 10 + (v & 0xF);
}

static uint8_t rtc_enc_hour(struct vrtc *r, int h)
{
	if (r->nv[RTC_B] & B_24H)
		return rtc_enc(r, h);
	int h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(rtc_enc(r, h12) | (h >= 12 ? 0x80 : 0));
}

static int rtc_dec_hour(struct vrtc *r, uint8_t v)
{
	if (r->nv[RTC_B] & B_24H)
		return rtc_dec(r, v);
	int h = rtc_dec(r, v & 0x7F) % 12;
	return (v & 0x80) ? h + 12 : h;
}

static void rtc_tm(struct vrtc *r, int64_t now, struct tm *tm)
{
	time_t t = (time_t)rtc_secs(r, now);
	gmtime_r(&t, tm);
}

static uint8_t rtc_read_time(struct vrtc *r, int reg, int64_t now)
{
	struct tm tm;
	rtc_tm(r, now, &tm);
	switch (reg) {
	case RTC_SEC: return rtc_enc(r, tm.tm_sec);
	case RTC_MIN: return rtc_enc(r, tm.tm_min);
	case RTC_HOUR: return rtc_enc_hour(r, tm.tm_hour);
	case RTC_WDAY: return rtc_enc(r, tm.tm_wday + 1);
	case RTC_MDAY: return rtc_enc(r, tm.tm_mday);
	case RTC_MONTH: return rtc_enc(r, tm.tm_mon + 1);
	case RTC_YEAR: return rtc_enc(r, tm.tm_year % 100);
	default: return rtc_enc(r, (tm.tm_year + 1900) / 100);   /* century */
	}
}

/* A time register written: change that field of the current time. */
static void rtc_write_time(struct vrtc *r, int reg, uint8_t v, int64_t now)
{
	struct tm tm;
	rtc_tm(r, now, &tm);
	int d = reg == RTC_HOUR ? rtc_dec_hour(r, v) : rtc_dec(r, v);
	switch (reg) {
	case RTC_SEC: tm.tm_sec = d % 60; break;
	case RTC_MIN: tm.tm_min = d % 60; break;
	case RTC_HOUR: tm.tm_hour = d % 24; break;
	case RTC_WDAY: return;                    /* derived from the date */
	case RTC_MDAY: tm.tm_mday = d < 1 ? 1 : d > 31 ? 31 : d; break;
	case RTC_MONTH: tm.tm_mon = (d < 1 ? 1 : d > 12 ? 12 : d) - 1; break;
	case RTC_YEAR: tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + d % 100 - 1900; break;
	default: tm.tm_year = (d % 100) * 100 + (tm.tm_year + 1900) % 100 - 1900; break;
	}
	r->secs = (int64_t)timegm(&tm);
	r->base_ns = now;
}

/* ---- interrupts ---- */

/* Recompute IRQF; returns +1 to assert the line, -1 to drop it, 0 for no change. */
static int rtc_irq_update(struct vrtc *r)
{
	uint8_t b = r->nv[RTC_B], c = r->nv[RTC_C] & 0x70;
	bool on = ((c & C_PF) && (b & B_PIE)) || ((c & C_AF) && (b & B_AIE)) ||
		  ((c & C_UF) && (b & B_UIE));
	r->nv[RTC_C] = (uint8_t)(c | (on ? C_IRQF : 0));
	if (on == r->irq)
		return 0;
	r->irq = on;
	return on ? 1 : -1;
}

/* Lock held, so that line changes reach the interrupt controllers in the order the state
 * changed (a timer thread and a vCPU reading register C race otherwise). */
static void rtc_irq_apply(struct vrtc *r, int change)
{
	if (change > 0)
		vm_isa_assert_irq(r->p->vm, IRQ_RTC, IRQ_RTC);
	else if (change < 0)
		vm_isa_deassert_irq(r->p->vm, IRQ_RTC, IRQ_RTC);
}

/* Periodic interrupt interval in 32.768 kHz ticks (0 = off). */
static uint64_t rtc_per_ticks(struct vrtc *r)
{
	int rs = r->nv[RTC_A] & 0xF;
	if (rs == 0 || ((r->nv[RTC_A] >> 4) & 7) != 2)
		return 0;
	if (rs < 3)
		rs += 7;
	return 1ULL << (rs - 1);
}

static void rtc_per_schedule(struct vrtc *r, int64_t now, bool restart)
{
	uint64_t ticks = rtc_per_ticks(r);
	if (!ticks || !(r->nv[RTC_B] & B_PIE)) {
		vtimer_cancel(r->per);
		return;
	}
	if (restart) {
		r->per_start = now;
		r->per_k = 0;
	}
	uint64_t el = (uint64_t)(now - r->per_start);
	uint64_t k = vclock_ns_to_ticks(el, 32768) / ticks + 1;
	if (k <= r->per_k)
		k = r->per_k + 1;
	r->per_k = k;
	vtimer_arm(r->per, (uint64_t)r->per_start + vclock_ticks_to_ns(k * ticks, 32768));
}

static void rtc_per_cb(void *arg)
{
	struct vrtc *r = arg;
	pthread_mutex_lock(&r->lock);
	int64_t now = rtc_now(r);
	int change = 0;
	if (rtc_per_ticks(r) && (r->nv[RTC_B] & B_PIE)) {
		r->nv[RTC_C] |= C_PF;
		change = rtc_irq_update(r);
		rtc_per_schedule(r, now, false);
	}
	rtc_irq_apply(r, change);
	pthread_mutex_unlock(&r->lock);
}

static bool rtc_alarm_match(struct vrtc *r, uint8_t alarm, uint8_t cur)
{
	return (alarm & 0xC0) == 0xC0 || alarm == cur;
}

static void rtc_upd_schedule(struct vrtc *r, int64_t now)
{
	if (r->halted || !(r->nv[RTC_B] & (B_AIE | B_UIE))) {
		vtimer_cancel(r->upd);
		return;
	}
	int64_t d = now - r->base_ns;
	int64_t next = r->base_ns + (d >= 0 ? d / NS + 1 : 0) * NS;
	r->upd_next = next;
	vtimer_arm(r->upd, next < 0 ? 0 : (uint64_t)next);
}

/* A second boundary: update-ended, then the alarm comparison. */
static void rtc_upd_cb(void *arg)
{
	struct vrtc *r = arg;
	pthread_mutex_lock(&r->lock);
	int64_t now = rtc_now(r);
	int change = 0;
	if (!r->halted && now >= r->upd_next && (r->nv[RTC_B] & (B_AIE | B_UIE))) {
		r->nv[RTC_C] |= C_UF;
		if (rtc_alarm_match(r, r->nv[RTC_SEC_ALM], rtc_read_time(r, RTC_SEC, now)) &&
		    rtc_alarm_match(r, r->nv[RTC_MIN_ALM], rtc_read_time(r, RTC_MIN, now)) &&
		    rtc_alarm_match(r, r->nv[RTC_HOUR_ALM], rtc_read_time(r, RTC_HOUR, now)))
			r->nv[RTC_C] |= C_AF;
		change = rtc_irq_update(r);
	}
	rtc_upd_schedule(r, now);
	rtc_irq_apply(r, change);
	pthread_mutex_unlock(&r->lock);
}

/* ---- registers ---- */

static bool rtc_is_time_reg(int reg)
{
	return reg == RTC_SEC || reg == RTC_MIN || reg == RTC_HOUR || reg == RTC_CENTURY ||
	       (reg >= RTC_WDAY && reg <= RTC_YEAR);
}

static uint8_t rtc_read(struct vrtc *r, int reg, int64_t now, int *change)
{
	if (rtc_is_time_reg(reg))
		return rtc_read_time(r, reg, now);
	if (reg == RTC_A) {
		/* Update in progress: the last 244 us before each second boundary. */
		int64_t d = now - r->base_ns;
		bool uip = !r->halted && d >= 0 && d % NS >= NS - 244000;
		return (uint8_t)((r->nv[RTC_A] & 0x7F) | (uip ? 0x80 : 0));
	}
	if (reg == RTC_C) {
		uint8_t v = r->nv[RTC_C];
		r->nv[RTC_C] = 0;
		*change = rtc_irq_update(r);
		return v;
	}
	if (reg == RTC_D)
		return 0x80;                  /* valid RAM and time */
	return r->nv[reg];
}

static void rtc_write_b(struct vrtc *r, uint8_t v, int64_t now)
{
	uint8_t old = r->nv[RTC_B];
	if (v & B_SET)
		v &= (uint8_t)~B_UIE;
	if ((v & B_SET) && !(old & B_SET)) {
		r->secs = rtc_secs(r, now);   /* freeze */
		r->halted = true;
	} else if (!(v & B_SET) && (old & B_SET)) {
		r->halted = false;
		r->base_ns = now;
	}
	r->nv[RTC_B] = v;
	rtc_per_schedule(r, now, (v ^ old) & B_PIE);
	rtc_upd_schedule(r, now);
}

static void rtc_write(struct vrtc *r, int reg, uint8_t v, int64_t now, int *change)
{
	if (rtc_is_time_reg(reg)) {
		rtc_write_time(r, reg, v, now);
		rtc_upd_schedule(r, now);
	} else if (reg == RTC_A) {
		uint8_t old = r->nv[RTC_A];
		r->nv[RTC_A] = v & 0x7F;
		if ((old ^ v) & 0x7F)
			rtc_per_schedule(r, now, true);
	} else if (reg == RTC_B) {
		rtc_write_b(r, v, now);
		*change = rtc_irq_update(r);
	} else if (reg != RTC_C && reg != RTC_D) {
		r->nv[reg] = v;
	}
}

static int rtc_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax, void *arg)
{
	struct vrtc *r = arg;
	int change = 0;
	pthread_mutex_lock(&r->lock);
	if (port == PORT_RTC) {
		if (in)
			*eax = r->index;
		else
			r->index = (uint8_t)*eax & 0x7F;
	} else {
		int64_t now = rtc_now(r);
		if (in)
			*eax = rtc_read(r, r->index, now, &change);
		else
			rtc_write(r, r->index, (uint8_t)*eax, now, &change);
	}
	rtc_irq_apply(r, change);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* ---- set-up ---- */

static void rtc_put16(struct vrtc *r, int off, uint64_t v)
{
	if (v > 0xFFFF)
		v = 0xFFFF;
	r->nv[off] = (uint8_t)v;
	r->nv[off + 1] = (uint8_t)(v >> 8);
}

/* Memory sizes as a PC BIOS leaves them in CMOS (and as bhyve fills them). */
static void rtc_nvram_init(struct vrtc *r)
{
	uint64_t low = vm_lowmem_size(r->p->vm), high = vm_highmem_size(r->p->vm);
	rtc_put16(r, 0x15, 640);
	uint64_t ext = low > GPA_MiB(1) ? (low - GPA_MiB(1)) >> 10 : 0;
	rtc_put16(r, 0x17, ext);
	rtc_put16(r, 0x30, ext);
	rtc_put16(r, 0x34, low > GPA_MiB(16) ? (low - GPA_MiB(16)) >> 16 : 0);
	uint64_t hi64k = high >> 16;
	r->nv[0x5B] = (uint8_t)hi64k;
	r->nv[0x5C] = (uint8_t)(hi64k >> 8);
	r->nv[0x5D] = (uint8_t)(hi64k >> 16);
	unsigned sum = 0;
	for (int i = 0x10; i <= 0x2D; i++)
		sum += r->nv[i];
	r->nv[0x2E] = (uint8_t)(sum >> 8);
	r->nv[0x2F] = (uint8_t)sum;
}

static void rtc_time_init(struct vrtc *r)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t secs = ts.tv_sec;
	if (config_get_bool("rtc.use_localtime", true)) {
		struct tm tm;
		time_t t = ts.tv_sec;
		localtime_r(&t, &tm);
		secs += tm.tm_gmtoff;
	}
	r->secs = secs;
	r->base_ns = rtc_now(r) - ts.tv_nsec;   /* seconds tick with the host's */
}

struct vrtc *vrtc_create(struct platform *p)
{
	struct vrtc *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->p = p;
	pthread_mutex_init(&r->lock, NULL);
	r->nv[RTC_A] = 0x26;                     /* 32.768 kHz divider, 1024 Hz rate */
	r->nv[RTC_B] = B_24H;
	rtc_nvram_init(r);
	rtc_time_init(r);
	r->per = vtimer_create(p->vm, rtc_per_cb, r);
	r->upd = vtimer_create(p->vm, rtc_upd_cb, r);
	struct inout_port io = { "rtc", PORT_RTC, 2, IOPORT_F_INOUT, rtc_io, r };
	if (!r->per || !r->upd || register_inout(p->vm, &io) < 0) {
		vtimer_destroy(r->per);
		vtimer_destroy(r->upd);
		free(r);
		return NULL;
	}
	return r;
}

void vrtc_destroy(struct vrtc *r)
{
	if (!r)
		return;
	struct inout_port io = { .port = PORT_RTC, .size = 2 };
	unregister_inout(r->p->vm, &io);
	vtimer_destroy(r->per);
	vtimer_destroy(r->upd);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
