/*
 * Direct kernel loaders used by bhyveload (and bhyve's one-command boot): a Linux bzImage by
 * the 64-bit boot protocol, or a Multiboot v1 kernel.  They write the image, the initrd, the
 * command line and the boot structures into guest RAM and return the BSP's entry state; the
 * caller stores it with vm_set_boot_state().
 *
 * Everything taken from an image file (offsets, sizes, load addresses) is checked against the
 * file and against guest RAM: a malformed image is refused with a message, never trusted.
 */
#ifndef BHYVE_LOADER_H
#define BHYVE_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/vmm.h"

enum loader_kind { LOADER_NONE = 0, LOADER_LINUX, LOADER_MULTIBOOT };

struct loader_args {
	const char *kernel;        /* path of the kernel image */
	const char *initrd;        /* path of the initrd / Multiboot module, or NULL */
	const char *cmdline;       /* kernel command line, or NULL */
	FILE *log;                 /* progress messages (bhyveload -c), or NULL */
};

/* Load by the format the image has.  0, or -1 with one line in err. */
int loader_load(struct vm *vm, const struct loader_args *a, struct vm_boot_state *bs,
		enum loader_kind *kind, char *err, size_t errlen);

/* The format of an image held in memory (LOADER_NONE if neither). */
enum loader_kind loader_probe(const uint8_t *img, size_t len);

/* The two loaders on an image already in memory (tests call these directly). */
int loader_linux(struct vm *vm, const uint8_t *img, size_t len, const struct loader_args *a,
		 struct vm_boot_state *bs, char *err, size_t errlen);
int loader_multiboot(struct vm *vm, const uint8_t *img, size_t len, const struct loader_args *a,
		     struct vm_boot_state *bs, char *err, size_t errlen);

/* ---- Shared pieces (loader_common.c) ---- */

#define E820_RAM       1
#define E820_RESERVED  2
#define E820_MAX       16

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* The e820 map that matches the VM's layout; returns the number of entries. */
int loader_e820(struct vm *vm, struct e820_entry *map, int max);

/* Copy into guest RAM; -1 (message in err) if [gpa, gpa+len) is not wholly RAM. */
int loader_copy_in(struct vm *vm, uint64_t gpa, const void *src, size_t len, char *err,
		   size_t errlen);
int loader_zero(struct vm *vm, uint64_t gpa, size_t len, char *err, size_t errlen);
/* Read a whole file (up to max bytes); NULL with a message in err. */
uint8_t *loader_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);
/* Size of a file, or -1 with a message. */
int64_t loader_file_size(const char *path, char *err, size_t errlen);
/* Read a file of `size` bytes into guest RAM at gpa. */
int loader_read_into(struct vm *vm, const char *path, uint64_t gpa, uint64_t size, char *err,
		     size_t errlen);

/* The boot GDT at LAYOUT_BOOT_GDT (null, code64 0x08, data 0x10, code32 0x18) and an empty
 * IDT at LAYOUT_BOOT_IDT. */
#define LOADER_SEL_CODE64 0x08
#define LOADER_SEL_DATA   0x10
#define LOADER_SEL_CODE32 0x18
int loader_write_gdt(struct vm *vm, char *err, size_t errlen);
/* Identity page tables for the first 4 GiB (2 MiB pages) at LAYOUT_BOOT_PML4. */
int loader_write_pagetables(struct vm *vm, char *err, size_t errlen);
/* Registers common to every entry state: x87/SSE defaults, PAT, DR6/DR7, flat data segments,
 * GDTR/IDTR of the boot GDT/IDT. */
void loader_regs_base(struct cpu_regs *r);
/* Flat segment with the given selector and VMX-layout attributes. */
void loader_set_seg(struct cpu_regs *r, int seg, uint16_t sel, uint16_t attr);

#define LOADER_ATTR_CODE64 0xa09b
#define LOADER_ATTR_CODE32 0xc09b
#define LOADER_ATTR_DATA   0xc093

#endif
