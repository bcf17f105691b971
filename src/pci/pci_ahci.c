/*
 * AHCI SATA controller (-s N,ahci,hd:PATH[,opts],cd:PATH[,opts],...; -s N,ahci-hd,PATH[,opts];
 * -s N,ahci-cd,PATH[,opts]).
 *
 * Each hd:/cd: element is one port: pci.B.S.F.port.N.type=hd|cd and .path; the block options
 * that follow a path (nocache, direct, ro, nodelete, sectorsize, ser, model, rev) belong to
 * that port.  ahci-hd and ahci-cd are a controller with one disk or one ATAPI drive at port 0.
 * At most 32 ports (the AHCI limit).
 */
#include "pci/pci_emul.h"

#include <stdlib.h>
#include <string.h>

#include "common/devconf.h"
#include "common/parse.h"

#define AHCI_MAX_PORTS 32
#define AHCI_SER_MAX   20   /* ATA IDENTIFY serial number: 20 characters */
#define AHCI_MODEL_MAX 40
#define AHCI_REV_MAX   8

/* Create port.N with its type and path; N must be new. */
static config_node_t *ahci_port_new(config_node_t *nvl, unsigned n, const char *type,
				    const char *path, char *err, size_t errlen)
{
	char name[16];
	config_node_t *p;

	if (n >= AHCI_MAX_PORTS) {
		snprintf(err, errlen, "'%s:%s': more than %d ports", type, path, AHCI_MAX_PORTS);
		return NULL;
	}
	snprintf(name, sizeof(name), "port.%u", n);
	p = config_node_child(nvl, name);
	if (!p || config_node_set(p, "type", type) < 0 || config_node_set(p, "path", path) < 0) {
		snprintf(err, errlen, "'%s:%s': cannot set %s", type, path, name);
		return NULL;
	}
	return p;
}

/* "hd:PATH" or "cd:PATH": the type, or NULL when tok is an option. */
static const char *ahci_port_type(const char *tok)
{
	if (strncmp(tok, "hd:", 3) == 0)
		return "hd";
	if (strncmp(tok, "cd:", 3) == 0)
		return "cd";
	return NULL;
}

static int ahci_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	config_node_t *port = NULL;
	const char *p = opts;
	unsigned n = 0;
	int rc = 0;

	while (p && *p && rc == 0) {
		char *tok = devconf_first_token(p, &p);
		const char *type = ahci_port_type(tok);
		if (type) {
			port = ahci_port_new(nvl, n++, type, tok + 3, err, errlen);
			rc = port ? 0 : -1;
		} else if (!port) {
			snprintf(err, errlen, "'%s': expected hd:path or cd:path before options", tok);
			rc = -1;
		} else {
			rc = devconf_parse_kv(port, tok, err, errlen);
		}
		free(tok);
	}
	return rc;
}

static int ahci_one_legacy(config_node_t *nvl, const char *opts, const char *type, char *err,
			   size_t errlen)
{
	const char *rest;
	char *path;
	config_node_t *port;

	if (!opts || !*opts) {
		snprintf(err, errlen, "ahci-%s needs a path", type);
		return -1;
	}
	path = devconf_first_token(opts, &rest);
	port = ahci_port_new(nvl, 0, type, path, err, errlen);
	free(path);
	if (!port)
		return -1;
	return rest ? devconf_parse_kv(port, rest, err, errlen) : 0;
}

static int ahci_hd_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	return ahci_one_legacy(nvl, opts, "hd", err, errlen);
}

static int ahci_cd_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	return ahci_one_legacy(nvl, opts, "cd", err, errlen);
}

static int ahci_strlen_check(config_node_t *port, const char *key, size_t max, char *err,
			     size_t errlen)
{
	const char *v = config_node_get(port, key);

	if (v && strlen(v) > max) {
		snprintf(err, errlen, "%s=%s: at most %zu characters", key, v, max);
		return -1;
	}
	return 0;
}

static int ahci_port_check(config_node_t *port, char *err, size_t errlen)
{
	static const char *const keys[] = { "type", DEVCONF_BLOCK_KEYS, "ser", "model", "rev",
					    NULL };
	const char *type = config_node_get(port, "type");

	if (devconf_check_keys(port, keys, err, errlen) < 0)
		return -1;
	if (!type || (strcmp(type, "hd") && strcmp(type, "cd"))) {
		snprintf(err, errlen, "type=%s: expected hd or cd", type ? type : "");
		return -1;
	}
	if (devconf_block_check(port, true, err, errlen) < 0 ||
	    ahci_strlen_check(port, "ser", AHCI_SER_MAX, err, errlen) < 0 ||
	    ahci_strlen_check(port, "model", AHCI_MODEL_MAX, err, errlen) < 0)
		return -1;
	return ahci_strlen_check(port, "rev", AHCI_REV_MAX, err, errlen);
}

static int ahci_port_visit(const char *name, config_node_t *child, const char *value, void *arg)
{
	struct devconf_err *eb = arg;
	char sub[PCI_ERRLEN];
	uint64_t n;

	if (!child || parse_num(name, 10, 0, AHCI_MAX_PORTS - 1, &n) < 0) {
		snprintf(eb->err, eb->errlen, "port.%s: port numbers are 0 to %d", name,
			 AHCI_MAX_PORTS - 1);
		return -1;
	}
	if (ahci_port_check(child, sub, sizeof(sub)) < 0) {
		snprintf(eb->err, eb->errlen, "port.%s: %s", name, sub);
		return -1;
	}
	(void)value;
	return 0;
}

static int ahci_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "device", "port", NULL };
	config_node_t *ports = devconf_find_child(nvl, "port");
	struct devconf_err eb = { err, errlen };

	if (devconf_check_keys(nvl, keys, err, errlen) < 0)
		return -1;
	if (config_node_get(nvl, "port")) {
		snprintf(err, errlen, "port=%s: ports are port.N.type and port.N.path",
			 config_node_get(nvl, "port"));
		return -1;
	}
	return ports && config_node_foreach(ports, ahci_port_visit, &eb) ? -1 : 0;
}

static const struct pci_devemu pci_de_ahci = {
	.pe_emu = "ahci",
	.pe_unimplemented = true,
	.pe_help = "AHCI controller: hd:path|cd:path[,block-options][,...] (at most 32 ports)",
	.pe_legacy_config = ahci_legacy_config,
	.pe_validate = ahci_validate,
};
PCI_EMUL_SET(pci_de_ahci);

static const struct pci_devemu pci_de_ahci_hd = {
	.pe_emu = "ahci-hd",
	.pe_unimplemented = true,
	.pe_help = "AHCI controller with one SATA disk: path[,block-options]",
	.pe_legacy_config = ahci_hd_legacy_config,
	.pe_validate = ahci_validate,
};
PCI_EMUL_SET(pci_de_ahci_hd);

static const struct pci_devemu pci_de_ahci_cd = {
	.pe_emu = "ahci-cd",
	.pe_unimplemented = true,
	.pe_help = "AHCI controller with one ATAPI CD/DVD: path[,block-options]",
	.pe_legacy_config = ahci_cd_legacy_config,
	.pe_validate = ahci_validate,
};
PCI_EMUL_SET(pci_de_ahci_cd);
