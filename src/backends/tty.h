/*
 * Character backends for serial devices:
 *   "stdio"        bhyve's own terminal, switched to raw mode and restored at exit;
 *   "pty"          a new pseudo-terminal; its name (/dev/pts/N) is printed on stderr;
 *   a path         an existing TTY device or FIFO (e.g. /dev/nmdm0A's Linux analogue).
 * Input is read by a thread and handed to the device; output is written directly.
 */
#ifndef BHYVE_TTY_H
#define BHYVE_TTY_H

#include <stddef.h>
#include <stdint.h>

struct tty_backend;

/* Receive callback: returns how many of the bytes the device took (0 = full; the reader then
 * waits for tty_rx_space()). */
typedef size_t (*tty_rx_fn)(void *arg, const uint8_t *buf, size_t len);

struct tty_backend *tty_open(const char *path, const char *who, char *err, size_t errlen);
int tty_start(struct tty_backend *tb, tty_rx_fn rx, void *arg);
/* The device has room again. */
void tty_rx_space(struct tty_backend *tb);
void tty_write(struct tty_backend *tb, const uint8_t *buf, size_t len);
void tty_close(struct tty_backend *tb);
const char *tty_name(const struct tty_backend *tb);
/* Put a terminal switched to raw mode back (async-signal-safe; also runs at exit). */
void tty_restore_all(void);

#endif
