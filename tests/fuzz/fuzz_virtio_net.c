/*
 * virtio-net on a slirp backend: the transport, the RX/TX/control queues and their headers.
 * A hostile guest program (fuzz_dev.h) against the device on a VM's PCI bus at 0:4:0.
 */
#include "fuzz_dev.h"

static void fz_configure(void)
{
	config_set("pci.0.4.0.device", "virtio-net");
	config_set("pci.0.4.0.backend", "slirp");
}

static const struct fz_window fz_win[] = {
	{ FZ_BAR, 0, 0, 4, 0, 0 },    /* legacy I/O registers */
	{ FZ_BAR, 0, 0, 4, 0, 1 },    /* MSI-X table and PBA */
	{ FZ_BAR, 0, 0, 4, 0, 4 },    /* modern: common, ISR, device, notify */
};

const struct fz_target fz_target = { fz_configure, true, fz_win, sizeof(fz_win) / sizeof(fz_win[0]), NULL };
