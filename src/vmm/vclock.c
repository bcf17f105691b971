/*
 * The VM's virtual clock and its timers.
 *
 * Guest time is host CLOCK_MONOTONIC minus the moment the VM's clock was created, in
 * nanoseconds; every guest-visible counter (TSC, LAPIC timer, PIT, HPET, RTC, PM timer) is a
 * fixed-ratio function of it, so calibrating one against another gives exact answers.
 *
 * For deterministic unit tests the clock can be switched to manual: guest time then stands
 * still except when vclock_advance() moves it, which returns only after every timer due by
 * the new time has fired (callbacks that re-arm inside the window fire too).
 *
 * Timers: one thread per VM sleeps on a condition variable until the earliest deadline of a
 * sorted list.  Callbacks run on that thread without the timer lock held, so they may arm and
 * cancel timers (including their own) and take device locks.  vtimer_destroy() waits for a
 * running callback of that timer to finish.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "vmm/vclock.h"
#include "vmm/vm_internal.h"

struct vtimer {
	struct vclock *clk;
	vtimer_fn fn;
	void *arg;
	uint64_t deadline;
	bool armed;
	struct vtimer *prev, *next;       /* in the armed list, by deadline */
};

struct vclock {
	struct vm *vm;
	uint64_t start_host_ns;
	pthread_mutex_t lock;
	pthread_cond_t cond;              /* the list or `stop` changed */
	pthread_cond_t done;              /* a callback finished */
	struct vtimer *head;
	struct vtimer *running;           /* whose callback runs now */
	pthread_t thread;
	bool thread_started, stop;
	bool manual;                      /* time moves only by vclock_advance() */
	uint64_t manual_ns;               /* guest time while manual (atomic reads) */
};

static uint64_t vclock_host_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t vclock_ticks_to_ns(uint64_t ticks, uint64_t hz)
{
	unsigned __int128 v = (unsigned __int128)ticks * 1000000000ULL + hz - 1;
	v /= hz;
	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

uint64_t vclock_ns_to_ticks(uint64_t ns, uint64_t hz)
{
	return (uint64_t)((unsigned __int128)ns * hz / 1000000000ULL);
}

struct vclock *vclock_create(struct vm *vm)
{
	struct vclock *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->vm = vm;
	c->start_host_ns = vclock_host_ns();
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&c->done, NULL);
	return c;
}

void vclock_destroy(struct vclock *c)
{
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->cond);
	bool started = c->thread_started;
	pthread_mutex_unlock(&c->lock);
	if (started && !pthread_equal(c->thread, pthread_self()))
		pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	pthread_cond_destroy(&c->done);
	free(c);
}

static struct vclock *vclock_of(struct vm *vm)
{
	return vm ? vm->clk : NULL;
}

uint64_t vclock_ns(struct vm *vm)
{
	struct vclock *c = vclock_of(vm);
	if (!c)
		return 0;
	if (__atomic_load_n(&c->manual, __ATOMIC_ACQUIRE))
		return __atomic_load_n(&c->manual_ns, __ATOMIC_ACQUIRE);
	return vclock_host_ns() - c->start_host_ns;
}

void vclock_set_manual(struct vm *vm)
{
	struct vclock *c = vclock_of(vm);
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	__atomic_store_n(&c->manual_ns, vclock_host_ns() - c->start_host_ns, __ATOMIC_RELEASE);
	__atomic_store_n(&c->manual, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* The timer thread has nothing due at the current manual time and runs no callback. */
static bool vclock_settled(const struct vclock *c)
{
	return c->stop || !c->thread_started ||
	       (!c->running && (!c->head || c->head->deadline > c->manual_ns));
}

void vclock_advance(struct vm *vm, uint64_t ns)
{
	struct vclock *c = vclock_of(vm);
	if (!c || !c->manual)
		return;
	pthread_mutex_lock(&c->lock);
	__atomic_store_n(&c->manual_ns, c->manual_ns + ns, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&c->cond);
	while (!vclock_settled(c))
		pthread_cond_wait(&c->done, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

uint64_t vclock_tsc_hz(struct vm *vm) { (void)vm; return VCLOCK_TSC_HZ; }
uint64_t vclock_crystal_hz(struct vm *vm) { (void)vm; return VCLOCK_CRYSTAL_HZ; }
uint64_t vclock_tsc(struct vm *vm) { return vclock_ns_to_tsc(vm, vclock_ns(vm)); }
uint64_t vclock_ns_to_tsc(struct vm *vm, uint64_t ns) { (void)vm; return vclock_ns_to_ticks(ns, VCLOCK_TSC_HZ); }
uint64_t vclock_tsc_to_ns(struct vm *vm, uint64_t tsc) { (void)vm; return vclock_ticks_to_ns(tsc, VCLOCK_TSC_HZ); }

/* ---- timers ---- */

static void vtimer_unlink(struct vclock *c, struct vtimer *t)
{
	if (!t->armed)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		c->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
	t->armed = false;
}

static void vtimer_link(struct vclock *c, struct vtimer *t)
{
	struct vtimer *prev = NULL, *cur = c->head;
	while (cur && cur->deadline <= t->deadline) {
		prev = cur;
		cur = cur->next;
	}
	t->prev = prev;
	t->next = cur;
	if (prev)
		prev->next = t;
	else
		c->head = t;
	if (cur)
		cur->prev = t;
	t->armed = true;
}

/* Sleep until the head's deadline (or a change), fire what is due; returns when stopped. */
static void *vclock_thread(void *arg)
{
	struct vclock *c = arg;
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct vtimer *t = c->head;
		if (!t) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		if (c->manual && t->deadline > c->manual_ns) {
			pthread_cond_broadcast(&c->done);     /* settled: vclock_advance() returns */
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		uint64_t host = vclock_host_ns(), now = host - c->start_host_ns;
		if (!c->manual && t->deadline > now) {
			/* At most an hour at a time, so far deadlines cannot overflow. */
			uint64_t wait = t->deadline - now;
			uint64_t abs = host + (wait < 3600000000000ULL ? wait : 3600000000000ULL);
			struct timespec ts = { .tv_sec = (time_t)(abs / 1000000000ULL),
					       .tv_nsec = (long)(abs % 1000000000ULL) };
			pthread_cond_timedwait(&c->cond, &c->lock, &ts);
			continue;
		}
		vtimer_unlink(c, t);
		c->running = t;
		pthread_mutex_unlock(&c->lock);
		t->fn(t->arg);
		pthread_mutex_lock(&c->lock);
		c->running = NULL;
		pthread_cond_broadcast(&c->done);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

struct vtimer *vtimer_create(struct vm *vm, vtimer_fn fn, void *arg)
{
	struct vclock *c = vclock_of(vm);
	if (!c || !fn)
		return NULL;
	struct vtimer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->clk = c;
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_lock(&c->lock);
	if (!c->thread_started && !c->stop) {
		if (pthread_create(&c->thread, NULL, vclock_thread, c) == 0)
			c->thread_started = true;
	}
	bool ok = c->thread_started;
	pthread_mutex_unlock(&c->lock);
	if (!ok) {
		free(t);
		return NULL;
	}
	return t;
}

void vtimer_destroy(struct vtimer *t)
{
	if (!t)
		return;
	struct vclock *c = t->clk;
	pthread_mutex_lock(&c->lock);
	vtimer_unlink(c, t);
	while (c->running == t && !pthread_equal(c->thread, pthread_self()))
		pthread_cond_wait(&c->done, &c->lock);
	pthread_mutex_unlock(&c->lock);
	free(t);
}

void vtimer_arm(struct vtimer *t, uint64_t deadline_ns)
{
	struct vclock *c = t->clk;
	pthread_mutex_lock(&c->lock);
	vtimer_unlink(c, t);
	t->deadline = deadline_ns;
	vtimer_link(c, t);
	if (c->head == t)
		pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void vtimer_cancel(struct vtimer *t)
{
	struct vclock *c = t->clk;
	pthread_mutex_lock(&c->lock);
	vtimer_unlink(c, t);
	pthread_mutex_unlock(&c->lock);
}

bool vtimer_pending(const struct vtimer *t)
{
	struct vclock *c = t->clk;
	pthread_mutex_lock(&c->lock);
	bool armed = t->armed;
	pthread_mutex_unlock(&c->lock);
	return armed;
}
