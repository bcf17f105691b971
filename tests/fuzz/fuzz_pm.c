/*
 * ACPI fixed hardware: PM1 event/control (sleep states), PM timer, SMI_CMD, the 0xCF9 reset.
 * A hostile guest program (fuzz_dev.h) against the platform of a VM with no CPU.
 */
#include "fuzz_dev.h"

static const struct fz_window fz_win[] = {
	{ FZ_PIO, PORT_PM1A_EVT, 8, 0, 0, 0 },
	{ FZ_PIO, PORT_PM_TMR, 4, 0, 0, 0 },
	{ FZ_PIO, PORT_SMI_CMD, 1, 0, 0, 0 },
	{ FZ_PIO, PORT_RESET_CF9 - 1, 8, 0, 0, 0 },
};

const struct fz_target fz_target = { NULL, false, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
