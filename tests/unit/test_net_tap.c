/*
 * TAP backend inside a private network namespace (so the host's interfaces are untouched):
 * create and attach, vnet header and offload set-up, frames both ways through an AF_PACKET
 * socket on the same interface, the receive thread with stall/kick.  Without root or
 * /dev/net/tun only the name checks run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/net_tap.h"
#include "unit.h"

#define ETH_P_TEST 0x88B5        /* IEEE "local experimental" ethertype */

static void test_names(void)
{
	CHECK(net_tap_name_valid("tap0"));
	CHECK(net_tap_name_valid("vm-net_1"));
	CHECK(!net_tap_name_valid(""));
	CHECK(!net_tap_name_valid(NULL));
	CHECK(!net_tap_name_valid("tap0123456789abc"));   /* 16 chars */
	CHECK(!net_tap_name_valid("../tap"));
	CHECK(!net_tap_name_valid("tap 0"));
	CHECK(!net_tap_name_valid("tap:0"));
	char err[128] = "";
	CHECK(net_tap_open("bad/name", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "bad/name") != NULL);
}

static int packet_socket(const char *ifname)
{
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_TEST));
	if (s < 0)
		return -1;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_TEST),
				   .sll_ifindex = (int)if_nametoindex(ifname) };
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static void make_frame(uint8_t *f, size_t len, uint8_t tag)
{
	memset(f, 0xFF, 6);                                       /* broadcast */
	const uint8_t src[6] = { 0x58, 0x9c, 0xfc, 0, 0, 1 };
	memcpy(f + 6, src, 6);
	f[12] = ETH_P_TEST >> 8;
	f[13] = ETH_P_TEST & 0xFF;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(tag + i);
}

struct rxstate {
	struct net_tap *t;
	pthread_mutex_t m;
	pthread_cond_t c;
	int calls, frames;
	bool stall;
	uint8_t last[2048];
	ssize_t last_len;
};

static int rx_cb(void *arg)
{
	struct rxstate *st = arg;
	pthread_mutex_lock(&st->m);
	st->calls++;
	if (st->stall) {                                  /* "no guest buffers" */
		pthread_mutex_unlock(&st->m);
		return NET_TAP_RX_STALLED;
	}
	for (;;) {
		uint8_t buf[sizeof(st->last)];
		struct iovec iov = { buf, sizeof(buf) };
		ssize_t n = net_tap_recv(st->t, &iov, 1);
		if (n < 0)
			break;
		/* The kernel sends its own frames (IPv6 MLD/RS) on an interface going up, at any
		 * moment: they are skipped without touching the last test frame. */
		if (n < 26 || buf[24] != (ETH_P_TEST >> 8) || buf[25] != (ETH_P_TEST & 0xFF))
			continue;
		memcpy(st->last, buf, (size_t)n);
		st->last_len = n;
		st->frames++;
	}
	pthread_cond_broadcast(&st->c);
	pthread_mutex_unlock(&st->m);
	return NET_TAP_RX_DRAINED;
}

static bool wait_frames(struct rxstate *st, int n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 60;                /* a last guard on a loaded machine */
	pthread_mutex_lock(&st->m);
	while (st->frames < n)
		if (pthread_cond_timedwait(&st->c, &st->m, &ts))
			break;
	bool ok = st->frames >= n;
	pthread_mutex_unlock(&st->m);
	return ok;
}

static void test_frames(void)
{
	char err[256];
	struct net_tap *t = net_tap_open("tap7", err, sizeof(err));
	CHECK(t != NULL);
	if (!t) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_STR(net_tap_name(t), "tap7");
	CHECK_EQ(net_tap_vnet_hdr_len(t), 12);
	CHECK(net_tap_open("tap7", err, sizeof(err)) == NULL);      /* one user at a time */
	CHECK_EQ(net_tap_set_vnet_hdr_len(t, 11), -1);
	CHECK_EQ(net_tap_set_offload(t, NET_TAP_OFF_CSUM | NET_TAP_OFF_TSO4 | NET_TAP_OFF_TSO6 |
				    NET_TAP_OFF_ECN | NET_TAP_OFF_UFO), 0);
	CHECK_EQ(net_tap_set_offload(t, 0), 0);
	CHECK_EQ(net_tap_set_up(t, 1400), 0);
	int s = packet_socket("tap7");
	CHECK(s >= 0);

	/* Guest -> host: header (all zero: no offload) + frame, seen by the packet socket. */
	uint8_t hdr[12] = { 0 }, frame[100], got[2048];
	make_frame(frame, sizeof(frame), 1);
	struct iovec tx[2] = { { hdr, sizeof(hdr) }, { frame, sizeof(frame) } };
	CHECK_EQ(net_tap_send(t, tx, 2), sizeof(hdr) + sizeof(frame));
	struct pollfd p = { s, POLLIN, 0 };
	CHECK_EQ(poll(&p, 1, 60000), 1);
	ssize_t n = recv(s, got, sizeof(got), MSG_DONTWAIT);
	CHECK_EQ(n, sizeof(frame));
	CHECK(n == sizeof(frame) && memcmp(got, frame, sizeof(frame)) == 0);

	/* Host -> guest through the receive thread, including a stall and a kick. */
	struct rxstate st = { .t = t, .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER };
	CHECK_EQ(net_tap_start_rx(t, rx_cb, &st), 0);
	make_frame(frame, sizeof(frame), 2);
	CHECK_EQ(send(s, frame, sizeof(frame), 0), sizeof(frame));
	CHECK(wait_frames(&st, 1));
	pthread_mutex_lock(&st.m);
	CHECK_EQ(st.last_len, 12 + sizeof(frame));
	CHECK(memcmp(st.last + 12, frame, sizeof(frame)) == 0);
	st.stall = true;
	int calls0 = st.calls;
	pthread_mutex_unlock(&st.m);
	send(s, frame, sizeof(frame), 0);
	for (int i = 0; i < 6000; i++) {                   /* until the stalled call happened */
		pthread_mutex_lock(&st.m);
		bool called = st.calls > calls0;
		pthread_mutex_unlock(&st.m);
		if (called)
			break;
		usleep(10000);
	}
	pthread_mutex_lock(&st.m);
	int calls = st.calls;
	CHECK(calls > calls0);
	CHECK_EQ(st.frames, 1);                            /* held back while stalled */
	pthread_mutex_unlock(&st.m);
	send(s, frame, sizeof(frame), 0);
	usleep(100000);
	pthread_mutex_lock(&st.m);
	CHECK_EQ(st.calls, calls);                         /* no busy loop while stalled */
	st.stall = false;
	pthread_mutex_unlock(&st.m);
	net_tap_rx_kick(t);
	CHECK(wait_frames(&st, 3));
	close(s);
	net_tap_close(t);
	CHECK_EQ(if_nametoindex("tap7"), 0);               /* a created tap goes away */
}

/* A persistent tap made beforehand (as `ip tuntap add` does) is attached, not re-created. */
static void test_attach_persistent(void)
{
	int fd = open("/dev/net/tun", O_RDWR);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	strcpy(ifr.ifr_name, "tap8");
	CHECK_EQ(ioctl(fd, TUNSETIFF, &ifr), 0);
	CHECK_EQ(ioctl(fd, TUNSETPERSIST, 1), 0);
	close(fd);
	unsigned idx = if_nametoindex("tap8");
	CHECK(idx != 0);
	char err[256];
	struct net_tap *t = net_tap_open("tap8", err, sizeof(err));
	CHECK(t != NULL);
	CHECK_EQ(if_nametoindex("tap8"), idx);
	if (t) {
		CHECK_EQ(ioctl(net_tap_fd(t), TUNSETPERSIST, 0), 0);
		net_tap_close(t);
	}
}

int main(void)
{
	test_names();
	if (access("/dev/net/tun", R_OK | W_OK) != 0 || unshare(CLONE_NEWNET) != 0) {
		printf("net_tap: no /dev/net/tun or no network namespace: TAP tests skipped\n");
		return unit_report("net_tap");
	}
	test_frames();
	test_attach_persistent();
	return unit_report("net_tap");
}
