/*
 * The fw_cfg files that carry ACPI and SMBIOS to QEMU's firmware: our own tables
 * (src/platform/acpi*.c, smbios.c) built as relocatable blobs, with QEMU's linker/loader
 * script (etc/table-loader) saying where to put them and which pointers and checksums to fix.
 */
#ifndef BHYVE_FWCFG_ACPI_H
#define BHYVE_FWCFG_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "platform/firmware.h"

struct fwcfg;
struct vm;

struct fwcfg_acpi {
	struct fwcfg *fc;
	int k_rsdp, k_tables;
	long total;                    /* bytes of the build: RSDP area + tables */
};

/* Add the UUID, ACPI and SMBIOS items.  0, or -1 with a message. */
int fwcfg_acpi_add(struct fwcfg *fc, struct fwcfg_acpi *a, struct vm *vm, char *err,
		   size_t errlen);
/* Rebuild the ACPI blobs in place for the current ECAM window. */
void fwcfg_acpi_refresh(struct fwcfg_acpi *a, struct vm *vm);

/* Exposed for the unit tests: the blobs from `fi`.  buf gets RSDP at 0 and the tables from
 * FWCFG_ACPI_TABLES_OFF; `loader` (FWCFG_ACPI_LOADER_MAX bytes) the script.  The total size
 * and the script's size, or -1. */
#define FWCFG_ACPI_TABLES_OFF 64
#define FWCFG_ACPI_LOADER_MAX (32 * 128)
long fwcfg_acpi_build(const struct fw_info *fi, uint8_t *buf, size_t size, uint8_t *loader,
		      uint32_t *loader_len);

#endif
