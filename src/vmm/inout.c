/*
 * Port I/O registry and dispatch.  A direct table of 65536 entry pointers gives O(1) lookup
 * without a lock on the hot path: entries are immutable once published; unregistering clears
 * the slots and retires the entry with a grace-period tag (vm_epoch.c), and a later change
 * frees it once no vCPU can still be calling its handler.  A guest re-registers a BAR on
 * every decode toggle, so entries must not pile up.
 *
 * An access is dispatched by its first port: a 4-byte IN at 0xCF8 goes to whoever registered
 * 0xCF8, while a byte access at 0xCF9 goes to the owner of 0xCF9 (the reset register).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ratelimit.h"
#include "common/config.h"
#include "vmm/inout.h"
#include "vmm/vm_internal.h"

#define INOUT_NPORTS 65536

struct inout_entry {
	struct inout_port iop;
	struct inout_entry *next_retired; /* retired list, newest first */
	uint64_t tag;                     /* grace-period tag once retired */
};

struct inout_table {
	pthread_mutex_t lock;             /* registration only */
	struct inout_entry *slot[INOUT_NPORTS];
	struct inout_entry *retired;      /* under lock */
	size_t nretired;
};

struct inout_table *inout_table_create(void)
{
	struct inout_table *t = calloc(1, sizeof(*t));
	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

static void inout_free_list(struct inout_entry *e)
{
	while (e) {
		struct inout_entry *n = e->next_retired;
		free(e);
		e = n;
	}
}

void inout_table_destroy(struct inout_table *t)
{
	/* A live entry fills the slots of its consecutive ports: free it at its first and skip
	 * the rest (they name the same, now freed, entry). */
	for (uint32_t p = 0; p < INOUT_NPORTS; p++) {
		struct inout_entry *e = t->slot[p];
		if (e && e->iop.port == p) {
			p += e->iop.size - 1u;
			free(e);
		}
	}
	inout_free_list(t->retired);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct inout_table *inout_table_of(struct vm *vm)
{
	return vm ? vm->io : NULL;
}

/* Free the retired entries no vCPU can still be using; tags fall along the list. */
static void inout_reclaim(struct vm *vm, struct inout_table *t)
{
	struct inout_entry **pp = &t->retired;
	while (*pp && !vm_epoch_safe(vm, (*pp)->tag))
		pp = &(*pp)->next_retired;
	struct inout_entry *e = *pp;
	*pp = NULL;
	for (struct inout_entry *x = e; x; x = x->next_retired)
		t->nretired--;
	inout_free_list(e);
}

size_t inout_retired_count(struct vm *vm)
{
	struct inout_table *t = inout_table_of(vm);
	if (!t)
		return 0;
	pthread_mutex_lock(&t->lock);
	size_t n = t->nretired;
	pthread_mutex_unlock(&t->lock);
	return n;
}

int register_inout(struct vm *vm, const struct inout_port *iop)
{
	struct inout_table *t = inout_table_of(vm);
	if (!t || !iop || !iop->handler || iop->size == 0 ||
	    (uint32_t)iop->port + iop->size > INOUT_NPORTS) {
		errno = EINVAL;
		return -1;
	}
	struct inout_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -1;
	e->iop = *iop;
	pthread_mutex_lock(&t->lock);
	for (uint32_t p = iop->port; p < (uint32_t)iop->port + iop->size; p++) {
		if (t->slot[p]) {
			pthread_mutex_unlock(&t->lock);
			free(e);
			errno = EEXIST;
			return -1;
		}
	}
	for (uint32_t p = iop->port; p < (uint32_t)iop->port + iop->size; p++)
		__atomic_store_n(&t->slot[p], e, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int unregister_inout(struct vm *vm, const struct inout_port *iop)
{
	struct inout_table *t = inout_table_of(vm);
	if (!t || !iop || iop->size == 0 || (uint32_t)iop->port + iop->size > INOUT_NPORTS) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&t->lock);
	struct inout_entry *e = t->slot[iop->port];
	int rc = -1;
	if (e && e->iop.port == iop->port && e->iop.size == iop->size) {
		for (uint32_t p = iop->port; p < (uint32_t)iop->port + iop->size; p++)
			__atomic_store_n(&t->slot[p], NULL, __ATOMIC_SEQ_CST);
		e->tag = vm_epoch_retire(vm);
		e->next_retired = t->retired;
		t->retired = e;
		t->nretired++;
		inout_reclaim(vm, t);
		rc = 0;
	} else {
		errno = ENOENT;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* Nobody decodes the port: an ISA bus floats high; strict I/O (-e) stops the VM instead. */
static int inout_unclaimed(int in, uint16_t port, int bytes, uint32_t *eax)
{
	if (config_get_bool("x86.strictio", false)) {
		static struct ratelimit rl = RATELIMIT_DEFAULT;   /* each vCPU may hit one */
		ratelimit_log(&rl, "bhyve: unhandled %s%d 0x%04x (strict I/O)\n", in ? "in" : "out",
			      bytes * 8, port);
		return -1;
	}
	if (in)
		*eax = bytes == 4 ? 0xffffffffu : (1u << (bytes * 8)) - 1;
	return 0;
}

int inout_dispatch(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax)
{
	if (bytes != 1 && bytes != 2 && bytes != 4)
		return -1;
	struct inout_table *t = inout_table_of(vcpu_vm(vcpu));
	if (!t)
		return inout_unclaimed(in, port, bytes, eax);
	vm_epoch_enter(vcpu);
	struct inout_entry *e = __atomic_load_n(&t->slot[port], __ATOMIC_SEQ_CST);
	int dirflag = in ? IOPORT_F_IN : IOPORT_F_OUT;
	int rc;
	if (!e || !(e->iop.flags & dirflag)) {
		rc = inout_unclaimed(in, port, bytes, eax);
	} else {
		uint32_t mask = bytes == 4 ? 0xffffffffu : (1u << (bytes * 8)) - 1;
		uint32_t val = in ? 0 : (*eax & mask);
		rc = e->iop.handler(vcpu, in, port, bytes, &val, e->iop.arg);
		if (in)
			*eax = val & mask;
	}
	vm_epoch_exit(vcpu);
	return rc;
}
