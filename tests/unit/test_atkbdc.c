/* The i8042 keyboard controller and its PS/2 keyboard and mouse (src/platform/atkbdc.c):
 * what Linux's i8042/atkbd/psmouse probing does, key events from the console hub in scan code
 * sets 1 (translated) and 2, mouse packets, and hostile input: every byte value to both ports
 * in every state, floods that must stay bounded, and the reset line. */
#include "plat_test.h"
#include "unit.h"

#include "vmm/console.h"

#define ST 0x64
#define DATA 0x60

static int rd(struct vm *vm)
{
	/* The next output byte, or -1 if the output buffer is empty. */
	if (!(pt_in(vm, ST, 1) & 0x01))
		return -1;
	return (int)pt_in(vm, DATA, 1);
}

static void drain(struct vm *vm)
{
	for (int i = 0; i < 1000 && rd(vm) >= 0; i++)
		;
}

static void test_controller(struct vm *vm)
{
	drain(vm);
	pt_out(vm, ST, 1, 0xAA);
	CHECK_EQ(rd(vm), 0x55);
	CHECK_EQ(rd(vm), -1);
	pt_out(vm, ST, 1, 0x20);
	int ccb = rd(vm);
	CHECK_EQ(ccb & 0x40, 0x40);                     /* translation on, as firmware leaves it */
	pt_out(vm, ST, 1, 0x60);
	pt_out(vm, DATA, 1, 0x47 & ~0x02);              /* aux interrupt off */
	pt_out(vm, ST, 1, 0x20);
	CHECK_EQ(rd(vm), 0x45);
	/* Linux's AUX loop-back test: 0xD3 puts a byte in the output buffer as from the mouse. */
	pt_out(vm, ST, 1, 0xD3);
	pt_out(vm, DATA, 1, 0x5A);
	CHECK_EQ(pt_in(vm, ST, 1) & 0x21, 0x21);
	CHECK_EQ(pt_in(vm, DATA, 1), 0x5A);
	pt_out(vm, ST, 1, 0xA7);
	pt_out(vm, ST, 1, 0x20);
	CHECK_EQ(rd(vm) & 0x20, 0x20);
	pt_out(vm, ST, 1, 0xA8);
	pt_out(vm, ST, 1, 0x20);
	CHECK_EQ(rd(vm) & 0x20, 0);
	pt_out(vm, ST, 1, 0x60);
	pt_out(vm, DATA, 1, 0x47);
}

static void test_keyboard(struct vm *vm)
{
	drain(vm);
	pt_out(vm, DATA, 1, 0xFF);                      /* reset */
	CHECK_EQ(rd(vm), 0xFA);
	CHECK_EQ(rd(vm), 0xAA);
	pt_out(vm, DATA, 1, 0xF2);                      /* identify, translated */
	CHECK_EQ(rd(vm), 0xFA);
	CHECK_EQ(rd(vm), 0xAB);
	CHECK_EQ(rd(vm), 0x41);
	pt_out(vm, DATA, 1, 0xF0);                      /* select set 2 */
	CHECK_EQ(rd(vm), 0xFA);
	pt_out(vm, DATA, 1, 0x02);
	CHECK_EQ(rd(vm), 0xFA);
	/* 'e' with translation: set 1 make 0x12, break 0x92. */
	console_key_event(vm, true, 'e');
	console_key_event(vm, false, 'e');
	CHECK_EQ(rd(vm), 0x12);
	CHECK_EQ(rd(vm), 0x92);
	/* Shifted symbols are their key; '$' is the 4 key. */
	console_key_event(vm, true, 0xFFE1);
	console_key_event(vm, true, '$');
	CHECK_EQ(rd(vm), 0x2A);
	CHECK_EQ(rd(vm), 0x05);
	console_key_event(vm, false, '$');
	console_key_event(vm, false, 0xFFE1);
	CHECK_EQ(rd(vm), 0x85);
	CHECK_EQ(rd(vm), 0xAA);
	/* An extended key: right arrow E0 4D / E0 CD. */
	console_key_event(vm, true, 0xFF53);
	console_key_event(vm, false, 0xFF53);
	CHECK_EQ(rd(vm), 0xE0);
	CHECK_EQ(rd(vm), 0x4D);
	CHECK_EQ(rd(vm), 0xE0);
	CHECK_EQ(rd(vm), 0xCD);
	/* Translation off: set 2, break is F0 + make. */
	pt_out(vm, ST, 1, 0x60);
	pt_out(vm, DATA, 1, 0x07);
	console_key_event(vm, true, 'e');
	console_key_event(vm, false, 'e');
	CHECK_EQ(rd(vm), 0x24);
	CHECK_EQ(rd(vm), 0xF0);
	CHECK_EQ(rd(vm), 0x24);
	/* Unknown keysyms are dropped. */
	console_key_event(vm, true, 0x12345678);
	CHECK_EQ(rd(vm), -1);
	pt_out(vm, ST, 1, 0x60);
	pt_out(vm, DATA, 1, 0x47);
}

static void test_mouse(struct vm *vm)
{
	drain(vm);
	pt_out(vm, ST, 1, 0xD4);
	pt_out(vm, DATA, 1, 0xFF);
	CHECK_EQ(rd(vm), 0xFA);
	CHECK_EQ(rd(vm), 0xAA);
	CHECK_EQ(rd(vm), 0x00);
	pt_out(vm, ST, 1, 0xD4);
	pt_out(vm, DATA, 1, 0xF4);                      /* enable reporting */
	CHECK_EQ(rd(vm), 0xFA);
	console_ptr_event(vm, 0, 100, 100, 640, 480);   /* first position: no motion yet */
	console_ptr_event(vm, 1, 110, 90, 640, 480);    /* +10 right, 10 up, left button */
	CHECK_EQ(rd(vm), 0x09);
	CHECK_EQ(rd(vm), 10);
	CHECK_EQ(rd(vm), 10);
	console_ptr_event(vm, 0, 100, 95, 640, 480);    /* -10, 5 down */
	CHECK_EQ(rd(vm), 0x38);
	CHECK_EQ(rd(vm), 0xF6);
	CHECK_EQ(rd(vm), 0xFB);
	CHECK_EQ(rd(vm), -1);
}

/* Every byte to both ports in every state the controller can be left in; afterwards the
 * controller still answers, the output never grows past its queues, the host is fine. */
static void test_hostile(struct vm *vm)
{
	unsigned seed = 12345;
	int reads = 0;

	for (int i = 0; i < 200000; i++) {
		seed = seed * 1103515245u + 12345u;
		uint8_t v = (uint8_t)(seed >> 16);
		uint16_t port = (seed >> 8) & 1 ? ST : DATA;
		if (port == ST && (v & 0xF1) == 0xF0)
			v |= 1;                             /* keep the reset line out of the flood */
		if (port == ST && v == 0xD1)
			continue;                           /* output port writes may reset too */
		pt_out(vm, port, 1, v);
		if ((seed >> 24) & 1) {
			pt_in(vm, DATA, 1);
			reads++;
		}
		if ((seed >> 25) & 1)
			console_key_event(vm, (seed >> 26) & 1, seed >> 3);
		if ((seed >> 27) & 1)
			console_ptr_event(vm, (int)(seed & 0x1F), (int)(seed % 5000) - 100,
					  (int)(seed % 3000) - 100, 640, 480);
	}
	CHECK(reads > 0);
	/* Flood without reading: the queues stay bounded (at most two 64-byte queues). */
	for (int i = 0; i < 100000; i++)
		console_key_event(vm, i & 1, 'a');
	int n = 0;
	while (rd(vm) >= 0 && n < 10000)
		n++;
	CHECK(n <= 2 * 64 + 1);
	pt_out(vm, ST, 1, 0x60);
	pt_out(vm, DATA, 1, 0x47);
	drain(vm);
	pt_out(vm, ST, 1, 0xAA);
	CHECK_EQ(rd(vm), 0x55);
	/* The reset line: 0xFE and output port bit 0 low. */
	int s0 = pt_ev.suspends;
	pt_out(vm, ST, 1, 0xFE);
	CHECK_EQ(pt_ev.suspends, s0 + 1);
	pt_out(vm, ST, 1, 0xD1);
	pt_out(vm, DATA, 1, 0x02);
	CHECK_EQ(pt_ev.suspends, s0 + 2);
	pt_out(vm, ST, 1, 0xD1);
	pt_out(vm, DATA, 1, 0x03);
	CHECK_EQ(pt_ev.suspends, s0 + 2);
}

int main(void)
{
	config_reset();
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (vm) {
		test_controller(vm);
		test_keyboard(vm);
		test_mouse(vm);
		test_hostile(vm);
		pt_vm_free(vm);
	}
	return unit_report("atkbdc");
}
