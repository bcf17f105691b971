/*
 * virtio-net on a TAP interface in a private network namespace, made from its registration and
 * config keys on a VM's PCI bus and driven through the legacy transport: frames from the host land in receive buffers with the
 * virtio-net header (mergeable buffers: num_buffers), big frames span several buffers, a frame
 * waits (stall) until the driver posts buffers, guest frames reach the host, config space holds
 * the MAC, link status and MTU.  Skipped without root / /dev/net/tun.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"
#include "vtdev_test.h"

#define VTNET_QSIZE 1024             /* what the device offers */
/* virtio-net feature bits and status (virtio 1.x 5.1), as a driver knows them. */
#define VIRTIO_NET_F_CSUM        0
#define VIRTIO_NET_F_GUEST_CSUM  1
#define VIRTIO_NET_F_MTU         3
#define VIRTIO_NET_F_MAC         5
#define VIRTIO_NET_F_MRG_RXBUF   15
#define VIRTIO_NET_F_STATUS      16
#define VIRTIO_NET_S_LINK_UP     1

#define RAM_SIZE  (8u << 20)
#define RXQ_GPA   0x10000ULL
#define TXQ_GPA   0x40000ULL
#define RXBUF_GPA 0x100000ULL     /* 2 KiB receive buffers */
#define RXQ2_GPA  0x20000ULL      /* the receive ring after a reset, and its buffers */
#define RXBUF2_GPA 0x200000ULL
#define TXBUF_GPA 0x300000ULL
#define BUFSZ     2048
#define ETH_P_TEST 0x88B5

static uint8_t *ram;
static struct vtpci_state *vs;
static int irqs;

struct dq { uint64_t desc, avail, used; uint16_t size, avail_idx, used_seen; };
static struct dq rxq, txq;

static void f_intx(void *c) { __atomic_add_fetch(&irqs, 1, __ATOMIC_SEQ_CST); }
static const struct vtpci_intr_ops intr = { .intx_assert = f_intx };

static void q_setup(struct dq *q, int idx, uint64_t gpa)
{
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_SEL, 2, idx);
	q->size = (uint16_t)vtpci_legacy_read(vs, VTPCI_L_QUEUE_NUM, 2);
	q->desc = gpa;
	q->avail = gpa + 16ULL * q->size;
	q->used = (q->avail + 6 + 2ULL * q->size + 4095) & ~4095ULL;
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_PFN, 4, (uint32_t)(gpa / 4096));
}

static void q_add(struct dq *q, uint16_t d, uint64_t addr, uint32_t len, uint16_t flags,
		  uint16_t next)
{
	struct vring_desc desc = { addr, len, flags, next };
	memcpy(ram + q->desc + 16ULL * d, &desc, 16);
}

static void q_avail(struct dq *q, uint16_t head)
{
	uint16_t *a = (uint16_t *)(ram + q->avail);
	a[2 + q->avail_idx % q->size] = head;
	__atomic_store_n(&a[1], ++q->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t q_used_idx(struct dq *q)
{
	return __atomic_load_n((uint16_t *)(ram + q->used) + 1, __ATOMIC_ACQUIRE);
}

static uint32_t q_used(struct dq *q, uint16_t slot, uint32_t *len)
{
	uint32_t *e = (uint32_t *)(ram + q->used + 4 + 8ULL * (slot % q->size));
	*len = e[1];
	return e[0];
}

static bool wait_used(struct dq *q, uint16_t target)
{
	for (int i = 0; i < 60000; i++) {
		if ((uint16_t)(q_used_idx(q) - target) < 0x8000)
			return true;
		usleep(1000);
	}
	return false;
}

/* Post receive buffer i (descriptor i, 2 KiB each). */
static void post_rx(uint16_t i)
{
	q_add(&rxq, i, RXBUF_GPA + (uint64_t)BUFSZ * i, BUFSZ, VRING_DESC_F_WRITE, 0);
	q_avail(&rxq, i);
}

static int if_up(const char *name, int mtu)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = mtu;
	int r = ioctl(s, SIOCSIFMTU, &ifr);
	if (r == 0)
		r = ioctl(s, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (r == 0)
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	close(s);
	return r;
}

static int packet_socket(const char *ifname)
{
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_TEST));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_TEST),
				   .sll_ifindex = (int)if_nametoindex(ifname) };
	if (s >= 0 && bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static void make_frame(uint8_t *f, size_t len, uint8_t tag)
{
	memset(f, 0xFF, 6);
	const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 9 };
	memcpy(f + 6, src, 6);
	f[12] = ETH_P_TEST >> 8;
	f[13] = ETH_P_TEST & 0xFF;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(tag * 3 + i);
}

/* Gather `n` used receive buffers from `slot` into out; returns num_buffers of the first. */
static int collect(uint16_t slot, int n, uint8_t *out, size_t *outlen)
{
	size_t off = 0;
	int nb = -1;
	for (int i = 0; i < n; i++) {
		uint32_t len, id = q_used(&rxq, (uint16_t)(slot + i), &len);
		const uint8_t *b = ram + RXBUF_GPA + (uint64_t)BUFSZ * id;
		if (i == 0) {
			nb = b[10] | b[11] << 8;
			memcpy(out, b + 12, len - 12);
			off = len - 12;
		} else {
			memcpy(out + off, b, len);
			off += len;
		}
	}
	*outlen = off;
	return nb;
}

static void test_net(void)
{
	char err[256];
	const uint8_t mac[6] = { 0x58, 0x9c, 0xfc, 1, 2, 3 };
	config_set("pci.0.9.0.device", "virtio-net");
	config_set("pci.0.9.0.backend", "vtn0");
	config_set("pci.0.9.0.mac", "58:9c:fc:01:02:03");
	config_set("pci.0.9.0.mtu", "9000");
	vs = vtdev_open(9, RAM_SIZE, &intr, &ram, err, sizeof(err));
	CHECK(vs != NULL);
	if (!vs) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_EQ(if_up("vtn0", 9000), 0);
	int s = packet_socket("vtn0");
	CHECK(s >= 0);

	/* Config: MAC, link up, MTU. */
	for (int i = 0; i < 6; i++)
		CHECK_EQ(vtpci_legacy_read(vs, 0x14 + i, 1), mac[i]);
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 6, 2), VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 10, 2), 9000);
	uint32_t hf = vtpci_legacy_read(vs, VTPCI_L_HOST_FEATURES, 4);
	CHECK(hf & (1u << VIRTIO_NET_F_MRG_RXBUF));
	CHECK(hf & (1u << VIRTIO_NET_F_MTU));
	CHECK(hf & (1u << VIRTIO_NET_F_CSUM));

	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 3);
	vtpci_legacy_write(vs, VTPCI_L_GUEST_FEATURES, 4,
			   (1u << VIRTIO_NET_F_MRG_RXBUF) | (1u << VIRTIO_NET_F_MAC) |
			   (1u << VIRTIO_NET_F_STATUS) | (1u << VIRTIO_NET_F_CSUM) |
			   (1u << VIRTIO_NET_F_GUEST_CSUM));
	q_setup(&rxq, 0, RXQ_GPA);
	q_setup(&txq, 1, TXQ_GPA);
	CHECK_EQ(rxq.size, VTNET_QSIZE);
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 7);
	for (uint16_t i = 0; i < 8; i++)
		post_rx(i);
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, 0);

	/* A small frame: one buffer, header + frame, num_buffers 1. */
	static uint8_t f[6000], got[8000];
	size_t gl;
	uint32_t len;
	make_frame(f, 100, 1);
	CHECK_EQ(send(s, f, 100, 0), 100);
	CHECK(wait_used(&rxq, 1));
	q_used(&rxq, 0, &len);
	CHECK_EQ(len, 112);
	CHECK_EQ(collect(0, 1, got, &gl), 1);
	CHECK(gl == 100 && memcmp(got, f, 100) == 0);
	CHECK(irqs > 0);

	/* 5000 bytes: three 2 KiB buffers (12 + 5000 = 5012). */
	make_frame(f, 5000, 2);
	CHECK_EQ(send(s, f, 5000, 0), 5000);
	CHECK(wait_used(&rxq, 4));
	CHECK_EQ(collect(1, 3, got, &gl), 3);
	CHECK(gl == 5000 && memcmp(got, f, 5000) == 0);

	/* Four buffers left; three 3000-byte frames need six: the third waits for buffers. */
	for (int k = 0; k < 3; k++) {
		make_frame(f, 3000, (uint8_t)(10 + k));
		CHECK_EQ(send(s, f, 3000, 0), 3000);
	}
	CHECK(wait_used(&rxq, 8));
	usleep(20000);
	CHECK_EQ(q_used_idx(&rxq), 8);                     /* the third is held back */
	post_rx(8);
	post_rx(9);
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, 0);
	CHECK(wait_used(&rxq, 10));
	CHECK_EQ(collect(8, 2, got, &gl), 2);
	make_frame(f, 3000, 12);
	CHECK(gl == 3000 && memcmp(got, f, 3000) == 0);

	/* Guest -> host: header (no offload) + frame in two descriptors. */
	memset(ram + TXBUF_GPA, 0, 12);
	make_frame(ram + TXBUF_GPA + 64, 200, 7);
	q_add(&txq, 0, TXBUF_GPA, 12, VRING_DESC_F_NEXT, 1);
	q_add(&txq, 1, TXBUF_GPA + 64, 200, 0, 0);
	q_avail(&txq, 0);
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, 1);
	CHECK(wait_used(&txq, 1));                         /* sent by the transmit thread */
	struct pollfd p = { s, POLLIN, 0 };
	CHECK_EQ(poll(&p, 1, 5000), 1);
	ssize_t n = recv(s, got, sizeof(got), MSG_DONTWAIT);
	CHECK_EQ(n, 200);
	CHECK(n == 200 && memcmp(got, ram + TXBUF_GPA + 64, 200) == 0);

	/* A burst of 40 frames made available before one notify: all reach the host, in order,
	 * and the driver gets one interrupt for the batch (the transmit thread drains the ring
	 * with notifications off). */
	vtpci_legacy_read(vs, VTPCI_L_ISR, 1);               /* acknowledge: INTx deasserted */
	int irqs0 = __atomic_load_n(&irqs, __ATOMIC_SEQ_CST);
	for (uint16_t k = 0; k < 40; k++) {
		uint8_t *b = ram + TXBUF_GPA + 0x1000 + 256ULL * k;
		memset(b, 0, 12);
		make_frame(b + 12, 100, (uint8_t)(50 + k));
		q_add(&txq, (uint16_t)(10 + k), TXBUF_GPA + 0x1000 + 256ULL * k, 112, 0, 0);
		q_avail(&txq, (uint16_t)(10 + k));
	}
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, 1);
	CHECK(wait_used(&txq, 41));
	int inorder = 0;
	for (int k = 0; k < 40; k++) {
		make_frame(f, 100, (uint8_t)(50 + k));
		CHECK_EQ(poll(&p, 1, 5000), 1);
		n = recv(s, got, sizeof(got), MSG_DONTWAIT);
		inorder += n == 100 && memcmp(got, f, 100) == 0;
	}
	CHECK_EQ(inorder, 40);
	CHECK_EQ(__atomic_load_n(&irqs, __ATOMIC_SEQ_CST) - irqs0, 1);

	/* A hostile transmit chain (buffer outside RAM) breaks only the device. */
	q_add(&txq, 2, RAM_SIZE - 4, 64, 0, 0);
	q_avail(&txq, 2);
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, 1);
	for (int i = 0; i < 60000 && !(vtpci_legacy_read(vs, VTPCI_L_STATUS, 1) &
				      VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(1000);
	CHECK(vtpci_legacy_read(vs, VTPCI_L_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);

	/* Reset, then a frame: nothing is written to the old buffers.  The driver sets the device
	 * up again with a new receive ring and buffers elsewhere; a second frame lands there, by
	 * which time the first was dealt with (dropped, or received into the new ring). */
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 0);
	memset(ram + RXBUF_GPA, 0xAB, BUFSZ * 16);
	make_frame(f, 100, 3);
	CHECK_EQ(send(s, f, 100, 0), 100);
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 3);
	vtpci_legacy_write(vs, VTPCI_L_GUEST_FEATURES, 4, 1u << VIRTIO_NET_F_MRG_RXBUF);
	memset(&rxq, 0, sizeof(rxq));
	memset(ram + RXQ2_GPA, 0, 0x8000);
	q_setup(&rxq, 0, RXQ2_GPA);
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 7);
	for (uint16_t i = 0; i < 2; i++) {
		q_add(&rxq, i, RXBUF2_GPA + (uint64_t)BUFSZ * i, BUFSZ, VRING_DESC_F_WRITE, 0);
		q_avail(&rxq, i);
	}
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, 0);
	uint8_t f2[100];
	make_frame(f2, 100, 4);
	CHECK_EQ(send(s, f2, 100, 0), 100);
	bool got2 = false;
	for (uint16_t k = 0; k < 2 && !got2; k++) {
		if (!wait_used(&rxq, (uint16_t)(k + 1)))
			break;
		uint32_t id = q_used(&rxq, k, &len);
		const uint8_t *b = ram + RXBUF2_GPA + (uint64_t)BUFSZ * (id % 2);
		got2 = len == 112 && memcmp(b + 12, f2, 100) == 0;
		CHECK(got2 || (len == 112 && memcmp(b + 12, f, 100) == 0));
	}
	CHECK(got2);
	int untouched = 0;
	for (size_t i = 0; i < BUFSZ * 16; i++)
		untouched += ram[RXBUF_GPA + i] == 0xAB;
	CHECK_EQ(untouched, BUFSZ * 16);
	close(s);
	vtdev_close();
}

int main(void)
{
	if (access("/dev/net/tun", R_OK | W_OK) != 0 || unshare(CLONE_NEWNET) != 0) {
		printf("virtio_net: no /dev/net/tun or no network namespace: skipped\n");
		return unit_report("virtio_net");
	}
	/* No IPv6 in this namespace: the kernel would send its own frames (MLD, RS). */
	int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			perror("disable_ipv6");
		close(fd);
	}
	test_net();
	return unit_report("virtio_net");
}
