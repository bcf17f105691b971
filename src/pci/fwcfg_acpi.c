/*
 * ACPI and SMBIOS for QEMU's firmware through fw_cfg.
 *
 * The ACPI builder runs with a base address of -FWCFG_ACPI_TABLES_OFF, so every pointer it
 * writes holds an offset inside etc/acpi/tables; the RSDP (built at offset 0) becomes
 * etc/acpi/rsdp.  The loader script (QEMU's BiosLinkerLoader format, 128-byte entries) has
 * the firmware allocate both (the RSDP in the F segment), add the tables' base to each pointer
 * (RSDP -> RSDT/XSDT, RSDT/XSDT -> their tables, FADT -> FACS/DSDT) and then compute each
 * checksum, whose bytes the blobs leave at 0.  OVMF then installs every table a pointer
 * leads to through its ACPI table protocol.
 */
#include "pci/fwcfg_acpi.h"

#include <stdlib.h>
#include <string.h>

#include "pci/fwcfg.h"
#include "pci/pci_devinst.h"
#include "platform/acpi.h"
#include "platform/smbios.h"
#include "vmm/layout.h"
#include "vmm/vmm.h"

#define LOADER_ALLOCATE     1
#define LOADER_ADD_POINTER  2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ZONE_HIGH    1
#define LOADER_ZONE_FSEG    2
#define LOADER_ENTRY        128
#define LOADER_NAME         56

#define F_RSDP   "etc/acpi/rsdp"
#define F_TABLES "etc/acpi/tables"

struct loader {
	uint8_t *p;
	uint32_t len;
	bool overflow;
};

static uint8_t *loader_entry(struct loader *l, uint32_t type)
{
	uint8_t *e;

	if (l->len + LOADER_ENTRY > FWCFG_ACPI_LOADER_MAX) {
		l->overflow = true;
		return NULL;
	}
	e = l->p + l->len;
	memset(e, 0, LOADER_ENTRY);
	memcpy(e, &type, 4);
	l->len += LOADER_ENTRY;
	return e;
}

static void loader_alloc(struct loader *l, const char *file, uint32_t align, uint8_t zone)
{
	uint8_t *e = loader_entry(l, LOADER_ALLOCATE);

	if (!e)
		return;
	memcpy(e + 4, file, strlen(file));
	memcpy(e + 4 + LOADER_NAME, &align, 4);
	e[8 + LOADER_NAME] = zone;
}

static void loader_pointer(struct loader *l, const char *dst, uint32_t off, uint8_t size)
{
	uint8_t *e = loader_entry(l, LOADER_ADD_POINTER);

	if (!e)
		return;
	memcpy(e + 4, dst, strlen(dst));
	memcpy(e + 4 + LOADER_NAME, F_TABLES, strlen(F_TABLES));
	memcpy(e + 4 + 2 * LOADER_NAME, &off, 4);
	e[8 + 2 * LOADER_NAME] = size;
}

static void loader_checksum(struct loader *l, const char *file, uint32_t result, uint32_t start,
			    uint32_t len)
{
	uint8_t *e = loader_entry(l, LOADER_ADD_CHECKSUM);

	if (!e)
		return;
	memcpy(e + 4, file, strlen(file));
	memcpy(e + 4 + LOADER_NAME, &result, 4);
	memcpy(e + 8 + LOADER_NAME, &start, 4);
	memcpy(e + 12 + LOADER_NAME, &len, 4);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Pointers, then checksums (a checksum covers the patched pointers). */
static void loader_script(struct loader *l, uint8_t *buf, const struct acpi_layout *lay)
{
	const long t0 = FWCFG_ACPI_TABLES_OFF;
	long sums[] = { lay->dsdt, lay->table[0], lay->table[1], lay->table[2], lay->table[3],
			lay->xsdt, lay->rsdt };

	loader_alloc(l, F_RSDP, 16, LOADER_ZONE_FSEG);
	loader_alloc(l, F_TABLES, 64, LOADER_ZONE_HIGH);
	loader_pointer(l, F_RSDP, 16, 4);
	loader_pointer(l, F_RSDP, 24, 8);
	for (int i = 0; i < lay->ntables; i++) {
		loader_pointer(l, F_TABLES, (uint32_t)(lay->rsdt - t0 + 36 + 4 * i), 4);
		loader_pointer(l, F_TABLES, (uint32_t)(lay->xsdt - t0 + 36 + 8 * i), 8);
	}
	loader_pointer(l, F_TABLES, (uint32_t)(lay->fadt - t0 + 36), 4);
	loader_pointer(l, F_TABLES, (uint32_t)(lay->fadt - t0 + 40), 4);
	loader_pointer(l, F_TABLES, (uint32_t)(lay->fadt - t0 + 132), 8);
	loader_pointer(l, F_TABLES, (uint32_t)(lay->fadt - t0 + 140), 8);
	for (size_t i = 0; i < sizeof(sums) / sizeof(sums[0]); i++) {
		uint8_t *t = buf + sums[i];
		t[9] = 0;
		loader_checksum(l, F_TABLES, (uint32_t)(sums[i] - t0 + 9), (uint32_t)(sums[i] - t0),
				rd32(t + 4));
	}
	buf[lay->rsdp + 8] = 0;
	buf[lay->rsdp + 32] = 0;
	loader_checksum(l, F_RSDP, 8, 0, 20);
	loader_checksum(l, F_RSDP, 32, 0, 36);
}

long fwcfg_acpi_build(const struct fw_info *fi, uint8_t *buf, size_t size, uint8_t *loader,
		      uint32_t *loader_len)
{
	struct acpi_layout lay;
	struct loader l = { loader, 0, false };
	long n = acpi_build_tables_lay(fi, buf, (uint64_t)0 - FWCFG_ACPI_TABLES_OFF, size, &lay);

	if (n < 0 || lay.rsdp != 0 || lay.facs != FWCFG_ACPI_TABLES_OFF)
		return -1;
	loader_script(&l, buf, &lay);
	if (l.overflow)
		return -1;
	*loader_len = l.len;
	return n;
}

/* The VM's description, with the ECAM window where the host bridge has it now. */
static int fwcfg_fw_info(struct fw_info *fi, struct vm *vm, char *err, size_t errlen)
{
	uint64_t ecam = pci_ecam_base(vm);

	if (fw_info_init(fi, vm, vm_ncpus(vm), err, errlen) < 0)
		return -1;
	if (ecam)
		fi->ecam_base = ecam;
	if (ecam < LAYOUT_PCI_MMIO32_BASE || ecam >= LAYOUT_PCI_MMIO32_END_Q35)
		fi->mmio32_end = LAYOUT_PCI_MMIO32_END_Q35;
	return 0;
}

void fwcfg_acpi_refresh(struct fwcfg_acpi *a, struct vm *vm)
{
	static uint8_t buf[LAYOUT_ACPI_SIZE], loader[FWCFG_ACPI_LOADER_MAX];
	struct fw_info fi;
	uint32_t llen, sz_r, sz_t;
	uint8_t *r = fwcfg_file_data(a->fc, a->k_rsdp, &sz_r);
	uint8_t *t = fwcfg_file_data(a->fc, a->k_tables, &sz_t);
	char err[128];

	/* callers hold the fw_cfg lock, which also guards the static buffers */
	if (!r || !t || fwcfg_fw_info(&fi, vm, err, sizeof(err)) < 0 ||
	    fwcfg_acpi_build(&fi, buf, sizeof(buf), loader, &llen) != a->total)
		return;
	memcpy(r, buf, sz_r);
	memcpy(t, buf + FWCFG_ACPI_TABLES_OFF, sz_t);
}

static int fwcfg_smbios_add(struct fwcfg *fc, const struct fw_info *fi)
{
	size_t size = LAYOUT_BIOS_AREA_END - LAYOUT_SMBIOS_BASE;
	uint8_t *buf = malloc(size);
	long n = buf ? smbios_build_table(fi, buf, 0, size) : -1;
	int rc = -1;

	if (n > SMBIOS_TABLE_OFF &&
	    fwcfg_add_file(fc, "etc/smbios/smbios-tables", buf + SMBIOS_TABLE_OFF,
			   (uint32_t)(n - SMBIOS_TABLE_OFF)) >= 0 &&
	    fwcfg_add_file(fc, "etc/smbios/smbios-anchor", buf, SMBIOS_EP_LEN) >= 0)
		rc = 0;
	free(buf);
	return rc;
}

int fwcfg_acpi_add(struct fwcfg *fc, struct fwcfg_acpi *a, struct vm *vm, char *err,
		   size_t errlen)
{
	uint8_t *buf = malloc(LAYOUT_ACPI_SIZE), *loader = malloc(FWCFG_ACPI_LOADER_MAX);
	struct fw_info fi;
	uint32_t llen;
	long n = -1;
	int rc = -1;

	a->fc = fc;
	if (!buf || !loader || fwcfg_fw_info(&fi, vm, err, errlen) < 0)
		goto out;
	n = fwcfg_acpi_build(&fi, buf, LAYOUT_ACPI_SIZE, loader, &llen);
	if (n < 0) {
		snprintf(err, errlen, "fw_cfg: the ACPI tables do not fit");
		goto out;
	}
	a->total = n;
	a->k_rsdp = fwcfg_add_file(fc, F_RSDP, buf, ACPI_RSDP_LEN);
	a->k_tables = fwcfg_add_file(fc, F_TABLES, buf + FWCFG_ACPI_TABLES_OFF,
				     (uint32_t)(n - FWCFG_ACPI_TABLES_OFF));
	if (a->k_rsdp < 0 || a->k_tables < 0 ||
	    fwcfg_add_file(fc, "etc/table-loader", loader, llen) < 0 ||
	    fwcfg_add_uuid(fc, fi.uuid) < 0 || fwcfg_smbios_add(fc, &fi) < 0) {
		snprintf(err, errlen, "fw_cfg: out of memory");
		goto out;
	}
	fwcfg_refresh_on_select(fc, a->k_rsdp);
	fwcfg_refresh_on_select(fc, a->k_tables);
	rc = 0;
out:
	free(buf);
	free(loader);
	return rc;
}
