/* The direct loaders: a fake bzImage and fake Multiboot kernels (a.out kludge and ELF32) are
 * loaded into a scratch VM; the zero page, e820 map, multiboot_info and entry state are checked,
 * and malformed or hostile images are refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/loader.h"
#include "unit.h"
#include "vmm/layout.h"

#define MEM (64ULL << 20)
#define SETUP_LEN 1024
#define PM_LEN 4096

static char initrd_path[64];
static char err[512];

static void w16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void w64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t r32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t r64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint8_t *make_bzimage(size_t *len)
{
	uint8_t *img = calloc(1, SETUP_LEN + PM_LEN);
	int i;

	img[0x1f1] = 1;                  /* setup_sects: (1 + 1) * 512 = 1024 */
	w16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x66;               /* header runs to 0x268 */
	memcpy(img + 0x202, "HdrS", 4);
	w16(img + 0x206, 0x020f);
	img[0x211] = 0x01;               /* LOADED_HIGH */
	w32(img + 0x22c, 0x7fffffff);    /* initrd_addr_max */
	w32(img + 0x230, 0x200000);      /* kernel_alignment */
	img[0x234] = 1;
	w16(img + 0x236, 0x0003);        /* XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
	w32(img + 0x238, 2047);          /* cmdline_size */
	w64(img + 0x258, 0x1000000);     /* pref_address */
	w32(img + 0x260, 0x2000000);     /* init_size: 32 MiB */
	for (i = 0; i < PM_LEN; i++)
		img[SETUP_LEN + i] = (uint8_t)(i * 7 + 1);
	*len = SETUP_LEN + PM_LEN;
	return img;
}

static uint8_t *gp(struct vm *vm, uint64_t gpa, size_t n)
{
	uint8_t *p = vm_map_gpa(vm, gpa, n);
	static uint8_t zero[4096];
	return p ? p : zero;
}

static void test_linux_ok(void)
{
	struct vm *vm = vm_create_anon(MEM);
	struct loader_args a = { .kernel = "bzImage", .initrd = initrd_path,
				 .cmdline = "console=ttyS0 root=/dev/vda" };
	struct vm_boot_state bs;
	size_t len;
	uint8_t *img = make_bzimage(&len), *zp;
	uint64_t rd;

	CHECK_EQ(loader_probe(img, len), LOADER_LINUX);
	CHECK_EQ(loader_linux(vm, img, len, &a, &bs, err, sizeof(err)), 0);
	CHECK(memcmp(gp(vm, LAYOUT_KERNEL_BASE, PM_LEN), img + SETUP_LEN, PM_LEN) == 0);
	zp = gp(vm, LAYOUT_ZERO_PAGE, 4096);
	CHECK(memcmp(zp + 0x202, "HdrS", 4) == 0);
	CHECK_EQ(zp[0x210], 0xff);                         /* type_of_loader */
	CHECK_EQ(r32(zp + 0x260), 0x2000000);               /* header copied */
	CHECK_EQ(r32(zp + 0x228), LAYOUT_CMDLINE);
	CHECK_STR((char *)gp(vm, LAYOUT_CMDLINE, 64), "console=ttyS0 root=/dev/vda");
	rd = r32(zp + 0x218);
	CHECK_EQ(r32(zp + 0x21c), 10000);
	CHECK_EQ(rd & 0xfff, 0);
	CHECK_EQ(rd, (MEM - 10000) & ~0xfffULL);
	CHECK(rd >= 0x1000000 + 0x2000000);                 /* away from the kernel */
	CHECK_EQ(*gp(vm, rd + 9999, 1), (uint8_t)(9999 % 251));
	CHECK_EQ(r64(zp + 0x070), 0);                       /* acpi_rsdp_addr: scan */
	/* e820: RAM, reserved to 1 MiB, RAM to the end of memory, ECAM reserved. */
	CHECK_EQ(zp[0x1e8], 4);
	CHECK_EQ(r64(zp + 0x2d0), 0);
	CHECK_EQ(r64(zp + 0x2d0 + 8), LAYOUT_EBDA_BASE);
	CHECK_EQ(r32(zp + 0x2d0 + 16), E820_RAM);
	CHECK_EQ(r64(zp + 0x2e4), LAYOUT_EBDA_BASE);
	CHECK_EQ(r64(zp + 0x2e4 + 8), 0x100000 - LAYOUT_EBDA_BASE);
	CHECK_EQ(r32(zp + 0x2e4 + 16), E820_RESERVED);
	CHECK_EQ(r64(zp + 0x2f8), 0x100000);
	CHECK_EQ(r64(zp + 0x2f8 + 8), MEM - 0x100000);
	CHECK_EQ(r32(zp + 0x2f8 + 16), E820_RAM);
	/* Entry state: 64-bit mode at load + 0x200, RSI = zero page. */
	CHECK_EQ(bs.valid, 1);
	CHECK_EQ(bs.regs.rip, 0x100200);
	CHECK_EQ(bs.regs.gpr[CPU_RSI], LAYOUT_ZERO_PAGE);
	CHECK_EQ(bs.regs.cr0 & 0x80000001, 0x80000001);
	CHECK_EQ(bs.regs.cr4 & 0x20, 0x20);
	CHECK_EQ(bs.regs.efer, 0x500);
	CHECK_EQ(bs.regs.cr3, LAYOUT_BOOT_PML4);
	CHECK_EQ(bs.regs.rflags, 2);
	CHECK_EQ(bs.regs.seg[CPU_CS].sel, 0x08);
	CHECK(bs.regs.seg[CPU_CS].attr & (1 << 13));        /* L */
	CHECK_EQ(bs.regs.seg[CPU_DS].sel, 0x10);
	CHECK_EQ(bs.regs.gdtr.base, LAYOUT_BOOT_GDT);
	CHECK_EQ(r64(gp(vm, LAYOUT_BOOT_GDT + 8, 8)), 0x00af9b000000ffffULL);
	/* Identity map: PML4 -> PDPT -> PD, 2 MiB pages over 4 GiB. */
	CHECK_EQ(r64(gp(vm, LAYOUT_BOOT_PML4, 8)), LAYOUT_BOOT_PDPT | 3);
	CHECK_EQ(r64(gp(vm, LAYOUT_BOOT_PDPT + 24, 8)), (LAYOUT_BOOT_PD + 0x3000) | 3);
	CHECK_EQ(r64(gp(vm, LAYOUT_BOOT_PD + 8, 8)), 0x200083);
	CHECK_EQ(r64(gp(vm, LAYOUT_BOOT_PD + 0x3000 + 511 * 8, 8)), 0xffe00083ULL);
	vm_close(vm);
	free(img);
}

/* Each corruption of a good image must be refused with a message. */
static void expect_bad(const char *what, void (*mutate)(uint8_t *), uint64_t mem,
		       const struct loader_args *a)
{
	struct vm *vm = vm_create_anon(mem);
	struct vm_boot_state bs;
	size_t len;
	uint8_t *img = make_bzimage(&len);
	int rc;

	if (mutate)
		mutate(img);
	err[0] = 0;
	rc = loader_linux(vm, img, len, a, &bs, err, sizeof(err));
	if (rc == 0)
		fprintf(stderr, "accepted: %s\n", what);
	CHECK(rc < 0);
	CHECK(err[0] != 0);
	vm_close(vm);
	free(img);
}

static void m_magic(uint8_t *i) { i[0x202] = 'X'; }
static void m_flag(uint8_t *i) { i[0x1fe] = 0; }
static void m_version(uint8_t *i) { w16(i + 0x206, 0x0208); }
static void m_no64(uint8_t *i) { w16(i + 0x236, 0); }
static void m_sects(uint8_t *i) { i[0x1f1] = 0xff; }
static void m_initsize(uint8_t *i) { w32(i + 0x260, 0xf0000000u); }
static void m_prefaddr(uint8_t *i) { w64(i + 0x258, ~0ULL - 5); w32(i + 0x260, 0xffffffffu); }
static void m_zimage(uint8_t *i) { i[0x211] = 0; }
static void m_cmdsize(uint8_t *i) { w32(i + 0x238, 8); }

static void test_linux_bad(void)
{
	struct loader_args a = { .kernel = "bzImage" };
	struct loader_args longcmd = { .kernel = "bzImage", .cmdline = "0123456789" };
	struct loader_args big = { .kernel = "bzImage", .initrd = "/tmp/bhyve-unit-big-initrd" };
	struct loader_args none = { .kernel = "bzImage", .initrd = "/nonexistent/initrd" };
	FILE *f;

	expect_bad("magic", m_magic, MEM, &a);
	expect_bad("boot flag", m_flag, MEM, &a);
	expect_bad("old version", m_version, MEM, &a);
	expect_bad("no 64-bit entry", m_no64, MEM, &a);
	expect_bad("setup beyond file", m_sects, MEM, &a);
	expect_bad("init_size", m_initsize, MEM, &a);
	expect_bad("too little memory", NULL, 32ULL << 20, &a);
	expect_bad("zImage", m_zimage, MEM, &a);
	expect_bad("cmdline too long", m_cmdsize, MEM, &longcmd);
	expect_bad("missing initrd", NULL, MEM, &none);
	f = fopen(big.initrd, "w");
	if (f) {
		CHECK_EQ(ftruncate(fileno(f), 40 << 20), 0);   /* 40 MiB: cannot fit above 48 MiB */
		fclose(f);
		expect_bad("initrd too big", NULL, MEM, &big);
		unlink(big.initrd);
	}
	/* Hostile pref_address/init_size must not wrap around. */
	{
		struct vm *vm = vm_create_anon(MEM);
		struct vm_boot_state bs;
		size_t len;
		uint8_t *img = make_bzimage(&len);
		m_prefaddr(img);
		CHECK(loader_linux(vm, img, len, &a, &bs, err, sizeof(err)) < 0);
		vm_close(vm);
		free(img);
	}
	/* Truncated images of every length are refused without reading past the end. */
	{
		struct vm *vm = vm_create_anon(MEM);
		struct vm_boot_state bs;
		size_t len, cut;
		uint8_t *img = make_bzimage(&len);
		int accepted = 0;
		for (cut = 0; cut <= SETUP_LEN; cut += 7) {
			uint8_t *t = malloc(cut ? cut : 1);
			memcpy(t, img, cut);
			accepted += loader_linux(vm, t, cut, &a, &bs, err, sizeof(err)) == 0;
			free(t);
		}
		CHECK_EQ(accepted, 0);
		vm_close(vm);
		free(img);
	}
}

/* ---- Multiboot ---- */

static uint8_t *make_aout(size_t *len, uint32_t flags, uint32_t load, uint32_t bss_end,
			  uint32_t entry)
{
	uint8_t *img = calloc(1, 8192);
	w32(img + 64, 0x1badb002);
	w32(img + 68, flags);
	w32(img + 72, (uint32_t)-(0x1badb002 + flags));
	w32(img + 76, load + 64);    /* header_addr */
	w32(img + 80, load);         /* load_addr */
	w32(img + 84, 0);            /* load_end_addr: whole file */
	w32(img + 88, bss_end);
	w32(img + 92, entry);
	memset(img + 4096, 0xc3, 4096);
	*len = 8192;
	return img;
}

static void test_multiboot_aout(void)
{
	struct vm *vm = vm_create_anon(MEM);
	struct loader_args a = { .kernel = "/boot/mbkern", .initrd = initrd_path,
				 .cmdline = "x=1" };
	struct vm_boot_state bs;
	size_t len;
	uint8_t *img = make_aout(&len, 0x10003, 0x200000, 0x200000 + 8192 + 4096, 0x200000 + 4096);
	uint8_t *mbi;

	memset(gp(vm, 0x200000 + 8192, 4096), 0xee, 4096);      /* bss must be cleared */
	CHECK_EQ(loader_probe(img, len), LOADER_MULTIBOOT);
	CHECK_EQ(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)), 0);
	CHECK(memcmp(gp(vm, 0x200000, 8192), img, 8192) == 0);
	CHECK_EQ(*gp(vm, 0x200000 + 8192 + 4095, 1), 0);
	CHECK_EQ(bs.regs.gpr[CPU_RAX], 0x2badb002);
	CHECK_EQ(bs.regs.gpr[CPU_RBX], LAYOUT_MB_INFO);
	CHECK_EQ(bs.regs.rip, 0x201000);
	CHECK_EQ(bs.regs.cr0 & 0x80000001, 1);                 /* protected, no paging */
	CHECK_EQ(bs.regs.efer, 0);
	CHECK_EQ(bs.regs.seg[CPU_CS].sel, 0x18);
	CHECK(bs.regs.seg[CPU_CS].attr & (1 << 14));            /* 32-bit */
	CHECK_EQ(bs.regs.rflags & 0x200, 0);
	mbi = gp(vm, LAYOUT_MB_INFO, 4096);
	CHECK_EQ(r32(mbi) & 0x4d, 0x4d);                        /* mem, cmdline, mods, mmap */
	CHECK_EQ(r32(mbi + 4), 639);
	CHECK_EQ(r32(mbi + 8), (MEM - 0x100000) >> 10);
	CHECK_STR((char *)gp(vm, r32(mbi + 16), 64), "mbkern x=1");
	CHECK_EQ(r32(mbi + 20), 1);
	{
		uint8_t *mod = gp(vm, r32(mbi + 24), 16);
		uint32_t start = r32(mod), end = r32(mod + 4);
		CHECK_EQ(start & 0xfff, 0);
		CHECK(start >= 0x200000 + 8192 + 4096);
		CHECK_EQ(end - start, 10000);
		CHECK_EQ(*gp(vm, start + 251, 1), 0);
		CHECK_STR((char *)gp(vm, r32(mod + 8), 64), initrd_path);
	}
	CHECK_EQ(r32(mbi + 44), 4 * 24);
	{
		uint8_t *mm = gp(vm, r32(mbi + 48), 96);
		CHECK_EQ(r32(mm), 20);
		CHECK_EQ(r64(mm + 24 + 4), LAYOUT_EBDA_BASE);
		CHECK_EQ(r32(mm + 24 + 20), E820_RESERVED);
		CHECK_EQ(r64(mm + 48 + 12), MEM - 0x100000);
	}
	vm_close(vm);
	free(img);
}

static void test_multiboot_elf(void)
{
	struct vm *vm = vm_create_anon(MEM);
	struct loader_args a = { .kernel = "k" };
	struct vm_boot_state bs;
	uint8_t *img = calloc(1, 8192);
	uint8_t *ph = img + 52;

	memcpy(img, "\177ELF\1\1\1", 7);
	w16(img + 16, 2);
	w16(img + 18, 3);
	w32(img + 24, 0x100010);     /* entry */
	w32(img + 28, 52);           /* phoff */
	w16(img + 42, 32);
	w16(img + 44, 1);
	w32(ph, 1);                  /* PT_LOAD */
	w32(ph + 4, 4096);           /* offset */
	w32(ph + 12, 0x100000);      /* paddr */
	w32(ph + 16, 4096);          /* filesz */
	w32(ph + 20, 8192);          /* memsz */
	w32(img + 256, 0x1badb002);
	w32(img + 260, 0x2);
	w32(img + 264, (uint32_t)-(0x1badb002 + 2));
	memset(img + 4096, 0x90, 4096);
	CHECK_EQ(loader_multiboot(vm, img, 8192, &a, &bs, err, sizeof(err)), 0);
	CHECK_EQ(bs.regs.rip, 0x100010);
	CHECK_EQ(*gp(vm, 0x100fff, 1), 0x90);
	CHECK_EQ(*gp(vm, 0x101000, 1), 0);
	/* Hostile program headers. */
	w32(ph + 4, 0xfffff000u);
	CHECK(loader_multiboot(vm, img, 8192, &a, &bs, err, sizeof(err)) < 0);
	w32(ph + 4, 4096);
	w32(ph + 12, 0xfffff000u);                      /* beyond RAM, wraps */
	CHECK(loader_multiboot(vm, img, 8192, &a, &bs, err, sizeof(err)) < 0);
	w32(ph + 12, LAYOUT_CMDLINE - 0x1000);          /* over the loader's command line */
	CHECK(loader_multiboot(vm, img, 8192, &a, &bs, err, sizeof(err)) < 0);
	CHECK(strstr(err, "command line") != NULL);
	w32(ph + 12, 0x100000);
	w16(img + 44, 0xffff);                          /* phnum beyond the file */
	CHECK(loader_multiboot(vm, img, 8192, &a, &bs, err, sizeof(err)) < 0);
	vm_close(vm);
	free(img);
}

static void test_multiboot_bad(void)
{
	struct vm *vm = vm_create_anon(MEM);
	struct loader_args a = { .kernel = "k" };
	struct vm_boot_state bs;
	size_t len;
	uint8_t *img;

	img = make_aout(&len, 0x10008, 0x200000, 0, 0x201000);    /* unknown required flag */
	CHECK(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)) < 0);
	free(img);
	img = make_aout(&len, 0x10000, 0x200000, 0x100000, 0x201000);   /* bss_end < load */
	CHECK(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)) < 0);
	free(img);
	img = make_aout(&len, 0x10000, 0x200000, 0, 0x900000);    /* entry outside */
	CHECK(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)) < 0);
	free(img);
	img = make_aout(&len, 0x10000, 0x9f000, 0, 0x9f100);      /* into the EBDA */
	CHECK(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)) < 0);
	CHECK(strstr(err, "EBDA") != NULL);
	free(img);
	img = make_aout(&len, 0x10000, 0, 0, 0x100);              /* over the IVT */
	CHECK(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)) < 0);
	CHECK(strstr(err, "IVT") != NULL);
	free(img);
	img = make_aout(&len, 0x10000, LAYOUT_MB_INFO + 0x800, 0, LAYOUT_MB_INFO + 0x900);
	CHECK(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)) < 0);
	CHECK(strstr(err, "multiboot_info") != NULL);
	free(img);
	img = make_aout(&len, 0x10000, MEM - 4096, 0, MEM - 4000); /* runs past RAM */
	CHECK(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)) < 0);
	free(img);
	img = make_aout(&len, 0x10000, 0x200000, 0, 0x201000);
	w32(img + 76, 0x100000);                                   /* header_addr < load_addr */
	CHECK(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)) < 0);
	free(img);
	img = calloc(1, 16384);
	CHECK_EQ(loader_probe(img, 16384), LOADER_NONE);
	CHECK(loader_multiboot(vm, img, 16384, &a, &bs, err, sizeof(err)) < 0);
	free(img);
	vm_close(vm);
}

/* Multiboot lets a kernel load anywhere in RAM: below 1 MiB too, where it does not cover the
 * loader's structures or the firmware areas.  The module then goes to 1 MiB. */
static void test_multiboot_low(void)
{
	struct vm *vm = vm_create_anon(MEM);
	struct loader_args a = { .kernel = "k", .initrd = initrd_path };
	struct vm_boot_state bs;
	size_t len;
	uint8_t *img = make_aout(&len, 0x10000, 0x8000, 0x8000 + 8192 + 4096, 0x9000);

	memset(gp(vm, 0x8000 + 8192, 4096), 0xee, 4096);
	CHECK_EQ(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)), 0);
	CHECK(memcmp(gp(vm, 0x8000, 8192), img, 8192) == 0);
	CHECK_EQ(*gp(vm, 0x8000 + 8192 + 100, 1), 0);
	CHECK_EQ(bs.regs.rip, 0x9000);
	{
		uint8_t *mbi = gp(vm, LAYOUT_MB_INFO, 4096);
		uint8_t *mod = gp(vm, r32(mbi + 24), 16);
		CHECK_EQ(r32(mod), LAYOUT_KERNEL_BASE);
		CHECK_STR((char *)gp(vm, r32(mbi + 16), 8), "k");
	}
	free(img);
	img = make_aout(&len, 0x10000, 0x80000, 0, 0x81000);      /* up to the EBDA: fine */
	CHECK_EQ(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)), 0);
	free(img);
	img = make_aout(&len, 0x10000, 0x8000, 0, 0x7000);        /* entry below the image */
	CHECK(loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)) < 0);
	free(img);
	vm_close(vm);
}

static void test_e820_high(void)
{
	struct vm *vm = vm_create_anon(LAYOUT_LOWMEM_LIMIT + (1ULL << 30));
	struct e820_entry m[E820_MAX];
	int n;

	if (vm == NULL)
		return;
	n = loader_e820(vm, m, E820_MAX);
	CHECK_EQ(n, 5);
	CHECK_EQ(m[2].addr + m[2].size, LAYOUT_LOWMEM_LIMIT);
	CHECK_EQ(m[4].addr, LAYOUT_HIGHMEM_BASE);
	CHECK_EQ(m[4].size, 1ULL << 30);
	CHECK_EQ(m[4].type, E820_RAM);
	vm_close(vm);
}

int main(void)
{
	uint8_t buf[10000];
	FILE *f;
	int i;

	snprintf(initrd_path, sizeof(initrd_path), "/tmp/bhyve-unit-initrd-%d", (int)getpid());
	for (i = 0; i < 10000; i++)
		buf[i] = (uint8_t)(i % 251);
	f = fopen(initrd_path, "w");
	if (f) {
		fwrite(buf, 1, sizeof(buf), f);
		fclose(f);
	}
	test_linux_ok();
	test_linux_bad();
	test_multiboot_aout();
	test_multiboot_elf();
	test_multiboot_bad();
	test_multiboot_low();
	test_e820_high();
	unlink(initrd_path);
	return unit_report("test_loader");
}
