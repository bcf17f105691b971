/*
 * virtio-scsi (-s N,virtio-scsi,/dev/cam/ctl[pp.vp][,iid=N]).
 *
 * On FreeBSD the device forwards SCSI commands to a port of the kernel's CAM Target Layer.
 * Keys: dev (default /dev/cam/ctl), iid (initiator ID, default 0).  Linux has no CTL; the
 * keys are kept so that configurations carry over, and the device model (planned) decides the
 * Linux target.
 */
#include "pci/pci_emul.h"

#include <stdlib.h>
#include <string.h>

#include "common/devconf.h"
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
	static const char *const keys[] = { "device", "dev", "iid", NULL };
	const char *dev = config_node_get(nvl, "dev");

	if (devconf_check_keys(nvl, keys, err, errlen) < 0)
		return -1;
	if (dev && !vtscsi_dev_ok(dev)) {
		snprintf(err, errlen, "dev=%s: expected /dev/cam/ctl[pp.vp]", dev);
		return -1;
	}
	return devconf_num(nvl, "iid", 0, VTSCSI_IID_MAX, NULL, err, errlen);
}

static const struct pci_devemu pci_de_vtscsi = {
	.pe_emu = "virtio-scsi",
	.pe_help = "virtio SCSI: [/dev/cam/ctl[pp.vp]][,iid=N]",
	.pe_legacy_config = vtscsi_legacy_config,
	.pe_validate = vtscsi_validate,
};
PCI_EMUL_SET(pci_de_vtscsi);
