/*
 * bhyve option handlers: each checks its argument on its own and turns it into configuration
 * keys (bhyve's key names, see docs/OPTIONS.md).  Checks that need the whole command line
 * (topology, vCPU numbers of -p, devices) are in bhyve_validate.c.
 */
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/bhyve_cmd.h"
#include "common/config.h"
#include "common/parse.h"
#include "pci/pci_emul.h"
#include "vmm/vmm.h"

static const char *const topo_keys[] = { "cpus", "sockets", "cores", "threads" };

/* Set a key for option `opt`; fails when -o/-k made a parent of the key a value. */
int bhyve_set_key(const char *opt, const char *key, const char *val, char *err, size_t errlen)
{
	if (config_set(key, val) < 0) {
		snprintf(err, errlen, "%s: cannot set %s=%s: it conflicts with an existing key", opt,
			 key, val);
		return -1;
	}
	return 0;
}

/* One "-c" element: "N", "cpus=N", "sockets=N", "cores=N" or "threads=N". */
static int cpus_elem(const char *arg, const char *e, char *err, size_t errlen)
{
	const char *eq = strchr(e, '=');
	const char *key = NULL, *val = eq ? eq + 1 : e;
	uint64_t v;

	for (size_t i = 0; eq && i < 4; i++)
		if (strlen(topo_keys[i]) == (size_t)(eq - e) && !strncmp(e, topo_keys[i], eq - e))
			key = topo_keys[i];
	if (!eq)
		key = "cpus";
	if (!key) {
		snprintf(err, errlen, "-c %s: unknown setting '%s' (expected cpus=, sockets=, "
			 "cores=, threads=)", arg, e);
		return -1;
	}
	if (parse_num(val, 10, 1, VM_MAXCPU, &v) < 0) {
		snprintf(err, errlen, "-c %s: %s '%s' must be a number from 1 to %d", arg, key, val,
			 VM_MAXCPU);
		return -1;
	}
	return bhyve_set_key("-c", key, val, err, errlen);
}

int bhyve_opt_cpus(const char *arg, char *err, size_t errlen)
{
	char *copy = strdup(arg), *p = copy, *e;
	int rc = 0;

	if (!copy)
		abort();
	if (!*arg || arg[strlen(arg) - 1] == ',') {
		snprintf(err, errlen, "-c %s: expected [[cpus=]n][,sockets=n][,cores=n][,threads=n]",
			 arg);
		rc = -1;
	}
	while (rc == 0 && (e = strsep(&p, ",")) != NULL)
		rc = cpus_elem(arg, e, err, errlen);
	free(copy);
	return rc;
}

int bhyve_check_memsize(const char *s, char *err, size_t errlen)
{
	uint64_t bytes;

	if (parse_memsize(s, &bytes) < 0) {
		snprintf(err, errlen, "%s: malformed memory size (a non-zero number with an optional "
			 "K, M, G or T suffix; no suffix means MiB)", s);
		return -1;
	}
	if (bytes % 4096) {
		snprintf(err, errlen, "%s: memory size must be a multiple of 4 KiB", s);
		return -1;
	}
	return 0;
}

int bhyve_opt_mem(const char *arg, char *err, size_t errlen)
{
	char sub[BHYVE_ERRLEN];

	if (bhyve_check_memsize(arg, sub, sizeof(sub)) < 0) {
		snprintf(err, errlen, "-m %s", sub);
		return -1;
	}
	return bhyve_set_key("-m", "memory.size", arg, err, errlen);
}

/* "address" of -G: an IPv4 address, or an IPv6 one in brackets. */
static bool gdb_addr_ok(const char *a)
{
	unsigned char buf[16];
	size_t n = strlen(a);

	if (n > 2 && a[0] == '[' && a[n - 1] == ']') {
		char v6[64];
		if (n - 2 >= sizeof(v6))
			return false;
		memcpy(v6, a + 1, n - 2);
		v6[n - 2] = '\0';
		return inet_pton(AF_INET6, v6, buf) == 1;
	}
	return inet_pton(AF_INET, a, buf) == 1;
}

int bhyve_opt_gdb(const char *arg, char *err, size_t errlen)
{
	const char *p = arg, *colon;
	char addr[80];
	uint16_t port;

	if (*p == 'w')
		p++;
	colon = strrchr(p, ':');
	if (colon && ((size_t)(colon - p) >= sizeof(addr) || colon == p)) {
		snprintf(err, errlen, "-G %s: malformed address", arg);
		return -1;
	}
	if (colon) {
		memcpy(addr, p, (size_t)(colon - p));
		addr[colon - p] = '\0';
		if (!gdb_addr_ok(addr)) {
			snprintf(err, errlen, "-G %s: '%s' is not an IPv4 address (or [IPv6])", arg, addr);
			return -1;
		}
	}
	if (parse_port(colon ? colon + 1 : p, &port) < 0) {
		snprintf(err, errlen, "-G %s: port must be a number from 1 to 65535", arg);
		return -1;
	}
	if (*arg == 'w' && bhyve_set_key("-G", "gdb.wait", "true", err, errlen) < 0)
		return -1;
	if (colon && bhyve_set_key("-G", "gdb.address", addr, err, errlen) < 0)
		return -1;
	return bhyve_set_key("-G", "gdb.port", colon ? colon + 1 : p, err, errlen);
}

int bhyve_opt_bvmdebug(const char *arg, char *err, size_t errlen)
{
	uint16_t port;

	if (parse_port(arg, &port) < 0) {
		snprintf(err, errlen, "-g %s: port must be a number from 1 to 65535", arg);
		return -1;
	}
	return bhyve_set_key("-g", "bvmdebug.port", arg, err, errlen);
}

int bhyve_opt_kfile(const char *arg, char *err, size_t errlen)
{
	return config_read_file(arg, err, errlen);
}

int bhyve_opt_set(const char *arg, char *err, size_t errlen)
{
	char sub[BHYVE_ERRLEN];

	if (!strchr(arg, '=') || arg[0] == '=') {
		snprintf(err, errlen, "-o %s: expected key=value", arg);
		return -1;
	}
	if (config_parse_assignment(arg, sub, sizeof(sub)) < 0) {
		snprintf(err, errlen, "-o %s: the key conflicts with an existing one (a value "
			 "cannot become a node, nor a node a value)", arg);
		return -1;
	}
	return 0;
}

int bhyve_opt_lpc(const char *arg, char *err, size_t errlen)
{
	if (strcmp(arg, "help") == 0) {
		lpc_print_supported_devices(stdout);
		exit(0);
	}
	return lpc_device_parse(arg, err, errlen);
}

int bhyve_opt_slot(const char *arg, char *err, size_t errlen)
{
	if (strcmp(arg, "help") == 0) {
		pci_print_supported_devices(stdout);
		exit(0);
	}
	return pci_parse_slot(arg, err, errlen);
}

unsigned bhyve_host_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	if (n < 1)
		n = 1;
	return n > CPU_SETSIZE ? CPU_SETSIZE : (unsigned)n;
}

/* -p vcpu:hostcpu, repeatable: appends hostcpu to vcpu.V.cpuset. */
int bhyve_opt_pin(const char *arg, char *err, size_t errlen)
{
	char key[32], vs[16], *val;
	const char *colon = strchr(arg, ':'), *old;
	uint64_t v, h;
	int rc;

	if (!colon || (size_t)(colon - arg) >= sizeof(vs)) {
		snprintf(err, errlen, "-p %s: expected vcpu:hostcpu", arg);
		return -1;
	}
	memcpy(vs, arg, (size_t)(colon - arg));
	vs[colon - arg] = '\0';
	if (parse_num(vs, 10, 0, VM_MAXCPU - 1, &v) < 0) {
		snprintf(err, errlen, "-p %s: vcpu '%s' must be a number from 0 to %d", arg, vs,
			 VM_MAXCPU - 1);
		return -1;
	}
	if (parse_num(colon + 1, 10, 0, bhyve_host_cpus() - 1, &h) < 0) {
		snprintf(err, errlen, "-p %s: hostcpu '%s' is not a CPU of this host (0-%u)", arg,
			 colon + 1, bhyve_host_cpus() - 1);
		return -1;
	}
	snprintf(key, sizeof(key), "vcpu.%llu.cpuset", (unsigned long long)v);
	old = config_get_raw(key);
	if (old ? asprintf(&val, "%s,%llu", old, (unsigned long long)h) < 0
		: asprintf(&val, "%llu", (unsigned long long)h) < 0)
		abort();
	rc = bhyve_set_key("-p", key, val, err, errlen);
	free(val);
	return rc;
}

int bhyve_opt_restore(const char *arg, char *err, size_t errlen)
{
	if (!*arg) {
		snprintf(err, errlen, "-r: empty snapshot file name");
		return -1;
	}
	return bhyve_set_key("-r", "restore.file", arg, err, errlen);
}

int bhyve_opt_uuid(const char *arg, char *err, size_t errlen)
{
	uint8_t u[16];

	if (parse_uuid(arg, u) < 0) {
		snprintf(err, errlen, "-U %s: malformed UUID (expected "
			 "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", arg);
		return -1;
	}
	return bhyve_set_key("-U", "uuid", arg, err, errlen);
}

int bhyve_opt_vmname(const char *arg, char *err, size_t errlen)
{
	if (!parse_vmname_valid(arg)) {
		snprintf(err, errlen, "vmname '%s': must be 1-%d characters of A-Z a-z 0-9 _ . -, "
			 "not starting with '-' or '.'", arg, BHYVE_VMNAME_MAX);
		return -1;
	}
	return bhyve_set_key("vmname", "name", arg, err, errlen);
}
