/*
 * virtio-blk (-s N,virtio-blk,path[,nocache][,direct][,ro][,nodelete][,sectorsize=L[/P]]).
 *
 * Keys: path (a file or a block device; relative paths are relative to bhyve's working
 * directory), nocache (O_DIRECT), direct (O_SYNC), ro, nodelete, sectorsize.
 */
#include "pci/pci_emul.h"

#include "common/devconf.h"
#include "pci/pci_devinst.h"
#include "pci/virtio_blk.h"
#include "pci/virtio_pci_bus.h"

static int vtblk_validate(config_node_t *nvl, char *err, size_t errlen)
{
	return devconf_block_check(nvl, true, err, errlen);
}

static void vtblk_deinit(struct pci_devinst *pi)
{
	vtblk_destroy(pi->pi_arg);   /* waits for I/O in flight and flushes the disk */
	pi->pi_arg = NULL;
}

static int vtblk_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	struct blockif_opts o;
	if (blockif_opts_path(nvl, config_node_get(nvl, "path"), &o, err, errlen) < 0)
		return -1;
	struct vq_mem mem;
	vtpci_pci_mem(pi, &mem);
	struct vtblk_softc *sc = vtblk_create(&o, &vtpci_pci_intr, pi, &mem, err, errlen);
	if (!sc)
		return -1;
	pi->pi_arg = sc;
	if (vtpci_pci_setup(vtblk_vtpci(sc), pi, VIRTIO_DEV_BLOCK, VIRTIO_TYPE_BLOCK,
			    PCIC_STORAGE, PCIS_STORAGE_SCSI, err, errlen) < 0) {
		vtblk_deinit(pi);
		return -1;
	}
	return 0;
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
