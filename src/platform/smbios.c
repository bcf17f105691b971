/*
 * SMBIOS 2.8 (DMTF DSP0134): the 32-bit entry point ("_SM_" ... "_DMI_", on a 16-byte
 * boundary in 0xF0000-0xFFFFF) followed by the structure table: BIOS (type 0), system (1) with
 * the VM's UUID, chassis (3), one processor per socket (4), the memory array (16), one memory
 * device (17), memory mapped addresses for low and high RAM (19), boot information (32) and the
 * end marker (127).  Each structure is its formatted area followed by its strings, the set
 * ended by an extra NUL.
 *
 * Strings default to bhyve's; config keys bios.vendor, bios.version, bios.release_date,
 * system.manufacturer, system.product_name, system.version, system.serial_number, system.sku,
 * system.family_name, chassis.manufacturer, chassis.version, chassis.serial_number,
 * chassis.asset_tag override them.  UUID: config `uuid`, else fw_default_uuid(host, name).
 */
#include <stdio.h>
#include <string.h>

#include "common/bytes.h"
#include "common/config.h"
#include "platform/firmware.h"
#include "platform/smbios.h"
#include "vmm/layout.h"

struct sm_ctx {
	uint8_t *buf;
	size_t size, off;
	uint16_t handle, count, maxlen;
	bool overflow;
	/* The structure being written: its start and the strings added so far. */
	size_t cur;
	int nstr;
};


/* Start a structure with a `len`-byte formatted area; returns it (zeroed) or NULL. */
static uint8_t *sm_begin(struct sm_ctx *c, uint8_t type, uint8_t len)
{
	if (c->overflow || (size_t)len + 2 > c->size - c->off) {
		c->overflow = true;
		return NULL;
	}
	uint8_t *p = c->buf + c->off;
	memset(p, 0, len);
	p[0] = type;
	p[1] = len;
	le16enc(p + 2, c->handle++);
	c->cur = c->off;
	c->off += len;
	c->nstr = 0;
	return p;
}

/* Append a string to the current structure: its number (1-based), or 0 for none. */
static uint8_t sm_str(struct sm_ctx *c, const char *s)
{
	if (!s || !*s || c->overflow)
		return 0;
	size_t n = strlen(s) + 1;
	if (n + 2 > c->size - c->off) {
		c->overflow = true;
		return 0;
	}
	memcpy(c->buf + c->off, s, n);
	c->off += n;
	return (uint8_t)++c->nstr;
}

static void sm_end(struct sm_ctx *c)
{
	if (c->overflow)
		return;
	/* Strings end with a second NUL; with no strings the area is followed by two NULs. */
	size_t need = c->nstr ? 1 : 2;
	if (need > c->size - c->off) {
		c->overflow = true;
		return;
	}
	memset(c->buf + c->off, 0, need);
	c->off += need;
	size_t len = c->off - c->cur;
	if (len > c->maxlen)
		c->maxlen = (uint16_t)len;
	c->count++;
}

static const char *sm_cfg(const char *key, const char *dflt)
{
	const char *v = config_get(key);
	return v ? v : dflt;
}

static void sm_bios(struct sm_ctx *c)
{
	uint8_t *p = sm_begin(c, 0, 0x18);
	if (!p)
		return;
	p[4] = sm_str(c, sm_cfg("bios.vendor", "BHYVE"));
	p[5] = sm_str(c, sm_cfg("bios.version", "14.0"));
	le16enc(p + 6, 0xF000);                /* starting segment */
	p[8] = sm_str(c, sm_cfg("bios.release_date", "10/17/2021"));
	p[9] = 0;                               /* ROM size: 64 KiB */
	le64enc(p + 10, 1u << 7);              /* characteristics: PCI supported */
	p[18] = 0x01;                           /* ext 1: ACPI */
	p[19] = 0x10;                           /* ext 2: this is a virtual machine */
	p[20] = 14;                             /* BIOS release 14.0 */
	p[21] = 0;
	p[22] = 0xFF;                           /* no embedded controller */
	p[23] = 0xFF;
	sm_end(c);
}

/* SMBIOS 2.6+ stores the UUID's first three fields little-endian. */
static void sm_uuid(uint8_t *p, const uint8_t u[16])
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	for (int i = 0; i < 16; i++)
		p[i] = u[order[i]];
}

static void sm_system(struct sm_ctx *c, const struct fw_info *fi)
{
	uint8_t *p = sm_begin(c, 1, 0x1B);
	if (!p)
		return;
	p[4] = sm_str(c, sm_cfg("system.manufacturer", "FreeBSD"));
	p[5] = sm_str(c, sm_cfg("system.product_name", "BHYVE"));
	p[6] = sm_str(c, sm_cfg("system.version", "1.0"));
	p[7] = sm_str(c, sm_cfg("system.serial_number", "None"));
	sm_uuid(p + 8, fi->uuid);
	p[24] = 0x06;                           /* wake-up: power switch */
	p[25] = sm_str(c, sm_cfg("system.sku", "None"));
	p[26] = sm_str(c, sm_cfg("system.family_name", "Virtual Machine"));
	sm_end(c);
}

static void sm_chassis(struct sm_ctx *c)
{
	uint8_t *p = sm_begin(c, 3, 0x16);
	if (!p)
		return;
	p[4] = sm_str(c, sm_cfg("chassis.manufacturer", "FreeBSD"));
	p[5] = 0x01;                            /* type: other */
	p[6] = sm_str(c, sm_cfg("chassis.version", "1.0"));
	p[7] = sm_str(c, sm_cfg("chassis.serial_number", "None"));
	p[8] = sm_str(c, sm_cfg("chassis.asset_tag", "None"));
	p[9] = p[10] = p[11] = 0x03;            /* boot-up, power supply, thermal: safe */
	p[12] = 0x03;                           /* security: none */
	sm_end(c);
}

static void sm_processor(struct sm_ctx *c, const struct fw_info *fi, int socket)
{
	uint8_t *p = sm_begin(c, 4, 0x2A);
	if (!p)
		return;
	char name[32];
	snprintf(name, sizeof(name), "CPU #%d", socket);
	int per_socket = fi->cores * fi->threads;
	p[4] = sm_str(c, name);
	p[5] = 0x03;                            /* central processor */
	p[6] = 0xFE;                            /* family: see family 2 */
	p[7] = sm_str(c, "BHYVE");
	p[16] = sm_str(c, "BHYVE");             /* version */
	p[17] = 0;                              /* voltage: unknown */
	le16enc(p + 22, 0);                    /* current speed: unknown */
	p[24] = 0x41;                           /* socket populated, CPU enabled */
	p[25] = 0x01;                           /* upgrade: other */
	le16enc(p + 26, 0xFFFF);               /* no cache information */
	le16enc(p + 28, 0xFFFF);
	le16enc(p + 30, 0xFFFF);
	p[35] = (uint8_t)(fi->cores > 255 ? 255 : fi->cores);
	p[36] = p[35];
	p[37] = (uint8_t)(per_socket > 255 ? 255 : per_socket);
	le16enc(p + 38, 0x0004);               /* characteristics: 64-bit capable */
	le16enc(p + 40, 0x0001);               /* family 2: other */
	sm_end(c);
}

static void sm_memory(struct sm_ctx *c, const struct fw_info *fi, uint16_t *array)
{
	uint64_t total = fi->lowmem + fi->highmem;
	uint64_t kib = total >> 10;
	uint8_t *p = sm_begin(c, 16, 0x17);
	if (!p)
		return;
	*array = (uint16_t)(c->handle - 1);
	p[4] = 0x03;                            /* location: system board */
	p[5] = 0x03;                            /* use: system memory */
	p[6] = 0x03;                            /* error correction: none */
	le32enc(p + 7, kib < 0x80000000ULL ? (uint32_t)kib : 0x80000000u);
	le16enc(p + 11, 0xFFFE);               /* no error information */
	le16enc(p + 13, 1);                    /* one device */
	le64enc(p + 15, total);                /* extended capacity, bytes */
	sm_end(c);

	uint64_t mib = total >> 20;
	p = sm_begin(c, 17, 0x28);
	if (!p)
		return;
	le16enc(p + 4, *array);
	le16enc(p + 6, 0xFFFE);
	le16enc(p + 8, 64);                    /* total width */
	le16enc(p + 10, 64);                   /* data width */
	le16enc(p + 12, mib < 0x7FFF ? (uint16_t)mib : 0x7FFF);
	p[14] = 0x09;                           /* form factor: DIMM */
	p[16] = sm_str(c, "DIMM 0");
	p[17] = sm_str(c, "Bank 0");
	p[18] = 0x07;                           /* type: RAM */
	le16enc(p + 19, 0x0002);               /* type detail: other */
	p[23] = sm_str(c, "FreeBSD");
	p[24] = sm_str(c, "None");
	p[25] = sm_str(c, "None");
	p[26] = sm_str(c, "None");
	le32enc(p + 28, mib < 0x7FFF ? 0 : (uint32_t)mib);   /* extended size, MiB */
	sm_end(c);
}

static void sm_mapped(struct sm_ctx *c, uint16_t array, uint64_t start, uint64_t len)
{
	uint8_t *p = sm_begin(c, 19, 0x1F);
	if (!p)
		return;
	uint64_t end = start + len - 1;
	bool ext = (end >> 10) >= 0xFFFFFFFFULL;
	le32enc(p + 4, ext ? 0xFFFFFFFFu : (uint32_t)(start >> 10));
	le32enc(p + 8, ext ? 0xFFFFFFFFu : (uint32_t)(end >> 10));
	le16enc(p + 12, array);
	p[14] = 1;                              /* partition width */
	if (ext) {
		le64enc(p + 15, start);
		le64enc(p + 23, end);
	}
	sm_end(c);
}

static void sm_structures(struct sm_ctx *c, const struct fw_info *fi)
{
	sm_bios(c);
	sm_system(c, fi);
	sm_chassis(c);
	for (int s = 0; s < fi->sockets; s++)
		sm_processor(c, fi, s);
	uint16_t array = 0;
	sm_memory(c, fi, &array);
	if (fi->lowmem)
		sm_mapped(c, array, 0, fi->lowmem);
	if (fi->highmem)
		sm_mapped(c, array, LAYOUT_HIGHMEM_BASE, fi->highmem);
	uint8_t *p = sm_begin(c, 32, 0x0B);     /* boot information: no errors */
	if (p)
		sm_end(c);
	if (sm_begin(c, 127, 4))
		sm_end(c);
}

long smbios_build_table(const struct fw_info *fi, uint8_t *buf, uint64_t gpa, size_t size)
{
	if ((gpa & 15) || size < SMBIOS_TABLE_OFF || gpa + size > 0x100000000ULL)
		return -1;
	memset(buf, 0, size);
	struct sm_ctx c = { .buf = buf, .size = size, .off = SMBIOS_TABLE_OFF };
	sm_structures(&c, fi);
	if (c.overflow || c.off - SMBIOS_TABLE_OFF > 0xFFFF)
		return -1;

	uint8_t *ep = buf;
	memcpy(ep, "_SM_", 4);
	ep[5] = SMBIOS_EP_LEN;
	ep[6] = 2;                              /* version 2.8 */
	ep[7] = 8;
	le16enc(ep + 8, c.maxlen);
	ep[10] = 0;                             /* entry point revision */
	memcpy(ep + 16, "_DMI_", 5);
	le16enc(ep + 22, (uint16_t)(c.off - SMBIOS_TABLE_OFF));
	le32enc(ep + 24, (uint32_t)(gpa + SMBIOS_TABLE_OFF));
	le16enc(ep + 28, c.count);
	ep[30] = 0x28;                          /* BCD revision 2.8 */
	ep[21] = fw_checksum(ep + 16, 15);      /* intermediate checksum: "_DMI_" .. end */
	ep[4] = fw_checksum(ep, SMBIOS_EP_LEN);
	return (long)c.off;
}
