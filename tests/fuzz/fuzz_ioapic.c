/*
 * The IOAPIC: index/window registers, redirection entries, EOI register.
 * A hostile guest program (fuzz_dev.h) against the platform of a VM with no CPU.
 */
#include "fuzz_dev.h"

static const struct fz_window fz_win[] = {
	{ FZ_MMIO, LAYOUT_IOAPIC_BASE, 0x20, 0, 0, 0 },
	{ FZ_MMIO, LAYOUT_IOAPIC_BASE + 0x40, 0x4, 0, 0, 0 },
};

const struct fz_target fz_target = { NULL, false, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
