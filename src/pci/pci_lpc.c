/*
 * The LPC PCI-ISA bridge (-s N,lpc) and the devices behind it (-l): the 16550 UARTs com1..com4
 * and the boot ROM.  The bridge itself exists on bus 0 only, as in bhyve.
 *
 * Keys: lpc.comN.path=stdio|/dev/xxx; lpc.bootrom=FILE, lpc.bootvars=VARSFILE (a second file
 * for UEFI variables), lpc.fwcfg=bhyve|qemu.
 */
#include "pci/pci_emul.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/devconf.h"
#include "pci/fwcfg.h"
#include "pci/pflash.h"
#include "pci/pci_devinst.h"
#include "vmm/layout.h"
#include "vmm/mmio.h"
#include "vmm/vmm.h"

/* PCI-to-ISA bridge IDs of Intel's PIIX3, which bhyve's LPC bridge also presents. */
#define LPC_VENDOR  0x8086
#define LPC_DEVICE  0x7000
/* With QEMU's firmware interface the bridge is ICH9's LPC interface (8086:2918, QEMU's q35
 * machine has it at 0:1f.0 as bhyve's usual `-s 31,lpc` does).  OVMF reads the ACPI PM base
 * from PMBASE (0x40) once ACPI_CNTL (0x44) bit 7 says the block is enabled; here the block is
 * fixed at PORT_PM1A_EVT and enabled from reset, so both registers are read-only and OVMF's
 * timer and reset code use the same ports as the FADT.  RCBA (0xF0) and the other chipset
 * registers keep what the firmware writes. */
#define ICH9_LPC_DEVICE     0x2918
#define ICH9_PMBASE         0x40
#define ICH9_ACPI_CNTL      0x44
#define ICH9_ACPI_CNTL_EN   0x80

/* ---- the bridge ---- */

static int lpc_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	if (opts && *opts) {
		snprintf(err, errlen, "'%s': lpc takes no options (use -l for its devices)", opts);
		return -1;
	}
	return 0;
}

/* The boot ROM (lpc.bootrom): the file's bytes, read-only, ending at LAYOUT_BOOTROM_END where
 * an x86 CPU fetches its first instruction (0xFFFFFFF0).  Served as a read-only MMIO range
 * backed by a host copy; writes are dropped as a flash part in read mode would.  The copy is
 * also read-only guest memory (vm_map_rom), so code runs from it as fast as from RAM on both
 * backends (and at all on KVM, which cannot run code from MMIO); only writes reach the
 * handler. */
struct lpc_rom {
	uint8_t *data;
	uint64_t size;
	struct vm *vm;
	struct mem_range mr;
	struct pflash *vars;           /* -l bootrom,ROM,VARS: the variable store below it */
};
static struct lpc_rom lpc_rom;

static int lpc_rom_handler(struct vcpu *vcpu, int dir, uint64_t addr, int size, uint64_t *val,
			   void *arg1, long arg2)
{
	struct lpc_rom *r = arg1;
	uint64_t off = addr - r->mr.base, v = 0;

	if (dir == MEM_F_READ) {
		if (off < r->size)
			memcpy(&v, r->data + off, r->size - off < (uint64_t)size ? r->size - off :
			       (uint64_t)size);
		*val = v;
	}
	return 0;
}

static void lpc_rom_free(struct lpc_rom *r)
{
	if (r->data)
		munmap(r->data, r->size);
	r->data = NULL;
}

static int lpc_rom_read(const char *path, struct lpc_rom *r, char *err, size_t errlen)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "bootrom %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size <= 0 || (sb.st_size & 0xFFF) ||
	    (uint64_t)sb.st_size > LAYOUT_BOOTROM_MAX) {
		snprintf(err, errlen, "bootrom %s: size must be a non-zero multiple of 4 KiB up to "
			 "%llu MiB", path, (unsigned long long)(LAYOUT_BOOTROM_MAX >> 20));
		goto fail;
	}
	r->size = (uint64_t)sb.st_size;
	r->data = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->data == MAP_FAILED) {
		r->data = NULL;
		snprintf(err, errlen, "bootrom %s: out of memory", path);
		goto fail;
	}
	for (uint64_t done = 0; done < r->size;) {
		ssize_t n = pread(fd, r->data + done, r->size - done, (off_t)done);
		if (n <= 0) {
			snprintf(err, errlen, "bootrom %s: %s", path, n < 0 ? strerror(errno) :
				 "short read");
			goto fail;
		}
		done += (uint64_t)n;
	}
	close(fd);
	mprotect(r->data, r->size, PROT_READ);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	lpc_rom_free(r);
	return -1;
}

static int lpc_rom_map(struct vm *vm, const char *path, const char *vars, char *err,
		       size_t errlen)
{
	struct lpc_rom *r = &lpc_rom;

	if (r->data) {
		snprintf(err, errlen, "a boot ROM is already mapped");
		return -1;
	}
	if (lpc_rom_read(path, r, err, errlen) < 0)
		return -1;
	r->vm = vm;
	r->mr = (struct mem_range){ "bootrom", MEM_F_RW, lpc_rom_handler, r, 0,
				    LAYOUT_BOOTROM_END - r->size, r->size };
	if (register_mem(vm, &r->mr) < 0) {
		snprintf(err, errlen, "bootrom %s: cannot map it below 4 GiB: %s", path,
			 strerror(errno));
		lpc_rom_free(r);
		return -1;
	}
	if (vars) {
		r->vars = pflash_create(vm, vars, r->mr.base, LAYOUT_BOOTROM_MAX - r->size, err,
					errlen);
		if (!r->vars) {
			unregister_mem(vm, &r->mr);
			lpc_rom_free(r);
			return -1;
		}
	}
	(void)vm_map_rom(vm, r->mr.base, r->data, r->size);
	return 0;
}

static void lpc_deinit(struct pci_devinst *pi);

static int lpc_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	const char *rom = config_get("lpc.bootrom");

	pci_set_cfgdata16(pi, PCIR_VENDOR, LPC_VENDOR);
	pci_set_cfgdata16(pi, PCIR_DEVICE, lpc_fwcfg_qemu() ? ICH9_LPC_DEVICE : LPC_DEVICE);
	pci_set_cfgdata8(pi, PCIR_CLASS, PCIC_BRIDGE);
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, PCIS_BRIDGE_ISA);
	if (lpc_fwcfg_qemu()) {
		pci_set_cfgdata32(pi, ICH9_PMBASE, PORT_PM1A_EVT | 1);   /* bit 0: I/O space */
		pci_set_cfgdata8(pi, ICH9_ACPI_CNTL, ICH9_ACPI_CNTL_EN);
	}
	if (rom && lpc_rom_map(pi->pi_vm, rom, config_get("lpc.bootvars"), err, errlen) < 0)
		return -1;
	/* pi_arg: the fw_cfg device, which exists exactly in ICH9 mode */
	if (lpc_fwcfg_qemu() && !(pi->pi_arg = fwcfg_init(pi->pi_vm, err, errlen))) {
		lpc_deinit(pi);
		return -1;
	}
	return 0;
}

/* ICH9 mode: chipset registers 0x48-0xFF keep what is written; PMBASE/ACPI_CNTL are fixed. */
static int lpc_cfgwrite(struct pci_devinst *pi, int offset, int bytes, uint32_t val)
{
	if (!pi->pi_arg || offset < 0x40 || offset + bytes > 0x100)
		return 1;
	for (int k = 0; k < bytes; k++)
		if (offset + k >= ICH9_ACPI_CNTL + 4)
			pci_set_cfgdata8(pi, offset + k, (uint8_t)(val >> (8 * k)));
	return 0;
}

static void lpc_deinit(struct pci_devinst *pi)
{
	struct lpc_rom *r = &lpc_rom;

	fwcfg_deinit(pi->pi_arg);
	pi->pi_arg = NULL;
	if (!r->data)
		return;
	pflash_destroy(r->vars);
	unregister_mem(r->vm, &r->mr);
	lpc_rom_free(r);
	memset(r, 0, sizeof(*r));
}

static const struct pci_devemu pci_de_lpc = {
	.pe_emu = "lpc",
	.pe_help = "LPC PCI-ISA bridge with com1-com4 and the boot ROM (bus 0 only; see -l)",
	.pe_legacy_config = lpc_legacy_config,
	.pe_keys = (const char *const[]){ NULL },
	.pe_init = lpc_init,
	.pe_deinit = lpc_deinit,
	.pe_cfgwrite = lpc_cfgwrite,
	.pe_bus0_only = true,
};
PCI_EMUL_SET(pci_de_lpc);

/* ---- com1..com4 ---- */

static int lpc_com_legacy(const char *name, const char *conf, char *err, size_t errlen)
{
	char path[32];

	snprintf(path, sizeof(path), "lpc.%s", name);
	if (config_find_node(path)) {
		snprintf(err, errlen, "%s is configured twice", name);
		return -1;
	}
	if (!conf || !*conf) {
		snprintf(err, errlen, "%s needs a TTY backend (stdio or /dev/xxx)", name);
		return -1;
	}
	snprintf(path, sizeof(path), "lpc.%s.path", name);
	if (config_set(path, conf) < 0) {
		snprintf(err, errlen, "cannot set %s", path);
		return -1;
	}
	return 0;
}

static int lpc_com_check(const char *name, char *err, size_t errlen)
{
	static const char *const keys[] = { "path", NULL };
	char path[32];
	config_node_t *n;

	snprintf(path, sizeof(path), "lpc.%s", name);
	n = config_find_node(path);
	if (!n) {
		if (config_get_raw(path)) {
			snprintf(err, errlen, "%s=%s: expected %s.path=stdio|/dev/xxx", path,
				 config_get_raw(path), path);
			return -1;
		}
		return 0;
	}
	if (devconf_check_keys(n, keys, err, errlen) < 0)
		return -1;
	snprintf(path, sizeof(path), "lpc.%s.path", name);
	return devconf_tty_check(path, config_get(path), err, errlen);
}

#define LPC_COM(N)                                                                       \
	static int lpc_com##N##_validate(char *err, size_t errlen)                       \
	{                                                                                \
		return lpc_com_check("com" #N, err, errlen);                             \
	}                                                                                \
	static const struct lpc_devemu lpc_de_com##N = {                                 \
		.le_name = "com" #N,                                                     \
		.le_help = "16550 UART: stdio | /dev/xxx",                               \
		.le_legacy_config = lpc_com_legacy,                                      \
		.le_validate = lpc_com##N##_validate,                                    \
	};                                                                               \
	LPC_EMUL_SET(lpc_de_com##N)

LPC_COM(1);
LPC_COM(2);
LPC_COM(3);
LPC_COM(4);

/* ---- boot ROM ---- */

/* One token after the ROM file: a VARS file, or fwcfg=bhyve|qemu. */
static int bootrom_token(const char *tok, char *err, size_t errlen)
{
	if (strncmp(tok, "fwcfg=", 6) == 0)
		return config_set("lpc.fwcfg", tok + 6);
	if (strchr(tok, '=')) {
		snprintf(err, errlen, "'%s': unknown bootrom option", tok);
		return -1;
	}
	if (config_get_raw("lpc.bootvars")) {
		snprintf(err, errlen, "'%s': only one VARS file may be given", tok);
		return -1;
	}
	return config_set("lpc.bootvars", tok);
}

static int bootrom_legacy(const char *name, const char *conf, char *err, size_t errlen)
{
	const char *rest;
	char *rom;
	int rc = 0;

	if (config_get_raw("lpc.bootrom")) {
		snprintf(err, errlen, "bootrom is configured twice (already %s)",
			 config_get_raw("lpc.bootrom"));
		return -1;
	}
	if (!conf || !*conf) {
		snprintf(err, errlen, "bootrom needs a ROM file (-l bootrom,romfile)");
		return -1;
	}
	rom = devconf_first_token(conf, &rest);
	if (!*rom || config_set("lpc.bootrom", rom) < 0) {
		snprintf(err, errlen, "malformed ROM file name '%s'", rom);
		rc = -1;
	}
	free(rom);
	while (rc == 0 && rest) {
		char *tok = devconf_first_token(rest, &rest);
		rc = bootrom_token(tok, err, errlen);
		free(tok);
	}
	return rc;
}

static int bootrom_validate(char *err, size_t errlen)
{
	const char *rom = config_get("lpc.bootrom");
	const char *vars = config_get("lpc.bootvars");
	const char *fw = config_get("lpc.fwcfg");

	if (config_find_node("lpc.bootrom")) {
		snprintf(err, errlen, "lpc.bootrom must be a file name, not a node");
		return -1;
	}
	if (rom && !*rom) {
		snprintf(err, errlen, "lpc.bootrom=: empty ROM file name");
		return -1;
	}
	if (vars && (!*vars || !rom)) {
		snprintf(err, errlen, "lpc.bootvars=%s: needs a boot ROM (-l bootrom,romfile,varsfile)",
			 vars);
		return -1;
	}
	if (fw && strcmp(fw, "bhyve") && strcmp(fw, "qemu")) {
		snprintf(err, errlen, "lpc.fwcfg=%s: expected bhyve or qemu", fw);
		return -1;
	}
	return 0;
}

static const struct lpc_devemu lpc_de_bootrom = {
	.le_name = "bootrom",
	.le_help = "boot ROM: romfile[,varsfile][,fwcfg=bhyve|qemu]",
	.le_legacy_config = bootrom_legacy,
	.le_validate = bootrom_validate,
};
LPC_EMUL_SET(lpc_de_bootrom);

bool lpc_fwcfg_qemu(void)
{
	const char *fw = config_get("lpc.fwcfg");

	return config_get("lpc.bootrom") && (!fw || strcmp(fw, "bhyve") != 0);
}

/* ---- -l parsing and the registry ---- */

const struct lpc_devemu *lpc_finddev(const char *name)
{
	struct lpc_devemu **pp;

	if (!name)
		return NULL;
	SET_FOREACH(pp, lpc_devemu_set) {
		if (strcasecmp((*pp)->le_name, name) == 0)
			return *pp;
	}
	return NULL;
}

int lpc_device_parse(const char *opt, char *err, size_t errlen)
{
	char sub[PCI_ERRLEN], *name;
	const char *conf;
	const struct lpc_devemu *le;
	int rc = -1;

	name = devconf_first_token(opt, &conf);
	le = lpc_finddev(name);
	if (!le)
		snprintf(sub, sizeof(sub), "unknown LPC device '%s' (see -l help)", name);
	else
		rc = le->le_legacy_config(le->le_name, conf, sub, sizeof(sub));
	if (rc < 0)
		snprintf(err, errlen, "-l %s: %s", opt, sub);
	free(name);
	return rc;
}

static int lpc_cmp(const void *a, const void *b)
{
	const struct lpc_devemu *x = *(const struct lpc_devemu *const *)a;
	const struct lpc_devemu *y = *(const struct lpc_devemu *const *)b;

	return strcmp(x->le_name, y->le_name);
}

void lpc_print_supported_devices(FILE *out)
{
	struct lpc_devemu **pp;
	const struct lpc_devemu **v;
	size_t n = 0, i = 0;

	SET_FOREACH(pp, lpc_devemu_set)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		abort();
	SET_FOREACH(pp, lpc_devemu_set)
		v[i++] = *pp;
	qsort(v, n, sizeof(*v), lpc_cmp);
	fprintf(out, "LPC devices (-l lpcdev[,conf]):\n");
	for (i = 0; i < n; i++)
		fprintf(out, "  %-16s %s\n", v[i]->le_name, v[i]->le_help ? v[i]->le_help : "");
	free(v);
}

struct lpc_errbuf {
	char *err;
	size_t errlen;
};

static int lpc_key_known(const char *name, config_node_t *child, const char *value, void *arg)
{
	char *err = ((struct lpc_errbuf *)arg)->err;
	size_t errlen = ((struct lpc_errbuf *)arg)->errlen;

	if (strcmp(name, "bootvars") == 0 || strcmp(name, "fwcfg") == 0)
		return 0;
	if (lpc_finddev(name) && strcmp(name, lpc_finddev(name)->le_name) == 0)
		return 0;
	snprintf(err, errlen, "lpc.%s: unknown LPC device '%s' (see -l help)", name, name);
	(void)child;
	(void)value;
	return -1;
}

int lpc_validate_all(char *err, size_t errlen)
{
	struct lpc_devemu **pp;
	struct lpc_errbuf eb = { err, errlen };
	config_node_t *lpc = config_find_node("lpc");

	if (!lpc && config_get_raw("lpc")) {
		snprintf(err, errlen, "lpc=%s: 'lpc' must be a node (lpc.com1.path=...)",
			 config_get_raw("lpc"));
		return -1;
	}
	if (lpc && config_node_foreach(lpc, lpc_key_known, &eb))
		return -1;
	SET_FOREACH(pp, lpc_devemu_set) {
		if ((*pp)->le_validate && (*pp)->le_validate(err, errlen) < 0)
			return -1;
	}
	return 0;
}
