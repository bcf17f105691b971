/*
 * ioeventfds for the KVM backend (ioevent.h).  Each registered write is an eventfd that KVM
 * signals from the vCPU's own exit path in the kernel, so the vCPU goes straight back into the
 * guest; one thread per VM waits on all of them with epoll and calls the device's callback.
 *
 * Callbacks only run on the thread, which stops (vm_ioevent_stop) before devices are torn
 * down: a callback never meets freed device state.  A deleted slot is taken out of the epoll
 * set at once but reused only after the thread has finished the batch of events it may have
 * been handling then (its pass count moved on); every delete kicks the thread so that this
 * happens soon.  A guest that moves a BAR in a loop so reuses a handful of slots instead of
 * using them all up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/kvm_int.h"


struct kvm_ioev {
	int fd;
	_Atomic bool active;
	struct kvm_ioeventfd io;
	struct vm_ioevent_spec spec;
};

struct kvm_ioevents {
	int epfd;
	int stopfd;
	int kickfd;                 /* a delete wakes the thread: its pass count moves on */
	pthread_t thread;
	bool started;
	_Atomic uint64_t passes;    /* batches of events the thread has finished */
	pthread_mutex_t lock;       /* slot allocation and the thread's start */
	struct kvm_ioev_slots book;
	struct kvm_ioev slot[KVM_IOEVENT_MAX];
};

void kvm_ioev_slots_init(struct kvm_ioev_slots *b)
{
	memset(b, 0, sizeof(*b));
}

/* A free slot: a retired one the thread can no longer be using (retired before the pass it
 * has since finished), else one never used; -1 when all are live or still in grace. */
int kvm_ioev_slot_get(struct kvm_ioev_slots *b, uint64_t passes)
{
	for (int i = 0; i < b->n; i++) {
		if (b->state[i] == KVM_IOEV_RETIRED && b->tag[i] < passes) {
			b->state[i] = KVM_IOEV_LIVE;
			return i;
		}
	}
	if (b->n >= KVM_IOEVENT_MAX)
		return -1;
	b->state[b->n] = KVM_IOEV_LIVE;
	return b->n++;
}

void kvm_ioev_slot_put(struct kvm_ioev_slots *b, int h, uint64_t passes)
{
	if (h >= 0 && h < b->n && b->state[h] == KVM_IOEV_LIVE) {
		b->state[h] = KVM_IOEV_RETIRED;
		b->tag[h] = passes;
	}
}

static void *kvm_ioevent_thread(void *arg)
{
	struct kvm_ioevents *e = arg;
	struct epoll_event ev[16];

	for (;;) {
		int i, n = epoll_wait(e->epfd, ev, 16, -1);
		if (n < 0 && errno != EINTR)
			return NULL;
		for (i = 0; i < n; i++) {
			struct kvm_ioev *s = ev[i].data.ptr;
			uint64_t cnt;
			if (s == NULL)
				return NULL;            /* the stop eventfd */
			if ((void *)s == (void *)e) {   /* a kick: only the pass count matters */
				ssize_t r = read(e->kickfd, &cnt, sizeof(cnt));
				(void)r;
				continue;
			}
			if (read(s->fd, &cnt, sizeof(cnt)) == sizeof(cnt) && atomic_load(&s->active))
				s->spec.fn(s->spec.arg, s->spec.id);
		}
		atomic_fetch_add(&e->passes, 1);
	}
}

static struct kvm_ioevents *kvm_ioevents_get(struct kvm_vmstate *st)
{
	struct kvm_ioevents *e = st->ioev;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event kick = { .events = EPOLLIN };

	if (e != NULL)
		return e;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	kvm_ioev_slots_init(&e->book);
	kick.data.ptr = e;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->epfd < 0 || e->stopfd < 0 || e->kickfd < 0 ||
	    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->stopfd, &ev) < 0 ||
	    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->kickfd, &kick) < 0 ||
	    pthread_create(&e->thread, NULL, kvm_ioevent_thread, e) != 0) {
		if (e->epfd >= 0)
			close(e->epfd);
		if (e->stopfd >= 0)
			close(e->stopfd);
		if (e->kickfd >= 0)
			close(e->kickfd);
		free(e);
		return NULL;
	}
	e->started = true;
	pthread_mutex_init(&e->lock, NULL);
	st->ioev = e;
	return e;
}

int kvm_ioevent_add(struct vm *vm, const struct vm_ioevent_spec *spec)
{
	struct kvm_vmstate *st = kvm_vm_of(vm);
	struct kvm_ioevents *e;
	struct kvm_ioev *s;
	struct epoll_event ev = { .events = EPOLLIN };
	int h;

	if (st == NULL || (e = kvm_ioevents_get(st)) == NULL)
		return -1;
	pthread_mutex_lock(&e->lock);
	h = kvm_ioev_slot_get(&e->book, atomic_load(&e->passes));
	pthread_mutex_unlock(&e->lock);
	if (h < 0)
		return -1;
	s = &e->slot[h];
	if (s->fd > 0)
		close(s->fd);   /* a reused slot: its old eventfd left the epoll set at delete */
	s->spec = *spec;
	s->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->io = (struct kvm_ioeventfd){
		.datamatch = spec->datamatch ? spec->data : 0, .addr = spec->addr,
		.len = (uint32_t)spec->len, .fd = s->fd,
		.flags = (spec->pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (spec->datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0),
	};
	ev.data.ptr = s;
	if (s->fd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		goto fail;
	atomic_store(&s->active, true);
	if (kvm_ioctl(st->vm_fd, KVM_IOEVENTFD, &s->io) < 0) {
		atomic_store(&s->active, false);
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		goto fail;
	}
	return h;
fail:
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	pthread_mutex_lock(&e->lock);
	kvm_ioev_slot_put(&e->book, h, atomic_load(&e->passes));
	pthread_mutex_unlock(&e->lock);
	return -1;
}

void kvm_ioevent_del(struct vm *vm, int h)
{
	struct kvm_vmstate *st = kvm_vm_of(vm);
	struct kvm_ioevents *e = st ? st->ioev : NULL;
	struct kvm_ioev *s;

	uint64_t one = 1;

	if (e == NULL || h < 0 || h >= e->book.n || !atomic_load(&e->slot[h].active))
		return;
	s = &e->slot[h];
	atomic_store(&s->active, false);
	s->io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	(void)kvm_ioctl(st->vm_fd, KVM_IOEVENTFD, &s->io);
	/* Out of the epoll set now; the fd stays open until the slot is reused (after the
	 * thread's current batch, which may still name it) or the thread is gone. */
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	pthread_mutex_lock(&e->lock);
	kvm_ioev_slot_put(&e->book, h, atomic_load(&e->passes));
	pthread_mutex_unlock(&e->lock);
	if (e->started && write(e->kickfd, &one, sizeof(one)) < 0)
		return;   /* the counter is saturated: the thread has a kick pending anyway */
}

void kvm_ioevent_stop(struct vm *vm)
{
	struct kvm_vmstate *st = kvm_vm_of(vm);
	struct kvm_ioevents *e = st ? st->ioev : NULL;
	uint64_t one = 1;
	int i;

	if (e == NULL)
		return;
	if (e->started) {
		if (write(e->stopfd, &one, sizeof(one)) == sizeof(one))
			pthread_join(e->thread, NULL);
		e->started = false;
	}
	for (i = 0; i < e->book.n; i++) {
		kvm_ioevent_del(vm, i);
		if (e->slot[i].fd >= 0)
			close(e->slot[i].fd);
	}
	close(e->epfd);
	close(e->stopfd);
	close(e->kickfd);
	pthread_mutex_destroy(&e->lock);
	free(e);
	st->ioev = NULL;
}
