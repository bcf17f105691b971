/*
 * MP table: built into a buffer standing for LAYOUT_MPTABLE_BASE, found by the floating
 * pointer scan an OS does, checksums verified, every entry decoded and checked against the
 * vCPU count and the interrupt routing rules.
 */
#include <stdint.h>
#include <string.h>

#include "common/config.h"
#include "platform/firmware.h"
#include "platform/mptable.h"
#include "vmm/layout.h"
#include "plat_test.h"
#include "unit.h"

static uint8_t area[4096];

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

struct mp_seen {
	int cpus, bsps, buses_pci, buses_isa, ioapics, isa_ok, isa_entries, pci_ok, pci_entries;
	int extint_lint0, nmi_lint1;
	uint32_t apic_ids[VM_MAXCPU];
};

static void check_ioint(const uint8_t *e, struct mp_seen *s)
{
	CHECK_EQ(e[1], MP_INT_INT);
	CHECK_EQ(e[6], MP_IOAPIC_ID);
	if (e[4] == MP_BUS_ISA) {
		int irq = e[5];
		s->isa_entries++;
		int pin = irq == 0 ? 2 : irq;
		uint16_t flags = irq == IRQ_SCI ? MP_FLAGS_LEVEL_HIGH : MP_FLAGS_CONFORM;
		if (e[7] == pin && rd16(e + 2) == flags && irq != 2 && irq < 16)
			s->isa_ok++;
	} else if (e[4] == MP_BUS_PCI) {
		int slot = e[5] >> 2, intpin = (e[5] & 3) + 1;
		s->pci_entries++;
		if (e[7] == PCI_INTX_IOAPIC_PIN(slot, intpin) && rd16(e + 2) == MP_FLAGS_LEVEL_LOW)
			s->pci_ok++;
	}
}

static void walk(const uint8_t *hdr, struct mp_seen *s)
{
	uint32_t len = rd16(hdr + 4), n = rd16(hdr + 34), i = 0;
	const uint8_t *e = hdr + 44;
	for (; i < n && e < hdr + len; i++) {
		switch (e[0]) {
		case MP_ENTRY_PROCESSOR:
			CHECK(s->cpus < VM_MAXCPU);
			if (s->cpus < VM_MAXCPU)
				s->apic_ids[s->cpus] = e[1];
			s->cpus++;
			CHECK(e[3] & MP_CPU_ENABLED);
			s->bsps += !!(e[3] & MP_CPU_BSP);
			if (e[3] & MP_CPU_BSP)
				CHECK_EQ(s->cpus, 1);
			e += 20;
			break;
		case MP_ENTRY_BUS:
			s->buses_pci += e[1] == MP_BUS_PCI && memcmp(e + 2, "PCI   ", 6) == 0;
			s->buses_isa += e[1] == MP_BUS_ISA && memcmp(e + 2, "ISA   ", 6) == 0;
			e += 8;
			break;
		case MP_ENTRY_IOAPIC:
			s->ioapics++;
			CHECK_EQ(e[1], MP_IOAPIC_ID);
			CHECK_EQ(e[3] & 1, 1);
			CHECK_EQ(rd32(e + 4), LAYOUT_IOAPIC_BASE);
			e += 8;
			break;
		case MP_ENTRY_IOINT:
			check_ioint(e, s);
			e += 8;
			break;
		case MP_ENTRY_LINT:
			CHECK_EQ(e[6], 0xFF);
			s->extint_lint0 += e[1] == MP_INT_EXTINT && e[7] == 0;
			s->nmi_lint1 += e[1] == MP_INT_NMI && e[7] == 1;
			e += 8;
			break;
		default:
			CHECK(!"unknown MP entry type");
			return;
		}
	}
	CHECK_EQ(i, n);
	CHECK(e == hdr + len);
}

static void check_mptable(int ncpu)
{
	char err[256];
	struct fw_info fi;
	config_reset();
	CHECK_EQ(fw_info_init_mem(&fi, GPA_MiB(256), 0, ncpu, err, sizeof(err)), 0);
	long used = mptable_build_table(&fi, area, LAYOUT_MPTABLE_BASE, sizeof(area));
	CHECK(used > 0 && used <= (long)sizeof(area));

	const uint8_t *fps = NULL;
	for (size_t off = 0; off + 16 <= sizeof(area); off += 16)
		if (memcmp(area + off, "_MP_", 4) == 0 && sum(area + off, 16) == 0) {
			fps = area + off;
			break;
		}
	CHECK(fps != NULL);
	if (!fps)
		return;
	CHECK_EQ(fps[8], 1);
	CHECK_EQ(fps[9], 4);
	CHECK_EQ(fps[11], 0);                           /* config table present */
	uint32_t cfg = rd32(fps + 4);
	CHECK(cfg >= LAYOUT_MPTABLE_BASE && cfg + 44 <= LAYOUT_MPTABLE_BASE + sizeof(area));
	if (cfg < LAYOUT_MPTABLE_BASE || cfg + 44 > LAYOUT_MPTABLE_BASE + sizeof(area))
		return;
	const uint8_t *hdr = area + (cfg - LAYOUT_MPTABLE_BASE);
	CHECK(memcmp(hdr, "PCMP", 4) == 0);
	CHECK_EQ(hdr[6], 4);
	uint32_t len = rd16(hdr + 4);
	CHECK(cfg + len <= LAYOUT_MPTABLE_BASE + sizeof(area));
	CHECK_EQ(sum(hdr, len), 0);
	CHECK_EQ(rd32(hdr + 36), LAYOUT_LAPIC_BASE);
	CHECK_EQ((long)(cfg - LAYOUT_MPTABLE_BASE + len), used);

	struct mp_seen s;
	memset(&s, 0, sizeof(s));
	walk(hdr, &s);
	CHECK_EQ(s.cpus, ncpu);
	CHECK_EQ(s.bsps, 1);
	for (int i = 0; i < ncpu && i < VM_MAXCPU; i++)
		CHECK_EQ(s.apic_ids[i], fi.apic_id[i]);
	CHECK_EQ(s.buses_pci, 1);
	CHECK_EQ(s.buses_isa, 1);
	CHECK_EQ(s.ioapics, 1);
	CHECK_EQ(s.isa_entries, 15);
	CHECK_EQ(s.isa_ok, 15);
	CHECK_EQ(s.pci_entries, 128);
	CHECK_EQ(s.pci_ok, 128);
	CHECK_EQ(s.extint_lint0, 1);
	CHECK_EQ(s.nmi_lint1, 1);
}

static void test_limits(void)
{
	char err[256];
	struct fw_info fi;
	CHECK_EQ(fw_info_init_mem(&fi, GPA_MiB(256), 0, VM_MAXCPU, err, sizeof(err)), 0);
	CHECK(mptable_build_table(&fi, area, LAYOUT_MPTABLE_BASE, 256) < 0);   /* too small */
	CHECK(mptable_build_table(&fi, area, LAYOUT_MPTABLE_BASE + 8, 2048) < 0);  /* unaligned */
	CHECK(mptable_build_table(&fi, area, LAYOUT_MPTABLE_BASE, sizeof(area)) > 0);
}

/* firmware_build on a real VM: which tables appear in guest memory as -A / -Y say. */
static void test_firmware_build(void)
{
	char err[256] = "";
	config_reset();
	config_set("name", "fwtest");
	struct vm *vm = pt_vm_create(2);
	CHECK(vm != NULL);
	if (!vm)
		return;
	uint8_t *mp = vm_map_gpa(vm, LAYOUT_MPTABLE_BASE, 16);
	uint8_t *rsdp = vm_map_gpa(vm, LAYOUT_ACPI_BASE, 8);
	uint8_t *sm = vm_map_gpa(vm, LAYOUT_SMBIOS_BASE, 4);
	CHECK(mp && rsdp && sm);
	if (!mp || !rsdp || !sm)
		goto out;
	CHECK_EQ(firmware_build(vm, 2, err, sizeof(err)), 0);      /* defaults: MP + SMBIOS */
	CHECK(memcmp(mp, "_MP_", 4) == 0);
	CHECK(memcmp(sm, "_SM_", 4) == 0);
	CHECK(memcmp(rsdp, "RSD PTR ", 8) != 0);
	memset(mp, 0, 16);
	config_set("x86.mptable", "false");
	config_set("acpi_tables", "true");
	CHECK_EQ(firmware_build(vm, 2, err, sizeof(err)), 0);
	CHECK(memcmp(mp, "_MP_", 4) != 0);
	CHECK(memcmp(rsdp, "RSD PTR ", 8) == 0);
	/* The MADT lists both vCPUs. */
	const uint8_t *x = vm_map_gpa(vm, rd32(rsdp + 24), 36 + 8 * 4);
	CHECK(x != NULL);
	const uint8_t *madt = x ? vm_map_gpa(vm, rd32(x + 36 + 8), 256) : NULL;
	CHECK(madt && memcmp(madt, "APIC", 4) == 0);
	if (madt) {
		int lapics = 0;
		for (uint32_t i = 44; i + 2 <= rd32(madt + 4) && madt[i + 1]; i += madt[i + 1])
			lapics += madt[i] == 0;
		CHECK_EQ(lapics, 2);
	}
	config_set("uuid", "bad");
	CHECK(firmware_build(vm, 2, err, sizeof(err)) < 0);
	CHECK(strstr(err, "uuid") != NULL);
out:
	pt_vm_free(vm);
}

int main(void)
{
	test_firmware_build();
	check_mptable(1);
	check_mptable(2);
	check_mptable(VM_MAXCPU);
	test_limits();
	return unit_report("mptable");
}
