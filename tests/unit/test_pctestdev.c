/* pc-testdev (-l pc-testdev): the scratch register at every width and lane, the page-flush
 * port, the interrupt lines (edge and level through the IOAPIC), the scratch memory at both
 * ends, the exit port; and hostile accesses (every width at every port, accesses across the
 * ends, flushes of addresses outside RAM) that must change nothing else. */
#include "common/linker_set.h"
#include "pci/pci_emul.h"
#include "plat_test.h"
#include "unit.h"
#include "vmm/vm_init_step.h"

static const struct vm_init_step *testdev_step(void)
{
	const struct vm_init_step *const *p;
	SET_FOREACH(p, vm_init_step_set) {
		if (strcmp((*p)->what, "pc-testdev") == 0)
			return *p;
	}
	return NULL;
}

static void test_ports(struct vm *vm)
{
	pt_out(vm, 0xE0, 4, 0x12345678);
	CHECK_EQ(pt_in(vm, 0xE0, 4), 0x12345678);
	pt_out(vm, 0xE2, 1, 0xAB);
	CHECK_EQ(pt_in(vm, 0xE0, 4), 0x12AB5678);
	CHECK_EQ(pt_in(vm, 0xE1, 2), 0xAB56);
	CHECK_EQ(pt_in(vm, 0xEB, 1), 0x12);             /* the byte-wise view */
	pt_out(vm, 0xE3, 4, 0xFFFFFFFF);                 /* across the end: lane 3 only */
	CHECK_EQ(pt_in(vm, 0xE0, 4), 0xFFAB5678);
	CHECK_EQ(pt_in(vm, 0xE3, 4), 0xFF);
	CHECK_EQ(pt_in(vm, 0xE4, 4), 0);                 /* flush port reads 0 */
	pt_out(vm, 0xE4, 4, 0xFFFFFFFF);                 /* outside RAM: ignored */
	pt_out(vm, 0xE4, 4, 0x1000);
	pt_out(vm, 0xE5, 2, 0x1234);                     /* not a 32-bit write at 0xE4 */
	CHECK_EQ(pt_in(vm, 0xE0, 4), 0xFFAB5678);
	CHECK_EQ(pt_in(vm, 0xEC, 1), 0xFF);              /* past the device: nothing */
}

static int ack(struct vm *vm)
{
	int v = platform_intr_ack(vm, 0);
	if (v >= 0)
		pt_lapic_eoi(vm, 0);
	return v;
}

static void test_lines(struct vm *vm)
{
	pt_lapic_enable(vm, 0);
	pt_ioapic_rte(vm, 20, 0x50);                     /* edge, fixed, APIC 0 */
	pt_ioapic_rte(vm, 21, 0x51 | (1 << 15));         /* level */
	pt_out(vm, 0x2000 + 20, 1, 1);
	CHECK_EQ(ack(vm), 0x50);
	pt_out(vm, 0x2000 + 20, 1, 7);                   /* still high: no edge */
	CHECK_EQ(ack(vm), -1);
	pt_out(vm, 0x2000 + 20, 1, 0);
	pt_out(vm, 0x2000 + 20, 2, 1);                   /* only byte writes count */
	CHECK_EQ(ack(vm), -1);
	pt_out(vm, 0x2000 + 20, 1, 1);
	CHECK_EQ(ack(vm), 0x50);
	pt_out(vm, 0x2000 + 20, 1, 0);
	pt_out(vm, 0x2000 + 21, 1, 1);                   /* level: again after each EOI */
	CHECK_EQ(ack(vm), 0x51);
	CHECK_EQ(ack(vm), 0x51);
	pt_out(vm, 0x2000 + 21, 1, 0);
	CHECK_EQ(ack(vm), 0x51);                         /* sent at the last EOI, before the drop */
	CHECK_EQ(ack(vm), -1);
	CHECK_EQ(pt_in(vm, 0x2000 + 21, 1), 0);
	/* Every width on every line port and just past them: no crash, lines left low. */
	for (int port = 0x2000; port <= 0x2018; port++)
		for (int w = 1; w <= 4; w <<= 1) {
			pt_out(vm, (uint16_t)port, w, 0xFFFFFFFFu);
			(void)pt_in(vm, (uint16_t)port, w);
			pt_out(vm, (uint16_t)port, w, 0);
		}
	while (ack(vm) >= 0)
		;
	pt_ioapic_rte(vm, 20, 1 << 16);
	pt_ioapic_rte(vm, 21, 1 << 16);
}

static void test_iomem(struct vm *vm)
{
	const uint64_t m = LAYOUT_PCTESTDEV_IOMEM;
	pt_mw(vm, 0, m, 8, 0x1122334455667788ULL);
	CHECK_EQ(pt_mr(vm, 0, m, 8), 0x1122334455667788ULL);
	CHECK_EQ(pt_mr(vm, 0, m + 3, 2), 0x4455);
	pt_mw(vm, 0, m + PCTESTDEV_IOMEM_SIZE - 4, 8, 0xAAAAAAAABBBBBBBBULL);   /* across the end */
	CHECK_EQ(pt_mr(vm, 0, m + PCTESTDEV_IOMEM_SIZE - 4, 8), 0xBBBBBBBBULL);
	CHECK_EQ(pt_mr(vm, 0, m + PCTESTDEV_IOMEM_SIZE, 4), 0xFFFFFFFFULL);
	CHECK_EQ(pt_mr(vm, 0, m - 1, 1), 0xFF);
}

static void test_exit_port(struct vm *vm)
{
	CHECK_EQ(pt_in(vm, 0xF4, 1), 0);
	CHECK_EQ(vm_suspended(vm), VM_SUSPEND_NONE);
	pt_out(vm, 0xF4, 1, 0x20);
	CHECK_EQ(vm_suspended(vm), VM_SUSPEND_DEBUG_EXIT);
	CHECK_EQ(vm_debug_exit_status(vm), 0x41);
	pt_out(vm, 0xF4, 4, 0x7F);                       /* the first reason stays */
	CHECK_EQ(vm_debug_exit_status(vm), 0x41);
}

static void test_config(void)
{
	char err[256];
	CHECK(lpc_device_parse("pc-testdev,x", err, sizeof(err)) < 0);
	CHECK_EQ(lpc_device_parse("pc-testdev", err, sizeof(err)), 0);
	CHECK(lpc_device_parse("pc-testdev", err, sizeof(err)) < 0);    /* twice */
	CHECK_EQ(lpc_validate_all(err, sizeof(err)), 0);
	config_set("lpc.pc-testdev", "maybe");
	CHECK(lpc_validate_all(err, sizeof(err)) < 0);
	config_unset("lpc.pc-testdev");
}

int main(void)
{
	config_reset();
	test_config();
	const struct vm_init_step *step = testdev_step();
	CHECK(step != NULL);
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (vm && step) {
		char err[256];
		CHECK_EQ(step->init(vm, err, sizeof(err)), 0);   /* not configured: nothing */
		CHECK_EQ(pt_in(vm, 0xE0, 4), 0xFFFFFFFF);
		config_set("lpc.pc-testdev", "true");
		CHECK_EQ(step->init(vm, err, sizeof(err)), 0);
		test_ports(vm);
		test_lines(vm);
		test_iomem(vm);
		test_exit_port(vm);
		step->fini(vm);
		CHECK_EQ(pt_in(vm, 0xE0, 4), 0xFFFFFFFF);       /* gone with the VM's set-up */
		CHECK_EQ(pt_mr(vm, 0, LAYOUT_PCTESTDEV_IOMEM, 4), 0xFFFFFFFF);
		config_unset("lpc.pc-testdev");
	}
	pt_vm_free(vm);
	return unit_report("pctestdev");
}
