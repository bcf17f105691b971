/*
 * The USB tablet behind xhci (usb_tablet.c): a full-speed HID device with one interrupt IN
 * endpoint giving absolute pointer positions (0-32767 on both axes), three buttons and a
 * wheel, fed by the console hub.  The controller hands it control requests and polls it for
 * reports; it never touches guest memory itself.
 */
#ifndef BHYVE_USB_TABLET_H
#define BHYVE_USB_TABLET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct usb_tablet;

struct usb_setup {
	uint8_t bmRequestType, bRequest;
	uint16_t wValue, wIndex, wLength;
};

#define USB_TABLET_REPORT_LEN 6

/* `changed` is called (any thread, no locks held by the tablet) when a new report waits. */
struct usb_tablet *usb_tablet_create(struct vm *vm, void (*changed)(void *arg), void *arg);
void usb_tablet_destroy(struct usb_tablet *t);
/* A control request: for IN requests up to `len` bytes go to `buf`; *out_len is what was
 * produced.  0, or -1 for a request the device stalls. */
int usb_tablet_control(struct usb_tablet *t, const struct usb_setup *s, uint8_t *buf,
		       size_t len, size_t *out_len);
/* The next report if one waits (or the device was just configured): true and the bytes. */
bool usb_tablet_poll(struct usb_tablet *t, uint8_t report[USB_TABLET_REPORT_LEN]);
/* Events as the console hub gives them (tests). */
void usb_tablet_pointer(struct usb_tablet *t, int buttons, int x, int y, int w, int h);

#endif
