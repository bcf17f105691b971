/*
 * What both direct loaders share: the e820 map of the VM, checked copies into guest RAM, file
 * reading, the boot GDT/IDT and the identity page tables, and format detection.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/loader.h"
#include "vmm/layout.h"

/* Largest kernel image we read into memory. */
#define LOADER_KERNEL_MAX (256u << 20)

static int e820_add(struct e820_entry *map, int n, int max, uint64_t a, uint64_t s, uint32_t t)
{
	if (n >= max || s == 0)
		return n;
	map[n].addr = a;
	map[n].size = s;
	map[n].type = t;
	return n + 1;
}

/* As on a PC: RAM below the EBDA, the EBDA/VGA/BIOS area reserved up to 1 MiB, RAM from 1 MiB
 * to the PCI hole, the PCIe ECAM window reserved (Linux wants MMCONFIG reserved before it uses
 * it), RAM from 4 GiB. */
int loader_e820(struct vm *vm, struct e820_entry *map, int max)
{
	uint64_t low = vm_lowmem_size(vm), high = vm_highmem_size(vm);
	int n = 0;

	n = e820_add(map, n, max, 0, low < LAYOUT_EBDA_BASE ? low : LAYOUT_EBDA_BASE, E820_RAM);
	n = e820_add(map, n, max, LAYOUT_EBDA_BASE, LAYOUT_BIOS_AREA_END - LAYOUT_EBDA_BASE,
		     E820_RESERVED);
	if (low > LAYOUT_BIOS_AREA_END)
		n = e820_add(map, n, max, LAYOUT_BIOS_AREA_END, low - LAYOUT_BIOS_AREA_END,
			     E820_RAM);
	n = e820_add(map, n, max, LAYOUT_PCI_ECAM_BASE, LAYOUT_PCI_ECAM_SIZE, E820_RESERVED);
	if (high)
		n = e820_add(map, n, max, LAYOUT_HIGHMEM_BASE, high, E820_RAM);
	return n;
}

int loader_copy_in(struct vm *vm, uint64_t gpa, const void *src, size_t len, char *err,
		   size_t errlen)
{
	void *dst;

	if (len == 0)
		return 0;
	dst = vm_map_gpa(vm, gpa, len);
	if (dst == NULL) {
		snprintf(err, errlen, "%zu bytes at 0x%llx do not fit in guest memory", len,
			 (unsigned long long)gpa);
		return -1;
	}
	memcpy(dst, src, len);
	vm_notify_write(vm, gpa, len);
	return 0;
}

int loader_zero(struct vm *vm, uint64_t gpa, size_t len, char *err, size_t errlen)
{
	void *dst;

	if (len == 0)
		return 0;
	dst = vm_map_gpa(vm, gpa, len);
	if (dst == NULL) {
		snprintf(err, errlen, "%zu bytes at 0x%llx do not fit in guest memory", len,
			 (unsigned long long)gpa);
		return -1;
	}
	memset(dst, 0, len);
	vm_notify_write(vm, gpa, len);
	return 0;
}

int64_t loader_file_size(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	return st.st_size;
}

static int loader_read_fd(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = read(fd, buf + done, len - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

uint8_t *loader_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	int64_t size = loader_file_size(path, err, errlen);
	uint8_t *buf;
	int fd;

	if (size < 0)
		return NULL;
	if (max == 0)
		max = LOADER_KERNEL_MAX;
	if ((uint64_t)size > max || size == 0) {
		snprintf(err, errlen, "%s: %s", path, size ? "file too large" : "empty file");
		return NULL;
	}
	buf = malloc((size_t)size);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (buf == NULL || fd < 0 || loader_read_fd(fd, buf, (size_t)size) < 0) {
		snprintf(err, errlen, "%s: %s", path, fd < 0 ? strerror(errno) : "read failed");
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	close(fd);
	*len = (size_t)size;
	return buf;
}

int loader_read_into(struct vm *vm, const char *path, uint64_t gpa, uint64_t size, char *err,
		     size_t errlen)
{
	uint8_t *dst = vm_map_gpa(vm, gpa, size);
	int fd, rc;

	if (dst == NULL) {
		snprintf(err, errlen, "%s does not fit in guest memory", path);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = loader_read_fd(fd, dst, size);
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen, "%s: read failed", path);
		return -1;
	}
	vm_notify_write(vm, gpa, size);
	return 0;
}

int loader_write_gdt(struct vm *vm, char *err, size_t errlen)
{
	static const uint64_t gdt[4] = {
		0,
		0x00af9b000000ffffULL,   /* 0x08: 64-bit code, DPL 0 */
		0x00cf93000000ffffULL,   /* 0x10: flat 4 GiB data */
		0x00cf9b000000ffffULL,   /* 0x18: flat 4 GiB 32-bit code */
	};
	static const uint64_t idt = 0;

	if (loader_copy_in(vm, LAYOUT_BOOT_GDT, gdt, sizeof(gdt), err, errlen) < 0)
		return -1;
	return loader_copy_in(vm, LAYOUT_BOOT_IDT, &idt, sizeof(idt), err, errlen);
}

int loader_write_pagetables(struct vm *vm, char *err, size_t errlen)
{
	uint64_t pml4[512] = { 0 }, pdpt[512] = { 0 }, pd[512];
	int i, j;

	pml4[0] = LAYOUT_BOOT_PDPT | 0x3;                     /* present, writable */
	for (i = 0; i < 4; i++) {
		pdpt[i] = (LAYOUT_BOOT_PD + 0x1000ULL * i) | 0x3;
		for (j = 0; j < 512; j++)                     /* 2 MiB pages, present, writable */
			pd[j] = (((uint64_t)i << 30) + ((uint64_t)j << 21)) | 0x83;
		if (loader_copy_in(vm, LAYOUT_BOOT_PD + 0x1000ULL * i, pd, sizeof(pd), err,
				   errlen) < 0)
			return -1;
	}
	if (loader_copy_in(vm, LAYOUT_BOOT_PML4, pml4, sizeof(pml4), err, errlen) < 0)
		return -1;
	return loader_copy_in(vm, LAYOUT_BOOT_PDPT, pdpt, sizeof(pdpt), err, errlen);
}

void loader_set_seg(struct cpu_regs *r, int seg, uint16_t sel, uint16_t attr)
{
	r->seg[seg].sel = sel;
	r->seg[seg].attr = attr;
	r->seg[seg].limit = 0xffffffffu;
	r->seg[seg].base = 0;
}

void loader_regs_base(struct cpu_regs *r)
{
	static const int data[] = { CPU_ES, CPU_SS, CPU_DS, CPU_FS, CPU_GS };
	size_t i;

	memset(r, 0, sizeof(*r));
	r->rflags = 0x2;
	for (i = 0; i < sizeof(data) / sizeof(data[0]); i++)
		loader_set_seg(r, data[i], LOADER_SEL_DATA, LOADER_ATTR_DATA);
	/* A busy 32/64-bit TSS and no LDT, as after a loader's LTR. */
	r->seg[CPU_TR].attr = 0x8b;
	r->seg[CPU_TR].limit = 0x67;
	r->seg[CPU_LDTR].attr = 0x82;
	r->gdtr.base = LAYOUT_BOOT_GDT;
	r->gdtr.limit = 4 * 8 - 1;
	r->idtr.base = LAYOUT_BOOT_IDT;
	r->idtr.limit = 7;
	r->dr[6] = 0xffff0ff0;
	r->dr[7] = 0x400;
	r->pat = 0x0007040600070406ULL;
	/* FXSAVE image: FCW = 0x37F, MXCSR = 0x1F80 (the values after FNINIT / reset). */
	r->fx.bytes[0] = 0x7f;
	r->fx.bytes[1] = 0x03;
	r->fx.bytes[24] = 0x80;
	r->fx.bytes[25] = 0x1f;
}

enum loader_kind loader_probe(const uint8_t *img, size_t len)
{
	size_t off;

	if (len >= 0x206 && img[0x1fe] == 0x55 && img[0x1ff] == 0xaa &&
	    memcmp(img + 0x202, "HdrS", 4) == 0)
		return LOADER_LINUX;
	for (off = 0; off + 12 <= len && off < 8192; off += 4) {
		uint32_t m, f, c;
		memcpy(&m, img + off, 4);
		memcpy(&f, img + off + 4, 4);
		memcpy(&c, img + off + 8, 4);
		if (m == 0x1badb002 && (uint32_t)(m + f + c) == 0)
			return LOADER_MULTIBOOT;
	}
	return LOADER_NONE;
}

int loader_load(struct vm *vm, const struct loader_args *a, struct vm_boot_state *bs,
		enum loader_kind *kind, char *err, size_t errlen)
{
	size_t len;
	uint8_t *img = loader_read_file(a->kernel, 0, &len, err, errlen);
	enum loader_kind k;
	int rc;

	if (img == NULL)
		return -1;
	k = loader_probe(img, len);
	if (kind)
		*kind = k;
	if (k == LOADER_LINUX)
		rc = loader_linux(vm, img, len, a, bs, err, errlen);
	else if (k == LOADER_MULTIBOOT)
		rc = loader_multiboot(vm, img, len, a, bs, err, errlen);
	else {
		snprintf(err, errlen, "%s: neither a Linux bzImage nor a Multiboot kernel",
			 a->kernel);
		rc = -1;
	}
	free(img);
	return rc;
}
