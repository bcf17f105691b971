/*
 * Split virtqueue core: set-up, validated chain walking, used ring, notification suppression.
 * See virtio_ring.h for the rules.  Memory ordering (virtio 1.x 2.7.7, 2.7.13):
 *   - the driver writes ring entries before avail->idx, so avail->idx is read with acquire and
 *     the entries after it;
 *   - we write used elements before used->idx (release store);
 *   - between publishing used->idx and reading the driver's suppression fields (flags or
 *     used_event), and between re-enabling notifications and re-checking avail->idx, a full
 *     fence, or each side could miss the other's update (lost interrupt or lost kick);
 *   - each write into guest RAM is reported through mem.wrote after it is made, and a chain's
 *     buffers before the used entry that hands them back (vq_push).
 */
#include <errno.h>
#include <string.h>

#include "pci/virtio_ring.h"

#define VQ_AVAIL_FLAGS 0
#define VQ_AVAIL_IDX   1
#define VQ_AVAIL_RING  2

static inline uint16_t vq_load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void vq_store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Copy one descriptor out of guest memory: after this only the copy is looked at. */
static inline void vq_copy_desc(struct vring_desc *dst, const void *src)
{
	memcpy(dst, src, sizeof(*dst));
	__asm__ __volatile__("" ::: "memory");
}

void vq_init(struct virtqueue *vq, const struct vq_mem *mem)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = *mem;
	pthread_mutex_init(&vq->lock, NULL);
}

void vq_destroy(struct virtqueue *vq)
{
	pthread_mutex_destroy(&vq->lock);
}

static void vq_clear_locked(struct virtqueue *vq)
{
	vq->size = 0;
	vq->broken = false;
	vq->bad_reason = VQ_BAD_NONE;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
	vq->desc = NULL;
	vq->avail = vq->used_hdr = vq->avail_event = NULL;
	vq->used_ring = NULL;
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->no_notify = false;
}

void vq_reset(struct virtqueue *vq)
{
	pthread_mutex_lock(&vq->lock);
	vq_clear_locked(vq);
	pthread_mutex_unlock(&vq->lock);
}

void vq_set_features(struct virtqueue *vq, uint64_t features)
{
	pthread_mutex_lock(&vq->lock);
	vq->indirect = (features >> VIRTIO_RING_F_INDIRECT_DESC) & 1;
	vq->event_idx = (features >> VIRTIO_RING_F_EVENT_IDX) & 1;
	pthread_mutex_unlock(&vq->lock);
}

static void *vq_map(struct virtqueue *vq, uint64_t gpa, uint64_t len)
{
	if (len == 0 || gpa + len < gpa || len > SIZE_MAX)
		return NULL;
	return vq->mem.map(vq->mem.ctx, gpa, (size_t)len);
}

int vq_setup(struct virtqueue *vq, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
	if (size == 0 || size > VQ_MAX_SIZE || (size & (size - 1)))
		return -1;
	if ((desc & 15) || (avail & 1) || (used & 3))
		return -1;
	void *d = vq_map(vq, desc, 16ULL * size);
	void *a = vq_map(vq, avail, 6ULL + 2ULL * size);
	void *u = vq_map(vq, used, 6ULL + 8ULL * size);
	if (!d || !a || !u)
		return -1;
	pthread_mutex_lock(&vq->lock);
	vq_clear_locked(vq);
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->desc = d;
	vq->avail = a;
	vq->used_hdr = u;
	vq->used_ring = (struct vring_used_elem *)((uint8_t *)u + 4);
	vq->avail_event = (uint16_t *)((uint8_t *)u + 4 + 8ULL * size);
	vq->signalled_valid = true;
	vq->size = size;
	pthread_mutex_unlock(&vq->lock);
	return 0;
}

static uint64_t vq_align(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

size_t vq_legacy_bytes(uint16_t size)
{
	return vq_align(16ULL * size + 6 + 2ULL * size, VQ_LEGACY_ALIGN) +
	       vq_align(6 + 8ULL * size, VQ_LEGACY_ALIGN);
}

int vq_setup_legacy(struct virtqueue *vq, uint16_t size, uint32_t pfn)
{
	uint64_t desc = (uint64_t)pfn * VQ_LEGACY_ALIGN;
	uint64_t avail = desc + 16ULL * size;
	uint64_t used = vq_align(avail + 6 + 2ULL * size, VQ_LEGACY_ALIGN);

	return vq_setup(vq, size, desc, avail, used);
}

static int vq_fail(struct virtqueue *vq, unsigned int reason)
{
	vq->broken = true;
	vq->bad_reason = reason;
	return -1;
}

/* A walk over one chain calls `buf` for each descriptor that names a buffer; a non-zero
 * return (VQ_BAD_* or VQ_WALK_STOP) ends it. */
struct vq_walk {
	unsigned int (*buf)(struct virtqueue *vq, struct vq_walk *w, const struct vring_desc *d);
	struct iovec *iov;
	int maxiov;
	struct vq_chain *c;
	bool seen_write;
	uint64_t left;              /* vq_note_buf: written bytes not yet reported */
	uint32_t ndesc;             /* descriptors read so far, zero-length ones too */
};

/* A chain may not be longer than the queue (2.7.4.2/2.7.5.3), counting the descriptors of an
 * indirect table and empty descriptors: one chain then costs at most `size` reads, whatever
 * the guest puts in it.  The indirect descriptor itself is not counted. */
static bool vq_walk_budget(const struct virtqueue *vq, struct vq_walk *w)
{
	return ++w->ndesc <= vq->size;
}

#define VQ_WALK_STOP 0x100

/* The device wrote guest RAM at [gpa, gpa+len): tell whoever caches its contents. */
static void vq_note(struct virtqueue *vq, uint64_t gpa, uint64_t len)
{
	if (vq->mem.wrote)
		vq->mem.wrote(vq->mem.ctx, gpa, len);
}

/* Account one buffer; VQ_BAD_* or 0. */
static unsigned int vq_add_buf(struct virtqueue *vq, struct vq_walk *w, const struct vring_desc *d)
{
	bool write = d->flags & VRING_DESC_F_WRITE;

	/* Device-readable buffers come first, then device-writable ones (2.7.4.2). */
	if (!write && w->seen_write)
		return VQ_BAD_ORDER;
	w->seen_write |= write;
	if (d->len == 0)
		return 0;
	if (w->c->niov >= w->maxiov)
		return VQ_BAD_IOV;
	void *p = vq_map(vq, d->addr, d->len);
	if (!p)
		return VQ_BAD_ADDR;
	w->iov[w->c->niov].iov_base = p;
	w->iov[w->c->niov].iov_len = d->len;
	w->c->niov++;
	if (write) {
		w->c->write_len += d->len;
	} else {
		w->c->nread++;
		w->c->read_len += d->len;
	}
	return 0;
}

/* Walk an indirect table described by `ind` (2.7.5.3): no nesting, NEXT inside the table, at
 * most the queue size of entries ("the number of descriptors in the table is defined by the
 * queue size for this virtqueue"). */
static unsigned int vq_walk_indirect(struct virtqueue *vq, struct vq_walk *w,
				     const struct vring_desc *ind)
{
	if (!vq->indirect || (ind->flags & VRING_DESC_F_NEXT))
		return VQ_BAD_INDIRECT;
	if (ind->len == 0 || (ind->len % sizeof(struct vring_desc)) ||
	    ind->len / sizeof(struct vring_desc) > vq->size)
		return VQ_BAD_INDIRECT;
	uint32_t n = ind->len / sizeof(struct vring_desc);
	const uint8_t *table = vq_map(vq, ind->addr, ind->len);
	if (!table)
		return VQ_BAD_ADDR;
	uint32_t idx = 0, count = 0;
	for (;;) {
		struct vring_desc d;
		if (++count > n || !vq_walk_budget(vq, w))
			return VQ_BAD_LOOP;
		vq_copy_desc(&d, table + idx * sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT)
			return VQ_BAD_INDIRECT;
		unsigned int r = w->buf(vq, w, &d);
		if (r)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return VQ_BAD_NEXT;
		idx = d.next;
	}
}

/* Walk the chain starting at `head` in the descriptor table. */
static unsigned int vq_walk(struct virtqueue *vq, struct vq_walk *w, uint16_t head)
{
	uint16_t idx = head;
	unsigned int count = 0;

	for (;;) {
		struct vring_desc d;
		/* A chain can use each descriptor once: more than `size` means a loop. */
		if (++count > vq->size)
			return VQ_BAD_LOOP;
		vq_copy_desc(&d, &vq->desc[idx]);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return vq_walk_indirect(vq, w, &d);
		if (!vq_walk_budget(vq, w))
			return VQ_BAD_LOOP;
		unsigned int r = w->buf(vq, w, &d);
		if (r)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= vq->size)
			return VQ_BAD_NEXT;
		idx = d.next;
	}
}

static int vq_pop_locked(struct virtqueue *vq, struct iovec *iov, int maxiov, struct vq_chain *c)
{
	if (!vq->size)
		return 0;
	if (vq->broken)
		return -1;
	uint16_t avail_idx = __atomic_load_n(&vq->avail[VQ_AVAIL_IDX], __ATOMIC_ACQUIRE);
	uint16_t navail = (uint16_t)(avail_idx - vq->last_avail);
	if (navail > vq->size)
		return vq_fail(vq, VQ_BAD_AVAIL_IDX);
	if (navail == 0)
		return 0;
	uint16_t head = vq_load16(&vq->avail[VQ_AVAIL_RING + (vq->last_avail & (vq->size - 1))]);
	if (head >= vq->size)
		return vq_fail(vq, VQ_BAD_HEAD);
	vq->last_avail++;
	if (vq->event_idx && !vq->no_notify) {
		__atomic_store_n(vq->avail_event, vq->last_avail, __ATOMIC_RELEASE);
		vq_note(vq, vq->used_gpa + 4 + 8ULL * vq->size, 2);
	}

	memset(c, 0, sizeof(*c));
	c->head = head;
	struct vq_walk w = { .buf = vq_add_buf, .iov = iov, .maxiov = maxiov, .c = c };
	unsigned int r = vq_walk(vq, &w, head);
	if (r)
		return vq_fail(vq, r);
	return 1;
}

int vq_pop(struct virtqueue *vq, struct iovec *iov, int maxiov, struct vq_chain *c)
{
	pthread_mutex_lock(&vq->lock);
	int r = vq_pop_locked(vq, iov, maxiov, c);
	pthread_mutex_unlock(&vq->lock);
	return r;
}

unsigned int vq_pending(struct virtqueue *vq)
{
	unsigned int n = 0;

	pthread_mutex_lock(&vq->lock);
	if (vq->size && !vq->broken) {
		uint16_t avail_idx = __atomic_load_n(&vq->avail[VQ_AVAIL_IDX], __ATOMIC_ACQUIRE);
		n = (uint16_t)(avail_idx - vq->last_avail);
		if (n > vq->size)
			n = 0;
	}
	pthread_mutex_unlock(&vq->lock);
	return n;
}

/* Report the first `left` bytes of a chain's device-writable buffers. */
static unsigned int vq_note_buf(struct virtqueue *vq, struct vq_walk *w, const struct vring_desc *d)
{
	if (!(d->flags & VRING_DESC_F_WRITE))
		return 0;
	uint64_t n = d->len < w->left ? d->len : w->left;
	if (n && vq_map(vq, d->addr, n))
		vq_note(vq, d->addr, n);
	w->left -= n;
	return w->left ? 0 : VQ_WALK_STOP;
}

/* The chain at `head` is done and `len` bytes of its writable buffers were written.  Walks the
 * descriptors again (the driver owns them until the used entry appears, so a well-behaved one
 * has not changed them; a driver that did only misleads the report about its own memory; the
 * walk is bounded as in vq_pop). */
static void vq_note_chain(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	if (!vq->mem.wrote || !len)
		return;
	struct vq_walk w = { .buf = vq_note_buf, .left = len };
	(void)vq_walk(vq, &w, head);
}

int vq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	pthread_mutex_lock(&vq->lock);
	if (!vq->size || head >= vq->size) {
		pthread_mutex_unlock(&vq->lock);
		return -1;
	}
	vq_note_chain(vq, head, len);
	uint16_t slot = vq->used_idx & (vq->size - 1);
	struct vring_used_elem *e = &vq->used_ring[slot];
	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	vq_note(vq, vq->used_gpa + 4 + 8ULL * slot, sizeof(*e));
	vq->used_idx++;
	__atomic_store_n(&vq->used_hdr[1], vq->used_idx, __ATOMIC_RELEASE);
	vq_note(vq, vq->used_gpa + 2, 2);
	pthread_mutex_unlock(&vq->lock);
	return 0;
}

bool vq_need_interrupt(struct virtqueue *vq)
{
	bool need;

	pthread_mutex_lock(&vq->lock);
	if (!vq->size || vq->used_idx == vq->signalled_used) {
		pthread_mutex_unlock(&vq->lock);
		return false;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		/* Interrupt if used_event lies in (old, new]: the driver asked to hear about it. */
		uint16_t ev = vq_load16(&vq->avail[VQ_AVAIL_RING + vq->size]);
		uint16_t nw = vq->used_idx, old = vq->signalled_used;
		need = (uint16_t)(nw - ev - 1) < (uint16_t)(nw - old);
	} else {
		need = !(vq_load16(&vq->avail[VQ_AVAIL_FLAGS]) & VRING_AVAIL_F_NO_INTERRUPT);
	}
	vq->signalled_used = vq->used_idx;
	pthread_mutex_unlock(&vq->lock);
	return need;
}

bool vq_set_notify(struct virtqueue *vq, bool enable)
{
	bool pending = false;

	pthread_mutex_lock(&vq->lock);
	if (!vq->size) {
		pthread_mutex_unlock(&vq->lock);
		return false;
	}
	vq->no_notify = !enable;
	if (vq->event_idx) {
		if (enable) {
			__atomic_store_n(vq->avail_event, vq->last_avail, __ATOMIC_RELAXED);
			vq_note(vq, vq->used_gpa + 4 + 8ULL * vq->size, 2);
		}
	} else {
		uint16_t f = vq_load16(&vq->used_hdr[0]);
		f = enable ? (f & ~VRING_USED_F_NO_NOTIFY) : (f | VRING_USED_F_NO_NOTIFY);
		vq_store16(&vq->used_hdr[0], f);
		vq_note(vq, vq->used_gpa, 2);
	}
	if (enable) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		pending = vq_load16(&vq->avail[VQ_AVAIL_IDX]) != vq->last_avail;
	}
	pthread_mutex_unlock(&vq->lock);
	return pending;
}

size_t vq_iov_to_buf(const struct iovec *iov, int niov, size_t skip, void *buf, size_t len)
{
	size_t done = 0;

	for (int i = 0; i < niov && done < len; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t n = l - skip;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, n);
		done += n;
		skip = 0;
	}
	return done;
}

size_t vq_buf_to_iov(const struct iovec *iov, int niov, size_t skip, const void *buf, size_t len)
{
	size_t done = 0;

	for (int i = 0; i < niov && done < len; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t n = l - skip;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, n);
		done += n;
		skip = 0;
	}
	return done;
}
