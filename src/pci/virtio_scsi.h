/* virtio-scsi device model with an in-process target (LUN 0 on an image): bus-independent. */
#ifndef BHYVE_VIRTIO_SCSI_H
#define BHYVE_VIRTIO_SCSI_H

#include <stddef.h>

#include "backends/block_if.h"
#include "pci/virtio_pci.h"

struct vtscsi_softc;

#define VTSCSI_QSIZE     128
#define VTSCSI_MAXSEGS   (VTSCSI_QSIZE - 2)
#define VTSCSI_CFGSIZE   36
#define VTSCSI_CDB_SIZE  32
#define VTSCSI_SENSE_SIZE 96
#define VTSCSI_REQ_SIZE  (19 + VTSCSI_CDB_SIZE)     /* struct virtio_scsi_req_cmd */
#define VTSCSI_RESP_SIZE (12 + VTSCSI_SENSE_SIZE)   /* struct virtio_scsi_resp_cmd */

/* Response codes (5.6.6.1). */
#define VIRTIO_SCSI_S_OK         0
#define VIRTIO_SCSI_S_BAD_TARGET 3
#define VIRTIO_SCSI_S_FAILURE    9

struct vtscsi_softc *vtscsi_create(const struct blockif_opts *lun0,
				   const struct vtpci_intr_ops *intr, void *intr_ctx,
				   const struct vq_mem *mem, char *err, size_t errlen);
void vtscsi_destroy(struct vtscsi_softc *sc);
struct vtpci_state *vtscsi_vtpci(struct vtscsi_softc *sc);

#endif
