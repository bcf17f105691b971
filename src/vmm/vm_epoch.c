/*
 * Grace periods for the lock-free device registries (inout.c, mmio.c).
 *
 * A vCPU announces the current epoch while it dispatches an access and clears the
 * announcement when the handler has returned; between dispatches it holds no registry
 * pointer.  A writer that unpublishes an entry tags it with the epoch of the moment and
 * advances the epoch; the entry may be freed once every vCPU is either outside a dispatch or
 * has announced a later epoch, because such a vCPU loaded the registry after the entry was
 * unpublished.  All the accesses below are sequentially consistent: the announcement must be
 * visible before the vCPU loads a registry pointer, and the writer's unpublish before it
 * reads the announcements.
 *
 * Freeing never waits: a writer (often a vCPU inside a dispatch of its own, e.g. a PCI config
 * write that toggles a decode bit) frees whatever is already safe and leaves the rest for its
 * next change, so the number of retired entries stays small.
 */
#include "vmm/vm_internal.h"

void vm_epoch_enter(struct vcpu *v)
{
	if (v->disp_depth++ > 0)
		return;   /* a handler dispatching a nested access: already announced */
	uint64_t e = __atomic_load_n(&v->vm->disp_epoch, __ATOMIC_SEQ_CST);
	__atomic_store_n(&v->disp_active, e, __ATOMIC_SEQ_CST);
}

void vm_epoch_exit(struct vcpu *v)
{
	if (--v->disp_depth > 0)
		return;
	__atomic_store_n(&v->disp_active, 0, __ATOMIC_RELEASE);
}

uint64_t vm_epoch_retire(struct vm *vm)
{
	return __atomic_fetch_add(&vm->disp_epoch, 1, __ATOMIC_SEQ_CST);
}

bool vm_epoch_safe(struct vm *vm, uint64_t tag)
{
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (v == NULL)
			continue;
		uint64_t a = __atomic_load_n(&v->disp_active, __ATOMIC_SEQ_CST);
		if (a != 0 && a <= tag)
			return false;
	}
	return true;
}
