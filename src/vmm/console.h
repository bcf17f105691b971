/*
 * The VM's console input: a display server (VNC) reports key and pointer events here and the
 * input devices that registered (PS/2 keyboard and mouse, the USB tablet) receive them.  Of
 * several pointer devices the one with the highest priority gets the events (an absolute
 * tablet before a relative PS/2 mouse), as bhyve does.  Events come from any thread; the
 * sinks do their own locking.
 */
#ifndef BHYVE_CONSOLE_H
#define BHYVE_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* An X11 keysym pressed (down) or released. */
typedef void (*console_kbd_fn)(void *arg, bool down, uint32_t keysym);
/* The absolute position (x, y) in a width x height screen and the buttons held (bit 0 left,
 * 1 middle, 2 right, 3 wheel up, 4 wheel down). */
typedef void (*console_ptr_fn)(void *arg, int buttons, int x, int y, int width, int height);

/* 0, or -1 if there is no room (a few sinks per VM). */
int console_kbd_register(struct vm *vm, console_kbd_fn fn, void *arg, int priority);
int console_ptr_register(struct vm *vm, console_ptr_fn fn, void *arg, int priority);
void console_unregister(struct vm *vm, void *arg);

void console_key_event(struct vm *vm, bool down, uint32_t keysym);
void console_ptr_event(struct vm *vm, int buttons, int x, int y, int width, int height);

/* Priorities used by the devices. */
#define CONSOLE_PRIO_PS2    1
#define CONSOLE_PRIO_TABLET 10

#endif
