/*
 * AHCI with a disk and a CD: HBA/port registers, command lists, FISes, PRDs, ATA/ATAPI commands.
 * A hostile guest program (fuzz_dev.h) against the device on a VM's PCI bus at 0:4:0.
 */
#include "fuzz_dev.h"

static void fz_configure(void)
{
	config_set("pci.0.4.0.device", "ahci");
	config_set("pci.0.4.0.port.0.type", "hd");
	config_set("pci.0.4.0.port.0.path", fz_disk());
	config_set("pci.0.4.0.port.1.type", "cd");
	config_set("pci.0.4.0.port.1.path", fz_disk());
}

static const struct fz_window fz_win[] = {
	{ FZ_BAR, 0, 0, 4, 0, 5 },    /* ABAR: HBA and port registers */
};

const struct fz_target fz_target = { fz_configure, true, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
