/*
 * vm_ioevent_*: the backend-independent face of ioevent.h; the KVM backend implements it
 * (kvm_ioevent.c), the software CPU does not need it.
 */
#include "vmm/ioevent.h"
#include "vmm/vm_backend.h"
#include "vmm/vm_internal.h"

int vm_ioevent_add(struct vm *vm, const struct vm_ioevent_spec *s)
{
	if (vm == NULL || vm->ops == NULL || vm->ops->ioevent_add == NULL || s->fn == NULL)
		return -1;
	if (s->len != 1 && s->len != 2 && s->len != 4 && s->len != 8)
		return -1;
	return vm->ops->ioevent_add(vm, s);
}

void vm_ioevent_del(struct vm *vm, int handle)
{
	if (vm != NULL && vm->ops != NULL && vm->ops->ioevent_del != NULL && handle >= 0)
		vm->ops->ioevent_del(vm, handle);
}

void vm_ioevent_stop(struct vm *vm)
{
	if (vm != NULL && vm->ops != NULL && vm->ops->ioevent_stop != NULL)
		vm->ops->ioevent_stop(vm);
}
