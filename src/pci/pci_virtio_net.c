/*
 * virtio-net (-s N,virtio-net,BACKEND[,mac=xx:xx:xx:xx:xx:xx][,mtu=N]).
 *
 * Keys: backend (a TAP interface of any name, or slirp with hostfwd= and open), mac, mtu
 * (68..65535, offered to the guest as the largest MTU).  vmnetN, netgraph, netmap and VALE are
 * parsed as on FreeBSD but refused by validation (Linux has none).  Without mac= the address
 * comes from netmac_default() (common/netmac.h).
 *
 * The device: virtio 1.x section 5.1 on a network backend (net_be.h: TAP or slirp).
 *
 * Queue 0 receives, queue 1 transmits; no control queue.  The TAP carries the same
 * virtio_net_hdr the guest uses (10 bytes, or 12 with num_buffers when MRG_RXBUF or VERSION_1
 * is negotiated), so checksum and segmentation offloads pass straight through: the guest may
 * send partially checksummed or TSO frames (CSUM, HOST_TSO*), and receives what the kernel
 * hands us once GUEST_* offloads are switched on with TUNSETOFFLOAD.
 *
 * Receive runs on the backend's thread: a frame is read into a bounce buffer, then copied
 * into one receive chain, or with MRG_RXBUF into as many chains as it needs (num_buffers).
 * Chains gathered for a frame that does not fit yet are held for the next attempt; with no
 * chain available the thread stalls until the driver adds buffers (queue notify -> kick).
 * Transmit runs on its own thread: a notify only wakes it.  While it works it asks the driver
 * not to notify (vq_set_notify), so a guest that sends a burst queues frames without exits and
 * gets one interrupt per batch (every VTNET_TX_BATCH frames at most) instead of one per frame,
 * and it keeps running while the host takes the frames.  rx_mtx/tx_mtx keep reset away from
 * both paths.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net_be.h"
#include "common/devconf.h"
#include "common/netmac.h"
#include "common/parse.h"
#include "common/ratelimit.h"
#include "pci/pci_emul.h"
#include "pci/pci_devinst.h"
#include "pci/virtio_pci_bus.h"

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

struct vtnet_chain {
	uint16_t head;
	int niov;
	uint64_t len;
	struct iovec iov[VTNET_MAXSEGS];
};

struct vtnet_softc {
	struct vtpci_state vs;      /* first: the transport's BAR handlers find it at pi_arg */
	struct vtpci_dev dev;
	struct net_be *be;
	uint8_t cfg[VTNET_CFGSIZE];
	pthread_mutex_t rx_mtx;
	pthread_mutex_t tx_mtx;
	pthread_mutex_t kick_mtx;   /* tx_kick, tx_stop, tx_cond: a notify never waits for a batch */
	pthread_cond_t tx_cond;
	pthread_t tx_thread;
	bool tx_kick;               /* the driver notified the transmit queue */
	bool tx_stop;
	bool tx_running;
	bool rx_ready;              /* DRIVER_OK and the receive queue is set up */
	int hdr_len;
	bool mrg;
	uint8_t *frame;             /* bounce buffer, VTNET_MAX_FRAME */
	ssize_t frame_len;          /* a frame waiting for buffers, or 0 */
	int nheld;
	struct vtnet_chain held[VTNET_MAXHELD];
	uint64_t rx_dropped;        /* frames dropped: no room, too big, device not ready */
};

/* ---- Receive ---- */

static uint64_t vtnet_held_space(const struct vtnet_softc *sc)
{
	uint64_t s = 0;
	for (int i = 0; i < sc->nheld; i++)
		s += sc->held[i].len;
	return s;
}

/* Pop chains until the held ones can take `need` bytes.  1: enough; 0: queue empty;
 * -1: cannot ever fit (limit reached) or the queue is broken. */
static int vtnet_gather(struct vtnet_softc *sc, uint64_t need)
{
	struct virtqueue *vq = vtpci_vq(&sc->vs, VTNET_RXQ);
	int limit = sc->mrg ? VTNET_MAXHELD : 1;

	while (vtnet_held_space(sc) < need) {
		if (sc->nheld >= limit)
			return -1;
		struct vtnet_chain *c = &sc->held[sc->nheld];
		struct vq_chain vc;
		int r = vq_pop(vq, c->iov, VTNET_MAXSEGS, &vc);
		if (r == 0)
			return 0;
		if (r < 0) {
			vtpci_needs_reset(&sc->vs);
			return -1;
		}
		/* Receive buffers are device-writable; readable ones are skipped (none in Linux). */
		c->head = vc.head;
		c->niov = vc.niov - vc.nread;
		memmove(c->iov, c->iov + vc.nread, sizeof(c->iov[0]) * (size_t)c->niov);
		c->len = vc.write_len;
		sc->nheld++;
	}
	return 1;
}

/* Copy the pending frame into the held chains and hand them to the driver. */
static void vtnet_deliver(struct vtnet_softc *sc)
{
	struct virtqueue *vq = vtpci_vq(&sc->vs, VTNET_RXQ);
	size_t off = 0, len = (size_t)sc->frame_len;
	int used = 0;

	while (off < len && used < sc->nheld) {
		struct vtnet_chain *c = &sc->held[used++];
		off += vq_buf_to_iov(c->iov, c->niov, 0, sc->frame + off, len - off);
	}
	if (sc->hdr_len == 12) {
		/* num_buffers lives in the first chain's header (bytes 10-11). */
		uint8_t nb[2] = { (uint8_t)used, (uint8_t)(used >> 8) };
		vq_buf_to_iov(sc->held[0].iov, sc->held[0].niov, 10, nb, 2);
	}
	off = 0;
	for (int i = 0; i < used; i++) {
		uint64_t n = sc->held[i].len < len - off ? sc->held[i].len : len - off;
		vq_push(vq, sc->held[i].head, (uint32_t)n);
		off += n;
	}
	memmove(sc->held, sc->held + used, sizeof(sc->held[0]) * (size_t)(sc->nheld - used));
	sc->nheld -= used;
	sc->frame_len = 0;
}

static int vtnet_rx_locked(struct vtnet_softc *sc)
{
	bool any = false;
	int ret = NET_BE_RX_DRAINED;

	for (;;) {
		if (sc->frame_len == 0) {
			struct iovec iov = { sc->frame, VTNET_MAX_FRAME };
			ssize_t n = net_be_recv(sc->be, &iov, 1);
			if (n < 0)
				break;                        /* EAGAIN: drained */
			if (!sc->rx_ready || n <= sc->hdr_len) {
				sc->rx_dropped++;
				continue;
			}
			sc->frame_len = n;
		}
		int r = vtnet_gather(sc, (uint64_t)sc->frame_len);
		if (r == 0) {
			ret = NET_BE_RX_STALLED;             /* wait for the driver's buffers */
			break;
		}
		if (r < 0) {
			sc->rx_dropped++;                     /* never fits: drop, keep chains */
			sc->frame_len = 0;
			if (vtpci_vq(&sc->vs, VTNET_RXQ)->broken)
				break;
			continue;
		}
		vtnet_deliver(sc);
		any = true;
	}
	if (any)
		vtpci_queue_done(&sc->vs, VTNET_RXQ);
	return ret;
}

static int vtnet_rx_cb(void *arg)
{
	struct vtnet_softc *sc = arg;
	pthread_mutex_lock(&sc->rx_mtx);
	int r = vtnet_rx_locked(sc);
	pthread_mutex_unlock(&sc->rx_mtx);
	return r;
}

/* ---- Transmit ---- */

/* Send every available frame; called with tx_mtx held.  Driver notifications are off while
 * the ring is being drained; re-enabling them reports frames that arrived meanwhile. */
static void vtnet_tx_batch(struct vtnet_softc *sc)
{
	struct virtqueue *vq = vtpci_vq(&sc->vs, VTNET_TXQ);
	struct iovec iov[VTNET_MAXSEGS];
	struct vq_chain c;
	unsigned n = 0;

	if (!vq_ready(vq))
		return;
	vq_set_notify(vq, false);
	for (;;) {
		int r = vq_pop(vq, iov, VTNET_MAXSEGS, &c);
		if (r == 0) {
			if (!vq_set_notify(vq, true))
				break;
			vq_set_notify(vq, false);
			continue;
		}
		if (r < 0) {
			if (vq_ready(vq))
				vtpci_needs_reset(&sc->vs);
			break;
		}
		/* Header + frame, all device-readable.  A short one is dropped, as is a frame
		 * the kernel refuses (bad GSO header...): the guest just sees it sent. */
		if (c.read_len > (uint64_t)sc->hdr_len)
			(void)net_be_send(sc->be, iov, c.nread);
		vq_push(vq, c.head, 0);
		if (++n % VTNET_TX_BATCH == 0)
			vtpci_queue_done(&sc->vs, VTNET_TXQ);
	}
	if (n % VTNET_TX_BATCH)
		vtpci_queue_done(&sc->vs, VTNET_TXQ);
}

static void *vtnet_tx_loop(void *arg)
{
	struct vtnet_softc *sc = arg;

	for (;;) {
		pthread_mutex_lock(&sc->kick_mtx);
		while (!sc->tx_kick && !sc->tx_stop)
			pthread_cond_wait(&sc->tx_cond, &sc->kick_mtx);
		bool stop = sc->tx_stop;
		sc->tx_kick = false;
		pthread_mutex_unlock(&sc->kick_mtx);
		if (stop)
			return NULL;
		pthread_mutex_lock(&sc->tx_mtx);
		vtnet_tx_batch(sc);
		pthread_mutex_unlock(&sc->tx_mtx);
	}
}

static void vtnet_tx_kick(struct vtnet_softc *sc)
{
	pthread_mutex_lock(&sc->kick_mtx);
	sc->tx_kick = true;
	pthread_cond_signal(&sc->tx_cond);
	pthread_mutex_unlock(&sc->kick_mtx);
}

static void vtnet_qnotify(void *arg, int q)
{
	struct vtnet_softc *sc = arg;
	if (q == VTNET_RXQ)
		net_be_rx_kick(sc->be);   /* new receive buffers */
	else if (q == VTNET_TXQ)
		vtnet_tx_kick(sc);
}

/* ---- Negotiation, reset, config ---- */

static void vtnet_negotiated(void *arg, uint64_t f)
{
	struct vtnet_softc *sc = arg;
	unsigned off = 0;

	if (f & (1ULL << VIRTIO_NET_F_GUEST_CSUM)) {
		off |= NET_BE_OFF_CSUM;
		if (f & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
			off |= NET_BE_OFF_TSO4;
		if (f & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
			off |= NET_BE_OFF_TSO6;
		if (f & (1ULL << VIRTIO_NET_F_GUEST_ECN))
			off |= NET_BE_OFF_ECN;
	}
	pthread_mutex_lock(&sc->rx_mtx);
	pthread_mutex_lock(&sc->tx_mtx);
	sc->mrg = f & (1ULL << VIRTIO_NET_F_MRG_RXBUF);
	sc->hdr_len = (sc->mrg || (f & (1ULL << VIRTIO_F_VERSION_1))) ? 12 : 10;
	if (net_be_set_hdr_len(sc->be, sc->hdr_len) < 0 || net_be_set_offload(sc->be, off) < 0) {
		static struct ratelimit rl = RATELIMIT_DEFAULT;   /* each feature write retries */
		ratelimit_log(&rl, "virtio-net: %s: offload set-up: %s\n", net_be_name(sc->be),
			      strerror(errno));
	}
	pthread_mutex_unlock(&sc->tx_mtx);
	pthread_mutex_unlock(&sc->rx_mtx);
}

static void vtnet_driver_ok(void *arg)
{
	struct vtnet_softc *sc = arg;
	pthread_mutex_lock(&sc->rx_mtx);
	sc->rx_ready = vq_ready(vtpci_vq(&sc->vs, VTNET_RXQ));
	pthread_mutex_unlock(&sc->rx_mtx);
	net_be_rx_kick(sc->be);
}

static void vtnet_reset(void *arg)
{
	struct vtnet_softc *sc = arg;
	pthread_mutex_lock(&sc->rx_mtx);
	pthread_mutex_lock(&sc->tx_mtx);
	sc->rx_ready = false;
	pthread_mutex_lock(&sc->kick_mtx);
	sc->tx_kick = false;        /* a notify of the old ring */
	pthread_mutex_unlock(&sc->kick_mtx);
	sc->nheld = 0;              /* chains of the old rings are forgotten, never written */
	sc->frame_len = 0;
	sc->mrg = false;
	sc->hdr_len = 10;
	pthread_mutex_unlock(&sc->tx_mtx);
	pthread_mutex_unlock(&sc->rx_mtx);
}

static void vtnet_cfgread(void *arg, uint32_t off, int size, uint8_t *out)
{
	struct vtnet_softc *sc = arg;
	memcpy(out, sc->cfg + off, (size_t)size);
}

/* Checksum and segmentation offloads only where the backend carries the header's offload
 * fields to the host (TAP); with slirp the guest sends and receives complete frames. */
static uint64_t vtnet_features(unsigned mtu, bool offloads)
{
	uint64_t f = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
		     (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_CSUM) |
		     (1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |
		     (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_HOST_ECN) |
		     (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
		     (1ULL << VIRTIO_NET_F_GUEST_ECN) |
		     (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
	if (mtu)
		f |= 1ULL << VIRTIO_NET_F_MTU;
	if (!offloads)
		f &= ~((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
		       (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
		       (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
		       (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN));
	return f;
}

static void vtnet_destroy(struct vtnet_softc *sc);

/* The device on the backend the node names (net_be_open) with `mac`; mtu 0 = not offered.
 * NULL + message on error. */
static struct vtnet_softc *vtnet_create(struct pci_devinst *pi, config_node_t *nvl,
					const uint8_t mac[6], unsigned mtu, char *err,
					size_t errlen)
{
	struct vtnet_softc *sc = calloc(1, sizeof(*sc));
	if (!sc || !(sc->frame = malloc(VTNET_MAX_FRAME))) {
		snprintf(err, errlen, "out of memory");
		free(sc);
		return NULL;
	}
	sc->be = net_be_open(nvl, mtu, err, errlen);
	if (!sc->be) {
		free(sc->frame);
		free(sc);
		return NULL;
	}
	pthread_mutex_init(&sc->rx_mtx, NULL);
	pthread_mutex_init(&sc->tx_mtx, NULL);
	pthread_mutex_init(&sc->kick_mtx, NULL);
	pthread_cond_init(&sc->tx_cond, NULL);
	sc->hdr_len = 10;
	net_be_set_hdr_len(sc->be, 10);
	memcpy(sc->cfg, mac, 6);
	sc->cfg[6] = VIRTIO_NET_S_LINK_UP;
	sc->cfg[8] = 1;                              /* max_virtqueue_pairs */
	sc->cfg[10] = (uint8_t)mtu;
	sc->cfg[11] = (uint8_t)(mtu >> 8);
	sc->dev = (struct vtpci_dev){
		.name = "virtio-net", .nvq = 2, .qsize = VTNET_QSIZE,
		.features = vtnet_features(mtu, net_be_offloads(sc->be)), .cfgsize = VTNET_CFGSIZE,
		.cfgread = vtnet_cfgread, .qnotify = vtnet_qnotify, .reset = vtnet_reset,
		.negotiated = vtnet_negotiated, .driver_ok = vtnet_driver_ok,
	};
	struct vq_mem mem;
	vtpci_pci_mem(pi, &mem);
	vtpci_init(&sc->vs, &sc->dev, sc, &vtpci_pci_intr, pi, &mem);
	int e = pthread_create(&sc->tx_thread, NULL, vtnet_tx_loop, sc);
	if (e) {
		snprintf(err, errlen, "%s: transmit thread: %s", net_be_name(sc->be), strerror(e));
		vtnet_destroy(sc);
		return NULL;
	}
	sc->tx_running = true;
	if (net_be_start_rx(sc->be, vtnet_rx_cb, sc) < 0) {
		snprintf(err, errlen, "%s: receive thread: %s", net_be_name(sc->be), strerror(errno));
		vtnet_destroy(sc);
		return NULL;
	}
	return sc;
}

static void vtnet_destroy(struct vtnet_softc *sc)
{
	if (!sc)
		return;
	if (sc->tx_running) {
		pthread_mutex_lock(&sc->kick_mtx);
		sc->tx_stop = true;
		pthread_cond_signal(&sc->tx_cond);
		pthread_mutex_unlock(&sc->kick_mtx);
		pthread_join(sc->tx_thread, NULL);
	}
	net_be_close(sc->be);                        /* stops the receive thread first */
	vtpci_destroy(&sc->vs);
	pthread_mutex_destroy(&sc->rx_mtx);
	pthread_mutex_destroy(&sc->tx_mtx);
	pthread_mutex_destroy(&sc->kick_mtx);
	pthread_cond_destroy(&sc->tx_cond);
	free(sc->frame);
	free(sc);
}

/* ---- Configuration and registration ---- */

static int vtnet_validate(config_node_t *nvl, char *err, size_t errlen)
{
	return devconf_net_check(nvl, err, errlen);
}

static void vtnet_deinit(struct pci_devinst *pi)
{
	vtnet_destroy(pi->pi_arg);
	pi->pi_arg = NULL;
}

static int vtnet_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	const char *macs = config_node_get(nvl, "mac");
	const char *mtus = config_node_get(nvl, "mtu");
	uint8_t mac[6];
	uint64_t mtu = 0;

	if (macs) {
		if (parse_mac(macs, mac) < 0) {
			snprintf(err, errlen, "mac=%s: malformed MAC address", macs);
			return -1;
		}
	} else {
		const char *vmname = config_get("name");
		netmac_default(pi->pi_bus, pi->pi_slot, pi->pi_func, vmname ? vmname : "", mac);
	}
	if (mtus && parse_num(mtus, 10, DEVCONF_MTU_MIN, DEVCONF_MTU_MAX, &mtu) < 0) {
		snprintf(err, errlen, "mtu=%s: expected %d..%d", mtus, DEVCONF_MTU_MIN,
			 DEVCONF_MTU_MAX);
		return -1;
	}
	struct vtnet_softc *sc = vtnet_create(pi, nvl, mac, (unsigned)mtu, err, errlen);
	if (!sc)
		return -1;
	pi->pi_arg = sc;
	if (vtpci_pci_setup(&sc->vs, pi, VIRTIO_DEV_NET, VIRTIO_TYPE_NET, PCIC_NETWORK,
			    PCIS_NETWORK_ETHERNET, err, errlen) < 0) {
		vtnet_deinit(pi);
		return -1;
	}
	return 0;
}

static const struct pci_devemu pci_de_vtnet = {
	.pe_emu = "virtio-net",
	.pe_help = "virtio network: IFNAME|slirp[,hostfwd=...][,open][,mac=xx:xx:xx:xx:xx:xx]"
		   "[,mtu=N]",
	.pe_legacy_config = devconf_net_legacy,
	.pe_keys = (const char *const[]){ DEVCONF_NET_KEYS, NULL },
	.pe_validate = vtnet_validate,
	.pe_init = vtnet_init, .pe_deinit = vtnet_deinit,
	.pe_barread = vtpci_barread, .pe_barwrite = vtpci_barwrite,
};
PCI_EMUL_SET(pci_de_vtnet);
