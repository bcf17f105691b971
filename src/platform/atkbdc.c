/*
 * The i8042 keyboard controller (ports 0x60/0x64) with a PS/2 keyboard and a PS/2 mouse, as
 * bhyve's atkbdc on its LPC bridge.  Key and pointer events come from the console hub
 * (vmm/console.h: the VNC server's clients); the keyboard reports scan code set 2, or set 1
 * when the controller translates (command byte bit 6, on by default as firmware leaves it)
 * or the guest selected set 1.  The mouse is a plain 3-button relative PS/2 mouse fed with the
 * difference between absolute positions (the USB tablet, when present, takes the pointer).
 *
 * Controller: status (OBF, IBF never set, SYS, command/data, AUXOBF), command byte, the
 * commands Linux and firmware use (read/write command byte, self tests, enable/disable each
 * port, write to the mouse, loop-back writes to either output buffer, output port, pulse
 * reset).  Each device has a bounded queue of bytes for the guest; a full queue drops new
 * bytes (real keyboards overrun too).  IRQ 1 and IRQ 12 are pulsed, edge-triggered, when a
 * byte enters the output buffer and its interrupt is enabled.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "platform/atkbdc.h"
#include "platform/platform_int.h"
#include "vmm/console.h"
#include "vmm/inout.h"
#include "vmm/irq.h"
#include "vmm/layout.h"

#define KBDS_OBF      0x01
#define KBDS_SYS      0x04
#define KBDS_CMD      0x08     /* last write went to the command port */
#define KBDS_UNLOCKED 0x10     /* keyboard not inhibited */
#define KBDS_AUXOBF   0x20

#define CCB_KBD_INT   0x01
#define CCB_AUX_INT   0x02
#define CCB_SYS       0x04
#define CCB_KBD_DIS   0x10
#define CCB_AUX_DIS   0x20
#define CCB_XLATE     0x40

#define ATKBDC_QLEN   64

struct atkbdc_queue {
	uint8_t buf[ATKBDC_QLEN];
	unsigned head, len;
};

struct atkbdc {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t status, ccb, out, outport;
	bool out_aux;               /* the byte in `out` came from the mouse */
	uint8_t pending_cmd;        /* controller command waiting for its data byte, 0 none */
	struct atkbdc_queue kq, mq;
	/* keyboard */
	uint8_t kbd_cmd;            /* keyboard command waiting for its argument, 0 none */
	uint8_t kbd_set;            /* 1 or 2 */
	bool kbd_enabled;
	/* mouse */
	uint8_t mouse_cmd;
	bool mouse_enabled;
	uint8_t mouse_rate, mouse_res, mouse_buttons;
	bool mouse_scale21;
	int last_x, last_y;
	bool have_last;
	void (*reset)(void *arg);
	void *reset_arg;
};

/* ---- queues and the output buffer ---- */

static void atkbdc_q_put(struct atkbdc_queue *q, uint8_t b)
{
	if (q->len < ATKBDC_QLEN)
		q->buf[(q->head + q->len++) % ATKBDC_QLEN] = b;
}

static bool atkbdc_q_get(struct atkbdc_queue *q, uint8_t *b)
{
	if (q->len == 0)
		return false;
	*b = q->buf[q->head];
	q->head = (q->head + 1) % ATKBDC_QLEN;
	q->len--;
	return true;
}

/* Move the next byte into an empty output buffer; the IRQ to pulse (-1: none).  The
 * keyboard goes first, as on an 8042; a disabled port's bytes wait. */
static int atkbdc_fill(struct atkbdc *k)
{
	uint8_t b;

	if (k->status & KBDS_OBF)
		return -1;
	if (!(k->ccb & CCB_KBD_DIS) && atkbdc_q_get(&k->kq, &b)) {
		k->out = b;
		k->out_aux = false;
		k->status = (uint8_t)((k->status | KBDS_OBF) & ~KBDS_AUXOBF);
		return (k->ccb & CCB_KBD_INT) ? IRQ_KBD : -1;
	}
	if (!(k->ccb & CCB_AUX_DIS) && atkbdc_q_get(&k->mq, &b)) {
		k->out = b;
		k->out_aux = true;
		k->status |= KBDS_OBF | KBDS_AUXOBF;
		return (k->ccb & CCB_AUX_INT) ? IRQ_MOUSE : -1;
	}
	return -1;
}

static void atkbdc_irq(struct atkbdc *k, int irq)
{
	if (irq >= 0)
		vm_isa_pulse_irq(k->vm, irq, irq);
}

/* A byte the controller itself answers with: straight into the output buffer's queue. */
static void atkbdc_reply(struct atkbdc *k, uint8_t b, bool aux)
{
	atkbdc_q_put(aux ? &k->mq : &k->kq, b);
}

/* ---- scan codes ---- */

/* Set 2 make code to set 1 for the keys atkbdc_keymap produces (the 8042's translation). */
static uint8_t atkbdc_xlate(uint8_t s2)
{
	static const uint8_t t[0x84] = {
		[0x76] = 0x01, [0x16] = 0x02, [0x1E] = 0x03, [0x26] = 0x04, [0x25] = 0x05,
		[0x2E] = 0x06, [0x36] = 0x07, [0x3D] = 0x08, [0x3E] = 0x09, [0x46] = 0x0A,
		[0x45] = 0x0B, [0x4E] = 0x0C, [0x55] = 0x0D, [0x66] = 0x0E, [0x0D] = 0x0F,
		[0x15] = 0x10, [0x1D] = 0x11, [0x24] = 0x12, [0x2D] = 0x13, [0x2C] = 0x14,
		[0x35] = 0x15, [0x3C] = 0x16, [0x43] = 0x17, [0x44] = 0x18, [0x4D] = 0x19,
		[0x54] = 0x1A, [0x5B] = 0x1B, [0x5A] = 0x1C, [0x14] = 0x1D, [0x1C] = 0x1E,
		[0x1B] = 0x1F, [0x23] = 0x20, [0x2B] = 0x21, [0x34] = 0x22, [0x33] = 0x23,
		[0x3B] = 0x24, [0x42] = 0x25, [0x4B] = 0x26, [0x4C] = 0x27, [0x52] = 0x28,
		[0x0E] = 0x29, [0x12] = 0x2A, [0x5D] = 0x2B, [0x1A] = 0x2C, [0x22] = 0x2D,
		[0x21] = 0x2E, [0x2A] = 0x2F, [0x32] = 0x30, [0x31] = 0x31, [0x3A] = 0x32,
		[0x41] = 0x33, [0x49] = 0x34, [0x4A] = 0x35, [0x59] = 0x36, [0x7C] = 0x37,
		[0x11] = 0x38, [0x29] = 0x39, [0x58] = 0x3A, [0x05] = 0x3B, [0x06] = 0x3C,
		[0x04] = 0x3D, [0x0C] = 0x3E, [0x03] = 0x3F, [0x0B] = 0x40, [0x83] = 0x41,
		[0x0A] = 0x42, [0x01] = 0x43, [0x09] = 0x44, [0x77] = 0x45, [0x7E] = 0x46,
		[0x6C] = 0x47, [0x75] = 0x48, [0x7D] = 0x49, [0x7B] = 0x4A, [0x6B] = 0x4B,
		[0x73] = 0x4C, [0x74] = 0x4D, [0x79] = 0x4E, [0x69] = 0x4F, [0x72] = 0x50,
		[0x7A] = 0x51, [0x70] = 0x52, [0x71] = 0x53, [0x78] = 0x57, [0x07] = 0x58,
		[0x1F] = 0x5B, [0x27] = 0x5C, [0x2F] = 0x5D,
	};
	return s2 < sizeof(t) ? t[s2] : 0;
}

/* An X11 keysym to its set 2 make code; *ext for an E0-prefixed key.  0 if unknown.
 * Shifted symbols map to their key: the client sends Shift itself. */
static uint8_t atkbdc_keymap(uint32_t ks, bool *ext)
{
	static const char row_chars[] = "`1234567890-=qwertyuiop[]\\asdfghjkl;'zxcvbnm,./ ";
	static const uint8_t row_codes[] = {
		0x0E, 0x16, 0x1E, 0x26, 0x25, 0x2E, 0x36, 0x3D, 0x3E, 0x46, 0x45, 0x4E, 0x55,
		0x15, 0x1D, 0x24, 0x2D, 0x2C, 0x35, 0x3C, 0x43, 0x44, 0x4D, 0x54, 0x5B, 0x5D,
		0x1C, 0x1B, 0x23, 0x2B, 0x34, 0x33, 0x3B, 0x42, 0x4B, 0x4C, 0x52,
		0x1A, 0x22, 0x21, 0x2A, 0x32, 0x31, 0x3A, 0x41, 0x49, 0x4A, 0x29,
	};
	static const char shifted[] = "~!@#$%^&*()_+{}|:\"<>?";
	static const char unshifted[] = "`1234567890-=[]\\;',./";
	static const struct { uint32_t ks; uint8_t code; bool ext; } special[] = {
		{ 0xFF08, 0x66, 0 }, { 0xFF09, 0x0D, 0 }, { 0xFF0D, 0x5A, 0 }, { 0xFF1B, 0x76, 0 },
		{ 0xFFFF, 0x71, 1 }, { 0xFF50, 0x6C, 1 }, { 0xFF51, 0x6B, 1 }, { 0xFF52, 0x75, 1 },
		{ 0xFF53, 0x74, 1 }, { 0xFF54, 0x72, 1 }, { 0xFF55, 0x7D, 1 }, { 0xFF56, 0x7A, 1 },
		{ 0xFF57, 0x69, 1 }, { 0xFF63, 0x70, 1 }, { 0xFF67, 0x2F, 1 }, { 0xFF8D, 0x5A, 1 },
		{ 0xFFAA, 0x7C, 0 }, { 0xFFAB, 0x79, 0 }, { 0xFFAD, 0x7B, 0 }, { 0xFFAE, 0x71, 0 },
		{ 0xFFAF, 0x4A, 1 }, { 0xFFE1, 0x12, 0 }, { 0xFFE2, 0x59, 0 }, { 0xFFE3, 0x14, 0 },
		{ 0xFFE4, 0x14, 1 }, { 0xFFE5, 0x58, 0 }, { 0xFFE9, 0x11, 0 }, { 0xFFEA, 0x11, 1 },
		{ 0xFE03, 0x11, 1 }, { 0xFFE7, 0x11, 0 }, { 0xFFEB, 0x1F, 1 }, { 0xFFEC, 0x27, 1 },
		{ 0xFF7F, 0x77, 0 }, { 0xFF14, 0x7E, 0 },
		{ 0xFF95, 0x6C, 0 }, { 0xFF96, 0x6B, 0 }, { 0xFF97, 0x75, 0 }, { 0xFF98, 0x74, 0 },
		{ 0xFF99, 0x72, 0 }, { 0xFF9A, 0x7D, 0 }, { 0xFF9B, 0x7A, 0 }, { 0xFF9C, 0x69, 0 },
		{ 0xFF9D, 0x73, 0 }, { 0xFF9E, 0x70, 0 }, { 0xFF9F, 0x71, 0 },
	};
	static const uint8_t kp_digits[10] = { 0x70, 0x69, 0x72, 0x7A, 0x6B, 0x73, 0x74, 0x6C,
					       0x75, 0x7D };
	static const uint8_t fkeys[12] = { 0x05, 0x06, 0x04, 0x0C, 0x03, 0x0B, 0x83, 0x0A, 0x01,
					   0x09, 0x78, 0x07 };

	*ext = false;
	if (ks >= 'A' && ks <= 'Z')
		ks += 'a' - 'A';
	if (ks < 0x80 && ks != 0) {
		const char *p = strchr(shifted, (int)ks);
		if (p)
			ks = (uint32_t)unshifted[p - shifted];
		p = strchr(row_chars, (int)ks);
		return p ? row_codes[p - row_chars] : 0;
	}
	if (ks >= 0xFFB0 && ks <= 0xFFB9)
		return kp_digits[ks - 0xFFB0];
	if (ks >= 0xFFBE && ks <= 0xFFC9)
		return fkeys[ks - 0xFFBE];
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		if (special[i].ks == ks) {
			*ext = special[i].ext;
			return special[i].code;
		}
	}
	return 0;
}

/* Queue the bytes of one key event in the scan code set the guest sees. */
static void atkbdc_queue_key(struct atkbdc *k, uint8_t code, bool ext, bool down)
{
	bool set1 = (k->ccb & CCB_XLATE) || k->kbd_set == 1;

	if (ext)
		atkbdc_q_put(&k->kq, 0xE0);
	if (set1) {
		atkbdc_q_put(&k->kq, (uint8_t)(atkbdc_xlate(code) | (down ? 0 : 0x80)));
	} else {
		if (!down)
			atkbdc_q_put(&k->kq, 0xF0);
		atkbdc_q_put(&k->kq, code);
	}
}

static void atkbdc_key_event(void *arg, bool down, uint32_t keysym)
{
	struct atkbdc *k = arg;
	bool ext;
	uint8_t code = atkbdc_keymap(keysym, &ext);
	int irq;

	if (code == 0)
		return;
	pthread_mutex_lock(&k->lock);
	if (k->kbd_enabled && k->kq.len + 3 <= ATKBDC_QLEN)
		atkbdc_queue_key(k, code, ext, down);
	irq = atkbdc_fill(k);
	pthread_mutex_unlock(&k->lock);
	atkbdc_irq(k, irq);
}

/* ---- mouse ---- */

static int atkbdc_clamp(int v)
{
	return v > 255 ? 255 : v < -255 ? -255 : v;
}

static void atkbdc_mouse_packet(struct atkbdc *k, int dx, int dy)
{
	uint8_t b0 = (uint8_t)(0x08 | (k->mouse_buttons & 7));

	if (dx < 0)
		b0 |= 0x10;
	if (dy < 0)
		b0 |= 0x20;
	atkbdc_q_put(&k->mq, b0);
	atkbdc_q_put(&k->mq, (uint8_t)dx);
	atkbdc_q_put(&k->mq, (uint8_t)dy);
}

static void atkbdc_ptr_event(void *arg, int buttons, int x, int y, int w, int h)
{
	struct atkbdc *k = arg;
	int irq, dx, dy;
	/* VNC: bit 0 left, 1 middle, 2 right; PS/2: bit 0 left, 1 right, 2 middle. */
	uint8_t b = (uint8_t)((buttons & 1) | ((buttons & 4) >> 1) | ((buttons & 2) << 1));

	(void)w;
	(void)h;
	pthread_mutex_lock(&k->lock);
	dx = k->have_last ? atkbdc_clamp(x - k->last_x) : 0;
	dy = k->have_last ? atkbdc_clamp(k->last_y - y) : 0;  /* PS/2 y grows upwards */
	k->last_x = x;
	k->last_y = y;
	k->have_last = true;
	if (k->mouse_enabled && (dx || dy || b != k->mouse_buttons) &&
	    k->mq.len + 3 <= ATKBDC_QLEN) {
		k->mouse_buttons = b;
		atkbdc_mouse_packet(k, dx, dy);
	}
	irq = atkbdc_fill(k);
	pthread_mutex_unlock(&k->lock);
	atkbdc_irq(k, irq);
}

/* A byte the guest sends to the mouse (controller command 0xD4). */
static void atkbdc_mouse_write(struct atkbdc *k, uint8_t v)
{
	uint8_t cmd = k->mouse_cmd;

	k->mouse_cmd = 0;
	if (cmd == 0xF3 || cmd == 0xE8) {           /* argument of set rate / resolution */
		if (cmd == 0xF3)
			k->mouse_rate = v;
		else
			k->mouse_res = v & 3;
		atkbdc_reply(k, 0xFA, true);
		return;
	}
	switch (v) {
	case 0xFF:                                   /* reset: ACK, self-test passed, ID 0 */
		k->mouse_enabled = false;
		k->mouse_rate = 100;
		k->mouse_res = 2;
		k->mouse_scale21 = false;
		atkbdc_reply(k, 0xFA, true);
		atkbdc_reply(k, 0xAA, true);
		atkbdc_reply(k, 0x00, true);
		return;
	case 0xF2:                                   /* identify: a standard mouse */
		atkbdc_reply(k, 0xFA, true);
		atkbdc_reply(k, 0x00, true);
		return;
	case 0xE9:                                   /* status request */
		atkbdc_reply(k, 0xFA, true);
		atkbdc_reply(k, (uint8_t)((k->mouse_enabled ? 0x20 : 0) |
					  (k->mouse_scale21 ? 0x10 : 0) |
					  (k->mouse_buttons & 7)), true);
		atkbdc_reply(k, k->mouse_res, true);
		atkbdc_reply(k, k->mouse_rate, true);
		return;
	case 0xEB:                                   /* read data: one packet, no motion */
		atkbdc_reply(k, 0xFA, true);
		atkbdc_mouse_packet(k, 0, 0);
		return;
	case 0xF3: case 0xE8:
		k->mouse_cmd = v;
		break;
	case 0xF4:
		k->mouse_enabled = true;
		break;
	case 0xF5:
		k->mouse_enabled = false;
		break;
	case 0xF6:
		k->mouse_rate = 100;
		k->mouse_res = 2;
		k->mouse_scale21 = false;
		break;
	case 0xE6: case 0xE7:
		k->mouse_scale21 = v == 0xE7;
		break;
	case 0xEA: case 0xF0: case 0xEC: case 0xEE:
		break;                               /* modes: acknowledged, stream kept */
	default:
		atkbdc_reply(k, 0xFE, true);         /* resend: not a command */
		return;
	}
	atkbdc_reply(k, 0xFA, true);
}

/* ---- keyboard commands (bytes written to port 0x60 outside a controller command) ---- */

static void atkbdc_kbd_write(struct atkbdc *k, uint8_t v)
{
	uint8_t cmd = k->kbd_cmd;

	k->kbd_cmd = 0;
	if (cmd == 0xF0) {                           /* argument of get/set scan code set */
		atkbdc_reply(k, 0xFA, false);
		if (v == 0)
			atkbdc_reply(k, (k->ccb & CCB_XLATE) ? (k->kbd_set == 1 ? 0x43 : 0x41) :
				     k->kbd_set, false);
		else if (v == 1 || v == 2)
			k->kbd_set = v;
		return;
	}
	if (cmd == 0xED || cmd == 0xF3) {            /* LEDs, typematic rate */
		atkbdc_reply(k, 0xFA, false);
		return;
	}
	switch (v) {
	case 0xFF:                                   /* reset: ACK, self-test passed */
		k->kbd_set = 2;
		k->kbd_enabled = true;
		atkbdc_reply(k, 0xFA, false);
		atkbdc_reply(k, 0xAA, false);
		return;
	case 0xF2:                                   /* identify: MF2 keyboard */
		atkbdc_reply(k, 0xFA, false);
		atkbdc_reply(k, 0xAB, false);
		atkbdc_reply(k, (k->ccb & CCB_XLATE) ? 0x41 : 0x83, false);
		return;
	case 0xEE:                                   /* echo */
		atkbdc_reply(k, 0xEE, false);
		return;
	case 0xED: case 0xF3: case 0xF0:
		k->kbd_cmd = v;
		break;
	case 0xF4:
		k->kbd_enabled = true;
		break;
	case 0xF5:
		k->kbd_enabled = false;
		break;
	case 0xF6:
		k->kbd_set = 2;
		break;
	case 0xF7: case 0xF8: case 0xF9: case 0xFA: case 0xFB: case 0xFC: case 0xFD:
		break;                               /* typematic/make-break modes */
	default:
		atkbdc_reply(k, 0xFE, false);
		return;
	}
	atkbdc_reply(k, 0xFA, false);
}

/* ---- the controller ---- */

/* A byte written to port 0x60: a controller command's argument, or for a device. */
static void atkbdc_data_write(struct atkbdc *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	switch (cmd) {
	case 0x60:                                   /* write command byte */
		k->ccb = v;
		k->status = (uint8_t)((k->status & ~KBDS_SYS) | (v & CCB_SYS ? KBDS_SYS : 0));
		return;
	case 0xD1:                                   /* write output port; bit 0 low resets */
		k->outport = v;
		if (!(v & 1) && k->reset)
			k->reset(k->reset_arg);
		return;
	case 0xD2:                                   /* as if from the keyboard */
		atkbdc_reply(k, v, false);
		return;
	case 0xD3:                                   /* as if from the mouse */
		atkbdc_reply(k, v, true);
		return;
	case 0xD4:                                   /* to the mouse */
		atkbdc_mouse_write(k, v);
		return;
	default:
		/* A byte for the keyboard also enables its port, as an 8042 does. */
		k->ccb &= (uint8_t)~CCB_KBD_DIS;
		atkbdc_kbd_write(k, v);
		return;
	}
}

static void atkbdc_cmd_write(struct atkbdc *k, uint8_t v)
{
	switch (v) {
	case 0x20:
		atkbdc_reply(k, k->ccb, false);
		break;
	case 0x60: case 0xD1: case 0xD2: case 0xD3: case 0xD4:
		k->pending_cmd = v;
		break;
	case 0xA7:
		k->ccb |= CCB_AUX_DIS;
		break;
	case 0xA8:
		k->ccb &= (uint8_t)~CCB_AUX_DIS;
		break;
	case 0xA9: case 0xAB:                        /* port tests: no fault */
		atkbdc_reply(k, 0x00, false);
		break;
	case 0xAA:                                   /* self test */
		k->status |= KBDS_SYS;
		atkbdc_reply(k, 0x55, false);
		break;
	case 0xAD:
		k->ccb |= CCB_KBD_DIS;
		break;
	case 0xAE:
		k->ccb &= (uint8_t)~CCB_KBD_DIS;
		break;
	case 0xC0:                                   /* input port: nothing special */
		atkbdc_reply(k, 0x00, false);
		break;
	case 0xD0:
		atkbdc_reply(k, k->outport, false);
		break;
	default:
		/* 0xF0-0xFF pulse output port lines for a moment; line 0 is the CPU reset. */
		if (v >= 0xF0 && !(v & 1) && k->reset)
			k->reset(k->reset_arg);
		break;
	}
}

static int atkbdc_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		     void *arg)
{
	struct atkbdc *k = arg;
	int irq;

	pthread_mutex_lock(&k->lock);
	if (in && port == PORT_KBD_DATA) {
		*eax = k->out;
		k->status &= (uint8_t)~(KBDS_OBF | KBDS_AUXOBF);
	} else if (in) {
		*eax = k->status;
	} else if (port == PORT_KBD_DATA) {
		k->status &= (uint8_t)~KBDS_CMD;
		atkbdc_data_write(k, (uint8_t)*eax);
	} else {
		k->status |= KBDS_CMD;
		atkbdc_cmd_write(k, (uint8_t)*eax);
	}
	irq = atkbdc_fill(k);
	pthread_mutex_unlock(&k->lock);
	atkbdc_irq(k, irq);
	return 0;
}

/* ---- life ---- */

struct atkbdc *atkbdc_create(struct vm *vm, void (*reset)(void *), void *reset_arg)
{
	struct atkbdc *k = calloc(1, sizeof(*k));
	struct inout_port data = { "i8042-data", PORT_KBD_DATA, 1, IOPORT_F_INOUT, atkbdc_io, k };
	struct inout_port cmd = { "i8042-cmd", PORT_KBD_CMD, 1, IOPORT_F_INOUT, atkbdc_io, k };

	if (k == NULL)
		return NULL;
	k->vm = vm;
	pthread_mutex_init(&k->lock, NULL);
	/* As firmware leaves it: interrupts on, translation on, system flag set. */
	k->ccb = CCB_KBD_INT | CCB_AUX_INT | CCB_SYS | CCB_XLATE;
	k->status = KBDS_SYS | KBDS_UNLOCKED;
	k->outport = 0x01 | 0x02;                    /* reset line high, A20 on */
	k->kbd_set = 2;
	k->kbd_enabled = true;
	k->mouse_rate = 100;
	k->mouse_res = 2;
	k->reset = reset;
	k->reset_arg = reset_arg;
	if (register_inout(vm, &data) < 0) {
		free(k);
		return NULL;
	}
	if (register_inout(vm, &cmd) < 0) {
		unregister_inout(vm, &data);
		free(k);
		return NULL;
	}
	console_kbd_register(vm, atkbdc_key_event, k, CONSOLE_PRIO_PS2);
	console_ptr_register(vm, atkbdc_ptr_event, k, CONSOLE_PRIO_PS2);
	return k;
}

void atkbdc_destroy(struct atkbdc *k)
{
	struct inout_port data = { .port = PORT_KBD_DATA, .size = 1 };
	struct inout_port cmd = { .port = PORT_KBD_CMD, .size = 1 };

	if (k == NULL)
		return;
	console_unregister(k->vm, k);
	unregister_inout(k->vm, &data);
	unregister_inout(k->vm, &cmd);
	free(k);
}

/* ---- for tests ---- */

void atkbdc_key(struct atkbdc *k, bool down, uint32_t keysym)
{
	atkbdc_key_event(k, down, keysym);
}

void atkbdc_pointer(struct atkbdc *k, int buttons, int x, int y)
{
	atkbdc_ptr_event(k, buttons, x, y, 0, 0);
}
