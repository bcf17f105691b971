/*
 * slirp network backend: a user-mode TCP/IP stack (libslirp) between the guest's Ethernet
 * frames and ordinary host sockets, so that no privilege is needed.  The guest network is
 * 10.0.2.0/24: the gateway (and the host's loopback, when `open`) is 10.0.2.2, the DNS
 * forwarder 10.0.2.3, DHCP hands out 10.0.2.15 onwards.
 *
 * Options, as FreeBSD's bhyve:
 *   hostfwd=tcp|udp:[hostaddr]:hostport-[guestaddr]:guestport[;...]   listen on the host and
 *       forward each connection (datagram) to the guest; the host port is bound at open time.
 *   open   let the guest start connections to the outside; without it (the default) the
 *       stack is restricted: only DHCP and forwarded connections pass.
 *
 * One thread per backend runs libslirp's poll loop (its sockets and timers) and delivers the
 * frames libslirp produced to the device; libslirp itself runs under one mutex, since frames
 * from the guest are fed to it from the device's transmit thread.  Frames for the guest wait
 * in a bounded queue: beyond it they are dropped, as a NIC drops on overrun (TCP resends).
 */
#ifndef BHYVE_NET_SLIRP_H
#define BHYVE_NET_SLIRP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct net_slirp;

/* Same contract as net_be's: NET_BE_RX_DRAINED / NET_BE_RX_STALLED. */
typedef int (*net_slirp_rx_fn)(void *arg);

/* hostfwd may be NULL; mtu 0 = 1500.  NULL and a message on failure (a bad rule, a host port
 * that cannot be bound). */
struct net_slirp *net_slirp_open(const char *hostfwd, bool open, unsigned mtu, char *err,
				 size_t errlen);
void net_slirp_close(struct net_slirp *s);
/* One Ethernet frame from the guest (no header).  Bytes taken, or -1 with errno. */
ssize_t net_slirp_send(struct net_slirp *s, const struct iovec *iov, int iovcnt);
/* One frame for the guest into iov (truncated to its size): bytes, or -1/EAGAIN. */
ssize_t net_slirp_recv(struct net_slirp *s, const struct iovec *iov, int iovcnt);
int net_slirp_start_rx(struct net_slirp *s, net_slirp_rx_fn cb, void *arg);
void net_slirp_rx_kick(struct net_slirp *s);
/* Frames dropped because the queue towards the guest was full. */
unsigned long net_slirp_dropped(struct net_slirp *s);

#endif
