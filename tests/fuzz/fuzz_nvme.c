/*
 * NVMe: controller registers, admin and I/O queues, PRP lists, commands.
 * A hostile guest program (fuzz_dev.h) against the device on a VM's PCI bus at 0:4:0.
 */
#include "fuzz_dev.h"

static void fz_configure(void)
{
	config_set("pci.0.4.0.device", "nvme");
	config_set("pci.0.4.0.path", fz_disk());
	config_set("pci.0.4.0.maxq", "2");
	config_set("pci.0.4.0.qsz", "64");
}

static const struct fz_window fz_win[] = {
	{ FZ_BAR, 0, 0, 4, 0, 0 },    /* controller registers and doorbells */
	{ FZ_BAR, 0, 0, 4, 0, 4 },    /* MSI-X table and PBA (if there) */
};

const struct fz_target fz_target = { fz_configure, true, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
