/*
 * virtio-scsi (-s N,virtio-scsi,/dev/cam/ctl[pp.vp][,iid=N] on FreeBSD; -s N,virtio-scsi,PATH
 * [,iid=N] here).
 *
 * On FreeBSD the device forwards SCSI commands to a port of the kernel's CAM Target Layer.
 * Linux has no CTL: here the target is emulated in-process from an image file or block device
 * given in place of the CTL port.  Keys as in bhyve: dev (the CTL port, here the image path),
 * iid (initiator ID, default 0).  A /dev/cam/ctl[pp.vp] device is parsed and checked, then
 * refused with a message saying so.
 */
#include "pci/pci_emul.h"

#include <stdlib.h>
#include <string.h>

#include "common/devconf.h"
#include "pci/pci_devinst.h"
#include "pci/virtio_scsi.h"
#include "pci/virtio_pci_bus.h"
#include "common/parse.h"

#define VTSCSI_CTL "/dev/cam/ctl"
#define VTSCSI_IID_MAX 0xffff

static int vtscsi_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	const char *rest;
	char *dev;
	int rc = 0;

	if (!opts || !*opts)
		return 0;
	dev = devconf_first_token(opts, &rest);
	if (strchr(dev, '='))
		rest = opts;
	else
		rc = config_node_set(nvl, "dev", dev);
	free(dev);
	if (rc == 0 && rest)
		rc = pci_parse_legacy_kv(nvl, rest, err, errlen);
	return rc;
}

/* "/dev/cam/ctl" or "/dev/cam/ctlPP.VP" (port and virtual port numbers). */
static bool vtscsi_dev_ok(const char *dev)
{
	size_t n = strlen(VTSCSI_CTL);
	const char *dot;
	uint64_t pp, vp;
	char *ps;
	int rc;

	if (strncmp(dev, VTSCSI_CTL, n))
		return false;
	if (dev[n] == '\0')
		return true;
	dot = strchr(dev + n, '.');
	if (!dot)
		return false;
	ps = strndup(dev + n, (size_t)(dot - dev - n));
	if (!ps)
		abort();
	rc = parse_num(ps, 10, 0, 0xffff, &pp) | parse_num(dot + 1, 10, 0, 0xffff, &vp);
	free(ps);
	return rc == 0;
}

static int vtscsi_validate(config_node_t *nvl, char *err, size_t errlen)
{
	const char *dev = config_node_get(nvl, "dev");

	if (devconf_block_check(nvl, false, err, errlen) < 0)
		return -1;
	if (devconf_num(nvl, "iid", 0, VTSCSI_IID_MAX, NULL, err, errlen) < 0)
		return -1;
	if (dev && !*dev) {
		snprintf(err, errlen, "dev=: empty target path");
		return -1;
	}
	if (dev && strncmp(dev, VTSCSI_CTL, strlen(VTSCSI_CTL)) == 0) {
		if (!vtscsi_dev_ok(dev))
			snprintf(err, errlen, "dev=%s: expected /dev/cam/ctl[pp.vp]", dev);
		else
			snprintf(err, errlen, "dev=%s: the CAM Target Layer does not exist on Linux; "
				 "give an image file or block device as the SCSI target", dev);
		return -1;
	}
	return 0;
}

/* ---- virtio-scsi: LUN 0 on an image (path=, or dev= naming a file) ---- */

static void vtscsi_deinit(struct pci_devinst *pi)
{
	vtscsi_destroy(pi->pi_arg);
	pi->pi_arg = NULL;
}

static int vtscsi_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	const char *path = config_node_get(nvl, "path");
	const char *dev = config_node_get(nvl, "dev");
	struct blockif_opts o;

	if (!path && dev && strncmp(dev, "/dev/cam/ctl", 12) != 0)
		path = dev;
	if (!path) {
		snprintf(err, errlen, "virtio-scsi: Linux has no CAM Target Layer; give an image "
			 "with path=/path/to/disk.img");
		return -1;
	}
	if (blockif_opts_path(nvl, path, &o, err, errlen) < 0)
		return -1;
	struct vq_mem mem;
	vtpci_pci_mem(pi, &mem);
	struct vtscsi_softc *sc = vtscsi_create(&o, &vtpci_pci_intr, pi, &mem, err, errlen);
	if (!sc)
		return -1;
	pi->pi_arg = sc;
	if (vtpci_pci_setup(vtscsi_vtpci(sc), pi, VIRTIO_DEV_SCSI, VIRTIO_TYPE_SCSI, PCIC_STORAGE,
			    PCIS_STORAGE_SCSI, err, errlen) < 0) {
		vtscsi_deinit(pi);
		return -1;
	}
	return 0;
}

static const struct pci_devemu pci_de_vtscsi = {
	.pe_emu = "virtio-scsi",
	.pe_help = "virtio SCSI: [image-path][,iid=N][,ro][,nocache][,direct][,sectorsize=L[/P]] (FreeBSD: /dev/cam/ctl[pp.vp])",
	.pe_legacy_config = vtscsi_legacy_config,
	/* dev (bhyve's key) or path name the image; the block options apply to it. */
	.pe_keys = (const char *const[]){ "dev", "path", "iid", "ro", "nocache", "direct",
					  "nodelete", "sectorsize", NULL },
	.pe_validate = vtscsi_validate,
	.pe_init = vtscsi_init, .pe_deinit = vtscsi_deinit,
	.pe_barread = vtpci_barread, .pe_barwrite = vtpci_barwrite,
};
PCI_EMUL_SET(pci_de_vtscsi);
