/*
 * Table of per-VM device-side state keyed by the struct vm pointer.  Lookups are lock-free (a
 * scan of a few atomic slots, normally one VM per process); creation and release take a mutex.
 */
#include <pthread.h>
#include <stdlib.h>

#include "platform/plat_vm.h"

#define PLAT_VM_SLOTS 64

static struct plat_vm *plat_vm_slots[PLAT_VM_SLOTS];
static pthread_mutex_t plat_vm_lock = PTHREAD_MUTEX_INITIALIZER;

static struct plat_vm *plat_vm_find(struct vm *vm)
{
	for (int i = 0; i < PLAT_VM_SLOTS; i++) {
		struct plat_vm *p = __atomic_load_n(&plat_vm_slots[i], __ATOMIC_ACQUIRE);
		if (p && p->vm == vm)
			return p;
	}
	return NULL;
}

static void plat_vm_free(struct plat_vm *p)
{
	if (p->clk)
		vclock_destroy(p->clk);
	if (p->io)
		inout_table_destroy(p->io);
	if (p->mmio)
		mmio_table_destroy(p->mmio);
	free(p);
}

static struct plat_vm *plat_vm_new(struct vm *vm)
{
	struct plat_vm *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->vm = vm;
	p->io = inout_table_create();
	p->mmio = mmio_table_create();
	p->clk = vclock_create(vm);
	if (!p->io || !p->mmio || !p->clk) {
		plat_vm_free(p);
		return NULL;
	}
	return p;
}

struct plat_vm *plat_vm_get(struct vm *vm)
{
	struct plat_vm *p = plat_vm_find(vm);
	if (p || !vm)
		return p;
	pthread_mutex_lock(&plat_vm_lock);
	p = plat_vm_find(vm);
	if (!p) {
		for (int i = 0; i < PLAT_VM_SLOTS; i++) {
			if (plat_vm_slots[i])
				continue;
			p = plat_vm_new(vm);
			if (p)
				__atomic_store_n(&plat_vm_slots[i], p, __ATOMIC_RELEASE);
			break;
		}
	}
	pthread_mutex_unlock(&plat_vm_lock);
	return p;
}

void plat_vm_release(struct vm *vm)
{
	struct plat_vm *p = NULL;
	pthread_mutex_lock(&plat_vm_lock);
	for (int i = 0; i < PLAT_VM_SLOTS; i++) {
		if (plat_vm_slots[i] && plat_vm_slots[i]->vm == vm) {
			p = plat_vm_slots[i];
			__atomic_store_n(&plat_vm_slots[i], NULL, __ATOMIC_RELEASE);
			break;
		}
	}
	pthread_mutex_unlock(&plat_vm_lock);
	if (p)
		plat_vm_free(p);
}
