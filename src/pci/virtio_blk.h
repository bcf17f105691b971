/*
 * virtio-blk device model (virtio 1.x section 5.2) on the block backend.  The PCI glue
 * (vtblk_init) reads the config node; vtblk_create is the bus-independent part, used by the
 * unit tests with a fake guest memory and interrupt sink.
 */
#ifndef BHYVE_VIRTIO_BLK_H
#define BHYVE_VIRTIO_BLK_H

#include <stddef.h>
#include <stdint.h>

#include "backends/block_if.h"
#include "common/config.h"
#include "pci/virtio_pci.h"

struct pci_devinst;
struct vtblk_softc;

#define VTBLK_QSIZE      128
#define VTBLK_MAXSEGS    (VTBLK_QSIZE - 2)   /* seg_max: data segments per request */
#define VTBLK_CFGSIZE    60

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2
#define VIRTIO_BLK_ID_BYTES       20
#define VTBLK_MAX_DISCARD_SECTORS 0x3FFFFFu    /* per request, in 512-byte sectors */

/* Bus-independent creation: opens the backend.  NULL with a message on failure. */
struct vtblk_softc *vtblk_create(const struct blockif_opts *opts,
				 const struct vtpci_intr_ops *intr, void *intr_ctx,
				 const struct vq_mem *mem, char *err, size_t errlen);
/* Waits for requests in flight, flushes and closes the backend. */
void vtblk_destroy(struct vtblk_softc *sc);
struct vtpci_state *vtblk_vtpci(struct vtblk_softc *sc);


#endif
