/*
 * The MC146818 RTC/CMOS: index and data ports, registers A-D, alarms, periodic interrupts.
 * A hostile guest program (fuzz_dev.h) against the platform of a VM with no CPU.
 */
#include "fuzz_dev.h"

static const struct fz_window fz_win[] = {
	{ FZ_PIO, PORT_RTC, 2, 0, 0, 0 },
};

const struct fz_target fz_target = { NULL, false, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
