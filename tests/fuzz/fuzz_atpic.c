/*
 * The 8259 pair: ICW/OCW sequences, poll, special mask, rotation, ELCR.
 * A hostile guest program (fuzz_dev.h) against the platform of a VM with no CPU.
 */
#include "fuzz_dev.h"

static const struct fz_window fz_win[] = {
	{ FZ_PIO, PORT_PIC1, 2, 0, 0, 0 },
	{ FZ_PIO, PORT_PIC2, 2, 0, 0, 0 },
	{ FZ_PIO, PORT_ELCR, 2, 0, 0, 0 },
};

const struct fz_target fz_target = { NULL, false, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
