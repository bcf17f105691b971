/*
 * Port I/O registry and dispatch.  A direct table of 65536 entry pointers gives O(1) lookup
 * without a lock on the hot path: entries are immutable once published and are only freed when
 * the VM's table is destroyed (unregistering just clears the slots), so a vCPU that read a
 * pointer a moment before an unregister still calls a valid handler.
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
	struct inout_entry *next_all;     /* every entry ever made, freed at destroy */
};

struct inout_table {
	pthread_mutex_t lock;             /* registration only */
	struct inout_entry *slot[INOUT_NPORTS];
	struct inout_entry *all;
};

struct inout_table *inout_table_create(void)
{
	struct inout_table *t = calloc(1, sizeof(*t));
	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void inout_table_destroy(struct inout_table *t)
{
	struct inout_entry *e = t->all;
	while (e) {
		struct inout_entry *n = e->next_all;
		free(e);
		e = n;
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct inout_table *inout_table_of(struct vm *vm)
{
	return vm ? vm->io : NULL;
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
	e->next_all = t->all;
	t->all = e;
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
			__atomic_store_n(&t->slot[p], NULL, __ATOMIC_RELEASE);
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
	struct inout_entry *e = t ? __atomic_load_n(&t->slot[port], __ATOMIC_ACQUIRE) : NULL;
	int dirflag = in ? IOPORT_F_IN : IOPORT_F_OUT;
	if (!e || !(e->iop.flags & dirflag))
		return inout_unclaimed(in, port, bytes, eax);
	uint32_t mask = bytes == 4 ? 0xffffffffu : (1u << (bytes * 8)) - 1;
	uint32_t val = in ? 0 : (*eax & mask);
	int rc = e->iop.handler(vcpu, in, port, bytes, &val, e->iop.arg);
	if (in)
		*eax = val & mask;
	return rc;
}
