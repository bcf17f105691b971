/*
 * PCI device emulations.  Each emulation file defines a `struct pci_devemu` and registers it
 * with PCI_EMUL_SET(); the bus finds it by name (-s slot,NAME,...).  No central table.
 *
 * Life of a device, as in bhyve:
 *   1. parse:    `-s 2,virtio-blk,/img,ro` -> node pci.0.2.0 {device=virtio-blk}, then the
 *                emulation's pe_legacy_config(node, "/img,ro") adds path=/img, ro=true.
 *   2. validate: pe_validate(node) checks every key of the node as set-up would, without
 *                opening files or sockets (config.dump=true stops after this).
 *   3. init:     pe_init(pi, node) at VM start: opens backends, sets config space and BARs.
 * All three return 0 or -1 with a one-line message in `err` naming the bad argument.
 */
#ifndef BHYVE_PCI_EMUL_H
#define BHYVE_PCI_EMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "common/linker_set.h"

struct vm;
struct vcpu;
struct pci_devinst;

#define PCI_MAXBUS   256
#define PCI_MAXSLOT  32
#define PCI_MAXFUNC  8
#define PCI_BARMAX   5
#define PCI_ERRLEN   256

enum pcibar_type { PCIBAR_NONE, PCIBAR_IO, PCIBAR_MEM32, PCIBAR_MEM64, PCIBAR_MEMHI64 };

struct pci_devemu {
	const char *pe_emu;         /* name on the command line */
	const char *pe_help;        /* one line for `-s help`: the conf syntax it takes */
	/* Turn the comma-separated legacy option string (may be NULL) into keys under nvl. */
	int (*pe_legacy_config)(config_node_t *nvl, const char *opts, char *err, size_t errlen);
	/* Check the node's keys without side effects. */
	int (*pe_validate)(config_node_t *nvl, char *err, size_t errlen);
	/* Create the device at VM start. */
	int (*pe_init)(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen);
	void (*pe_deinit)(struct pci_devinst *pi);
	/* Config-space hooks: return 0 if handled, nonzero to let the bus do the default. */
	int (*pe_cfgwrite)(struct pci_devinst *pi, int offset, int bytes, uint32_t val);
	int (*pe_cfgread)(struct pci_devinst *pi, int offset, int bytes, uint32_t *val);
	/* BAR accesses: offset is relative to the BAR start. */
	void (*pe_barwrite)(struct vcpu *vcpu, struct pci_devinst *pi, int baridx, uint64_t offset,
			    int size, uint64_t value);
	uint64_t (*pe_barread)(struct vcpu *vcpu, struct pci_devinst *pi, int baridx,
			       uint64_t offset, int size);
	/* Only on bus 0 (lpc). */
	bool pe_bus0_only;
	/* The keys the device's node may hold besides `device`, NULL-terminated (NULL: the
	 * device checks its keys itself).  Validation refuses any other key, naming it. */
	const char *const *pe_keys;
	/* Parsed and validated only: no device model yet.  config.dump accepts the device;
	 * starting a VM with it fails with "not implemented" (bhyve exits 4). */
	bool pe_unimplemented;
};

SET_DECLARE(pci_devemu_set, struct pci_devemu);
#define PCI_EMUL_SET(x) DATA_SET(pci_devemu_set, x)

/* Look up an emulation by name (NULL if unknown). */
const struct pci_devemu *pci_emul_finddev(const char *name);

/* Helpers for pe_legacy_config / pe_validate: parse "a,b=c,d" into keys of nvl, treating a
 * bare word as `word=true`; and typical value checks. */
int pci_parse_legacy_kv(config_node_t *nvl, const char *opts, char *err, size_t errlen);

/* ---- The -s slot table (src/pci/pci_emul.c) ----
 * The configuration tree is the table: a slot/function is in use when pci.B.S.F.device is set.
 * -s "[[bus:]slot[:func]],emulation[,conf]": checks the numbers, refuses an unknown emulation,
 * a used slot/function and lpc off bus 0, then sets device= and runs pe_legacy_config.  */
int pci_parse_slot(const char *opt, char *err, size_t errlen);
/* `-s help`: every registered emulation with its pe_help, sorted by name. */
void pci_print_supported_devices(FILE *out);
/* Check every pci.B.S.F node of the tree: numbers, device=, pe_validate. */
int pci_validate_all(char *err, size_t errlen);
/* Bus/slot/function of a pci.B.S.F node (from its path); -1 if it is not one. */
int pci_node_bsf(const config_node_t *n, int *bus, int *slot, int *func);

/* ---- LPC devices (-l NAME,conf) ---- */
struct lpc_devemu {
	const char *le_name;        /* com1, com2, com3, com4, bootrom, ... */
	const char *le_help;
	/* Turn "-l NAME,conf" into keys (e.g. lpc.com1.path=stdio). */
	int (*le_legacy_config)(const char *name, const char *conf, char *err, size_t errlen);
	int (*le_validate)(char *err, size_t errlen);
};
SET_DECLARE(lpc_devemu_set, struct lpc_devemu);
#define LPC_EMUL_SET(x) DATA_SET(lpc_devemu_set, x)

/* Look up an LPC device by name, case-insensitively (NULL if unknown). */
const struct lpc_devemu *lpc_finddev(const char *name);
/* True when a boot ROM is configured with QEMU's firmware interface (lpc.fwcfg=qemu, the
 * default here): the platform then presents what QEMU's OVMF expects (a Q35 host bridge, an
 * ICH9 LPC bridge, fw_cfg). */
bool lpc_fwcfg_qemu(void);
/* -l "NAME[,conf]": refuses an unknown device and a device given twice. */
int lpc_device_parse(const char *opt, char *err, size_t errlen);
/* `-l help`. */
void lpc_print_supported_devices(FILE *out);
/* le_validate of every LPC device. */
int lpc_validate_all(char *err, size_t errlen);

/* A BAR read of `size` bytes at `off` from a register file of 32-bit words, each read by
 * rd(dev, offset of the word): an aligned 8-byte read is the two words at off and off + 4,
 * anything narrower the bytes of the one word that holds `off`, shifted down. */
uint64_t pci_bar_read_words(void *dev, uint32_t (*rd)(void *dev, uint32_t off), uint64_t off,
			    int size);

#endif
