/*
 * USB HID tablet (usb_tablet.h).  Descriptors: device (USB 2.0, EP0 64 bytes), one
 * configuration with one HID interface (no boot protocol) and EP 0x81 interrupt IN, 8 bytes,
 * every 10 ms; a report descriptor for a pointer with 3 buttons, absolute X/Y 0-32767 and a
 * relative wheel.  Report: buttons, X (16 bits LE), Y (16 bits LE), wheel.
 */
#include "pci/usb_tablet.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/console.h"

#define UT_REQ_GET_STATUS    0x00
#define UT_REQ_CLEAR_FEATURE 0x01
#define UT_REQ_SET_FEATURE   0x03
#define UT_REQ_GET_DESC      0x06
#define UT_REQ_GET_CONFIG    0x08
#define UT_REQ_SET_CONFIG    0x09
#define UT_REQ_GET_IFACE     0x0A
#define UT_REQ_SET_IFACE     0x0B
#define UT_HID_GET_REPORT    0x01
#define UT_HID_GET_IDLE      0x02
#define UT_HID_GET_PROTOCOL  0x03
#define UT_HID_SET_IDLE      0x0A
#define UT_HID_SET_PROTOCOL  0x0B

#define UT_MAX_ABS 0x7FFF

static const uint8_t ut_report_desc[] = {
	0x05, 0x01,        /* Usage Page (Generic Desktop) */
	0x09, 0x02,        /* Usage (Mouse) */
	0xA1, 0x01,        /* Collection (Application) */
	0x09, 0x01,        /*   Usage (Pointer) */
	0xA1, 0x00,        /*   Collection (Physical) */
	0x05, 0x09,        /*     Usage Page (Button) */
	0x19, 0x01, 0x29, 0x03, /* Usage Minimum 1, Maximum 3 */
	0x15, 0x00, 0x25, 0x01, /* Logical 0..1 */
	0x95, 0x03, 0x75, 0x01, /* 3 x 1 bit */
	0x81, 0x02,        /*     Input (Data, Var, Abs) */
	0x95, 0x01, 0x75, 0x05, /* 1 x 5 bits padding */
	0x81, 0x01,        /*     Input (Const) */
	0x05, 0x01,        /*     Usage Page (Generic Desktop) */
	0x09, 0x30, 0x09, 0x31, /* Usage X, Y */
	0x15, 0x00, 0x26, 0xFF, 0x7F, /* Logical 0..32767 */
	0x35, 0x00, 0x46, 0xFF, 0x7F, /* Physical 0..32767 */
	0x75, 0x10, 0x95, 0x02, /* 2 x 16 bits */
	0x81, 0x02,        /*     Input (Data, Var, Abs) */
	0x09, 0x38,        /*     Usage (Wheel) */
	0x15, 0x81, 0x25, 0x7F, /* Logical -127..127 */
	0x35, 0x00, 0x45, 0x00, /* Physical 0..0 */
	0x75, 0x08, 0x95, 0x01, /* 1 x 8 bits */
	0x81, 0x06,        /*     Input (Data, Var, Rel) */
	0xC0,              /*   End Collection */
	0xC0,              /* End Collection */
};

static const uint8_t ut_device_desc[18] = {
	18, 0x01, 0x00, 0x02,  /* USB 2.0 */
	0x00, 0x00, 0x00, 64,  /* class per interface, EP0 64 bytes */
	0x27, 0x06, 0x01, 0x00,/* vendor 0x0627, product 0x0001 (as QEMU's tablet) */
	0x00, 0x01, 1, 2, 0, 1 /* release 1.00, strings 1 and 2, no serial, 1 configuration */
};

#define UT_CONFIG_LEN (9 + 9 + 9 + 7)
static const uint8_t ut_config_desc[UT_CONFIG_LEN] = {
	9, 0x02, UT_CONFIG_LEN, 0, 1, 1, 0, 0xA0, 50,   /* 1 interface, remote wakeup, 100 mA */
	9, 0x04, 0, 0, 1, 0x03, 0x00, 0x00, 0,          /* HID, no boot protocol */
	9, 0x21, 0x11, 0x01, 0, 1, 0x22, sizeof(ut_report_desc), 0,
	7, 0x05, 0x81, 0x03, 8, 0, 10,                  /* EP1 IN interrupt, 8 bytes, 10 ms */
};

struct usb_tablet {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t report[USB_TABLET_REPORT_LEN];
	bool pending;
	uint8_t config, idle, protocol;
	void (*changed)(void *arg);
	void *arg;
};

static size_t ut_string(uint8_t idx, uint8_t *out, size_t cap)
{
	static const char *const strs[] = { NULL, "bhyve", "bhyve USB tablet" };
	uint8_t d[64];
	size_t n;

	if (idx == 0) {
		d[0] = 4;
		d[1] = 0x03;
		d[2] = 0x09;       /* English (US) */
		d[3] = 0x04;
		n = 4;
	} else if (idx < sizeof(strs) / sizeof(strs[0])) {
		size_t l = strlen(strs[idx]);
		n = 2 + 2 * l;
		d[0] = (uint8_t)n;
		d[1] = 0x03;
		for (size_t i = 0; i < l; i++) {
			d[2 + 2 * i] = (uint8_t)strs[idx][i];
			d[3 + 2 * i] = 0;
		}
	} else {
		return (size_t)-1;
	}
	n = n < cap ? n : cap;
	memcpy(out, d, n);
	return n;
}

static int ut_get_descriptor(const struct usb_setup *s, uint8_t *buf, size_t len,
			     size_t *out)
{
	const uint8_t *d = NULL;
	size_t n = 0;

	switch (s->wValue >> 8) {
	case 0x01: d = ut_device_desc; n = sizeof(ut_device_desc); break;
	case 0x02: d = ut_config_desc; n = sizeof(ut_config_desc); break;
	case 0x03:
		n = ut_string((uint8_t)s->wValue, buf, len);
		if (n == (size_t)-1)
			return -1;
		*out = n;
		return 0;
	case 0x21: d = ut_config_desc + 18; n = 9; break;
	case 0x22: d = ut_report_desc; n = sizeof(ut_report_desc); break;
	default: return -1;
	}
	n = n < len ? n : len;
	memcpy(buf, d, n);
	*out = n;
	return 0;
}

int usb_tablet_control(struct usb_tablet *t, const struct usb_setup *s, uint8_t *buf,
		       size_t len, size_t *out_len)
{
	int rc = 0;

	if (len > s->wLength)
		len = s->wLength;
	*out_len = 0;
	pthread_mutex_lock(&t->lock);
	switch ((unsigned)s->bmRequestType << 8 | s->bRequest) {
	case 0x8000 | UT_REQ_GET_STATUS: case 0x8100 | UT_REQ_GET_STATUS:
	case 0x8200 | UT_REQ_GET_STATUS:
		memset(buf, 0, len < 2 ? len : 2);
		*out_len = len < 2 ? len : 2;
		break;
	case 0x8000 | UT_REQ_GET_DESC: case 0x8100 | UT_REQ_GET_DESC:
		rc = ut_get_descriptor(s, buf, len, out_len);
		break;
	case 0x8000 | UT_REQ_GET_CONFIG:
		if (len)
			buf[0] = t->config;
		*out_len = len ? 1 : 0;
		break;
	case 0x0000 | UT_REQ_SET_CONFIG:
		if (s->wValue > 1) {
			rc = -1;
			break;
		}
		t->config = (uint8_t)s->wValue;
		t->pending = true;             /* the first report tells where the pointer is */
		break;
	case 0x8100 | UT_REQ_GET_IFACE:
		if (len)
			buf[0] = 0;
		*out_len = len ? 1 : 0;
		break;
	case 0x0100 | UT_REQ_SET_IFACE:
	case 0x0000 | UT_REQ_CLEAR_FEATURE: case 0x0100 | UT_REQ_CLEAR_FEATURE:
	case 0x0200 | UT_REQ_CLEAR_FEATURE: case 0x0000 | UT_REQ_SET_FEATURE:
		break;
	case 0x2100 | UT_HID_SET_IDLE:
		t->idle = (uint8_t)(s->wValue >> 8);
		break;
	case 0x2100 | UT_HID_SET_PROTOCOL:
		t->protocol = (uint8_t)s->wValue;
		break;
	case 0xA100 | UT_HID_GET_IDLE:
		if (len)
			buf[0] = t->idle;
		*out_len = len ? 1 : 0;
		break;
	case 0xA100 | UT_HID_GET_PROTOCOL:
		if (len)
			buf[0] = t->protocol;
		*out_len = len ? 1 : 0;
		break;
	case 0xA100 | UT_HID_GET_REPORT:
		*out_len = len < USB_TABLET_REPORT_LEN ? len : USB_TABLET_REPORT_LEN;
		memcpy(buf, t->report, *out_len);
		break;
	default:
		rc = -1;
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

bool usb_tablet_poll(struct usb_tablet *t, uint8_t report[USB_TABLET_REPORT_LEN])
{
	bool have;

	pthread_mutex_lock(&t->lock);
	have = t->pending && t->config;
	if (have) {
		memcpy(report, t->report, USB_TABLET_REPORT_LEN);
		t->pending = false;
		t->report[5] = 0;          /* the wheel is relative: reported once */
	}
	pthread_mutex_unlock(&t->lock);
	return have;
}

void usb_tablet_pointer(struct usb_tablet *t, int buttons, int x, int y, int w, int h)
{
	uint32_t ax = w > 1 ? (uint32_t)x * UT_MAX_ABS / (uint32_t)(w - 1) : 0;
	uint32_t ay = h > 1 ? (uint32_t)y * UT_MAX_ABS / (uint32_t)(h - 1) : 0;

	if (x < 0 || y < 0)
		return;
	ax = ax > UT_MAX_ABS ? UT_MAX_ABS : ax;
	ay = ay > UT_MAX_ABS ? UT_MAX_ABS : ay;
	pthread_mutex_lock(&t->lock);
	/* VNC: 1 left, 2 middle, 4 right, 8/16 wheel up/down; HID: 1 left, 2 right, 4 middle. */
	t->report[0] = (uint8_t)((buttons & 1) | ((buttons & 4) >> 1) | ((buttons & 2) << 1));
	t->report[1] = (uint8_t)ax;
	t->report[2] = (uint8_t)(ax >> 8);
	t->report[3] = (uint8_t)ay;
	t->report[4] = (uint8_t)(ay >> 8);
	if (buttons & 8)
		t->report[5] = 1;
	else if (buttons & 16)
		t->report[5] = 0xFF;
	t->pending = true;
	pthread_mutex_unlock(&t->lock);
	if (t->changed)
		t->changed(t->arg);
}

static void ut_console_ptr(void *arg, int buttons, int x, int y, int w, int h)
{
	usb_tablet_pointer(arg, buttons, x, y, w, h);
}

struct usb_tablet *usb_tablet_create(struct vm *vm, void (*changed)(void *arg), void *arg)
{
	struct usb_tablet *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->vm = vm;
	t->changed = changed;
	t->arg = arg;
	t->protocol = 1;
	pthread_mutex_init(&t->lock, NULL);
	if (vm)
		console_ptr_register(vm, ut_console_ptr, t, CONSOLE_PRIO_TABLET);
	return t;
}

void usb_tablet_destroy(struct usb_tablet *t)
{
	if (t == NULL)
		return;
	if (t->vm)
		console_unregister(t->vm, t);
	free(t);
}
