/*
 * MMIO registry and dispatch.  The ranges live in a sorted array that is replaced as a whole
 * on every change (copy on write) and published with one atomic pointer store, so a lookup is
 * a lock-free binary search.  Old arrays are kept until the VM's table is destroyed: a vCPU
 * may still be reading one, and registrations are rare (set-up and BAR moves).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/mmio.h"
#include "vmm/vm_internal.h"

struct mmio_snap {
	struct mmio_snap *older;          /* retired snapshots, freed at destroy */
	size_t n;
	struct mem_range r[];
};

struct mmio_table {
	pthread_mutex_t lock;             /* registration only */
	struct mmio_snap *cur;
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
	struct mmio_snap *s = t->cur;
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

static void mmio_publish(struct mmio_table *t, struct mmio_snap *s)
{
	s->older = t->cur;
	__atomic_store_n(&t->cur, s, __ATOMIC_RELEASE);
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
	mmio_publish(t, s);
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
	mmio_publish(t, s);
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
	const struct mmio_snap *s = t ? __atomic_load_n(&t->cur, __ATOMIC_ACQUIRE) : NULL;
	const struct mem_range *r = s ? mmio_lookup(s, gpa) : NULL;
	if (!r || !(r->flags & dir)) {
		/* Nothing decodes the address: reads float to all ones, writes vanish. */
		if (dir == MEM_F_READ)
			*val = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
		return 0;
	}
	uint64_t mask = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	if (dir == MEM_F_WRITE) {
		uint64_t v = *val & mask;
		return r->handler(vcpu, dir, gpa, size, &v, r->arg1, r->arg2);
	}
	uint64_t v = 0;
	int rc = r->handler(vcpu, dir, gpa, size, &v, r->arg1, r->arg2);
	*val = v & mask;
	return rc;
}
