/*
 * VNC server on libvncserver (see rfb.h).
 *
 * Threads: libvncserver's listener and two per client (input, output); ours compares the
 * guest's screen with the server's copy (`shadow`, R, G, B, X bytes: the library's default
 * 32-bit format) and marks changed bands.  The guest's pixel order (B, G, R, X) is swapped
 * while copying.  A resolution change swaps in a new shadow (rfbNewFramebuffer, which locks
 * out the clients' senders).
 */
#include "backends/rfb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <rfb/rfb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RFB_TILE_W   64
#define RFB_TILE_H   32
#define RFB_POLL_NS  (1000000000L / 30)
#define RFB_BLACK_W  640
#define RFB_BLACK_H  480

#define RFB_WEB_MAX_FILE (8u << 20)  /* noVNC's largest files are well below this */

struct rfb_server {
	rfbScreenInfoPtr screen;
	struct rfb_source src;
	char *passwords[2];
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int clients;               /* connected (handshake done or not), under lock */
	bool ready;                /* a client finished its handshake, under lock */
	uint8_t *shadow;
	uint8_t *raw;              /* the guest's pixels as last copied (its format) */
	int w, h;
	int listen_fd, web_fd;
	char *web_dir;
	pthread_t web_thread;
	bool web_started;
};

/* ---- address parsing and listening ---- */

int rfb_parse_addr(const char *s, struct sockaddr_storage *ss, unsigned *len)
{
	char host[96] = "127.0.0.1";
	const char *port = s, *colon = strrchr(s, ':');
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char *end;
	long pn;

	if (colon) {
		size_t hl = (size_t)(colon - s);
		const char *h = s;
		if (s[0] == '[') {
			if (hl < 3 || colon[-1] != ']')
				return -1;
			h = s + 1;
			hl -= 2;
		}
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, h, hl);
		host[hl] = '\0';
		port = colon + 1;
	}
	errno = 0;
	pn = strtol(port, &end, 10);
	if (*port == '\0' || *end || errno || pn < 1 || pn > 65535)
		return -1;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = (unsigned)ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int rfb_listen(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned len;
	int one = 1, fd;

	if (rfb_parse_addr(addr, &ss, &len) < 0) {
		snprintf(err, errlen, "%s: expected [IPv4:]port or [IPv6%%zone]:port", addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", addr, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 8) < 0) {
		snprintf(err, errlen, "%s: cannot listen: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- libvncserver's messages: kept off the console unless BHYVE_VERBOSE is set, and then
 * at most a few per second (a client can make the library log at will) ---- */

static void rfb_log(const char *fmt, ...)
{
	static time_t window;
	static int count;
	const char *v = getenv("BHYVE_VERBOSE");
	time_t now = time(NULL);
	va_list ap;

	if (v == NULL || *v == '\0' || *v == '0')
		return;
	if (now != window) {
		window = now;
		count = 0;
	}
	if (++count > 5)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "bhyve: vnc: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* ---- client hooks ---- */

static void rfb_client_gone(rfbClientPtr cl)
{
	struct rfb_server *s = cl->screen->screenData;

	pthread_mutex_lock(&s->lock);
	s->clients--;
	pthread_mutex_unlock(&s->lock);
}

/* The first update request comes after authentication and initialisation. */
static void rfb_update_request(rfbClientPtr cl, rfbFramebufferUpdateRequestMsg *msg)
{
	struct rfb_server *s = cl->screen->screenData;

	(void)msg;
	pthread_mutex_lock(&s->lock);
	if (!s->ready) {
		s->ready = true;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

static enum rfbNewClientAction rfb_new_client(rfbClientPtr cl)
{
	struct rfb_server *s = cl->screen->screenData;

	cl->clientGoneHook = rfb_client_gone;
	cl->clientFramebufferUpdateRequestHook = rfb_update_request;
	pthread_mutex_lock(&s->lock);
	s->clients++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return RFB_CLIENT_ACCEPT;
}

static void rfb_kbd(rfbBool down, rfbKeySym sym, rfbClientPtr cl)
{
	struct rfb_server *s = cl->screen->screenData;

	if (s->src.key)
		s->src.key(s->src.arg, down != 0, (uint32_t)sym);
}

static void rfb_ptr(int mask, int x, int y, rfbClientPtr cl)
{
	struct rfb_server *s = cl->screen->screenData;
	int w = cl->screen->width, h = cl->screen->height;

	/* Positions come from the client: keep them on the screen. */
	x = x < 0 ? 0 : x >= w ? w - 1 : x;
	y = y < 0 ? 0 : y >= h ? h - 1 : y;
	if (s->src.pointer)
		s->src.pointer(s->src.arg, mask, x, y, w, h);
	rfbDefaultPtrAddEvent(mask, x, y, cl);
}

/* ---- screen comparison ---- */

/* One band, line by line: a line of the guest's screen that differs from `raw` (the last
 * copy in the guest's format, compared with memcmp, which is cheap on an unchanging screen)
 * is copied there and converted from B, G, R, X to the shadow's R, G, B, X.  True if any
 * line changed. */
static bool rfb_copy_tile(uint8_t *dst, uint8_t *raw, size_t dstride, const uint8_t *src,
			  size_t sstride, int w, int h)
{
	bool changed = false;

	for (int y = 0; y < h; y++) {
		const uint8_t *in = src + (size_t)y * sstride;
		uint32_t *r = (uint32_t *)(void *)(raw + (size_t)y * dstride);
		uint32_t *out = (uint32_t *)(void *)(dst + (size_t)y * dstride);
		if (memcmp(r, in, (size_t)w * 4) == 0)
			continue;
		memcpy(r, in, (size_t)w * 4);
		for (int x = 0; x < w; x++) {
			uint32_t p = r[x];
			out[x] = (p & 0x0000ff00u) | ((p >> 16) & 0xffu) | ((p & 0xffu) << 16);
		}
		changed = true;
	}
	return changed;
}

static void rfb_resize(struct rfb_server *s, int w, int h)
{
	uint8_t *fb = calloc((size_t)w * (size_t)h, 4);
	uint8_t *raw = calloc((size_t)w * (size_t)h, 4);

	if (fb == NULL || raw == NULL) {
		free(fb);
		free(raw);
		return;
	}
	free(s->raw);
	s->raw = raw;
	/* Clients send under their send locks, which rfbNewFramebuffer takes: once it returns
	 * nobody reads the old copy. */
	rfbNewFramebuffer(s->screen, (char *)fb, w, h, 8, 3, 4);
	free(s->shadow);
	s->shadow = fb;
	s->w = w;
	s->h = h;
}

static void rfb_scan(struct rfb_server *s)
{
	struct rfb_mode m = { 0 };

	s->src.get_mode(s->src.arg, &m);
	if (m.width <= 0 || m.height <= 0) {
		m.width = RFB_BLACK_W;
		m.height = RFB_BLACK_H;
		m.pixels = NULL;
	}
	if (m.width != s->w || m.height != s->h)
		rfb_resize(s, m.width, m.height);
	if (m.pixels == NULL || s->w != m.width || s->h != m.height)
		return;
	size_t dstride = (size_t)s->w * 4;
	for (int y = 0; y < s->h; y += RFB_TILE_H) {
		int th = s->h - y < RFB_TILE_H ? s->h - y : RFB_TILE_H;
		for (int x = 0; x < s->w; x += RFB_TILE_W) {
			int tw = s->w - x < RFB_TILE_W ? s->w - x : RFB_TILE_W;
			size_t off = (size_t)y * dstride + (size_t)x * 4;
			if (rfb_copy_tile(s->shadow + off, s->raw + off, dstride,
					  m.pixels + (size_t)y * m.stride + (size_t)x * 4, m.stride,
					  tw, th))
				rfbMarkRectAsModified(s->screen, x, y, x + tw, y + th);
		}
	}
}

static void *rfb_thread(void *arg)
{
	struct rfb_server *s = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		if (s->clients == 0) {
			/* Nobody watches: read nothing until a client comes. */
			pthread_cond_wait(&s->cond, &s->lock);
			clock_gettime(CLOCK_MONOTONIC, &next);
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		rfb_scan(s);
		next.tv_nsec += RFB_POLL_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}


/* ---- the browser console: noVNC's files over HTTP ----
 * A minimal static file server, one request per connection, GET only, files under web_dir
 * (no "..", no hidden files).  noVNC then opens a WebSocket to the VNC port, which
 * libvncserver answers there.  One request at a time, each bounded by a receive timeout. */

static const char *rfb_mime(const char *path)
{
	static const struct { const char *ext, *type; } t[] = {
		{ ".html", "text/html" }, { ".js", "application/javascript" },
		{ ".css", "text/css" }, { ".svg", "image/svg+xml" }, { ".png", "image/png" },
		{ ".ico", "image/x-icon" }, { ".json", "application/json" },
		{ ".ttf", "font/ttf" }, { ".woff", "font/woff" }, { ".woff2", "font/woff2" },
		{ ".ogg", "audio/ogg" }, { ".mp3", "audio/mpeg" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(dot, t[i].ext) == 0)
			return t[i].type;
	return "application/octet-stream";
}

static void rfb_web_reply(int fd, const char *status, const char *type, const void *body,
			  size_t len)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr), "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu"
			 "\r\nConnection: close\r\n\r\n", status, type, len);

	if (send(fd, hdr, (size_t)n, MSG_NOSIGNAL) == n && len)
		send(fd, body, len, MSG_NOSIGNAL);
}

/* The path of the request line "GET /x/y?q HTTP/1.1" into out (without the query), or
 * false if the request is not one we serve. */
static bool rfb_web_path(const char *req, char *out, size_t cap)
{
	const char *p = req + 4, *end;
	size_t n;

	if (strncmp(req, "GET /", 5) != 0)
		return false;
	end = p + strcspn(p, " ?#\r\n");
	n = (size_t)(end - p);
	if (n >= cap || memchr(p, '%', n) || memchr(p, '\\', n))
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	if (strcmp(out, "/") == 0)
		snprintf(out, cap, "/vnc.html");
	return strstr(out, "/.") == NULL;          /* no "..", no hidden files */
}

static void rfb_web_serve(struct rfb_server *s, int fd)
{
	char req[2048], path[512], file[1024];
	struct timeval tv = { 5, 0 };
	ssize_t n, got = 0;
	FILE *f;
	uint8_t *body;
	long len;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < (ssize_t)sizeof(req) - 1 &&
	       (n = recv(fd, req + got, sizeof(req) - 1 - (size_t)got, 0)) > 0) {
		got += n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got > 0 ? got : 0] = '\0';
	if (!rfb_web_path(req, path, sizeof(path))) {
		rfb_web_reply(fd, "400 Bad Request", "text/plain", "bad request\n", 12);
		return;
	}
	snprintf(file, sizeof(file), "%s%s", s->web_dir, path);
	f = fopen(file, "rb");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    (unsigned long)len > RFB_WEB_MAX_FILE || fseek(f, 0, SEEK_SET) != 0) {
		if (f)
			fclose(f);
		rfb_web_reply(fd, "404 Not Found", "text/plain", "not found\n", 10);
		return;
	}
	body = malloc((size_t)len + 1);
	if (body && fread(body, 1, (size_t)len, f) == (size_t)len)
		rfb_web_reply(fd, "200 OK", rfb_mime(path), body, (size_t)len);
	free(body);
	fclose(f);
}

static void *rfb_web_thread(void *arg)
{
	struct rfb_server *s = arg;

	for (;;) {
		int fd = accept4(s->web_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				continue;
			return NULL;               /* the socket was shut down */
		}
		rfb_web_serve(s, fd);
		close(fd);
	}
}

/* ---- life ---- */

static int rfb_setup_screen(struct rfb_server *s, const struct rfb_options *o, char *err,
			    size_t errlen)
{
	int argc = 0;
	rfbScreenInfoPtr sc = rfbGetScreen(&argc, NULL, RFB_BLACK_W, RFB_BLACK_H, 8, 3, 4);

	if (sc == NULL) {
		snprintf(err, errlen, "%s: cannot create the VNC server", o->addr);
		return -1;
	}
	s->screen = sc;
	s->w = RFB_BLACK_W;
	s->h = RFB_BLACK_H;
	s->shadow = calloc((size_t)s->w * (size_t)s->h, 4);
	s->raw = calloc((size_t)s->w * (size_t)s->h, 4);
	if (s->shadow == NULL || s->raw == NULL)
		abort();
	sc->frameBuffer = (char *)s->shadow;
	sc->screenData = s;
	sc->desktopName = o->name ? o->name : "bhyve";
	sc->alwaysShared = TRUE;
	sc->autoPort = FALSE;
	sc->port = 0;
	sc->ipv6port = 0;
	sc->httpPort = 0;
	sc->http6Port = 0;
	sc->newClientHook = rfb_new_client;
	sc->kbdAddEvent = rfb_kbd;
	sc->ptrAddEvent = rfb_ptr;
	sc->deferUpdateTime = 10;
	sc->cursor = NULL;
	if (o->password) {
		s->passwords[0] = strdup(o->password);
		sc->authPasswdData = s->passwords;
		sc->passwordCheck = rfbCheckPasswordByList;
		sc->authPasswdFirstViewOnly = 1;
	}
	return 0;
}

struct rfb_server *rfb_start(const struct rfb_options *o, const struct rfb_source *src,
			     char *err, size_t errlen)
{
	struct rfb_server *s = calloc(1, sizeof(*s));

	if (s == NULL)
		abort();
	s->src = *src;
	s->listen_fd = s->web_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	rfbLog = rfb_log;
	rfbErr = rfb_log;
	s->listen_fd = rfb_listen(o->addr, err, errlen);
	if (s->listen_fd < 0)
		goto fail;
	if (o->web_addr) {
		s->web_fd = rfb_listen(o->web_addr, err, errlen);
		if (s->web_fd < 0)
			goto fail;
	}
	if (rfb_setup_screen(s, o, err, errlen) < 0)
		goto fail;
	rfbInitServer(s->screen);
	/* rfbInitServer opened nothing (no ports set): hand it our bound socket. */
	s->screen->listenSock = s->listen_fd;
	if (s->listen_fd > s->screen->maxFd)
		s->screen->maxFd = s->listen_fd;
	FD_SET(s->listen_fd, &s->screen->allFds);
	rfbRunEventLoop(s->screen, -1, TRUE);
	if (pthread_create(&s->thread, NULL, rfb_thread, s) != 0) {
		snprintf(err, errlen, "%s: cannot start the VNC thread", o->addr);
		goto fail;
	}
	s->thread_started = true;
	if (o->web_dir && s->web_fd >= 0) {
		s->web_dir = strdup(o->web_dir);
		if (s->web_dir && pthread_create(&s->web_thread, NULL, rfb_web_thread, s) == 0)
			s->web_started = true;
	}
	return s;
fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->web_fd >= 0)
		close(s->web_fd);
	free(s->passwords[0]);
	free(s);
	return NULL;
}

bool rfb_wait_client(struct rfb_server *s, int timeout_ms)
{
	struct timespec until;
	bool ready;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_nsec -= 1000000000L;
		until.tv_sec++;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->ready && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
		;
	ready = s->ready;
	pthread_mutex_unlock(&s->lock);
	return ready;
}

void rfb_stop(struct rfb_server *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	/* The library's threads may be blocked on slow clients; the process is ending, so the
	 * sockets are closed and the rest is left to exit. */
	if (s->listen_fd >= 0)
		shutdown(s->listen_fd, SHUT_RDWR);
	if (s->web_fd >= 0)
		shutdown(s->web_fd, SHUT_RDWR);
	if (s->web_started)
		pthread_join(s->web_thread, NULL);
}
