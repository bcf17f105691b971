/*
 * The UEFI variable store of `-l bootrom,CODE,VARS`: the VARS file mapped as writable flash
 * right below the boot ROM, speaking the Intel/Sharp command set (CFI "command set 1") that
 * QEMU's pflash_cfi01 implements and OVMF's QemuFlashFvbServicesRuntimeDxe drives.  Programmed
 * and erased bytes go straight to the file (a shared mapping), flushed when the VM ends.
 */
#ifndef BHYVE_PFLASH_H
#define BHYVE_PFLASH_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct pflash;

/* Open `path` read-write (its size: a non-zero multiple of 4 KiB up to max_size) and map it
 * at [top - size, top).  NULL with a message. */
struct pflash *pflash_create(struct vm *vm, const char *path, uint64_t top, uint64_t max_size,
			     char *err, size_t errlen);
uint64_t pflash_size(const struct pflash *pf);
/* Flush to the file, unmap, free. */
void pflash_destroy(struct pflash *pf);

/* One access as a vCPU makes it (offset inside the flash; tests). */
void pflash_access(struct pflash *pf, int write, uint64_t off, int size, uint64_t *val);

#endif
