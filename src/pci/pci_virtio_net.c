/*
 * virtio-net (-s N,virtio-net,tapN[,mac=xx:xx:xx:xx:xx:xx][,mtu=N]).
 *
 * Keys: backend (tapN), mac, mtu (68..65535, offered to the guest as the largest MTU).  Linux
 * hosts have TAP interfaces only: vmnetN and netgraph,... are parsed as on FreeBSD but refused
 * by validation with a message pointing at tapN.  Without mac= the address comes from
 * netmac_default() (common/netmac.h).
 */
#include "pci/pci_emul.h"

#include "common/devconf.h"
#include "pci/virtio_pci_bus.h"

static int vtnet_validate(config_node_t *nvl, char *err, size_t errlen)
{
	return devconf_net_check(nvl, err, errlen);
}

static const struct pci_devemu pci_de_vtnet = {
	.pe_emu = "virtio-net",
	.pe_help = "virtio network: tapN[,mac=xx:xx:xx:xx:xx:xx][,mtu=N]",
	.pe_legacy_config = devconf_net_legacy,
	.pe_keys = (const char *const[]){ DEVCONF_NET_KEYS, NULL },
	.pe_validate = vtnet_validate,
	.pe_init = vtnet_init, .pe_deinit = vtnet_deinit,
	.pe_barread = vtpci_barread, .pe_barwrite = vtpci_barwrite,
};
PCI_EMUL_SET(pci_de_vtnet);
