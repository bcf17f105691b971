/*
 * xHCI with a USB tablet: registers, command/event/transfer rings, contexts, control transfers.
 * A hostile guest program (fuzz_dev.h) against the device on a VM's PCI bus at 0:4:0.
 */
#include "fuzz_dev.h"

static void fz_configure(void)
{
	config_set("pci.0.4.0.device", "xhci");
	config_set("pci.0.4.0.slot.1.device", "tablet");
}

static const struct fz_window fz_win[] = {
	{ FZ_BAR, 0, 0, 4, 0, 0 },    /* capability, operational, runtime, doorbell registers */
};

const struct fz_target fz_target = { fz_configure, true, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
