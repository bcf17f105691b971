/*
 * The local APIC (xAPIC page): ICR IPIs, LVTs, timer (one-shot, periodic, divide), EOI, TPR.
 * A hostile guest program (fuzz_dev.h) against the platform of a VM with no CPU.
 */
#include "fuzz_dev.h"

static const struct fz_window fz_win[] = {
	{ FZ_MMIO, LAYOUT_LAPIC_BASE, 0x1000, 0, 0, 0 },
};

const struct fz_target fz_target = { NULL, false, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
