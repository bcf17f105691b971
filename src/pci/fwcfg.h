/*
 * QEMU's firmware configuration interface (fw_cfg), which QEMU's OVMF reads for the memory
 * map, the vCPU count, ACPI tables (through the table loader) and SMBIOS.  One instance per
 * VM, created by the LPC bridge when a boot ROM runs with lpc.fwcfg=qemu.
 */
#ifndef BHYVE_FWCFG_H
#define BHYVE_FWCFG_H

#include <stddef.h>
#include <stdint.h>

struct vm;

struct fwcfg;
/* Build the items and register the ports.  NULL with a message. */
struct fwcfg *fwcfg_init(struct vm *vm, char *err, size_t errlen);
/* Unregister the ports and free (NULL: nothing). */
void fwcfg_deinit(struct fwcfg *fc);

/* ---- the parts below are exposed for the unit tests ---- */
/* An fw_cfg with no items but the signature, ID and file directory (no ports). */
struct fwcfg *fwcfg_new(struct vm *vm);
void fwcfg_free(struct fwcfg *fc);
/* Add a file (name up to 55 bytes); the data is copied.  Its selector, or -1. */
int fwcfg_add_file(struct fwcfg *fc, const char *name, const void *data, uint32_t size);
/* Port accesses as a vCPU makes them (port PORT_FWCFG_SEL.. / PORT_FWCFG_DMA..). */
void fwcfg_io(struct fwcfg *fc, int in, uint16_t port, int bytes, uint32_t *val);
/* An item's bytes (to rewrite in place) and size, or NULL. */
uint8_t *fwcfg_file_data(struct fwcfg *fc, int key, uint32_t *size);
/* Rebuild the ACPI items (fwcfg_acpi_refresh) whenever this one is selected. */
void fwcfg_refresh_on_select(struct fwcfg *fc, int key);
/* The UUID item (0x02).  Its key, or -1. */
int fwcfg_add_uuid(struct fwcfg *fc, const uint8_t uuid[16]);

#endif
