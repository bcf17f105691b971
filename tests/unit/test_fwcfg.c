/* fw_cfg (QEMU's firmware interface): the port protocol, the file directory, DMA requests
 * with hostile addresses and lengths, and the ACPI table-loader script applied as the
 * firmware would. */
#include <stdlib.h>
#include <string.h>

#include "pci/fwcfg.h"
#include "pci/fwcfg_acpi.h"
#include "platform/firmware.h"
#include "unit.h"
#include "vmm/layout.h"
#include "vmm/vmm.h"

#define MEM (16u << 20)

static uint32_t io_in(struct fwcfg *fc, uint16_t port, int bytes)
{
	uint32_t v = 0xdeadbeef;
	fwcfg_io(fc, 1, port, bytes, &v);
	return v;
}

static void io_out(struct fwcfg *fc, uint16_t port, int bytes, uint32_t v)
{
	fwcfg_io(fc, 0, port, bytes, &v);
}

static void sel(struct fwcfg *fc, uint16_t key)
{
	io_out(fc, PORT_FWCFG_SEL, 2, key);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* A DMA request at gpa 0x1000; returns the control word written back. */
static uint32_t dma(struct fwcfg *fc, struct vm *vm, uint32_t ctl, uint32_t len, uint64_t addr)
{
	uint8_t *req = vm_map_gpa(vm, 0x1000, 16);
	put_be32(req, ctl);
	put_be32(req + 4, len);
	put_be32(req + 8, (uint32_t)(addr >> 32));
	put_be32(req + 12, (uint32_t)addr);
	io_out(fc, PORT_FWCFG_DMA, 4, 0);
	io_out(fc, PORT_FWCFG_DMA + 4, 4, __builtin_bswap32(0x1000));
	return be32(req);
}

static void test_ports_and_dir(void)
{
	struct vm *vm = vm_create_anon(MEM);
	struct fwcfg *fc = fwcfg_new(vm);
	CHECK(fc != NULL);
	sel(fc, 0);
	char sig[5] = { 0 };
	for (int i = 0; i < 4; i++)
		sig[i] = (char)io_in(fc, PORT_FWCFG_SEL + 1, 1);
	CHECK_STR(sig, "QEMU");
	CHECK_EQ(io_in(fc, PORT_FWCFG_SEL + 1, 1), 0);          /* past the end: 0 */
	sel(fc, 1);
	CHECK_EQ(io_in(fc, PORT_FWCFG_SEL + 1, 1), 3);          /* traditional + DMA */
	CHECK_EQ(fwcfg_add_file(fc, "etc/test", "0123456789", 10), 0x20);
	CHECK_EQ(fwcfg_add_file(fc, "etc/test", "x", 1), -1);   /* a file name only once */
	CHECK_EQ(fwcfg_add_file(fc, "", "x", 1), -1);
	sel(fc, 0x19);
	uint8_t d[68];
	for (int i = 0; i < 68; i++)
		d[i] = (uint8_t)io_in(fc, PORT_FWCFG_SEL + 1, 1);
	CHECK_EQ(be32(d), 1);
	CHECK_EQ(be32(d + 4), 10);
	CHECK_EQ(d[8] << 8 | d[9], 0x20);
	CHECK_STR((char *)d + 12, "etc/test");
	sel(fc, 0x1234);                                        /* no such item: zeros */
	CHECK_EQ(io_in(fc, PORT_FWCFG_SEL + 1, 1), 0);
	/* the DMA register reads "QEMU CFG"; odd widths and writes elsewhere do nothing */
	CHECK_EQ(io_in(fc, PORT_FWCFG_DMA, 4), 0x554D4551);
	CHECK_EQ(io_in(fc, PORT_FWCFG_DMA + 4, 4), 0x47464320);
	io_out(fc, PORT_FWCFG_DMA + 1, 1, 0xff);
	io_out(fc, PORT_FWCFG_SEL + 1, 1, 0xff);
	sel(fc, 0x20);
	CHECK_EQ(io_in(fc, PORT_FWCFG_SEL + 1, 1), '0');
	fwcfg_free(fc);
	vm_close(vm);
}

static void test_dma(void)
{
	struct vm *vm = vm_create_anon(MEM);
	struct fwcfg *fc = fwcfg_new(vm);
	uint8_t *ram = vm_map_gpa(vm, 0, MEM);
	fwcfg_add_file(fc, "etc/test", "0123456789", 10);
	memset(ram + 0x2000, 0xee, 32);
	CHECK_EQ(dma(fc, vm, 0x20u << 16 | 0x08 | 0x02, 16, 0x2000), 0);
	CHECK(!memcmp(ram + 0x2000, "0123456789\0\0\0\0\0\0", 16));
	CHECK_EQ(ram[0x2010], 0xee);
	/* skip 3, read 2 */
	CHECK_EQ(dma(fc, vm, 0x20u << 16 | 0x08 | 0x04, 3, 0), 0);
	CHECK_EQ(dma(fc, vm, 0x02, 2, 0x3000), 0);
	CHECK(!memcmp(ram + 0x3000, "34", 2));
	/* outside RAM, a length running off the end of RAM, 4 GiB: an error, nothing written */
	CHECK_EQ(dma(fc, vm, 0x02, 8, 0xFFFFFFFF000ull), 1);
	CHECK_EQ(dma(fc, vm, 0x02, 0x100, MEM - 0x10), 1);
	CHECK_EQ(dma(fc, vm, 0x02, 0xFFFFFFFFu, 0x4000), 1);
	CHECK_EQ(dma(fc, vm, 0x02, 8, (uint64_t)-8), 1);
	/* no item is writable */
	CHECK_EQ(dma(fc, vm, 0x20u << 16 | 0x08 | 0x10, 4, 0x2000), 1);
	/* a request block outside RAM: nothing happens */
	io_out(fc, PORT_FWCFG_DMA, 4, __builtin_bswap32(0x10));
	io_out(fc, PORT_FWCFG_DMA + 4, 4, 0);
	io_out(fc, PORT_FWCFG_DMA + 4, 4, __builtin_bswap32(MEM - 8));
	fwcfg_free(fc);
	vm_close(vm);
}

static uint64_t rdn(const uint8_t *p, int n)
{
	uint64_t v = 0;
	memcpy(&v, p, (size_t)n);
	return v;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* Apply the loader script to the two blobs placed at rsdp_at / tables_at, as OVMF does. */
static void run_loader(const uint8_t *l, uint32_t llen, uint8_t *rsdp, uint8_t *tables,
		       size_t tsize, uint64_t tables_at)
{
	int allocs = 0;
	for (uint32_t o = 0; o < llen; o += 128) {
		const uint8_t *e = l + o;
		uint32_t type = (uint32_t)rdn(e, 4);
		uint8_t *blob = !strcmp((const char *)e + 4, "etc/acpi/rsdp") ? rsdp : tables;
		if (type == 1) {
			allocs++;
		} else if (type == 2) {
			CHECK_STR((const char *)e + 60, "etc/acpi/tables");
			uint32_t off = (uint32_t)rdn(e + 116, 4);
			int sz = e[120];
			CHECK(sz == 4 || sz == 8);
			uint64_t v = rdn(blob + off, sz);
			CHECK(v < tsize);                        /* an offset inside the tables */
			v += tables_at;
			memcpy(blob + off, &v, (size_t)sz);
		} else if (type == 3) {
			uint32_t res = (uint32_t)rdn(e + 60, 4), start = (uint32_t)rdn(e + 64, 4);
			uint32_t len = (uint32_t)rdn(e + 68, 4);
			CHECK_EQ(blob[res], 0);
			blob[res] = (uint8_t)-sum8(blob + start, len);
		} else {
			CHECK(0);
		}
	}
	CHECK_EQ(allocs, 2);
}

static void test_acpi_loader(void)
{
	static uint8_t buf[LAYOUT_ACPI_SIZE], loader[FWCFG_ACPI_LOADER_MAX];
	struct fw_info fi;
	char err[128];
	uint32_t llen = 0;
	CHECK_EQ(fw_info_init_mem(&fi, 256u << 20, 0, 2, err, sizeof(err)), 0);
	fi.ecam_base = 0xB0000000;
	long n = fwcfg_acpi_build(&fi, buf, sizeof(buf), loader, &llen);
	CHECK(n > FWCFG_ACPI_TABLES_OFF && llen > 0 && llen % 128 == 0);
	if (n <= FWCFG_ACPI_TABLES_OFF)
		return;
	uint8_t *rsdp = buf, *tables = buf + FWCFG_ACPI_TABLES_OFF;
	size_t tsize = (size_t)n - FWCFG_ACPI_TABLES_OFF;
	/* the tables "land" at host address `tables`, so followed pointers are host pointers */
	uint64_t at = (uint64_t)(uintptr_t)tables;
	run_loader(loader, llen, rsdp, tables, tsize, at);
	CHECK(!memcmp(rsdp, "RSD PTR ", 8));
	CHECK_EQ(sum8(rsdp, 20), 0);
	CHECK_EQ(sum8(rsdp, 36), 0);
	const uint8_t *xsdt = (const uint8_t *)(uintptr_t)rdn(rsdp + 24, 8);
	CHECK(!memcmp(xsdt, "XSDT", 4));
	CHECK_EQ(sum8(xsdt, rdn(xsdt + 4, 4)), 0);
	const char *want[4] = { "FACP", "APIC", "HPET", "MCFG" };
	for (int i = 0; i < 4; i++) {
		const uint8_t *t = (const uint8_t *)(uintptr_t)rdn(xsdt + 36 + 8 * i, 8);
		CHECK(!memcmp(t, want[i], 4));
		CHECK_EQ(sum8(t, rdn(t + 4, 4)), 0);
		if (i == 0) {
			CHECK(!memcmp((const uint8_t *)(uintptr_t)rdn(t + 140, 8), "DSDT", 4));
			CHECK(!memcmp((const uint8_t *)(uintptr_t)rdn(t + 132, 8), "FACS", 4));
			CHECK_EQ(rdn(t + 36, 4), (uint32_t)rdn(t + 132, 8));
		}
		if (i == 3)
			CHECK_EQ(rdn(t + 44, 8), 0xB0000000u);
	}
	/* (the RSDT's 32-bit pointers cannot hold host addresses: the XSDT's were checked) */
	/* a buffer too small for the tables is refused */
	CHECK(fwcfg_acpi_build(&fi, buf, 512, loader, &llen) < 0);
}

int main(void)
{
	test_ports_and_dir();
	test_dma();
	test_acpi_loader();
	return unit_report("fwcfg");
}
