/* 8259 pair: initialisation, priorities and nesting, cascade (normal and special fully nested),
 * EOI variants, auto-EOI, masks, ELCR level mode, poll, rotation, ExtINT through LINT0. */
#include "plat_test.h"
#include "unit.h"

static uint8_t irr(struct vm *vm, int chip) { pt_out(vm, chip ? 0xA0 : 0x20, 1, 0x0A); return (uint8_t)pt_in(vm, chip ? 0xA0 : 0x20, 1); }
static uint8_t isr(struct vm *vm, int chip) { pt_out(vm, chip ? 0xA0 : 0x20, 1, 0x0B); return (uint8_t)pt_in(vm, chip ? 0xA0 : 0x20, 1); }
static void eoi(struct vm *vm, int chip) { pt_out(vm, chip ? 0xA0 : 0x20, 1, 0x20); }

static void test_basic(struct vm *vm)
{
	pt_pic_init(vm, 0x01, 0x00, 0x00);
	CHECK_EQ(pt_in(vm, 0x21, 1), 0);
	pt_out(vm, 0x21, 1, 0xA5);
	CHECK_EQ(pt_in(vm, 0x21, 1), 0xA5);
	pt_out(vm, 0x21, 1, 0x00);
	int before = pt_ev.intr[0];
	vm_isa_pulse_irq(vm, 3, -1);
	vm_isa_pulse_irq(vm, 1, -1);
	CHECK(pt_ev.intr[0] > before);                   /* INTR wakes the BSP */
	CHECK_EQ(irr(vm, 0), 0x0A);
	CHECK_EQ(platform_intr_ack(vm, 1), -1);          /* only the BSP has LINT0 wired */
	CHECK_EQ(platform_intr_ack(vm, 0), 0x21);        /* IRQ1 beats IRQ3 */
	CHECK_EQ(isr(vm, 0), 0x02);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);          /* IRQ3 waits behind IRQ1 */
	vm_isa_pulse_irq(vm, 0, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x20);        /* IRQ0 nests above IRQ1 */
	eoi(vm, 0);                                      /* non-specific: retires IRQ0 */
	CHECK_EQ(isr(vm, 0), 0x02);
	pt_out(vm, 0x20, 1, 0x61);                       /* specific EOI for IRQ1 */
	CHECK_EQ(isr(vm, 0), 0);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x23);
	eoi(vm, 0);
	/* Masked inputs stay in IRR and are not delivered. */
	pt_out(vm, 0x21, 1, 0x10);
	vm_isa_pulse_irq(vm, 4, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	CHECK_EQ(irr(vm, 0), 0x10);
	pt_out(vm, 0x21, 1, 0x00);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x24);
	eoi(vm, 0);
	/* Spurious: INTA with nothing requested answers IR7. */
	struct platform *p = platform_of(vm);
	CHECK_EQ(vatpic_intr_accept(p->atpic), 0x27);
	CHECK_EQ(isr(vm, 0), 0);                         /* spurious: nothing in service */
}

static void test_cascade(struct vm *vm)
{
	vm_isa_pulse_irq(vm, 10, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x2A);
	CHECK_EQ(isr(vm, 0), 0x04);
	CHECK_EQ(isr(vm, 1), 0x04);
	/* (IRQ9 is the level-triggered SCI, so IRQ8 plays the higher slave input.)
	 * Normal nesting: the master blocks the slave's IRQ8 while IR2 is in service. */
	vm_isa_pulse_irq(vm, 8, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	eoi(vm, 1); eoi(vm, 0);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x28);
	eoi(vm, 1); eoi(vm, 0);
	/* Special fully nested mode on the master lets IRQ8 interrupt IRQ10's handler. */
	pt_pic_init(vm, 0x11, 0x00, 0x00);
	vm_isa_pulse_irq(vm, 10, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x2A);
	vm_isa_pulse_irq(vm, 8, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x28);
	CHECK_EQ(isr(vm, 1), 0x05);
	eoi(vm, 1);
	eoi(vm, 1);
	CHECK_EQ(isr(vm, 1), 0);
	eoi(vm, 0);
	CHECK_EQ(isr(vm, 0), 0);
	/* A masked slave input does not reach the master. */
	pt_out(vm, 0xA1, 1, 0x08);
	vm_isa_pulse_irq(vm, 11, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	pt_out(vm, 0xA1, 1, 0x00);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x2B);
	eoi(vm, 1); eoi(vm, 0);
}

static void test_modes(struct vm *vm)
{
	pt_pic_init(vm, 0x01, 0x00, 0x00);
	/* ELCR: IRQ10 level-triggered follows the line. */
	pt_out(vm, 0x4D1, 1, 0x04);
	CHECK_EQ(pt_in(vm, 0x4D1, 1), 0x04);
	pt_out(vm, 0x4D0, 1, 0x07);                      /* IRQ 0-2 cannot be level */
	CHECK_EQ(pt_in(vm, 0x4D0, 1), 0x00);
	vm_isa_assert_irq(vm, 10, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x2A);
	eoi(vm, 1); eoi(vm, 0);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x2A);        /* still asserted: again */
	vm_isa_deassert_irq(vm, 10, -1);
	eoi(vm, 1); eoi(vm, 0);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	CHECK_EQ(irr(vm, 1), 0);
	pt_out(vm, 0x4D1, 1, 0x00);
	/* Auto-EOI: nothing stays in service. */
	pt_pic_init(vm, 0x03, 0x00, 0x00);
	vm_isa_pulse_irq(vm, 5, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x25);
	CHECK_EQ(isr(vm, 0), 0);
	vm_isa_pulse_irq(vm, 6, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x26);
	pt_pic_init(vm, 0x01, 0x00, 0x00);
	/* Poll command. */
	vm_isa_pulse_irq(vm, 6, -1);
	pt_out(vm, 0x20, 1, 0x0C);
	CHECK_EQ(pt_in(vm, 0x20, 1), 0x86);
	CHECK_EQ(isr(vm, 0), 0x40);
	eoi(vm, 0);
	pt_out(vm, 0x20, 1, 0x0C);
	CHECK_EQ(pt_in(vm, 0x20, 1), 0x00);              /* nothing pending */
	/* Set priority: IRQ3 lowest, so IRQ4 is highest and beats IRQ1. */
	pt_out(vm, 0x20, 1, 0xC3);
	vm_isa_pulse_irq(vm, 1, -1);
	vm_isa_pulse_irq(vm, 4, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x24);
	pt_out(vm, 0x20, 1, 0xA0);                       /* rotate on non-specific EOI */
	CHECK_EQ(platform_intr_ack(vm, 0), 0x21);
	eoi(vm, 0);
	/* Special mask mode: masking the in-service IRQ lets lower ones through. */
	pt_out(vm, 0x20, 1, 0xC7);                       /* back to IRQ0 highest */
	vm_isa_pulse_irq(vm, 2 + 1, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x23);
	vm_isa_pulse_irq(vm, 5, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	pt_out(vm, 0x21, 1, 0x08);
	pt_out(vm, 0x20, 1, 0x68);                       /* OCW3: set special mask */
	CHECK_EQ(platform_intr_ack(vm, 0), 0x25);
	pt_out(vm, 0x20, 1, 0x48);                       /* clear special mask */
	pt_out(vm, 0x20, 1, 0x65);
	pt_out(vm, 0x20, 1, 0x63);
	pt_out(vm, 0x21, 1, 0x00);
	CHECK_EQ(isr(vm, 0), 0);
}

static void test_lint0(struct vm *vm)
{
	pt_lapic_enable(vm, 0);                          /* LVTs stay masked: no ExtINT */
	vm_isa_pulse_irq(vm, 1, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	pt_mw(vm, 0, LAYOUT_LAPIC_BASE + 0x350, 4, 0x700);   /* LINT0 = ExtINT, unmasked */
	CHECK_EQ(platform_intr_ack(vm, 0), 0x21);
	eoi(vm, 0);
	/* The LAPIC hardware-disabled: the 8259 talks to the CPU directly. */
	pt_mw(vm, 0, LAYOUT_LAPIC_BASE + 0x350, 4, 0x10700);
	vm_isa_pulse_irq(vm, 1, -1);
	CHECK_EQ(platform_intr_ack(vm, 0), -1);
	CHECK_EQ(platform_wrmsr(vm, 0, 0x1B, 0xFEE00100ULL), 0);
	CHECK_EQ(platform_intr_ack(vm, 0), 0x21);
	eoi(vm, 0);
}

int main(void)
{
	config_reset();
	struct vm *vm = pt_vm_create(2);
	CHECK(vm != NULL);
	if (vm) {
		test_basic(vm);
		test_cascade(vm);
		test_modes(vm);
		test_lint0(vm);
		pt_vm_free(vm);
	}
	return unit_report("vatpic");
}
