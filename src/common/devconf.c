/* Device option checks shared by the emulations (see devconf.h). */
#include "common/devconf.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/parse.h"

config_node_t *devconf_find_child(config_node_t *n, const char *name)
{
	char *path;
	config_node_t *c;

	if (asprintf(&path, "%s.%s", config_node_path(n), name) < 0)
		abort();
	c = config_find_node(path);
	free(path);
	return c;
}

struct keycheck {
	const char *const *allowed;
	char *err;
	size_t errlen;
};

static int keycheck_one(const char *name, config_node_t *child, const char *value, void *arg)
{
	struct keycheck *kc = arg;

	for (const char *const *a = kc->allowed; *a; a++)
		if (strcmp(*a, name) == 0)
			return 0;
	if (value)
		snprintf(kc->err, kc->errlen, "%s=%s: unknown option '%s'", name, value, name);
	else
		snprintf(kc->err, kc->errlen, "%s: unknown option '%s'", name, name);
	(void)child;
	return -1;
}

int devconf_check_keys(config_node_t *n, const char *const *allowed, char *err, size_t errlen)
{
	struct keycheck kc = { allowed, err, errlen };

	return config_node_foreach(n, keycheck_one, &kc) ? -1 : 0;
}

int devconf_bool(config_node_t *n, const char *key, char *err, size_t errlen)
{
	const char *v = config_node_get(n, key);
	bool b;

	if (v && config_parse_bool(v, &b) < 0) {
		snprintf(err, errlen, "%s=%s: not a boolean (true/false, on/off, yes/no, 1/0)",
			 key, v);
		return -1;
	}
	return 0;
}

int devconf_num(config_node_t *n, const char *key, uint64_t min, uint64_t max, uint64_t *out,
		char *err, size_t errlen)
{
	const char *v = config_node_get(n, key);
	uint64_t x;

	if (!v)
		return 0;
	if (parse_num(v, 10, min, max, &x) < 0) {
		snprintf(err, errlen, "%s=%s: must be a number from %llu to %llu", key, v,
			 (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	if (out)
		*out = x;
	return 0;
}

char *devconf_first_token(const char *opts, const char **rest)
{
	const char *comma = strchr(opts, ',');
	char *first = comma ? strndup(opts, (size_t)(comma - opts)) : strdup(opts);

	if (!first)
		abort();
	*rest = comma ? comma + 1 : NULL;
	return first;
}

/* One "key" or "key=value" token. */
static int kv_one(config_node_t *n, const char *tok, char *err, size_t errlen)
{
	const char *eq = strchr(tok, '=');
	char *key = eq ? strndup(tok, (size_t)(eq - tok)) : strdup(tok);
	int rc = 0;

	if (!key)
		abort();
	if (!*key || strchr(key, '.')) {
		snprintf(err, errlen, "'%s': malformed option (expected name or name=value)", tok);
		rc = -1;
	} else if (config_node_set(n, key, eq ? eq + 1 : "true") < 0) {
		snprintf(err, errlen, "'%s': option '%s' conflicts with an existing one", tok, key);
		rc = -1;
	}
	free(key);
	return rc;
}

int devconf_parse_kv(config_node_t *n, const char *opts, char *err, size_t errlen)
{
	const char *p = opts;

	while (p) {
		const char *next;
		char *tok = devconf_first_token(p, &next);
		int rc = kv_one(n, tok, err, errlen);
		free(tok);
		if (rc < 0)
			return -1;
		p = next;
	}
	return 0;
}

int devconf_block_legacy(config_node_t *n, const char *opts, char *err, size_t errlen)
{
	const char *rest;
	char *path;
	int rc;

	if (!opts || !*opts)
		return 0;
	path = devconf_first_token(opts, &rest);
	rc = config_node_set(n, "path", path);
	if (rc < 0)
		snprintf(err, errlen, "'%s': path conflicts with an existing option", path);
	free(path);
	if (rc == 0 && rest)
		rc = devconf_parse_kv(n, rest, err, errlen);
	return rc;
}

int devconf_parse_sectorsize(const char *s, unsigned *logical, unsigned *physical)
{
	uint64_t l, p;
	const char *slash = strchr(s, '/');
	char *ls = slash ? strndup(s, (size_t)(slash - s)) : strdup(s);
	int rc;

	if (!ls)
		abort();
	rc = parse_num(ls, 10, 512, 32768, &l);
	free(ls);
	if (rc < 0 || !parse_is_pow2(l))
		return -1;
	p = l;
	if (slash && (parse_num(slash + 1, 10, 512, 32768, &p) < 0 || !parse_is_pow2(p) ||
		      p < l || p % l))
		return -1;
	*logical = (unsigned)l;
	*physical = (unsigned)p;
	return 0;
}

int devconf_block_check(config_node_t *n, bool need_path, char *err, size_t errlen)
{
	static const char *const bools[] = { "nocache", "direct", "ro", "nodelete" };
	const char *path = config_node_get(n, "path");
	const char *ss = config_node_get(n, "sectorsize");
	unsigned l, p;

	if (need_path && (!path || !*path)) {
		snprintf(err, errlen, "a backing file or device path is required");
		return -1;
	}
	if (path && !*path) {
		snprintf(err, errlen, "path=: empty path");
		return -1;
	}
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		if (devconf_bool(n, bools[i], err, errlen) < 0)
			return -1;
	if (ss && devconf_parse_sectorsize(ss, &l, &p) < 0) {
		snprintf(err, errlen, "sectorsize=%s: expected logical[/physical], powers of two "
			 "from 512 to 32768, physical a multiple of logical", ss);
		return -1;
	}
	return 0;
}

int devconf_net_legacy(config_node_t *n, const char *opts, char *err, size_t errlen)
{
	const char *rest;
	char *be;
	int rc = 0;

	if (!opts || !*opts)
		return 0;
	be = devconf_first_token(opts, &rest);
	if (strchr(be, '='))   /* "mac=..." without a backend: all options */
		rest = opts;
	else
		rc = config_node_set(n, "backend", be);
	if (rc < 0)
		snprintf(err, errlen, "'%s': backend conflicts with an existing option", be);
	free(be);
	if (rc == 0 && rest)
		rc = devconf_parse_kv(n, rest, err, errlen);
	return rc;
}

bool devconf_ifname_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= 16 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '/' || name[i] == ':' || name[i] <= ' ' || name[i] == 0x7f)
			return false;
	return true;
}

/* "[a.b.c.d]" (empty: 0.0.0.0) and ":" or "-"; *p moves past the separator. */
static int hostfwd_addr(const char **p, char sep, struct in_addr *a)
{
	const char *e = strchr(*p, sep);
	char buf[16];
	size_t n;

	if (!e || (n = (size_t)(e - *p)) >= sizeof(buf))
		return -1;
	memcpy(buf, *p, n);
	buf[n] = 0;
	a->s_addr = 0;
	if (n && inet_pton(AF_INET, buf, a) != 1)
		return -1;
	*p = e + 1;
	return 0;
}

/* A port 1..65535 ending at `sep` (or at the end of the string when sep is 0). */
static int hostfwd_port(const char **p, char sep, uint16_t *port)
{
	const char *e = sep ? strchr(*p, sep) : *p + strlen(*p);
	char buf[8];
	size_t n;
	uint64_t v;

	if (!e || (n = (size_t)(e - *p)) == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, *p, n);
	buf[n] = 0;
	if (parse_num(buf, 10, 1, 65535, &v) < 0)
		return -1;
	*port = (uint16_t)v;
	*p = sep ? e + 1 : e;
	return 0;
}

int devconf_hostfwd_parse(const char *rule, struct devconf_hostfwd *fw)
{
	const char *p = rule;

	if (strncmp(p, "tcp:", 4) == 0)
		fw->udp = false;
	else if (strncmp(p, "udp:", 4) == 0)
		fw->udp = true;
	else
		return -1;
	p += 4;
	if (hostfwd_addr(&p, ':', &fw->host_addr) < 0 || hostfwd_port(&p, '-', &fw->host_port) < 0 ||
	    hostfwd_addr(&p, ':', &fw->guest_addr) < 0 || hostfwd_port(&p, 0, &fw->guest_port) < 0)
		return -1;
	return 0;
}

int devconf_hostfwd_foreach(const char *list, int (*fn)(const struct devconf_hostfwd *fw,
							  const char *rule, void *arg),
			    void *arg, char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;

	if (!copy)
		abort();
	for (char *r = strtok_r(copy, ";", &save); r && rc == 0; r = strtok_r(NULL, ";", &save)) {
		struct devconf_hostfwd fw;
		if (devconf_hostfwd_parse(r, &fw) < 0) {
			snprintf(err, errlen, "hostfwd=%s: expected tcp|udp:[hostaddr]:hostport-"
				 "[guestaddr]:guestport (ports 1..65535), rules separated by ';'", r);
			rc = -1;
		} else if (fn) {
			rc = fn(&fw, r, arg);
		}
	}
	free(copy);
	return rc;
}

static int net_slirp_check(config_node_t *n, char *err, size_t errlen)
{
	const char *fw = config_node_get(n, "hostfwd");

	if (fw && (!*fw || devconf_hostfwd_foreach(fw, NULL, NULL, err, errlen) < 0)) {
		if (!*fw)
			snprintf(err, errlen, "hostfwd=: empty rule");
		return -1;
	}
	return devconf_bool(n, "open", err, errlen);
}

/* FreeBSD's backends that Linux lacks get a message of their own; any other name is a TAP
 * interface (attached or created at start-up), or slirp. */
static int net_backend_check(config_node_t *n, char *err, size_t errlen)
{
	const char *be = config_node_get(n, "backend");
	uint64_t unit;

	if (!be)
		return 0;
	if (strcmp(be, "slirp") == 0)
		return net_slirp_check(n, err, errlen);
	if (config_node_get(n, "hostfwd") || config_node_get(n, "open")) {
		snprintf(err, errlen, "hostfwd/open are slirp options; backend %s does not take them",
			 be);
		return -1;
	}
	if (strcmp(be, "netgraph") == 0) {
		if (!config_node_get(n, "path") || !config_node_get(n, "peerhook")) {
			snprintf(err, errlen, "backend=netgraph: path= and peerhook= are required");
			return -1;
		}
		snprintf(err, errlen, "backend=netgraph: netgraph(4) does not exist on Linux; "
			 "use a TAP interface or slirp");
		return -1;
	}
	if (strncmp(be, "vmnet", 5) == 0 && parse_num(be + 5, 10, 0, 65535, &unit) == 0) {
		snprintf(err, errlen, "backend=%s: vmnet interfaces do not exist on Linux; "
			 "use a TAP interface or slirp", be);
		return -1;
	}
	if (strncmp(be, "netmap:", 7) == 0 || strncmp(be, "vale", 4) == 0) {
		snprintf(err, errlen, "backend=%s: netmap(4) and VALE switches do not exist on "
			 "Linux; use a TAP interface or slirp", be);
		return -1;
	}
	if (devconf_ifname_valid(be))
		return 0;
	snprintf(err, errlen, "backend=%s: not a valid interface name (1-15 characters, no '/', "
		 "':' or blanks) nor slirp", be);
	return -1;
}

int devconf_net_check(config_node_t *n, char *err, size_t errlen)
{
	const char *mac = config_node_get(n, "mac");
	const char *be = config_node_get(n, "backend");
	uint8_t m[6];

	if (mac && parse_mac(mac, m) < 0) {
		snprintf(err, errlen, "mac=%s: malformed MAC address (expected xx:xx:xx:xx:xx:xx, "
			 "unicast, not all zero)", mac);
		return -1;
	}
	if (devconf_num(n, "mtu", DEVCONF_MTU_MIN, DEVCONF_MTU_MAX, NULL, err, errlen) < 0)
		return -1;
	if ((!be || strcmp(be, "netgraph")) &&
	    (config_node_get(n, "path") || config_node_get(n, "peerhook") ||
	     config_node_get(n, "socket") || config_node_get(n, "hook"))) {
		snprintf(err, errlen, "path/peerhook/socket/hook are netgraph options; "
			 "backend %s does not take them", be ? be : "(none)");
		return -1;
	}
	return net_backend_check(n, err, errlen);
}

int devconf_tty_check(const char *key, const char *value, char *err, size_t errlen)
{
	if (!value) {
		snprintf(err, errlen, "%s: a TTY backend is required (stdio, pty or /dev/...)", key);
		return -1;
	}
	/* pty (ours): bhyve creates a pseudo-terminal and prints its name. */
	if (strcmp(value, "stdio") == 0 || strcmp(value, "pty") == 0)
		return 0;
	if (strncmp(value, "/dev/", 5) == 0 && value[5] && value[strlen(value) - 1] != '/')
		return 0;
	snprintf(err, errlen, "%s=%s: unknown TTY backend (expected stdio, pty or /dev/xxx)", key,
		 value);
	return -1;
}
