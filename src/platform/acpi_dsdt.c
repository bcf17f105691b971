/*
 * The DSDT: \_S5 for soft-off, and \_SB.PC00, the PCI host bridge, with its resources
 * (bus range, the 0xCF8 config ports, the I/O and memory windows BARs are allocated from),
 * its interrupt routing table and the legacy devices behind the LPC bridge.  A motherboard
 * resources device reserves the ECAM window and the fixed ACPI ports, as Linux expects before
 * it trusts the MCFG.
 */
#include <stdio.h>
#include <string.h>

#include "platform/acpi.h"
#include "platform/acpi_aml.h"
#include "platform/firmware.h"
#include "vmm/layout.h"

static void dsdt_s5(struct aml *a)
{
	/* Package {SLP_TYPa, SLP_TYPb, reserved, reserved} */
	aml_name(a, "\\_S5");
	aml_package_begin(a, 4);
	aml_integer(a, ACPI_SLP_TYP_S5);
	aml_integer(a, ACPI_SLP_TYP_S5);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a);
}

static void dsdt_host_crs(struct aml *a, const struct fw_info *fi)
{
	uint64_t m64 = LAYOUT_PCI_MMIO64_BASE(fi->highmem);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	aml_res_word_bus(a, 0, 255);
	aml_res_io(a, PORT_PCI_CONFIG_ADDR, 8);
	aml_res_word_io(a, 0x0000, PORT_PCI_CONFIG_ADDR - 1);
	aml_res_word_io(a, 0x0D00, 0xFFFF);
	aml_res_dword_mem(a, (uint32_t)LAYOUT_VGA_BASE, 0xBFFFF);
	aml_res_dword_mem(a, (uint32_t)LAYOUT_PCI_MMIO32_BASE, (uint32_t)(fi->mmio32_end - 1));
	aml_res_qword_mem(a, m64, m64 + LAYOUT_PCI_MMIO64_SIZE - 1);
	aml_restemplate_end(a);
}

/* _PRT: for every slot and INTA-INTD, the IOAPIC input (a GSI; no link devices) that
 * PCI_INTX_IOAPIC_PIN gives, the rule the PCI bus uses to raise INTx. */
static void dsdt_prt(struct aml *a)
{
	aml_name(a, "_PRT");
	aml_package_begin(a, 32 * 4);
	for (int slot = 0; slot < 32; slot++) {
		for (int pin = 0; pin < 4; pin++) {
			aml_package_begin(a, 4);
			aml_integer(a, (uint64_t)slot << 16 | 0xFFFF);
			aml_integer(a, (uint64_t)pin);
			aml_integer(a, 0);       /* source: none, the index is a GSI */
			aml_integer(a, (uint64_t)PCI_INTX_IOAPIC_PIN(slot, pin + 1));
			aml_end(a);
		}
	}
	aml_end(a);
}

/* A legacy device: _HID, optional _UID, and _CRS with up to two port ranges and an IRQ. */
struct dsdt_legacy {
	const char *name, *hid;
	int uid;                      /* -1: none */
	uint16_t port[2];
	uint8_t len[2];
	int irq;                      /* -1: none */
};

static void dsdt_legacy_dev(struct aml *a, const struct dsdt_legacy *d)
{
	aml_device_begin(a, d->name);
	aml_name_eisaid(a, "_HID", d->hid);
	if (d->uid >= 0)
		aml_name_integer(a, "_UID", (uint64_t)d->uid);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	for (int i = 0; i < 2; i++)
		if (d->len[i])
			aml_res_io(a, d->port[i], d->len[i]);
	if (d->irq >= 0)
		aml_res_irq_noflags(a, d->irq);
	aml_restemplate_end(a);
	aml_end(a);
}

static void dsdt_isa(struct aml *a, const struct fw_info *fi)
{
	static const struct dsdt_legacy fixed[] = {
		{ "PIC", "PNP0000", -1, { PORT_PIC1, PORT_PIC2 }, { 2, 2 }, 2 },
		{ "TIMR", "PNP0100", -1, { PORT_PIT, 0 }, { 4, 0 }, IRQ_PIT },
		{ "RTC", "PNP0B00", -1, { PORT_RTC, 0 }, { 2, 0 }, IRQ_RTC },
		{ "KBD", "PNP0303", -1, { PORT_KBD_DATA, PORT_KBD_CMD }, { 1, 1 }, IRQ_KBD },
		{ "MOU", "PNP0F13", -1, { 0, 0 }, { 0, 0 }, IRQ_MOUSE },
	};
	static const struct { uint16_t port; int irq; } com[4] = {
		{ PORT_COM1, IRQ_COM1 }, { PORT_COM2, IRQ_COM2 }, { PORT_COM3, IRQ_COM1 },
		{ PORT_COM4, IRQ_COM2 },
	};
	aml_device_begin(a, "ISA");
	aml_name_integer(a, "_ADR", (uint64_t)(fi->lpc_slot >= 0 ? fi->lpc_slot : 31) << 16);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		dsdt_legacy_dev(a, &fixed[i]);
	for (int n = 0; n < 4; n++) {
		if (!(fi->com_mask & (1u << n)))
			continue;
		char name[5];
		snprintf(name, sizeof(name), "COM%d", n + 1);
		struct dsdt_legacy d = { name, "PNP0501", n + 1, { com[n].port, 0 }, { 8, 0 },
					 com[n].irq };
		dsdt_legacy_dev(a, &d);
	}
	aml_end(a);
}

static void dsdt_hpet(struct aml *a)
{
	aml_device_begin(a, "HPET");
	aml_name_eisaid(a, "_HID", "PNP0103");
	aml_name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	aml_res_mem32_fixed(a, (uint32_t)LAYOUT_HPET_BASE, 0x400, false);
	aml_restemplate_end(a);
	aml_end(a);
}

/* Motherboard resources: the ECAM window and the ports of the ACPI fixed hardware. */
static void dsdt_mres(struct aml *a, const struct fw_info *fi)
{
	aml_device_begin(a, "MRES");
	aml_name_eisaid(a, "_HID", "PNP0C02");
	aml_name_integer(a, "_UID", 1);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	aml_res_mem32_fixed(a, (uint32_t)fi->ecam_base, (uint32_t)LAYOUT_PCI_ECAM_SIZE, true);
	aml_res_io(a, PORT_PM1A_EVT, 0x10);
	aml_res_io(a, PORT_SMI_CMD, 1);
	aml_res_io(a, PORT_ELCR, 2);
	aml_restemplate_end(a);
	aml_end(a);
}

long acpi_dsdt_aml(const struct fw_info *fi, uint8_t *buf, size_t cap)
{
	struct aml a;
	aml_init(&a, buf, cap);
	dsdt_s5(&a);
	aml_scope_begin(&a, "\\_SB");
	aml_device_begin(&a, "PC00");
	aml_name_eisaid(&a, "_HID", "PNP0A08");
	aml_name_eisaid(&a, "_CID", "PNP0A03");
	aml_name_integer(&a, "_UID", 0);
	aml_name_integer(&a, "_BBN", 0);
	dsdt_host_crs(&a, fi);
	dsdt_prt(&a);
	dsdt_isa(&a, fi);
	dsdt_hpet(&a);
	aml_end(&a);                /* PC00 */
	dsdt_mres(&a, fi);
	aml_end(&a);                /* \_SB */
	return aml_error(&a) ? -1 : (long)a.len;
}

long acpi_dsdt(struct acpi_ctx *c, const struct fw_info *fi)
{
	size_t off = (c->off + 15) & ~(size_t)15;
	if (off + 36 > c->size)
		return -1;
	long n = acpi_dsdt_aml(fi, c->buf + off + 36, c->size - off - 36);
	if (n < 0)
		return -1;
	/* Revision 2: integers in this block's AML are 64 bits wide. */
	acpi_header(c->buf + off, "DSDT", (uint32_t)(36 + n), 2);
	acpi_finish(c->buf + off);
	c->off = off + 36 + (size_t)n;
	return (long)off;
}
