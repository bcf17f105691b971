/* virtio-rnd device model: bus-independent part (see virtio_rnd.c). */
#ifndef BHYVE_VIRTIO_RND_H
#define BHYVE_VIRTIO_RND_H

#include <stddef.h>

#include "common/config.h"
#include "pci/virtio_pci.h"

struct pci_devinst;
struct vtrnd_softc;

#define VTRND_QSIZE      64
#define VTRND_MAX_CHAIN  (64u * 1024)

struct vtrnd_softc *vtrnd_create(const struct vtpci_intr_ops *intr, void *intr_ctx,
				 const struct vq_mem *mem, char *err, size_t errlen);
void vtrnd_destroy(struct vtrnd_softc *sc);
struct vtpci_state *vtrnd_vtpci(struct vtrnd_softc *sc);


#endif
