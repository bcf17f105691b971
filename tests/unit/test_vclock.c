/* The virtual clock: monotonic, TSC ratio, conversions; timers fire in deadline order, never
 * early, can be re-armed from their callback, cancelled and destroyed. */
#include <pthread.h>

#include "plat_test.h"
#include "unit.h"

struct tcase {
	struct vm *vm;
	struct vtimer *t;
	atomic_int fired;
	uint64_t fired_at, deadline;
	int rearm;                  /* periodic re-arms left */
	uint64_t period;
	int order_slot;
};

static atomic_int order_next;
static int order[8];

static void cb(void *arg)
{
	struct tcase *c = arg;
	c->fired_at = vclock_ns(c->vm);
	order[atomic_fetch_add(&order_next, 1) & 7] = c->order_slot;
	c->fired++;
	if (c->rearm > 0) {
		c->rearm--;
		c->deadline += c->period;
		vtimer_arm(c->t, c->deadline);
	}
}

int main(void)
{
	config_reset();
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (!vm)
		return unit_report("vclock");
	uint64_t a = vclock_ns(vm), b = vclock_ns(vm);
	CHECK(b >= a);
	CHECK_EQ(vclock_tsc_hz(vm), VCLOCK_TSC_HZ);
	CHECK_EQ(vclock_tsc_hz(vm) % vclock_crystal_hz(vm), 0);
	CHECK_EQ(vclock_ns_to_tsc(vm, 1000000000ULL), VCLOCK_TSC_HZ);
	CHECK_EQ(vclock_tsc_to_ns(vm, VCLOCK_TSC_HZ), 1000000000ULL);
	CHECK_EQ(vclock_ticks_to_ns(1, 3), 333333334ULL);        /* rounded up */
	CHECK_EQ(vclock_ns_to_ticks(333333333ULL, 3), 0);        /* rounded down */
	CHECK_EQ(vclock_ns_to_ticks(~0ULL, 1000000000ULL), ~0ULL);
	uint64_t t1 = vclock_tsc(vm);
	pt_sleep_ms(2);
	uint64_t t2 = vclock_tsc(vm);
	CHECK(t2 - t1 >= 2 * VCLOCK_TSC_HZ / 1000);

	/* Three timers armed out of order fire in deadline order, none early. */
	struct tcase c[3] = { 0 };
	uint64_t now = vclock_ns(vm);
	uint64_t dl[3] = { now + 6000000, now + 2000000, now + 4000000 };
	for (int i = 0; i < 3; i++) {
		c[i].vm = vm;
		c[i].order_slot = i;
		c[i].deadline = dl[i];
		c[i].t = vtimer_create(vm, cb, &c[i]);
		CHECK(c[i].t != NULL);
	}
	for (int i = 0; i < 3; i++)
		vtimer_arm(c[i].t, dl[i]);
	CHECK(vtimer_pending(c[0].t));
	CHECK(PT_WAIT(c[0].fired && c[1].fired && c[2].fired, 3000));
	CHECK_EQ(order[0], 1);
	CHECK_EQ(order[1], 2);
	CHECK_EQ(order[2], 0);
	for (int i = 0; i < 3; i++)
		CHECK(c[i].fired_at >= dl[i]);
	CHECK(!vtimer_pending(c[0].t));
	/* Re-arming from the callback: periodic. */
	c[0].rearm = 4;
	c[0].period = 1000000;
	c[0].fired = 0;
	c[0].deadline = vclock_ns(vm) + 1000000;
	vtimer_arm(c[0].t, c[0].deadline);
	CHECK(PT_WAIT(c[0].fired == 5, 3000));
	/* Re-arm replaces; cancel stops. */
	c[1].fired = 0;
	vtimer_arm(c[1].t, vclock_ns(vm) + 1000000000ULL);
	vtimer_arm(c[1].t, vclock_ns(vm) + 1000000);
	CHECK(PT_WAIT(c[1].fired == 1, 3000));
	c[2].fired = 0;
	vtimer_arm(c[2].t, vclock_ns(vm) + 3000000);
	vtimer_cancel(c[2].t);
	CHECK(!vtimer_pending(c[2].t));
	pt_sleep_ms(6);
	CHECK_EQ(c[2].fired, 0);
	/* Destroying an armed timer is safe. */
	vtimer_arm(c[2].t, vclock_ns(vm) + 1000);
	for (int i = 0; i < 3; i++)
		vtimer_destroy(c[i].t);
	pt_vm_free(vm);
	return unit_report("vclock");
}
