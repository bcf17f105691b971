/*
 * xHCI USB controller (-s N,xhci[,DEV[,DEV...]]): each USB device becomes
 * pci.B.S.F.slot.N.device (N from 1), e.g. "tablet" -> slot.1.device=tablet.  The only USB
 * device bhyve(8) documents is the tablet (absolute pointer for VNC).  At most 8 devices.
 */
#include "pci/pci_emul.h"

#include <stdlib.h>
#include <string.h>

#include "common/devconf.h"
#include "common/parse.h"

#define XHCI_MAX_DEVS 8

static const char *const xhci_usb_devices[] = { "tablet", NULL };

static int xhci_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	const char *p = opts;
	unsigned n = 0;
	char key[32];

	while (p && *p) {
		char *tok = devconf_first_token(p, &p);
		int rc = 0;
		if (++n > XHCI_MAX_DEVS) {
			snprintf(err, errlen, "'%s': at most %d USB devices", tok, XHCI_MAX_DEVS);
			rc = -1;
		} else {
			snprintf(key, sizeof(key), "slot.%u.device", n);
			rc = config_node_set(nvl, key, tok);
			if (rc < 0)
				snprintf(err, errlen, "'%s': cannot set %s", tok, key);
		}
		free(tok);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int xhci_slot_visit(const char *name, config_node_t *child, const char *value, void *arg)
{
	static const char *const keys[] = { "device", NULL };
	struct devconf_err *eb = arg;
	const char *dev;
	uint64_t n;
	char sub[PCI_ERRLEN];

	if (!child || parse_num(name, 10, 1, XHCI_MAX_DEVS, &n) < 0) {
		snprintf(eb->err, eb->errlen, "slot.%s: USB slots are 1 to %d", name, XHCI_MAX_DEVS);
		return -1;
	}
	if (devconf_check_keys(child, keys, sub, sizeof(sub)) < 0) {
		snprintf(eb->err, eb->errlen, "slot.%s.%s", name, sub);
		return -1;
	}
	dev = config_node_get(child, "device");
	for (size_t i = 0; dev && xhci_usb_devices[i]; i++)
		if (strcmp(dev, xhci_usb_devices[i]) == 0)
			return 0;
	snprintf(eb->err, eb->errlen, "slot.%s.device=%s: unknown USB device (expected tablet)",
		 name, dev ? dev : "");
	(void)value;
	return -1;
}

static int xhci_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "device", "slot", NULL };
	config_node_t *slots = devconf_find_child(nvl, "slot");
	struct devconf_err eb = { err, errlen };

	if (devconf_check_keys(nvl, keys, err, errlen) < 0)
		return -1;
	if (config_node_get(nvl, "slot")) {
		snprintf(err, errlen, "slot=%s: USB devices are slot.N.device",
			 config_node_get(nvl, "slot"));
		return -1;
	}
	return slots && config_node_foreach(slots, xhci_slot_visit, &eb) ? -1 : 0;
}

static const struct pci_devemu pci_de_xhci = {
	.pe_emu = "xhci",
	.pe_unimplemented = true,
	.pe_help = "xHCI USB controller: [tablet][,...]",
	.pe_legacy_config = xhci_legacy_config,
	.pe_validate = xhci_validate,
};
PCI_EMUL_SET(pci_de_xhci);
