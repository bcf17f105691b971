/*
 * Linux TAP network backend: /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR.  Opening
 * NAME (any interface name: tap0, vnet3, vm1-lan) attaches to it if it exists (a persistent
 * tap made by `ip tuntap add ... user U` is usable by U without privileges) or creates it when
 * the process has CAP_NET_ADMIN (then it vanishes when closed).  Every frame in either direction is preceded by a
 * virtio-net header of the size set with net_tap_set_vnet_hdr_len (10, or 12 with num_buffers),
 * which carries checksum and segmentation offload information straight from/to the guest.
 *
 * Receive: net_tap_start_rx() runs a thread that calls `cb` whenever the tap has frames.  The
 * callback reads them with net_tap_recv() until it returns -1/EAGAIN (return NET_TAP_RX_DRAINED)
 * or until the guest has no buffers left (return NET_TAP_RX_STALLED): then the thread waits for
 * net_tap_rx_kick(), which the device calls when the guest adds receive buffers.
 */
#ifndef BHYVE_NET_TAP_H
#define BHYVE_NET_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct net_tap;

enum { NET_TAP_RX_DRAINED = 0, NET_TAP_RX_STALLED = 1 };
typedef int (*net_tap_rx_fn)(void *arg);

/* Offloads the guest accepts on receive (virtio-net GUEST_* features -> TUN_F_*). */
#define NET_TAP_OFF_CSUM 0x01
#define NET_TAP_OFF_TSO4 0x02
#define NET_TAP_OFF_TSO6 0x04
#define NET_TAP_OFF_ECN  0x08
#define NET_TAP_OFF_UFO  0x10

/* Is `name` usable as a Linux interface name (1..15 chars, no '/', ':' or white space)? */
bool net_tap_name_valid(const char *name);
/* Attach to or create the TAP interface `name`; NULL and a message on failure. */
struct net_tap *net_tap_open(const char *name, char *err, size_t errlen);
void net_tap_close(struct net_tap *t);
const char *net_tap_name(const struct net_tap *t);
int net_tap_fd(const struct net_tap *t);

/* 10 (struct virtio_net_hdr) or 12 (with num_buffers).  0 or -1 with errno. */
int net_tap_set_vnet_hdr_len(struct net_tap *t, int len);
int net_tap_vnet_hdr_len(const struct net_tap *t);
/* NET_TAP_OFF_* bits.  0 or -1 with errno. */
int net_tap_set_offload(struct net_tap *t, unsigned int offloads);
/* Bring the interface up (IFF_UP) and/or set its MTU; used by tests and for a created tap. */
int net_tap_set_up(struct net_tap *t, int mtu);

/* One frame (vnet header first) to the host.  Bytes written, or -1 with errno. */
ssize_t net_tap_send(struct net_tap *t, const struct iovec *iov, int iovcnt);
/* One frame (vnet header first) into iov, non-blocking: bytes, or -1 with errno (EAGAIN: none). */
ssize_t net_tap_recv(struct net_tap *t, const struct iovec *iov, int iovcnt);

int net_tap_start_rx(struct net_tap *t, net_tap_rx_fn cb, void *arg);
void net_tap_rx_kick(struct net_tap *t);

#endif
