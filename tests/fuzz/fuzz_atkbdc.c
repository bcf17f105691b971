/*
 * The i8042 keyboard controller: commands, command byte, output port, pulse reset.
 * A hostile guest program (fuzz_dev.h) against the platform of a VM with no CPU.
 */
#include "fuzz_dev.h"

static const struct fz_window fz_win[] = {
	{ FZ_PIO, PORT_KBD_DATA, 1, 0, 0, 0 },
	{ FZ_PIO, PORT_KBD_CMD, 1, 0, 0, 0 },
};

const struct fz_target fz_target = { NULL, false, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
