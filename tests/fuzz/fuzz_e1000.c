/*
 * e1000 on a slirp backend: registers, EEPROM/PHY, TX descriptor rings and offload contexts.
 * A hostile guest program (fuzz_dev.h) against the device on a VM's PCI bus at 0:4:0.
 */
#include "fuzz_dev.h"

static void fz_configure(void)
{
	config_set("pci.0.4.0.device", "e1000");
	config_set("pci.0.4.0.backend", "slirp");
}

static const struct fz_window fz_win[] = {
	{ FZ_BAR, 0, 0, 4, 0, 0 },    /* registers (MMIO) */
	{ FZ_BAR, 0, 0, 4, 0, 2 },    /* IOADDR/IODATA (I/O) */
};

const struct fz_target fz_target = { fz_configure, true, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
