/*
 * A 16550A UART core shared by the LPC COM ports and the PCI serial device: registers,
 * a 16-byte receive FIFO, THRE / received-data / line-status / modem-status interrupts, and
 * loopback.  The owner gives it an interrupt callback and, optionally, a TTY backend path.
 */
#ifndef BHYVE_UART_EMUL_H
#define BHYVE_UART_EMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uart_softc;

#define UART_IO_BAR_SIZE 8

/* Called (without the UART's lock) when the interrupt output changes level. */
typedef void (*uart_intr_fn)(void *arg, bool assert);

struct uart_softc *uart_init(uart_intr_fn intr, void *arg);
void uart_deinit(struct uart_softc *sc);
/* Connect a TTY backend (see backends/tty.h: "stdio", "pty", a device path); `name` (com1,
 * pci-uart...) labels messages.  0 or -1 and a message in err. */
int uart_set_backend(struct uart_softc *sc, const char *name, const char *path, char *err,
		     size_t errlen);
/* Register access, offset 0-7. */
uint8_t uart_read(struct uart_softc *sc, int offset);
void uart_write(struct uart_softc *sc, int offset, uint8_t value);
/* Bytes arriving from outside (backends, tests): how many fitted into the receive FIFO. */
size_t uart_rx_push(struct uart_softc *sc, const uint8_t *buf, size_t len);
/* Tests: see transmitted bytes (called with each byte, without the lock). */
void uart_set_tx_hook(struct uart_softc *sc, void (*fn)(void *arg, uint8_t byte), void *arg);

#endif
