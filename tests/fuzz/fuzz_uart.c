/*
 * The 16550 UART (COM1 on a pseudo-terminal): divisor latch, FIFOs, interrupt identification,
 * modem control and loopback, scratch register.
 * A hostile guest program (fuzz_dev.h) against COM1 of the LPC bridge (fuzz_lpc.h).
 */
#include "fuzz_lpc.h"

static const struct fz_window fz_win[] = {
	{ FZ_PIO, PORT_COM1, 8, 0, 0, 0 },
};

const struct fz_target fz_target = { fz_lpc_configure, true, fz_win, 1, NULL };
