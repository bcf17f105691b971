/*
 * What the firmware tables describe (struct fw_info) and the VM-start entry point that writes
 * them: ACPI (-A), MP table (unless -Y), SMBIOS.
 */
#include <errno.h>
#include <md5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "platform/firmware.h"
#include "vmm/layout.h"
#include "vmm/vmm.h"

uint8_t fw_checksum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

static int fw_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int fw_parse_uuid(const char *s, uint8_t out[16])
{
	/* 8-4-4-4-12 hex digits: dashes exactly at 8, 13, 18 and 23. */
	if (strlen(s) != 36)
		return -1;
	int n = 0;
	for (int i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -1;
			continue;
		}
		int hi = fw_hex(s[i]), lo = fw_hex(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

void fw_default_uuid(const char *hostname, const char *vmname, uint8_t out[16])
{
	MD5_CTX ctx;
	MD5Init(&ctx);
	MD5Update(&ctx, (const uint8_t *)hostname, strlen(hostname));
	MD5Update(&ctx, (const uint8_t *)":", 1);
	MD5Update(&ctx, (const uint8_t *)vmname, strlen(vmname));
	MD5Final(out, &ctx);
	out[6] = (uint8_t)((out[6] & 0x0F) | 0x30);   /* version 3: name-based, MD5 */
	out[8] = (uint8_t)((out[8] & 0x3F) | 0x80);   /* RFC 4122 variant */
}

static int fw_cfg_int(const char *key, int dflt)
{
	const char *v = config_get(key);
	if (!v || !*v)
		return dflt;
	char *end;
	long n = strtol(v, &end, 0);
	return (*end || n <= 0 || n > 4096) ? dflt : (int)n;
}

/* bus-0 slot of the device named `lpc`, from the pci.0.S.F nodes. */
static int fw_find_lpc(void)
{
	for (int slot = 0; slot < 32; slot++) {
		for (int fn = 0; fn < 8; fn++) {
			char key[64];
			snprintf(key, sizeof(key), "pci.0.%d.%d.device", slot, fn);
			const char *d = config_get(key);
			if (d && strcmp(d, "lpc") == 0)
				return slot;
		}
	}
	return -1;
}

static bool fw_has_device(const char *name)
{
	for (int slot = 0; slot < 32; slot++)
		for (int fn = 0; fn < 8; fn++) {
			char key[64];
			snprintf(key, sizeof(key), "pci.0.%d.%d.device", slot, fn);
			const char *d = config_get(key);
			if (d && strcmp(d, name) == 0)
				return true;
		}
	return false;
}

int fw_info_init_mem(struct fw_info *fi, uint64_t lowmem, uint64_t highmem, int ncpu,
		     char *err, size_t errlen)
{
	memset(fi, 0, sizeof(*fi));
	if (ncpu < 1 || ncpu > VM_MAXCPU) {
		snprintf(err, errlen, "firmware: invalid vCPU count %d", ncpu);
		return -1;
	}
	fi->ncpu = ncpu;
	for (int i = 0; i < ncpu; i++)
		fi->apic_id[i] = (uint32_t)i;
	fi->lowmem = lowmem;
	fi->highmem = highmem;
	fi->ecam_base = LAYOUT_PCI_ECAM_BASE;
	fi->mmio32_end = LAYOUT_PCI_MMIO32_END;
	fi->threads = fw_cfg_int("threads", 1);
	fi->cores = fw_cfg_int("cores", 1);
	fi->sockets = fw_cfg_int("sockets", 0);
	if (fi->sockets == 0)   /* not given: as many as the other two leave */
		fi->sockets = (ncpu + fi->threads * fi->cores - 1) / (fi->threads * fi->cores);
	if (fi->sockets * fi->cores * fi->threads != ncpu) {
		/* The command line checks the topology; here just keep the tables consistent. */
		if (ncpu % (fi->sockets * fi->threads) == 0) {
			fi->cores = ncpu / (fi->sockets * fi->threads);
		} else {
			fi->sockets = ncpu;
			fi->cores = fi->threads = 1;
		}
	}
	for (int n = 1; n <= 4; n++) {
		char key[32];
		snprintf(key, sizeof(key), "lpc.com%d.path", n);
		if (config_get(key))
			fi->com_mask |= 1u << (n - 1);
	}
	fi->lpc_slot = fw_find_lpc();
	fi->vga = fw_has_device("fbuf");
	const char *name = config_get("name");
	snprintf(fi->vm_name, sizeof(fi->vm_name), "%s", name ? name : "");
	const char *uuid = config_get("uuid");
	if (uuid) {
		if (fw_parse_uuid(uuid, fi->uuid) < 0) {
			snprintf(err, errlen, "invalid uuid '%s'", uuid);
			return -1;
		}
	} else {
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		fw_default_uuid(host, fi->vm_name, fi->uuid);
	}
	return 0;
}

int fw_info_init(struct fw_info *fi, struct vm *vm, int ncpu, char *err, size_t errlen)
{
	if (fw_info_init_mem(fi, vm_lowmem_size(vm), vm_highmem_size(vm), ncpu, err, errlen) < 0)
		return -1;
	if (!fi->vm_name[0])
		snprintf(fi->vm_name, sizeof(fi->vm_name), "%s", vm_name(vm));
	return 0;
}

/* Map [gpa, gpa+size) of guest RAM and run a builder on it. */
static int fw_write(struct vm *vm, int ncpu, const char *what, uint64_t gpa, size_t size,
		    long (*fn)(const struct fw_info *, uint8_t *, uint64_t, size_t),
		    char *err, size_t errlen)
{
	struct fw_info fi;
	if (fw_info_init(&fi, vm, ncpu, err, errlen) < 0)
		return -1;
	uint8_t *p = vm_map_gpa(vm, gpa, size);
	if (!p) {
		snprintf(err, errlen, "%s: guest memory at 0x%llx is not RAM", what,
			 (unsigned long long)gpa);
		return -1;
	}
	if (fn(&fi, p, gpa, size) < 0) {
		snprintf(err, errlen, "%s: tables do not fit in %zu bytes", what, size);
		return -1;
	}
	return 0;
}

int fw_acpi_build(struct vm *vm, int ncpu, char *err, size_t errlen)
{
	return fw_write(vm, ncpu, "ACPI", LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE, acpi_build_tables,
			err, errlen);
}

int fw_mptable_build(struct vm *vm, int ncpu, char *err, size_t errlen)
{
	return fw_write(vm, ncpu, "MP table", LAYOUT_MPTABLE_BASE,
			LAYOUT_SMBIOS_BASE - LAYOUT_MPTABLE_BASE, mptable_build_table, err, errlen);
}

int fw_smbios_build(struct vm *vm, int ncpu, char *err, size_t errlen)
{
	return fw_write(vm, ncpu, "SMBIOS", LAYOUT_SMBIOS_BASE,
			LAYOUT_BIOS_AREA_END - LAYOUT_SMBIOS_BASE, smbios_build_table, err, errlen);
}

int firmware_build(struct vm *vm, int ncpu, char *err, size_t errlen)
{
	if (config_get_bool("acpi_tables", false) && fw_acpi_build(vm, ncpu, err, errlen) < 0)
		return -1;
	if (config_get_bool("x86.mptable", true) && fw_mptable_build(vm, ncpu, err, errlen) < 0)
		return -1;
	return fw_smbios_build(vm, ncpu, err, errlen);
}
