/*
 * IOAPIC (82093AA-style, version 0x11): 24 pins at LAYOUT_IOAPIC_BASE, accessed through
 * IOREGSEL (base+0x00) and IOWIN (base+0x10).  Edge pins deliver on a rising edge; level pins
 * deliver while asserted and set Remote IRR until the LAPIC's EOI for that vector arrives
 * (then, if the line is still asserted, the interrupt is sent again).
 *
 * Pin state is the logical assertion from the device (vm_ioapic_assert_irq means "interrupt
 * requested"), so the polarity bit is stored for the guest to read back but does not invert.
 */
#include <pthread.h>
#include <stdlib.h>

#include "platform/platform_int.h"
#include "vmm/layout.h"
#include "vmm/mmio.h"

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WINDOW 0x10
#define IOAPIC_MMIO_SIZE 0x1000

#define RTE_MASKED    (1ULL << 16)
#define RTE_LEVEL     (1ULL << 15)
#define RTE_REM_IRR   (1ULL << 14)
#define RTE_POLARITY  (1ULL << 13)
#define RTE_DELIVS    (1ULL << 12)
#define RTE_LOGICAL   (1ULL << 11)
/* Writable: vector, delivery mode, dest mode, polarity, trigger, mask, destination. */
#define RTE_WMASK     (0xFF00000000000000ULL | 0x1AFFFULL)

struct vioapic {
	struct platform *p;
	pthread_mutex_t lock;
	uint32_t id, regsel;
	uint64_t rte[IOAPIC_NPINS];
	bool line[IOAPIC_NPINS];          /* asserted by the device */
};

/* Send pin's interrupt (lock held). */
static void vioapic_send(struct vioapic *io, int pin)
{
	uint64_t r = io->rte[pin];
	if (r & RTE_MASKED)
		return;
	bool level = r & RTE_LEVEL;
	if (level) {
		if (r & RTE_REM_IRR)
			return;
		io->rte[pin] |= RTE_REM_IRR;
	}
	int delmode = (int)((r >> 8) & 7);
	if (delmode == APIC_DELMODE_EXTINT)
		return;                       /* virtual wire through the IOAPIC: not modelled */
	vlapic_deliver_msg(io->p, (uint32_t)(r >> 56), r & RTE_LOGICAL, delmode, (int)(r & 0xFF),
			   level);
}

int vioapic_set_irq(struct vioapic *io, int pin, int how)
{
	if (!io || pin < 0 || pin >= IOAPIC_NPINS)
		return -1;
	pthread_mutex_lock(&io->lock);
	bool old = io->line[pin];
	bool level = io->rte[pin] & RTE_LEVEL;
	switch (how) {
	case PLAT_IRQ_ASSERT:
		io->line[pin] = true;
		if (level || !old)
			vioapic_send(io, pin);
		break;
	case PLAT_IRQ_DEASSERT:
		io->line[pin] = false;
		break;
	default:                          /* pulse: one edge, line back low */
		if (!old || level)
			vioapic_send(io, pin);
		io->line[pin] = false;
		break;
	}
	pthread_mutex_unlock(&io->lock);
	return 0;
}

/* The LAPIC retired a level-triggered `vector`: clear Remote IRR of the pins using it. */
void vioapic_eoi(struct vioapic *io, int vector)
{
	if (!io)
		return;
	pthread_mutex_lock(&io->lock);
	for (int pin = 0; pin < IOAPIC_NPINS; pin++) {
		uint64_t r = io->rte[pin];
		if (!(r & RTE_REM_IRR) || (int)(r & 0xFF) != vector)
			continue;
		io->rte[pin] &= ~RTE_REM_IRR;
		if (io->line[pin] && (r & RTE_LEVEL))
			vioapic_send(io, pin);
	}
	pthread_mutex_unlock(&io->lock);
}

static uint32_t vioapic_read_reg(struct vioapic *io, uint32_t reg)
{
	switch (reg) {
	case 0: return io->id << 24;
	case 1: return 0x11 | ((IOAPIC_NPINS - 1) << 16);
	case 2: return io->id << 24;
	default: break;
	}
	if (reg >= 0x10 && reg < 0x10 + 2 * IOAPIC_NPINS) {
		uint64_t r = io->rte[(reg - 0x10) / 2];
		return (reg & 1) ? (uint32_t)(r >> 32) : (uint32_t)r;
	}
	return 0xFFFFFFFFu;
}

static void vioapic_write_reg(struct vioapic *io, uint32_t reg, uint32_t v)
{
	if (reg == 0) {
		io->id = (v >> 24) & 0xF;
		return;
	}
	if (reg < 0x10 || reg >= 0x10 + 2 * IOAPIC_NPINS)
		return;
	int pin = (int)(reg - 0x10) / 2;
	uint64_t r = io->rte[pin];
	uint64_t nv = (reg & 1) ? ((uint64_t)v << 32) | (r & 0xFFFFFFFFULL)
				: (r & 0xFFFFFFFF00000000ULL) | v;
	nv = (nv & RTE_WMASK) | (r & ~RTE_WMASK);
	if (!(nv & RTE_LEVEL))
		nv &= ~RTE_REM_IRR;           /* edge pins have no Remote IRR */
	io->rte[pin] = nv;
	/* An asserted level line that becomes unmasked fires now. */
	if (io->line[pin] && (nv & RTE_LEVEL) && !(nv & RTE_MASKED))
		vioapic_send(io, pin);
}

static int vioapic_mmio(struct vcpu *vcpu, int dir, uint64_t addr, int size, uint64_t *val,
			void *arg1, long arg2)
{
	struct vioapic *io = arg1;
	uint64_t off = addr - LAYOUT_IOAPIC_BASE;
	pthread_mutex_lock(&io->lock);
	if (dir == MEM_F_READ) {
		if (off == IOAPIC_REGSEL)
			*val = io->regsel;
		else if (off == IOAPIC_WINDOW)
			*val = vioapic_read_reg(io, io->regsel);
		else
			*val = 0;
	} else if (size >= 4 || off == IOAPIC_REGSEL) {
		if (off == IOAPIC_REGSEL)
			io->regsel = (uint32_t)*val & 0xFF;
		else if (off == IOAPIC_WINDOW)
			vioapic_write_reg(io, io->regsel, (uint32_t)*val);
	}
	pthread_mutex_unlock(&io->lock);
	return 0;
}

struct vioapic *vioapic_create(struct platform *p)
{
	struct vioapic *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->p = p;
	pthread_mutex_init(&io->lock, NULL);
	for (int i = 0; i < IOAPIC_NPINS; i++)
		io->rte[i] = RTE_MASKED;
	struct mem_range mr = {
		.name = "ioapic", .flags = MEM_F_RW, .handler = vioapic_mmio, .arg1 = io,
		.base = LAYOUT_IOAPIC_BASE, .size = IOAPIC_MMIO_SIZE,
	};
	if (register_mem(p->vm, &mr) < 0) {
		free(io);
		return NULL;
	}
	return io;
}

void vioapic_destroy(struct vioapic *io)
{
	if (!io)
		return;
	struct mem_range mr = { .base = LAYOUT_IOAPIC_BASE, .size = IOAPIC_MMIO_SIZE };
	unregister_mem(io->p->vm, &mr);
	pthread_mutex_destroy(&io->lock);
	free(io);
}
