/*
 * Intel 82545 gigabit NIC (-s N,e1000,tapN[,mac=xx:xx:xx:xx:xx:xx]).
 *
 * Same backends and keys as virtio-net (backend, mac, mtu); the e1000 has no way to tell the
 * guest an MTU, so mtu= is checked but has no effect.  vmnetN and netgraph do not exist on
 * Linux and are refused by validation.
 */
#include "pci/pci_emul.h"

#include "common/devconf.h"

static int e1000_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "device", DEVCONF_NET_KEYS, NULL };

	if (devconf_check_keys(nvl, keys, err, errlen) < 0)
		return -1;
	return devconf_net_check(nvl, err, errlen);
}

static const struct pci_devemu pci_de_e1000 = {
	.pe_emu = "e1000",
	.pe_unimplemented = true,
	.pe_help = "Intel e82545 network: tapN[,mac=xx:xx:xx:xx:xx:xx]",
	.pe_legacy_config = devconf_net_legacy,
	.pe_validate = e1000_validate,
};
PCI_EMUL_SET(pci_de_e1000);
