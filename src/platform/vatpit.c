/*
 * The 8254 PIT at 0x40-0x43 and port 0x61 (channel 2 gate, speaker enable, OUT2, refresh).
 *
 * Counters are not ticked: each channel remembers when it started counting, and its count and
 * OUT level are computed from the virtual clock (1.193182 MHz ticks on the absolute vclock
 * tick grid), so a guest that measures the TSC against channel 2 (Linux's PIT calibration)
 * gets exactly VCLOCK_TSC_HZ.  Channel 0's OUT drives ISA IRQ 0 (8259 IRQ0, IOAPIC pin 2):
 * a vtimer fires at each rising edge of OUT.
 */
#include <pthread.h>
#include <stdlib.h>

#include "platform/platform_int.h"
#include "vmm/inout.h"
#include "vmm/irq.h"
#include "vmm/layout.h"
#include "vmm/vclock.h"

#define PIT_HZ 1193182ULL
#define PIT_IOAPIC_PIN 2        /* MADT interrupt source override IRQ0 -> GSI2 */

enum { RW_LATCH = 0, RW_LSB = 1, RW_MSB = 2, RW_WORD = 3 };

struct pit_channel {
	int mode, rw;
	bool bcd;
	uint32_t n;              /* reload value in ticks (0 written = 65536 / 10000) */
	bool loaded;             /* a complete count has been written */
	bool gate;
	bool running;            /* counting now */
	bool triggered;          /* modes 1 and 5: a gate edge started the count */
	uint64_t acc;            /* ticks counted before run_tick (gate pauses) */
	uint64_t run_tick;       /* absolute tick when counting (re)started */
	bool null_count;
	/* access state */
	bool wr_msb_next, rd_msb_next;
	uint8_t wr_lsb;
	bool cnt_latched, cnt_latch_msb_next;
	uint16_t cnt_latch;
	bool st_latched;
	uint8_t st_latch;
	/* channel 0 interrupt */
	uint64_t irq_target;     /* elapsed tick of the next OUT rising edge */
	bool irq_armed;
};

struct vatpit {
	struct platform *p;
	pthread_mutex_t lock;
	struct pit_channel ch[3];
	uint8_t port61;          /* bits 0-3 as written */
	struct vtimer *timer;
};

static uint64_t pit_now_tick(struct vatpit *t)
{
	return vclock_ns_to_ticks(vclock_ns(t->p->vm), PIT_HZ);
}

static uint64_t pit_elapsed(const struct pit_channel *c, uint64_t now_tick)
{
	if (!c->running)
		return c->acc;
	return c->acc + (now_tick >= c->run_tick ? now_tick - c->run_tick : 0);
}

static uint32_t pit_modulus(const struct pit_channel *c) { return c->bcd ? 10000 : 65536; }

static uint16_t pit_to_bcd(uint32_t v)
{
	return (uint16_t)((v % 10) | ((v / 10 % 10) << 4) | ((v / 100 % 10) << 8) |
			  ((v / 1000 % 10) << 12));
}

static uint32_t pit_from_bcd(uint16_t v)
{
	return (v & 0xF) % 10 + ((v >> 4) & 0xF) % 10 * 10 + ((v >> 8) & 0xF) % 10 * 100 +
	       ((v >> 12) & 0xF) % 10 * 1000;
}

/* The counting element's value now (before BCD encoding). */
static uint32_t pit_count(const struct pit_channel *c, uint64_t now_tick)
{
	if (!c->loaded)
		return 0;
	uint32_t n = c->n, mod = pit_modulus(c);
	uint64_t e = pit_elapsed(c, now_tick);
	switch (c->mode) {
	case 2:
		return n - (uint32_t)(e % n);
	case 3: {
		uint32_t half = (n + 1) / 2;
		uint32_t ph = (uint32_t)(e % n);
		uint32_t q = ph < half ? ph : ph - half;
		uint32_t v = n - 2 * q;
		return v ? v : n;
	}
	default:                 /* 0, 1, 4, 5: count down and wrap */
		return (uint32_t)(((uint64_t)n + mod - e % mod) % mod);
	}
}

static bool pit_out(const struct pit_channel *c, uint64_t now_tick)
{
	if (!c->loaded)
		return c->mode != 0;
	uint64_t e = pit_elapsed(c, now_tick);
	switch (c->mode) {
	case 0: return e >= c->n;
	case 1: return !c->triggered || e >= c->n;
	case 2: return !c->running || e % c->n != c->n - 1;
	case 3: return !c->running || e % c->n < (c->n + 1) / 2;
	case 4: return e != c->n;
	case 5: return !c->triggered || e != c->n;
	default: return true;
	}
}

/* ---- channel 0 interrupt ---- */

/* Elapsed tick of the next rising edge of OUT after `e`, or UINT64_MAX for none. */
static uint64_t pit_next_edge(const struct pit_channel *c, uint64_t e)
{
	if (!c->loaded || !c->running)
		return UINT64_MAX;
	switch (c->mode) {
	case 0: case 4:
		return e < c->n ? c->n : UINT64_MAX;
	case 2: case 3:
		return (e / c->n + 1) * c->n;
	default:
		return UINT64_MAX;
	}
}

/* Lock held: (re)arm the vtimer for channel 0's next edge. */
static void pit_schedule(struct vatpit *t, uint64_t now_tick)
{
	struct pit_channel *c = &t->ch[0];
	uint64_t e = pit_elapsed(c, now_tick);
	if (c->mode == 2 || c->mode == 3)   /* no interrupt storms from tiny periods */
		e += vclock_ns_to_ticks(PLAT_MIN_PERIODIC_NS, PIT_HZ);
	uint64_t edge = pit_next_edge(c, e);
	if (edge == UINT64_MAX) {
		c->irq_armed = false;
		vtimer_cancel(t->timer);
		return;
	}
	c->irq_target = edge;
	c->irq_armed = true;
	uint64_t abs_tick = c->run_tick + (edge - c->acc);
	vtimer_arm(t->timer, vclock_ticks_to_ns(abs_tick, PIT_HZ));
}

static void pit_timer_cb(void *arg)
{
	struct vatpit *t = arg;
	bool fire = false;
	pthread_mutex_lock(&t->lock);
	struct pit_channel *c = &t->ch[0];
	uint64_t now = pit_now_tick(t);
	if (c->irq_armed && pit_elapsed(c, now) >= c->irq_target) {
		fire = true;
		pit_schedule(t, now);
	}
	pthread_mutex_unlock(&t->lock);
	if (fire)
		vm_isa_pulse_irq(t->p->vm, IRQ_PIT, PIT_IOAPIC_PIN);
}

/* ---- programming ---- */

static void pit_start(struct pit_channel *c, uint64_t now_tick)
{
	c->acc = 0;
	c->run_tick = now_tick;
	c->running = c->gate;
}

/* A complete count was written. */
static void pit_load(struct vatpit *t, int idx, uint32_t raw, uint64_t now_tick)
{
	struct pit_channel *c = &t->ch[idx];
	uint32_t n = c->bcd ? pit_from_bcd((uint16_t)raw) : raw;
	if (n == 0)
		n = pit_modulus(c);
	if ((c->mode == 2 || c->mode == 3) && n == 1)
		n = 2;                   /* 1 is illegal in modes 2 and 3 */
	c->n = n;
	c->loaded = true;
	c->null_count = false;
	if (c->mode == 1 || c->mode == 5) {
		c->triggered = false;    /* waits for a gate rising edge */
		c->running = false;
		c->acc = 0;
	} else {
		pit_start(c, now_tick);
	}
	if (idx == 0)
		pit_schedule(t, now_tick);
}

static void pit_control(struct vatpit *t, int idx, uint8_t v, uint64_t now_tick)
{
	struct pit_channel *c = &t->ch[idx];
	int rw = (v >> 4) & 3;
	if (rw == RW_LATCH) {
		if (!c->cnt_latched) {
			uint32_t cnt = pit_count(c, now_tick);
			c->cnt_latch = c->bcd ? pit_to_bcd(cnt) : (uint16_t)cnt;
			c->cnt_latched = true;
			c->cnt_latch_msb_next = false;
		}
		return;
	}
	c->rw = rw;
	c->mode = (v >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4;
	c->bcd = v & 1;
	c->loaded = false;
	c->running = false;
	c->triggered = false;
	c->acc = 0;
	c->null_count = true;
	c->wr_msb_next = c->rd_msb_next = false;
	c->cnt_latched = c->st_latched = false;
	if (idx == 0)
		pit_schedule(t, now_tick);
}

static void pit_readback(struct vatpit *t, uint8_t v, uint64_t now_tick)
{
	for (int i = 0; i < 3; i++) {
		if (!(v & (2 << i)))
			continue;
		struct pit_channel *c = &t->ch[i];
		if (!(v & 0x20) && !c->cnt_latched) {
			uint32_t cnt = pit_count(c, now_tick);
			c->cnt_latch = c->bcd ? pit_to_bcd(cnt) : (uint16_t)cnt;
			c->cnt_latched = true;
			c->cnt_latch_msb_next = false;
		}
		if (!(v & 0x10) && !c->st_latched) {
			c->st_latch = (uint8_t)((pit_out(c, now_tick) << 7) | (c->null_count << 6) |
						(c->rw << 4) | (c->mode << 1) | c->bcd);
			c->st_latched = true;
		}
	}
}

static void pit_write_count(struct vatpit *t, int idx, uint8_t v, uint64_t now_tick)
{
	struct pit_channel *c = &t->ch[idx];
	switch (c->rw) {
	case RW_LSB: pit_load(t, idx, v, now_tick); break;
	case RW_MSB: pit_load(t, idx, (uint32_t)v << 8, now_tick); break;
	case RW_WORD:
		if (!c->wr_msb_next) {
			c->wr_lsb = v;
			c->wr_msb_next = true;
			if (c->mode == 0) {        /* mode 0 stops counting on the first byte */
				c->acc = pit_elapsed(c, now_tick);
				c->running = false;
			}
		} else {
			c->wr_msb_next = false;
			pit_load(t, idx, c->wr_lsb | ((uint32_t)v << 8), now_tick);
		}
		break;
	default: break;
	}
}

static uint8_t pit_read_count(struct pit_channel *c, uint64_t now_tick)
{
	if (c->st_latched) {
		c->st_latched = false;
		return c->st_latch;
	}
	uint16_t v;
	bool msb;
	if (c->cnt_latched) {
		v = c->cnt_latch;
		msb = c->rw == RW_MSB || (c->rw == RW_WORD && c->cnt_latch_msb_next);
		if (c->rw == RW_WORD && !c->cnt_latch_msb_next)
			c->cnt_latch_msb_next = true;
		else
			c->cnt_latched = false;
	} else {
		uint32_t cnt = pit_count(c, now_tick);
		v = c->bcd ? pit_to_bcd(cnt) : (uint16_t)cnt;
		msb = c->rw == RW_MSB || (c->rw == RW_WORD && c->rd_msb_next);
		if (c->rw == RW_WORD)
			c->rd_msb_next = !c->rd_msb_next;
	}
	return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
}

static int pit_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax, void *arg)
{
	struct vatpit *t = arg;
	int idx = port - PORT_PIT;
	uint8_t v = (uint8_t)*eax;
	pthread_mutex_lock(&t->lock);
	uint64_t now = pit_now_tick(t);
	if (idx == 3) {
		if (in) {
			*eax = 0xFF;             /* the control word register is write-only */
		} else if ((v >> 6) == 3) {
			pit_readback(t, v, now);
		} else {
			pit_control(t, v >> 6, v, now);
		}
	} else if (in) {
		*eax = pit_read_count(&t->ch[idx], now);
	} else {
		pit_write_count(t, idx, v, now);
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* ---- port 0x61 ---- */

/* Channel 2's gate changes level (lock held). */
static void pit_set_gate2(struct vatpit *t, bool gate, uint64_t now_tick)
{
	struct pit_channel *c = &t->ch[2];
	bool rising = gate && !c->gate;
	if (!gate && c->gate) {
		c->acc = pit_elapsed(c, now_tick);
		c->running = false;
	}
	c->gate = gate;
	if (!c->loaded)
		return;
	switch (c->mode) {
	case 0: case 4:                      /* gate enables counting */
		if (rising) {
			c->run_tick = now_tick;
			c->running = true;
		}
		break;
	case 1: case 5:                      /* rising edge (re)triggers */
		if (rising) {
			pit_start(c, now_tick);
			c->triggered = true;
		}
		break;
	default:                             /* 2, 3: rising edge reloads */
		if (rising)
			pit_start(c, now_tick);
		break;
	}
}

static int pit_port61(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		      void *arg)
{
	struct vatpit *t = arg;
	pthread_mutex_lock(&t->lock);
	uint64_t ns = vclock_ns(t->p->vm);
	uint64_t now = vclock_ns_to_ticks(ns, PIT_HZ);
	if (in) {
		/* Bit 4 toggles with the DRAM refresh request (every 15.085 us). */
		bool refresh = (ns / 15085) & 1;
		*eax = (t->port61 & 0xF) | (refresh << 4) | (pit_out(&t->ch[2], now) << 5);
	} else {
		t->port61 = (uint8_t)*eax & 0xF;
		pit_set_gate2(t, t->port61 & 1, now);
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

struct vatpit *vatpit_create(struct platform *p)
{
	struct vatpit *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->p = p;
	pthread_mutex_init(&t->lock, NULL);
	for (int i = 0; i < 3; i++) {
		t->ch[i].gate = i != 2;          /* channels 0 and 1 are gated high */
		t->ch[i].rw = RW_WORD;
	}
	t->timer = vtimer_create(p->vm, pit_timer_cb, t);
	struct inout_port pit = { "pit", PORT_PIT, 4, IOPORT_F_INOUT, pit_io, t };
	struct inout_port nmisc = { "nmi-sc", PORT_NMI_SC, 1, IOPORT_F_INOUT, pit_port61, t };
	if (!t->timer || register_inout(p->vm, &pit) < 0) {
		vtimer_destroy(t->timer);
		free(t);
		return NULL;
	}
	if (register_inout(p->vm, &nmisc) < 0) {
		unregister_inout(p->vm, &pit);
		vtimer_destroy(t->timer);
		free(t);
		return NULL;
	}
	return t;
}

void vatpit_destroy(struct vatpit *t)
{
	if (!t)
		return;
	struct inout_port pit = { .port = PORT_PIT, .size = 4 };
	struct inout_port nmisc = { .port = PORT_NMI_SC, .size = 1 };
	unregister_inout(t->p->vm, &pit);
	unregister_inout(t->p->vm, &nmisc);
	vtimer_destroy(t->timer);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
