/*
 * ioeventfds for the KVM backend (ioevent.h).  Each registered write is an eventfd that KVM
 * signals from the vCPU's own exit path in the kernel, so the vCPU goes straight back into the
 * guest; one thread per VM waits on all of them with epoll and calls the device's callback.
 *
 * Slots are never reused while the VM lives, and callbacks only run on the thread, which stops
 * (vm_ioevent_stop) before devices are torn down: a callback never meets freed device state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/kvm_int.h"

#define KVM_IOEVENT_MAX 512

struct kvm_ioev {
	int fd;
	_Atomic bool active;
	struct kvm_ioeventfd io;
	struct vm_ioevent_spec spec;
};

struct kvm_ioevents {
	int epfd;
	int stopfd;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;       /* slot allocation and the thread's start */
	int n;
	struct kvm_ioev slot[KVM_IOEVENT_MAX];
};

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
			if (read(s->fd, &cnt, sizeof(cnt)) == sizeof(cnt) && atomic_load(&s->active))
				s->spec.fn(s->spec.arg, s->spec.id);
		}
	}
}

static struct kvm_ioevents *kvm_ioevents_get(struct kvm_vmstate *st)
{
	struct kvm_ioevents *e = st->ioev;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	if (e != NULL)
		return e;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->epfd < 0 || e->stopfd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->stopfd, &ev) < 0 ||
	    pthread_create(&e->thread, NULL, kvm_ioevent_thread, e) != 0) {
		if (e->epfd >= 0)
			close(e->epfd);
		if (e->stopfd >= 0)
			close(e->stopfd);
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
	h = e->n < KVM_IOEVENT_MAX ? e->n++ : -1;
	pthread_mutex_unlock(&e->lock);
	if (h < 0)
		return -1;
	s = &e->slot[h];
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
	return -1;
}

void kvm_ioevent_del(struct vm *vm, int h)
{
	struct kvm_vmstate *st = kvm_vm_of(vm);
	struct kvm_ioevents *e = st ? st->ioev : NULL;
	struct kvm_ioev *s;

	if (e == NULL || h < 0 || h >= e->n || !atomic_load(&e->slot[h].active))
		return;
	s = &e->slot[h];
	atomic_store(&s->active, false);
	s->io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	(void)kvm_ioctl(st->vm_fd, KVM_IOEVENTFD, &s->io);
	/* The fd stays open (and in the epoll set) until the thread is gone: closing it here
	 * could hand its number to a new eventfd while the thread still reads the old one. */
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
	for (i = 0; i < e->n; i++) {
		kvm_ioevent_del(vm, i);
		if (e->slot[i].fd >= 0)
			close(e->slot[i].fd);
	}
	close(e->epfd);
	close(e->stopfd);
	pthread_mutex_destroy(&e->lock);
	free(e);
	st->ioev = NULL;
}
