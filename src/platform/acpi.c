/*
 * ACPI tables (ACPI 6.x): RSDP, XSDT, RSDT, FADT, FACS, MADT, HPET, MCFG and the DSDT
 * (acpi_dsdt.c), packed one after the other from LAYOUT_ACPI_BASE.  The RSDP comes first so an
 * OS finds it by scanning 0xE0000-0xFFFFF on 16-byte boundaries.
 *
 * Fixed hardware described here is emulated by the platform: PM1a event/control and the PM
 * timer (ports in layout.h), SMI_CMD with ACPI_ENABLE_VALUE/ACPI_DISABLE_VALUE, the reset
 * register (0xCF9 <- 6), the SCI on IRQ 9 and a fixed-feature power button.
 */
#include <string.h>

#include "common/bytes.h"
#include "platform/acpi.h"
#include "platform/firmware.h"
#include "vmm/layout.h"

/* Place `len` bytes aligned to `align` in the area; offset or -1. */
static long acpi_alloc(struct acpi_ctx *c, size_t len, size_t align)
{
	size_t off = (c->off + align - 1) & ~(align - 1);
	if (off > c->size || len > c->size - off)
		return -1;
	memset(c->buf + off, 0, len);
	c->off = off + len;
	return (long)off;
}


/* The 36-byte System Description Table Header; the checksum is set by acpi_finish. */
void acpi_header(uint8_t *p, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(p, sig, 4);
	le32enc(p + 4, len);
	p[8] = rev;
	memcpy(p + 10, ACPI_OEM_ID, 6);
	memcpy(p + 16, ACPI_OEM_TABLE_ID, 8);
	le32enc(p + 24, 1);                 /* OEM revision */
	memcpy(p + 28, ACPI_CREATOR_ID, 4);
	le32enc(p + 32, 1);                 /* creator revision */
}

void acpi_finish(uint8_t *p)
{
	uint32_t len = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
		       (uint32_t)p[7] << 24;
	p[9] = 0;
	p[9] = fw_checksum(p, len);
}

/* Generic Address Structure: space 1 = system I/O; access size 1 byte .. 4 qword. */
static void acpi_gas_io(uint8_t *p, uint16_t port, uint8_t bits, uint8_t access)
{
	p[0] = 1;
	p[1] = bits;
	p[2] = 0;
	p[3] = access;
	le64enc(p + 4, port);
}

static long acpi_table(struct acpi_ctx *c, const char *sig, uint32_t len, uint8_t rev)
{
	long off = acpi_alloc(c, len, 16);
	if (off >= 0)
		acpi_header(c->buf + off, sig, len, rev);
	return off;
}

/* FACS: 64 bytes, 64-byte aligned, no checksum; nothing for a guest to find there but the
 * (unused) global lock and waking vector. */
static long acpi_facs(struct acpi_ctx *c)
{
	long off = acpi_alloc(c, 64, 64);
	if (off < 0)
		return -1;
	uint8_t *p = c->buf + off;
	memcpy(p, "FACS", 4);
	le32enc(p + 4, 64);
	p[32] = 2;                             /* version */
	return off;
}

/* FADT revision 6 (276 bytes). */
static long acpi_fadt(struct acpi_ctx *c, const struct fw_info *fi, uint64_t facs, uint64_t dsdt)
{
	long off = acpi_table(c, "FACP", ACPI_FADT_LEN, 6);
	if (off < 0)
		return -1;
	uint8_t *p = c->buf + off;
	le32enc(p + 36, (uint32_t)facs);
	le32enc(p + 40, (uint32_t)dsdt);
	p[45] = 0;                             /* preferred PM profile: unspecified */
	le16enc(p + 46, IRQ_SCI);
	le32enc(p + 48, PORT_SMI_CMD);
	p[52] = ACPI_ENABLE_VALUE;
	p[53] = ACPI_DISABLE_VALUE;
	le32enc(p + 56, PORT_PM1A_EVT);
	le32enc(p + 64, PORT_PM1A_CNT);
	le32enc(p + 76, PORT_PM_TMR);
	p[88] = PM1_EVT_LEN;                   /* status + enable */
	p[89] = PM1_CNT_LEN;
	p[91] = PM_TMR_LEN;
	le16enc(p + 96, 101);               /* P_LVL2_LAT > 100: no C2 */
	le16enc(p + 98, 1001);              /* P_LVL3_LAT > 1000: no C3 */
	p[108] = RTC_CENTURY_REG;
	/* IAPC_BOOT_ARCH: legacy devices present; an 8042 (bit 1: the keyboard controller,
	 * atkbdc.c); VGA absent (bit 2) unless there is a display; MSI works; ASPM must not be
	 * touched (bit 4). */
	le16enc(p + 109, (uint16_t)(0x0001 | 0x0002 | (fi->vga ? 0 : 0x0004) | 0x0010));
	/* Flags: WBINVD, PROC_C1, no sleep button (SLP_BUTTON), RTC wake not fixed (FIX_RTC),
	 * RESET_REG_SUP; PWR_BUTTON clear = fixed-feature power button. */
	le32enc(p + 112, ACPI_FADT_F_WBINVD | ACPI_FADT_F_PROC_C1 | ACPI_FADT_F_SLP_BUTTON |
			    ACPI_FADT_F_FIX_RTC | ACPI_FADT_F_RESET_REG_SUP);
	acpi_gas_io(p + 116, PORT_RESET_CF9, 8, 1);
	p[128] = ACPI_RESET_VALUE;
	p[131] = 0;                            /* FADT minor version */
	le64enc(p + 132, facs);
	le64enc(p + 140, dsdt);
	acpi_gas_io(p + 148, PORT_PM1A_EVT, 32, 2);
	acpi_gas_io(p + 172, PORT_PM1A_CNT, 16, 2);
	acpi_gas_io(p + 208, PORT_PM_TMR, 32, 3);
	memcpy(p + 268, "BHYVE   ", 8);        /* hypervisor vendor identity */
	acpi_finish(p);
	return off;
}

/* MADT: local APIC address, PCAT_COMPAT (there is an 8259 pair), one Processor Local APIC
 * per vCPU, the IOAPIC with GSIs 0-23, IRQ0 -> GSI 2, the SCI as level/active high, and every
 * processor's LINT1 wired to NMI. */
static long acpi_madt(struct acpi_ctx *c, const struct fw_info *fi)
{
	uint32_t len = 44 + 8 * (uint32_t)fi->ncpu + 12 + 2 * 10 + 6;
	long off = acpi_table(c, "APIC", len, 5);
	if (off < 0)
		return -1;
	uint8_t *p = c->buf + off;
	le32enc(p + 36, (uint32_t)LAYOUT_LAPIC_BASE);
	le32enc(p + 40, 1);                  /* PCAT_COMPAT */
	uint8_t *e = p + 44;
	for (int i = 0; i < fi->ncpu; i++, e += 8) {
		e[0] = 0;
		e[1] = 8;
		e[2] = (uint8_t)i;              /* ACPI processor UID */
		e[3] = (uint8_t)fi->apic_id[i];
		le32enc(e + 4, 1);           /* enabled */
	}
	e[0] = 1;
	e[1] = 12;
	e[2] = ACPI_IOAPIC_ID;
	le32enc(e + 4, (uint32_t)LAYOUT_IOAPIC_BASE);
	le32enc(e + 8, 0);                   /* GSI base */
	e += 12;
	const struct { uint8_t irq; uint32_t gsi; uint16_t flags; } iso[2] = {
		{ IRQ_PIT, 2, 0x0000 },          /* conforms to the bus: edge, active high */
		{ IRQ_SCI, IRQ_SCI, 0x000D },    /* level (3 << 2), active high (1) */
	};
	for (int i = 0; i < 2; i++, e += 10) {
		e[0] = 2;
		e[1] = 10;
		e[2] = 0;                       /* bus: ISA */
		e[3] = iso[i].irq;
		le32enc(e + 4, iso[i].gsi);
		le16enc(e + 8, iso[i].flags);
	}
	e[0] = 4;                               /* Local APIC NMI */
	e[1] = 6;
	e[2] = 0xFF;                            /* all processors */
	le16enc(e + 3, 0x0005);              /* edge, active high */
	e[5] = 1;                               /* LINT1 */
	acpi_finish(p);
	return off;
}

/* HPET: the event timer block ID mirrors the low half of the HPET's capabilities register. */
static long acpi_hpet(struct acpi_ctx *c)
{
	long off = acpi_table(c, "HPET", 56, 1);
	if (off < 0)
		return -1;
	uint8_t *p = c->buf + off;
	le32enc(p + 36, ACPI_HPET_BLOCK_ID);
	p[40] = 0;                              /* system memory */
	p[41] = 64;
	le64enc(p + 44, LAYOUT_HPET_BASE);
	p[52] = 0;                              /* HPET number */
	le16enc(p + 53, 0x80);               /* minimum clock tick in periodic mode */
	p[55] = 0;                              /* no page protection */
	acpi_finish(p);
	return off;
}

/* MCFG: one ECAM region for segment 0, buses 0-255. */
static long acpi_mcfg(struct acpi_ctx *c, const struct fw_info *fi)
{
	long off = acpi_table(c, "MCFG", 60, 1);
	if (off < 0)
		return -1;
	uint8_t *p = c->buf + off;
	le64enc(p + 44, fi->ecam_base);
	le16enc(p + 52, 0);
	p[54] = 0;
	p[55] = (uint8_t)((LAYOUT_PCI_ECAM_SIZE >> 20) - 1);
	acpi_finish(p);
	return off;
}

/* XSDT (64-bit pointers) and RSDT (32-bit) listing the same tables. */
static long acpi_sdt(struct acpi_ctx *c, const char *sig, int width, const uint64_t *tables,
		     int n)
{
	long off = acpi_table(c, sig, (uint32_t)(36 + width * n), 1);
	if (off < 0)
		return -1;
	uint8_t *p = c->buf + off;
	for (int i = 0; i < n; i++) {
		if (width == 8)
			le64enc(p + 36 + 8 * i, tables[i]);
		else
			le32enc(p + 36 + 4 * i, (uint32_t)tables[i]);
	}
	acpi_finish(p);
	return off;
}

static void acpi_rsdp(uint8_t *p, uint64_t rsdt, uint64_t xsdt)
{
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, ACPI_OEM_ID, 6);
	p[15] = 2;                              /* revision: ACPI 2.0+ (has the XSDT) */
	le32enc(p + 16, (uint32_t)rsdt);
	le32enc(p + 20, ACPI_RSDP_LEN);
	le64enc(p + 24, xsdt);
	p[8] = fw_checksum(p, 20);              /* over the ACPI 1.0 part */
	p[32] = fw_checksum(p, ACPI_RSDP_LEN);  /* over all of it */
}

long acpi_build_tables(const struct fw_info *fi, uint8_t *buf, uint64_t gpa, size_t size)
{
	return acpi_build_tables_lay(fi, buf, gpa, size, NULL);
}

long acpi_build_tables_lay(const struct fw_info *fi, uint8_t *buf, uint64_t gpa, size_t size,
			   struct acpi_layout *lay)
{
	struct acpi_ctx c = { .buf = buf, .gpa = gpa, .size = size };
	if (gpa & 15)
		return -1;
	memset(buf, 0, size);
	long rsdp = acpi_alloc(&c, ACPI_RSDP_LEN, 16);
	long facs = acpi_facs(&c);
	long dsdt = acpi_dsdt(&c, fi);
	if (rsdp < 0 || facs < 0 || dsdt < 0)
		return -1;
	long t[4];
	t[0] = acpi_fadt(&c, fi, gpa + (uint64_t)facs, gpa + (uint64_t)dsdt);
	t[1] = acpi_madt(&c, fi);
	t[2] = acpi_hpet(&c);
	t[3] = acpi_mcfg(&c, fi);
	uint64_t addr[4];
	for (int i = 0; i < 4; i++) {
		if (t[i] < 0)
			return -1;
		addr[i] = gpa + (uint64_t)t[i];
	}
	long xsdt = acpi_sdt(&c, "XSDT", 8, addr, 4);
	long rsdt = acpi_sdt(&c, "RSDT", 4, addr, 4);
	if (xsdt < 0 || rsdt < 0)
		return -1;
	acpi_rsdp(buf + rsdp, gpa + (uint64_t)rsdt, gpa + (uint64_t)xsdt);
	if (lay) {
		*lay = (struct acpi_layout){ rsdp, facs, dsdt, t[0], xsdt, rsdt,
					     { t[0], t[1], t[2], t[3] }, 4 };
	}
	return (long)c.off;
}
