/* fbuf (src/pci/pci_fbuf.c): the Bochs identity's dispi registers through ports 0x1CE/0x1CF
 * and the MMIO BAR, the EDID block, video memory mapped as guest memory, bhyve's FB5D:40FB
 * identity, and hostile register values (any XRES/YRES/offsets: never a read or write outside
 * the video memory). */
#include "plat_test.h"
#include "unit.h"

#include "pci/pci_devinst.h"

static struct vm *tvm;

static void dispi_wr(uint16_t idx, uint16_t v)
{
	pt_out(tvm, 0x1CE, 2, idx);
	pt_out(tvm, 0x1CF, 2, v);
}

static uint16_t dispi_rd(uint16_t idx)
{
	pt_out(tvm, 0x1CE, 2, idx);
	return (uint16_t)pt_in(tvm, 0x1CF, 2);
}

static void test_bochs(struct pci_devinst *pi)
{
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_VENDOR), 0x1234);
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_DEVICE), 0x1111);
	CHECK_EQ(pci_get_cfgdata8(pi, PCIR_CLASS), 0x03);
	CHECK_EQ(dispi_rd(0) & 0xFFF0, 0xB0C0);
	CHECK_EQ((uint32_t)dispi_rd(0xA) << 16, pi->pi_bar[0].size);   /* video memory */
	/* EDID at the start of BAR 2: header, checksum, preferred mode 800x600. */
	uint8_t e[128];
	uint8_t sum = 0;
	for (int i = 0; i < 128; i++) {
		e[i] = (uint8_t)pi->pi_d->pe_barread(NULL, pi, 2, (uint64_t)i, 1);
		sum = (uint8_t)(sum + e[i]);
	}
	CHECK_EQ(e[1], 0xFF);
	CHECK_EQ(sum, 0);
	CHECK_EQ(e[56] | (e[58] >> 4) << 8, 800);
	CHECK_EQ(e[59] | (e[61] >> 4) << 8, 600);
	/* The MMIO dispi block mirrors the ports. */
	pi->pi_d->pe_barwrite(NULL, pi, 2, 0x500 + 2 * 1, 2, 640);
	CHECK_EQ(dispi_rd(1), 640);
	/* The video memory is guest memory at BAR 0. */
	uint64_t fb = pi->pi_bar[0].addr;
	uint8_t *host = vm_devmem_ptr(tvm, fb + 4096);
	CHECK(host != NULL);
	if (host) {
		host[0] = 0x5A;
		CHECK_EQ(pi->pi_d->pe_barread(NULL, pi, 0, 4096, 1), 0x5A);
	}
	/* Enabling a mode clears the frame (no NOCLEARMEM). */
	dispi_wr(3, 32);
	dispi_wr(1, 1024);
	dispi_wr(2, 768);
	dispi_wr(4, 0x41);
	if (host)
		CHECK_EQ(host[0], 0);
}

static void test_hostile(struct pci_devinst *pi)
{
	unsigned seed = 7;
	for (int i = 0; i < 100000; i++) {
		seed = seed * 1103515245u + 12345u;
		uint16_t v = (uint16_t)(seed >> 8);
		switch ((seed >> 28) & 3) {
		case 0: dispi_wr((uint16_t)((seed >> 4) % 12), v); break;
		case 1: pt_out(tvm, 0x1CE + ((seed >> 5) & 1), (seed & 1) ? 1 : 2, v); break;
		case 2: pi->pi_d->pe_barwrite(NULL, pi, 2, (seed >> 6) % 0x1000, 1 << ((seed >> 2) & 3),
					      v);
			break;
		default: pi->pi_d->pe_barread(NULL, pi, 2, (seed >> 6) % 0x1000, 1 << ((seed >> 2) & 3));
		}
		if ((i & 63) == 0)
			dispi_wr(4, 0x01);          /* enable with clearing: bounded by the memory */
	}
	CHECK_EQ(dispi_rd(0) & 0xFFF0, 0xB0C0);
}

int main(void)
{
	char err[256], addr[32];

	config_reset();
	tvm = pt_vm_create(1);
	CHECK(tvm != NULL);
	if (!tvm)
		return unit_report("fbuf");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", 20000 + (int)(getpid() % 30000));
	config_set("pci.0.29.0.device", "fbuf");
	config_set("pci.0.29.0.tcp", addr);
	config_set("pci.0.29.0.w", "800");
	config_set("pci.0.29.0.h", "600");
	config_set("pci.0.30.0.device", "fbuf");
	config_set("pci.0.30.0.model", "bhyve");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", 20001 + (int)(getpid() % 30000));
	config_set("pci.0.30.0.tcp", addr);
	CHECK_EQ(pci_bus_init(tvm, err, sizeof(err)), 0);
	struct pci_devinst *pi = pci_bus_find(tvm, 0, 29, 0);
	struct pci_devinst *pb = pci_bus_find(tvm, 0, 30, 0);
	CHECK(pi != NULL && pb != NULL);
	if (pi)
		test_bochs(pi);
	if (pb) {
		CHECK_EQ(pci_get_cfgdata16(pb, PCIR_VENDOR), 0xFB5D);
		CHECK_EQ(pci_get_cfgdata16(pb, PCIR_DEVICE), 0x40FB);
		CHECK_EQ(pb->pi_bar[1].size, 16u << 20);
		CHECK_EQ(pb->pi_d->pe_barread(NULL, pb, 0, 4, 2), 1024);   /* default width */
	}
	if (pi)
		test_hostile(pi);
	pci_bus_fini(tvm);
	pt_vm_free(tvm);
	return unit_report("fbuf");
}
