/*
 * virtio-console (-s N,virtio-console,NAME=/path/to/NAME.sock[,NAME2=...]): up to 16 named
 * ports, each a UNIX-domain socket that bhyve creates and listens on (one connection at a
 * time; removed again when bhyve exits, unlike on FreeBSD).  Keys: port.NAME.path.  Names are
 * unique, and are config-tree names (no '.').
 *
 * The device: virtio 1.x section 5.3 with MULTIPORT: every port is a named serial port in
 * the guest (/dev/vportNpM, name in sysfs) backed by a UNIX-domain socket that we create.
 *
 * Queues: port 0 uses 0 (receive) and 1 (transmit), the control queues are 2 (device->driver)
 * and 3 (driver->device), port i >= 1 uses 2i+2 and 2i+3.  The driver says DEVICE_READY, we
 * announce each port with DEVICE_ADD, it answers PORT_READY, we give the PORT_NAME and tell
 * whether a host client is connected (PORT_OPEN); it reports its own PORT_OPEN when a guest
 * program opens or closes the port.
 *
 * Host side, per port: one connection at a time (a second client is accepted and closed at
 * once), data flows only while the guest has the port open; after a disconnect the socket
 * accepts the next client.  The sockets are removed when the device is destroyed.
 * An I/O thread polls the sockets; guest transmit runs on the notifying vCPU (non-blocking
 * writes: what a stalled client cannot take is dropped, as on a serial line).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/devconf.h"
#include "pci/pci_emul.h"
#include "pci/pci_devinst.h"
#include "pci/virtio_pci_bus.h"

#define VTCON_MAXPORTS    16
#define VTCON_QSIZE       64
#define VTCON_CFGSIZE     12
#define VTCON_NAME_MAX    63

#define VIRTIO_CONSOLE_F_SIZE      0
#define VIRTIO_CONSOLE_F_MULTIPORT 1

/* Control events (5.3.6.2). */
#define VTCON_DEVICE_READY  0
#define VTCON_DEVICE_ADD    1
#define VTCON_DEVICE_REMOVE 2
#define VTCON_PORT_READY    3
#define VTCON_CONSOLE_PORT  4
#define VTCON_RESIZE        5
#define VTCON_PORT_OPEN     6
#define VTCON_PORT_NAME     7

struct vtcon_port_conf {
	const char *name;
	const char *path;           /* UNIX socket bhyve creates and listens on */
};

#define VTCON_CTRL_RX  2
#define VTCON_CTRL_TX  3
#define VTCON_CTLQ_LEN 128            /* queued control messages to the driver */

struct vtcon_port {
	char name[VTCON_NAME_MAX + 1];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;                      /* listening socket */
	bool installed;               /* our socket is at `path` (dev/ino): removed at the end */
	dev_t dev;
	ino_t ino;
	int cfd;                      /* the connected client, or -1 */
	bool ready;                   /* driver sent PORT_READY */
	bool guest_open;              /* driver sent PORT_OPEN 1 */
};

struct vtcon_msg {
	uint32_t id;
	uint16_t event, value;
	uint8_t namelen;
	char name[VTCON_NAME_MAX];
};

struct vtcon_softc {
	struct vtpci_state vs;      /* first: the transport's BAR handlers find it at pi_arg */
	struct vtpci_dev dev;
	uint8_t cfg[VTCON_CFGSIZE];
	pthread_mutex_t mtx;
	int nports;
	struct vtcon_port port[VTCON_MAXPORTS];
	struct vtcon_msg ctlq[VTCON_CTLQ_LEN];
	int ctl_head, ctl_count;
	int evfd;
	volatile bool stopping;
	pthread_t thread;
	bool thread_started;
};

static int vtcon_rxq(int port) { return port == 0 ? 0 : 2 * port + 2; }
static int vtcon_txq(int port) { return port == 0 ? 1 : 2 * port + 3; }
/* Port of a data queue, or -1 for a control queue. */
static int vtcon_qport(int q) { return q < 2 ? 0 : q < 4 ? -1 : q / 2 - 1; }

static void vtcon_kick(struct vtcon_softc *sc)
{
	uint64_t one = 1;
	if (write(sc->evfd, &one, sizeof(one)) < 0) {
		/* saturated: the thread is awake anyway */
	}
}

/* ---- Control messages (device -> driver), with mtx held ---- */

static void vtcon_ctl_queue(struct vtcon_softc *sc, uint32_t id, uint16_t ev, uint16_t val,
			    const char *name)
{
	if (sc->ctl_count == VTCON_CTLQ_LEN)
		return;                   /* a driver that posts no buffers loses events */
	struct vtcon_msg *m = &sc->ctlq[(sc->ctl_head + sc->ctl_count++) % VTCON_CTLQ_LEN];
	m->id = id;
	m->event = ev;
	m->value = val;
	m->namelen = 0;
	if (name) {
		size_t n = strlen(name);
		m->namelen = (uint8_t)(n > VTCON_NAME_MAX ? VTCON_NAME_MAX : n);
		memcpy(m->name, name, m->namelen);
	}
}

/* Copy queued messages into control receive buffers; true if any was used. */
static bool vtcon_ctl_flush(struct vtcon_softc *sc)
{
	struct virtqueue *vq = vtpci_vq(&sc->vs, VTCON_CTRL_RX);
	struct iovec iov[8];
	struct vq_chain c;
	bool any = false;

	while (sc->ctl_count) {
		int r = vq_pop(vq, iov, 8, &c);
		if (r <= 0) {
			if (r < 0)
				vtpci_needs_reset(&sc->vs);
			break;
		}
		struct vtcon_msg *m = &sc->ctlq[sc->ctl_head];
		uint8_t b[8 + VTCON_NAME_MAX];
		for (int i = 0; i < 4; i++)
			b[i] = (uint8_t)(m->id >> (8 * i));
		b[4] = (uint8_t)m->event;
		b[5] = (uint8_t)(m->event >> 8);
		b[6] = (uint8_t)m->value;
		b[7] = (uint8_t)(m->value >> 8);
		memcpy(b + 8, m->name, m->namelen);
		size_t n = vq_buf_to_iov(iov + c.nread, c.niov - c.nread, 0, b, 8u + m->namelen);
		vq_push(vq, c.head, (uint32_t)n);
		sc->ctl_head = (sc->ctl_head + 1) % VTCON_CTLQ_LEN;
		sc->ctl_count--;
		any = true;
	}
	return any;
}

/* Tell the driver about the host side of a port (only once it is ready for it). */
static void vtcon_host_state(struct vtcon_softc *sc, int p)
{
	if (sc->port[p].ready)
		vtcon_ctl_queue(sc, (uint32_t)p, VTCON_PORT_OPEN, sc->port[p].cfd >= 0, NULL);
}

/* One message from the driver's control transmit queue. */
static void vtcon_ctl_handle(struct vtcon_softc *sc, const uint8_t *b)
{
	uint32_t id = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
	uint16_t ev = (uint16_t)(b[4] | b[5] << 8), val = (uint16_t)(b[6] | b[7] << 8);

	switch (ev) {
	case VTCON_DEVICE_READY:
		if (val != 1)
			break;                /* the driver failed to set up */
		for (int p = 0; p < sc->nports; p++)
			vtcon_ctl_queue(sc, (uint32_t)p, VTCON_DEVICE_ADD, 0, NULL);
		break;
	case VTCON_PORT_READY:
		if (id >= (uint32_t)sc->nports || val != 1)
			break;
		sc->port[id].ready = true;
		vtcon_ctl_queue(sc, id, VTCON_PORT_NAME, 0, sc->port[id].name);
		vtcon_host_state(sc, (int)id);
		break;
	case VTCON_PORT_OPEN:
		if (id < (uint32_t)sc->nports)
			sc->port[id].guest_open = val != 0;
		break;
	default:
		break;                        /* unknown events are ignored */
	}
}

static void vtcon_ctl_tx(struct vtcon_softc *sc)
{
	struct virtqueue *vq = vtpci_vq(&sc->vs, VTCON_CTRL_TX);
	struct iovec iov[8];
	struct vq_chain c;
	uint8_t b[8];

	for (;;) {
		int r = vq_pop(vq, iov, 8, &c);
		if (r <= 0) {
			if (r < 0)
				vtpci_needs_reset(&sc->vs);
			break;
		}
		if (vq_iov_to_buf(iov, c.nread, 0, b, 8) == 8)
			vtcon_ctl_handle(sc, b);
		vq_push(vq, c.head, 0);
	}
}

/* ---- Data ---- */

/* Guest -> host for port p (mtx held). */
static void vtcon_port_tx(struct vtcon_softc *sc, int p)
{
	struct virtqueue *vq = vtpci_vq(&sc->vs, vtcon_txq(p));
	struct iovec iov[VTCON_QSIZE];
	struct vq_chain c;

	for (;;) {
		int r = vq_pop(vq, iov, VTCON_QSIZE, &c);
		if (r <= 0) {
			if (r < 0)
				vtpci_needs_reset(&sc->vs);
			break;
		}
		if (sc->port[p].cfd >= 0 && c.nread > 0) {
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)c.nread };
			(void)sendmsg(sc->port[p].cfd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		vq_push(vq, c.head, 0);
	}
	vtpci_queue_done(&sc->vs, vtcon_txq(p));
}

static void vtcon_disconnect(struct vtcon_softc *sc, int p)
{
	close(sc->port[p].cfd);
	sc->port[p].cfd = -1;
	vtcon_host_state(sc, p);
}

/* Host -> guest for port p while it has data and the guest buffers (mtx held). */
static void vtcon_port_rx(struct vtcon_softc *sc, int p)
{
	struct virtqueue *vq = vtpci_vq(&sc->vs, vtcon_rxq(p));
	struct iovec iov[VTCON_QSIZE];
	struct vq_chain c;
	bool any = false;

	while (sc->port[p].cfd >= 0 && sc->port[p].guest_open && vq_pending(vq)) {
		uint8_t buf[4096];
		ssize_t n = recv(sc->port[p].cfd, buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			vtcon_disconnect(sc, p);
			break;
		}
		if (n < 0)
			break;
		int r = vq_pop(vq, iov, VTCON_QSIZE, &c);
		if (r <= 0) {
			if (r < 0)
				vtpci_needs_reset(&sc->vs);
			break;
		}
		size_t w = vq_buf_to_iov(iov + c.nread, c.niov - c.nread, 0, buf, (size_t)n);
		/* Consume exactly what fit: the rest stays in the socket for the next buffer. */
		if (w > 0 && recv(sc->port[p].cfd, buf, w, MSG_DONTWAIT) < 0)
			w = 0;
		vq_push(vq, c.head, (uint32_t)w);
		any = true;
	}
	if (any)
		vtpci_queue_done(&sc->vs, vtcon_rxq(p));
}

/* ---- I/O thread ---- */

static void vtcon_accept(struct vtcon_softc *sc, int p)
{
	int fd = accept4(sc->port[p].lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (sc->port[p].cfd >= 0) {
		close(fd);                    /* one client per port at a time */
		return;
	}
	sc->port[p].cfd = fd;
	vtcon_host_state(sc, p);
}

/* Poll set: [0] event fd, then per port the listener and, when data may flow, the client. */
static int vtcon_pollset(struct vtcon_softc *sc, struct pollfd *pf, int *who)
{
	int n = 0;
	pf[n] = (struct pollfd){ sc->evfd, POLLIN, 0 };
	who[n++] = -1;
	for (int p = 0; p < sc->nports; p++) {
		struct vtcon_port *pt = &sc->port[p];
		pf[n] = (struct pollfd){ pt->lfd, POLLIN, 0 };
		who[n++] = p;
		if (pt->cfd >= 0) {
			bool flow = pt->guest_open && vq_pending(vtpci_vq(&sc->vs, vtcon_rxq(p)));
			/* Without room in the guest, watch only for hang-up. */
			pf[n] = (struct pollfd){ pt->cfd, (short)(flow ? POLLIN : POLLRDHUP), 0 };
			who[n++] = p + VTCON_MAXPORTS;
		}
	}
	return n;
}

static void *vtcon_thread(void *arg)
{
	struct vtcon_softc *sc = arg;
	struct pollfd pf[1 + 2 * VTCON_MAXPORTS];
	int who[1 + 2 * VTCON_MAXPORTS];

	while (!sc->stopping) {
		pthread_mutex_lock(&sc->mtx);
		int n = vtcon_pollset(sc, pf, who);
		pthread_mutex_unlock(&sc->mtx);
		if (poll(pf, (nfds_t)n, -1) < 0 && errno != EINTR)
			break;
		uint64_t v;
		if (pf[0].revents && read(sc->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			break;
		pthread_mutex_lock(&sc->mtx);
		for (int i = 1; i < n; i++) {
			int p = who[i] % VTCON_MAXPORTS;
			if (!pf[i].revents)
				continue;
			if (who[i] < VTCON_MAXPORTS)
				vtcon_accept(sc, p);
			else if (sc->port[p].cfd == pf[i].fd && !(pf[i].events & POLLIN) &&
				 (pf[i].revents & (POLLHUP | POLLERR | POLLRDHUP)))
				vtcon_disconnect(sc, p);    /* (while flowing, recv sees the EOF) */
		}
		for (int p = 0; p < sc->nports; p++)
			vtcon_port_rx(sc, p);
		bool ctl = vtcon_ctl_flush(sc);
		pthread_mutex_unlock(&sc->mtx);
		if (ctl)
			vtpci_queue_done(&sc->vs, VTCON_CTRL_RX);
	}
	return NULL;
}

/* ---- Transport callbacks ---- */

static void vtcon_qnotify(void *arg, int q)
{
	struct vtcon_softc *sc = arg;
	int p = vtcon_qport(q);

	pthread_mutex_lock(&sc->mtx);
	if (q == VTCON_CTRL_TX)
		vtcon_ctl_tx(sc);
	else if (p >= 0 && p < sc->nports && q == vtcon_txq(p))
		vtcon_port_tx(sc, p);
	pthread_mutex_unlock(&sc->mtx);
	vtpci_queue_done(&sc->vs, VTCON_CTRL_TX);
	vtcon_kick(sc);      /* new receive buffers or control messages to deliver */
}

static void vtcon_reset(void *arg)
{
	struct vtcon_softc *sc = arg;
	pthread_mutex_lock(&sc->mtx);
	for (int p = 0; p < sc->nports; p++)
		sc->port[p].ready = sc->port[p].guest_open = false;
	sc->ctl_head = sc->ctl_count = 0;
	pthread_mutex_unlock(&sc->mtx);
}

static void vtcon_cfgread(void *arg, uint32_t off, int size, uint8_t *out)
{
	struct vtcon_softc *sc = arg;
	memcpy(out, sc->cfg + off, (size_t)size);
}

/* ---- Life ---- */

/* The suffix of the temporary name a port's socket is bound to before it takes its place. */
#define VTCON_TMP_SUFFIX ".bhyve~"

/* Is someone listening on the socket at `path`? */
static bool vtcon_sock_live(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	bool live = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return live;
}

/* Put the socket bound at `tmp` in place of `path`.  The swap is atomic (RENAME_EXCHANGE), and
 * what was at `path` is then judged by the very file that was swapped out: a socket nobody
 * listens on (left by an earlier run) is removed; anything else goes back where it was. */
static int vtcon_install(const char *tmp, const char *path, char *err, size_t errlen)
{
	for (int tries = 0; tries < 8; tries++) {
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EEXIST)
			break;
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) < 0) {
			if (errno == ENOENT)
				continue;       /* gone meanwhile: try to create it again */
			break;
		}
		struct stat st;
		const char *why = lstat(tmp, &st) < 0 ? strerror(errno) :
				  !S_ISSOCK(st.st_mode) ? "exists and is not a socket" :
				  vtcon_sock_live(tmp) ? "a program is listening on it" : NULL;
		if (why == NULL)
			return unlink(tmp) < 0 && errno != ENOENT ? -1 : 0;
		snprintf(err, errlen, "%s: %s", path, why);
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0)
			unlink(tmp);    /* our socket again */
		return -1;
	}
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	unlink(tmp);
	return -1;
}

/* Remove our socket from its path, and nothing that has taken its place since. */
static void vtcon_uninstall(struct vtcon_port *pt)
{
	struct stat st;
	if (pt->installed && lstat(pt->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == pt->dev && st.st_ino == pt->ino)
		unlink(pt->path);
	pt->installed = false;
}

static int vtcon_listen(struct vtcon_port *pt, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s%s", pt->path, VTCON_TMP_SUFFIX);
	pt->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (pt->lfd < 0 || bind(pt->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "%s: %s", pt->path, strerror(errno));
		return -1;
	}
	if (vtcon_install(sa.sun_path, pt->path, err, errlen) < 0)
		return -1;
	struct stat st;
	if (lstat(pt->path, &st) == 0) {
		pt->installed = true;
		pt->dev = st.st_dev;
		pt->ino = st.st_ino;
	}
	if (listen(pt->lfd, 4) < 0) {
		snprintf(err, errlen, "%s: %s", pt->path, strerror(errno));
		return -1;
	}
	return 0;
}

static int vtcon_setup_ports(struct vtcon_softc *sc, const struct vtcon_port_conf *pc, int n,
			     char *err, size_t errlen)
{
	for (int p = 0; p < n; p++)
		sc->port[p].lfd = sc->port[p].cfd = -1;
	sc->nports = n;
	for (int p = 0; p < n; p++) {
		struct vtcon_port *pt = &sc->port[p];
		if (!pc[p].path ||
		    strlen(pc[p].path) + strlen(VTCON_TMP_SUFFIX) >= sizeof(pt->path)) {
			snprintf(err, errlen, "port %s: socket path too long", pc[p].name);
			return -1;
		}
		snprintf(pt->name, sizeof(pt->name), "%s", pc[p].name);
		snprintf(pt->path, sizeof(pt->path), "%s", pc[p].path);
		if (vtcon_listen(pt, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static void vtcon_destroy(struct vtcon_softc *sc);

/* The device with its sockets and I/O thread; NULL with a message. */
static struct vtcon_softc *vtcon_create(const struct vtcon_port_conf *ports, int nports,
					struct pci_devinst *pi, char *err, size_t errlen)
{
	if (nports < 1 || nports > VTCON_MAXPORTS) {
		snprintf(err, errlen, "virtio-console: 1 to %d ports", VTCON_MAXPORTS);
		return NULL;
	}
	struct vtcon_softc *sc = calloc(1, sizeof(*sc));
	if (!sc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&sc->mtx, NULL);
	sc->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sc->cfg[4] = (uint8_t)nports;             /* max_nr_ports; cols/rows 0 */
	sc->dev = (struct vtpci_dev){
		.name = "virtio-console", .nvq = 2 * (nports + 1), .qsize = VTCON_QSIZE,
		.features = (1ULL << VIRTIO_CONSOLE_F_MULTIPORT) |
			    (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX),
		.cfgsize = VTCON_CFGSIZE, .cfgread = vtcon_cfgread, .qnotify = vtcon_qnotify,
		.reset = vtcon_reset,
	};
	struct vq_mem mem;
	vtpci_pci_mem(pi, &mem);
	vtpci_init(&sc->vs, &sc->dev, sc, &vtpci_pci_intr, pi, &mem);
	if (sc->evfd < 0 || vtcon_setup_ports(sc, ports, nports, err, errlen) < 0 ||
	    pthread_create(&sc->thread, NULL, vtcon_thread, sc) != 0) {
		if (sc->evfd < 0)
			snprintf(err, errlen, "virtio-console: %s", strerror(errno));
		vtcon_destroy(sc);
		return NULL;
	}
	sc->thread_started = true;
	return sc;
}

/* Stops the I/O thread, closes connections and removes the sockets. */
static void vtcon_destroy(struct vtcon_softc *sc)
{
	if (!sc)
		return;
	if (sc->thread_started) {
		sc->stopping = true;
		vtcon_kick(sc);
		pthread_join(sc->thread, NULL);
	}
	for (int p = 0; p < sc->nports; p++) {
		if (sc->port[p].cfd >= 0)
			close(sc->port[p].cfd);
		if (sc->port[p].lfd >= 0)
			close(sc->port[p].lfd);
		vtcon_uninstall(&sc->port[p]);
	}
	if (sc->evfd >= 0)
		close(sc->evfd);
	vtpci_destroy(&sc->vs);
	pthread_mutex_destroy(&sc->mtx);
	free(sc);
}

/* ---- Configuration and registration ---- */

struct vtcon_count {
	unsigned n;
	struct devconf_err eb;
};

static int vtcon_one(config_node_t *nvl, const char *tok, unsigned *n, char *err, size_t errlen)
{
	const char *eq = strchr(tok, '=');
	char *name, *key;
	int rc = 0;

	if (!eq || eq == tok || !eq[1]) {
		snprintf(err, errlen, "'%s': expected name=/path/to/socket", tok);
		return -1;
	}
	name = strndup(tok, (size_t)(eq - tok));
	if (!name || asprintf(&key, "port.%s.path", name) < 0)
		abort();
	if (strchr(name, '.')) {
		snprintf(err, errlen, "'%s': port name '%s' may not contain '.'", tok, name);
		rc = -1;
	} else if (config_node_get(nvl, key)) {
		snprintf(err, errlen, "'%s': port name '%s' is used twice", tok, name);
		rc = -1;
	} else if (++*n > VTCON_MAXPORTS) {
		snprintf(err, errlen, "'%s': at most %d ports", tok, VTCON_MAXPORTS);
		rc = -1;
	} else if (config_node_set(nvl, key, eq + 1) < 0) {
		snprintf(err, errlen, "'%s': cannot set %s", tok, key);
		rc = -1;
	}
	free(key);
	free(name);
	return rc;
}

static int vtcon_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	const char *p = opts;
	unsigned n = 0;

	while (p && *p) {
		char *tok = devconf_first_token(p, &p);
		int rc = vtcon_one(nvl, tok, &n, err, errlen);
		free(tok);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int vtcon_port_visit(const char *name, config_node_t *child, const char *value, void *arg)
{
	static const char *const keys[] = { "path", NULL };
	struct vtcon_count *c = arg;
	const char *path = child ? config_node_get(child, "path") : NULL;
	char sub[PCI_ERRLEN];

	if (!child || devconf_check_keys(child, keys, sub, sizeof(sub)) < 0) {
		snprintf(c->eb.err, c->eb.errlen, "port.%s: expected port.%s.path=/path/to/socket",
			 name, name);
		return -1;
	}
	if (!path || !*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(c->eb.err, c->eb.errlen, "port.%s.path=%s: a socket path of 1 to %zu "
			 "characters is required", name, path ? path : "",
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -1;
	}
	if (++c->n > VTCON_MAXPORTS) {
		snprintf(c->eb.err, c->eb.errlen, "port.%s: at most %d ports", name,
			 VTCON_MAXPORTS);
		return -1;
	}
	(void)value;
	return 0;
}

static int vtcon_validate(config_node_t *nvl, char *err, size_t errlen)
{
	config_node_t *ports = devconf_find_child(nvl, "port");
	struct vtcon_count c = { 0, { err, errlen } };

	if (config_node_get(nvl, "port")) {
		snprintf(err, errlen, "port=%s: ports are port.NAME.path",
			 config_node_get(nvl, "port"));
		return -1;
	}
	return ports && config_node_foreach(ports, vtcon_port_visit, &c) ? -1 : 0;
}

/* port.NAME.path */

struct vtcon_ports {
	struct vtcon_port_conf pc[VTCON_MAXPORTS];
	int n;
};

static int vtcon_conf_visit(const char *name, config_node_t *child, const char *value, void *arg)
{
	struct vtcon_ports *p = arg;
	if (!child || p->n >= VTCON_MAXPORTS)
		return -1;
	p->pc[p->n].name = name;
	p->pc[p->n].path = config_node_get(child, "path");
	p->n++;
	return 0;
}

static void vtcon_deinit(struct pci_devinst *pi)
{
	vtcon_destroy(pi->pi_arg);    /* removes the sockets */
	pi->pi_arg = NULL;
}

static int vtcon_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	struct vtcon_ports ports = { .n = 0 };
	config_node_t *pn = devconf_find_child(nvl, "port");

	if (!pn || config_node_foreach(pn, vtcon_conf_visit, &ports) || ports.n == 0) {
		snprintf(err, errlen, "virtio-console: expected 1 to %d ports name=/path.sock",
			 VTCON_MAXPORTS);
		return -1;
	}
	struct vtcon_softc *sc = vtcon_create(ports.pc, ports.n, pi, err, errlen);
	if (!sc)
		return -1;
	pi->pi_arg = sc;
	if (vtpci_pci_setup(&sc->vs, pi, VIRTIO_DEV_CONSOLE, VIRTIO_TYPE_CONSOLE,
			    PCIC_SIMPLECOMM, 0x80, err, errlen) < 0) {
		vtcon_deinit(pi);
		return -1;
	}
	return 0;
}

static const struct pci_devemu pci_de_vtcon = {
	.pe_emu = "virtio-console",
	.pe_help = "virtio console: name=/path/to/name.sock[,name2=...] (at most 16 ports)",
	.pe_legacy_config = vtcon_legacy_config,
	.pe_keys = (const char *const[]){ "port", NULL },
	.pe_validate = vtcon_validate,
	.pe_init = vtcon_init, .pe_deinit = vtcon_deinit,
	.pe_barread = vtpci_barread, .pe_barwrite = vtpci_barwrite,
};
PCI_EMUL_SET(pci_de_vtcon);
