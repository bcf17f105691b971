/*
 * The boot ROM and the CFI flash variable store below it: read-array, CFI query, status,
 * program and block-erase command sequences, accesses of every width and alignment.
 * A hostile guest program (fuzz_dev.h) against the flash of the LPC bridge (fuzz_lpc.h).
 */
#include "fuzz_lpc.h"

static const struct fz_window fz_win[] = {
	{ FZ_MMIO, LAYOUT_BOOTROM_END - FZ_ROM_SIZE - FZ_VARS_SIZE, FZ_VARS_SIZE, 0, 0, 0 },
	{ FZ_MMIO, LAYOUT_BOOTROM_END - FZ_ROM_SIZE, FZ_ROM_SIZE, 0, 0, 0 },
};

const struct fz_target fz_target = { fz_lpc_configure, true, fz_win, 2, NULL };
