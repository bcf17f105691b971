/*
 * The 8259A pair: master at 0x20-0x21, slave at 0xA0-0xA1 cascaded on the master's IR2, and the
 * ELCR (edge/level control) at 0x4D0-0x4D1.  Implements the ICW1-4 initialisation sequence,
 * OCW1 (mask), OCW2 (EOI, specific EOI, rotation, set priority), OCW3 (read IRR/ISR, poll,
 * special mask mode), auto-EOI and special fully nested mode.  The master's INTR output goes
 * to the BSP's LINT0; the CPU's INTA cycle is vatpic_intr_accept().
 */
#include <pthread.h>
#include <stdlib.h>

#include "platform/platform_int.h"
#include "vmm/inout.h"
#include "vmm/layout.h"

struct i8259 {
	bool ready;            /* initialisation sequence done */
	int icw_next;          /* 0 = not initialising, 2/3/4 = expecting that ICW */
	bool icw4_needed, single;
	uint8_t irq_base;
	uint8_t irr, isr, imr;
	uint8_t lines;         /* input levels from devices */
	uint8_t elcr;          /* level-triggered inputs */
	uint8_t lowprio;       /* the lowest-priority input (rotation); 7 after init */
	bool auto_eoi, rotate_aeoi, sfnm, special_mask, poll, read_isr;
};

struct vatpic {
	struct platform *p;
	pthread_mutex_t lock;
	struct i8259 pic[2];   /* 0 master, 1 slave */
};

/* Inputs that may never be level-triggered: master 0, 1, 2; slave 0 (IRQ8), 5 (IRQ13). */
static const uint8_t vatpic_elcr_mask[2] = { 0xF8, 0xDE };

/* The highest-priority requested, unmasked input that beats what is in service, or -1. */
static int i8259_pending_irq(const struct i8259 *c, bool master)
{
	uint8_t req = c->irr & ~c->imr;
	uint8_t isr = c->isr;
	if (c->special_mask)
		isr &= ~c->imr;
	for (int k = 0; k < 8; k++) {
		int irq = (c->lowprio + 1 + k) & 7;
		bool in_service = (isr >> irq) & 1;
		/* Special fully nested: the cascade input may interrupt itself. */
		if (in_service && !(master && c->sfnm && irq == 2))
			return -1;
		if ((req >> irq) & 1)
			return irq;
	}
	return -1;
}

/* Recompute IR2 of the master from the slave's INTR output. */
static void vatpic_cascade(struct vatpic *a)
{
	bool slave_int = i8259_pending_irq(&a->pic[1], false) >= 0;
	struct i8259 *m = &a->pic[0];
	bool old = (m->lines >> 2) & 1;
	if (slave_int) {
		m->lines |= 4;
		if (!old || (m->elcr & 4))
			m->irr |= 4;
	} else {
		m->lines &= ~4;
		m->irr &= ~4;   /* the request vanished before INTA */
	}
}

/* After any change: wake the BSP if INTR is high (lock held; notify after unlock). */
static bool vatpic_update(struct vatpic *a)
{
	vatpic_cascade(a);
	return i8259_pending_irq(&a->pic[0], true) >= 0;
}

static void vatpic_notify(struct vatpic *a, bool intr)
{
	if (intr)
		plat_notify_intr(a->p, 0);
}

/* One input of one chip changes level (lock held). */
static void i8259_set_line(struct i8259 *c, int pin, bool high)
{
	uint8_t bit = (uint8_t)(1u << pin);
	bool old = c->lines & bit;
	if (high) {
		c->lines |= bit;
		if (!old || (c->elcr & bit))
			c->irr |= bit;
	} else {
		c->lines &= ~bit;
		if (c->elcr & bit)
			c->irr &= ~bit;
	}
}

void vatpic_set_irq(struct vatpic *a, int irq, int how)
{
	if (!a || irq < 0 || irq > 15)
		return;
	pthread_mutex_lock(&a->lock);
	struct i8259 *c = &a->pic[irq >> 3];
	int pin = irq & 7;
	if (how == PLAT_IRQ_PULSE) {
		i8259_set_line(c, pin, true);
		i8259_set_line(c, pin, false);
	} else {
		i8259_set_line(c, pin, how == PLAT_IRQ_ASSERT);
	}
	bool intr = vatpic_update(a);
	pthread_mutex_unlock(&a->lock);
	vatpic_notify(a, intr);
}

void vatpic_set_trigger(struct vatpic *a, int irq, bool level)
{
	if (!a || irq < 0 || irq > 15)
		return;
	pthread_mutex_lock(&a->lock);
	struct i8259 *c = &a->pic[irq >> 3];
	uint8_t bit = (uint8_t)(1u << (irq & 7));
	if (level)
		c->elcr |= bit & vatpic_elcr_mask[irq >> 3];
	else
		c->elcr &= ~bit;
	pthread_mutex_unlock(&a->lock);
}

bool vatpic_pending(struct vatpic *a)
{
	if (!a)
		return false;
	pthread_mutex_lock(&a->lock);
	bool intr = vatpic_update(a);
	pthread_mutex_unlock(&a->lock);
	return intr;
}

/* INTA for one chip: take `irq` into service (or not, in auto-EOI mode). */
static void i8259_ack(struct i8259 *c, int irq)
{
	uint8_t bit = (uint8_t)(1u << irq);
	if (!(c->elcr & bit) || !(c->lines & bit))
		c->irr &= ~bit;
	if (c->auto_eoi) {
		if (c->rotate_aeoi)
			c->lowprio = (uint8_t)irq;
	} else {
		c->isr |= bit;
	}
}

/* The CPU's interrupt-acknowledge cycle: the vector on the bus.  With nothing requested the
 * 8259 answers with its IR7 vector (spurious), as the real part does. */
int vatpic_intr_accept(struct vatpic *a)
{
	if (!a)
		return -1;
	pthread_mutex_lock(&a->lock);
	vatpic_cascade(a);
	struct i8259 *m = &a->pic[0], *s = &a->pic[1];
	int irq = i8259_pending_irq(m, true);
	int vec;
	if (irq < 0) {
		vec = m->irq_base | 7;
	} else if (irq == 2) {
		int sirq = i8259_pending_irq(s, false);
		i8259_ack(m, 2);
		if (sirq < 0) {
			vec = s->irq_base | 7;
		} else {
			i8259_ack(s, sirq);
			vec = s->irq_base | sirq;
		}
	} else {
		i8259_ack(m, irq);
		vec = m->irq_base | irq;
	}
	bool intr = vatpic_update(a);
	pthread_mutex_unlock(&a->lock);
	vatpic_notify(a, intr);
	return vec;
}

/* ---- programming ---- */

static void i8259_icw1(struct i8259 *c, uint8_t v)
{
	c->icw_next = 2;
	c->icw4_needed = v & 1;
	c->single = v & 2;
	c->ready = false;
	c->irr &= c->elcr & c->lines;   /* edge detection restarts */
	c->isr = 0;
	c->imr = 0;
	c->lowprio = 7;
	c->auto_eoi = c->rotate_aeoi = c->sfnm = false;
	c->special_mask = c->poll = c->read_isr = false;
}

static void i8259_eoi(struct i8259 *c, int irq, bool rotate)
{
	if (irq < 0) {                    /* non-specific: the highest-priority in service */
		for (int k = 0; k < 8; k++) {
			int i = (c->lowprio + 1 + k) & 7;
			if ((c->isr >> i) & 1) {
				irq = i;
				break;
			}
		}
		if (irq < 0)
			return;
	}
	c->isr &= (uint8_t)~(1u << irq);
	if (rotate)
		c->lowprio = (uint8_t)irq;
}

static void i8259_ocw2(struct i8259 *c, uint8_t v)
{
	int level = v & 7;
	switch (v >> 5) {
	case 0: c->rotate_aeoi = false; break;          /* clear rotate in AEOI mode */
	case 1: i8259_eoi(c, -1, false); break;         /* non-specific EOI */
	case 3: i8259_eoi(c, level, false); break;      /* specific EOI */
	case 4: c->rotate_aeoi = true; break;           /* set rotate in AEOI mode */
	case 5: i8259_eoi(c, -1, true); break;          /* rotate on non-specific EOI */
	case 6: c->lowprio = (uint8_t)level; break;     /* set priority */
	case 7: i8259_eoi(c, level, true); break;       /* rotate on specific EOI */
	default: break;                                  /* 2: no operation */
	}
}

static void i8259_ocw3(struct i8259 *c, uint8_t v)
{
	if (v & 0x40)
		c->special_mask = (v & 0x20) != 0;
	if (v & 0x04)
		c->poll = true;
	if (v & 0x02)
		c->read_isr = v & 1;
}

static void i8259_write_data(struct i8259 *c, uint8_t v)
{
	switch (c->icw_next) {
	case 2:
		c->irq_base = v & 0xF8;
		c->icw_next = c->single ? (c->icw4_needed ? 4 : 0) : 3;
		break;
	case 3:
		c->icw_next = c->icw4_needed ? 4 : 0;
		break;
	case 4:
		c->auto_eoi = v & 2;
		c->sfnm = v & 0x10;
		c->icw_next = 0;
		break;
	default:
		c->imr = v;                                  /* OCW1 */
		return;
	}
	if (c->icw_next == 0)
		c->ready = true;
}

/* Poll command: the next read returns 0x80 | irq and acknowledges it like an INTA. */
static uint8_t vatpic_poll(struct vatpic *a, int chip)
{
	struct i8259 *c = &a->pic[chip];
	c->poll = false;
	int irq = i8259_pending_irq(c, chip == 0);
	if (irq < 0)
		return 0;
	if (chip == 0 && irq == 2) {
		int sirq = i8259_pending_irq(&a->pic[1], false);
		if (sirq >= 0)
			i8259_ack(&a->pic[1], sirq);
	}
	i8259_ack(c, irq);
	return (uint8_t)(0x80 | irq);
}

static int vatpic_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		     void *arg)
{
	struct vatpic *a = arg;
	int chip = port >= PORT_PIC2 ? 1 : 0;
	struct i8259 *c = &a->pic[chip];
	bool data = port & 1;
	uint8_t v = (uint8_t)*eax;
	pthread_mutex_lock(&a->lock);
	vatpic_cascade(a);
	if (in) {
		if (c->poll)
			*eax = vatpic_poll(a, chip);
		else if (data)
			*eax = c->imr;
		else
			*eax = c->read_isr ? c->isr : c->irr;
	} else if (!data) {
		if (v & 0x10)
			i8259_icw1(c, v);
		else if (v & 0x08)
			i8259_ocw3(c, v);
		else
			i8259_ocw2(c, v);
	} else {
		i8259_write_data(c, v);
	}
	bool intr = vatpic_update(a);
	pthread_mutex_unlock(&a->lock);
	vatpic_notify(a, intr);
	return 0;
}

static int vatpic_elcr_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
			  void *arg)
{
	struct vatpic *a = arg;
	int chip = port - PORT_ELCR;
	pthread_mutex_lock(&a->lock);
	if (in) {
		*eax = a->pic[chip].elcr;
		if (bytes > 1 && chip == 0)
			*eax |= (uint32_t)a->pic[1].elcr << 8;
	} else {
		a->pic[chip].elcr = (uint8_t)*eax & vatpic_elcr_mask[chip];
		if (bytes > 1 && chip == 0)
			a->pic[1].elcr = (uint8_t)(*eax >> 8) & vatpic_elcr_mask[1];
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

struct vatpic *vatpic_create(struct platform *p)
{
	struct vatpic *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->p = p;
	pthread_mutex_init(&a->lock, NULL);
	for (int i = 0; i < 2; i++) {
		a->pic[i].lowprio = 7;
		a->pic[i].imr = 0xFF;    /* masked until the guest initialises the pair */
	}
	struct inout_port ports[] = {
		{ "atpic-master", PORT_PIC1, 2, IOPORT_F_INOUT, vatpic_io, a },
		{ "atpic-slave", PORT_PIC2, 2, IOPORT_F_INOUT, vatpic_io, a },
		{ "elcr", PORT_ELCR, 2, IOPORT_F_INOUT, vatpic_elcr_io, a },
	};
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		if (register_inout(p->vm, &ports[i]) < 0) {
			while (i-- > 0)
				unregister_inout(p->vm, &ports[i]);
			free(a);
			return NULL;
		}
	}
	return a;
}

void vatpic_destroy(struct vatpic *a)
{
	if (!a)
		return;
	struct inout_port ports[] = {
		{ .port = PORT_PIC1, .size = 2 }, { .port = PORT_PIC2, .size = 2 },
		{ .port = PORT_ELCR, .size = 2 },
	};
	for (size_t i = 0; i < 3; i++)
		unregister_inout(a->p->vm, &ports[i]);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
