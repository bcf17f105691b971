/*
 * PCI emulation registry and the -s slot parser.
 *
 * Emulations register themselves with PCI_EMUL_SET; nothing here lists them.  The slot table is
 * the configuration tree itself: pci.B.S.F.device names the emulation in bus B, slot S,
 * function F, so a slot set by -s and one set by -o pci.B.S.F.device=... collide the same way.
 */
#include "pci/pci_emul.h"

#include <stdlib.h>
#include <string.h>

#include "common/devconf.h"
#include "common/parse.h"

const struct pci_devemu *pci_emul_finddev(const char *name)
{
	struct pci_devemu **pp;

	if (!name)
		return NULL;
	SET_FOREACH(pp, pci_devemu_set) {
		if (strcmp((*pp)->pe_emu, name) == 0)
			return *pp;
	}
	return NULL;
}

int pci_parse_legacy_kv(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	if (!opts || !*opts)
		return 0;
	return devconf_parse_kv(nvl, opts, err, errlen);
}

/* "slot", "slot:func" or "bus:slot:func" (decimal). */
static int slot_parse(const char *s, int *bus, int *slot, int *func, char *err, size_t errlen)
{
	static const char *const what[3] = { "bus", "slot", "function" };
	static const uint64_t max[3] = { PCI_MAXBUS - 1, PCI_MAXSLOT - 1, PCI_MAXFUNC - 1 };
	char *copy = strdup(s), *f[3], *p;
	int n = 0, first, rc = -1;
	uint64_t v[3] = { 0, 0, 0 };

	if (!copy)
		abort();
	for (p = copy; p && n < 3;)
		f[n++] = strsep(&p, ":");
	if (p) {
		snprintf(err, errlen, "malformed slot '%s' (expected slot, slot:func or "
			 "bus:slot:func)", s);
		goto out;
	}
	first = n == 3 ? 0 : 1;   /* f[0] is the bus only in the three-number form */
	for (int i = 0; i < n; i++) {
		int k = first + i;
		if (parse_num(f[i], 10, 0, max[k], &v[k]) < 0) {
			snprintf(err, errlen, "%s '%s' out of range (0-%llu)", what[k], f[i],
				 (unsigned long long)max[k]);
			goto out;
		}
	}
	*bus = (int)v[0];
	*slot = (int)v[1];
	*func = (int)v[2];
	rc = 0;
out:
	free(copy);
	return rc;
}

/* Split "slot,emulation[,conf]"; returns malloc'd slot and emulation strings. */
static int slot_split(const char *opt, char **slotstr, char **emu, const char **conf)
{
	const char *rest;

	*slotstr = devconf_first_token(opt, &rest);
	if (!rest || !*rest) {
		free(*slotstr);
		return -1;
	}
	*emu = devconf_first_token(rest, conf);
	return 0;
}

static int slot_claim(const struct pci_devemu *pe, int b, int s, int f, const char *conf,
		      char *err, size_t errlen)
{
	char path[64];
	config_node_t *n;
	const char *used;

	snprintf(path, sizeof(path), "pci.%d.%d.%d", b, s, f);
	n = config_node(path);
	if (!n) {
		snprintf(err, errlen, "%s is already set to a value", path);
		return -1;
	}
	used = config_node_get(n, "device");
	if (used) {
		snprintf(err, errlen, "bus %d slot %d function %d is already used by %s", b, s, f,
			 used);
		return -1;
	}
	if (config_node_set(n, "device", pe->pe_emu) < 0) {
		snprintf(err, errlen, "cannot set %s.device", path);
		return -1;
	}
	if (pe->pe_legacy_config)
		return pe->pe_legacy_config(n, conf, err, errlen);
	return pci_parse_legacy_kv(n, conf, err, errlen);
}

int pci_parse_slot(const char *opt, char *err, size_t errlen)
{
	char sub[PCI_ERRLEN], *slotstr, *emu;
	const char *conf;
	const struct pci_devemu *pe;
	int b, s, f, rc = -1;

	if (slot_split(opt, &slotstr, &emu, &conf) < 0) {
		snprintf(err, errlen, "-s %s: expected slot,emulation[,conf]", opt);
		return -1;
	}
	if (slot_parse(slotstr, &b, &s, &f, sub, sizeof(sub)) < 0)
		goto fail;
	pe = pci_emul_finddev(emu);
	if (!pe) {
		snprintf(sub, sizeof(sub), "unknown PCI emulation '%s' (see -s help)", emu);
		goto fail;
	}
	if (pe->pe_bus0_only && b != 0) {
		snprintf(sub, sizeof(sub), "%s can only be configured on bus 0", emu);
		goto fail;
	}
	if (slot_claim(pe, b, s, f, conf, sub, sizeof(sub)) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "-s %s: %s", opt, sub);
out:
	free(slotstr);
	free(emu);
	return rc;
}

static int emu_cmp(const void *a, const void *b)
{
	const struct pci_devemu *x = *(const struct pci_devemu *const *)a;
	const struct pci_devemu *y = *(const struct pci_devemu *const *)b;

	return strcmp(x->pe_emu, y->pe_emu);
}

void pci_print_supported_devices(FILE *out)
{
	struct pci_devemu **pp;
	const struct pci_devemu **v;
	size_t n = 0, i;

	SET_FOREACH(pp, pci_devemu_set)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		abort();
	i = 0;
	SET_FOREACH(pp, pci_devemu_set)
		v[i++] = *pp;
	qsort(v, n, sizeof(*v), emu_cmp);
	fprintf(out, "PCI emulations (-s slot,emulation[,conf]):\n");
	for (i = 0; i < n; i++)
		fprintf(out, "  %-16s %s\n", v[i]->pe_emu, v[i]->pe_help ? v[i]->pe_help : "");
	free(v);
}

int pci_node_bsf(const config_node_t *n, int *bus, int *slot, int *func)
{
	const char *p = config_node_path(n);
	char tail;
	int b, s, f;

	if (sscanf(p, "pci.%d.%d.%d%c", &b, &s, &f, &tail) != 3)
		return -1;
	if (b < 0 || b >= PCI_MAXBUS || s < 0 || s >= PCI_MAXSLOT || f < 0 || f >= PCI_MAXFUNC)
		return -1;
	*bus = b;
	*slot = s;
	*func = f;
	return 0;
}

/* ---- Validation of every pci.B.S.F node ---- */

struct pci_vstate {
	char *err;
	size_t errlen;
	int level;        /* 0: bus, 1: slot, 2: function */
	int nlpc;
};

static const char *const pci_level_name[3] = { "bus", "slot", "function" };
static const int pci_level_max[3] = { PCI_MAXBUS - 1, PCI_MAXSLOT - 1, PCI_MAXFUNC - 1 };


struct pci_keycheck {
	const char *const *allowed;
	char *err;
	size_t errlen;
};

static int pci_keycheck_one(const char *name, config_node_t *child, const char *value,
			    void *arg)
{
	struct pci_keycheck *kc = arg;

	if (strcmp(name, "device") == 0)
		return 0;
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

/* Every key of the device node n is `device` or one of `allowed` (pe_keys). */
static int pci_check_keys(config_node_t *n, const char *const *allowed, char *err,
			  size_t errlen)
{
	struct pci_keycheck kc = { allowed, err, errlen };

	return config_node_foreach(n, pci_keycheck_one, &kc) ? -1 : 0;
}
static int pci_validate_dev(config_node_t *n, struct pci_vstate *st)
{
	char sub[PCI_ERRLEN];
	const char *emu = config_node_get(n, "device");
	const struct pci_devemu *pe = pci_emul_finddev(emu);
	int b, s, f;

	if (!emu) {
		snprintf(st->err, st->errlen, "%s: no device= set for this slot",
			 config_node_path(n));
		return -1;
	}
	if (!pe) {
		snprintf(st->err, st->errlen, "%s.device=%s: unknown PCI emulation (see -s help)",
			 config_node_path(n), emu);
		return -1;
	}
	pci_node_bsf(n, &b, &s, &f);
	if (pe->pe_bus0_only && b != 0) {
		snprintf(st->err, st->errlen, "%s (%s): %s can only be configured on bus 0",
			 config_node_path(n), emu, emu);
		return -1;
	}
	if (pe->pe_bus0_only && ++st->nlpc > 1) {
		snprintf(st->err, st->errlen, "%s (%s): only one %s may be configured",
			 config_node_path(n), emu, emu);
		return -1;
	}
	if ((pe->pe_keys && pci_check_keys(n, pe->pe_keys, sub, sizeof(sub)) < 0) ||
	    (pe->pe_validate && pe->pe_validate(n, sub, sizeof(sub)) < 0)) {
		snprintf(st->err, st->errlen, "%s (%s): %s", config_node_path(n), emu, sub);
		return -1;
	}
	return 0;
}

static int pci_validate_level(const char *name, config_node_t *child, const char *value,
			      void *arg)
{
	struct pci_vstate *st = arg;
	uint64_t v;
	char canon[16];
	int rc;

	const char *where = child ? config_node_path(child) : name;

	canon[0] = '\0';
	if (parse_num(name, 10, 0, (uint64_t)pci_level_max[st->level], &v) == 0)
		snprintf(canon, sizeof(canon), "%llu", (unsigned long long)v);
	if (strcmp(canon, name)) {
		snprintf(st->err, st->errlen, "%s: PCI %s '%s' out of range (0-%d)", where,
			 pci_level_name[st->level], name, pci_level_max[st->level]);
		return -1;
	}
	if (!child) {
		snprintf(st->err, st->errlen, "%s=%s: expected keys as pci.bus.slot.function.KEY",
			 name, value);
		return -1;
	}
	if (st->level == 2)
		return pci_validate_dev(child, st);
	st->level++;
	rc = config_node_foreach(child, pci_validate_level, st);
	st->level--;
	return rc;
}

int pci_validate_all(char *err, size_t errlen)
{
	struct pci_vstate st = { err, errlen, 0, 0 };
	config_node_t *pci = config_find_node("pci");

	if (!pci) {
		if (config_get_raw("pci")) {
			snprintf(err, errlen, "pci=%s: 'pci' must be a node (pci.bus.slot.function)",
				 config_get_raw("pci"));
			return -1;
		}
		return 0;
	}
	return config_node_foreach(pci, pci_validate_level, &st) ? -1 : 0;
}

uint64_t pci_bar_read_words(void *dev, uint32_t (*rd)(void *dev, uint32_t off), uint64_t off,
			    int size)
{
	if (size == 8 && !(off & 7))
		return rd(dev, (uint32_t)off) | (uint64_t)rd(dev, (uint32_t)off + 4) << 32;
	uint64_t v = rd(dev, (uint32_t)off & ~3u) >> (8 * (off & 3));
	return size < 4 ? v & ((1ULL << (8 * size)) - 1) : v;
}
