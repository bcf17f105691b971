/*
 * Multiboot v1 loader (Multiboot Specification 0.6.96): a header in the first 8 KiB, the image
 * loaded by its a.out-kludge addresses (flag 16) or its ELF32 program headers, the initrd as
 * the one module, and multiboot_info with memory sizes, command line, modules and the memory
 * map.  Entry: 32-bit protected mode, paging off, EAX = 0x2BADB002, EBX = multiboot_info.
 */
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "loader/loader.h"
#include "vmm/layout.h"

#define MB_MAGIC          0x1badb002u
#define MB_BOOT_MAGIC     0x2badb002u
#define MB_SEARCH         8192
#define MB_F_PAGE_ALIGN   (1u << 0)
#define MB_F_MEMINFO      (1u << 1)
#define MB_F_VIDEO        (1u << 2)
#define MB_F_AOUT         (1u << 16)
#define MB_F_KNOWN        (MB_F_PAGE_ALIGN | MB_F_MEMINFO | MB_F_VIDEO)

/* multiboot_info flags */
#define MBI_MEM           (1u << 0)
#define MBI_CMDLINE       (1u << 2)
#define MBI_MODS          (1u << 3)
#define MBI_MMAP          (1u << 6)
#define MBI_LOADER_NAME   (1u << 9)

/* Where the pieces of multiboot_info go, from LAYOUT_MB_INFO (one 4 KiB page). */
#define MBI_OFF_MMAP      0x100
#define MBI_OFF_MODS      0x400
#define MBI_OFF_MODSTR    0x410
#define MBI_OFF_NAME      0x500
#define MBI_SIZE          0x1000

/* What a kernel segment may not overwrite: the loader's own structures and the areas the
 * firmware tables and a PC's BIOS own.  Anything else inside guest RAM is the kernel's, below
 * 1 MiB too, as the Multiboot specification allows. */
struct mb_reserved {
	uint64_t base, end;
	const char *what;
};

static const struct mb_reserved mb_reserved[] = {
	{ 0, LAYOUT_BOOT_GDT, "the real-mode IVT and BIOS data area" },
	{ LAYOUT_BOOT_GDT, LAYOUT_BOOT_IDT + 8, "the loader's boot GDT and IDT" },
	{ LAYOUT_CMDLINE, LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX, "the loader's command line" },
	{ LAYOUT_MB_INFO, LAYOUT_MB_INFO + 0x1000, "the loader's multiboot_info" },
	{ LAYOUT_EBDA_BASE, LAYOUT_BIOS_AREA_END,
	  "the firmware areas (EBDA, VGA window, BIOS area with the ACPI/MP/SMBIOS tables)" },
};

struct mb_image {
	const uint8_t *img;
	size_t len;
	size_t hdr_off;
	uint32_t flags;
	uint64_t entry;
	uint64_t start;          /* lowest guest address used by the image */
	uint64_t end;            /* highest guest address used by the image (+ bss) */
};


static int mb_find_header(struct mb_image *mb, char *err, size_t errlen)
{
	size_t off;

	for (off = 0; off + 12 <= mb->len && off < MB_SEARCH; off += 4) {
		uint32_t m = le32dec(mb->img + off), f = le32dec(mb->img + off + 4);
		if (m == MB_MAGIC && (uint32_t)(m + f + le32dec(mb->img + off + 8)) == 0) {
			mb->hdr_off = off;
			mb->flags = f;
			if ((f & 0xffff) & ~MB_F_KNOWN) {
				snprintf(err, errlen, "Multiboot header asks for features this loader "
					 "lacks (flags 0x%x)", f);
				return -1;
			}
			return 0;
		}
	}
	snprintf(err, errlen, "no Multiboot header in the first 8 KiB");
	return -1;
}

static int mb_check_reserved(uint64_t gpa, uint64_t memsz, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(mb_reserved) / sizeof(mb_reserved[0]); i++) {
		const struct mb_reserved *r = &mb_reserved[i];
		if (memsz && gpa < r->end && gpa + memsz > r->base) {
			snprintf(err, errlen, "Multiboot image: segment at 0x%llx (+0x%llx) overlaps "
				 "%s (0x%llx-0x%llx)", (unsigned long long)gpa,
				 (unsigned long long)memsz, r->what, (unsigned long long)r->base,
				 (unsigned long long)(r->end - 1));
			return -1;
		}
	}
	return 0;
}

/* Copy file [off, off+filesz) to gpa and zero up to memsz; all checked. */
static int mb_load_segment(struct vm *vm, struct mb_image *mb, uint64_t off, uint64_t filesz,
			   uint64_t gpa, uint64_t memsz, char *err, size_t errlen)
{
	if (filesz > memsz || off > mb->len || filesz > mb->len - off) {
		snprintf(err, errlen, "Multiboot image: segment lies outside the file");
		return -1;
	}
	if (memsz > vm_lowmem_size(vm) || gpa > vm_lowmem_size(vm) - memsz) {
		snprintf(err, errlen, "Multiboot image: segment at 0x%llx (+0x%llx) is outside "
			 "guest RAM below %llu MiB", (unsigned long long)gpa,
			 (unsigned long long)memsz, (unsigned long long)(vm_lowmem_size(vm) >> 20));
		return -1;
	}
	if (mb_check_reserved(gpa, memsz, err, errlen) < 0)
		return -1;
	if (loader_copy_in(vm, gpa, mb->img + off, filesz, err, errlen) < 0 ||
	    loader_zero(vm, gpa + filesz, memsz - filesz, err, errlen) < 0)
		return -1;
	if (gpa + memsz > mb->end)
		mb->end = gpa + memsz;
	if (gpa < mb->start)
		mb->start = gpa;
	return 0;
}

/* a.out kludge: header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr. */
static int mb_load_aout(struct vm *vm, struct mb_image *mb, char *err, size_t errlen)
{
	const uint8_t *h = mb->img + mb->hdr_off;
	uint32_t header_addr, load_addr, load_end, bss_end;
	uint64_t off, filesz, memsz;

	if (mb->hdr_off + 32 > mb->len) {
		snprintf(err, errlen, "Multiboot header truncated");
		return -1;
	}
	header_addr = le32dec(h + 12);
	load_addr = le32dec(h + 16);
	load_end = le32dec(h + 20);
	bss_end = le32dec(h + 24);
	mb->entry = le32dec(h + 28);
	if (header_addr < load_addr || header_addr - load_addr > mb->hdr_off) {
		snprintf(err, errlen, "Multiboot header: header_addr/load_addr inconsistent");
		return -1;
	}
	off = mb->hdr_off - (header_addr - load_addr);
	filesz = load_end ? (uint64_t)load_end - load_addr : mb->len - off;
	if (load_end && load_end < load_addr) {
		snprintf(err, errlen, "Multiboot header: load_end_addr below load_addr");
		return -1;
	}
	memsz = filesz;
	if (bss_end) {
		if (bss_end < load_addr + filesz) {
			snprintf(err, errlen, "Multiboot header: bss_end_addr below the image end");
			return -1;
		}
		memsz = (uint64_t)bss_end - load_addr;
	}
	return mb_load_segment(vm, mb, off, filesz, load_addr, memsz, err, errlen);
}

/* ELF32 executable for i386: every PT_LOAD at its physical address. */
static int mb_load_elf(struct vm *vm, struct mb_image *mb, char *err, size_t errlen)
{
	const uint8_t *e = mb->img;
	uint32_t phoff;
	uint16_t phentsize, phnum, i;
	int loaded = 0;

	if (mb->len < 52 || memcmp(e, "\177ELF", 4) != 0 || e[4] != 1 || e[5] != 1 ||
	    le16dec(e + 16) != 2 || le16dec(e + 18) != 3) {
		snprintf(err, errlen, "Multiboot kernel is neither a.out-kludge nor ELF32 i386");
		return -1;
	}
	mb->entry = le32dec(e + 24);
	phoff = le32dec(e + 28);
	phentsize = le16dec(e + 42);
	phnum = le16dec(e + 44);
	if (phentsize < 32 || phoff > mb->len || (uint64_t)phnum * phentsize > mb->len - phoff) {
		snprintf(err, errlen, "ELF program headers lie outside the file");
		return -1;
	}
	for (i = 0; i < phnum; i++) {
		const uint8_t *ph = e + phoff + (size_t)i * phentsize;
		if (le32dec(ph) != 1)   /* PT_LOAD */
			continue;
		if (mb_load_segment(vm, mb, le32dec(ph + 4), le32dec(ph + 16), le32dec(ph + 12),
				    le32dec(ph + 20), err, errlen) < 0)
			return -1;
		loaded++;
	}
	if (!loaded) {
		snprintf(err, errlen, "ELF kernel has no loadable segment");
		return -1;
	}
	return 0;
}

/* The initrd as module 0, page-aligned after the kernel, and at 1 MiB or above, clear of the
 * loader's structures and the firmware areas when the kernel itself lies below 1 MiB. */
static int mb_module(struct vm *vm, struct mb_image *mb, const struct loader_args *a,
		     uint8_t *mbi, char *err, size_t errlen)
{
	uint64_t start = (mb->end + 0xfff) & ~0xfffULL;
	if (start < LAYOUT_KERNEL_BASE)
		start = LAYOUT_KERNEL_BASE;
	int64_t size;
	size_t n;

	le32enc(mbi + 20, 0);
	le32enc(mbi + 24, (uint32_t)(LAYOUT_MB_INFO + MBI_OFF_MODS));
	if (a->initrd == NULL)
		return 0;
	size = loader_file_size(a->initrd, err, errlen);
	if (size < 0)
		return -1;
	if ((uint64_t)size > vm_lowmem_size(vm) || start > vm_lowmem_size(vm) - (uint64_t)size) {
		snprintf(err, errlen, "the module %s does not fit in guest memory", a->initrd);
		return -1;
	}
	if (loader_read_into(vm, a->initrd, start, (uint64_t)size, err, errlen) < 0)
		return -1;
	le32enc(mbi + MBI_OFF_MODS, (uint32_t)start);
	le32enc(mbi + MBI_OFF_MODS + 4, (uint32_t)(start + (uint64_t)size));
	le32enc(mbi + MBI_OFF_MODS + 8, (uint32_t)(LAYOUT_MB_INFO + MBI_OFF_MODSTR));
	n = strlen(a->initrd);
	if (n > MBI_OFF_NAME - MBI_OFF_MODSTR - 1)
		n = MBI_OFF_NAME - MBI_OFF_MODSTR - 1;
	memcpy(mbi + MBI_OFF_MODSTR, a->initrd, n);
	le32enc(mbi + 20, 1);
	return 0;
}

static void mb_mmap(struct vm *vm, uint8_t *mbi)
{
	struct e820_entry map[E820_MAX];
	int n = loader_e820(vm, map, E820_MAX), i;
	uint8_t *p = mbi + MBI_OFF_MMAP;

	for (i = 0; i < n; i++, p += 24) {
		le32enc(p, 20);          /* size of the rest of the entry */
		memcpy(p + 4, &map[i].addr, 8);
		memcpy(p + 12, &map[i].size, 8);
		le32enc(p + 20, map[i].type);
	}
	le32enc(mbi + 44, (uint32_t)(24 * n));
	le32enc(mbi + 48, (uint32_t)(LAYOUT_MB_INFO + MBI_OFF_MMAP));
}

/* Command line: "<kernel name> <args>", as GRUB and QEMU pass it. */
static int mb_cmdline(struct vm *vm, const struct loader_args *a, char *err, size_t errlen)
{
	const char *k = a->kernel ? a->kernel : "kernel", *slash = strrchr(k, '/');
	char buf[LAYOUT_CMDLINE_MAX];
	int n;

	n = snprintf(buf, sizeof(buf), "%s%s%s", slash ? slash + 1 : k,
		     a->cmdline && *a->cmdline ? " " : "", a->cmdline ? a->cmdline : "");
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		snprintf(err, errlen, "kernel command line too long (at most %d bytes)",
			 LAYOUT_CMDLINE_MAX - 1);
		return -1;
	}
	return loader_copy_in(vm, LAYOUT_CMDLINE, buf, (size_t)n + 1, err, errlen);
}

static int mb_info(struct vm *vm, struct mb_image *mb, const struct loader_args *a, char *err,
		   size_t errlen)
{
	uint8_t *mbi = calloc(1, MBI_SIZE);
	uint64_t upper = vm_lowmem_size(vm) > LAYOUT_KERNEL_BASE ?
		(vm_lowmem_size(vm) - LAYOUT_KERNEL_BASE) >> 10 : 0;
	int rc = -1;

	if (mbi == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	le32enc(mbi, MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME);
	le32enc(mbi + 4, (uint32_t)(LAYOUT_EBDA_BASE >> 10));   /* 639 KiB */
	le32enc(mbi + 8, (uint32_t)upper);
	le32enc(mbi + 12, 0xffffffffu);                       /* no BIOS boot device */
	le32enc(mbi + 16, (uint32_t)LAYOUT_CMDLINE);
	le32enc(mbi + 64, (uint32_t)(LAYOUT_MB_INFO + MBI_OFF_NAME));
	memcpy(mbi + MBI_OFF_NAME, "bhyveload", 10);
	mb_mmap(vm, mbi);
	if (mb_cmdline(vm, a, err, errlen) == 0 && mb_module(vm, mb, a, mbi, err, errlen) == 0 &&
	    loader_copy_in(vm, LAYOUT_MB_INFO, mbi, MBI_SIZE, err, errlen) == 0)
		rc = 0;
	free(mbi);
	return rc;
}

/* 32-bit protected mode, paging off, flat segments; EAX/EBX per the specification. */
static void mb_entry_state(const struct mb_image *mb, struct cpu_regs *r)
{
	loader_regs_base(r);
	loader_set_seg(r, CPU_CS, LOADER_SEL_CODE32, LOADER_ATTR_CODE32);
	r->cr0 = 0x11;             /* PE | ET */
	r->rip = mb->entry;
	r->gpr[CPU_RAX] = MB_BOOT_MAGIC;
	r->gpr[CPU_RBX] = LAYOUT_MB_INFO;
}

int loader_multiboot(struct vm *vm, const uint8_t *img, size_t len, const struct loader_args *a,
		     struct vm_boot_state *bs, char *err, size_t errlen)
{
	struct mb_image mb = { .img = img, .len = len, .start = UINT64_MAX };

	if (mb_find_header(&mb, err, errlen) < 0)
		return -1;
	if ((mb.flags & MB_F_AOUT) ? mb_load_aout(vm, &mb, err, errlen) :
				     mb_load_elf(vm, &mb, err, errlen))
		return -1;
	if (mb.entry < mb.start || mb.entry >= mb.end) {
		snprintf(err, errlen, "Multiboot entry point 0x%llx is outside the loaded image",
			 (unsigned long long)mb.entry);
		return -1;
	}
	if (mb_info(vm, &mb, a, err, errlen) < 0 || loader_write_gdt(vm, err, errlen) < 0)
		return -1;
	memset(bs, 0, sizeof(*bs));
	bs->valid = 1;
	mb_entry_state(&mb, &bs->regs);
	if (a->log)
		fprintf(a->log, "bhyveload: Multiboot kernel %s, entry 0x%llx\n",
			a->kernel ? a->kernel : "", (unsigned long long)mb.entry);
	return 0;
}
