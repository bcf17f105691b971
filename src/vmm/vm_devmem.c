/*
 * Device memory the guest reaches as plain memory (a framebuffer BAR): vm_map_devmem places
 * host memory at a guest-physical address, and the software CPU, which caches its view of the
 * memory map, is told (cpu_vm_memmap_changed).
 */
#include <pthread.h>

#include "cpu/cpu.h"
#include "vmm/vm_internal.h"

static void vm_devmem_changed(struct vm *vm)
{
	struct cpu_vm *cvm = vm_soft_cpu_vm(vm);

	if (cvm)
		cpu_vm_memmap_changed(cvm);
}

/* The entry for `host`, or a free one if host is not mapped; -1 if none is free. */
static int vm_devmem_slot(struct vm *vm, void *host)
{
	int free_idx = -1;

	for (int i = 0; i < VM_DEVMEM_MAX; i++) {
		if (vm->devmem[i].size && vm->devmem[i].host == host)
			return i;
		if (!vm->devmem[i].size && free_idx < 0)
			free_idx = i;
	}
	return free_idx;
}

int vm_map_devmem(struct vm *vm, uint64_t gpa, void *host, uint64_t size)
{
	int i;

	if (vm == NULL || host == NULL || size == 0 || gpa + size < gpa ||
	    ((gpa | size | (uint64_t)(uintptr_t)host) & 0xFFF))
		return -1;
	pthread_mutex_lock(&vm->lock);
	i = vm_devmem_slot(vm, host);
	if (i >= 0 && vm->ops && vm->ops->map_devmem &&
	    vm->ops->map_devmem(vm, i, gpa, host, size) < 0)
		i = -1;
	if (i >= 0) {
		__atomic_store_n(&vm->devmem[i].size, 0, __ATOMIC_RELEASE);
		vm->devmem[i].host = host;
		vm->devmem[i].gpa = gpa;
		__atomic_store_n(&vm->devmem[i].size, size, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vm->lock);
	vm_devmem_changed(vm);
	return i >= 0 ? 0 : -1;
}

void vm_unmap_devmem(struct vm *vm, void *host)
{
	int i;

	pthread_mutex_lock(&vm->lock);
	i = vm_devmem_slot(vm, host);
	if (i >= 0 && vm->devmem[i].size && vm->devmem[i].host == host) {
		if (vm->ops && vm->ops->map_devmem)
			vm->ops->map_devmem(vm, i, vm->devmem[i].gpa, host, 0);
		__atomic_store_n(&vm->devmem[i].size, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vm->lock);
	vm_devmem_changed(vm);
}

void *vm_devmem_ptr(struct vm *vm, uint64_t gpa)
{
	for (int i = 0; i < VM_DEVMEM_MAX; i++) {
		uint64_t size = __atomic_load_n(&vm->devmem[i].size, __ATOMIC_ACQUIRE);
		uint64_t base = vm->devmem[i].gpa;

		if (size && gpa >= base && gpa - base < size)
			return vm->devmem[i].host + (gpa - base);
	}
	return NULL;
}
