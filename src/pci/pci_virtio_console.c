/*
 * virtio-console (-s N,virtio-console,NAME=/path/to/NAME.sock[,NAME2=...]): up to 16 named
 * ports, each a UNIX-domain socket that bhyve creates and listens on (one connection at a
 * time; removed again when bhyve exits, unlike on FreeBSD).  Keys: port.NAME.path.  Names are
 * unique, and are config-tree names (no '.').
 */
#include "pci/pci_emul.h"

#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/devconf.h"
#include "pci/pci_devinst.h"
#include "pci/virtio_console.h"
#include "pci/virtio_pci_bus.h"

#define VTCON_MAX_PORTS 16

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
	} else if (++*n > VTCON_MAX_PORTS) {
		snprintf(err, errlen, "'%s': at most %d ports", tok, VTCON_MAX_PORTS);
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
	if (++c->n > VTCON_MAX_PORTS) {
		snprintf(c->eb.err, c->eb.errlen, "port.%s: at most %d ports", name,
			 VTCON_MAX_PORTS);
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

/* ---- virtio-console: port.NAME.path ---- */

struct vtpb_ports {
	struct vtcon_port_conf pc[VTCON_MAXPORTS];
	int n;
};

static int vtpb_port_visit(const char *name, config_node_t *child, const char *value, void *arg)
{
	struct vtpb_ports *p = arg;
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
	struct vtpb_ports ports = { .n = 0 };
	config_node_t *pn = devconf_find_child(nvl, "port");

	if (!pn || config_node_foreach(pn, vtpb_port_visit, &ports) || ports.n == 0) {
		snprintf(err, errlen, "virtio-console: expected 1 to %d ports name=/path.sock",
			 VTCON_MAXPORTS);
		return -1;
	}
	struct vq_mem mem;
	vtpci_pci_mem(pi, &mem);
	struct vtcon_softc *sc = vtcon_create(ports.pc, ports.n, &vtpci_pci_intr, pi, &mem, err,
					      errlen);
	if (!sc)
		return -1;
	pi->pi_arg = sc;
	if (vtpci_pci_setup(vtcon_vtpci(sc), pi, VIRTIO_DEV_CONSOLE, VIRTIO_TYPE_CONSOLE,
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
