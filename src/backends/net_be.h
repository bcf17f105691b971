/*
 * The network backend a NIC model (virtio-net, e1000) exchanges Ethernet frames with, chosen by
 * the device's `backend` key: "slirp" (user-mode networking, net_slirp.h) or any other valid
 * interface name, a Linux TAP interface (net_tap.h).  Validation (devconf_net_check) has
 * already refused FreeBSD-only backends and malformed options.
 *
 * Frames carry a device header of `hdr_len` bytes in front (net_be_set_hdr_len): 0 for a NIC
 * that sends plain Ethernet frames (e1000), or 10/12 for a virtio_net_hdr (virtio-net).  A TAP
 * interface takes that header natively and honours its offload bits; slirp has no header: on
 * send it is skipped (such a device must not offer offloads: net_be_offloads() is false), on
 * receive it is zero-filled.
 *
 * Receive: net_be_start_rx() makes the backend call `cb` (on its own thread) whenever frames
 * are waiting.  `cb` reads them with net_be_recv() until -1/EAGAIN (returns NET_BE_RX_DRAINED)
 * or until the guest has no buffers (returns NET_BE_RX_STALLED): the backend then waits for
 * net_be_rx_kick(), which the device calls when the guest adds receive buffers.  Send may be
 * called from any one thread at a time.
 */
#ifndef BHYVE_NET_BE_H
#define BHYVE_NET_BE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/config.h"

struct net_be;

enum { NET_BE_RX_DRAINED = 0, NET_BE_RX_STALLED = 1 };
typedef int (*net_be_rx_fn)(void *arg);

/* Offloads the guest accepts on receive (virtio-net GUEST_* features). */
#define NET_BE_OFF_CSUM 0x01
#define NET_BE_OFF_TSO4 0x02
#define NET_BE_OFF_TSO6 0x04
#define NET_BE_OFF_ECN  0x08

/* Open the backend named by the device node's `backend` key, with its options (slirp:
 * hostfwd, open); mtu 0 = default.  NULL and a one-line message on failure. */
struct net_be *net_be_open(config_node_t *nvl, unsigned mtu, char *err, size_t errlen);
void net_be_close(struct net_be *be);
/* The interface name, or "slirp". */
const char *net_be_name(const struct net_be *be);
/* Whether the header's checksum/segmentation offload fields reach the host (TAP only). */
bool net_be_offloads(const struct net_be *be);

/* 0, 10 or 12.  0 or -1 with errno. */
int net_be_set_hdr_len(struct net_be *be, int len);
/* NET_BE_OFF_* bits (ignored without net_be_offloads).  0 or -1 with errno. */
int net_be_set_offload(struct net_be *be, unsigned int off);

/* One frame (header first).  Bytes taken, or -1 with errno. */
ssize_t net_be_send(struct net_be *be, const struct iovec *iov, int iovcnt);
/* One frame (header first) into iov, non-blocking: bytes, or -1 with errno (EAGAIN: none). */
ssize_t net_be_recv(struct net_be *be, const struct iovec *iov, int iovcnt);

int net_be_start_rx(struct net_be *be, net_be_rx_fn cb, void *arg);
void net_be_rx_kick(struct net_be *be);

#endif
