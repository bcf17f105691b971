/*
 * VNC (RFB) server for a guest's screen, on Debian's libvncserver: RFB 3.3/3.7/3.8, VNC
 * password authentication, raw, hextile, zlib, tight, ZRLE and the other encodings the
 * library has, several clients at once (a thread pair per client), WebSocket clients on the
 * same port, and an optional HTTP port serving a browser console (noVNC) from a directory.
 *
 * The screen is read from guest memory through rfb_source.get_mode: a thread compares it
 * with the server's copy in 32-line bands of 64 pixels 30 times a second while clients are
 * connected and marks only what changed, so an unchanging screen sends nothing.  Nothing is
 * read while no client is connected.  Key and pointer events go to rfb_source.key/pointer
 * from the clients' threads.
 */
#ifndef BHYVE_RFB_H
#define BHYVE_RFB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the display shows now: 32-bit pixels 0x00RRGGBB (little-endian B, G, R, X in memory)
 * from `pixels`, `stride` bytes per line; pixels NULL shows a black screen of width x height. */
struct rfb_mode {
	const uint8_t *pixels;
	int width, height;
	size_t stride;
};

struct rfb_source {
	void *arg;
	/* Any thread; fills *m.  The pixels stay readable (guest memory lives as long as the
	 * VM); the guest may change them at any time. */
	void (*get_mode)(void *arg, struct rfb_mode *m);
	/* X11 keysym pressed or released. */
	void (*key)(void *arg, bool down, uint32_t keysym);
	/* Absolute position in a width x height screen and the button mask (bit 0 left, 1
	 * middle, 2 right, 3/4 wheel up/down). */
	void (*pointer)(void *arg, int buttons, int x, int y, int width, int height);
};

struct rfb_options {
	const char *addr;          /* "port", "IPv4:port" or "[IPv6%zone]:port" (validated) */
	const char *password;      /* NULL: no authentication; VNC uses its first 8 characters */
	const char *web_addr;      /* NULL, or where the HTTP server for web_dir listens */
	const char *web_dir;       /* noVNC's directory (must contain vnc.html) */
	const char *name;          /* desktop name shown by viewers */
};

struct rfb_server;

/* Listen (the socket is bound before this returns, so a port in use is an error here) and
 * start serving.  NULL with a one-line message in err. */
struct rfb_server *rfb_start(const struct rfb_options *o, const struct rfb_source *src,
			     char *err, size_t errlen);
/* Wait up to timeout_ms for a client to finish its handshake (bhyve's `wait`); true once
 * one has. */
bool rfb_wait_client(struct rfb_server *s, int timeout_ms);
void rfb_stop(struct rfb_server *s);
/* Parse "port", "IPv4:port" or "[IPv6%zone]:port" into a socket address (port 0 refused).
 * 0 or -1. */
struct sockaddr_storage;
int rfb_parse_addr(const char *s, struct sockaddr_storage *ss, unsigned *len);

#endif
