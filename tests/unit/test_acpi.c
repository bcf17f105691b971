/*
 * ACPI tables: built into a buffer standing for guest memory at LAYOUT_ACPI_BASE, then found
 * the way an OS finds them (RSDP scan, XSDT/RSDT, FADT -> DSDT/FACS) and checked field by
 * field; the DSDT's AML is walked by a small decoder that checks every PkgLength and pulls out
 * \_S5, the host bridge's _CRS and _PRT.
 *
 * With BHYVE_ACPI_DUMP=DIR set, the tables are also written to DIR/<SIG>.dat (for iasl, see
 * tests/test_acpi_iasl.py).  With BHYVE_ACPI_BLOB=FILE@GPA, the whole table area is built for
 * guest address GPA (2 vCPUs, COM1, LPC at slot 31) and written to FILE (for the reference
 * check against a real kernel, guest/acpi-qemu-check.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "platform/acpi.h"
#include "platform/acpi_aml.h"
#include "platform/firmware.h"
#include "vmm/layout.h"
#include "unit.h"

static uint8_t area[LAYOUT_ACPI_SIZE];

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* Guest address -> pointer into `area`, or NULL if [gpa, gpa+len) is outside it. */
static const uint8_t *at(uint64_t gpa, size_t len)
{
	if (gpa < LAYOUT_ACPI_BASE || gpa + len > LAYOUT_ACPI_BASE + sizeof(area))
		return NULL;
	return area + (gpa - LAYOUT_ACPI_BASE);
}

/* A table with a valid header and checksum at gpa, or NULL. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
	const uint8_t *h = at(gpa, 36);
	CHECK(h != NULL);
	if (!h)
		return NULL;
	uint32_t len = rd32(h + 4);
	CHECK(at(gpa, len) != NULL);
	if (!at(gpa, len))
		return NULL;
	CHECK(memcmp(h, sig, 4) == 0);
	CHECK_EQ(sum(h, len), 0);
	CHECK(memcmp(h + 10, ACPI_OEM_ID, 6) == 0);
	return h;
}

static void dump(const char *dir, const uint8_t *t)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%.4s.dat", dir, (const char *)t);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		fwrite(t, 1, rd32(t + 4), f);
		fclose(f);
	}
}

/* ---------------- a small AML decoder ---------------- */

struct aml_rd {
	const uint8_t *p, *end;
	int bad;
	/* what we pulled out */
	int s5_typ[2];
	int prt_count, prt_wrong;
	int devices;
	const uint8_t *pc00_crs;
	size_t pc00_crs_len;
	char path[8][5];   /* current device/scope names */
	int depth;
	int com_seen;
};

static size_t rd_pkglen(struct aml_rd *r, const uint8_t **end)
{
	if (r->p >= r->end) {
		r->bad++;
		return 0;
	}
	const uint8_t *start = r->p;
	uint8_t lead = *r->p++;
	int n = lead >> 6;
	size_t len = n ? (lead & 0xF) : (lead & 0x3F);
	for (int i = 0; i < n; i++) {
		if (r->p >= r->end) {
			r->bad++;
			return 0;
		}
		len |= (size_t)*r->p++ << (4 + 8 * i);
	}
	*end = start + len;
	if (*end > r->end || *end < r->p)
		r->bad++;
	return len;
}

/* NameString -> last segment (4 chars) in seg. */
static void rd_name(struct aml_rd *r, char seg[5])
{
	while (r->p < r->end && (*r->p == AML_ROOT_CHAR || *r->p == AML_PARENT_CHAR))
		r->p++;
	int n = 1;
	if (r->p < r->end && *r->p == AML_DUAL_NAME) {
		n = 2;
		r->p++;
	} else if (r->p < r->end && *r->p == AML_MULTI_NAME) {
		r->p++;
		n = r->p < r->end ? *r->p++ : 0;
	} else if (r->p < r->end && *r->p == 0) {
		r->p++;
		strcpy(seg, "");
		return;
	}
	for (int i = 0; i < n; i++) {
		if (r->end - r->p < 4) {
			r->bad++;
			return;
		}
		memcpy(seg, r->p, 4);
		seg[4] = 0;
		r->p += 4;
	}
}

static int rd_object(struct aml_rd *r, uint64_t *ival);

/* Integer data object; -1 if the next object is not one. */
static int rd_integer(struct aml_rd *r, uint64_t *v)
{
	if (r->p >= r->end)
		return -1;
	uint8_t op = *r->p;
	int n = op == AML_BYTE_PREFIX ? 1 : op == AML_WORD_PREFIX ? 2 : op == AML_DWORD_PREFIX ? 4 :
		op == AML_QWORD_PREFIX ? 8 : 0;
	if (op == AML_ZERO_OP || op == AML_ONE_OP || op == AML_ONES_OP) {
		r->p++;
		*v = op == AML_ONES_OP ? ~0ULL : op;
		return 0;
	}
	if (!n || r->end - r->p < n + 1)
		return -1;
	r->p++;
	*v = 0;
	for (int i = 0; i < n; i++)
		*v |= (uint64_t)*r->p++ << (8 * i);
	return 0;
}

/* Package: checks its length; for _PRT entries verifies the routing rule. */
static void rd_package(struct aml_rd *r, const char *name)
{
	const uint8_t *end;
	rd_pkglen(r, &end);
	if (r->bad)
		return;
	int nelem = *r->p++;
	const uint8_t *save_end = r->end;
	r->end = end;
	uint64_t v[4] = { 0 };
	int i = 0;
	for (; r->p < end && !r->bad; i++) {
		uint64_t x = 0;
		if (*r->p == AML_PACKAGE_OP && strcmp(name, "_PRT") == 0) {
			r->p++;
			rd_package(r, "PRTE");
			continue;
		}
		int isint = rd_object(r, &x);
		if (i < 4 && isint)
			v[i] = x;
	}
	CHECK_EQ(i, nelem);
	if (strcmp(name, "_S5_") == 0) {
		r->s5_typ[0] = (int)v[0];
		r->s5_typ[1] = (int)v[1];
	}
	if (strcmp(name, "PRTE") == 0) {
		int slot = (int)(v[0] >> 16);
		r->prt_count++;
		if ((v[0] & 0xFFFF) != 0xFFFF || v[2] != 0 ||
		    v[3] != (uint64_t)PCI_INTX_IOAPIC_PIN(slot, (int)v[1] + 1) || v[3] < 16 || v[3] > 23)
			r->prt_wrong++;
	}
	r->end = save_end;
	r->p = end;
}

/* One data object; returns 1 and *ival if it was an integer. */
static int rd_object(struct aml_rd *r, uint64_t *ival)
{
	if (rd_integer(r, ival) == 0)
		return 1;
	if (r->p >= r->end) {
		r->bad++;
		return 0;
	}
	uint8_t op = *r->p++;
	const uint8_t *end;
	switch (op) {
	case AML_STRING_PREFIX:
		while (r->p < r->end && *r->p)
			r->p++;
		if (r->p >= r->end)
			r->bad++;
		r->p++;
		return 0;
	case AML_BUFFER_OP:
		rd_pkglen(r, &end);
		r->p = end;
		return 0;
	case AML_PACKAGE_OP:
		rd_package(r, "");
		return 0;
	default:
		r->bad++;
		return 0;
	}
}

static void rd_termlist(struct aml_rd *r, const uint8_t *end);

static void rd_name_op(struct aml_rd *r)
{
	char seg[5];
	rd_name(r, seg);
	if (r->p >= r->end) {
		r->bad++;
		return;
	}
	if (*r->p == AML_PACKAGE_OP) {
		r->p++;
		rd_package(r, seg);
		return;
	}
	if (*r->p == AML_BUFFER_OP && strcmp(seg, "_CRS") == 0 && r->depth > 0 &&
	    strcmp(r->path[r->depth - 1], "PC00") == 0) {
		const uint8_t *end, *save = r->p++;
		rd_pkglen(r, &end);
		uint64_t n;
		if (rd_integer(r, &n) == 0 && r->p + n == end) {
			r->pc00_crs = r->p;
			r->pc00_crs_len = (size_t)n;
		} else {
			r->bad++;
		}
		r->p = save;
	}
	if (strcmp(seg, "_HID") == 0 && r->p + 5 <= r->end &&
	    rd32(r->p + 1) == aml_eisaid_value("PNP0501"))
		r->com_seen++;
	uint64_t x;
	rd_object(r, &x);
}

static void rd_termlist(struct aml_rd *r, const uint8_t *end)
{
	const uint8_t *save_end = r->end;
	r->end = end;
	while (r->p < end && !r->bad) {
		uint8_t op = *r->p++;
		if (op == AML_NAME_OP) {
			rd_name_op(r);
		} else if (op == AML_SCOPE_OP || (op == AML_EXT_PREFIX && r->p < end &&
						   *r->p == AML_DEVICE_OP)) {
			if (op == AML_EXT_PREFIX) {
				r->p++;
				r->devices++;
			}
			const uint8_t *e;
			rd_pkglen(r, &e);
			if (r->bad || r->depth >= 8)
				break;
			rd_name(r, r->path[r->depth++]);
			rd_termlist(r, e);
			r->depth--;
			r->p = e;
		} else {
			r->bad++;
		}
	}
	r->end = save_end;
}

/* Walk the PC00 _CRS descriptors: count windows, check the End tag. */
static void check_crs(const uint8_t *p, size_t len, const struct fw_info *fi)
{
	int bus = 0, io = 0, mem32 = 0, mem64 = 0, cf8 = 0, end = 0;
	size_t i = 0;
	while (i < len && !end) {
		uint8_t tag = p[i];
		if (tag & 0x80) {                       /* large item */
			uint32_t l = rd16(p + i + 1);
			const uint8_t *d = p + i + 3;
			if (tag == 0x88 && d[0] == 2) {
				bus++;
				CHECK_EQ(rd16(d + 5), 0);
				CHECK_EQ(rd16(d + 7), 255);
			} else if (tag == 0x88 && d[0] == 1) {
				io++;
			} else if (tag == 0x87) {
				if (rd32(d + 7) == LAYOUT_PCI_MMIO32_BASE) {
					mem32++;
					CHECK_EQ(rd32(d + 11), LAYOUT_PCI_MMIO32_END - 1);
					CHECK_EQ(rd32(d + 19), LAYOUT_PCI_MMIO32_END - LAYOUT_PCI_MMIO32_BASE);
				}
			} else if (tag == 0x8A) {
				mem64++;
				uint64_t base = LAYOUT_PCI_MMIO64_BASE(fi->highmem);
				CHECK_EQ(rd64(d + 11), base);
				CHECK_EQ(rd64(d + 19), base + LAYOUT_PCI_MMIO64_SIZE - 1);
				CHECK(base >= LAYOUT_HIGHMEM_BASE + fi->highmem);
			}
			i += 3 + l;
		} else {                                /* small item */
			uint32_t l = tag & 7;
			if ((tag >> 3) == 0x08 && rd16(p + i + 2) == PORT_PCI_CONFIG_ADDR)
				cf8++;
			if ((tag >> 3) == 0x0F)
				end = 1;
			i += 1 + l;
		}
	}
	CHECK_EQ(i, len);
	CHECK(end);
	CHECK_EQ(bus, 1);
	CHECK_EQ(io, 2);
	CHECK_EQ(mem32, 1);
	CHECK_EQ(mem64, 1);
	CHECK_EQ(cf8, 1);
}

static void check_dsdt(const uint8_t *d, const struct fw_info *fi, int ncom)
{
	CHECK_EQ(d[8], 2);                              /* 64-bit integers */
	struct aml_rd r;
	memset(&r, 0, sizeof(r));
	r.p = d + 36;
	r.end = d + rd32(d + 4);
	rd_termlist(&r, r.end);
	CHECK_EQ(r.bad, 0);
	CHECK(r.p == d + rd32(d + 4));
	CHECK_EQ(r.s5_typ[0], ACPI_SLP_TYP_S5);
	CHECK_EQ(r.s5_typ[1], ACPI_SLP_TYP_S5);
	CHECK_EQ(r.prt_count, 128);
	CHECK_EQ(r.prt_wrong, 0);
	CHECK_EQ(r.com_seen, ncom);
	CHECK(r.devices >= 7);                          /* PC00 ISA PIC TIMR RTC HPET MRES */
	CHECK(r.pc00_crs != NULL);
	if (r.pc00_crs)
		check_crs(r.pc00_crs, r.pc00_crs_len, fi);
}

/* ---------------- table checks ---------------- */

static const uint8_t *find_rsdp(void)
{
	for (size_t off = 0; off + 36 <= sizeof(area); off += 16)
		if (memcmp(area + off, "RSD PTR ", 8) == 0)
			return area + off;
	return NULL;
}

static void check_fadt(const uint8_t *f, uint64_t *dsdt_out)
{
	CHECK_EQ(rd32(f + 4), ACPI_FADT_LEN);
	CHECK_EQ(f[8], 6);
	CHECK_EQ(rd16(f + 46), IRQ_SCI);
	CHECK_EQ(rd32(f + 48), PORT_SMI_CMD);
	CHECK_EQ(f[52], ACPI_ENABLE_VALUE);
	CHECK_EQ(f[53], ACPI_DISABLE_VALUE);
	CHECK_EQ(rd32(f + 56), PORT_PM1A_EVT);
	CHECK_EQ(rd32(f + 64), PORT_PM1A_CNT);
	CHECK_EQ(rd32(f + 76), PORT_PM_TMR);
	CHECK_EQ(f[88], 4);
	CHECK_EQ(f[89], 2);
	CHECK_EQ(f[91], 4);
	uint32_t flags = rd32(f + 112);
	CHECK(flags & ACPI_FADT_F_RESET_REG_SUP);
	CHECK(!(flags & ACPI_FADT_F_PWR_BUTTON));      /* fixed-feature power button */
	CHECK_EQ(f[116], 1);                            /* reset register: system I/O */
	CHECK_EQ(f[117], 8);
	CHECK_EQ(rd64(f + 120), PORT_RESET_CF9);
	CHECK_EQ(f[128], 0x06);
	CHECK(rd16(f + 109) & 0x2);                    /* an 8042 (atkbdc.c) */
	/* 32- and 64-bit pointers agree. */
	CHECK_EQ(rd32(f + 36), rd64(f + 132));
	CHECK_EQ(rd32(f + 40), rd64(f + 140));
	CHECK_EQ(rd64(f + 148 + 4), PORT_PM1A_EVT);
	CHECK_EQ(f[148 + 1], 32);
	CHECK_EQ(rd64(f + 172 + 4), PORT_PM1A_CNT);
	CHECK_EQ(f[172 + 1], 16);
	CHECK_EQ(rd64(f + 208 + 4), PORT_PM_TMR);
	const uint8_t *facs = at(rd64(f + 132), 64);
	CHECK(facs != NULL);
	if (facs) {
		CHECK(memcmp(facs, "FACS", 4) == 0);
		CHECK_EQ(rd32(facs + 4), 64);
		CHECK_EQ(rd64(f + 132) & 63, 0);
	}
	*dsdt_out = rd64(f + 140);
}

static void check_madt(const uint8_t *m, const struct fw_info *fi)
{
	CHECK_EQ(rd32(m + 36), LAYOUT_LAPIC_BASE);
	CHECK_EQ(rd32(m + 40) & 1, 1);
	int lapics = 0, ioapics = 0, nmis = 0, iso0 = 0, iso9 = 0;
	uint32_t len = rd32(m + 4);
	uint32_t i = 44;
	while (i + 2 <= len) {
		const uint8_t *e = m + i;
		CHECK(e[1] >= 2);
		if (e[1] < 2)
			break;
		switch (e[0]) {
		case 0:
			CHECK_EQ(e[1], 8);
			CHECK_EQ(e[3], fi->apic_id[lapics]);
			CHECK_EQ(e[2], lapics);
			CHECK_EQ(rd32(e + 4), 1);
			lapics++;
			break;
		case 1:
			ioapics++;
			CHECK_EQ(rd32(e + 4), LAYOUT_IOAPIC_BASE);
			CHECK_EQ(rd32(e + 8), 0);
			break;
		case 2:
			if (e[3] == 0 && rd32(e + 4) == 2 && rd16(e + 8) == 0)
				iso0++;
			if (e[3] == 9 && rd32(e + 4) == 9 && rd16(e + 8) == 0x000D)
				iso9++;
			break;
		case 4:
			if (e[2] == 0xFF && e[5] == 1)
				nmis++;
			break;
		}
		i += e[1];
	}
	CHECK_EQ(i, len);
	CHECK_EQ(lapics, fi->ncpu);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(iso0, 1);
	CHECK_EQ(iso9, 1);
	CHECK_EQ(nmis, 1);
}

static void check_all(int ncpu, uint64_t highmem, unsigned com_mask)
{
	char err[256] = "";
	struct fw_info fi;
	CHECK_EQ(fw_info_init_mem(&fi, GPA_MiB(512), highmem, ncpu, err, sizeof(err)), 0);
	fi.com_mask = com_mask;
	memset(area, 0xAA, sizeof(area));
	long used = acpi_build_tables(&fi, area, LAYOUT_ACPI_BASE, sizeof(area));
	CHECK(used > 0 && used <= (long)sizeof(area));

	const uint8_t *rsdp = find_rsdp();
	CHECK(rsdp == area);                            /* first thing at 0xE0000 */
	if (!rsdp)
		return;
	CHECK_EQ(sum(rsdp, 20), 0);
	CHECK_EQ(sum(rsdp, 36), 0);
	CHECK_EQ(rsdp[15], 2);
	CHECK_EQ(rd32(rsdp + 20), 36);

	const uint8_t *x = table(rd64(rsdp + 24), "XSDT");
	const uint8_t *r = table(rd32(rsdp + 16), "RSDT");
	if (!x || !r)
		return;
	int n = (int)(rd32(x + 4) - 36) / 8;
	CHECK_EQ(n, 4);
	CHECK_EQ((rd32(r + 4) - 36) / 4, (uint32_t)n);
	const char *want[4] = { "FACP", "APIC", "HPET", "MCFG" };
	const char *dir = getenv("BHYVE_ACPI_DUMP");
	uint64_t dsdt = 0;
	for (int i = 0; i < n && i < 4; i++) {
		uint64_t a = rd64(x + 36 + 8 * i);
		CHECK_EQ(rd32(r + 36 + 4 * i), a);
		const uint8_t *t = table(a, want[i]);
		if (!t)
			continue;
		if (i == 0)
			check_fadt(t, &dsdt);
		if (i == 1)
			check_madt(t, &fi);
		if (i == 2) {
			CHECK_EQ(rd64(t + 44), LAYOUT_HPET_BASE);
			CHECK_EQ(rd32(t + 36) >> 16, 0x8086);
		}
		if (i == 3) {
			CHECK_EQ(rd32(t + 4), 60);
			CHECK_EQ(rd64(t + 44), LAYOUT_PCI_ECAM_BASE);
			CHECK_EQ(t[54], 0);
			CHECK_EQ(t[55], 255);
		}
		if (dir)
			dump(dir, t);
	}
	const uint8_t *d = table(dsdt, "DSDT");
	if (d) {
		int ncom = __builtin_popcount(com_mask);
		check_dsdt(d, &fi, ncom);
		if (dir)
			dump(dir, d);
	}
}

static void test_tables(void)
{
	config_reset();
	check_all(1, 0, 0x1);
	check_all(4, GPA_GiB(2), 0x3);
	check_all(16, GPA_GiB(40), 0xF);
}

static void test_too_small(void)
{
	struct fw_info fi;
	char err[256];
	CHECK_EQ(fw_info_init_mem(&fi, GPA_MiB(256), 0, 2, err, sizeof(err)), 0);
	CHECK(acpi_build_tables(&fi, area, LAYOUT_ACPI_BASE, 512) < 0);
	CHECK(acpi_build_tables(&fi, area, LAYOUT_ACPI_BASE + 4, sizeof(area) - 16) < 0);
	CHECK(fw_info_init_mem(&fi, GPA_MiB(256), 0, 0, err, sizeof(err)) < 0);
	CHECK(fw_info_init_mem(&fi, GPA_MiB(256), 0, VM_MAXCPU + 1, err, sizeof(err)) < 0);
}

/* The AML writer's encodings against hand-assembled bytes. */
static void test_aml(void)
{
	uint8_t b[8192];
	struct aml a;
	CHECK_EQ(aml_eisaid_value("PNP0A03"), 0x030AD041);
	CHECK_EQ(aml_eisaid_value("PNP0A3"), 0);
	CHECK_EQ(aml_eisaid_value("pnp0A03"), 0);

	aml_init(&a, b, sizeof(b));
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 0x12);
	aml_integer(&a, 0x1234);
	aml_integer(&a, 0x12345678);
	aml_integer(&a, 0x100000000ULL);
	const uint8_t ints[] = { 0x00, 0x01, 0x0A, 0x12, 0x0B, 0x34, 0x12, 0x0C, 0x78, 0x56, 0x34,
				 0x12, 0x0E, 0, 0, 0, 0, 1, 0, 0, 0 };
	CHECK_EQ(a.len, sizeof(ints));
	CHECK(memcmp(b, ints, sizeof(ints)) == 0);

	aml_init(&a, b, sizeof(b));
	aml_namestring(&a, "\\_SB.PC00");
	aml_namestring(&a, "^A.B.C");
	aml_namestring(&a, "S5");
	const uint8_t names[] = { 0x5C, 0x2E, '_', 'S', 'B', '_', 'P', 'C', '0', '0',
				  0x5E, 0x2F, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_',
				  'S', '5', '_', '_' };
	CHECK_EQ(a.len, sizeof(names));
	CHECK(memcmp(b, names, sizeof(names)) == 0);
	CHECK(!aml_error(&a));
	aml_namestring(&a, "1BAD");
	CHECK(aml_error(&a));

	/* Name(_S5, Package(2){5, 5}) -> 08 5F53355F 12 06 02 0A05 0A05 */
	aml_init(&a, b, sizeof(b));
	aml_name(&a, "_S5");
	aml_package_begin(&a, 2);
	aml_integer(&a, 5);
	aml_integer(&a, 5);
	aml_end(&a);
	const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x0A, 5, 0x0A, 5 };
	CHECK(!aml_error(&a));
	CHECK_EQ(a.len, sizeof(s5));
	CHECK(memcmp(b, s5, sizeof(s5)) == 0);

	/* A package longer than 63 bytes takes a 2-byte PkgLength. */
	aml_init(&a, b, sizeof(b));
	aml_package_begin(&a, 100);
	for (int i = 0; i < 100; i++)
		aml_integer(&a, 0);
	aml_end(&a);
	/* body = NumElements + 100 zero bytes = 101, total with 2-byte PkgLength = 103 */
	CHECK_EQ(a.len, 1 + 103);
	CHECK_EQ(b[1], 0x40 | (103 & 0xF));
	CHECK_EQ(b[2], 103 >> 4);

	/* Buffer(){IO(0x70,2), End}: 11 0D 0A 0A 47 01 70 00 70 00 01 02 79 00 */
	aml_init(&a, b, sizeof(b));
	aml_restemplate_begin(&a);
	aml_res_io(&a, 0x70, 2);
	aml_restemplate_end(&a);
	const uint8_t rt[] = { 0x11, 0x0D, 0x0A, 0x0A, 0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01,
			       0x02, 0x79, 0x00 };
	CHECK(!aml_error(&a));
	CHECK_EQ(a.len, sizeof(rt));
	CHECK(memcmp(b, rt, sizeof(rt)) == 0);

	/* Unbalanced and overflowing writers report errors. */
	aml_init(&a, b, sizeof(b));
	aml_device_begin(&a, "DEV");
	CHECK(aml_error(&a));
	aml_end(&a);
	CHECK(!aml_error(&a));
	aml_end(&a);
	CHECK(aml_error(&a));
	aml_init(&a, b, 4);
	aml_string(&a, "too long");
	CHECK(aml_error(&a));
}

static void write_blob(const char *spec)
{
	char path[512];
	snprintf(path, sizeof(path), "%s", spec);
	char *at = strrchr(path, '@');
	CHECK(at != NULL);
	if (!at)
		return;
	*at = 0;
	uint64_t gpa = strtoull(at + 1, NULL, 0);
	char err[256];
	struct fw_info fi;
	config_reset();
	config_set("pci.0.31.0.device", "lpc");
	CHECK_EQ(fw_info_init_mem(&fi, GPA_MiB(256), 0, 2, err, sizeof(err)), 0);
	fi.com_mask = 1;
	long n = acpi_build_tables(&fi, area, gpa, sizeof(area));
	CHECK(n > 0);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f && n > 0) {
		CHECK_EQ(fwrite(area, 1, (size_t)n, f), (size_t)n);
		fclose(f);
	}
}

int main(void)
{
	if (getenv("BHYVE_ACPI_BLOB"))
		write_blob(getenv("BHYVE_ACPI_BLOB"));
	test_aml();
	test_tables();
	test_too_small();
	return unit_report("acpi");
}
