/* The KVM ioevent slot bookkeeping (kvm_ioevent.c): slots come back after a grace period, so
 * a guest that moves a notify BAR in a loop cannot use them all up. */
#include "unit.h"
#include "vmm/kvm_int.h"

static void test_exhaustion_without_reuse(void)
{
	struct kvm_ioev_slots b;
	kvm_ioev_slots_init(&b);
	for (int i = 0; i < KVM_IOEVENT_MAX; i++)
		CHECK_EQ(kvm_ioev_slot_get(&b, 0), i);
	CHECK_EQ(kvm_ioev_slot_get(&b, 0), -1);      /* all live */
	kvm_ioev_slot_put(&b, 7, 3);
	CHECK_EQ(kvm_ioev_slot_get(&b, 3), -1);      /* the thread may still be on it */
	CHECK_EQ(kvm_ioev_slot_get(&b, 4), 7);       /* one pass later it is free */
	kvm_ioev_slot_put(&b, 7, 4);
	kvm_ioev_slot_put(&b, 7, 4);                 /* a second delete is ignored */
	kvm_ioev_slot_put(&b, -1, 4);
	kvm_ioev_slot_put(&b, KVM_IOEVENT_MAX, 4);
	CHECK_EQ(kvm_ioev_slot_get(&b, 9), 7);
	CHECK_EQ(kvm_ioev_slot_get(&b, 9), -1);
}

/* A BAR moving 10^6 times: delete and re-add, the thread finishing a pass now and then. */
static void test_moves_reuse_slots(void)
{
	struct kvm_ioev_slots b;
	uint64_t passes = 0;
	kvm_ioev_slots_init(&b);
	int h = kvm_ioev_slot_get(&b, passes);
	int fails = 0;
	for (int i = 0; i < 1000000; i++) {
		kvm_ioev_slot_put(&b, h, passes);
		h = kvm_ioev_slot_get(&b, passes);
		if (h < 0)
			fails++;
		if (i % 100 == 0)
			passes++;
	}
	CHECK_EQ(fails, 0);
	CHECK(b.n <= 102);
}

int main(void)
{
	test_exhaustion_without_reuse();
	test_moves_reuse_slots();
	return unit_report("kvm_ioevent");
}
