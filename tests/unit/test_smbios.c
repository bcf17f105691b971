/*
 * SMBIOS: entry point checksums and fields, every structure walked (formatted area + string
 * set), counts and lengths matching the entry point, type 1's UUID in SMBIOS byte order, one
 * type 4 per socket, memory ranges; the UUID parser and the default name-based UUID.
 *
 * With BHYVE_SMBIOS_DUMP=FILE set, the tables are also written in dmidecode's --dump-bin
 * layout (entry point at 0, table at 32) for tests/test_smbios_dmidecode.py.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "platform/firmware.h"
#include "platform/smbios.h"
#include "vmm/layout.h"
#include "unit.h"

static uint8_t area[LAYOUT_BIOS_AREA_END - LAYOUT_SMBIOS_BASE];

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

/* String number n (1-based) of the structure at s, or NULL. */
static const char *sm_string(const uint8_t *s, int n)
{
	const char *p = (const char *)s + s[1];
	if (n == 0)
		return NULL;
	for (int i = 1; *p; i++) {
		if (i == n)
			return p;
		p += strlen(p) + 1;
	}
	return NULL;
}

struct sm_seen {
	int count[128];
	const uint8_t *first[128];
	uint64_t mapped;
	uint16_t maxlen;
};

static size_t walk(const uint8_t *t, size_t len, int n, struct sm_seen *s)
{
	size_t off = 0;
	uint16_t handles[64];
	for (int i = 0; i < n; i++) {
		CHECK(off + 4 <= len);
		if (off + 4 > len)
			return off;
		const uint8_t *st = t + off;
		CHECK(st[1] >= 4);
		handles[i < 64 ? i : 63] = (uint16_t)rd16(st + 2);
		for (int j = 0; j < i && j < 64; j++)
			CHECK(handles[j] != rd16(st + 2));
		/* Find the double NUL that ends the string set. */
		size_t p = off + st[1];
		while (p + 1 < len && !(t[p] == 0 && t[p + 1] == 0))
			p++;
		CHECK(p + 1 < len);
		size_t end = p + 2;
		if (end - off > s->maxlen)
			s->maxlen = (uint16_t)(end - off);
		if (st[0] < 128) {
			if (!s->first[st[0]])
				s->first[st[0]] = st;
			s->count[st[0]]++;
		}
		if (st[0] == 19) {
			uint64_t a = (uint64_t)rd32(st + 4) << 10, b = ((uint64_t)rd32(st + 8) << 10) | 0x3FF;
			if (rd32(st + 4) == 0xFFFFFFFF) {
				a = rd64(st + 15);
				b = rd64(st + 23);
			}
			s->mapped += b - a + 1;
		}
		off = end;
		if (st[0] == 127)
			CHECK_EQ(i, n - 1);
	}
	return off;
}

static void check(int ncpu, int sockets, uint64_t lowmem, uint64_t highmem, const char *uuid)
{
	char err[256], buf[16];
	struct fw_info fi;
	config_reset();
	snprintf(buf, sizeof(buf), "%d", sockets);
	config_set("sockets", buf);
	config_set("name", "vm0");
	if (uuid)
		config_set("uuid", uuid);
	config_set("system.product_name", "TestBox");
	CHECK_EQ(fw_info_init_mem(&fi, lowmem, highmem, ncpu, err, sizeof(err)), 0);
	CHECK_EQ(fi.sockets, sockets);
	long used = smbios_build_table(&fi, area, LAYOUT_SMBIOS_BASE, sizeof(area));
	CHECK(used > SMBIOS_TABLE_OFF && used <= (long)sizeof(area));

	const uint8_t *ep = area;
	CHECK(memcmp(ep, "_SM_", 4) == 0);
	CHECK_EQ(ep[5], 0x1F);
	CHECK_EQ(sum(ep, ep[5]), 0);
	CHECK(memcmp(ep + 16, "_DMI_", 5) == 0);
	CHECK_EQ(sum(ep + 16, 15), 0);
	CHECK_EQ(ep[6], 2);
	uint32_t tlen = rd16(ep + 22), taddr = rd32(ep + 24);
	CHECK_EQ(taddr, LAYOUT_SMBIOS_BASE + SMBIOS_TABLE_OFF);
	CHECK_EQ(taddr + tlen, LAYOUT_SMBIOS_BASE + (uint64_t)used);

	struct sm_seen s;
	memset(&s, 0, sizeof(s));
	size_t walked = walk(area + SMBIOS_TABLE_OFF, tlen, (int)rd16(ep + 28), &s);
	CHECK_EQ(walked, tlen);
	CHECK_EQ(s.maxlen, rd16(ep + 8));
	int want[] = { 0, 1, 3, 16, 17, 32, 127 };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK_EQ(s.count[want[i]], 1);
	CHECK_EQ(s.count[4], sockets);
	CHECK_EQ(s.count[19], (lowmem ? 1 : 0) + (highmem ? 1 : 0));
	CHECK_EQ(s.mapped, lowmem + highmem);

	const uint8_t *t0 = s.first[0], *t1 = s.first[1], *t17 = s.first[17];
	if (t0) {
		CHECK_STR(sm_string(t0, t0[4]), "BHYVE");
		CHECK(t0[19] & 0x10);                   /* virtual machine */
	}
	if (t1) {
		CHECK_STR(sm_string(t1, t1[5]), "TestBox");
		CHECK_STR(sm_string(t1, t1[4]), "FreeBSD");
		/* SMBIOS byte order: first three fields little-endian. */
		static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
		for (int i = 0; i < 16; i++)
			CHECK_EQ(t1[8 + i], fi.uuid[order[i]]);
		if (uuid) {
			CHECK_EQ(t1[8], 0x78);              /* 12345678-... */
			CHECK_EQ(t1[11], 0x12);
		}
	}
	if (t17) {
		uint64_t mib = (lowmem + highmem) >> 20;
		if (mib < 0x7FFF)
			CHECK_EQ(rd16(t17 + 12), mib);
		else
			CHECK_EQ(rd32(t17 + 28), mib);
	}
	for (const uint8_t *p = s.first[4]; p && p[0] == 4; p = NULL) {
		CHECK_EQ(p[35], fi.cores);
		CHECK_EQ(p[37], fi.cores * fi.threads);
	}

	const char *dump = getenv("BHYVE_SMBIOS_DUMP");
	if (dump && ncpu == 4) {
		uint8_t copy[0x20];
		memcpy(copy, ep, sizeof(copy));
		copy[24] = 0x20;                         /* table at file offset 32 */
		copy[25] = copy[26] = copy[27] = 0;
		copy[21] = 0;
		copy[21] = (uint8_t)-sum(copy + 16, 15);
		copy[4] = 0;
		copy[4] = (uint8_t)-sum(copy, 0x1F);
		FILE *f = fopen(dump, "wb");
		CHECK(f != NULL);
		if (f) {
			fwrite(copy, 1, 0x20, f);
			fwrite(area + SMBIOS_TABLE_OFF, 1, tlen, f);
			fclose(f);
		}
	}
}

static void test_uuid(void)
{
	uint8_t u[16], v[16];
	CHECK_EQ(fw_parse_uuid("12345678-9abc-DEF0-1234-56789abcdef0", u), 0);
	CHECK_EQ(u[0], 0x12);
	CHECK_EQ(u[6], 0xDE);
	CHECK_EQ(u[15], 0xF0);
	CHECK(fw_parse_uuid("12345678-9abc-def0-1234-56789abcdef", u) < 0);
	CHECK(fw_parse_uuid("12345678x9abc-def0-1234-56789abcdef0", u) < 0);
	CHECK(fw_parse_uuid("12345678-9abc-def0-1234-56789abcdeg0", u) < 0);
	CHECK(fw_parse_uuid("", u) < 0);
	fw_default_uuid("host", "vm0", u);
	fw_default_uuid("host", "vm0", v);
	CHECK(memcmp(u, v, 16) == 0);
	CHECK_EQ(u[6] >> 4, 3);                          /* version 3 */
	CHECK_EQ(u[8] >> 6, 2);                          /* RFC 4122 variant */
	fw_default_uuid("host", "vm1", v);
	CHECK(memcmp(u, v, 16) != 0);

	char err[256] = "";
	struct fw_info fi;
	config_reset();
	config_set("uuid", "not-a-uuid");
	CHECK(fw_info_init_mem(&fi, GPA_MiB(256), 0, 1, err, sizeof(err)) < 0);
	CHECK(strstr(err, "uuid") != NULL);
}

static void test_small(void)
{
	char err[256];
	struct fw_info fi;
	config_reset();
	CHECK_EQ(fw_info_init_mem(&fi, GPA_MiB(256), 0, 1, err, sizeof(err)), 0);
	CHECK(smbios_build_table(&fi, area, LAYOUT_SMBIOS_BASE, 64) < 0);
	CHECK(smbios_build_table(&fi, area, LAYOUT_SMBIOS_BASE + 1, 2048) < 0);
}

int main(void)
{
	test_uuid();
	check(1, 1, GPA_MiB(256), 0, NULL);
	check(4, 2, GPA_GiB(3), GPA_GiB(1), "12345678-9abc-def0-1234-56789abcdef0");
	check(16, 4, GPA_GiB(3), GPA_GiB(61), NULL);
	test_small();
	return unit_report("smbios");
}
