/*
 * Network backend selection and the device-header adaptation (see net_be.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net_be.h"
#include "backends/net_slirp.h"
#include "backends/net_tap.h"

#define NET_BE_MAXIOV 256                  /* segments per frame a device may pass */
#define NET_BE_TAP_HDR 10                  /* TAP header under a header-less device */

struct net_be {
	struct net_tap *tap;               /* exactly one of tap, slirp */
	struct net_slirp *slirp;
	int hdr_len;                       /* the device's header */
	char name[16];
};

struct net_be *net_be_open(config_node_t *nvl, unsigned mtu, char *err, size_t errlen)
{
	const char *name = config_node_get(nvl, "backend");
	struct net_be *be;

	if (!name) {
		snprintf(err, errlen, "a backend is required (a TAP interface name, or slirp)");
		return NULL;
	}
	if (!(be = calloc(1, sizeof(*be)))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(be->name, sizeof(be->name), "%s", name);
	if (strcmp(name, "slirp") == 0)
		be->slirp = net_slirp_open(config_node_get(nvl, "hostfwd"),
					   config_node_get_bool(nvl, "open", false), mtu, err,
					   errlen);
	else
		be->tap = net_tap_open(name, err, errlen);
	if (!be->tap && !be->slirp) {
		free(be);
		return NULL;
	}
	be->hdr_len = be->tap ? net_tap_vnet_hdr_len(be->tap) : 0;
	return be;
}

void net_be_close(struct net_be *be)
{
	if (!be)
		return;
	net_tap_close(be->tap);
	net_slirp_close(be->slirp);
	free(be);
}

const char *net_be_name(const struct net_be *be) { return be->name; }
bool net_be_offloads(const struct net_be *be) { return be->tap != NULL; }

int net_be_set_hdr_len(struct net_be *be, int len)
{
	if (len != 0 && len != 10 && len != 12) {
		errno = EINVAL;
		return -1;
	}
	if (be->tap && net_tap_set_vnet_hdr_len(be->tap, len ? len : NET_BE_TAP_HDR) < 0)
		return -1;
	be->hdr_len = len;
	return 0;
}

int net_be_set_offload(struct net_be *be, unsigned int off)
{
	unsigned t = 0;

	if (!be->tap)
		return 0;
	if (off & NET_BE_OFF_CSUM)
		t |= NET_TAP_OFF_CSUM;
	if (off & NET_BE_OFF_TSO4)
		t |= NET_TAP_OFF_TSO4;
	if (off & NET_BE_OFF_TSO6)
		t |= NET_TAP_OFF_TSO6;
	if (off & NET_BE_OFF_ECN)
		t |= NET_TAP_OFF_ECN;
	return net_tap_set_offload(be->tap, t);
}

/* dst = src without its first `skip` bytes; the number of segments. */
static int net_be_iov_skip(struct iovec *dst, const struct iovec *src, int n, size_t skip)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		if (skip >= src[i].iov_len) {
			skip -= src[i].iov_len;
			continue;
		}
		dst[k].iov_base = (char *)src[i].iov_base + skip;
		dst[k++].iov_len = src[i].iov_len - skip;
		skip = 0;
	}
	return k;
}

ssize_t net_be_send(struct net_be *be, const struct iovec *iov, int iovcnt)
{
	static const char zero_hdr[NET_BE_TAP_HDR];
	struct iovec v[NET_BE_MAXIOV + 1];

	if (iovcnt < 0 || iovcnt > NET_BE_MAXIOV) {
		errno = EINVAL;
		return -1;
	}
	if (be->tap && be->hdr_len)
		return net_tap_send(be->tap, iov, iovcnt);
	if (be->tap) {                     /* a plain frame: no offloads in a zero header */
		v[0] = (struct iovec){ (void *)zero_hdr, sizeof(zero_hdr) };
		memcpy(v + 1, iov, sizeof(*iov) * (size_t)iovcnt);
		ssize_t n = net_tap_send(be->tap, v, iovcnt + 1);
		return n < 0 ? n : n - NET_BE_TAP_HDR;
	}
	v[0] = (struct iovec){ NULL, 0 };
	int k = net_be_iov_skip(v, iov, iovcnt, (size_t)be->hdr_len);
	ssize_t n = net_slirp_send(be->slirp, v, k);
	return n < 0 ? n : n + be->hdr_len;
}

ssize_t net_be_recv(struct net_be *be, const struct iovec *iov, int iovcnt)
{
	char hdr[NET_BE_TAP_HDR];
	struct iovec v[NET_BE_MAXIOV + 1];

	if (iovcnt < 0 || iovcnt > NET_BE_MAXIOV) {
		errno = EINVAL;
		return -1;
	}
	if (be->tap && be->hdr_len)
		return net_tap_recv(be->tap, iov, iovcnt);
	if (be->tap) {                     /* the TAP's header is read and dropped */
		v[0] = (struct iovec){ hdr, sizeof(hdr) };
		memcpy(v + 1, iov, sizeof(*iov) * (size_t)iovcnt);
		ssize_t n = net_tap_recv(be->tap, v, iovcnt + 1);
		if (n >= 0 && n < NET_BE_TAP_HDR)
			n = NET_BE_TAP_HDR;
		return n < 0 ? n : n - NET_BE_TAP_HDR;
	}
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total < (size_t)be->hdr_len) {
		errno = EINVAL;
		return -1;
	}
	v[0] = (struct iovec){ NULL, 0 };
	int k = net_be_iov_skip(v, iov, iovcnt, (size_t)be->hdr_len);
	ssize_t n = net_slirp_recv(be->slirp, v, k);
	if (n < 0)
		return n;
	/* A zero header: no offload information (checksums are complete). */
	size_t z = (size_t)be->hdr_len;
	for (int i = 0; i < iovcnt && z; i++) {
		size_t c = iov[i].iov_len < z ? iov[i].iov_len : z;
		memset(iov[i].iov_base, 0, c);
		z -= c;
	}
	return n + be->hdr_len;
}

int net_be_start_rx(struct net_be *be, net_be_rx_fn cb, void *arg)
{
	if (be->tap)
		return net_tap_start_rx(be->tap, cb, arg);
	return net_slirp_start_rx(be->slirp, cb, arg);
}

void net_be_rx_kick(struct net_be *be)
{
	if (be->tap)
		net_tap_rx_kick(be->tap);
	else
		net_slirp_rx_kick(be->slirp);
}
