/*
 * Local APIC, one per vCPU: xAPIC registers at LAYOUT_LAPIC_BASE and the x2APIC MSRs
 * (0x800-0x8FF), IA32_APIC_BASE, the timer (one-shot, periodic, TSC-deadline) counting at the
 * crystal clock, IPIs through the ICR, EOI (broadcast to the IOAPIC for level-triggered
 * vectors), TPR/PPR, IRR/ISR/TMR, the LVTs and ESR.
 *
 * Timer modes (SDM Vol. 3A 11.5.4): switching the LVT timer between one-shot and periodic
 * leaves the count running (the mode only decides what happens when it reaches zero); only a
 * switch into or out of TSC-deadline mode disarms it.  A TSC deadline written in the past
 * fires at once, before the instruction after the WRMSR completes.
 *
 * Writing a new address to IA32_APIC_BASE moves that vCPU's xAPIC page there (platform.c maps
 * the new page; the handler decodes an access only at its own vCPU's base).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform_int.h"
#include "vmm/layout.h"
#include "vmm/mmio.h"
#include "vmm/vclock.h"

/* Register offsets (xAPIC MMIO; x2APIC MSR = 0x800 + offset / 16). */
#define LAPIC_ID       0x020
#define LAPIC_VER      0x030
#define LAPIC_TPR      0x080
#define LAPIC_APR      0x090
#define LAPIC_PPR      0x0A0
#define LAPIC_EOI      0x0B0
#define LAPIC_RRD      0x0C0
#define LAPIC_LDR      0x0D0
#define LAPIC_DFR      0x0E0
#define LAPIC_SVR      0x0F0
#define LAPIC_ISR      0x100
#define LAPIC_TMR      0x180
#define LAPIC_IRR      0x200
#define LAPIC_ESR      0x280
#define LAPIC_LVT_CMCI 0x2F0
#define LAPIC_ICR_LO   0x300
#define LAPIC_ICR_HI   0x310
#define LAPIC_LVT_TMR  0x320
#define LAPIC_LVT_ERR  0x370
#define LAPIC_TMR_ICR  0x380
#define LAPIC_TMR_CCR  0x390
#define LAPIC_TMR_DCR  0x3E0
#define LAPIC_SELF_IPI 0x3F0

/* LVT indices: timer, thermal, performance, LINT0, LINT1, error (offsets 0x320-0x370). */
enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_COUNT };

#define LVT_MASKED      0x10000u
#define LVT_DELMODE(v)  (((v) >> 8) & 7)
#define LVT_TMR_MODE(v) (((v) >> 17) & 3)
#define TMR_ONESHOT     0
#define TMR_PERIODIC    1
#define TMR_TSCDEADLINE 2

#define SVR_ENABLE      0x100u
#define APICBASE_BSP    0x100ULL
#define APICBASE_EXTD   0x400ULL
#define APICBASE_EN     0x800ULL
#define APICBASE_ADDR   0xFFFFFF000ULL

#define ESR_SEND_ILLEGAL 0x20u
#define ESR_RECV_ILLEGAL 0x40u
#define ESR_ILLEGAL_REG  0x80u

#define MSR_APICBASE     0x1B
#define MSR_TSC_DEADLINE 0x6E0

struct vlapic {
	struct platform *p;
	int vcpuid;
	pthread_mutex_t lock;
	uint64_t apicbase;
	uint32_t tpr, ldr, dfr, svr, esr, esr_pending;
	uint32_t isr[8], irr[8], tmr[8];
	uint32_t lvt[LVT_COUNT];
	uint32_t icr_lo, icr_hi;
	/* timer */
	struct vtimer *timer;
	uint32_t tmr_icr, tmr_dcr;
	bool tmr_active;
	uint64_t tmr_start_ns, tmr_period_ns, tmr_deadline_ns;
	uint64_t tsc_deadline;
};

static bool vlapic_x2(const struct vlapic *l) { return (l->apicbase & APICBASE_EXTD) != 0; }
static bool vlapic_hw_enabled(const struct vlapic *l) { return (l->apicbase & APICBASE_EN) != 0; }
static bool vlapic_sw_enabled(const struct vlapic *l) { return (l->svr & SVR_ENABLE) != 0; }
static uint32_t vlapic_apic_id(const struct vlapic *l) { return (uint32_t)l->vcpuid; }

static bool bit_test(const uint32_t *v, int n) { return (v[n >> 5] >> (n & 31)) & 1; }
static void bit_set(uint32_t *v, int n) { v[n >> 5] |= 1u << (n & 31); }
static void bit_clear(uint32_t *v, int n) { v[n >> 5] &= ~(1u << (n & 31)); }

static int bits_highest(const uint32_t *v)
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static uint32_t vlapic_x2_ldr(const struct vlapic *l)
{
	uint32_t id = vlapic_apic_id(l);
	return ((id >> 4) << 16) | (1u << (id & 15));
}

/* Processor priority: the higher of TPR and the in-service class. */
static uint32_t vlapic_ppr(const struct vlapic *l)
{
	int isrv = bits_highest(l->isr);
	uint32_t isrc = isrv < 0 ? 0 : (uint32_t)isrv & 0xF0;
	return (l->tpr & 0xF0) >= isrc ? l->tpr & 0xFF : isrc;
}

/* Highest IRR vector that PPR lets through, or -1 (lock held). */
static int vlapic_deliverable(const struct vlapic *l)
{
	if (!vlapic_hw_enabled(l))
		return -1;
	int v = bits_highest(l->irr);
	if (v < 0 || ((uint32_t)v & 0xF0) <= (vlapic_ppr(l) & 0xF0))
		return -1;
	return v;
}

/* ---- accepting interrupts ---- */

static void vlapic_error_locked(struct vlapic *l, uint32_t bits, bool *notify);

/* Put a fixed interrupt into IRR (lock held); returns true if the vCPU should look. */
static bool vlapic_set_irr(struct vlapic *l, int vector, bool level)
{
	bool notify = false;
	if (!vlapic_hw_enabled(l) || !vlapic_sw_enabled(l))
		return false;    /* a software-disabled APIC drops fixed interrupts */
	if (vector < 16) {
		vlapic_error_locked(l, ESR_RECV_ILLEGAL, &notify);
		return notify;
	}
	bit_set(l->irr, vector);
	if (level)
		bit_set(l->tmr, vector);
	else
		bit_clear(l->tmr, vector);
	return true;
}

static void vlapic_error_locked(struct vlapic *l, uint32_t bits, bool *notify)
{
	if ((l->esr_pending & bits) == bits)
		return;
	l->esr_pending |= bits;
	uint32_t lvt = l->lvt[LVT_ERROR];
	if (!(lvt & LVT_MASKED) && (lvt & 0xFF) >= 16 && vlapic_sw_enabled(l)) {
		bit_set(l->irr, lvt & 0xFF);
		bit_clear(l->tmr, lvt & 0xFF);
		*notify = true;
	}
}

static void vlapic_fixed(struct vlapic *l, int vector, bool level)
{
	pthread_mutex_lock(&l->lock);
	bool notify = vlapic_set_irr(l, vector, level);
	pthread_mutex_unlock(&l->lock);
	if (notify)
		plat_notify_intr(l->p, l->vcpuid);
}

/* INIT: every register back to its power-up value except the APIC ID and APIC base. */
static void vlapic_reset_locked(struct vlapic *l)
{
	l->tpr = 0;
	l->ldr = 0;
	l->dfr = 0xFFFFFFFFu;
	l->svr = 0xFF;
	l->esr = l->esr_pending = 0;
	memset(l->isr, 0, sizeof(l->isr));
	memset(l->irr, 0, sizeof(l->irr));
	memset(l->tmr, 0, sizeof(l->tmr));
	for (int i = 0; i < LVT_COUNT; i++)
		l->lvt[i] = LVT_MASKED;
	l->icr_lo = l->icr_hi = 0;
	l->tmr_icr = l->tmr_dcr = 0;
	l->tmr_active = false;
	l->tsc_deadline = 0;
	if (vlapic_x2(l))
		l->ldr = vlapic_x2_ldr(l);
	if (l->timer)
		vtimer_cancel(l->timer);
}

/* One target of a message: fixed/lowest-priority, NMI, INIT, SIPI. */
static void vlapic_deliver_one(struct vlapic *l, int delmode, int vector, bool level)
{
	struct platform *p = l->p;
	switch (delmode) {
	case APIC_DELMODE_FIXED:
	case APIC_DELMODE_LOWPRIO:
		vlapic_fixed(l, vector, level);
		break;
	case APIC_DELMODE_NMI:
		plat_inject_nmi(p, l->vcpuid);
		break;
	case APIC_DELMODE_INIT:
		pthread_mutex_lock(&l->lock);
		vlapic_reset_locked(l);
		pthread_mutex_unlock(&l->lock);
		plat_send_init(p, l->vcpuid);
		break;
	case APIC_DELMODE_SIPI:
		plat_send_sipi(p, l->vcpuid, (uint8_t)vector);
		break;
	default:
		break;   /* SMI, ExtINT, reserved: not modelled */
	}
}

/* ---- destinations ---- */

/* Does `l` accept a logical destination `mda` (xAPIC flat/cluster or x2APIC cluster)? */
static bool vlapic_match_logical(struct vlapic *l, uint32_t mda, bool x2fmt)
{
	pthread_mutex_lock(&l->lock);
	uint32_t ldr = l->ldr, dfr = l->dfr;
	bool x2 = vlapic_x2(l), on = vlapic_hw_enabled(l);
	pthread_mutex_unlock(&l->lock);
	if (!on)
		return false;
	if (x2) {
		if (!x2fmt)
			return mda == 0xFF;
		if (mda == 0xFFFFFFFFu)
			return true;
		return (mda >> 16) == (ldr >> 16) && (mda & ldr & 0xFFFF) != 0;
	}
	mda &= 0xFF;
	if (mda == 0xFF)
		return true;
	uint32_t lid = ldr >> 24;
	if ((dfr >> 28) == 0xF)            /* flat */
		return (lid & mda) != 0;
	return (lid >> 4) == (mda >> 4) && (lid & mda & 0xF) != 0;   /* cluster */
}

static bool vlapic_match_physical(struct vlapic *l, uint32_t dest, bool x2fmt)
{
	uint32_t bcast = x2fmt ? 0xFFFFFFFFu : 0xFF;
	return dest == bcast || dest == vlapic_apic_id(l);
}

/* Deliver to every LAPIC the destination names (one of them for lowest priority); `self` is
 * the sender for shorthands. */
static void vlapic_deliver(struct platform *p, struct vlapic *self, int shorthand, uint32_t dest,
			   bool logical, bool x2fmt, int delmode, int vector, bool level)
{
	for (int i = 0; i < p->ncpus; i++) {
		struct vlapic *l = p->lapic[i];
		bool hit;
		if (!l)
			continue;
		switch (shorthand) {
		case 1: hit = l == self; break;
		case 2: hit = true; break;
		case 3: hit = l != self; break;
		default:
			hit = logical ? vlapic_match_logical(l, dest, x2fmt)
				      : vlapic_match_physical(l, dest, x2fmt);
		}
		if (!hit)
			continue;
		vlapic_deliver_one(l, delmode, vector, level);
		/* Lowest priority goes to one processor of the set: like bhyve, the first. */
		if (delmode == APIC_DELMODE_LOWPRIO)
			break;
	}
}

void vlapic_deliver_msg(struct platform *p, uint32_t dest, bool logical, int delmode,
			int vector, bool level)
{
	vlapic_deliver(p, NULL, 0, dest & 0xFF, logical, false, delmode, vector, level);
}

/* The ICR was written: send the IPI it describes (lock not held). */
static void vlapic_send_ipi(struct vlapic *l, uint32_t lo, uint32_t hi)
{
	int vector = lo & 0xFF, delmode = (lo >> 8) & 7, shorthand = (lo >> 18) & 3;
	bool logical = (lo >> 11) & 1, level = (lo >> 15) & 1, assert = (lo >> 14) & 1;
	bool x2 = vlapic_x2(l);
	uint32_t dest = x2 ? hi : hi >> 24;
	if (delmode == APIC_DELMODE_INIT && level && !assert)
		return;                         /* INIT level de-assert: nothing on modern CPUs */
	if ((delmode == APIC_DELMODE_FIXED || delmode == APIC_DELMODE_LOWPRIO) && vector < 16) {
		bool notify = false;
		pthread_mutex_lock(&l->lock);
		vlapic_error_locked(l, ESR_SEND_ILLEGAL, &notify);
		pthread_mutex_unlock(&l->lock);
		if (notify)
			plat_notify_intr(l->p, l->vcpuid);
		return;
	}
	if (shorthand == 1 && delmode != APIC_DELMODE_FIXED)
		return;                         /* self: fixed only */
	vlapic_deliver(l->p, l, shorthand, dest, logical, x2, delmode, vector, level);
}

/* ---- the timer ---- */

static uint32_t vlapic_divisor(uint32_t dcr)
{
	uint32_t v = ((dcr >> 1) & 4) | (dcr & 3);
	return v == 7 ? 1 : 2u << v;
}

static void vlapic_timer_stop(struct vlapic *l)
{
	l->tmr_active = false;
	vtimer_cancel(l->timer);
}

static void vlapic_timer_arm(struct vlapic *l, uint64_t deadline)
{
	l->tmr_active = true;
	l->tmr_deadline_ns = deadline;
	vtimer_arm(l->timer, deadline);
}

/* A write to the initial count starts (or with 0 stops) the one-shot/periodic count. */
static void vlapic_timer_start(struct vlapic *l)
{
	uint32_t mode = LVT_TMR_MODE(l->lvt[LVT_TIMER]);
	if (mode == TMR_TSCDEADLINE)
		return;
	if (l->tmr_icr == 0) {
		vlapic_timer_stop(l);
		return;
	}
	uint64_t ticks = (uint64_t)l->tmr_icr * vlapic_divisor(l->tmr_dcr);
	l->tmr_period_ns = vclock_ticks_to_ns(ticks, vclock_crystal_hz(l->p->vm));
	l->tmr_start_ns = vclock_ns(l->p->vm);
	vlapic_timer_arm(l, l->tmr_start_ns + l->tmr_period_ns);
}

/* The current count: what is left until the armed expiry, in timer ticks (rounded up, so it
 * reads 0 only once the count has run out).  A periodic count whose expiry is overdue (the
 * timer thread has not run yet) is already into its next period. */
static uint32_t vlapic_timer_ccr(struct vlapic *l)
{
	uint32_t mode = LVT_TMR_MODE(l->lvt[LVT_TIMER]);
	if (!l->tmr_active || mode == TMR_TSCDEADLINE || !l->tmr_icr || !l->tmr_period_ns)
		return 0;
	uint64_t now = vclock_ns(l->p->vm), left;
	if (now < l->tmr_deadline_ns)
		left = l->tmr_deadline_ns - now;
	else if (mode == TMR_PERIODIC)
		left = l->tmr_period_ns - (now - l->tmr_deadline_ns) % l->tmr_period_ns;
	else
		return 0;
	uint64_t div = vlapic_divisor(l->tmr_dcr);
	uint64_t ticks = (vclock_ns_to_ticks(left, vclock_crystal_hz(l->p->vm)) + div - 1) / div;
	return ticks > l->tmr_icr ? l->tmr_icr : (uint32_t)ticks;
}

static void vlapic_set_tsc_deadline(struct vlapic *l, uint64_t tsc)
{
	l->tsc_deadline = tsc;
	if (LVT_TMR_MODE(l->lvt[LVT_TIMER]) != TMR_TSCDEADLINE)
		return;
	if (tsc == 0) {
		vlapic_timer_stop(l);
		return;
	}
	uint64_t when = vclock_tsc_to_ns(l->p->vm, tsc);
	if (when <= vclock_ns(l->p->vm)) {
		/* Already passed: the interrupt is pending before the next instruction (the
		 * caller notifies the vCPU after dropping the lock). */
		vlapic_timer_stop(l);
		l->tsc_deadline = 0;
		uint32_t lvt = l->lvt[LVT_TIMER];
		if (!(lvt & LVT_MASKED))
			(void)vlapic_set_irr(l, lvt & 0xFF, false);
		return;
	}
	vlapic_timer_arm(l, when);
}

/* Timer thread: the count reached zero (or the TSC passed the deadline). */
static void vlapic_timer_cb(void *arg)
{
	struct vlapic *l = arg;
	bool notify = false;
	pthread_mutex_lock(&l->lock);
	uint64_t now = vclock_ns(l->p->vm);
	if (l->tmr_active && now >= l->tmr_deadline_ns) {
		uint32_t lvt = l->lvt[LVT_TIMER];
		if (!(lvt & LVT_MASKED))
			notify = vlapic_set_irr(l, lvt & 0xFF, false);
		if (LVT_TMR_MODE(lvt) == TMR_PERIODIC && l->tmr_period_ns) {
			uint64_t next = l->tmr_deadline_ns + l->tmr_period_ns;
			uint64_t soonest = now + PLAT_MIN_PERIODIC_NS;
			if (next < soonest)   /* fell behind: skip missed periods, keep the phase */
				next += ((soonest - next) / l->tmr_period_ns + 1) * l->tmr_period_ns;
			vlapic_timer_arm(l, next);
		} else {
			l->tmr_active = false;
			if (LVT_TMR_MODE(lvt) == TMR_TSCDEADLINE)
				l->tsc_deadline = 0;
		}
	}
	pthread_mutex_unlock(&l->lock);
	if (notify)
		plat_notify_intr(l->p, l->vcpuid);
}

/* ---- register reads and writes ---- */

static int vlapic_read_reg(struct vlapic *l, uint32_t off, uint64_t *val)
{
	uint32_t v = 0;
	if (off >= LAPIC_ISR && off < LAPIC_ISR + 0x80)
		v = l->isr[(off - LAPIC_ISR) >> 4];
	else if (off >= LAPIC_TMR && off < LAPIC_TMR + 0x80)
		v = l->tmr[(off - LAPIC_TMR) >> 4];
	else if (off >= LAPIC_IRR && off < LAPIC_IRR + 0x80)
		v = l->irr[(off - LAPIC_IRR) >> 4];
	else if (off >= LAPIC_LVT_TMR && off <= LAPIC_LVT_ERR)
		v = l->lvt[(off - LAPIC_LVT_TMR) >> 4];
	else switch (off) {
	case LAPIC_ID: v = vlapic_x2(l) ? vlapic_apic_id(l) : vlapic_apic_id(l) << 24; break;
	case LAPIC_VER: v = 0x14 | ((LVT_COUNT - 1) << 16); break;
	case LAPIC_TPR: v = l->tpr; break;
	case LAPIC_APR: v = 0; break;
	case LAPIC_PPR: v = vlapic_ppr(l); break;
	case LAPIC_LDR: v = l->ldr; break;
	case LAPIC_DFR: if (vlapic_x2(l)) return -1; v = l->dfr; break;
	case LAPIC_SVR: v = l->svr; break;
	case LAPIC_ESR: v = l->esr; break;
	case LAPIC_LVT_CMCI: v = LVT_MASKED; break;
	case LAPIC_ICR_LO: v = l->icr_lo; break;
	case LAPIC_ICR_HI: if (vlapic_x2(l)) return -1; v = l->icr_hi; break;
	case LAPIC_TMR_ICR: v = l->tmr_icr; break;
	case LAPIC_TMR_CCR: v = vlapic_timer_ccr(l); break;
	case LAPIC_TMR_DCR: v = l->tmr_dcr; break;
	default: return -1;
	}
	*val = v;
	if (off == LAPIC_ICR_LO && vlapic_x2(l))
		*val |= (uint64_t)l->icr_hi << 32;
	return 0;
}

/* EOI: retire the highest in-service vector; level-triggered ones go on to the IOAPIC. */
static int vlapic_eoi_locked(struct vlapic *l)
{
	int v = bits_highest(l->isr);
	if (v < 0)
		return -1;
	bit_clear(l->isr, v);
	if (bit_test(l->tmr, v)) {
		bit_clear(l->tmr, v);
		return v;
	}
	return -1;
}

static const uint32_t vlapic_lvt_wmask[LVT_COUNT] = {
	0x700FF, 0x107FF, 0x107FF, 0x1A7FF, 0x1A7FF, 0x100FF,
};

static void vlapic_write_lvt(struct vlapic *l, int idx, uint32_t v)
{
	uint32_t old = l->lvt[idx];
	v &= vlapic_lvt_wmask[idx];
	if (!vlapic_sw_enabled(l))
		v |= LVT_MASKED;
	if (idx == LVT_TIMER && LVT_TMR_MODE(v) == 3)
		v &= ~(3u << 17);
	l->lvt[idx] = v;
	/* Into or out of TSC-deadline mode disarms the timer; one-shot <-> periodic keeps the
	 * count running. */
	if (idx == LVT_TIMER && (LVT_TMR_MODE(old) == TMR_TSCDEADLINE) !=
				(LVT_TMR_MODE(v) == TMR_TSCDEADLINE)) {
		vlapic_timer_stop(l);
		l->tsc_deadline = 0;
	}
}

static void vlapic_write_svr(struct vlapic *l, uint32_t v)
{
	l->svr = v & 0x1FF;
	if (!vlapic_sw_enabled(l)) {
		for (int i = 0; i < LVT_COUNT; i++)
			l->lvt[i] |= LVT_MASKED;
	}
}

/* Write one register (lock held).  *eoi_vec gets a level vector to forward to the IOAPIC,
 * *ipi says the ICR was written.  Returns -1 for a reserved/read-only register. */
static int vlapic_write_reg(struct vlapic *l, uint32_t off, uint64_t val, int *eoi_vec, bool *ipi)
{
	uint32_t v = (uint32_t)val;
	if (off >= LAPIC_LVT_TMR && off <= LAPIC_LVT_ERR) {
		vlapic_write_lvt(l, (int)(off - LAPIC_LVT_TMR) >> 4, v);
		return 0;
	}
	switch (off) {
	case LAPIC_ID: return vlapic_x2(l) ? -1 : 0;   /* IDs are fixed here */
	case LAPIC_TPR: l->tpr = v & 0xFF; return 0;
	case LAPIC_EOI:
		if (vlapic_x2(l) && v)
			return -1;
		*eoi_vec = vlapic_eoi_locked(l);
		return 0;
	case LAPIC_LDR: if (vlapic_x2(l)) return -1; l->ldr = v & 0xFF000000u; return 0;
	case LAPIC_DFR: if (vlapic_x2(l)) return -1; l->dfr = (v & 0xF0000000u) | 0x0FFFFFFFu; return 0;
	case LAPIC_SVR: vlapic_write_svr(l, v); return 0;
	case LAPIC_ESR: l->esr = l->esr_pending; l->esr_pending = 0; return 0;
	case LAPIC_LVT_CMCI: return 0;
	case LAPIC_ICR_LO:
		l->icr_lo = v & ~(1u << 12);
		if (vlapic_x2(l))
			l->icr_hi = (uint32_t)(val >> 32);
		*ipi = true;
		return 0;
	case LAPIC_ICR_HI: if (vlapic_x2(l)) return -1; l->icr_hi = v & 0xFF000000u; return 0;
	case LAPIC_TMR_ICR:
		l->tmr_icr = v;
		vlapic_timer_start(l);
		return 0;
	case LAPIC_TMR_DCR: l->tmr_dcr = v & 0xB; return 0;
	case LAPIC_SELF_IPI:
		if (!vlapic_x2(l))
			return -1;
		l->icr_lo = (v & 0xFF) | (1u << 18);
		*ipi = true;
		return 0;
	default:
		return -1;
	}
}

/* Write with the follow-ups done after dropping the lock. */
static int vlapic_write(struct vlapic *l, uint32_t off, uint64_t val)
{
	int eoi_vec = -1;
	bool ipi = false;
	pthread_mutex_lock(&l->lock);
	int rc = vlapic_write_reg(l, off, val, &eoi_vec, &ipi);
	uint32_t lo = l->icr_lo, hi = l->icr_hi;
	bool pending = vlapic_deliverable(l) >= 0;
	pthread_mutex_unlock(&l->lock);
	if (eoi_vec >= 0)
		vioapic_eoi(l->p->ioapic, eoi_vec);
	if (ipi)
		vlapic_send_ipi(l, lo, hi);
	if (pending || off == LAPIC_SVR || (off >= LAPIC_LVT_TMR && off <= LAPIC_LVT_ERR))
		plat_notify_intr(l->p, l->vcpuid);
	return rc;
}

/* ---- the xAPIC page ---- */

int vlapic_mmio(struct vcpu *vcpu, int dir, uint64_t addr, int size, uint64_t *val,
		void *arg1, long arg2)
{
	struct platform *p = arg1;
	int id = vcpu_id(vcpu);
	if (id < 0 || id >= p->ncpus || !p->lapic[id])
		return 0;
	struct vlapic *l = p->lapic[id];
	uint32_t off = (uint32_t)addr & 0xFFF;
	uint32_t reg = off & ~0xFu, shift = (off & 3) * 8;
	pthread_mutex_lock(&l->lock);
	uint64_t base = l->apicbase & APICBASE_ADDR;
	pthread_mutex_unlock(&l->lock);
	if (!vlapic_hw_enabled(l) || vlapic_x2(l) || (addr & ~0xFFFULL) != base) {
		if (dir == MEM_F_READ)
			*val = ~0ULL;        /* the xAPIC page is not decoded */
		return 0;
	}
	if (dir == MEM_F_READ) {
		uint64_t v = 0;
		pthread_mutex_lock(&l->lock);
		if ((off & 0xF) < 4 && vlapic_read_reg(l, reg, &v) == 0)
			*val = (uint32_t)v >> shift;
		else
			*val = 0;
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	if (size != 4 || (off & 0xF))
		return 0;                    /* only aligned 32-bit writes are defined */
	if (vlapic_write(l, reg, *val) < 0) {
		pthread_mutex_lock(&l->lock);
		bool notify = false;
		vlapic_error_locked(l, ESR_ILLEGAL_REG, &notify);
		pthread_mutex_unlock(&l->lock);
		if (notify)
			plat_notify_intr(p, id);
	}
	return 0;
}

/* ---- MSRs ---- */

static int vlapic_write_apicbase(struct vlapic *l, uint64_t val)
{
	uint64_t old = l->apicbase;
	uint64_t allowed = APICBASE_ADDR | APICBASE_EN | (l->p->x2apic_allowed ? APICBASE_EXTD : 0);
	if ((val & ~(allowed | APICBASE_BSP)) != 0)
		return -1;
	bool en = val & APICBASE_EN, x2 = val & APICBASE_EXTD;
	if (x2 && !en)
		return -1;                   /* invalid state */
	if ((old & APICBASE_EXTD) && en && !x2)
		return -1;                   /* x2APIC -> xAPIC needs a disable first */
	if (!(old & APICBASE_EN) && x2 && en && !(old & APICBASE_EXTD)) {
		/* disabled -> x2APIC directly is invalid */
		return -1;
	}
	l->apicbase = (val & ~APICBASE_BSP) | (old & APICBASE_BSP);
	if (!en) {
		vlapic_reset_locked(l);      /* hardware disable: everything back to reset */
	} else if (x2 && !(old & APICBASE_EXTD)) {
		l->ldr = vlapic_x2_ldr(l);
	}
	return 0;
}

int vlapic_rdmsr(struct vlapic *l, uint32_t msr, uint64_t *val)
{
	int rc = 0;
	pthread_mutex_lock(&l->lock);
	if (msr == MSR_APICBASE) {
		*val = l->apicbase;
	} else if (msr == MSR_TSC_DEADLINE) {
		*val = LVT_TMR_MODE(l->lvt[LVT_TIMER]) == TMR_TSCDEADLINE ? l->tsc_deadline : 0;
	} else if (msr >= 0x800 && msr <= 0x8FF) {
		uint32_t off = (msr - 0x800) << 4;
		if (!vlapic_x2(l) || off == LAPIC_EOI || off == LAPIC_SELF_IPI ||
		    vlapic_read_reg(l, off, val) < 0)
			rc = -1;
	} else {
		rc = 1;
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

int vlapic_wrmsr(struct vlapic *l, uint32_t msr, uint64_t val)
{
	if (msr == MSR_APICBASE || msr == MSR_TSC_DEADLINE) {
		pthread_mutex_lock(&l->lock);
		int rc = 0;
		if (msr == MSR_APICBASE)
			rc = vlapic_write_apicbase(l, val);
		else
			vlapic_set_tsc_deadline(l, val);
		uint64_t now = l->apicbase;
		pthread_mutex_unlock(&l->lock);
		/* An enabled xAPIC, perhaps at a new address (set while it was disabled, too):
		 * make sure something decodes its page. */
		if (msr == MSR_APICBASE && rc == 0 && (now & APICBASE_EN) && !(now & APICBASE_EXTD))
			plat_lapic_map(l->p, now & APICBASE_ADDR);
		plat_notify_intr(l->p, l->vcpuid);
		return rc;
	}
	if (msr < 0x800 || msr > 0x8FF)
		return 1;
	uint32_t off = (msr - 0x800) << 4;
	pthread_mutex_lock(&l->lock);
	bool x2 = vlapic_x2(l);
	pthread_mutex_unlock(&l->lock);
	if (!x2 || (off != LAPIC_ICR_LO && (val >> 32)))
		return -1;
	if (off == LAPIC_ID || off == LAPIC_VER || off == LAPIC_PPR || off == LAPIC_LDR ||
	    off == LAPIC_TMR_CCR || (off >= LAPIC_ISR && off < LAPIC_ESR))
		return -1;
	return vlapic_write(l, off, val) < 0 ? -1 : 0;
}

/* ---- interrupt acknowledge, CR8 ---- */

int vlapic_intr_ack(struct vlapic *l)
{
	pthread_mutex_lock(&l->lock);
	int v = vlapic_deliverable(l);
	if (v >= 0) {
		bit_clear(l->irr, v);
		bit_set(l->isr, v);
	}
	pthread_mutex_unlock(&l->lock);
	return v;
}

/* The 8259's INTR reaches the CPU when the APIC is off or not yet set up (virtual wire
 * without a BIOS), or LINT0 is an unmasked ExtINT input. */
bool vlapic_extint_ok(struct vlapic *l)
{
	pthread_mutex_lock(&l->lock);
	uint32_t lint0 = l->lvt[LVT_LINT0];
	bool ok = !vlapic_hw_enabled(l) || !vlapic_sw_enabled(l) ||
		  (!(lint0 & LVT_MASKED) && LVT_DELMODE(lint0) == APIC_DELMODE_EXTINT);
	pthread_mutex_unlock(&l->lock);
	return ok;
}

uint8_t vlapic_get_cr8(struct vlapic *l)
{
	pthread_mutex_lock(&l->lock);
	uint8_t v = (uint8_t)(l->tpr >> 4);
	pthread_mutex_unlock(&l->lock);
	return v;
}

void vlapic_set_cr8(struct vlapic *l, uint8_t val)
{
	pthread_mutex_lock(&l->lock);
	l->tpr = (uint32_t)(val & 0xF) << 4;
	bool pending = vlapic_deliverable(l) >= 0;
	pthread_mutex_unlock(&l->lock);
	if (pending)
		plat_notify_intr(l->p, l->vcpuid);
}

/* ---- life ---- */

struct vlapic *vlapic_create(struct platform *p, int vcpuid)
{
	struct vlapic *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->p = p;
	l->vcpuid = vcpuid;
	pthread_mutex_init(&l->lock, NULL);
	l->timer = vtimer_create(p->vm, vlapic_timer_cb, l);
	if (!l->timer) {
		free(l);
		return NULL;
	}
	l->apicbase = LAYOUT_LAPIC_BASE | APICBASE_EN | (vcpuid == 0 ? APICBASE_BSP : 0);
	vlapic_reset_locked(l);
	return l;
}

void vlapic_destroy(struct vlapic *l)
{
	if (!l)
		return;
	vtimer_destroy(l->timer);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
