/*
 * virtio-rnd (-s N,virtio-rnd): a virtio entropy device fed from the host's random source.
 * It takes no options.
 */
#include "pci/pci_emul.h"

#include "common/devconf.h"
#include "pci/pci_devinst.h"
#include "pci/virtio_rnd.h"
#include "pci/virtio_pci_bus.h"

static int vtrnd_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	if (opts && *opts) {
		snprintf(err, errlen, "'%s': virtio-rnd takes no options", opts);
		return -1;
	}
	return 0;
}

static void vtrnd_deinit(struct pci_devinst *pi)
{
	vtrnd_destroy(pi->pi_arg);
	pi->pi_arg = NULL;
}

static int vtrnd_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	struct vq_mem mem;
	vtpci_pci_mem(pi, &mem);
	struct vtrnd_softc *sc = vtrnd_create(&vtpci_pci_intr, pi, &mem, err, errlen);
	if (!sc)
		return -1;
	pi->pi_arg = sc;
	if (vtpci_pci_setup(vtrnd_vtpci(sc), pi, VIRTIO_DEV_RANDOM, VIRTIO_TYPE_ENTROPY,
			    0x10 /* crypto */, 0, err, errlen) < 0) {
		vtrnd_deinit(pi);
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
