/*
 * The PCI bus with a dummy emulation on a real VM + platform (no CPU): configuration
 * mechanism #1 and ECAM, BAR sizing/moving/decode, BAR accesses reaching the device, the
 * capability list, MSI-X (table writes, masking, PBA, delivery into the LAPIC's IRR), MSI,
 * INTx through the IOAPIC, multi-function slots, init failures and tear-down.
 */
#include <fcntl.h>

#include "pci/pci_devinst.h"
#include "plat_test.h"
#include "unit.h"

/* ---- the dummy emulation ---- */

struct dummy {
	int reads, writes, last_idx, last_size;
	uint64_t last_off, last_val;
};
static struct dummy dummy_rec;

static int dummy_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	if (config_node_get_bool(nvl, "fail", false)) {
		snprintf(err, errlen, "asked to fail");
		return -1;
	}
	pci_set_cfgdata16(pi, PCIR_VENDOR, 0x1234);
	pci_set_cfgdata16(pi, PCIR_DEVICE, 0x5678);
	pci_set_cfgdata8(pi, PCIR_CLASS, PCIC_OTHER);
	if (pci_emul_alloc_bar(pi, 0, PCIBAR_IO, 32) < 0 ||
	    pci_emul_alloc_bar(pi, 1, PCIBAR_MEM32, 100) < 0 ||
	    pci_emul_alloc_bar(pi, 2, PCIBAR_MEM64, 0x4000) < 0 ||
	    pci_emul_add_pciecap(pi) < 0 || pci_emul_add_msixcap(pi, 4, 4) < 0 ||
	    pci_emul_add_msicap(pi, 4) < 0 || pci_lintr_request(pi) < 0) {
		snprintf(err, errlen, "set-up failed");
		return -1;
	}
	return 0;
}

static uint64_t dummy_barread(struct vcpu *vcpu, struct pci_devinst *pi, int idx, uint64_t off,
			      int size)
{
	dummy_rec.reads++;
	dummy_rec.last_idx = idx;
	dummy_rec.last_off = off;
	dummy_rec.last_size = size;
	return 0xA0 + off;
}

static void dummy_barwrite(struct vcpu *vcpu, struct pci_devinst *pi, int idx, uint64_t off,
			   int size, uint64_t val)
{
	dummy_rec.writes++;
	dummy_rec.last_idx = idx;
	dummy_rec.last_off = off;
	dummy_rec.last_size = size;
	dummy_rec.last_val = val;
}

static const struct pci_devemu dummy_emu = {
	.pe_emu = "test-dummy",
	.pe_init = dummy_init,
	.pe_barread = dummy_barread,
	.pe_barwrite = dummy_barwrite,
};
PCI_EMUL_SET(dummy_emu);

/* ---- helpers: config space through 0xCF8/0xCFC ---- */

static uint32_t cfg_rd(struct vm *vm, int slot, int fn, int reg, int bytes)
{
	pt_out(vm, PORT_PCI_CONFIG_ADDR, 4, 0x80000000u | slot << 11 | fn << 8 | (reg & 0xFC));
	return pt_in(vm, (uint16_t)(PORT_PCI_CONFIG_DATA + (reg & 3)), bytes);
}

static void cfg_wr(struct vm *vm, int slot, int fn, int reg, int bytes, uint32_t v)
{
	pt_out(vm, PORT_PCI_CONFIG_ADDR, 4, 0x80000000u | slot << 11 | fn << 8 | (reg & 0xFC));
	pt_out(vm, (uint16_t)(PORT_PCI_CONFIG_DATA + (reg & 3)), bytes, v);
}

static bool irr(struct vm *vm, int vec)
{
	return (pt_lapic_rd(vm, 0, 0x200 + 0x10 * (uint32_t)(vec / 32)) >> (vec % 32)) & 1;
}

static int find_cap(struct vm *vm, int slot, int id)
{
	int off = (int)cfg_rd(vm, slot, 0, PCIR_CAP_PTR, 1);
	for (int n = 0; off && n < 48; n++) {
		if ((int)cfg_rd(vm, slot, 0, off, 1) == id)
			return off;
		off = (int)cfg_rd(vm, slot, 0, off + 1, 1);
	}
	return 0;
}

/* ---- tests ---- */

static void test_config_space(struct vm *vm)
{
	CHECK_EQ(cfg_rd(vm, 4, 0, 0, 4), 0x56781234);
	CHECK_EQ(cfg_rd(vm, 4, 0, 2, 2), 0x5678);
	CHECK_EQ(cfg_rd(vm, 4, 0, 1, 1), 0x12);
	CHECK_EQ(pt_in(vm, PORT_PCI_CONFIG_ADDR, 4), 0x80000000u | 4 << 11);
	CHECK_EQ(cfg_rd(vm, 7, 0, 0, 4), 0xFFFFFFFFu);           /* nobody there */
	CHECK_EQ(cfg_rd(vm, 4, 3, 0, 4), 0xFFFFFFFFu);
	pt_out(vm, PORT_PCI_CONFIG_ADDR, 4, 4 << 11);            /* enable bit clear */
	CHECK_EQ(pt_in(vm, PORT_PCI_CONFIG_DATA, 4), 0xFFFFFFFFu);
	/* Read-only header: IDs and class do not change. */
	cfg_wr(vm, 4, 0, 0, 4, 0);
	cfg_wr(vm, 4, 0, 8, 4, 0);
	CHECK_EQ(cfg_rd(vm, 4, 0, 0, 4), 0x56781234);
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_CLASS, 1), PCIC_OTHER);
	/* Writable bytes. */
	cfg_wr(vm, 4, 0, PCIR_INTLINE, 1, 0x0B);
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_INTLINE, 1), 0x0B);
	cfg_wr(vm, 4, 0, PCIR_INTLINE, 1, PCI_INTX_IOAPIC_PIN(4, 1));
	/* ECAM sees the same space, including 8-byte reads. */
	uint64_t ecam = LAYOUT_PCI_ECAM_BASE + (4 << 15);
	CHECK_EQ(pt_mr(vm, 0, ecam, 4), 0x56781234);
	CHECK_EQ(pt_mr(vm, 0, ecam + 2, 2), 0x5678);
	CHECK_EQ(pt_mr(vm, 0, ecam + (3 << 15), 4), 0xFFFFFFFFu);     /* slot 7 */
	CHECK_EQ(pt_mr(vm, 0, ecam, 8) & 0xFFFFFFFF, 0x56781234);
	CHECK_EQ(pt_mr(vm, 0, ecam + 0x800, 4), 0);              /* extended space: empty */
	/* Capabilities. */
	CHECK(cfg_rd(vm, 4, 0, PCIR_STATUS, 2) & PCIM_STATUS_CAPPRESENT);
	CHECK(find_cap(vm, 4, PCIY_MSIX) != 0);
	CHECK(find_cap(vm, 4, PCIY_MSI) != 0);
	CHECK(find_cap(vm, 4, PCIY_EXPRESS) != 0);
}

static void test_bars(struct vm *vm)
{
	struct pci_devinst *pi = pci_bus_find(vm, 0, 4, 0);
	CHECK(pi != NULL);
	uint32_t bar0 = cfg_rd(vm, 4, 0, PCIR_BAR(0), 4);
	uint32_t bar1 = cfg_rd(vm, 4, 0, PCIR_BAR(1), 4);
	CHECK_EQ(bar0 & 1, 1);
	CHECK(bar0 >= PORT_PCI_IO_BASE);
	CHECK(bar1 >= LAYOUT_PCI_MMIO32_BASE && bar1 < LAYOUT_PCI_MMIO32_END);
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_BAR(2), 4) & 0x6, PCIM_BAR_MEM_64);
	CHECK(cfg_rd(vm, 4, 0, PCIR_COMMAND, 2) & (PCIM_CMD_PORTEN | PCIM_CMD_MEMEN));

	/* Sizing. */
	cfg_wr(vm, 4, 0, PCIR_COMMAND, 2, 0);
	for (int i = 0; i < 6; i++)
		cfg_wr(vm, 4, 0, PCIR_BAR(i), 4, 0xFFFFFFFFu);
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_BAR(0), 4), 0xFFFFFFE1u);   /* 32 ports */
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_BAR(1), 4), 0xFFFFF000u);   /* 100 bytes -> 4 KiB */
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_BAR(2), 4), 0xFFFFC004u);   /* 16 KiB, 64-bit */
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_BAR(3), 4), 0xFFFFFFFFu);
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_BAR(4), 4), 0xFFFFE000u);   /* MSI-X: table + PBA */
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_BAR(5), 4), 0);             /* unimplemented */
	cfg_wr(vm, 4, 0, PCIR_BAR(0), 4, bar0);
	cfg_wr(vm, 4, 0, PCIR_BAR(1), 4, bar1);
	cfg_wr(vm, 4, 0, PCIR_BAR(2), 4, 0xD0000000u);
	cfg_wr(vm, 4, 0, PCIR_BAR(3), 4, 0);
	cfg_wr(vm, 4, 0, PCIR_BAR(4), 4, 0xD0100000u);
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_BAR(2), 4), 0xD0000004u);
	CHECK_EQ(pi->pi_bar[2].addr, 0xD0000000u);

	/* Decode off: nothing answers. */
	dummy_rec.reads = 0;
	CHECK_EQ(pt_in(vm, (uint16_t)((bar0 & ~3u) + 4), 1), 0xFF);
	CHECK_EQ(pt_mr(vm, 0, bar1 + 8, 4), 0xFFFFFFFFu);
	CHECK_EQ(dummy_rec.reads, 0);
	/* Decode on: the device sees BAR-relative offsets. */
	cfg_wr(vm, 4, 0, PCIR_COMMAND, 2, PCIM_CMD_PORTEN | PCIM_CMD_MEMEN | PCIM_CMD_BUSMASTEREN);
	CHECK_EQ(pt_in(vm, (uint16_t)((bar0 & ~3u) + 4), 2), 0xA4);
	CHECK_EQ(dummy_rec.last_idx, 0);
	CHECK_EQ(dummy_rec.last_size, 2);
	CHECK_EQ(pt_mr(vm, 0, bar1 + 8, 4), 0xA8);
	CHECK_EQ(dummy_rec.last_idx, 1);
	pt_mw(vm, 0, 0xD0000000u + 0x10, 8, 0x1122334455667788ULL);
	CHECK_EQ(dummy_rec.last_idx, 2);
	CHECK_EQ(dummy_rec.last_off, 0x10);
	CHECK_EQ(dummy_rec.last_val, 0x1122334455667788ULL);
	CHECK_EQ(dummy_rec.reads, 2);
	/* Moving an I/O BAR: the old ports go quiet, the new ones answer. */
	cfg_wr(vm, 4, 0, PCIR_BAR(0), 4, 0x3000);
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_BAR(0), 4), 0x3001);
	CHECK_EQ(pt_in(vm, (uint16_t)((bar0 & ~3u) + 4), 1), 0xFF);
	CHECK_EQ(pt_in(vm, 0x3000 + 5, 1), 0xA5);
	/* Beyond the port space: not decoded, no crash. */
	cfg_wr(vm, 4, 0, PCIR_BAR(0), 4, 0xFFFFFFE0u);
	CHECK_EQ(pt_in(vm, 0xFFF0, 1), 0xFF);
	cfg_wr(vm, 4, 0, PCIR_BAR(0), 4, 0x3000);
}

static void test_msix(struct vm *vm)
{
	struct pci_devinst *pi = pci_bus_find(vm, 0, 4, 0);
	uint64_t tbl = 0xD0100000u;
	int cap = find_cap(vm, 4, PCIY_MSIX);
	CHECK_EQ(cfg_rd(vm, 4, 0, cap + 2, 2) & 0x7FF, 3);       /* table size - 1 */
	CHECK_EQ(cfg_rd(vm, 4, 0, cap + 4, 4), 4);               /* table at 0 in BAR 4 */
	CHECK_EQ(cfg_rd(vm, 4, 0, cap + 8, 4), 0x1000 | 4);      /* PBA at 4 KiB */
	pt_lapic_enable(vm, 0);
	/* Entries start masked. */
	CHECK_EQ(pt_mr(vm, 0, tbl + 16 + 12, 4), 1);
	pt_mw(vm, 0, tbl + 16, 8, LAYOUT_LAPIC_BASE);            /* entry 1: CPU 0 */
	pt_mw(vm, 0, tbl + 16 + 8, 4, 0x45);                     /* fixed, vector 0x45 */
	pt_mw(vm, 0, tbl + 16 + 12, 4, 0);                       /* unmask */
	CHECK_EQ(pt_mr(vm, 0, tbl + 16, 4), LAYOUT_LAPIC_BASE);
	CHECK_EQ(pt_mr(vm, 0, tbl + 16 + 8, 8), 0x45);
	CHECK(!pci_msix_enabled(pi));
	pci_generate_msix(pi, 1);                                /* disabled: nothing */
	CHECK(!irr(vm, 0x45));
	cfg_wr(vm, 4, 0, cap + 2, 2, 0x8000);
	CHECK(pci_msix_enabled(pi));
	pci_generate_msix(pi, 1);
	CHECK(irr(vm, 0x46 - 1));
	CHECK(pt_ev.intr[0] > 0);
	/* Entry 2 masked: the vector waits in the PBA and goes out on unmask. */
	pt_mw(vm, 0, tbl + 32, 4, (uint32_t)LAYOUT_LAPIC_BASE);
	pt_mw(vm, 0, tbl + 32 + 4, 4, 0);
	pt_mw(vm, 0, tbl + 32 + 8, 4, 0x52);
	pci_generate_msix(pi, 2);
	CHECK(!irr(vm, 0x52));
	CHECK_EQ(pt_mr(vm, 0, tbl + 0x1000, 8), 1u << 2);
	CHECK_EQ(pt_mr(vm, 0, tbl + 0x1000, 4), 1u << 2);
	pt_mw(vm, 0, tbl + 32 + 12, 4, 0);
	CHECK(irr(vm, 0x52));
	CHECK_EQ(pt_mr(vm, 0, tbl + 0x1000, 8), 0);
	/* Function mask holds everything back. */
	pt_mw(vm, 0, tbl + 48, 4, (uint32_t)LAYOUT_LAPIC_BASE);
	pt_mw(vm, 0, tbl + 48 + 8, 4, 0x61);
	pt_mw(vm, 0, tbl + 48 + 12, 4, 0);
	cfg_wr(vm, 4, 0, cap + 2, 2, 0xC000);
	pci_generate_msix(pi, 3);
	CHECK(!irr(vm, 0x61));
	cfg_wr(vm, 4, 0, cap + 2, 2, 0x8000);
	CHECK(irr(vm, 0x61));
	/* Hostile accesses: out of range index, odd sizes. */
	pci_generate_msix(pi, 4);
	pci_generate_msix(pi, -1);
	CHECK_EQ(pt_mr(vm, 0, tbl + 2, 2), 0);
	pt_mw(vm, 0, tbl + 4 * 16 + 8, 4, 0x99);                 /* past the table: the device's */
	CHECK_EQ(dummy_rec.last_idx, 4);
	cfg_wr(vm, 4, 0, cap + 2, 2, 0);
}

static void test_msi(struct vm *vm)
{
	struct pci_devinst *pi = pci_bus_find(vm, 0, 4, 0);
	int cap = find_cap(vm, 4, PCIY_MSI);
	uint16_t ctrl = (uint16_t)cfg_rd(vm, 4, 0, cap + 2, 2);
	CHECK_EQ(ctrl & 0x80, 0x80);                             /* 64-bit */
	CHECK_EQ((ctrl >> 1) & 7, 2);                            /* 4 vectors offered */
	cfg_wr(vm, 4, 0, cap + 4, 4, (uint32_t)LAYOUT_LAPIC_BASE | 3);
	CHECK_EQ(cfg_rd(vm, 4, 0, cap + 4, 4), LAYOUT_LAPIC_BASE);
	cfg_wr(vm, 4, 0, cap + 8, 4, 0);
	cfg_wr(vm, 4, 0, cap + 12, 2, 0x70);
	cfg_wr(vm, 4, 0, cap + 2, 2, 0x0071);                    /* enable, 8 asked: 4 given */
	CHECK_EQ((cfg_rd(vm, 4, 0, cap + 2, 2) >> 4) & 7, 2);
	CHECK(pci_msi_enabled(pi));
	CHECK_EQ(pci_msi_maxmsgnum(pi), 4);
	pci_generate_msi(pi, 3);
	CHECK(irr(vm, 0x73));
	pci_generate_msi(pi, 4);                                 /* not enabled: dropped */
	CHECK(!irr(vm, 0x74));
	cfg_wr(vm, 4, 0, cap + 2, 2, 0);
	CHECK(!pci_msi_enabled(pi));
}

static void test_intx(struct vm *vm)
{
	struct pci_devinst *pi = pci_bus_find(vm, 0, 4, 0);
	int pin = PCI_INTX_IOAPIC_PIN(4, 1);
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_INTPIN, 1), 1);
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_INTLINE, 1), pin);
	CHECK_EQ(pin, 20);
	/* IOAPIC pin: vector 0x80, level, active low, unmasked, to APIC 0. */
	pt_ioapic_rte(vm, pin, 0x80 | (1 << 15) | (1 << 13));
	pci_lintr_assert(pi);
	CHECK(irr(vm, 0x80));
	CHECK(cfg_rd(vm, 4, 0, PCIR_STATUS, 2) & PCIM_STATUS_INTxSTATE);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x80);               /* the CPU takes it */
	CHECK(!irr(vm, 0x80));
	pci_lintr_deassert(pi);
	CHECK(!(cfg_rd(vm, 4, 0, PCIR_STATUS, 2) & PCIM_STATUS_INTxSTATE));
	pt_lapic_eoi(vm, 0);
	CHECK(!irr(vm, 0x80));
	/* Interrupt disable keeps the line quiet; the status bit still shows it. */
	uint16_t cmd = (uint16_t)cfg_rd(vm, 4, 0, PCIR_COMMAND, 2);
	cfg_wr(vm, 4, 0, PCIR_COMMAND, 2, cmd | PCIM_CMD_INTxDIS);
	pci_lintr_assert(pi);
	CHECK(!irr(vm, 0x80));
	CHECK(cfg_rd(vm, 4, 0, PCIR_STATUS, 2) & PCIM_STATUS_INTxSTATE);
	cfg_wr(vm, 4, 0, PCIR_COMMAND, 2, cmd);                  /* enabled again: delivered */
	CHECK(irr(vm, 0x80));
	pci_lintr_deassert(pi);
	pt_lapic_eoi(vm, 0);
}

static void test_multifunction(struct vm *vm)
{
	CHECK_EQ(cfg_rd(vm, 5, 0, PCIR_HDRTYPE, 1) & PCIM_HDRTYPE_MFDEV, PCIM_HDRTYPE_MFDEV);
	CHECK_EQ(cfg_rd(vm, 4, 0, PCIR_HDRTYPE, 1) & PCIM_HDRTYPE_MFDEV, 0);
	CHECK_EQ(cfg_rd(vm, 5, 1, 0, 4), 0x56781234);
	CHECK_EQ(cfg_rd(vm, 5, 1, PCIR_INTPIN, 1), 2);
	CHECK_EQ(cfg_rd(vm, 5, 1, PCIR_INTLINE, 1), PCI_INTX_IOAPIC_PIN(5, 2));
	/* Distinct BARs for the two functions. */
	CHECK(cfg_rd(vm, 5, 0, PCIR_BAR(1), 4) != cfg_rd(vm, 5, 1, PCIR_BAR(1), 4));
}

static void test_failure(void)
{
	char err[256] = "";
	config_reset();
	config_set("pci.0.6.0.device", "test-dummy");
	config_set("pci.0.6.0.fail", "true");
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (!vm)
		return;
	CHECK(pci_bus_init(vm, err, sizeof(err)) < 0);
	CHECK(strstr(err, "test-dummy") != NULL && strstr(err, "asked to fail") != NULL);
	CHECK(pci_bus_find(vm, 0, 6, 0) == NULL);
	CHECK_EQ(pt_in(vm, PORT_PCI_CONFIG_DATA, 4), 0xFFFFFFFFu);   /* ports were released */
	config_set("pci.0.6.0.device", "no-such-device");
	CHECK(pci_bus_init(vm, err, sizeof(err)) < 0);
	CHECK(strstr(err, "no-such-device") != NULL);
	pt_vm_free(vm);
}

/* The host bridge and LPC bridge emulations, and the boot ROM behind the LPC bridge. */
static void test_bridges(void)
{
	char err[256] = "", rom[] = "/tmp/bhyve-test-rom-XXXXXX";
	int fd = mkstemp(rom);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	uint8_t buf[8192];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	CHECK_EQ(write(fd, buf, sizeof(buf)), sizeof(buf));
	close(fd);
	config_reset();
	config_set("pci.0.0.0.device", "hostbridge");
	config_set("pci.0.1.0.device", "amd_hostbridge");
	config_set("pci.0.2.0.device", "hostbridge");
	config_set("pci.0.2.0.vendor", "0xabcd");
	config_set("pci.0.31.0.device", "lpc");
	config_set("lpc.bootrom", rom);
	config_set("lpc.fwcfg", "bhyve");     /* bhyve's identities (qemu: Q35/ICH9) */
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (!vm)
		goto out;
	CHECK_EQ(pci_bus_init(vm, err, sizeof(err)), 0);
	CHECK_EQ(cfg_rd(vm, 0, 0, 0, 4), 0x12751275);
	CHECK_EQ(cfg_rd(vm, 0, 0, 8, 4) >> 8, 0x060000);
	CHECK_EQ(cfg_rd(vm, 1, 0, 0, 2), 0x1022);
	CHECK_EQ(cfg_rd(vm, 2, 0, 0, 2), 0xABCD);
	CHECK_EQ(cfg_rd(vm, 31, 0, 0, 4), 0x70008086);
	CHECK_EQ(cfg_rd(vm, 31, 0, PCIR_SUBCLASS, 2), 0x0601);
	/* The ROM ends at 4 GiB: its last 16 bytes hold the reset vector. */
	uint64_t base = LAYOUT_BOOTROM_END - sizeof(buf);
	CHECK_EQ(pt_mr(vm, 0, LAYOUT_BOOTROM_END - 16, 1), buf[sizeof(buf) - 16]);
	CHECK_EQ(pt_mr(vm, 0, base + 4, 4), buf[4] | buf[5] << 8 | buf[6] << 16 | (uint32_t)buf[7] << 24);
	pt_mw(vm, 0, base, 4, 0);                                /* read-only */
	CHECK_EQ(pt_mr(vm, 0, base, 1), buf[0]);
	pci_bus_fini(vm);
	CHECK_EQ(pt_mr(vm, 0, base, 4), 0xFFFFFFFFu);            /* unmapped */
	/* A ROM whose size is not a multiple of 4 KiB is refused. */
	fd = open(rom, O_WRONLY | O_TRUNC);
	CHECK_EQ(write(fd, buf, 100), 100);
	close(fd);
	CHECK(pci_bus_init(vm, err, sizeof(err)) < 0);
	CHECK(strstr(err, "bootrom") != NULL);
	config_set("lpc.bootrom", "/nonexistent/rom");
	CHECK(pci_bus_init(vm, err, sizeof(err)) < 0);
	CHECK(strstr(err, "No such file") != NULL);
	config_set("pci.0.2.0.vendor", "0x12345");
	config_unset("lpc.bootrom");
	CHECK(pci_bus_init(vm, err, sizeof(err)) < 0);
	CHECK(strstr(err, "vendor") != NULL);
	pt_vm_free(vm);
out:
	unlink(rom);
}

int main(void)
{
	char err[256] = "";
	config_reset();
	config_set("pci.0.4.0.device", "test-dummy");
	config_set("pci.0.5.0.device", "test-dummy");
	config_set("pci.0.5.1.device", "test-dummy");
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (!vm)
		return unit_report("pci_bus");
	int rc = pci_bus_init(vm, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc < 0) {
		fprintf(stderr, "pci_bus_init: %s\n", err);
	} else {
		test_config_space(vm);
		test_bars(vm);
		test_msix(vm);
		test_msi(vm);
		test_intx(vm);
		test_multifunction(vm);
		CHECK(pci_bus_init(vm, err, sizeof(err)) < 0);   /* only once */
		pci_bus_fini(vm);
		CHECK(pci_bus_find(vm, 0, 4, 0) == NULL);
		CHECK_EQ(cfg_rd(vm, 4, 0, 0, 4), 0xFFFFFFFFu);
		CHECK_EQ(pt_mr(vm, 0, 0xD0000000u, 4), 0xFFFFFFFFu);
	}
	pt_vm_free(vm);
	test_failure();
	test_bridges();
	return unit_report("pci_bus");
}
