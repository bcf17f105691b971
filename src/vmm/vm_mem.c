/*
 * VM lifetime and guest memory.
 *
 * A VM is a POSIX shared-memory object "/bhyve.<name>": a header (magic, sizes, the boot vCPU
 * state from the loader) followed by guest RAM.  bhyveload creates and fills it, bhyve maps it
 * and runs it, bhyvectl inspects or removes it, as vmm.ko's /dev/vmm/<name> on FreeBSD.
 *
 * Guest-physical layout, as on a PC and as bhyve does it: RAM from 0 up to the 32-bit PCI hole
 * at LAYOUT_LOWMEM_LIMIT (3 GiB); whatever does not fit there starts at 4 GiB.  In the object
 * the two parts are contiguous (low RAM, then high RAM).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/parse.h"
#include "vmm/layout.h"
#include "vmm/vm_internal.h"

/* Largest RAM we accept (the object is sparse; this only bounds arithmetic and mappings). */
#define VM_MEM_MAX   GPA_GiB(1024)
#define VM_MEM_MIN   GPA_MiB(1)

/* The rule every program applies to VM names (src/common/parse.c). */
bool vm_name_valid(const char *name)
{
	return parse_vmname_valid(name);
}

static int vm_shm_path(const char *name, char *buf, size_t len)
{
	if (!vm_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(buf, len, "%s%s", VM_SHM_PREFIX, name);
	return 0;
}

static void vm_split_mem(uint64_t memsize, uint64_t *low, uint64_t *high)
{
	*low = memsize < LAYOUT_LOWMEM_LIMIT ? memsize : LAYOUT_LOWMEM_LIMIT;
	*high = memsize - *low;
}

static int vm_memsize_ok(uint64_t memsize)
{
	if (memsize < VM_MEM_MIN || memsize > VM_MEM_MAX || (memsize & 0xfff) != 0) {
		errno = EINVAL;
		return 0;
	}
	return 1;
}

static void vm_header_init(struct vm_shm_header *h, const char *name, uint64_t memsize)
{
	memset(h, 0, sizeof(*h));
	h->version = VM_SHM_VERSION;
	h->hdr_size = VM_SHM_HDR_SIZE;
	h->regs_size = sizeof(struct cpu_regs);
	h->memsize = memsize;
	vm_split_mem(memsize, &h->lowmem, &h->highmem);
	snprintf(h->name, sizeof(h->name), "%s", name ? name : "");
}

_Static_assert(sizeof(struct vm_shm_header) <= VM_SHM_HDR_SIZE, "shm header too big");

/* Guest RAM in /dev/shm is sparse, but a page the guest touches when tmpfs is full kills the
 * process with SIGBUS: refuse a VM that could never be fully backed. */
static int vm_shm_room(uint64_t memsize)
{
	struct statvfs sv;

	if (statvfs("/dev/shm", &sv) < 0)
		return 0;   /* not mounted where we look: let shm_open decide */
	if ((uint64_t)sv.f_bavail * sv.f_frsize < memsize + VM_SHM_HDR_SIZE) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

int vm_create(const char *name, uint64_t memsize)
{
	char path[64];
	struct vm_shm_header *h;
	int fd, saved;

	if (vm_shm_path(name, path, sizeof(path)) < 0 || !vm_memsize_ok(memsize) ||
	    vm_shm_room(memsize) < 0)
		return -1;
	fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)(VM_SHM_HDR_SIZE + memsize)) < 0)
		goto fail;
	h = mmap(NULL, VM_SHM_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		goto fail;
	vm_header_init(h, name, memsize);
	/* The magic goes in last: an object without it is not a (complete) VM. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	memcpy(h->magic, VM_SHM_MAGIC, sizeof(h->magic));
	munmap(h, VM_SHM_HDR_SIZE);
	close(fd);
	return 0;
fail:
	saved = errno;
	close(fd);
	shm_unlink(path);
	errno = saved;
	return -1;
}

static int vm_header_check(const struct vm_shm_header *h, uint64_t objsize)
{
	uint64_t low, high;

	if (memcmp(h->magic, VM_SHM_MAGIC, sizeof(h->magic)) != 0 ||
	    h->version != VM_SHM_VERSION || h->hdr_size != VM_SHM_HDR_SIZE ||
	    h->regs_size != sizeof(struct cpu_regs) || !vm_memsize_ok(h->memsize) ||
	    objsize < VM_SHM_HDR_SIZE + h->memsize)
		return -1;
	vm_split_mem(h->memsize, &low, &high);
	return (low == h->lowmem && high == h->highmem) ? 0 : -1;
}

/* Every struct vm and its per-VM parts are made here (vm_open, vm_create_anon). */
static void vm_free(struct vm *vm)
{
	if (vm->clk)
		vclock_destroy(vm->clk);
	if (vm->io)
		inout_table_destroy(vm->io);
	if (vm->mmio)
		mmio_table_destroy(vm->mmio);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->done_cond);
	free(vm->anon_hdr);
	free(vm);
}

static struct vm *vm_alloc(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (vm == NULL)
		return NULL;
	vm->shm_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->done_cond, NULL);
	atomic_store(&vm->suspend_how, VM_SUSPEND_NONE);
	vm->disp_epoch = 1;
	vm->io = inout_table_create();
	vm->mmio = mmio_table_create();
	vm->clk = vclock_create(vm);
	if (!vm->io || !vm->mmio || !vm->clk) {
		vm_free(vm);
		errno = ENOMEM;
		return NULL;
	}
	return vm;
}

/* Only the caller's own VM is opened, and only one no other user can reach: an object another
 * user made, or may read or write, could run that user's guest with the caller's disks and
 * network, or give away the caller's guest RAM.  Root is held to the same rule. */
static int vm_object_private(const struct stat *st)
{
	if (st->st_uid != geteuid()) {
		errno = EPERM;
		return -1;
	}
	if ((st->st_mode & 077) != 0 || !S_ISREG(st->st_mode)) {
		errno = EACCES;
		return -1;
	}
	return 0;
}

const char *vm_open_strerror(int err)
{
	switch (err) {
	case EPERM:
		return "belongs to another user (a VM is opened only by its owner)";
	case EACCES:
		return "is accessible to other users (its object in /dev/shm must have mode 0600)";
	case EINVAL:
		return "is not a valid bhyve VM object";
	case ENOENT:
		return "does not exist";
	default:
		return strerror(err);
	}
}

static int vm_map_object(struct vm *vm, int fd)
{
	struct vm_shm_header h;
	struct stat st;

	if (fstat(fd, &st) < 0 || vm_object_private(&st) < 0)
		return -1;
	/* The size is checked before mapping: a page beyond the end would be SIGBUS. */
	if ((uint64_t)st.st_size < VM_SHM_HDR_SIZE ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    vm_header_check(&h, (uint64_t)st.st_size) < 0) {
		errno = EINVAL;   /* not one of ours, or from another version */
		return -1;
	}
	vm->map_len = VM_SHM_HDR_SIZE + h.memsize;
	vm->map = mmap(NULL, vm->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		       fd, 0);
	if (vm->map == MAP_FAILED) {
		vm->map = NULL;
		return -1;
	}
	vm->hdr = (struct vm_shm_header *)vm->map;
	vm->ram = vm->map + VM_SHM_HDR_SIZE;
	vm->memsize = h.memsize;
	vm->lowmem = h.lowmem;
	vm->highmem = h.highmem;
	return 0;
}

struct vm *vm_open(const char *name)
{
	char path[64];
	struct vm *vm;
	int fd, saved;

	if (vm_shm_path(name, path, sizeof(path)) < 0)
		return NULL;
	fd = shm_open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK, 0);
	if (fd < 0) {
		if (errno == EACCES)
			errno = EPERM;   /* another user's object, closed to us */
		return NULL;
	}
	vm = vm_alloc();
	if (vm == NULL || vm_map_object(vm, fd) < 0) {
		saved = errno;
		close(fd);
		if (vm)
			vm_free(vm);
		errno = saved;
		return NULL;
	}
	vm->shm_fd = fd;
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	return vm;
}

struct vm *vm_create_anon(uint64_t memsize)
{
	struct vm *vm;

	if (!vm_memsize_ok(memsize))
		return NULL;
	vm = vm_alloc();
	if (vm == NULL)
		return NULL;
	vm->anon_hdr = calloc(1, sizeof(*vm->anon_hdr));
	vm->map_len = memsize;
	vm->map = mmap(NULL, memsize, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->anon_hdr == NULL || vm->map == MAP_FAILED) {
		if (vm->map != MAP_FAILED && vm->map != NULL)
			munmap(vm->map, memsize);
		vm_free(vm);
		errno = ENOMEM;
		return NULL;
	}
	vm_header_init(vm->anon_hdr, "", memsize);
	memcpy(vm->anon_hdr->magic, VM_SHM_MAGIC, sizeof(vm->anon_hdr->magic));
	vm->ram = vm->map;
	vm->memsize = memsize;
	vm->lowmem = vm->anon_hdr->lowmem;
	vm->highmem = vm->anon_hdr->highmem;
	snprintf(vm->name, sizeof(vm->name), "anon");
	return vm;
}

int vm_destroy(const char *name)
{
	char path[64];
	struct vm_shm_header h;
	struct stat st;
	int fd;

	if (vm_shm_path(name, path, sizeof(path)) < 0)
		return -1;
	/* Only remove objects that are ours (a stray /dev/shm/bhyve.x of another program stays). */
	fd = shm_open(path, O_RDONLY, 0);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < sizeof(h) ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(h.magic, VM_SHM_MAGIC, sizeof(h.magic)) != 0) {
		/* An object we began but never finished (no magic) is ours too: size 0 or zeros. */
		bool empty = st.st_size == 0 || (uint64_t)st.st_size < sizeof(h) ||
			     h.magic[0] == '\0';
		close(fd);
		if (!empty) {
			errno = EINVAL;
			return -1;
		}
		return shm_unlink(path);
	}
	close(fd);
	return shm_unlink(path);
}

void vm_close(struct vm *vm)
{
	if (vm == NULL)
		return;
	if (vm->ctl_stop)
		vm->ctl_stop(vm);
	if (vm->vcpus_fini)
		vm->vcpus_fini(vm);
	if (vm->ops && vm->ops->vm_fini)
		vm->ops->vm_fini(vm);
	if (vm->console_fini)
		vm->console_fini(vm);
	if (vm->map)
		munmap(vm->map, vm->map_len);
	if (vm->shm_fd >= 0)
		close(vm->shm_fd);
	vm_free(vm);
}

const char *vm_name(const struct vm *vm)
{
	return vm->name;
}

uint64_t vm_mem_size(const struct vm *vm)
{
	return vm->memsize;
}

uint64_t vm_lowmem_size(const struct vm *vm)
{
	return vm->lowmem;
}

uint64_t vm_highmem_size(const struct vm *vm)
{
	return vm->highmem;
}

int vm_mem_ranges(const struct vm *vm, uint64_t gpa[2], uint64_t len[2])
{
	gpa[0] = 0;
	len[0] = vm->lowmem;
	if (vm->highmem == 0)
		return 1;
	gpa[1] = LAYOUT_HIGHMEM_BASE;
	len[1] = vm->highmem;
	return 2;
}

/* The offset in vm->ram of [gpa, gpa+len), or -1 if it is not wholly inside one RAM part.
 * Written so that no sum can overflow: hostile gpa/len come straight from guests. */
static int64_t vm_ram_offset(const struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa < vm->lowmem) {
		if (len > vm->lowmem - gpa)
			return -1;
		return (int64_t)gpa;
	}
	if (vm->highmem == 0 || gpa < LAYOUT_HIGHMEM_BASE)
		return -1;
	gpa -= LAYOUT_HIGHMEM_BASE;
	if (gpa >= vm->highmem || len > vm->highmem - gpa)
		return -1;
	return (int64_t)(vm->lowmem + gpa);
}

int vm_map_rom(struct vm *vm, uint64_t gpa, void *host, uint64_t size)
{
	if (vm == NULL || vm->ops == NULL || vm->ops->map_rom == NULL || size == 0 ||
	    ((gpa | size | (uint64_t)(uintptr_t)host) & 0xFFF))
		return -1;
	return vm->ops->map_rom(vm, gpa, host, size);
}

void vm_notify_write(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (vm->ops && vm->ops->notify_write)
		vm->ops->notify_write(vm, gpa, len);
}

bool vm_tracks_dma_writes(struct vm *vm)
{
	return vm != NULL && vm->ops && vm->ops->notify_write && vm->backend_data;
}

int vcpu_id(const struct vcpu *vcpu)
{
	return vcpu->id;
}

struct vm *vcpu_vm(const struct vcpu *vcpu)
{
	return vcpu->vm;
}

void *vm_map_gpa(struct vm *vm, uint64_t gpa, size_t len)
{
	int64_t off;

	if (vm == NULL || vm->ram == NULL)
		return NULL;
	off = vm_ram_offset(vm, gpa, len);
	return off < 0 ? NULL : vm->ram + off;
}

struct vm_shm_header *vm_header(struct vm *vm)
{
	return vm->hdr ? vm->hdr : vm->anon_hdr;
}

int vm_set_boot_state(struct vm *vm, const struct vm_boot_state *bs)
{
	struct vm_shm_header *h = vm_header(vm);

	h->boot_valid = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	h->boot_regs = bs->regs;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	h->boot_valid = bs->valid ? 1 : 0;
	return 0;
}

int vm_get_boot_state(struct vm *vm, struct vm_boot_state *bs)
{
	const struct vm_shm_header *h = vm_header(vm);

	memset(bs, 0, sizeof(*bs));
	bs->valid = h->boot_valid;
	bs->regs = h->boot_regs;
	return 0;
}

struct platform *vm_platform(const struct vm *vm)
{
	return atomic_load_explicit(&vm->plat, memory_order_acquire);
}

void vm_set_platform(struct vm *vm, struct platform *p)
{
	atomic_store_explicit(&vm->plat, p, memory_order_release);
}

struct pci_bus *vm_pci_bus(const struct vm *vm)
{
	return atomic_load_explicit(&vm->pci, memory_order_acquire);
}

void vm_set_pci_bus(struct vm *vm, struct pci_bus *bus)
{
	atomic_store_explicit(&vm->pci, bus, memory_order_release);
}

int vm_running_pid(struct vm *vm)
{
	int pid = vm->hdr ? vm->hdr->running_pid : 0;

	if (pid <= 0 || pid == getpid())
		return pid == getpid() ? pid : 0;
	if (kill(pid, 0) == 0 || errno == EPERM)
		return pid;
	return 0;
}

int vm_read_vcpu_stats(struct vm *vm, int vcpuid, struct vcpu_stats *st)
{
	if (vcpuid < 0 || vcpuid >= VM_MAXCPU)
		return -1;
	memcpy(st, &vm_header(vm)->stats[vcpuid], sizeof(*st));
	return 0;
}
