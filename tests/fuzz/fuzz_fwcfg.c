/*
 * QEMU's fw_cfg: selector and data ports, the DMA interface (descriptors in guest RAM: read,
 * skip, select, write), the file directory and the ACPI table loader items.
 * A hostile guest program (fuzz_dev.h) against fw_cfg of the LPC bridge (fuzz_lpc.h).
 */
#include "fuzz_lpc.h"

static const struct fz_window fz_win[] = {
	{ FZ_PIO, PORT_FWCFG_SEL, 2, 0, 0, 0 },
	{ FZ_PIO, PORT_FWCFG_DMA, 8, 0, 0, 0 },
};

const struct fz_target fz_target = { fz_lpc_configure, true, fz_win, 2, NULL };
