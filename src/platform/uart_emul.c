/*
 * 16550A UART core.  Transmission is instantaneous (THR empties at once), so THRE is raised
 * right after each write; received bytes wait in a 16-byte FIFO (1 byte with FIFOs off).
 * The interrupt output follows the highest-priority pending source, as IIR reports it; like
 * bhyve, it is not gated by MCR.OUT2.
 *
 * Input flow control towards the backend: when the receive FIFO is full the backend's reader
 * waits (its bytes stay in the host's buffer, nothing is dropped) until the UART says there is
 * room again.  Room appears not only when the guest reads RBR but also when it resets the FIFO
 * (FCR bit 1, or a FIFO mode change), switches FIFOs on (1 -> 16 bytes) or leaves loopback;
 * Linux's 8250 driver does all of these while it probes and starts the port, so a byte typed
 * before that must not leave the reader waiting for good.
 *
 * The interrupt line is driven while the lock is held.  The backend's reader (uart_rx_push)
 * and a vCPU (RBR/IIR/IER access) change the interrupt state concurrently; if each applied
 * its new level after unlocking, a drain by the vCPU could deassert before the reader's
 * assert lands, leaving the ISA line high while the UART believes it low.  An edge-triggered
 * IRQ then never sees another rising edge and the console stops reading input for good.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backends/tty.h"
#include "platform/uart_emul.h"

#define REG_DATA 0   /* RBR / THR, DLL with DLAB */
#define REG_IER  1   /* DLM with DLAB */
#define REG_IIR  2   /* read: IIR, write: FCR */
#define REG_LCR  3
#define REG_MCR  4
#define REG_LSR  5
#define REG_MSR  6
#define REG_SCR  7

#define IER_RDA  0x01
#define IER_THRE 0x02
#define IER_RLS  0x04
#define IER_MS   0x08

#define IIR_NONE 0x01
#define IIR_MS   0x00
#define IIR_THRE 0x02
#define IIR_RDA  0x04
#define IIR_RLS  0x06
#define IIR_FIFO 0xC0

#define FCR_ENABLE  0x01
#define FCR_RXCLR   0x02
#define FCR_TXCLR   0x04

#define LCR_DLAB 0x80
#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80

#define UART_FIFO 16

struct uart_softc {
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, lsr_oe, msr, scr, fcr, dll, dlh;
	bool thre_pending;
	bool rx_waiting;            /* the backend holds bytes the FIFO had no room for */
	uint8_t rx[UART_FIFO];
	int rx_head, rx_count;
	bool intr_on;
	uart_intr_fn intr;
	void *intr_arg;
	struct tty_backend *tty;
	void (*tx_hook)(void *arg, uint8_t byte);
	void *tx_arg;
};

static int uart_fifo_cap(const struct uart_softc *sc)
{
	return (sc->fcr & FCR_ENABLE) ? UART_FIFO : 1;
}

/* Modem status as the lines would read: looped back from MCR, or a connected DTE. */
static uint8_t uart_msr_lines(const struct uart_softc *sc)
{
	if (!(sc->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	uint8_t m = 0;
	if (sc->mcr & MCR_RTS) m |= MSR_CTS;
	if (sc->mcr & MCR_DTR) m |= MSR_DSR;
	if (sc->mcr & MCR_OUT1) m |= MSR_RI;
	if (sc->mcr & MCR_OUT2) m |= MSR_DCD;
	return m;
}

/* Update MSR's line bits, setting the delta bits (0-3) for changes. */
static void uart_msr_update(struct uart_softc *sc)
{
	uint8_t nl = uart_msr_lines(sc), ol = sc->msr & 0xF0;
	uint8_t d = sc->msr & 0x0F;
	uint8_t ch = nl ^ ol;
	if (ch & MSR_CTS) d |= 0x01;
	if (ch & MSR_DSR) d |= 0x02;
	if ((ol & MSR_RI) && !(nl & MSR_RI)) d |= 0x04;   /* trailing edge of RI */
	if (ch & MSR_DCD) d |= 0x08;
	sc->msr = nl | d;
}

static int uart_iir_id(const struct uart_softc *sc)
{
	if ((sc->ier & IER_RLS) && sc->lsr_oe)
		return IIR_RLS;
	if ((sc->ier & IER_RDA) && sc->rx_count)
		return IIR_RDA;
	if ((sc->ier & IER_THRE) && sc->thre_pending)
		return IIR_THRE;
	if ((sc->ier & IER_MS) && (sc->msr & 0x0F))
		return IIR_MS;
	return IIR_NONE;
}

/* Lock held: the new level of the interrupt output, or -1 if unchanged.  The caller applies
 * it before unlocking, so line changes reach the interrupt controller in state order. */
static int uart_intr_level(struct uart_softc *sc)
{
	bool on = uart_iir_id(sc) != IIR_NONE;
	if (on == sc->intr_on)
		return -1;
	sc->intr_on = on;
	return on;
}

static void uart_intr_apply(struct uart_softc *sc, int level)
{
	if (level >= 0 && sc->intr)
		sc->intr(sc->intr_arg, level != 0);
}

static bool uart_rx_put(struct uart_softc *sc, uint8_t b)
{
	if (sc->rx_count >= uart_fifo_cap(sc)) {
		sc->lsr_oe = 1;
		return false;
	}
	sc->rx[(sc->rx_head + sc->rx_count) % UART_FIFO] = b;
	sc->rx_count++;
	return true;
}

static uint8_t uart_rx_get(struct uart_softc *sc)
{
	if (!sc->rx_count)
		return 0;
	uint8_t b = sc->rx[sc->rx_head];
	sc->rx_head = (sc->rx_head + 1) % UART_FIFO;
	sc->rx_count--;
	return b;
}

size_t uart_rx_push(struct uart_softc *sc, const uint8_t *buf, size_t len)
{
	size_t n = 0;
	pthread_mutex_lock(&sc->lock);
	if (!(sc->mcr & MCR_LOOP)) {          /* loopback disconnects the receiver */
		while (n < len && sc->rx_count < uart_fifo_cap(sc))
			uart_rx_put(sc, buf[n++]);
	}
	if (n < len)
		sc->rx_waiting = true;
	uart_intr_apply(sc, uart_intr_level(sc));
	pthread_mutex_unlock(&sc->lock);
	return n;
}

/* Lock held: whether a waiting backend must be told that the receiver takes bytes again. */
static bool uart_rx_room(struct uart_softc *sc)
{
	if (!sc->rx_waiting || (sc->mcr & MCR_LOOP) || sc->rx_count >= uart_fifo_cap(sc))
		return false;
	sc->rx_waiting = false;
	return true;
}

uint8_t uart_read(struct uart_softc *sc, int offset)
{
	uint8_t v = 0xFF;
	pthread_mutex_lock(&sc->lock);
	bool dlab = sc->lcr & LCR_DLAB;
	switch (offset & 7) {
	case REG_DATA:
		v = dlab ? sc->dll : uart_rx_get(sc);
		break;
	case REG_IER: v = dlab ? sc->dlh : sc->ier; break;
	case REG_IIR: {
		int id = uart_iir_id(sc);
		if (id == IIR_THRE)
			sc->thre_pending = false;    /* reading IIR clears a THRE interrupt */
		v = (uint8_t)(id | ((sc->fcr & FCR_ENABLE) ? IIR_FIFO : 0));
		break;
	}
	case REG_LCR: v = sc->lcr; break;
	case REG_MCR: v = sc->mcr; break;
	case REG_LSR:
		v = (uint8_t)(LSR_THRE | LSR_TEMT | (sc->rx_count ? LSR_DR : 0) |
			      (sc->lsr_oe ? LSR_OE : 0));
		sc->lsr_oe = 0;
		break;
	case REG_MSR:
		uart_msr_update(sc);
		v = sc->msr;
		sc->msr &= 0xF0;
		break;
	default: v = sc->scr; break;
	}
	uart_intr_apply(sc, uart_intr_level(sc));
	bool space = uart_rx_room(sc);
	struct tty_backend *tty = sc->tty;
	pthread_mutex_unlock(&sc->lock);
	if (space && tty)
		tty_rx_space(tty);
	return v;
}

static void uart_write_fcr(struct uart_softc *sc, uint8_t v)
{
	if ((v ^ sc->fcr) & FCR_ENABLE)
		sc->rx_count = sc->rx_head = 0;      /* changing FIFO mode resets the FIFOs */
	if (v & FCR_RXCLR)
		sc->rx_count = sc->rx_head = 0;
	sc->fcr = v & (FCR_ENABLE | 0xC0);
}

void uart_write(struct uart_softc *sc, int offset, uint8_t value)
{
	bool tx = false;
	pthread_mutex_lock(&sc->lock);
	bool dlab = sc->lcr & LCR_DLAB;
	switch (offset & 7) {
	case REG_DATA:
		if (dlab) {
			sc->dll = value;
		} else if (sc->mcr & MCR_LOOP) {
			uart_rx_put(sc, value);
			sc->thre_pending = true;
		} else {
			tx = true;
			sc->thre_pending = true;
		}
		break;
	case REG_IER:
		if (dlab) {
			sc->dlh = value;
		} else {
			/* Enabling THRE with an empty THR raises the interrupt at once. */
			if (!(sc->ier & IER_THRE) && (value & IER_THRE))
				sc->thre_pending = true;
			sc->ier = value & 0x0F;
		}
		break;
	case REG_IIR: uart_write_fcr(sc, value); break;
	case REG_LCR: sc->lcr = value; break;
	case REG_MCR:
		sc->mcr = value & 0x1F;
		uart_msr_update(sc);
		break;
	case REG_LSR: case REG_MSR: break;     /* read-only (factory test) */
	default: sc->scr = value; break;
	}
	uart_intr_apply(sc, uart_intr_level(sc));
	bool space = uart_rx_room(sc);     /* FIFO reset or enabled, loopback left */
	struct tty_backend *tty = sc->tty;
	void (*hook)(void *, uint8_t) = sc->tx_hook;
	void *harg = sc->tx_arg;
	pthread_mutex_unlock(&sc->lock);
	if (tx) {
		if (hook)
			hook(harg, value);
		if (tty)
			tty_write(tty, &value, 1);
	}
	if (space && tty)
		tty_rx_space(tty);
}

static size_t uart_tty_rx(void *arg, const uint8_t *buf, size_t len)
{
	return uart_rx_push(arg, buf, len);
}

int uart_set_backend(struct uart_softc *sc, const char *name, const char *path, char *err,
		     size_t errlen)
{
	struct tty_backend *tb = tty_open(path, name, err, errlen);
	if (!tb)
		return -1;
	pthread_mutex_lock(&sc->lock);
	sc->tty = tb;
	pthread_mutex_unlock(&sc->lock);
	return tty_start(tb, uart_tty_rx, sc);
}

void uart_set_tx_hook(struct uart_softc *sc, void (*fn)(void *arg, uint8_t byte), void *arg)
{
	pthread_mutex_lock(&sc->lock);
	sc->tx_hook = fn;
	sc->tx_arg = arg;
	pthread_mutex_unlock(&sc->lock);
}

struct uart_softc *uart_init(uart_intr_fn intr, void *arg)
{
	struct uart_softc *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	pthread_mutex_init(&sc->lock, NULL);
	sc->intr = intr;
	sc->intr_arg = arg;
	sc->msr = uart_msr_lines(sc);
	sc->dll = 12;                            /* 9600 baud, like a BIOS leaves it */
	return sc;
}

void uart_deinit(struct uart_softc *sc)
{
	if (!sc)
		return;
	if (sc->tty)
		tty_close(sc->tty);
	pthread_mutex_destroy(&sc->lock);
	free(sc);
}
