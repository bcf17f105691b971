/*
 * Raw framebuffer with a VNC server (-s N,fbuf[,rfb=|tcp=ADDR][,w=W][,h=H][,vga=io|on|off]
 * [,wait][,password=P]).
 *
 * Keys: tcp (the listen address; the legacy spelling rfb= is stored as tcp, the key bhyve
 * uses), w, h, vga, wait, password.  Addresses: "port", "IPv4:port" or "[IPv6[%zone]]:port".
 * Defaults (used when a key is absent): 127.0.0.1:5900, 1024x768, vga=io.  Sizes go from
 * 640x480 to 1920x1200.
 */
#include "pci/pci_emul.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/devconf.h"
#include "common/parse.h"

#define FBUF_DEFAULT_ADDR "127.0.0.1"
#define FBUF_DEFAULT_PORT 5900
#define FBUF_DEFAULT_W    1024
#define FBUF_DEFAULT_H    768
#define FBUF_MIN_W        640
#define FBUF_MIN_H        480
#define FBUF_MAX_W        1920
#define FBUF_MAX_H        1200

static int fbuf_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	const char *rfb;

	if (pci_parse_legacy_kv(nvl, opts, err, errlen) < 0)
		return -1;
	rfb = config_node_get(nvl, "rfb");
	if (!rfb)
		return 0;
	if (config_node_get(nvl, "tcp")) {
		snprintf(err, errlen, "rfb=%s: give the address once (rfb= or tcp=)", rfb);
		return -1;
	}
	char *copy = strdup(rfb);
	if (!copy)
		abort();
	config_node_set(nvl, "tcp", copy);
	free(copy);
	char path[64];
	snprintf(path, sizeof(path), "%s.rfb", config_node_path(nvl));
	config_unset(path);
	return 0;
}

/* "[v6addr%zone]" with the brackets already removed. */
static bool fbuf_v6_ok(const char *a, size_t len)
{
	char buf[INET6_ADDRSTRLEN + 32];
	unsigned char bin[16];
	char *zone;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, a, len);
	buf[len] = '\0';
	zone = strchr(buf, '%');
	if (zone) {
		*zone++ = '\0';
		if (!*zone)
			return false;
		for (const char *z = zone; *z; z++)
			if (!isalnum((unsigned char)*z) && *z != '.' && *z != '_' && *z != '-')
				return false;
	}
	return inet_pton(AF_INET6, buf, bin) == 1;
}

/* "port", "IPv4:port" or "[IPv6%zone]:port". */
static bool fbuf_addr_ok(const char *s)
{
	const char *colon = strrchr(s, ':');
	unsigned char bin[4];
	char v4[INET_ADDRSTRLEN];
	uint16_t port;

	if (!colon)
		return parse_port(s, &port) == 0;
	if (parse_port(colon + 1, &port) < 0)
		return false;
	if (s[0] == '[')
		return colon > s + 1 && colon[-1] == ']' && fbuf_v6_ok(s + 1, (size_t)(colon - s - 2));
	if ((size_t)(colon - s) >= sizeof(v4))
		return false;
	memcpy(v4, s, (size_t)(colon - s));
	v4[colon - s] = '\0';
	return inet_pton(AF_INET, v4, bin) == 1;
}

static int fbuf_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "device", "tcp", "w", "h", "vga", "wait", "password",
					    NULL };
	const char *tcp = config_node_get(nvl, "tcp");
	const char *vga = config_node_get(nvl, "vga");

	if (devconf_check_keys(nvl, keys, err, errlen) < 0)
		return -1;
	if (tcp && !fbuf_addr_ok(tcp)) {
		snprintf(err, errlen, "tcp=%s: expected [IPv4:]port or [IPv6%%zone]:port, port 1-65535",
			 tcp);
		return -1;
	}
	if (devconf_num(nvl, "w", FBUF_MIN_W, FBUF_MAX_W, NULL, err, errlen) < 0 ||
	    devconf_num(nvl, "h", FBUF_MIN_H, FBUF_MAX_H, NULL, err, errlen) < 0 ||
	    devconf_bool(nvl, "wait", err, errlen) < 0)
		return -1;
	if (vga && strcmp(vga, "io") && strcmp(vga, "on") && strcmp(vga, "off")) {
		snprintf(err, errlen, "vga=%s: expected io, on or off", vga);
		return -1;
	}
	return 0;
}

static const struct pci_devemu pci_de_fbuf = {
	.pe_emu = "fbuf",
	.pe_unimplemented = true,
	.pe_help = "framebuffer + VNC: [rfb=|tcp=[IP:]port][,w=width][,h=height]"
		   "[,vga=io|on|off][,wait][,password=pw]",
	.pe_legacy_config = fbuf_legacy_config,
	.pe_validate = fbuf_validate,
};
PCI_EMUL_SET(pci_de_fbuf);
