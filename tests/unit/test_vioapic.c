/* IOAPIC: registers, edge and level pins (Remote IRR, EOI from the LAPIC, re-delivery),
 * masking, physical/logical destinations; MSI decoding. */
#include "plat_test.h"
#include "unit.h"

#define MASKED (1ULL << 16)
#define LEVEL  (1ULL << 15)
#define RIRR   (1ULL << 14)
#define LOGICAL (1ULL << 11)

static void test_regs(struct vm *vm)
{
	pt_mw(vm, 0, LAYOUT_IOAPIC_BASE, 4, 1);
	CHECK_EQ(pt_mr(vm, 0, LAYOUT_IOAPIC_BASE + 0x10, 4), 0x00170011);
	for (int pin = 0; pin < 24; pin++)
		CHECK(pt_ioapic_rte_get(vm, pin) & MASKED);
	pt_ioapic_rte(vm, 3, 0xFF000000000000ABULL | RIRR | (1ULL << 12));
	CHECK_EQ(pt_ioapic_rte_get(vm, 3), 0xFF000000000000ABULL);   /* RO bits stay clear */
	pt_ioapic_rte(vm, 3, MASKED);
	pt_mw(vm, 0, LAYOUT_IOAPIC_BASE, 4, 0);
	pt_mw(vm, 0, LAYOUT_IOAPIC_BASE + 0x10, 4, 0x05000000);
	CHECK_EQ(pt_mr(vm, 0, LAYOUT_IOAPIC_BASE + 0x10, 4), 0x05000000);
	CHECK(vm_ioapic_assert_irq(vm, 24) < 0);
	CHECK(vm_ioapic_assert_irq(vm, -1) < 0);
}

static void test_edge(struct vm *vm)
{
	pt_ioapic_rte(vm, 5, 0x61);                      /* edge, physical, dest 0 */
	vm_ioapic_pulse_irq(vm, 5);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x61);
	pt_lapic_eoi(vm, 0);
	vm_ioapic_assert_irq(vm, 5);
	vm_ioapic_assert_irq(vm, 5);                     /* no new edge */
	CHECK_EQ(platform_intr_ack(vm, 0), 0x61);
	pt_lapic_eoi(vm, 0);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	vm_ioapic_deassert_irq(vm, 5);
	pt_ioapic_rte(vm, 5, MASKED | 0x61);
	vm_ioapic_pulse_irq(vm, 5);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);          /* masked edges are lost */
	pt_ioapic_rte(vm, 5, (1ULL << 56) | 0x66);       /* to APIC ID 1 */
	vm_ioapic_pulse_irq(vm, 5);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	CHECK_EQ(platform_intr_ack(vm, 1), 0x66);
	pt_lapic_eoi(vm, 1);
	/* ISA IRQ 0 arrives on pin 2 as wired by the MADT override. */
	pt_ioapic_rte(vm, 2, 0x30);
	vm_isa_pulse_irq(vm, 0, 2);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x30);
	pt_lapic_eoi(vm, 0);
}

static void test_level(struct vm *vm)
{
	pt_ioapic_rte(vm, 10, LEVEL | 0x62);
	vm_ioapic_assert_irq(vm, 10);
	CHECK(pt_ioapic_rte_get(vm, 10) & RIRR);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x62);
	CHECK_EQ(pt_lapic_rd(vm, 0, 0x180 + 0x30) & 4, 4);  /* TMR bit of 0x62 */
	vm_ioapic_assert_irq(vm, 10);                    /* Remote IRR holds it back */
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	pt_lapic_eoi(vm, 0);                             /* EOI while still asserted: again */
	CHECK(pt_ioapic_rte_get(vm, 10) & RIRR);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x62);
	vm_ioapic_deassert_irq(vm, 10);
	pt_lapic_eoi(vm, 0);
	CHECK(!(pt_ioapic_rte_get(vm, 10) & RIRR));
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	/* Asserted while masked: delivered when unmasked. */
	pt_ioapic_rte(vm, 11, MASKED | LEVEL | 0x63);
	vm_ioapic_assert_irq(vm, 11);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	pt_ioapic_rte(vm, 11, LEVEL | 0x63);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x63);
	vm_ioapic_deassert_irq(vm, 11);
	pt_lapic_eoi(vm, 0);
	CHECK(!(pt_ioapic_rte_get(vm, 11) & RIRR));
}

static void test_logical_and_msi(struct vm *vm)
{
	pt_lapic_wr(vm, 1, 0xD0, 0x02u << 24);           /* flat logical ID bit 1 */
	pt_ioapic_rte(vm, 12, (0x02ULL << 56) | LOGICAL | 0x64);
	vm_ioapic_pulse_irq(vm, 12);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	CHECK_EQ(platform_intr_ack(vm, 1), 0x64);
	pt_lapic_eoi(vm, 1);
	/* Lowest priority is delivered like fixed. */
	pt_ioapic_rte(vm, 12, (0x02ULL << 56) | LOGICAL | (1ULL << 8) | 0x67);
	vm_ioapic_pulse_irq(vm, 12);
	CHECK_EQ(platform_intr_ack(vm, 1), 0x67);
	pt_lapic_eoi(vm, 1);
	/* NMI delivery mode. */
	pt_ioapic_rte(vm, 13, (4ULL << 8));
	vm_ioapic_pulse_irq(vm, 13);
	CHECK_EQ(pt_ev.nmi[0], 1);
	/* MSI: physical dest 1, vector 0x65, edge. */
	CHECK_EQ(vm_lapic_msi(vm, 0xFEE01000ULL, 0x0065), 0);
	CHECK_EQ(platform_intr_ack(vm, 1), 0x65);
	pt_lapic_eoi(vm, 1);
	CHECK_EQ(vm_lapic_msi(vm, 0xFEE0000CULL, 0x0068), 0);   /* logical dest 0: nobody */
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	CHECK_EQ(platform_intr_ack(vm, 1), -1);
	CHECK(vm_lapic_msi(vm, 0x12345678ULL, 0x69) < 0);       /* not an MSI address */
}

int main(void)
{
	config_reset();
	struct vm *vm = pt_vm_create(2);
	CHECK(vm != NULL);
	if (vm) {
		pt_lapic_enable(vm, 0);
		pt_lapic_enable(vm, 1);
		test_regs(vm);
		test_edge(vm);
		test_level(vm);
		test_logical_and_msi(vm);
		pt_vm_free(vm);
	}
	return unit_report("vioapic");
}
