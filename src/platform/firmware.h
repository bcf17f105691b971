/*
 * Firmware tables the guest finds in memory at boot, written by bhyve at VM start as a BIOS
 * would have left them: ACPI (-A, config acpi_tables), the Intel MP table (unless -Y,
 * x86.mptable=false) and SMBIOS.  All live in the BIOS area (layout.h) that the e820 map marks
 * reserved, where Linux scans for their entry points.
 *
 * Each table set has a builder that writes into a host buffer standing for guest-physical
 * [gpa, gpa + size), which the unit tests use directly, and a *_build(vm) wrapper that maps
 * the area with vm_map_gpa and fills it.
 */
#ifndef BHYVE_FIRMWARE_H
#define BHYVE_FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

struct vm;

/* What the tables describe; filled from the VM and the config tree by fw_info_init(). */
struct fw_info {
	int ncpu;
	uint32_t apic_id[VM_MAXCPU];   /* APIC ID of each vCPU (default: the vCPU index) */
	int sockets, cores, threads;   /* topology (config sockets/cores/threads) */
	uint64_t lowmem;               /* RAM below LAYOUT_LOWMEM_LIMIT */
	uint64_t highmem;              /* RAM from 4 GiB */
	unsigned com_mask;             /* bit n: COM(n+1) configured (lpc.comN.path) */
	int lpc_slot;                  /* bus-0 slot of the LPC bridge, -1 if none */
	bool vga;                      /* a display adapter exists (IAPC_BOOT_ARCH) */
	char vm_name[VM_NAME_LEN + 1];
	uint8_t uuid[16];              /* SMBIOS system UUID, RFC 4122 byte order */
	uint64_t ecam_base;            /* ECAM window (MCFG, DSDT); LAYOUT_PCI_ECAM_BASE */
	uint64_t mmio32_end;           /* end of the host bridge's 32-bit BAR window (DSDT) */
};

/* Where each table landed in an ACPI build (offsets in the buffer), for the pointer and
 * checksum fix-ups of a relocatable copy (QEMU's table loader). */
struct acpi_layout {
	long rsdp, facs, dsdt, fadt, xsdt, rsdt;
	long table[4];                 /* what XSDT/RSDT list: FADT, MADT, HPET, MCFG */
	int ntables;
};

/* Fill `fi` for `vm` with `ncpu` vCPUs from the config tree (uuid, name, sockets, cores,
 * threads, lpc.*, pci.*).  0, or -1 with a message (a malformed uuid). */
int fw_info_init(struct fw_info *fi, struct vm *vm, int ncpu, char *err, size_t errlen);
/* Same without a VM: memory sizes given (tests). */
int fw_info_init_mem(struct fw_info *fi, uint64_t lowmem, uint64_t highmem, int ncpu,
		     char *err, size_t errlen);
/* Parse "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (case-insensitive): 0 or -1. */
int fw_parse_uuid(const char *s, uint8_t out[16]);
/* The default system UUID: MD5 of "<host name>:<vm name>" as a name-based (version 3) UUID. */
void fw_default_uuid(const char *hostname, const char *vmname, uint8_t out[16]);

/* Byte that makes the sum of buf[0..len) plus itself zero. */
uint8_t fw_checksum(const void *buf, size_t len);

/* ---- builders into a buffer: bytes used, or -1 if it does not fit ---- */
long acpi_build_tables(const struct fw_info *fi, uint8_t *buf, uint64_t gpa, size_t size);
/* The same, saying where each table is (lay may be NULL). */
long acpi_build_tables_lay(const struct fw_info *fi, uint8_t *buf, uint64_t gpa, size_t size,
			   struct acpi_layout *lay);
long mptable_build_table(const struct fw_info *fi, uint8_t *buf, uint64_t gpa, size_t size);
long smbios_build_table(const struct fw_info *fi, uint8_t *buf, uint64_t gpa, size_t size);

/* ---- at VM start: 0, or -1 with a message ---- */
int fw_acpi_build(struct vm *vm, int ncpu, char *err, size_t errlen);
int fw_mptable_build(struct vm *vm, int ncpu, char *err, size_t errlen);
int fw_smbios_build(struct vm *vm, int ncpu, char *err, size_t errlen);
/* All of them as the config asks: ACPI if acpi_tables=true, the MP table unless
 * x86.mptable=false, SMBIOS always.  A bhyve_run step (after the PCI bus). */
int firmware_build(struct vm *vm, int ncpu, char *err, size_t errlen);

#endif
