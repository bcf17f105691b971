/*
 * The HPET: configuration, counter, timers (periodic, 32-bit, FSB), interrupt routing.
 * A hostile guest program (fuzz_dev.h) against the platform of a VM with no CPU.
 */
#include "fuzz_dev.h"

static const struct fz_window fz_win[] = {
	{ FZ_MMIO, LAYOUT_HPET_BASE, 0x400, 0, 0, 0 },
};

const struct fz_target fz_target = { NULL, false, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
