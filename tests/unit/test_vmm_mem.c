/* VM lifetime in named shared memory, the guest memory map and vm_map_gpa's bounds. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"
#include "vmm/layout.h"
#include "vmm/vmm.h"

static char name[32];

static void test_names(void)
{
	CHECK(vm_name_valid("a"));
	CHECK(vm_name_valid("vm-1_x.y"));
	CHECK(vm_name_valid("0123456789012345678901234567890"));     /* 31 */
	CHECK(!vm_name_valid("01234567890123456789012345678901"));   /* 32 */
	CHECK(!vm_name_valid(""));
	CHECK(!vm_name_valid(NULL));
	CHECK(!vm_name_valid("-a"));
	CHECK(!vm_name_valid(".a"));
	CHECK(!vm_name_valid("a/b"));
	CHECK(!vm_name_valid("a b"));
	CHECK(!vm_name_valid("a\n"));
	CHECK(vm_create("../etc", GPA_MiB(16)) < 0 && errno == EINVAL);
}

static void test_lifetime(void)
{
	struct vm *vm, *vm2;
	struct vm_boot_state bs = { 0 }, got;
	uint8_t *p;

	vm_destroy(name);
	CHECK_EQ(vm_create(name, GPA_MiB(64)), 0);
	CHECK(vm_create(name, GPA_MiB(64)) < 0 && errno == EEXIST);
	vm = vm_open(name);
	CHECK(vm != NULL);
	if (vm == NULL)
		return;
	CHECK_STR(vm_name(vm), name);
	CHECK_EQ(vm_mem_size(vm), GPA_MiB(64));
	CHECK_EQ(vm_lowmem_size(vm), GPA_MiB(64));
	CHECK_EQ(vm_highmem_size(vm), 0);
	vm_get_boot_state(vm, &got);
	CHECK_EQ(got.valid, 0);
	bs.valid = 1;
	bs.regs.rip = 0x100200;
	bs.regs.gpr[CPU_RSI] = LAYOUT_ZERO_PAGE;
	CHECK_EQ(vm_set_boot_state(vm, &bs), 0);
	p = vm_map_gpa(vm, 0x1000, 4);
	CHECK(p != NULL);
	if (p)
		p[0] = 0x5a;

	/* A second mapping (another process would see the same) shares RAM and header. */
	vm2 = vm_open(name);
	CHECK(vm2 != NULL);
	if (vm2) {
		uint8_t *q = vm_map_gpa(vm2, 0x1000, 1);
		CHECK(q && q[0] == 0x5a);
		vm_get_boot_state(vm2, &got);
		CHECK_EQ(got.valid, 1);
		CHECK_EQ(got.regs.rip, 0x100200);
		CHECK_EQ(got.regs.gpr[CPU_RSI], LAYOUT_ZERO_PAGE);
		vm_close(vm2);
	}
	CHECK_EQ(vm_destroy(name), 0);
	/* The mapping stays valid after destroy; the name is gone. */
	CHECK(p == NULL || p[0] == 0x5a);
	vm_close(vm);
	CHECK(vm_open(name) == NULL && errno == ENOENT);
	CHECK(vm_destroy(name) < 0 && errno == ENOENT);
}

static void test_bad_sizes(void)
{
	CHECK(vm_create(name, 0) < 0 && errno == EINVAL);
	CHECK(vm_create(name, 4095) < 0);
	CHECK(vm_create(name, GPA_MiB(1) + 1) < 0);
	CHECK(vm_create(name, ~0ULL) < 0);
	CHECK(vm_create(name, 1ULL << 39) < 0);   /* 512 GiB: more than /dev/shm holds */
	CHECK(vm_open(name) == NULL);   /* nothing half-created */
}

/* An object with our name but not our header is refused, not trusted. */
static void test_foreign_object(void)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/bhyve.%s", name);
	fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	CHECK_EQ(pwrite(fd, "junkjunkjunkjunk", 16, 0), 16);
	close(fd);
	CHECK(vm_open(name) == NULL && errno == EINVAL);
	CHECK(vm_destroy(name) < 0 && errno == EINVAL);   /* not ours: left alone */
	shm_unlink(path);
}

static void test_memmap(void)
{
	uint64_t mem = GPA_GiB(4) + GPA_MiB(16), gpa[2], len[2];
	uint64_t hi = LAYOUT_HIGHMEM_BASE, low = LAYOUT_LOWMEM_LIMIT;
	struct vm *vm;

	if (vm_create(name, mem) < 0 && errno == ENOSPC) {
		printf("test_memmap: /dev/shm has less than 4 GiB free; skipped\n");
		return;
	}
	vm = vm_open(name);
	CHECK(vm != NULL);
	if (vm == NULL) {
		vm_destroy(name);
		return;
	}
	CHECK_EQ(vm_lowmem_size(vm), low);
	CHECK_EQ(vm_highmem_size(vm), GPA_GiB(1) + GPA_MiB(16));
	CHECK_EQ(vm_mem_ranges(vm, gpa, len), 2);
	CHECK_EQ(gpa[1], hi);
	CHECK(vm_map_gpa(vm, 0, 1) != NULL);
	CHECK(vm_map_gpa(vm, low - 1, 1) != NULL);
	CHECK(vm_map_gpa(vm, low - 1, 2) == NULL);          /* runs into the PCI hole */
	CHECK(vm_map_gpa(vm, low, 1) == NULL);
	CHECK(vm_map_gpa(vm, LAYOUT_LAPIC_BASE, 4) == NULL);
	CHECK(vm_map_gpa(vm, hi - 1, 2) == NULL);
	CHECK(vm_map_gpa(vm, hi, 1) != NULL);
	CHECK(vm_map_gpa(vm, hi + len[1] - 4096, 4096) != NULL);
	CHECK(vm_map_gpa(vm, hi + len[1] - 4096, 4097) == NULL);
	CHECK(vm_map_gpa(vm, hi + len[1], 1) == NULL);
	/* Hostile ranges: wrap-around and huge lengths. */
	CHECK(vm_map_gpa(vm, ~0ULL, 1) == NULL);
	CHECK(vm_map_gpa(vm, ~0ULL - 4, 16) == NULL);
	CHECK(vm_map_gpa(vm, 16, SIZE_MAX) == NULL);
	CHECK(vm_map_gpa(vm, hi + 16, SIZE_MAX - 8) == NULL);
	CHECK(vm_map_gpa(vm, 0, low + 1) == NULL);
	/* Low and high RAM are distinct memory. */
	*(uint8_t *)vm_map_gpa(vm, 0, 1) = 1;
	*(uint8_t *)vm_map_gpa(vm, hi, 1) = 2;
	CHECK_EQ(*(uint8_t *)vm_map_gpa(vm, 0, 1), 1);
	vm_close(vm);
	CHECK_EQ(vm_destroy(name), 0);
}

static void test_anon(void)
{
	struct vm *vm = vm_create_anon(GPA_MiB(2));
	struct vm_boot_state bs = { .valid = 1 }, got;

	CHECK(vm != NULL);
	if (vm == NULL)
		return;
	CHECK(vm_map_gpa(vm, GPA_MiB(2) - 1, 1) != NULL);
	CHECK(vm_map_gpa(vm, GPA_MiB(2), 1) == NULL);
	bs.regs.rip = 42;
	vm_set_boot_state(vm, &bs);
	vm_get_boot_state(vm, &got);
	CHECK_EQ(got.regs.rip, 42);
	/* The VM owns the pointers of its platform and PCI bus; the core never looks inside. */
	CHECK(vm_platform(vm) == NULL && vm_pci_bus(vm) == NULL);
	vm_set_pci_bus(vm, (struct pci_bus *)&bs);
	CHECK(vm_pci_bus(vm) == (struct pci_bus *)&bs);
	vm_set_pci_bus(vm, NULL);
	vm_close(vm);
	CHECK(vm_create_anon(12345) == NULL);
}

int main(void)
{
	snprintf(name, sizeof(name), "unit-vmm-%d", (int)getpid());
	test_names();
	test_lifetime();
	test_bad_sizes();
	test_foreign_object();
	test_memmap();
	test_anon();
	return unit_report("test_vmm_mem");
}
