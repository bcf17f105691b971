/*
 * Internals shared by the ACPI table writers (acpi.c, acpi_dsdt.c) and their unit test.
 */
#ifndef BHYVE_ACPI_H
#define BHYVE_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"

struct fw_info;

#define ACPI_OEM_ID        "BHYVE "      /* 6 characters */
#define ACPI_OEM_TABLE_ID  "BVLINUX "    /* 8 characters */
#define ACPI_CREATOR_ID    "BHLX"
#define ACPI_RSDP_LEN      36
#define ACPI_FADT_LEN      276
#define ACPI_RESET_VALUE   0x06          /* written to 0xCF9: full reset (bits 1 and 2) */
#define ACPI_IOAPIC_ID     0
/* HPET event timer block ID: vendor 0x8086, legacy replacement capable, 64-bit counter,
 * 3 comparators (NUM_TIM_CAP = 2), revision 1. */
#define ACPI_HPET_BLOCK_ID 0x8086A201u

/* FADT flags (ACPI 6.x table 5.10). */
#define ACPI_FADT_F_WBINVD          (1u << 0)
#define ACPI_FADT_F_PROC_C1         (1u << 2)
#define ACPI_FADT_F_PWR_BUTTON      (1u << 4)
#define ACPI_FADT_F_SLP_BUTTON      (1u << 5)
#define ACPI_FADT_F_FIX_RTC         (1u << 6)
#define ACPI_FADT_F_RESET_REG_SUP   (1u << 10)

/* The area being filled: host buffer `buf` standing for guest-physical [gpa, gpa + size). */
struct acpi_ctx {
	uint8_t *buf;
	uint64_t gpa;
	size_t size, off;
};

void acpi_header(uint8_t *p, const char *sig, uint32_t len, uint8_t rev);
/* Set the header's checksum so the table's bytes sum to zero. */
void acpi_finish(uint8_t *p);

/* Write the DSDT at the next 16-byte boundary: its offset in the area, or -1. */
long acpi_dsdt(struct acpi_ctx *c, const struct fw_info *fi);
/* The DSDT's AML body (without the header) into buf: length, or -1. */
long acpi_dsdt_aml(const struct fw_info *fi, uint8_t *buf, size_t cap);

#endif
