/*
 * The PCI bus: configuration mechanism #1 (0xCF8 address, 0xCFC-0xCFF data), PCIe ECAM at
 * LAYOUT_PCI_ECAM_BASE, the type-0 configuration header of every function (command register,
 * BARs and their decode), BAR address allocation, and bus start-up from the config tree.
 * Capabilities, MSI, MSI-X and INTx are in pci_irq.c.
 *
 * One bus per VM (vm_pci_bus).  A recursive mutex serialises config accesses and interrupt
 * state; BAR data accesses (pe_barread/pe_barwrite) run without it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "pci/pci_bus_int.h"
#include "vmm/layout.h"
#include "vmm/vm_init_step.h"
#include "vmm/vmm.h"

/* ---- config data accessors ---- */

static bool pci_off_ok(int off, int bytes)
{
	return off >= 0 && off + bytes <= PCI_CFG_SIZE;
}

uint8_t pci_get_cfgdata8(const struct pci_devinst *pi, int off)
{
	return pci_off_ok(off, 1) ? pi->pi_cfgdata[off] : 0xFF;
}

uint16_t pci_get_cfgdata16(const struct pci_devinst *pi, int off)
{
	if (!pci_off_ok(off, 2))
		return 0xFFFF;
	return (uint16_t)(pi->pi_cfgdata[off] | pi->pi_cfgdata[off + 1] << 8);
}

uint32_t pci_get_cfgdata32(const struct pci_devinst *pi, int off)
{
	if (!pci_off_ok(off, 4))
		return 0xFFFFFFFFu;
	return (uint32_t)pci_get_cfgdata16(pi, off) | (uint32_t)pci_get_cfgdata16(pi, off + 2) << 16;
}

void pci_set_cfgdata8(struct pci_devinst *pi, int off, uint8_t val)
{
	if (pci_off_ok(off, 1))
		pi->pi_cfgdata[off] = val;
}

void pci_set_cfgdata16(struct pci_devinst *pi, int off, uint16_t val)
{
	pci_set_cfgdata8(pi, off, (uint8_t)val);
	pci_set_cfgdata8(pi, off + 1, (uint8_t)(val >> 8));
}

void pci_set_cfgdata32(struct pci_devinst *pi, int off, uint32_t val)
{
	pci_set_cfgdata16(pi, off, (uint16_t)val);
	pci_set_cfgdata16(pi, off + 2, (uint16_t)(val >> 16));
}

void pci_lock(const struct pci_devinst *pi)
{
	struct pci_bus *st = pci_bus_of(pi);
	if (st)
		pthread_mutex_lock(&st->lock);
}

void pci_unlock(const struct pci_devinst *pi)
{
	struct pci_bus *st = pci_bus_of(pi);
	if (st)
		pthread_mutex_unlock(&st->lock);
}

static struct pci_devinst *pci_bus_dev(struct pci_bus *st, int bus, int slot, int func)
{
	if (!st || bus < 0 || bus >= PCI_MAXBUS || slot < 0 || slot >= PCI_MAXSLOT ||
	    func < 0 || func >= PCI_MAXFUNC)
		return NULL;
	return st->dev[bus][slot][func];
}

struct pci_devinst *pci_bus_find(struct vm *vm, int bus, int slot, int func)
{
	return pci_bus_dev(vm ? vm_pci_bus(vm) : NULL, bus, slot, func);
}

/* ---- BARs ---- */

static int pci_bar_io_handler(struct vcpu *vcpu, int in, uint16_t port, int bytes,
			      uint32_t *eax, void *arg)
{
	struct pcibar *bar = arg;
	struct pci_devinst *pi = bar->pi;
	uint64_t off = (uint64_t)port - bar->io.port;
	if (off + (uint64_t)bytes > bar->size) {
		if (in)
			*eax = 0xFFFFFFFFu;
		return 0;
	}
	if (in)
		*eax = pi->pi_d->pe_barread ?
		       (uint32_t)pi->pi_d->pe_barread(vcpu, pi, bar->idx, off, bytes) : 0xFFFFFFFFu;
	else if (pi->pi_d->pe_barwrite)
		pi->pi_d->pe_barwrite(vcpu, pi, bar->idx, off, bytes, *eax);
	return 0;
}

static int pci_bar_mem_handler(struct vcpu *vcpu, int dir, uint64_t addr, int size,
			       uint64_t *val, void *arg1, long arg2)
{
	struct pcibar *bar = arg1;
	struct pci_devinst *pi = bar->pi;
	uint64_t off = addr - (uint64_t)arg2;
	if (off >= bar->size || (uint64_t)size > bar->size - off) {
		if (dir == MEM_F_READ)
			*val = ~0ULL;
		return 0;
	}
	if (pci_msix_bar_access(pi, bar->idx, off, size, val, dir == MEM_F_WRITE))
		return 0;
	if (dir == MEM_F_READ)
		*val = pi->pi_d->pe_barread ? pi->pi_d->pe_barread(vcpu, pi, bar->idx, off, size) : ~0ULL;
	else if (pi->pi_d->pe_barwrite)
		pi->pi_d->pe_barwrite(vcpu, pi, bar->idx, off, size, *val);
	return 0;
}

static bool pci_bar_is_io(const struct pcibar *bar)
{
	return bar->type == PCIBAR_IO;
}

static bool pci_bar_is_mem(const struct pcibar *bar)
{
	return bar->type == PCIBAR_MEM32 || bar->type == PCIBAR_MEM64;
}

static bool pci_bar_decoding(const struct pci_devinst *pi, const struct pcibar *bar)
{
	uint16_t cmd = pci_get_cfgdata16(pi, PCIR_COMMAND);
	return (pci_bar_is_io(bar) && (cmd & PCIM_CMD_PORTEN)) ||
	       (pci_bar_is_mem(bar) && (cmd & PCIM_CMD_MEMEN));
}

static void pci_bar_unregister(struct pci_devinst *pi, struct pcibar *bar)
{
	if (!bar->registered)
		return;
	if (pci_bar_is_io(bar))
		unregister_inout(pi->pi_vm, &bar->io);
	else
		unregister_mem(pi->pi_vm, &bar->mem);
	bar->registered = false;
	if (pi->pi_bar_moved)
		pi->pi_bar_moved(pi, (int)(bar - pi->pi_bar), false, bar->addr);
}

/* Decode the BAR at its current address if the command register says so.  An address that
 * cannot be decoded (0, outside the port space, overlapping another range, or a half-written
 * 64-bit value while sizing) leaves the BAR silent, as a conflict would on real hardware. */
static void pci_bar_register(struct pci_devinst *pi, struct pcibar *bar)
{
	if (bar->registered || !pci_bar_decoding(pi, bar) || bar->addr == 0)
		return;
	if (pci_bar_is_io(bar)) {
		if (bar->addr + bar->size > 0x10000)
			return;
		bar->io = (struct inout_port){ pi->pi_name, (uint16_t)bar->addr, (uint16_t)bar->size,
					       IOPORT_F_INOUT, pci_bar_io_handler, bar };
		bar->registered = register_inout(pi->pi_vm, &bar->io) == 0;
	} else {
		if (bar->addr + bar->size < bar->addr)
			return;
		bar->mem = (struct mem_range){ pi->pi_name, MEM_F_RW, pci_bar_mem_handler, bar,
					       (long)bar->addr, bar->addr, bar->size };
		bar->registered = register_mem(pi->pi_vm, &bar->mem) == 0;
	}
	if (bar->registered && pi->pi_bar_moved)
		pi->pi_bar_moved(pi, (int)(bar - pi->pi_bar), true, bar->addr);
}

/* Reflect bar->addr in the BAR register(s). */
static void pci_bar_sync_cfg(struct pci_devinst *pi, int idx)
{
	struct pcibar *bar = &pi->pi_bar[idx];
	switch (bar->type) {
	case PCIBAR_IO:
		pci_set_cfgdata32(pi, PCIR_BAR(idx), (uint32_t)bar->addr | PCIM_BAR_IO);
		break;
	case PCIBAR_MEM32:
		pci_set_cfgdata32(pi, PCIR_BAR(idx), (uint32_t)bar->addr);
		break;
	case PCIBAR_MEM64:
		pci_set_cfgdata32(pi, PCIR_BAR(idx), (uint32_t)bar->addr | PCIM_BAR_MEM_64);
		pci_set_cfgdata32(pi, PCIR_BAR(idx + 1), (uint32_t)(bar->addr >> 32));
		break;
	default:
		break;
	}
}

/* The guest wrote `val` to BAR register idx: keep the address bits the size allows. */
static void pci_bar_write(struct pci_devinst *pi, int idx, uint32_t val)
{
	struct pcibar *bar = &pi->pi_bar[idx];
	int lo = idx;
	uint64_t addr;
	switch (bar->type) {
	case PCIBAR_IO:
	case PCIBAR_MEM32:
		addr = (uint64_t)val & ~(bar->size - 1) & 0xFFFFFFFFULL;
		break;
	case PCIBAR_MEM64:
		addr = ((bar->addr & ~0xFFFFFFFFULL) | val) & ~(bar->size - 1);
		break;
	case PCIBAR_MEMHI64:
		lo = idx - 1;
		bar = &pi->pi_bar[lo];
		addr = (((uint64_t)val << 32) | (bar->addr & 0xFFFFFFFFULL)) & ~(bar->size - 1);
		break;
	default:
		return;                     /* unimplemented BARs read as zero */
	}
	if (addr != bar->addr) {
		pci_bar_unregister(pi, bar);
		bar->addr = addr;
		pci_bar_register(pi, bar);
	}
	pci_bar_sync_cfg(pi, lo);
}

/* Command register: decode enables (un)register the BARs; INTx disable gates the line. */
static void pci_cmd_write(struct pci_devinst *pi, uint16_t val)
{
	const uint16_t wmask = PCIM_CMD_PORTEN | PCIM_CMD_MEMEN | PCIM_CMD_BUSMASTEREN | 0x0040 |
			       PCIM_CMD_SERRESPEN | PCIM_CMD_INTxDIS;
	uint16_t old = pci_get_cfgdata16(pi, PCIR_COMMAND);
	uint16_t cmd = (uint16_t)((old & ~wmask) | (val & wmask));
	pci_set_cfgdata16(pi, PCIR_COMMAND, cmd);
	for (int i = 0; i <= PCI_BARMAX; i++) {
		struct pcibar *bar = &pi->pi_bar[i];
		if (pci_bar_decoding(pi, bar))
			pci_bar_register(pi, bar);
		else
			pci_bar_unregister(pi, bar);
	}
	if ((old ^ cmd) & PCIM_CMD_INTxDIS)
		pci_lintr_update(pi);
}

static uint64_t pci_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Take `size` bytes (aligned to size) from [*next, end): the address, or 0 if full. */
static uint64_t pci_window_take(uint64_t *next, uint64_t end, uint64_t size)
{
	uint64_t a = pci_align_up(*next, size);
	if (a < *next || a > end || size > end - a)
		return 0;
	*next = a + size;
	return a;
}

int pci_emul_alloc_bar(struct pci_devinst *pi, int idx, enum pcibar_type type, uint64_t size)
{
	struct pci_bus *st = pci_bus_of(pi);
	if (!st || idx < 0 || idx > PCI_BARMAX || size == 0 || pi->pi_bar[idx].type != PCIBAR_NONE ||
	    (type == PCIBAR_MEM64 && (idx == PCI_BARMAX || pi->pi_bar[idx + 1].type != PCIBAR_NONE)))
		return -1;
	uint64_t min = type == PCIBAR_IO ? 4 : 4096;
	if (size < min)
		size = min;
	if (size & (size - 1))
		size = 1ULL << (64 - __builtin_clzll(size));
	uint64_t addr = 0;
	switch (type) {
	case PCIBAR_IO:
		if (size > 0x100)           /* PCI caps I/O BARs at 256 ports */
			return -1;
		addr = pci_window_take(&st->io_next, PORT_PCI_IO_END, size);
		break;
	case PCIBAR_MEM32:
		addr = pci_window_take(&st->mem32_next, LAYOUT_PCI_MMIO32_END, size);
		break;
	case PCIBAR_MEM64:
		if (size <= PCI_MEM64_LOW_MAX)
			addr = pci_window_take(&st->mem32_next, LAYOUT_PCI_MMIO32_END, size);
		if (!addr)
			addr = pci_window_take(&st->mem64_next, st->mem64_end, size);
		break;
	default:
		return -1;
	}
	if (!addr)
		return -1;
	pi->pi_bar[idx] = (struct pcibar){ .type = type, .addr = addr, .size = size, .pi = pi,
					   .idx = idx };
	if (type == PCIBAR_MEM64)
		pi->pi_bar[idx + 1] = (struct pcibar){ .type = PCIBAR_MEMHI64, .size = size,
						       .pi = pi, .idx = idx + 1 };
	pci_bar_sync_cfg(pi, idx);
	/* As firmware would: the BAR is assigned, so turn its decode on. */
	uint16_t cmd = pci_get_cfgdata16(pi, PCIR_COMMAND);
	cmd |= type == PCIBAR_IO ? PCIM_CMD_PORTEN : PCIM_CMD_MEMEN;
	pci_set_cfgdata16(pi, PCIR_COMMAND, cmd);
	pci_bar_register(pi, &pi->pi_bar[idx]);
	return 0;
}

/* Sizing reads: a BAR register reads its address bits and type; all-ones writes leave the
 * size mask there because the address keeps only the bits above the size. */

/* ---- config space access ---- */

/* Bytes `mask` (bit n = byte n) of the dword at `dw` were written with `val`. */
static void pci_cfg_write_dword(struct pci_devinst *pi, int dw, uint32_t val, unsigned mask)
{
	uint32_t old = pci_get_cfgdata32(pi, dw), merged = old;
	for (int b = 0; b < 4; b++)
		if (mask & (1u << b))
			merged = (merged & ~(0xFFu << (8 * b))) | (val & (0xFFu << (8 * b)));
	if (dw == PCIR_COMMAND) {
		if (mask & 3)
			pci_cmd_write(pi, (uint16_t)merged);
	} else if (dw >= PCIR_BAR(0) && dw <= PCIR_BAR(PCI_BARMAX)) {
		pci_bar_write(pi, (dw - PCIR_BAR(0)) / 4, merged);
	} else if (dw == PCIR_CACHELNSZ) {
		if (mask & 1)
			pci_set_cfgdata8(pi, PCIR_CACHELNSZ, (uint8_t)merged);
		if (mask & 2)
			pci_set_cfgdata8(pi, PCIR_LATTIMER, (uint8_t)(merged >> 8));
	} else if (dw == PCIR_INTLINE) {
		if (mask & 1)
			pci_set_cfgdata8(pi, PCIR_INTLINE, (uint8_t)merged);
	} else if (dw >= 0x40) {
		pci_cap_write(pi, dw, old, merged);
	}
	/* Everything else in the header is read-only (IDs, class, status, header type...). */
}

static void pci_cfg_rw_dev(struct pci_devinst *pi, int reg, int bytes, uint32_t *val, bool write)
{
	const struct pci_devemu *pe = pi->pi_d;
	if (!write) {
		if (pe->pe_cfgread && pe->pe_cfgread(pi, reg, bytes, val) == 0)
			return;
		uint32_t dw = pci_get_cfgdata32(pi, reg & ~3);
		*val = dw >> (8 * (reg & 3));
		return;
	}
	if (pe->pe_cfgwrite && pe->pe_cfgwrite(pi, reg, bytes, *val) == 0)
		return;
	unsigned mask = ((1u << bytes) - 1) << (reg & 3);
	pci_cfg_write_dword(pi, reg & ~3, *val << (8 * (reg & 3)), mask);
}

static void pci_bus_cfg_access(struct pci_bus *st, int bus, int slot, int func, int reg,
			       int bytes, uint32_t *val, bool write)
{
	uint32_t vmask = bytes == 4 ? 0xFFFFFFFFu : (1u << (8 * bytes)) - 1;
	if ((bytes != 1 && bytes != 2 && bytes != 4) || reg < 0 || reg >= PCI_CFG_SIZE ||
	    (reg & (bytes - 1))) {
		if (!write)
			*val = vmask;   /* malformed: as if nobody answered */
		return;
	}
	if (st)
		pthread_mutex_lock(&st->lock);
	struct pci_devinst *pi = pci_bus_dev(st, bus, slot, func);
	if (!pi) {
		if (!write)
			*val = vmask;   /* master abort */
	} else {
		if (write)
			*val &= vmask;
		pci_cfg_rw_dev(pi, reg, bytes, val, write);
		if (!write)
			*val &= vmask;
	}
	if (st)
		pthread_mutex_unlock(&st->lock);
}

void pci_cfg_access(struct vm *vm, int bus, int slot, int func, int reg, int bytes,
		    uint32_t *val, bool write)
{
	pci_bus_cfg_access(vm ? vm_pci_bus(vm) : NULL, bus, slot, func, reg, bytes, val, write);
}

/* 0xCF8: the address register, dword accesses only (byte 0xCF9 is the reset register). */
static int pci_cf8_handler(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
			   void *arg)
{
	struct pci_bus *st = arg;
	if (bytes != 4) {
		if (in)
			*eax = 0xFFFFFFFFu;
		return 0;
	}
	if (in)
		*eax = st->cf8;
	else
		st->cf8 = *eax & 0x80FFFFFCu;   /* enable, bus, device, function, register */
	return 0;
}

/* 0xCFC-0xCFF: data for the register the address names; nothing when its enable bit is 0. */
static int pci_cfc_handler(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
			   void *arg)
{
	struct pci_bus *st = arg;
	uint32_t a = st->cf8;
	int reg = (int)(a & 0xFC) | (port & 3);
	if (!(a & 0x80000000u) || (reg & 3) + bytes > 4) {
		if (in)
			*eax = 0xFFFFFFFFu;
		return 0;
	}
	pci_bus_cfg_access(st, (int)(a >> 16) & 0xFF, (int)(a >> 11) & 0x1F, (int)(a >> 8) & 7,
			   reg, bytes, eax, !in);
	return 0;
}

/* ECAM: bus[27:20] device[19:15] function[14:12] register[11:0]; 8-byte accesses as two. */
static int pci_ecam_handler(struct vcpu *vcpu, int dir, uint64_t addr, int size, uint64_t *val,
			    void *arg1, long arg2)
{
	struct pci_bus *st = arg1;
	uint64_t off = addr - st->ecam.base;
	int bus = (int)(off >> 20) & 0xFF, slot = (int)(off >> 15) & 0x1F, fn = (int)(off >> 12) & 7;
	int reg = (int)(off & 0xFFF);
	bool write = dir == MEM_F_WRITE;
	if (size == 8) {
		uint32_t lo = (uint32_t)*val, hi = (uint32_t)(*val >> 32);
		pci_bus_cfg_access(st, bus, slot, fn, reg, 4, &lo, write);
		pci_bus_cfg_access(st, bus, slot, fn, reg + 4, 4, &hi, write);
		if (!write)
			*val = lo | (uint64_t)hi << 32;
		return 0;
	}
	uint32_t v = (uint32_t)*val;
	pci_bus_cfg_access(st, bus, slot, fn, reg, size, &v, write);
	if (!write)
		*val = v;
	return 0;
}

int pci_ecam_set_base(struct vm *vm, uint64_t base)
{
	struct pci_bus *st = vm ? vm_pci_bus(vm) : NULL;
	int rc = 0;

	if (!st || (base & (LAYOUT_PCI_ECAM_SIZE - 1)))
		return -1;
	pthread_mutex_lock(&st->lock);
	if (st->ecam_registered && st->ecam.base == base) {
		pthread_mutex_unlock(&st->lock);
		return 0;
	}
	bool was = st->ecam_registered;
	uint64_t old = st->ecam.base;
	if (was)
		unregister_mem(st->vm, &st->ecam);
	st->ecam_registered = false;
	if (base) {
		st->ecam.base = base;
		if (register_mem(st->vm, &st->ecam) == 0) {
			st->ecam_registered = true;
		} else {
			rc = -1;
			st->ecam.base = old;
			st->ecam_registered = was && register_mem(st->vm, &st->ecam) == 0;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

uint64_t pci_ecam_base(struct vm *vm)
{
	struct pci_bus *st = vm ? vm_pci_bus(vm) : NULL;

	return st && st->ecam_registered ? st->ecam.base : 0;
}

/* ---- start-up ---- */

static struct pci_devinst *pci_devinst_new(struct vm *vm, const struct pci_devemu *pe, int bus,
					   int slot, int func)
{
	struct pci_devinst *pi = calloc(1, sizeof(*pi));
	if (!pi)
		return NULL;
	pi->pi_d = pe;
	pi->pi_vm = vm;
	pi->pi_bus = (uint8_t)bus;
	pi->pi_slot = (uint8_t)slot;
	pi->pi_func = (uint8_t)func;
	snprintf(pi->pi_name, sizeof(pi->pi_name), "%s@%d:%d:%d", pe->pe_emu, bus, slot, func);
	pi->pi_capend = 0x40;
	pci_set_cfgdata8(pi, PCIR_INTLINE, 0xFF);   /* not connected until pci_lintr_request */
	return pi;
}

struct pci_init_walk {
	struct vm *vm;
	int bus, slot;
	char *err;
	size_t errlen;
	int depth;
};

static int pci_init_one(struct pci_init_walk *w, int func, config_node_t *node)
{
	const char *name = config_node_get(node, "device");
	const struct pci_devemu *pe = name ? pci_emul_finddev(name) : NULL;
	if (!pe) {
		snprintf(w->err, w->errlen, "pci.%d.%d.%d: unknown device '%s'", w->bus, w->slot,
			 func, name ? name : "");
		return -1;
	}
	if (pe->pe_unimplemented) {
		snprintf(w->err, w->errlen, "%s at %d:%d:%d: not implemented (this emulation is "
			 "parsed and validated only)", pe->pe_emu, w->bus, w->slot, func);
		return -1;
	}
	struct pci_devinst *pi = pci_devinst_new(w->vm, pe, w->bus, w->slot, func);
	if (!pi) {
		snprintf(w->err, w->errlen, "%s: out of memory", pe->pe_emu);
		return -1;
	}
	vm_pci_bus(w->vm)->dev[w->bus][w->slot][func] = pi;
	char msg[PCI_ERRLEN] = "";
	if (pe->pe_init && pe->pe_init(pi, node, msg, sizeof(msg)) < 0) {
		snprintf(w->err, w->errlen, "%s at %d:%d:%d: %s", pe->pe_emu, w->bus, w->slot, func,
			 msg[0] ? msg : "initialisation failed");
		return -1;
	}
	return 0;
}

static int pci_parse_index(const char *s, int max)
{
	char *end;
	long v = strtol(s, &end, 10);
	return (*s && !*end && v >= 0 && v < max) ? (int)v : -1;
}

/* pci.B.S.F walk: each level's children are numbers; leaves below F are the device's keys. */
static int pci_init_walk_fn(const char *name, config_node_t *child, const char *value, void *arg)
{
	struct pci_init_walk *w = arg;
	int max = w->depth == 0 ? PCI_MAXBUS : w->depth == 1 ? PCI_MAXSLOT : PCI_MAXFUNC;
	int n = pci_parse_index(name, max);
	if (!child || n < 0)
		return 0;                   /* validated earlier; ignore stray keys */
	if (w->depth == 2)
		return pci_init_one(w, n, child);
	if (w->depth == 0)
		w->bus = n;
	else
		w->slot = n;
	w->depth++;
	int rc = config_node_foreach(child, pci_init_walk_fn, w);
	w->depth--;
	return rc;
}

/* Function 0 of a slot with several functions says so in its header type. */
static void pci_mark_multifunction(struct pci_bus *st)
{
	for (int b = 0; b < PCI_MAXBUS; b++)
		for (int s = 0; s < PCI_MAXSLOT; s++) {
			struct pci_devinst *f0 = st->dev[b][s][0];
			if (!f0)
				continue;
			for (int f = 1; f < PCI_MAXFUNC; f++)
				if (st->dev[b][s][f])
					pci_set_cfgdata8(f0, PCIR_HDRTYPE, (uint8_t)(pci_get_cfgdata8(
						f0, PCIR_HDRTYPE) | PCIM_HDRTYPE_MFDEV));
		}
}

static int pci_bus_register_ports(struct vm *vm, struct pci_bus *st, char *err,
				  size_t errlen)
{
	st->cf8_port = (struct inout_port){ "pci-cf8", PORT_PCI_CONFIG_ADDR, 1, IOPORT_F_INOUT,
					    pci_cf8_handler, st };
	st->cfc_port = (struct inout_port){ "pci-cfc", PORT_PCI_CONFIG_DATA, 4, IOPORT_F_INOUT,
					    pci_cfc_handler, st };
	st->ecam = (struct mem_range){ "pci-ecam", MEM_F_RW, pci_ecam_handler, st, 0,
				       LAYOUT_PCI_ECAM_BASE, LAYOUT_PCI_ECAM_SIZE };
	if (register_inout(vm, &st->cf8_port) < 0) {
		snprintf(err, errlen, "cannot register port 0x%x: %s", PORT_PCI_CONFIG_ADDR,
			 strerror(errno));
		return -1;
	}
	st->cf8_registered = true;
	if (register_inout(vm, &st->cfc_port) < 0) {
		snprintf(err, errlen, "cannot register ports 0x%x-0x%x: %s", PORT_PCI_CONFIG_DATA,
			 PORT_PCI_CONFIG_DATA + 3, strerror(errno));
		return -1;
	}
	st->cfc_registered = true;
	if (register_mem(vm, &st->ecam) < 0) {
		snprintf(err, errlen, "cannot register the ECAM window: %s", strerror(errno));
		return -1;
	}
	st->ecam_registered = true;
	return 0;
}

int pci_bus_init(struct vm *vm, char *err, size_t errlen)
{
	if (vm_pci_bus(vm)) {
		snprintf(err, errlen, "the PCI bus is already set up");
		return -1;
	}
	struct pci_bus *st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&st->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	st->vm = vm;
	/* pc-testdev's interrupt-line ports sit at the start of the I/O window (as in QEMU and
	 * FreeBSD): BARs then start after them. */
	st->io_next = config_get_bool("lpc.pc-testdev", false) ? PORT_PCI_IO_BASE_TESTDEV
								: PORT_PCI_IO_BASE;
	st->mem32_next = LAYOUT_PCI_MMIO32_BASE;
	st->mem64_next = LAYOUT_PCI_MMIO64_BASE(vm_highmem_size(vm));
	st->mem64_end = st->mem64_next + LAYOUT_PCI_MMIO64_SIZE;
	vm_set_pci_bus(vm, st);
	if (pci_bus_register_ports(vm, st, err, errlen) < 0) {
		pci_bus_fini(vm);
		return -1;
	}
	config_node_t *root = config_find_node("pci");
	struct pci_init_walk w = { vm, 0, 0, err, errlen, 0 };
	if (root && config_node_foreach(root, pci_init_walk_fn, &w) != 0) {
		pci_bus_fini(vm);
		return -1;
	}
	pci_mark_multifunction(st);
	return 0;
}

void pci_bus_fini(struct vm *vm)
{
	struct pci_bus *st = vm_pci_bus(vm);
	if (!st)
		return;
	for (int b = 0; b < PCI_MAXBUS; b++)
		for (int s = 0; s < PCI_MAXSLOT; s++)
			for (int f = 0; f < PCI_MAXFUNC; f++) {
				struct pci_devinst *pi = st->dev[b][s][f];
				if (!pi)
					continue;
				if (pi->pi_d->pe_deinit)
					pi->pi_d->pe_deinit(pi);
				for (int i = 0; i <= PCI_BARMAX; i++)
					pci_bar_unregister(pi, &pi->pi_bar[i]);
				pci_lintr_deassert(pi);
				free(pi->pi_msix.table);
				free(pi->pi_msix.pba);
				free(pi);
			}
	if (st->cf8_registered)
		unregister_inout(vm, &st->cf8_port);
	if (st->cfc_registered)
		unregister_inout(vm, &st->cfc_port);
	if (st->ecam_registered)
		unregister_mem(vm, &st->ecam);
	vm_set_pci_bus(vm, NULL);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* bhyve start-up: the bus and its devices come after the platform, before the firmware
 * tables. */
static const struct vm_init_step pci_bus_step = {
	"PCI devices", VM_STEP_PCI, pci_bus_init, pci_bus_fini };
VM_INIT_STEP(pci_bus_step);
