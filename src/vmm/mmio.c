/*
 * MMIO registry and dispatch.  The ranges live in a sorted array that is replaced as a whole
 * on every change (copy on write) and published with one atomic pointer store, so a lookup is
 * a lock-free binary search.  A replaced array is retired with a grace-period tag
 * (vm_epoch.c) and freed by a later change once no vCPU can still be reading it: a guest that
 * toggles a BAR's decode bit in a loop re-registers on every write, so keeping old arrays
 * would grow without bound.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/mmio.h"
#include "vmm/vm_internal.h"

struct mmio_snap {
	struct mmio_snap *older;          /* retired list, newest first */
	uint64_t tag;                     /* grace-period tag once retired */
	size_t n;
	struct mem_range r[];
};

struct mmio_table {
	pthread_mutex_t lock;             /* registration only */
	struct mmio_snap *cur;
	struct mmio_snap *retired;        /* under lock */
	size_t nretired;
};

static struct mmio_snap *mmio_snap_alloc(size_t n)
{
	struct mmio_snap *s = calloc(1, sizeof(*s) + n * sizeof(struct mem_range));
	if (s)
		s->n = n;
	return s;
}

struct mmio_table *mmio_table_create(void)
{
	struct mmio_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->cur = mmio_snap_alloc(0);
	if (!t->cur) {
		free(t);
		return NULL;
	}
	return t;
}

void mmio_table_destroy(struct mmio_table *t)
{
	free(t->cur);
	struct mmio_snap *s = t->retired;
	while (s) {
		struct mmio_snap *o = s->older;
		free(s);
		s = o;
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct mmio_table *mmio_table_of(struct vm *vm)
{
	return vm ? vm->mmio : NULL;
}

/* Free the retired arrays no vCPU can still hold; tags only grow along the list towards
 * the older end, so once one is safe every older one is too. */
static void mmio_reclaim(struct vm *vm, struct mmio_table *t)
{
	struct mmio_snap **pp = &t->retired;
	while (*pp && !vm_epoch_safe(vm, (*pp)->tag))
		pp = &(*pp)->older;
	struct mmio_snap *s = *pp;
	*pp = NULL;
	while (s) {
		struct mmio_snap *o = s->older;
		free(s);
		t->nretired--;
		s = o;
	}
}

static void mmio_publish(struct vm *vm, struct mmio_table *t, struct mmio_snap *s)
{
	struct mmio_snap *old = t->cur;
	__atomic_store_n(&t->cur, s, __ATOMIC_SEQ_CST);
	old->tag = vm_epoch_retire(vm);
	old->older = t->retired;
	t->retired = old;
	t->nretired++;
	mmio_reclaim(vm, t);
}

size_t mmio_retired_count(struct vm *vm)
{
	struct mmio_table *t = vm ? vm->mmio : NULL;
	if (!t)
		return 0;
	pthread_mutex_lock(&t->lock);
	size_t n = t->nretired;
	pthread_mutex_unlock(&t->lock);
	return n;
}

int register_mem(struct vm *vm, const struct mem_range *mr)
{
	struct mmio_table *t = mmio_table_of(vm);
	if (!t || !mr || !mr->handler || mr->size == 0 || mr->base + mr->size < mr->base) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&t->lock);
	struct mmio_snap *c = t->cur;
	size_t pos = 0;
	while (pos < c->n && c->r[pos].base < mr->base)
		pos++;
	bool clash = (pos > 0 && c->r[pos - 1].base + c->r[pos - 1].size > mr->base) ||
		     (pos < c->n && mr->base + mr->size > c->r[pos].base);
	struct mmio_snap *s = clash ? NULL : mmio_snap_alloc(c->n + 1);
	if (!s) {
		pthread_mutex_unlock(&t->lock);
		errno = clash ? EEXIST : ENOMEM;
		return -1;
	}
	memcpy(s->r, c->r, pos * sizeof(s->r[0]));
	s->r[pos] = *mr;
	memcpy(s->r + pos + 1, c->r + pos, (c->n - pos) * sizeof(s->r[0]));
	mmio_publish(vm, t, s);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int unregister_mem(struct vm *vm, const struct mem_range *mr)
{
	struct mmio_table *t = mmio_table_of(vm);
	if (!t || !mr) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&t->lock);
	struct mmio_snap *c = t->cur;
	size_t pos = 0;
	while (pos < c->n && !(c->r[pos].base == mr->base && c->r[pos].size == mr->size))
		pos++;
	struct mmio_snap *s = pos < c->n ? mmio_snap_alloc(c->n - 1) : NULL;
	if (!s) {
		pthread_mutex_unlock(&t->lock);
		errno = pos < c->n ? ENOMEM : ENOENT;
		return -1;
	}
	memcpy(s->r, c->r, pos * sizeof(s->r[0]));
	memcpy(s->r + pos, c->r + pos + 1, (c->n - pos - 1) * sizeof(s->r[0]));
	mmio_publish(vm, t, s);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static const struct mem_range *mmio_lookup(const struct mmio_snap *s, uint64_t gpa)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct mem_range *r = &s->r[mid];
		if (gpa < r->base)
			hi = mid;
		else if (gpa - r->base >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

int mmio_dispatch(struct vcpu *vcpu, int dir, uint64_t gpa, int size, uint64_t *val)
{
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return -1;
	struct mmio_table *t = mmio_table_of(vcpu_vm(vcpu));
	uint64_t mask = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	if (!t) {
		if (dir == MEM_F_READ)
			*val = mask;
		return 0;
	}
	vm_epoch_enter(vcpu);
	const struct mmio_snap *s = __atomic_load_n(&t->cur, __ATOMIC_SEQ_CST);
	const struct mem_range *r = mmio_lookup(s, gpa);
	int rc = 0;
	if (!r || !(r->flags & dir)) {
		/* Nothing decodes the address: reads float to all ones, writes vanish. */
		if (dir == MEM_F_READ)
			*val = mask;
	} else if (dir == MEM_F_WRITE) {
		uint64_t v = *val & mask;
		rc = r->handler(vcpu, dir, gpa, size, &v, r->arg1, r->arg2);
	} else {
		uint64_t v = 0;
		rc = r->handler(vcpu, dir, gpa, size, &v, r->arg1, r->arg2);
		*val = v & mask;
	}
	vm_epoch_exit(vcpu);
	return rc;
}
