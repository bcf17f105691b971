/*
 * slirp backend on libslirp (see net_slirp.h).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "backends/net_be.h"
#include "backends/net_slirp.h"
#include "common/devconf.h"

#define NET_SLIRP_QMAX       1024          /* frames queued towards the guest */
#define NET_SLIRP_MAX_FRAME  (65535 + 14)  /* largest frame from the guest we pass on */
#define NET_SLIRP_MTU_MAX    65521         /* libslirp's IF_MTU_MAX */
#define NET_SLIRP_GUEST_ERRS 10            /* guest errors reported, then silence */

struct net_slirp_frame {
	struct net_slirp_frame *next;
	size_t len;
	uint8_t data[];
};

struct net_slirp_timer {
	struct net_slirp_timer *next;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;                 /* -1: not armed */
};

struct net_slirp {
	Slirp *slirp;
	pthread_mutex_t mtx;               /* libslirp, the timers */
	pthread_mutex_t qmtx;              /* the queue towards the guest */
	struct net_slirp_frame *qhead, **qtail;
	unsigned qlen;
	unsigned long dropped;
	int evfd;                          /* wakes the poll thread: frames, kicks, notify, stop */
	struct pollfd *pfd;                /* [0] is evfd; the rest libslirp's, per iteration */
	int npfd, pfdcap;
	struct net_slirp_timer *timers;
	unsigned guest_errors;
	uint8_t *txbuf;                    /* a guest frame made contiguous for slirp_input */
	net_slirp_rx_fn cb;
	void *cb_arg;
	pthread_t thread;
	bool running;
	volatile bool stopping;
};

static void net_slirp_wake(struct net_slirp *s)
{
	uint64_t one = 1;

	if (write(s->evfd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so the thread is already due to wake. */
	}
}

/* ---- libslirp callbacks (all called with s->mtx held) ---- */

static ssize_t net_slirp_cb_send(const void *buf, size_t len, void *opaque)
{
	struct net_slirp *s = opaque;
	struct net_slirp_frame *f = malloc(sizeof(*f) + len);

	pthread_mutex_lock(&s->qmtx);
	if (!f || s->qlen >= NET_SLIRP_QMAX) {
		s->dropped++;
		pthread_mutex_unlock(&s->qmtx);
		free(f);
		return (ssize_t)len;               /* dropped as on the wire; TCP resends */
	}
	memcpy(f->data, buf, len);
	f->len = len;
	f->next = NULL;
	*s->qtail = f;
	s->qtail = &f->next;
	s->qlen++;
	pthread_mutex_unlock(&s->qmtx);
	net_slirp_wake(s);
	return (ssize_t)len;
}

static void net_slirp_cb_guest_error(const char *msg, void *opaque)
{
	struct net_slirp *s = opaque;

	if (s->guest_errors >= NET_SLIRP_GUEST_ERRS)
		return;
	s->guest_errors++;
	fprintf(stderr, "bhyve: slirp: guest error: %s%s\n", msg,
		s->guest_errors == NET_SLIRP_GUEST_ERRS ? " (no more reported)" : "");
}

static int64_t net_slirp_cb_clock(void *opaque)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *net_slirp_cb_timer_new(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct net_slirp *s = opaque;
	struct net_slirp_timer *t = calloc(1, sizeof(*t));

	if (!t)
		abort();                           /* libslirp cannot handle a missing timer */
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void net_slirp_cb_timer_free(void *timer, void *opaque)
{
	struct net_slirp *s = opaque;

	for (struct net_slirp_timer **p = &s->timers; *p; p = &(*p)->next)
		if (*p == timer) {
			*p = (*p)->next;
			free(timer);
			return;
		}
}

static void net_slirp_cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	((struct net_slirp_timer *)timer)->expire_ms = expire_ms;
}

static void net_slirp_cb_fd(int fd, void *opaque) { }

static void net_slirp_cb_notify(void *opaque) { net_slirp_wake(opaque); }

static const SlirpCb net_slirp_cbs = {
	.send_packet = net_slirp_cb_send,
	.guest_error = net_slirp_cb_guest_error,
	.clock_get_ns = net_slirp_cb_clock,
	.timer_free = net_slirp_cb_timer_free,
	.timer_mod = net_slirp_cb_timer_mod,
	.register_poll_fd = net_slirp_cb_fd,
	.unregister_poll_fd = net_slirp_cb_fd,
	.notify = net_slirp_cb_notify,
	.timer_new_opaque = net_slirp_cb_timer_new,
};

/* ---- the poll thread ---- */

static int net_slirp_add_poll(int fd, int events, void *opaque)
{
	struct net_slirp *s = opaque;
	short ev = 0;

	if (s->npfd == s->pfdcap) {
		int cap = s->pfdcap * 2;
		struct pollfd *p = realloc(s->pfd, sizeof(*p) * (size_t)cap);
		if (!p)
			abort();
		s->pfd = p;
		s->pfdcap = cap;
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	s->pfd[s->npfd] = (struct pollfd){ fd, ev, 0 };
	return s->npfd++;
}

static int net_slirp_get_revents(int idx, void *opaque)
{
	struct net_slirp *s = opaque;
	short r;
	int ev = 0;

	if (idx < 1 || idx >= s->npfd)
		return 0;
	r = s->pfd[idx].revents;
	if (r & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (r & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (r & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (r & (POLLERR | POLLNVAL))
		ev |= SLIRP_POLL_ERR;
	if (r & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

/* The poll time-out in ms: libslirp's (UINT32_MAX: none) or the next timer's. */
static int net_slirp_timeout(struct net_slirp *s, uint32_t slirp_ms)
{
	int64_t now = net_slirp_cb_clock(s) / 1000000;
	int64_t t = slirp_ms == UINT32_MAX ? -1 : (int64_t)slirp_ms;

	for (struct net_slirp_timer *tm = s->timers; tm; tm = tm->next) {
		if (tm->expire_ms < 0)
			continue;
		int64_t d = tm->expire_ms > now ? tm->expire_ms - now : 0;
		if (t < 0 || d < t)
			t = d;
	}
	return t > 60000 ? 60000 : (int)t;
}

static void net_slirp_run_timers(struct net_slirp *s)
{
	int64_t now = net_slirp_cb_clock(s) / 1000000;
	bool again = true;

	/* A timer handler may free or re-arm timers: restart the walk after each one. */
	while (again) {
		again = false;
		for (struct net_slirp_timer *tm = s->timers; tm; tm = tm->next) {
			if (tm->expire_ms < 0 || tm->expire_ms > now)
				continue;
			tm->expire_ms = -1;
			slirp_handle_timer(s->slirp, tm->id, tm->cb_opaque);
			again = true;
			break;
		}
	}
}

static bool net_slirp_pending(struct net_slirp *s)
{
	pthread_mutex_lock(&s->qmtx);
	bool p = s->qhead != NULL;
	pthread_mutex_unlock(&s->qmtx);
	return p;
}

static void *net_slirp_loop(void *arg)
{
	struct net_slirp *s = arg;
	bool stalled = false;

	while (!s->stopping) {
		if (!stalled && net_slirp_pending(s))
			stalled = s->cb(s->cb_arg) == NET_BE_RX_STALLED;
		uint32_t smax = UINT32_MAX;
		pthread_mutex_lock(&s->mtx);
		s->npfd = 1;
		slirp_pollfds_fill(s->slirp, &smax, net_slirp_add_poll, s);
		int t = net_slirp_timeout(s, smax);
		pthread_mutex_unlock(&s->mtx);
		s->pfd[0] = (struct pollfd){ s->evfd, POLLIN, 0 };
		int n = poll(s->pfd, (nfds_t)s->npfd, t);
		if (n > 0 && s->pfd[0].revents) {
			uint64_t v;
			if (read(s->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				break;
			stalled = false;           /* a kick, or new frames: try the guest again */
		}
		pthread_mutex_lock(&s->mtx);
		slirp_pollfds_poll(s->slirp, n < 0 && errno != EINTR, net_slirp_get_revents, s);
		net_slirp_run_timers(s);
		pthread_mutex_unlock(&s->mtx);
	}
	return NULL;
}

/* ---- open, close, frames ---- */

static int net_slirp_add_fwd(const struct devconf_hostfwd *fw, const char *rule, void *arg)
{
	void **a = arg;
	struct net_slirp *s = a[0];
	struct devconf_err *e = a[1];

	if (slirp_add_hostfwd(s->slirp, fw->udp, fw->host_addr, fw->host_port, fw->guest_addr,
			      fw->guest_port) == 0)
		return 0;
	snprintf(e->err, e->errlen, "hostfwd=%s: cannot listen on host port %u: %s", rule,
		 fw->host_port, errno ? strerror(errno) : "refused by libslirp");
	return -1;
}

static Slirp *net_slirp_new(struct net_slirp *s, bool open, unsigned mtu)
{
	SlirpConfig c;

	memset(&c, 0, sizeof(c));
	c.version = 4;
	c.restricted = !open;
	c.in_enabled = true;
	inet_pton(AF_INET, "10.0.2.0", &c.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &c.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &c.vhost);
	inet_pton(AF_INET, "10.0.2.15", &c.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &c.vnameserver);
	c.vhostname = "bhyve";
	if (mtu > NET_SLIRP_MTU_MAX)
		mtu = NET_SLIRP_MTU_MAX;
	c.if_mtu = mtu;
	c.if_mru = mtu;
	return slirp_new(&c, &net_slirp_cbs, s);
}

struct net_slirp *net_slirp_open(const char *hostfwd, bool open, unsigned mtu, char *err,
				 size_t errlen)
{
	struct net_slirp *s = calloc(1, sizeof(*s));

	if (!s || !(s->txbuf = malloc(NET_SLIRP_MAX_FRAME)) ||
	    !(s->pfd = malloc(sizeof(*s->pfd) * 16))) {
		snprintf(err, errlen, "slirp: out of memory");
		if (s)
			free(s->txbuf);
		free(s);
		return NULL;
	}
	s->pfdcap = 16;
	s->evfd = -1;
	s->qtail = &s->qhead;
	pthread_mutex_init(&s->mtx, NULL);
	pthread_mutex_init(&s->qmtx, NULL);
	s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->evfd < 0) {
		snprintf(err, errlen, "slirp: eventfd: %s", strerror(errno));
		net_slirp_close(s);
		return NULL;
	}
	s->slirp = net_slirp_new(s, open, mtu);
	if (!s->slirp) {
		snprintf(err, errlen, "slirp: cannot create the user-mode network stack");
		net_slirp_close(s);
		return NULL;
	}
	struct devconf_err e = { err, errlen };
	void *arg[2] = { s, &e };
	if (hostfwd && devconf_hostfwd_foreach(hostfwd, net_slirp_add_fwd, arg, err, errlen) < 0) {
		net_slirp_close(s);
		return NULL;
	}
	return s;
}

void net_slirp_close(struct net_slirp *s)
{
	if (!s)
		return;
	if (s->running) {
		s->stopping = true;
		net_slirp_wake(s);
		pthread_join(s->thread, NULL);
	}
	if (s->slirp)
		slirp_cleanup(s->slirp);       /* closes its sockets, frees its timers */
	while (s->timers)
		net_slirp_cb_timer_free(s->timers, s);
	while (s->qhead) {
		struct net_slirp_frame *f = s->qhead;
		s->qhead = f->next;
		free(f);
	}
	if (s->evfd >= 0)
		close(s->evfd);
	pthread_mutex_destroy(&s->mtx);
	pthread_mutex_destroy(&s->qmtx);
	free(s->pfd);
	free(s->txbuf);
	free(s);
}

ssize_t net_slirp_send(struct net_slirp *s, const struct iovec *iov, int iovcnt)
{
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > NET_SLIRP_MAX_FRAME - len) {
			errno = EMSGSIZE;
			return -1;
		}
		memcpy(s->txbuf + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	pthread_mutex_lock(&s->mtx);
	slirp_input(s->slirp, s->txbuf, (int)len);
	pthread_mutex_unlock(&s->mtx);
	net_slirp_wake(s);                 /* new sockets or data to write: poll them */
	return (ssize_t)len;
}

ssize_t net_slirp_recv(struct net_slirp *s, const struct iovec *iov, int iovcnt)
{
	pthread_mutex_lock(&s->qmtx);
	struct net_slirp_frame *f = s->qhead;
	if (f) {
		s->qhead = f->next;
		if (!s->qhead)
			s->qtail = &s->qhead;
		s->qlen--;
	}
	pthread_mutex_unlock(&s->qmtx);
	if (!f) {
		errno = EAGAIN;
		return -1;
	}
	size_t off = 0;
	for (int i = 0; i < iovcnt && off < f->len; i++) {
		size_t n = f->len - off < iov[i].iov_len ? f->len - off : iov[i].iov_len;
		memcpy(iov[i].iov_base, f->data + off, n);
		off += n;
	}
	free(f);
	return (ssize_t)off;
}

int net_slirp_start_rx(struct net_slirp *s, net_slirp_rx_fn cb, void *arg)
{
	if (s->running) {
		errno = EBUSY;
		return -1;
	}
	s->cb = cb;
	s->cb_arg = arg;
	int e = pthread_create(&s->thread, NULL, net_slirp_loop, s);
	if (e) {
		errno = e;
		return -1;
	}
	s->running = true;
	return 0;
}

void net_slirp_rx_kick(struct net_slirp *s) { net_slirp_wake(s); }

unsigned long net_slirp_dropped(struct net_slirp *s)
{
	pthread_mutex_lock(&s->qmtx);
	unsigned long n = s->dropped;
	pthread_mutex_unlock(&s->qmtx);
	return n;
}
