/*
 * virtio-rnd (-s N,virtio-rnd): a virtio entropy device fed from the host's random source.
 * It takes no options.
 */
#include "pci/pci_emul.h"

#include "common/devconf.h"
#include "pci/virtio_pci_bus.h"

static int vtrnd_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	if (opts && *opts) {
		snprintf(err, errlen, "'%s': virtio-rnd takes no options", opts);
		return -1;
	}
	return 0;
}

static const struct pci_devemu pci_de_vtrnd = {
	.pe_emu = "virtio-rnd",
	.pe_help = "virtio entropy source (no options)",
	.pe_legacy_config = vtrnd_legacy_config,
	.pe_keys = (const char *const[]){ NULL },
	.pe_init = vtrnd_init, .pe_deinit = vtrnd_deinit,
	.pe_barread = vtpci_barread, .pe_barwrite = vtpci_barwrite,
};
PCI_EMUL_SET(pci_de_vtrnd);
