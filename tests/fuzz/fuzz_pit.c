/*
 * The 8254 PIT: control words, latches, read-back, every mode, channel 2 gate (port 0x61).
 * A hostile guest program (fuzz_dev.h) against the platform of a VM with no CPU.
 */
#include "fuzz_dev.h"

static const struct fz_window fz_win[] = {
	{ FZ_PIO, PORT_PIT, 4, 0, 0, 0 },
	{ FZ_PIO, PORT_NMI_SC, 1, 0, 0, 0 },
};

const struct fz_target fz_target = { NULL, false, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
