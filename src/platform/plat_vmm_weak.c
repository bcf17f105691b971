/*
 * Stand-ins for the VM core's functions, defined weak so that the real ones (src/vmm/vmm*.c)
 * replace them as soon as they exist.  They let the platform link and be unit-tested before
 * the VM core lands: a "VM" here is a small record with vCPU handles, and events go nowhere
 * (the platform's observer hook reports them to tests).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/layout.h"
#include "vmm/vmm.h"

struct plat_weak_vcpu {
	struct vm *vm;
	int id;
};

struct plat_weak_vm {
	char name[VM_NAME_MAX];
	uint64_t memsize;
	int ncpus;
	struct plat_weak_vcpu vcpu[VM_MAXCPU];
};

#define W __attribute__((weak))

W int vm_create(const char *name, uint64_t memsize) { (void)name; (void)memsize; return 0; }
W int vm_destroy(const char *name) { (void)name; return 0; }

W struct vm *vm_open(const char *name)
{
	struct plat_weak_vm *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	strncpy(w->name, name ? name : "", sizeof(w->name) - 1);
	w->memsize = 256ULL << 20;
	w->ncpus = 1;
	for (int i = 0; i < VM_MAXCPU; i++) {
		w->vcpu[i].vm = (struct vm *)w;
		w->vcpu[i].id = i;
	}
	return (struct vm *)w;
}

W void vm_close(struct vm *vm) { free(vm); }

W int vm_setup(struct vm *vm, enum vm_backend_kind backend, int ncpus)
{
	(void)backend;
	if (ncpus < 1 || ncpus > VM_MAXCPU) {
		errno = EINVAL;
		return -1;
	}
	((struct plat_weak_vm *)vm)->ncpus = ncpus;
	return 0;
}

W int vm_ncpus(const struct vm *vm) { return ((const struct plat_weak_vm *)vm)->ncpus; }

W struct vcpu *vm_vcpu(struct vm *vm, int id)
{
	struct plat_weak_vm *w = (struct plat_weak_vm *)vm;
	if (id < 0 || id >= w->ncpus)
		return NULL;
	return (struct vcpu *)&w->vcpu[id];
}

W int vcpu_id(const struct vcpu *vcpu) { return ((const struct plat_weak_vcpu *)vcpu)->id; }
W struct vm *vcpu_vm(const struct vcpu *vcpu) { return ((const struct plat_weak_vcpu *)vcpu)->vm; }
W uint64_t vm_mem_size(const struct vm *vm) { return ((const struct plat_weak_vm *)vm)->memsize; }

W uint64_t vm_lowmem_size(const struct vm *vm)
{
	uint64_t m = vm_mem_size(vm);
	return m < LAYOUT_LOWMEM_LIMIT ? m : LAYOUT_LOWMEM_LIMIT;
}

W uint64_t vm_highmem_size(const struct vm *vm)
{
	uint64_t m = vm_mem_size(vm);
	return m > LAYOUT_LOWMEM_LIMIT ? m - LAYOUT_LOWMEM_LIMIT : 0;
}

W void vm_suspend(struct vm *vm, enum vm_suspend_how how, const char *why)
{
	(void)vm; (void)how; (void)why;
}

W void vcpu_notify_intr(struct vm *vm, int vcpuid) { (void)vm; (void)vcpuid; }
W void vcpu_inject_nmi(struct vm *vm, int vcpuid) { (void)vm; (void)vcpuid; }
W void vcpu_send_init(struct vm *vm, int vcpuid) { (void)vm; (void)vcpuid; }
W void vcpu_send_sipi(struct vm *vm, int vcpuid, uint8_t vector)
{
	(void)vm; (void)vcpuid; (void)vector;
}
