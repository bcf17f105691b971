/*
 * Linux bzImage loader, 64-bit boot protocol (Documentation/arch/x86/boot.rst).
 *
 * The real-mode setup code is not run: the loader fills the zero page (boot_params) itself,
 * puts the protected-mode part of the image at 1 MiB and enters it at load address + 0x200 in
 * 64-bit mode with identity-mapped paging, RSI pointing at the zero page.
 */
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "loader/loader.h"
#include "vmm/layout.h"

/* Offsets in the image / in boot_params (the setup header sits at the same place in both). */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES      0x1e8
#define BP_E820_TABLE        0x2d0
#define BP_E820_MAX          128
#define HDR_START            0x1f1
#define HDR_SETUP_SECTS      0x1f1
#define HDR_VID_MODE         0x1fa
#define HDR_BOOT_FLAG        0x1fe
#define HDR_JUMP             0x200
#define HDR_MAGIC            0x202
#define HDR_VERSION          0x206
#define HDR_TYPE_OF_LOADER   0x210
#define HDR_LOADFLAGS        0x211
#define HDR_RAMDISK_IMAGE    0x218
#define HDR_RAMDISK_SIZE     0x21c
#define HDR_CMD_LINE_PTR     0x228
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_XLOADFLAGS       0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_PREF_ADDRESS     0x258
#define HDR_INIT_SIZE        0x260

#define LOADED_HIGH          0x01
#define XLF_KERNEL_64        0x01
#define LINUX_MIN_VERSION    0x020c   /* 2.12: xloadflags */
#define LINUX_64BIT_ENTRY    0x200

struct linux_image {
	const uint8_t *img;
	size_t len;
	size_t setup_len;          /* real-mode part: (setup_sects + 1) * 512 */
	size_t hdr_end;            /* end of the setup header in the image */
	uint64_t load;             /* where the protected-mode part goes */
	uint64_t kernel_end;       /* end of what the kernel occupies while it decompresses */
	uint32_t initrd_max;
	uint32_t cmdline_max;
};


/* Check the setup header; fill in the image's geometry. */
static int linux_parse(struct linux_image *li, struct vm *vm, char *err, size_t errlen)
{
	const uint8_t *img = li->img;
	unsigned sects;
	uint64_t pref, init_size, end;

	if (li->len < 0x270 || le16dec(img + HDR_BOOT_FLAG) != 0xaa55 ||
	    memcmp(img + HDR_MAGIC, "HdrS", 4) != 0) {
		snprintf(err, errlen, "not a Linux bzImage (no setup header)");
		return -1;
	}
	if (le16dec(img + HDR_VERSION) < LINUX_MIN_VERSION) {
		snprintf(err, errlen, "boot protocol %u.%02u is too old (2.12 or later needed)",
			 img[HDR_VERSION + 1], img[HDR_VERSION]);
		return -1;
	}
	if (!(le16dec(img + HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
		snprintf(err, errlen, "the kernel has no 64-bit entry point (XLF_KERNEL_64)");
		return -1;
	}
	if (!(img[HDR_LOADFLAGS] & LOADED_HIGH)) {
		snprintf(err, errlen, "not a bzImage (zImage loaded low is not supported)");
		return -1;
	}
	sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	li->setup_len = ((size_t)sects + 1) * 512;
	li->hdr_end = 0x202 + (size_t)img[HDR_JUMP + 1];
	if (li->setup_len >= li->len || li->hdr_end > li->setup_len || li->hdr_end > 0x1000) {
		snprintf(err, errlen, "bzImage is truncated or its setup header is malformed");
		return -1;
	}
	li->load = LAYOUT_KERNEL_BASE;
	pref = le64dec(img + HDR_PREF_ADDRESS);
	init_size = le32dec(img + HDR_INIT_SIZE);
	/* The decompressor runs in place at the load address, then writes the kernel at
	 * pref_address (LOAD_PHYSICAL_ADDR) or above; both regions must be RAM. */
	end = li->load + (li->len - li->setup_len);
	if (pref >= li->load && pref < LAYOUT_LOWMEM_LIMIT && pref + init_size > end)
		end = pref + init_size;
	else if (li->load + init_size > end)
		end = li->load + init_size;
	li->kernel_end = end;
	if (end > vm_lowmem_size(vm)) {
		snprintf(err, errlen, "guest memory too small for this kernel (needs %llu MiB)",
			 (unsigned long long)((end + (1 << 20) - 1) >> 20));
		return -1;
	}
	li->initrd_max = le32dec(img + HDR_INITRD_ADDR_MAX);
	if (li->initrd_max == 0)
		li->initrd_max = 0x37ffffff;   /* protocol < 2.03 default */
	li->cmdline_max = le32dec(img + HDR_CMDLINE_SIZE);
	if (li->cmdline_max == 0 || li->cmdline_max > LAYOUT_CMDLINE_MAX - 1)
		li->cmdline_max = LAYOUT_CMDLINE_MAX - 1;
	return 0;
}

/* Highest page-aligned place below initrd_addr_max and the end of low RAM, above the kernel. */
static int linux_place_initrd(struct linux_image *li, struct vm *vm, uint64_t size,
			      uint64_t *gpa, char *err, size_t errlen)
{
	uint64_t top = (uint64_t)li->initrd_max + 1;

	if (top > vm_lowmem_size(vm))
		top = vm_lowmem_size(vm);
	if (size > top || ((top - size) & ~0xfffULL) < li->kernel_end) {
		snprintf(err, errlen, "the initrd (%llu bytes) does not fit in guest memory "
			 "below 0x%llx next to the kernel", (unsigned long long)size,
			 (unsigned long long)top);
		return -1;
	}
	*gpa = (top - size) & ~0xfffULL;
	return 0;
}

static void linux_fill_e820(struct vm *vm, uint8_t *zp)
{
	struct e820_entry map[E820_MAX];
	int n = loader_e820(vm, map, E820_MAX), i;

	for (i = 0; i < n && i < BP_E820_MAX; i++) {
		uint8_t *e = zp + BP_E820_TABLE + 20 * i;
		memcpy(e, &map[i].addr, 8);
		memcpy(e + 8, &map[i].size, 8);
		memcpy(e + 16, &map[i].type, 4);
	}
	zp[BP_E820_ENTRIES] = (uint8_t)i;
}

static int linux_cmdline(struct linux_image *li, struct vm *vm, const char *cmdline,
			 uint8_t *zp, char *err, size_t errlen)
{
	size_t n = cmdline ? strlen(cmdline) : 0;

	if (n > li->cmdline_max) {
		snprintf(err, errlen, "kernel command line too long (%zu bytes, at most %u)", n,
			 li->cmdline_max);
		return -1;
	}
	if (loader_zero(vm, LAYOUT_CMDLINE, LAYOUT_CMDLINE_MAX, err, errlen) < 0 ||
	    loader_copy_in(vm, LAYOUT_CMDLINE, cmdline ? cmdline : "", n, err, errlen) < 0)
		return -1;
	le32enc(zp + HDR_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	le32enc(zp + BP_EXT_CMD_LINE_PTR, 0);
	return 0;
}

static int linux_initrd(struct linux_image *li, struct vm *vm, const char *path, uint8_t *zp,
			char *err, size_t errlen)
{
	int64_t size;
	uint64_t gpa;

	if (path == NULL)
		return 0;
	size = loader_file_size(path, err, errlen);
	if (size < 0 || linux_place_initrd(li, vm, (uint64_t)size, &gpa, err, errlen) < 0 ||
	    loader_read_into(vm, path, gpa, (uint64_t)size, err, errlen) < 0)
		return -1;
	le32enc(zp + HDR_RAMDISK_IMAGE, (uint32_t)gpa);
	le32enc(zp + HDR_RAMDISK_SIZE, (uint32_t)size);
	le32enc(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(gpa >> 32));
	le32enc(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)size >> 32));
	return 0;
}

/* 64-bit mode, paging on with the identity map, flat segments, RSI = zero page. */
static void linux_entry_state(const struct linux_image *li, struct cpu_regs *r)
{
	loader_regs_base(r);
	loader_set_seg(r, CPU_CS, LOADER_SEL_CODE64, LOADER_ATTR_CODE64);
	r->cr0 = 0x80000033;       /* PG | NE | ET | MP | PE */
	r->cr4 = 0x20;             /* PAE */
	r->cr3 = LAYOUT_BOOT_PML4;
	r->efer = 0x500;           /* LME | LMA */
	r->rip = li->load + LINUX_64BIT_ENTRY;
	r->gpr[CPU_RSI] = LAYOUT_ZERO_PAGE;
	r->gpr[CPU_RSP] = LAYOUT_BOOT_STACK;
	r->gpr[CPU_RBP] = LAYOUT_BOOT_STACK;
}

int loader_linux(struct vm *vm, const uint8_t *img, size_t len, const struct loader_args *a,
		 struct vm_boot_state *bs, char *err, size_t errlen)
{
	struct linux_image li = { .img = img, .len = len };
	uint8_t *zp;
	int rc = -1;

	if (linux_parse(&li, vm, err, errlen) < 0)
		return -1;
	zp = calloc(1, 4096);
	if (zp == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(zp + HDR_START, img + HDR_START, li.hdr_end - HDR_START);
	zp[HDR_TYPE_OF_LOADER] = 0xff;            /* "undefined" boot loader */
	le16enc(zp + HDR_VID_MODE, 0xffff);          /* "normal" */
	if (loader_copy_in(vm, li.load, img + li.setup_len, len - li.setup_len, err, errlen) < 0 ||
	    linux_cmdline(&li, vm, a->cmdline, zp, err, errlen) < 0 ||
	    linux_initrd(&li, vm, a->initrd, zp, err, errlen) < 0)
		goto out;
	linux_fill_e820(vm, zp);
	if (loader_copy_in(vm, LAYOUT_ZERO_PAGE, zp, 4096, err, errlen) < 0 ||
	    loader_write_gdt(vm, err, errlen) < 0 || loader_write_pagetables(vm, err, errlen) < 0)
		goto out;
	memset(bs, 0, sizeof(*bs));
	bs->valid = 1;
	linux_entry_state(&li, &bs->regs);
	if (a->log)
		fprintf(a->log, "bhyveload: Linux kernel %s (%zu bytes) at 0x%llx, entry 0x%llx\n",
			a->kernel ? a->kernel : "", len - li.setup_len,
			(unsigned long long)li.load, (unsigned long long)bs->regs.rip);
	rc = 0;
out:
	free(zp);
	return rc;
}
