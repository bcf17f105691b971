/*
 * Shared by the device fuzz targets: each input is a hostile guest program, run against a
 * fresh VM with its platform (and PCI bus, when the target configures devices) built by the
 * unit tests' scaffolding (tests/unit/plat_test.h), with no CPU.  The program is a sequence
 * of records that reach the devices through their real entry points: port I/O and MMIO
 * dispatch, PCI configuration accesses, guest RAM contents (the DMA the device reads), and
 * guest time.  A target names its register windows and its configuration; the rest is here.
 *
 * Record layout (little-endian; a truncated record ends the program):
 *   op byte: bits 0-2 kind, bits 3-4 access size (1, 2, 4, 8 bytes), bits 5-7 window
 *   FZ_WRITE  op, offset u32 (modulo the window), value u64
 *   FZ_READ   op, offset u32
 *   FZ_CFGW   op, register u16 (modulo 4096), value u32     (PCI function of the window)
 *   FZ_CFGR   op, register u16
 *   FZ_RAM    op, guest-physical address u32 (modulo FZ_RAM_WINDOW), length u8, bytes
 *   FZ_TIME   op, milliseconds u8 (guest time; timers due by then fire)
 *   FZ_WAIT   op (gives the device's worker threads a moment)
 *   FZ_FILL   op, gpa u32 (modulo FZ_RAM_WINDOW), length u16, byte (memset)
 * The program is padded with nothing and all values come from the input; a window's address
 * is read from the BAR each time, so a program that moves or disables a BAR is followed.
 */
#ifndef BHYVE_FUZZ_DEV_H
#define BHYVE_FUZZ_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pci/pci_devinst.h"
#include "plat_test.h"

/* The low part of guest RAM a program can fill (device tests put rings and buffers here). */
#define FZ_RAM_WINDOW (4u << 20)
/* Records per input: keeps one execution short whatever the input length. */
#define FZ_MAX_OPS    4096

enum { FZ_WRITE, FZ_READ, FZ_CFGW, FZ_CFGR, FZ_RAM, FZ_TIME, FZ_WAIT, FZ_FILL };

enum fz_win_kind { FZ_PIO, FZ_MMIO, FZ_BAR };

/* A register window: fixed ports or MMIO range, or BAR `bar` of PCI function 0:slot:func. */
struct fz_window {
	enum fz_win_kind kind;
	uint64_t base, size;       /* FZ_PIO / FZ_MMIO; size also bounds offsets of FZ_BAR */
	int slot, func, bar;
};

struct fz_target {
	/* Sets config keys (after config_reset) for the devices under test; may be NULL. */
	void (*configure)(void);
	bool pci;                  /* build the PCI bus (pci_bus_init) */
	const struct fz_window *win;
	int nwin;
	/* Called after the program with the VM still up (extra checks); may be NULL. */
	void (*after)(struct vm *vm);
};

/* Implemented by each device target. */
extern const struct fz_target fz_target;

/* Scratch files the configurations name (a disk image, a boot ROM, a variable store): created
 * once per process, reused by every input, removed at exit. */
#define FZ_NFILES 4
static char fz_files[FZ_NFILES][64];

static inline void fz_rm_files(void)
{
	for (int i = 0; i < FZ_NFILES; i++)
		if (fz_files[i][0])
			unlink(fz_files[i]);
}

static inline const char *fz_file(int i, uint64_t size)
{
	if (!fz_files[i][0]) {
		snprintf(fz_files[i], sizeof(fz_files[i]), "/tmp/bhyve-fuzz-%d.%d", (int)getpid(), i);
		int fd = open(fz_files[i], O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
			abort();
		close(fd);
		atexit(fz_rm_files);
	}
	return fz_files[i];
}

/* A 1 MiB disk image (zeros; the guest writes what it likes). */
static inline const char *fz_disk(void) { return fz_file(0, 1 << 20); }

struct fz_in {
	const uint8_t *p;
	size_t n;
};

static inline bool fz_take(struct fz_in *in, void *out, size_t len)
{
	if (in->n < len)
		return false;
	memcpy(out, in->p, len);
	in->p += len;
	in->n -= len;
	return true;
}

/* The current address of window w, or false when it does not decode now. */
static inline bool fz_win_addr(struct vm *vm, const struct fz_window *w, uint64_t *base,
			       uint64_t *size, bool *pio)
{
	if (w->kind != FZ_BAR) {
		*base = w->base;
		*size = w->size;
		*pio = w->kind == FZ_PIO;
		return true;
	}
	struct pci_devinst *pi = pci_bus_find(vm, 0, w->slot, w->func);
	if (!pi || w->bar < 0 || w->bar > PCI_BARMAX || !pi->pi_bar[w->bar].size)
		return false;
	const struct pcibar *b = &pi->pi_bar[w->bar];
	*base = b->addr;
	*size = b->size;
	*pio = b->type == PCIBAR_IO;
	return true;
}

static inline void fz_access(struct vm *vm, const struct fz_window *w, bool wr, uint32_t off,
			     int size, uint64_t v)
{
	uint64_t base, wsize;
	bool pio;
	if (!fz_win_addr(vm, w, &base, &wsize, &pio) || !wsize)
		return;
	uint64_t a = base + off % wsize;
	if (pio) {
		if (size == 8)
			size = 4;
		uint32_t v32 = (uint32_t)v;
		inout_dispatch(vm_vcpu(vm, 0), wr ? 0 : 1, (uint16_t)a, size, &v32);
	} else {
		mmio_dispatch(vm_vcpu(vm, 0), wr ? MEM_F_WRITE : MEM_F_READ, a, size, &v);
	}
}

static inline void fz_cfg(struct vm *vm, const struct fz_window *w, bool wr, uint16_t reg,
			  int size, uint32_t v)
{
	if (w->kind != FZ_BAR || size == 8)
		size = 4;
	int slot = w->kind == FZ_BAR ? w->slot : 0, func = w->kind == FZ_BAR ? w->func : 0;
	/* An aligned access inside the 4 KiB extended space, as the config mechanisms deliver. */
	int reg_a = (reg % 4096) & ~(size - 1);
	pci_cfg_access(vm, 0, slot, func, reg_a, size, &v, wr);
}

static inline bool fz_ram_op(struct vm *vm, struct fz_in *in, bool fill)
{
	uint32_t gpa;
	uint8_t len8, byte;
	uint16_t len16;
	if (!fz_take(in, &gpa, 4))
		return false;
	gpa %= FZ_RAM_WINDOW;
	if (fill) {
		if (!fz_take(in, &len16, 2) || !fz_take(in, &byte, 1))
			return false;
		size_t len = len16 < FZ_RAM_WINDOW - gpa ? len16 : FZ_RAM_WINDOW - gpa;
		memset(vm_map_gpa(vm, gpa, len), byte, len);
		return true;
	}
	if (!fz_take(in, &len8, 1))
		return false;
	size_t len = len8 < in->n ? len8 : in->n;
	if (len > FZ_RAM_WINDOW - gpa)
		len = FZ_RAM_WINDOW - gpa;
	memcpy(vm_map_gpa(vm, gpa, len), in->p, len);
	in->p += len;
	in->n -= len;
	return true;
}

/* One record; false at the end of the input. */
static inline bool fz_step(struct vm *vm, struct fz_in *in)
{
	uint8_t op;
	if (!fz_take(in, &op, 1))
		return false;
	int kind = op & 7, size = 1 << ((op >> 3) & 3);
	const struct fz_window *w = &fz_target.win[(op >> 5) % fz_target.nwin];
	uint32_t off, v32;
	uint64_t v;
	uint16_t reg;
	uint8_t ms;
	switch (kind) {
	case FZ_WRITE:
		if (!fz_take(in, &off, 4) || !fz_take(in, &v, 8))
			return false;
		fz_access(vm, w, true, off, size, v);
		return true;
	case FZ_READ:
		if (!fz_take(in, &off, 4))
			return false;
		fz_access(vm, w, false, off, size, 0);
		return true;
	case FZ_CFGW:
		if (!fz_take(in, &reg, 2) || !fz_take(in, &v32, 4))
			return false;
		if (fz_target.pci)
			fz_cfg(vm, w, true, reg, size, v32);
		return true;
	case FZ_CFGR:
		if (!fz_take(in, &reg, 2))
			return false;
		if (fz_target.pci)
			fz_cfg(vm, w, false, reg, size, 0);
		return true;
	case FZ_RAM:
	case FZ_FILL:
		return fz_ram_op(vm, in, kind == FZ_FILL);
	case FZ_TIME:
		if (!fz_take(in, &ms, 1))
			return false;
		pt_sleep_ms(ms);
		return true;
	default:
		nanosleep(&(struct timespec){ 0, 200000L }, NULL);
		return true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	config_reset();
	if (fz_target.configure)
		fz_target.configure();
	struct vm *vm = pt_vm_create(1);
	if (!vm)
		abort();
	if (fz_target.pci && pci_bus_init(vm, err, sizeof(err)) < 0) {
		fprintf(stderr, "pci_bus_init: %s\n", err);
		abort();
	}
	struct fz_in in = { data, size };
	for (int i = 0; i < FZ_MAX_OPS && fz_step(vm, &in); i++)
		;
	if (fz_target.after)
		fz_target.after(vm);
	if (fz_target.pci)
		pci_bus_fini(vm);
	pt_vm_free(vm);
	return 0;
}

#endif
