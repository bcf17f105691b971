/*
 * Checks and legacy-option parsers shared by device emulations: the keys of a device's config
 * node (pci.B.S.F or lpc.NAME) for block, network and TTY backends.  All return 0, or -1 with a
 * one-line message in err that names the offending key and value ("mtu=9: ...").  Nothing
 * here opens a file or a socket: these run for config.dump=true too.
 */
#ifndef BHYVE_DEVCONF_H
#define BHYVE_DEVCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "common/config.h"

/* Where config_node_foreach callbacks put a message. */
struct devconf_err {
	char *err;
	size_t errlen;
};

/* An existing child node of n (no creation), or NULL. */
config_node_t *devconf_find_child(config_node_t *n, const char *name);

/* Every child of n (value or node) must be named in `allowed` (NULL-terminated). */
int devconf_check_keys(config_node_t *n, const char *const *allowed, char *err, size_t errlen);

/* An optional boolean key: absent is fine. */
int devconf_bool(config_node_t *n, const char *key, char *err, size_t errlen);
/* An optional decimal number key within [min, max]; *out keeps its value when absent. */
int devconf_num(config_node_t *n, const char *key, uint64_t min, uint64_t max, uint64_t *out,
		char *err, size_t errlen);

/* "a,b=c,d" -> keys of n; a bare word becomes word=true.  Empty keys are refused. */
int devconf_parse_kv(config_node_t *n, const char *opts, char *err, size_t errlen);
/* Split off the first comma-separated token: *first gets a malloc'd copy, *rest points into
 * opts after the comma (or NULL). */
char *devconf_first_token(const char *opts, const char **rest);

/* ---- block backends (virtio-blk, ahci ports, nvme) ----
 * Legacy form "path[,nocache][,direct][,ro][,nodelete][,sectorsize=L[/P]]" -> path=, ... */
int devconf_block_legacy(config_node_t *n, const char *opts, char *err, size_t errlen);
/* The block option keys every block device takes (for devconf_check_keys lists). */
#define DEVCONF_BLOCK_KEYS "path", "nocache", "direct", "ro", "nodelete", "sectorsize"
/* Check path (required when need_path) and the block options. */
int devconf_block_check(config_node_t *n, bool need_path, char *err, size_t errlen);
/* sectorsize=logical[/physical]: powers of two in 512..32768, physical a multiple >= logical. */
int devconf_parse_sectorsize(const char *s, unsigned *logical, unsigned *physical);

/* ---- network backends (virtio-net, e1000) ----
 * Legacy form "IFNAME|slirp|vmnetN|netgraph[,k=v...][,mac=..][,mtu=N]" -> backend=, mac=, ...
 * IFNAME is any TAP interface name; slirp takes hostfwd=RULE[;RULE...] and open. */
int devconf_net_legacy(config_node_t *n, const char *opts, char *err, size_t errlen);
#define DEVCONF_NET_KEYS "backend", "mac", "mtu", "path", "peerhook", "socket", "hook", \
	"hostfwd", "open"
/* Check backend, mac, mtu and the backend's keys.  vmnet, netgraph, netmap and VALE do not
 * exist on Linux and are refused here. */
int devconf_net_check(config_node_t *n, char *err, size_t errlen);
/* Is `name` usable as a Linux interface name (1..15 chars, no '/', ':' or white space)? */
bool devconf_ifname_valid(const char *name);

/* One slirp port forwarding rule "tcp|udp:[hostaddr]:hostport-[guestaddr]:guestport"
 * (addresses IPv4, empty = 0.0.0.0: any host address / the guest's DHCP address). */
struct devconf_hostfwd {
	bool udp;
	struct in_addr host_addr, guest_addr;
	uint16_t host_port, guest_port;
};
int devconf_hostfwd_parse(const char *rule, struct devconf_hostfwd *fw);
/* Parse a ';'-separated list, calling fn (may be NULL) for each rule; the first error stops. */
int devconf_hostfwd_foreach(const char *list, int (*fn)(const struct devconf_hostfwd *fw,
							  const char *rule, void *arg),
			    void *arg, char *err, size_t errlen);
#define DEVCONF_MTU_MIN 68
#define DEVCONF_MTU_MAX 65535

/* ---- TTY backends (uart, com1..com4) ----
 * "stdio" or a device path under /dev/. */
int devconf_tty_check(const char *key, const char *value, char *err, size_t errlen);

#endif
