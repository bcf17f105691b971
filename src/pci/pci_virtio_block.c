/*
 * virtio-blk (-s N,virtio-blk,path[,nocache][,direct][,ro][,nodelete][,sectorsize=L[/P]]).
 *
 * Keys: path (a file or a block device; relative paths are relative to bhyve's working
 * directory), nocache (O_DIRECT), direct (O_SYNC), ro, nodelete, sectorsize.
 */
#include "pci/pci_emul.h"

#include "common/devconf.h"
#include "pci/virtio_pci_bus.h"

static int vtblk_validate(config_node_t *nvl, char *err, size_t errlen)
{
	return devconf_block_check(nvl, true, err, errlen);
}

static const struct pci_devemu pci_de_vtblk = {
	.pe_emu = "virtio-blk",
	.pe_help = "virtio block: path[,nocache][,direct][,ro][,sectorsize=logical[/physical]]",
	.pe_legacy_config = devconf_block_legacy,
	.pe_keys = (const char *const[]){ DEVCONF_BLOCK_KEYS, NULL },
	.pe_validate = vtblk_validate,
	.pe_init = vtblk_init, .pe_deinit = vtblk_deinit,
	.pe_barread = vtpci_barread, .pe_barwrite = vtpci_barwrite,
};
PCI_EMUL_SET(pci_de_vtblk);
