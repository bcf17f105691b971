/* ACPI PM timer against the TSC, PM1 status/enable/control, SMI_CMD enable/disable, the power
 * button and the SCI (level, IRQ 9), S5 power-off, 0xCF9 and keyboard-controller resets, and the
 * ports that only have to exist (0x80). */
#include "plat_test.h"
#include "unit.h"

static void test_pm_timer(struct vm *vm)
{
	uint32_t a = pt_in(vm, PORT_PM_TMR, 4);
	CHECK_EQ(a >> 24, 0);
	uint64_t t0 = vclock_ns(vm);
	uint32_t p1 = pt_in(vm, PORT_PM_TMR, 4);
	uint64_t t1 = vclock_ns(vm);
	uint64_t tsc1 = vclock_tsc(vm);
	pt_sleep_ms(20);
	uint64_t tsc2 = vclock_tsc(vm);
	uint64_t t2 = vclock_ns(vm);
	uint32_t p2 = pt_in(vm, PORT_PM_TMR, 4);
	uint64_t t3 = vclock_ns(vm);
	uint64_t d = (p2 - p1) & 0xFFFFFF;
	/* The PM timer and the TSC run from one clock: the counts agree to a tick. */
	CHECK(d + 1 >= (t2 - t1) * PM_TIMER_HZ / 1000000000ULL);
	CHECK(d <= (t3 - t0) * PM_TIMER_HZ / 1000000000ULL + 1);
	uint64_t dtsc = tsc2 - tsc1;
	CHECK(d * VCLOCK_TSC_HZ / PM_TIMER_HZ + VCLOCK_TSC_HZ / 1000 >= dtsc);  /* within 1 ms */
	CHECK_EQ(pt_out(vm, PORT_PM_TMR, 4, 0), 0);      /* read-only, writes ignored */
}

static int ack_sci(struct vm *vm)
{
	int v = platform_intr_ack(vm, 0);
	if (v >= 0)
		pt_lapic_eoi(vm, 0);
	return v;
}

static void test_pm1_sci(struct vm *vm)
{
	pt_lapic_enable(vm, 0);
	pt_ioapic_rte(vm, 9, (1ULL << 15) | (1ULL << 13) | 0x59);   /* level, active low */
	CHECK_EQ(pt_in(vm, PORT_PM1A_CNT, 2) & 1, 0);
	platform_power_button(vm);
	CHECK_EQ(pt_in(vm, PORT_PM1A_EVT, 2) & 0x100, 0x100);
	CHECK_EQ(ack_sci(vm), -1);                       /* not enabled: no SCI */
	pt_out(vm, PORT_SMI_CMD, 1, ACPI_ENABLE_VALUE);
	CHECK_EQ(pt_in(vm, PORT_PM1A_CNT, 2) & 1, 1);
	CHECK_EQ(ack_sci(vm), -1);                       /* PWRBTN_EN still clear */
	pt_out(vm, PORT_PM1A_EVT + 2, 2, 0x100);
	CHECK_EQ(pt_in(vm, PORT_PM1A_EVT, 4), 0x01000100u | (pt_in(vm, PORT_PM1A_EVT, 2) & 1));
	CHECK_EQ(ack_sci(vm), 0x59);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x59);        /* level: still asserted after EOI */
	pt_out(vm, PORT_PM1A_EVT, 2, 0x100);             /* write 1 to clear: the line drops */
	pt_lapic_eoi(vm, 0);
	CHECK_EQ(pt_in(vm, PORT_PM1A_EVT, 2) & 0x100, 0);
	CHECK_EQ(ack_sci(vm), -1);
	/* A byte write to the high status byte also clears it. */
	platform_power_button(vm);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x59);
	pt_out(vm, PORT_PM1A_EVT + 1, 1, 0x01);
	pt_lapic_eoi(vm, 0);
	CHECK_EQ(ack_sci(vm), -1);
	/* ACPI disable turns the SCI off again. */
	platform_power_button(vm);
	pt_out(vm, PORT_SMI_CMD, 1, ACPI_DISABLE_VALUE);
	CHECK_EQ(pt_in(vm, PORT_PM1A_CNT, 2) & 1, 0);
	while (ack_sci(vm) >= 0)
		;
	platform_power_button(vm);
	CHECK_EQ(ack_sci(vm), -1);
	pt_out(vm, PORT_PM1A_EVT, 2, 0xFFFF);
	/* The 8259 sees IRQ 9 as level-triggered (ELCR). */
	CHECK_EQ(pt_in(vm, 0x4D1, 1) & 0x02, 0x02);
}

static void test_sleep_reset(struct vm *vm)
{
	pt_out(vm, PORT_PM1A_CNT, 2, (1 << 10) | 0x2000);   /* S1: not offered, ignored */
	CHECK_EQ(pt_ev.suspends, 0);
	pt_out(vm, PORT_PM1A_CNT, 2, (ACPI_SLP_TYP_S5 << 10)); /* SLP_TYP without SLP_EN */
	CHECK_EQ(pt_ev.suspends, 0);
	CHECK_EQ(pt_in(vm, PORT_PM1A_CNT, 2) & 0x2000, 0);   /* SLP_EN reads 0 */
	pt_out(vm, PORT_PM1A_CNT, 2, (ACPI_SLP_TYP_S5 << 10) | 0x2000);
	CHECK_EQ(pt_ev.suspends, 1);
	CHECK_EQ(pt_ev.suspend_how, VM_SUSPEND_POWEROFF);
	pt_out(vm, PORT_RESET_CF9, 1, 0x02);
	CHECK_EQ(pt_in(vm, PORT_RESET_CF9, 1), 0x02);
	CHECK_EQ(pt_ev.suspends, 1);
	pt_out(vm, PORT_RESET_CF9, 1, 0x06);
	CHECK_EQ(pt_ev.suspends, 2);
	CHECK_EQ(pt_ev.suspend_how, VM_SUSPEND_RESET);
	/* The keyboard controller: output buffer empty, self test answers 0x55. */
	CHECK_EQ(pt_in(vm, PORT_KBD_CMD, 1) & 0x01, 0);
	pt_out(vm, PORT_KBD_CMD, 1, 0xAA);
	CHECK_EQ(pt_in(vm, PORT_KBD_CMD, 1) & 0x01, 0x01);
	CHECK_EQ(pt_in(vm, PORT_KBD_DATA, 1), 0x55);
	CHECK_EQ(pt_ev.suspends, 2);
	pt_out(vm, PORT_KBD_CMD, 1, 0xFE);
	CHECK_EQ(pt_ev.suspends, 3);
	CHECK_EQ(pt_ev.suspend_how, VM_SUSPEND_RESET);
	/* Port 0x80 exists even under strict I/O. */
	config_set("x86.strictio", "true");
	CHECK_EQ(pt_out(vm, PORT_POST, 1, 0x55), 0);
	config_unset("x86.strictio");
}

int main(void)
{
	config_reset();
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (vm) {
		test_pm_timer(vm);
		test_pm1_sci(vm);
		test_sleep_reset(vm);
		pt_vm_free(vm);
	}
	return unit_report("pm");
}
