/*
 * PCI configuration space: mechanism #1 (0xCF8/0xCFC) and ECAM, header and BAR writes (sizing,
 * moving, decode on/off), capability lists, MSI and MSI-X capabilities and the MSI-X table,
 * INTx disable, on the host bridge, a virtio function (MSI-X), AHCI (MSI) and the LPC bridge.
 * A hostile guest program (fuzz_dev.h); CFGW/CFGR records go to the window's function.
 */
#include "fuzz_dev.h"

static void fz_configure(void)
{
	config_set("pci.0.0.0.device", "hostbridge");
	config_set("pci.0.4.0.device", "virtio-rnd");
	config_set("pci.0.5.0.device", "ahci");
	config_set("pci.0.5.0.port.0.type", "hd");
	config_set("pci.0.5.0.port.0.path", fz_disk());
	config_set("pci.0.31.0.device", "lpc");
}

static const struct fz_window fz_win[] = {
	{ FZ_BAR, 0, 0, 0, 0, 0 },                         /* host bridge (no BARs) */
	{ FZ_BAR, 0, 0, 4, 0, 1 },                         /* virtio: MSI-X table */
	{ FZ_BAR, 0, 0, 4, 0, 4 },                         /* virtio: modern BAR */
	{ FZ_BAR, 0, 0, 5, 0, 5 },                         /* AHCI: ABAR */
	{ FZ_BAR, 0, 0, 31, 0, 0 },                        /* LPC bridge */
	{ FZ_PIO, PORT_PCI_CONFIG_ADDR, 8, 0, 0, 0 },      /* mechanism #1 */
	{ FZ_MMIO, LAYOUT_PCI_ECAM_BASE, 0x100000, 0, 0, 0 },  /* ECAM, bus 0 */
	{ FZ_BAR, 0, 0, 6, 0, 0 },                         /* an empty slot */
};

const struct fz_target fz_target = { fz_configure, true, fz_win, 8, NULL };
