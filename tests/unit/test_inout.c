/* Port I/O and MMIO registries: registration, overlap, dispatch, unclaimed accesses, strict I/O. */
#include "plat_test.h"
#include "unit.h"

struct rec {
	int calls, in, bytes;
	uint16_t port;
	uint32_t last;
	uint64_t gpa;
};

static int io_handler(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		      void *arg)
{
	struct rec *r = arg;
	r->calls++;
	r->in = in;
	r->port = port;
	r->bytes = bytes;
	if (in)
		*eax = 0xDEADBEEF;       /* dispatch must truncate to the access width */
	else
		r->last = *eax;
	return 0;
}

static int mem_handler(struct vcpu *vcpu, int dir, uint64_t addr, int size, uint64_t *val,
		       void *arg1, long arg2)
{
	struct rec *r = arg1;
	r->calls++;
	r->gpa = addr;
	r->bytes = size;
	if (dir == MEM_F_READ)
		*val = 0x1122334455667788ULL + (uint64_t)arg2;
	else
		r->last = (uint32_t)*val;
	return 0;
}

static void test_ports(struct vm *vm)
{
	struct rec r = { 0 };
	struct inout_port iop = { "t", 0x500, 4, IOPORT_F_INOUT, io_handler, &r };
	CHECK_EQ(register_inout(vm, &iop), 0);
	struct inout_port clash = { "c", 0x503, 2, IOPORT_F_INOUT, io_handler, &r };
	CHECK(register_inout(vm, &clash) < 0);
	CHECK_EQ(pt_in(vm, 0x502, 1), 0xEF);
	CHECK_EQ(r.port, 0x502);
	CHECK_EQ(pt_in(vm, 0x500, 2), 0xBEEF);
	CHECK_EQ(pt_out(vm, 0x501, 1, 0x1234), 0);
	CHECK_EQ(r.last, 0x34);              /* only the low byte of an 8-bit OUT */
	CHECK_EQ(r.calls, 3);
	/* Unclaimed: all ones, writes dropped. */
	CHECK_EQ(pt_in(vm, 0x600, 1), 0xFF);
	CHECK_EQ(pt_in(vm, 0x600, 2), 0xFFFF);
	CHECK_EQ(pt_in(vm, 0x600, 4), 0xFFFFFFFFu);
	CHECK_EQ(pt_out(vm, 0x600, 1, 0), 0);
	/* Strict I/O (-e): the access fails. */
	config_set("x86.strictio", "true");
	uint32_t v = 0;
	CHECK(inout_dispatch(vm_vcpu(vm, 0), 1, 0x600, 1, &v) < 0);
	CHECK(pt_out(vm, 0x600, 1, 0) < 0);
	CHECK_EQ(pt_in(vm, 0x500, 1), 0xEF);   /* claimed ports still work */
	config_unset("x86.strictio");
	/* Out-only registration: IN is unclaimed. */
	struct inout_port wo = { "wo", 0x510, 1, IOPORT_F_OUT, io_handler, &r };
	CHECK_EQ(register_inout(vm, &wo), 0);
	CHECK_EQ(pt_in(vm, 0x510, 1), 0xFF);
	CHECK_EQ(unregister_inout(vm, &iop), 0);
	CHECK_EQ(pt_in(vm, 0x500, 1), 0xFF);
	CHECK(unregister_inout(vm, &iop) < 0);
	CHECK_EQ(register_inout(vm, &clash), 0);  /* the range is free again */
	struct inout_port wrap = { "w", 0xFFFE, 4, IOPORT_F_INOUT, io_handler, &r };
	CHECK(register_inout(vm, &wrap) < 0);
	/* Bad widths are refused. */
	CHECK(inout_dispatch(vm_vcpu(vm, 0), 1, 0x503, 3, &v) < 0);
}

static void test_mmio(struct vm *vm)
{
	struct rec r = { 0 };
	struct mem_range a = { "a", MEM_F_RW, mem_handler, &r, 1, 0xD0000000ULL, 0x1000 };
	struct mem_range b = { "b", MEM_F_RW, mem_handler, &r, 2, 0xD0002000ULL, 0x1000 };
	struct mem_range c = { "c", MEM_F_RW, mem_handler, &r, 3, 0xD0000800ULL, 0x2000 };
	CHECK_EQ(register_mem(vm, &b), 0);
	CHECK_EQ(register_mem(vm, &a), 0);
	CHECK(register_mem(vm, &c) < 0);                /* overlaps both */
	CHECK_EQ(pt_mr(vm, 0, 0xD0000FFC, 4), 0x55667789ULL);
	CHECK_EQ(r.gpa, 0xD0000FFCULL);
	CHECK_EQ(pt_mr(vm, 0, 0xD0002000, 8), 0x112233445566778AULL);
	CHECK_EQ(pt_mr(vm, 0, 0xD0001000, 4), 0xFFFFFFFFULL);   /* the gap */
	CHECK_EQ(pt_mr(vm, 0, 0xD0001000, 1), 0xFFULL);
	pt_mw(vm, 0, 0xD0002004, 2, 0xABCDEF);
	CHECK_EQ(r.last, 0xCDEF);
	CHECK_EQ(unregister_mem(vm, &a), 0);
	CHECK_EQ(pt_mr(vm, 0, 0xD0000000, 4), 0xFFFFFFFFULL);
	CHECK(unregister_mem(vm, &a) < 0);
	struct mem_range c2 = { "c", MEM_F_READ, mem_handler, &r, 3, 0xD0000800ULL, 0x1800 };
	CHECK_EQ(register_mem(vm, &c2), 0);
	int calls = r.calls;
	pt_mw(vm, 0, 0xD0000800, 4, 1);                 /* read-only range: write dropped */
	CHECK_EQ(r.calls, calls);
	/* Many ranges: the binary search finds each. */
	struct rec many = { 0 };
	for (int i = 0; i < 64; i++) {
		struct mem_range m = { "m", MEM_F_RW, mem_handler, &many, i,
				       0xD1000000ULL + (uint64_t)(63 - i) * 0x2000, 0x1000 };
		CHECK_EQ(register_mem(vm, &m), 0);
	}
	int ok = 1;
	for (int i = 0; i < 64; i++)
		ok &= pt_mr(vm, 0, 0xD1000000ULL + (uint64_t)(63 - i) * 0x2000 + 0x10, 8) ==
		      0x1122334455667788ULL + (uint64_t)i;
	CHECK(ok);
	/* The platform's own ranges are there: IOAPIC version register. */
	pt_mw(vm, 0, LAYOUT_IOAPIC_BASE, 4, 1);
	CHECK_EQ(pt_mr(vm, 0, LAYOUT_IOAPIC_BASE + 0x10, 4) & 0xFF, 0x11);
}

/* A hostile guest: random accesses of every width to every platform port and MMIO page
 * (fixed seed), interleaved with interrupt acknowledges; nothing may crash or hang (the
 * sanitizer build runs this too). */
static void test_random_accesses(void)
{
	struct vm *vm = pt_vm_create(2);
	CHECK(vm != NULL);
	if (!vm)
		return;
	static const uint64_t pages[] = { LAYOUT_LAPIC_BASE, LAYOUT_IOAPIC_BASE, LAYOUT_HPET_BASE };
	static const int widths[] = { 1, 2, 4 };
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	int acks = 0;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		int w = widths[(x >> 8) % 3];
		uint32_t v = (uint32_t)(x >> 32);
		if ((x & 3) == 0) {
			uint16_t port = (uint16_t)((x >> 16) % 0x500);
			if (port == 0xCF9 || (port >= 0x400 && port < 0x406))
				port = 0x80;                      /* resets/S5 end the loop below */
			if (x & 4)
				pt_in(vm, port, w);
			else
				pt_out(vm, port, w, v);
		} else if ((x & 3) == 1) {
			uint64_t gpa = pages[(x >> 20) % 3] + ((x >> 24) & 0xFFF);
			int mw = (x & 0x80) ? 8 : w;
			if (x & 4)
				pt_mr(vm, (int)((x >> 40) & 1), gpa, mw);
			else
				pt_mw(vm, (int)((x >> 40) & 1), gpa, mw, x);
		} else {
			int cpu = (int)((x >> 12) & 1);
			if (platform_intr_ack(vm, cpu) >= 0) {
				acks++;
				pt_lapic_eoi(vm, cpu);
			}
			uint64_t msrv;
			platform_rdmsr(vm, cpu, 0x800 + (uint32_t)((x >> 16) & 0xFF), &msrv);
			platform_wrmsr(vm, cpu, (x & 0x100) ? 0x6E0 : 0x1B, x >> 8);
		}
	}
	CHECK(acks >= 0);
	pt_vm_free(vm);
}

/* A handler that re-registers another range while its own dispatch runs, as a PCI config
 * write that toggles a BAR's decode bit does. */
struct toggler {
	struct vm *vm;
	struct inout_port iop;
	struct mem_range mr;
	int rounds;
	size_t io_held, mem_held;           /* retired counts seen inside the dispatch */
};

static int toggle_handler(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
			  void *arg)
{
	struct toggler *t = arg;
	for (int i = 0; i < t->rounds; i++) {
		CHECK_EQ(unregister_inout(t->vm, &t->iop), 0);
		CHECK_EQ(register_inout(t->vm, &t->iop), 0);
		CHECK_EQ(unregister_mem(t->vm, &t->mr), 0);
		CHECK_EQ(register_mem(t->vm, &t->mr), 0);
	}
	t->io_held = inout_retired_count(t->vm);
	t->mem_held = mmio_retired_count(t->vm);
	return 0;
}

/* Re-registration frees what it replaces once no vCPU can hold it: outside any dispatch at
 * once, and entries retired during a dispatch after that dispatch has ended. */
static void test_reclaim(void)
{
	struct vm *vm = pt_vm_create(2);
	CHECK(vm != NULL);
	if (!vm)
		return;
	struct rec r = { 0 };
	struct toggler t = { vm, { "bar", 0x700, 0x40, IOPORT_F_INOUT, io_handler, &r },
			     { "bar", MEM_F_RW, mem_handler, &r, 0, 0xD8000000ULL, 0x4000 }, 50,
			     0, 0 };
	CHECK_EQ(register_inout(vm, &t.iop), 0);
	CHECK_EQ(register_mem(vm, &t.mr), 0);
	for (int i = 0; i < 100000; i++) {
		CHECK_EQ(unregister_inout(vm, &t.iop), 0);
		CHECK_EQ(register_inout(vm, &t.iop), 0);
		CHECK_EQ(unregister_mem(vm, &t.mr), 0);
		CHECK_EQ(register_mem(vm, &t.mr), 0);
	}
	CHECK_EQ(inout_retired_count(vm), 0);
	CHECK_EQ(mmio_retired_count(vm), 0);
	struct inout_port trig = { "trig", 0x7F0, 1, IOPORT_F_INOUT, toggle_handler, &t };
	CHECK_EQ(register_inout(vm, &trig), 0);
	pt_out(vm, 0x7F0, 1, 0);
	/* The dispatching vCPU may still be inside the old entries: all of them are kept... */
	CHECK_EQ(t.io_held, 50);
	CHECK_EQ(t.mem_held, 100);
	/* ...and the first change after the dispatch frees them. */
	CHECK_EQ(unregister_inout(vm, &t.iop), 0);
	CHECK_EQ(unregister_mem(vm, &t.mr), 0);
	CHECK_EQ(inout_retired_count(vm), 0);
	CHECK_EQ(mmio_retired_count(vm), 0);
	CHECK_EQ(pt_in(vm, 0x700, 1), 0xFF);      /* unregistered: floats high */
	pt_vm_free(vm);
}

int main(void)
{
	config_reset();
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (vm) {
		test_ports(vm);
		test_mmio(vm);
		pt_vm_free(vm);
	}
	test_random_accesses();
	test_reclaim();
	return unit_report("inout");
}
