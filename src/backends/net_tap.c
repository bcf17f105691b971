/*
 * Linux TAP backend (see net_tap.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/net_tap.h"
#include "common/devconf.h"

struct net_tap {
	int fd;
	int evfd;                   /* kick (guest added rx buffers) and stop */
	char name[IFNAMSIZ];
	int hdr_len;
	net_tap_rx_fn cb;
	void *cb_arg;
	bool rx_running;
	volatile bool stopping;
	pthread_t rx_thread;
};

bool net_tap_name_valid(const char *name)
{
	return devconf_ifname_valid(name);
}

/* Why TUNSETIFF failed, in a line that names the interface and what to do. */
static void net_tap_attach_error(const char *name, int e, char *err, size_t errlen)
{
	bool exists = if_nametoindex(name) != 0;

	if (e == EPERM && exists)
		snprintf(err, errlen, "%s: cannot attach TAP interface: %s (it belongs to another "
			 "user: `ip tuntap add dev %s mode tap user USER` makes one for USER)", name,
			 strerror(e), name);
	else if (e == EPERM)
		snprintf(err, errlen, "%s: no such TAP interface, and creating one needs "
			 "CAP_NET_ADMIN (`ip tuntap add dev %s mode tap user USER` makes a "
			 "persistent one beforehand)", name, name);
	else if (e == EINVAL && exists)
		snprintf(err, errlen, "%s: cannot attach: the interface exists and is not a TAP "
			 "interface", name);
	else
		snprintf(err, errlen, "%s: cannot attach TAP interface: %s", name, strerror(e));
}

struct net_tap *net_tap_open(const char *name, char *err, size_t errlen)
{
	if (!net_tap_name_valid(name)) {
		snprintf(err, errlen, "%s: not a valid interface name", name ? name : "(none)");
		return NULL;
	}
	struct net_tap *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->evfd = -1;
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		snprintf(err, errlen, "%s: /dev/net/tun: %s", name, strerror(errno));
		goto fail;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		net_tap_attach_error(name, errno, err, errlen);
		goto fail;
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	t->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->evfd < 0) {
		snprintf(err, errlen, "%s: eventfd: %s", name, strerror(errno));
		goto fail;
	}
	if (net_tap_set_vnet_hdr_len(t, 12) < 0 || net_tap_set_offload(t, 0) < 0) {
		snprintf(err, errlen, "%s: vnet header set-up: %s", name, strerror(errno));
		goto fail;
	}
	return t;
fail:
	if (t->fd >= 0)
		close(t->fd);
	if (t->evfd >= 0)
		close(t->evfd);
	free(t);
	return NULL;
}

static void net_tap_stop_rx(struct net_tap *t)
{
	if (!t->rx_running)
		return;
	t->stopping = true;
	net_tap_rx_kick(t);
	pthread_join(t->rx_thread, NULL);
	t->rx_running = false;
}

void net_tap_close(struct net_tap *t)
{
	if (!t)
		return;
	net_tap_stop_rx(t);
	close(t->fd);
	close(t->evfd);
	free(t);
}

const char *net_tap_name(const struct net_tap *t) { return t->name; }
int net_tap_fd(const struct net_tap *t) { return t->fd; }
int net_tap_vnet_hdr_len(const struct net_tap *t) { return t->hdr_len; }

int net_tap_set_vnet_hdr_len(struct net_tap *t, int len)
{
	if (len != 10 && len != 12) {
		errno = EINVAL;
		return -1;
	}
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &len) < 0)
		return -1;
	t->hdr_len = len;
	return 0;
}

int net_tap_set_offload(struct net_tap *t, unsigned int off)
{
	unsigned long f = 0;

	if (off & NET_TAP_OFF_CSUM) {
		f |= TUN_F_CSUM;
		/* Segmentation offloads need checksum offload (the kernel insists). */
		if (off & NET_TAP_OFF_TSO4)
			f |= TUN_F_TSO4;
		if (off & NET_TAP_OFF_TSO6)
			f |= TUN_F_TSO6;
		if ((off & NET_TAP_OFF_ECN) && (off & (NET_TAP_OFF_TSO4 | NET_TAP_OFF_TSO6)))
			f |= TUN_F_TSO_ECN;
		if (off & NET_TAP_OFF_UFO)
			f |= TUN_F_UFO;
	}
	if (ioctl(t->fd, TUNSETOFFLOAD, f) == 0)
		return 0;
	/* Kernels without UFO refuse the whole set: retry without it. */
	if ((f & TUN_F_UFO) && ioctl(t->fd, TUNSETOFFLOAD, f & ~(unsigned long)TUN_F_UFO) == 0)
		return 0;
	return -1;
}

int net_tap_set_up(struct net_tap *t, int mtu)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
	int r = 0;
	if (mtu > 0) {
		ifr.ifr_mtu = mtu;
		r = ioctl(s, SIOCSIFMTU, &ifr);
	}
	if (r == 0)
		r = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(s);
	errno = e;
	return r;
}

ssize_t net_tap_send(struct net_tap *t, const struct iovec *iov, int iovcnt)
{
	for (;;) {
		ssize_t n = writev(t->fd, iov, iovcnt);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

ssize_t net_tap_recv(struct net_tap *t, const struct iovec *iov, int iovcnt)
{
	for (;;) {
		ssize_t n = readv(t->fd, iov, iovcnt);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

/* Wait for the tap (unless stalled) or the event fd; false when stopping. */
static bool net_tap_rx_wait(struct net_tap *t, bool stalled)
{
	struct pollfd p[2] = { { t->evfd, POLLIN, 0 }, { t->fd, POLLIN, 0 } };

	while (!t->stopping) {
		int n = poll(p, stalled ? 1 : 2, -1);
		if (n < 0 && errno != EINTR)
			return false;
		if (n <= 0)
			continue;
		if (p[0].revents) {
			uint64_t v;
			if (read(t->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return false;
			return !t->stopping;     /* kicked: try again */
		}
		if (!stalled && p[1].revents)
			return true;
	}
	return false;
}

static void *net_tap_rx_loop(void *arg)
{
	struct net_tap *t = arg;
	bool stalled = false;

	while (net_tap_rx_wait(t, stalled))
		stalled = t->cb(t->cb_arg) == NET_TAP_RX_STALLED;
	return NULL;
}

int net_tap_start_rx(struct net_tap *t, net_tap_rx_fn cb, void *arg)
{
	if (t->rx_running) {
		errno = EBUSY;
		return -1;
	}
	t->cb = cb;
	t->cb_arg = arg;
	t->stopping = false;
	int e = pthread_create(&t->rx_thread, NULL, net_tap_rx_loop, t);
	if (e) {
		errno = e;
		return -1;
	}
	t->rx_running = true;
	return 0;
}

void net_tap_rx_kick(struct net_tap *t)
{
	uint64_t one = 1;

	if (write(t->evfd, &one, sizeof(one)) < 0) {
		/* The counter is saturated only if nobody reads it: the thread is already awake. */
	}
}
