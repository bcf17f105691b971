/* virtio-net device model on a network backend (TAP, slirp): bus-independent part (see virtio_net.c). */
#ifndef BHYVE_VIRTIO_NET_H
#define BHYVE_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "pci/virtio_pci.h"

struct pci_devinst;
struct vtnet_softc;

#define VTNET_QSIZE       1024
#define VTNET_MAXSEGS     64        /* descriptors per chain we accept */
#define VTNET_TX_BATCH    64        /* frames sent between two transmit interrupts at most */
#define VTNET_MAXHELD     64        /* receive chains gathered for one frame (mergeable) */
#define VTNET_CFGSIZE     12
#define VTNET_MAX_FRAME   (65536 + 12)
#define VTNET_RXQ         0
#define VTNET_TXQ         1

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM        0
#define VIRTIO_NET_F_GUEST_CSUM  1
#define VIRTIO_NET_F_MTU         3
#define VIRTIO_NET_F_MAC         5
#define VIRTIO_NET_F_GUEST_TSO4  7
#define VIRTIO_NET_F_GUEST_TSO6  8
#define VIRTIO_NET_F_GUEST_ECN   9
#define VIRTIO_NET_F_HOST_TSO4   11
#define VIRTIO_NET_F_HOST_TSO6   12
#define VIRTIO_NET_F_HOST_ECN    13
#define VIRTIO_NET_F_MRG_RXBUF   15
#define VIRTIO_NET_F_STATUS      16
#define VIRTIO_NET_S_LINK_UP     1

/* Create on the backend the device node names (net_be_open) with `mac`; mtu 0 = not offered.
 * NULL + message on error. */
struct vtnet_softc *vtnet_create(config_node_t *nvl, const uint8_t mac[6], unsigned mtu,
				 const struct vtpci_intr_ops *intr, void *intr_ctx,
				 const struct vq_mem *mem, char *err, size_t errlen);
void vtnet_destroy(struct vtnet_softc *sc);
struct vtpci_state *vtnet_vtpci(struct vtnet_softc *sc);
/* Frames dropped (no room, too big, device not ready), for tests and logs. */
uint64_t vtnet_rx_dropped(struct vtnet_softc *sc);


#endif
