/*
 * HPET at LAYOUT_HPET_BASE: a 64-bit main counter at 10 MHz (period 100 ns, so counts are
 * exact against the virtual clock) and 3 comparators, each one-shot or periodic, 32- or 64-bit,
 * edge or level, routed to IOAPIC pins 20-23, or with legacy replacement timer 0 -> IRQ0
 * (IOAPIC pin 2) and timer 1 -> IRQ8.  FSB (MSI) delivery is not offered.
 *
 * The counter is computed from vclock: while enabled, count = base + (now - base_ns) / 100.
 */
#include <pthread.h>
#include <stdlib.h>

#include "platform/platform_int.h"
#include "vmm/irq.h"
#include "vmm/layout.h"
#include "vmm/mmio.h"
#include "vmm/vclock.h"

#define HPET_NTIMERS    3
#define HPET_HZ         10000000ULL
#define HPET_PERIOD_FS  100000000ULL          /* 100 ns */
#define HPET_SIZE       0x400
#define HPET_ROUTE_CAP  0x00F00000ULL         /* IOAPIC pins 20-23 */
#define HPET_FAR_TICKS  (1ULL << 50)          /* ~3.5 years of counts */

#define HPET_CAP        0x000
#define HPET_CONFIG     0x010
#define HPET_ISR        0x020
#define HPET_COUNTER    0x0F0

#define CFG_ENABLE      1ULL
#define CFG_LEGACY      2ULL

#define TN_LEVEL        (1ULL << 1)
#define TN_INT_EN       (1ULL << 2)
#define TN_PERIODIC     (1ULL << 3)
#define TN_PER_CAP      (1ULL << 4)
#define TN_SIZE_CAP     (1ULL << 5)
#define TN_VAL_SET      (1ULL << 6)
#define TN_32BIT        (1ULL << 8)
#define TN_ROUTE(v)     (((v) >> 9) & 0x1F)
#define TN_WMASK        (TN_LEVEL | TN_INT_EN | TN_PERIODIC | TN_32BIT | (0x1FULL << 9))

struct hpet_timer {
	struct vhpet *h;
	int idx;
	uint64_t config, comparator, period;
	struct vtimer *vt;
	uint64_t deadline_ns;
	bool armed;
	/* Level mode: the lines held high while the status bit is set (IOAPIC pin, and the 8259
	 * IRQ under legacy replacement, or -1), as routed when they were raised. */
	bool asserted;
	int asserted_pin, asserted_isa;
};

struct vhpet {
	struct platform *p;
	pthread_mutex_t lock;
	uint64_t config, isr;
	uint64_t count_base, base_ns;     /* counter value at base_ns (frozen while disabled) */
	struct hpet_timer t[HPET_NTIMERS];
};

static uint64_t hpet_counter(struct vhpet *h, uint64_t now)
{
	if (!(h->config & CFG_ENABLE))
		return h->count_base;
	return h->count_base + vclock_ns_to_ticks(now - h->base_ns, HPET_HZ);
}

/* Where timer n's interrupt goes: IOAPIC pin, and 8259 IRQ for legacy routing (or -1). */
static void hpet_route(struct vhpet *h, int n, int *pin, int *isa)
{
	*isa = -1;
	if ((h->config & CFG_LEGACY) && n < 2) {
		*isa = n == 0 ? IRQ_PIT : IRQ_RTC;
		*pin = n == 0 ? 2 : IRQ_RTC;
		return;
	}
	*pin = (int)TN_ROUTE(h->t[n].config);
}

/* Lock held: compute when timer n matches next and arm its vtimer. */
static void hpet_schedule(struct vhpet *h, int n, uint64_t now)
{
	struct hpet_timer *t = &h->t[n];
	if (!(h->config & CFG_ENABLE)) {
		t->armed = false;
		vtimer_cancel(t->vt);
		return;
	}
	uint64_t cnt = hpet_counter(h, now);
	uint64_t diff = t->comparator - cnt;
	if (t->config & TN_32BIT)
		diff = (uint32_t)(t->comparator - cnt);
	if (diff == 0)
		diff = (t->config & TN_32BIT) ? (1ULL << 32) : UINT64_MAX;
	if (diff > HPET_FAR_TICKS) {
		/* Further away than a VM will run (a 64-bit wrap): no timer at all. */
		t->armed = false;
		vtimer_cancel(t->vt);
		return;
	}
	/* The next tick boundary at which the counter equals the comparator. */
	uint64_t tick_now = vclock_ns_to_ticks(now - h->base_ns, HPET_HZ);
	t->deadline_ns = h->base_ns + vclock_ticks_to_ns(tick_now + diff, HPET_HZ);
	t->armed = true;
	vtimer_arm(t->vt, t->deadline_ns);
}

static void hpet_schedule_all(struct vhpet *h, uint64_t now)
{
	for (int n = 0; n < HPET_NTIMERS; n++)
		hpet_schedule(h, n, now);
}

/* Interrupt line changes collected under the lock, applied in order after it: at most a
 * drop and a raise per timer. */
struct hpet_irq {
	int pin, isa, how;
};

struct hpet_irqs {
	int n;
	struct hpet_irq e[2 * HPET_NTIMERS];
};

static void hpet_irq_add(struct hpet_irqs *qs, int pin, int isa, int how)
{
	if (qs->n < 2 * HPET_NTIMERS)
		qs->e[qs->n++] = (struct hpet_irq){ pin, isa, how };
}

/* Lock held, so that line changes reach the interrupt controllers in the order the timers'
 * state changed (a timer thread and a vCPU clearing status race otherwise). */
static void hpet_irqs_apply(struct vhpet *h, const struct hpet_irqs *qs)
{
	for (int i = 0; i < qs->n; i++) {
		const struct hpet_irq *q = &qs->e[i];
		if (q->how == PLAT_IRQ_ASSERT)
			vm_isa_assert_irq(h->p->vm, q->isa, q->pin);
		else if (q->how == PLAT_IRQ_DEASSERT)
			vm_isa_deassert_irq(h->p->vm, q->isa, q->pin);
		else
			vm_isa_pulse_irq(h->p->vm, q->isa, q->pin);
	}
}

/* Lock held: make timer n's level output follow its status bit and its current routing.  A
 * line raised through one route is dropped through that same route (both the IOAPIC pin and
 * the 8259 input under legacy replacement), so the edge-triggered 8259 sees the next edge. */
static void hpet_level_sync(struct vhpet *h, int n, struct hpet_irqs *qs)
{
	struct hpet_timer *t = &h->t[n];
	bool want = ((h->isr >> n) & 1) && (t->config & TN_LEVEL) && (t->config & TN_INT_EN);
	int pin, isa;
	hpet_route(h, n, &pin, &isa);
	bool same = t->asserted && t->asserted_pin == pin && t->asserted_isa == isa;
	if (t->asserted && (!want || !same)) {
		hpet_irq_add(qs, t->asserted_pin, t->asserted_isa, PLAT_IRQ_DEASSERT);
		t->asserted = false;
		t->asserted_pin = t->asserted_isa = -1;
	}
	if (want && !t->asserted) {
		hpet_irq_add(qs, pin, isa, PLAT_IRQ_ASSERT);
		t->asserted = true;
		t->asserted_pin = pin;
		t->asserted_isa = isa;
	}
}

static void hpet_level_sync_all(struct vhpet *h, struct hpet_irqs *qs)
{
	for (int n = 0; n < HPET_NTIMERS; n++)
		hpet_level_sync(h, n, qs);
}

/* Periodic: move the comparator past the counter by whole periods (several if the timer
 * thread ran late), in the timer's 32- or 64-bit width. */
static void hpet_advance(struct hpet_timer *t, uint64_t cnt)
{
	bool w32 = t->config & TN_32BIT;
	uint64_t period = w32 ? (uint32_t)t->period : t->period;
	if (!period)
		return;
	cnt += vclock_ns_to_ticks(PLAT_MIN_PERIODIC_NS, HPET_HZ);   /* no interrupt storms */
	uint64_t behind = w32 ? (uint32_t)((uint32_t)cnt - (uint32_t)t->comparator)
			      : cnt - t->comparator;
	bool past = w32 ? (int32_t)behind >= 0 : (int64_t)behind >= 0;
	uint64_t k = past ? behind / period + 1 : 1;
	t->comparator += k * period;
	if (w32)
		t->comparator = (uint32_t)t->comparator;
}

static void hpet_timer_cb(void *arg)
{
	struct hpet_timer *t = arg;
	struct vhpet *h = t->h;
	struct hpet_irqs qs = { 0 };
	pthread_mutex_lock(&h->lock);
	uint64_t now = vclock_ns(h->p->vm);
	if (t->armed && now >= t->deadline_ns) {
		if ((t->config & TN_INT_EN) && (t->config & TN_LEVEL)) {
			h->isr |= 1ULL << t->idx;
			hpet_level_sync(h, t->idx, &qs);
		} else if (t->config & TN_INT_EN) {
			int pin, isa;
			hpet_route(h, t->idx, &pin, &isa);
			hpet_irq_add(&qs, pin, isa, PLAT_IRQ_PULSE);
		}
		if ((t->config & TN_PERIODIC) && t->period)
			hpet_advance(t, hpet_counter(h, now));
		hpet_schedule(h, t->idx, now);   /* one-shot: next match after a wrap */
	}
	hpet_irqs_apply(h, &qs);
	pthread_mutex_unlock(&h->lock);
}

/* ---- registers ---- */

static uint64_t hpet_read(struct vhpet *h, uint64_t off, uint64_t now)
{
	if (off == HPET_CAP)
		return (HPET_PERIOD_FS << 32) | (0x8086ULL << 16) | (1ULL << 15) | (1ULL << 13) |
		       ((HPET_NTIMERS - 1ULL) << 8) | 1;
	if (off == HPET_CONFIG)
		return h->config;
	if (off == HPET_ISR)
		return h->isr;
	if (off == HPET_COUNTER)
		return hpet_counter(h, now);
	if (off >= 0x100 && off < 0x100 + 0x20 * HPET_NTIMERS) {
		struct hpet_timer *t = &h->t[(off - 0x100) / 0x20];
		switch ((off - 0x100) % 0x20) {
		case 0x00: return (HPET_ROUTE_CAP << 32) | t->config | TN_PER_CAP | TN_SIZE_CAP;
		case 0x08: return (t->config & TN_32BIT) ? (uint32_t)t->comparator : t->comparator;
		default: return 0;
		}
	}
	return 0;
}

static void hpet_write_config(struct vhpet *h, uint64_t v, uint64_t now, struct hpet_irqs *qs)
{
	uint64_t old = h->config;
	if (!(old & CFG_ENABLE) && (v & CFG_ENABLE))
		h->base_ns = now;                         /* counting resumes from count_base */
	else if ((old & CFG_ENABLE) && !(v & CFG_ENABLE))
		h->count_base = hpet_counter(h, now);     /* freeze */
	h->config = v & (CFG_ENABLE | CFG_LEGACY);
	hpet_schedule_all(h, now);
	hpet_level_sync_all(h, qs);      /* legacy replacement moves timers 0 and 1 */
}

static void hpet_write_timer(struct vhpet *h, int n, uint64_t reg, uint64_t v, uint64_t mask,
			     uint64_t now, struct hpet_irqs *qs)
{
	struct hpet_timer *t = &h->t[n];
	if (reg == 0x00) {
		uint64_t nv = (t->config & ~mask) | (v & mask);
		uint32_t route = TN_ROUTE(nv);
		if (!((HPET_ROUTE_CAP >> route) & 1))
			nv = (nv & ~(0x1FULL << 9)) | (TN_ROUTE(t->config) << 9);
		t->config = (nv & (TN_WMASK | TN_VAL_SET));
		hpet_level_sync(h, n, qs);   /* edge mode, disabled or re-routed: the line follows */
	} else if (reg == 0x08) {
		uint64_t val = (t->comparator & ~mask) | (v & mask);
		if (t->config & TN_32BIT)
			val = (uint32_t)val;
		/* Periodic: the write sets the period, and with VAL_SET also the next match. */
		if ((t->config & TN_PERIODIC) && !(t->config & TN_VAL_SET)) {
			t->period = val;
		} else {
			t->comparator = val;
			if (t->config & TN_PERIODIC)
				t->period = val;
		}
		if (t->config & TN_PERIODIC && (t->config & TN_VAL_SET))
			t->config &= ~TN_VAL_SET;
		else if (!(t->config & TN_PERIODIC))
			t->period = 0;
	}
	hpet_schedule(h, n, now);
}

static void hpet_write(struct vhpet *h, uint64_t off, uint64_t v, uint64_t mask, uint64_t now,
		       struct hpet_irqs *qs)
{
	uint64_t reg8 = off & ~7ULL;
	if (reg8 == HPET_CONFIG) {
		hpet_write_config(h, (h->config & ~mask) | (v & mask), now, qs);
	} else if (reg8 == HPET_ISR) {
		h->isr &= ~(v & mask);           /* write 1 to clear: the level lines drop */
		hpet_level_sync_all(h, qs);
	} else if (reg8 == HPET_COUNTER) {
		if (!(h->config & CFG_ENABLE)) {       /* writable only while halted */
			h->count_base = (h->count_base & ~mask) | (v & mask);
			hpet_schedule_all(h, now);
		}
	} else if (reg8 >= 0x100 && reg8 < 0x100 + 0x20 * HPET_NTIMERS) {
		hpet_write_timer(h, (int)(reg8 - 0x100) / 0x20, (reg8 - 0x100) % 0x20, v, mask, now, qs);
	}
}

static int hpet_mmio(struct vcpu *vcpu, int dir, uint64_t addr, int size, uint64_t *val,
		     void *arg1, long arg2)
{
	struct vhpet *h = arg1;
	uint64_t off = addr - LAYOUT_HPET_BASE;
	if ((size != 4 && size != 8) || (off & (uint64_t)(size - 1))) {
		if (dir == MEM_F_READ)
			*val = 0;
		return 0;                   /* only aligned 32/64-bit accesses are defined */
	}
	unsigned shift = (off & 4) * 8;
	uint64_t mask = size == 8 ? ~0ULL : 0xFFFFFFFFULL << shift;
	struct hpet_irqs qs = { 0 };
	pthread_mutex_lock(&h->lock);
	uint64_t now = vclock_ns(h->p->vm);
	if (dir == MEM_F_READ)
		*val = (hpet_read(h, off & ~7ULL, now) & mask) >> shift;
	else
		hpet_write(h, off, *val << shift, mask, now, &qs);
	hpet_irqs_apply(h, &qs);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

struct vhpet *vhpet_create(struct platform *p)
{
	struct vhpet *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->p = p;
	pthread_mutex_init(&h->lock, NULL);
	for (int n = 0; n < HPET_NTIMERS; n++) {
		struct hpet_timer *t = &h->t[n];
		t->h = h;
		t->idx = n;
		t->comparator = ~0ULL;
		t->asserted_pin = t->asserted_isa = -1;
		t->config = (uint64_t)(20 + n) << 9;
		t->vt = vtimer_create(p->vm, hpet_timer_cb, t);
		if (!t->vt) {
			while (n-- > 0)
				vtimer_destroy(h->t[n].vt);
			free(h);
			return NULL;
		}
	}
	struct mem_range mr = { .name = "hpet", .flags = MEM_F_RW, .handler = hpet_mmio,
				.arg1 = h, .base = LAYOUT_HPET_BASE, .size = HPET_SIZE };
	if (register_mem(p->vm, &mr) < 0) {
		for (int n = 0; n < HPET_NTIMERS; n++)
			vtimer_destroy(h->t[n].vt);
		free(h);
		return NULL;
	}
	return h;
}

void vhpet_destroy(struct vhpet *h)
{
	if (!h)
		return;
	struct mem_range mr = { .base = LAYOUT_HPET_BASE, .size = HPET_SIZE };
	unregister_mem(h->p->vm, &mr);
	for (int n = 0; n < HPET_NTIMERS; n++)
		vtimer_destroy(h->t[n].vt);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
