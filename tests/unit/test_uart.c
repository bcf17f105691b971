/* 16550A core: reset values, divisor latch, THRE / RX / line-status / modem-status interrupts,
 * FIFO and overrun, loopback; the pty backend both ways; input flow from a backend across the
 * FIFO resets, FIFO enable and loopback of Linux's probe; COM1 on the LPC ports with IRQ 4. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "backends/tty.h"
#include "plat_test.h"
#include "platform/uart_emul.h"
#include "unit.h"

static atomic_int intr_level, intr_changes;
static uint8_t txbuf[64];
static atomic_int ntx;

static void on_intr(void *arg, bool on) { (void)arg; intr_level = on; intr_changes++; }
static void on_tx(void *arg, uint8_t b) { (void)arg; if (ntx < 64) txbuf[ntx] = b; ntx++; }

static void test_regs(struct uart_softc *sc)
{
	CHECK_EQ(uart_read(sc, 2), 0x01);
	CHECK_EQ(uart_read(sc, 5), 0x60);
	CHECK_EQ(uart_read(sc, 6), 0xB0);
	uart_write(sc, 7, 0x5A);
	CHECK_EQ(uart_read(sc, 7), 0x5A);
	uart_write(sc, 3, 0x80);                         /* DLAB */
	uart_write(sc, 0, 0x01);
	uart_write(sc, 1, 0x00);
	CHECK_EQ(uart_read(sc, 0), 0x01);
	uart_write(sc, 3, 0x03);                         /* 8N1 */
	CHECK_EQ(uart_read(sc, 3), 0x03);
	CHECK_EQ(uart_read(sc, 1), 0x00);                /* IER, not DLM */
	uart_write(sc, 0, 'A');
	uart_write(sc, 0, 'B');
	CHECK_EQ(ntx, 2);
	CHECK(txbuf[0] == 'A' && txbuf[1] == 'B');
	CHECK_EQ(intr_level, 0);                         /* no interrupts enabled */
}

static void test_interrupts(struct uart_softc *sc)
{
	uart_write(sc, 1, 0x02);                         /* THRE: fires at once */
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(uart_read(sc, 2), 0x02);
	CHECK_EQ(intr_level, 0);                         /* reading IIR cleared it */
	CHECK_EQ(uart_read(sc, 2), 0x01);
	uart_write(sc, 0, 'C');
	CHECK_EQ(intr_level, 1);
	uart_write(sc, 1, 0x00);
	CHECK_EQ(intr_level, 0);
	/* Received data with FIFOs: IIR 0xC4, all bytes in order. */
	uart_write(sc, 2, 0x07);
	uart_write(sc, 1, 0x01);
	CHECK_EQ(uart_rx_push(sc, (const uint8_t *)"hello", 5), 5);
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(uart_read(sc, 2), 0xC4);
	CHECK_EQ(uart_read(sc, 5) & 1, 1);
	char got[6] = { 0 };
	for (int i = 0; i < 5; i++)
		got[i] = (char)uart_read(sc, 0);
	CHECK_STR(got, "hello");
	CHECK_EQ(uart_read(sc, 5) & 1, 0);
	CHECK_EQ(intr_level, 0);
	uint8_t many[20];
	memset(many, 'x', sizeof(many));
	CHECK_EQ(uart_rx_push(sc, many, 20), 16);       /* 16-byte FIFO */
	uart_write(sc, 2, 0x03);                         /* clear RX */
	CHECK_EQ(uart_read(sc, 5) & 1, 0);
	uart_write(sc, 2, 0x00);                         /* FIFOs off: one byte */
	CHECK_EQ(uart_rx_push(sc, many, 20), 1);
	CHECK_EQ(uart_read(sc, 2), 0x04);
	uart_read(sc, 0);
	uart_write(sc, 1, 0x00);
}

static void test_loopback(struct uart_softc *sc)
{
	int tx_before = ntx;
	uart_write(sc, 1, 0x0C);                         /* line status + modem status */
	uart_write(sc, 4, 0x10 | 0x03);                  /* loop, RTS, DTR */
	CHECK_EQ(intr_level, 1);                         /* DCD dropped: modem status change */
	uint8_t msr = (uint8_t)uart_read(sc, 6);
	CHECK_EQ(msr & 0xF0, 0x30);                      /* CTS, DSR from RTS, DTR */
	CHECK(msr & 0x0F);
	CHECK_EQ(uart_read(sc, 6) & 0x0F, 0);            /* deltas clear on read */
	CHECK_EQ(intr_level, 0);
	uart_write(sc, 0, 'L');
	CHECK_EQ(ntx, tx_before);                        /* nothing leaves in loopback */
	CHECK_EQ(uart_read(sc, 5) & 1, 1);
	uart_write(sc, 0, 'M');                          /* FIFO off: this one overruns */
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(uart_read(sc, 2), 0x06);
	CHECK_EQ(uart_read(sc, 5) & 0x02, 0x02);
	CHECK_EQ(uart_read(sc, 5) & 0x02, 0);            /* OE clears on read */
	CHECK_EQ(uart_read(sc, 0), 'L');
	CHECK_EQ(uart_rx_push(sc, (const uint8_t *)"z", 1), 0);   /* receiver disconnected */
	uart_write(sc, 4, 0x08);
	uart_read(sc, 6);
	uart_write(sc, 1, 0x00);
	CHECK_EQ(intr_level, 0);
}

static void test_pty(void)
{
	char err[256];
	struct uart_softc *sc = uart_init(on_intr, NULL);
	CHECK_EQ(uart_set_backend(sc, "test-uart", "pty", err, sizeof(err)), 0);
	/* Find the pts name through a second backend would be indirect: open by ptsname. */
	struct tty_backend *tb = tty_open("pty", "test", err, sizeof(err));
	CHECK(tb != NULL);
	if (tb) {
		CHECK(strncmp(tty_name(tb), "/dev/pts/", 9) == 0);
		tty_close(tb);
	}
	uart_deinit(sc);
	CHECK(tty_open("/nonexistent/tty", "test", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/tty") != NULL);
}

/* Wait (bounded: a last guard, the condition is data ready) for a received byte. */
static int rx_wait(struct uart_softc *sc)
{
	for (int i = 0; i < 60000; i++) {
		if (uart_read(sc, 5) & 1)
			return uart_read(sc, 0);
		usleep(1000);
	}
	return -1;
}

/* Read (bounded: a last guard) until `want` arrives; bytes before it may have been flushed. */
static bool rx_until(struct uart_softc *sc, int want)
{
	for (int i = 0; i < 100; i++) {
		int c = rx_wait(sc);
		if (c == want)
			return true;
		if (c < 0)
			return false;
	}
	return false;
}

/* Bytes typed before the driver set the port up: the backend's reader waits for room in the
 * FIFO (1 byte with FIFOs off, as at power-on).  Linux's 8250 probe and start-up then reset the
 * FIFOs (FCR 0x01, 0x07, 0x00: a mode change and clears), switch them on and use loopback;
 * each of these makes room.  Typed-ahead bytes may be flushed, as on hardware, but the reader
 * must go on: a byte typed afterwards arrives. */
static void test_rx_flow_across_probe(void)
{
	char path[] = "/tmp/test_uart_fifo_XXXXXX", err[256];
	CHECK(mkdtemp(path) != NULL);
	char fifo[sizeof(path) + 8];
	snprintf(fifo, sizeof(fifo), "%s/f", path);
	CHECK_EQ(mkfifo(fifo, 0600), 0);
	struct uart_softc *sc = uart_init(on_intr, NULL);
	CHECK_EQ(uart_set_backend(sc, "test-uart", fifo, err, sizeof(err)), 0);
	int w = open(fifo, O_WRONLY | O_NONBLOCK);
	CHECK(w >= 0);
	CHECK_EQ(write(w, "abcdef", 6), 6);
	for (int i = 0; i < 60000 && !(uart_read(sc, 5) & 1); i++)
		usleep(1000);
	CHECK_EQ(uart_read(sc, 5) & 1, 1);               /* 'a' in RBR, "bcdef" waits */
	uart_write(sc, 2, 0x01);                         /* serial8250_clear_fifos() */
	uart_write(sc, 2, 0x07);
	uart_write(sc, 2, 0x00);
	CHECK_EQ(write(w, "Z", 1), 1);
	CHECK(rx_until(sc, 'Z'));
	/* FIFOs on and full, more waiting; a receive-FIFO reset makes room. */
	uart_write(sc, 2, 0x01);
	CHECK_EQ(write(w, "0123456789abcdefghijklmnopqrstuvwxyz", 36), 36);
	usleep(20000);                                   /* let the reader fill the FIFO */
	uart_write(sc, 2, 0x03);
	CHECK_EQ(write(w, "Y", 1), 1);
	CHECK(rx_until(sc, 'Y'));
	/* Loopback holds the line's bytes back; leaving it lets them in. */
	uart_write(sc, 4, 0x10);
	CHECK_EQ(write(w, "gh", 2), 2);
	usleep(20000);                                   /* let the reader find no room */
	CHECK_EQ(uart_read(sc, 5) & 1, 0);
	uart_write(sc, 4, 0x00);
	CHECK_EQ(rx_wait(sc), 'g');
	CHECK_EQ(rx_wait(sc), 'h');
	close(w);
	uart_deinit(sc);
	unlink(fifo);
	rmdir(path);
}

/* The interrupt line must follow the UART's state in the order the state changed.  The
 * backend's reader pushes a byte (interrupt on) while a vCPU drains RBR (interrupt off); here
 * the vCPU's read is started from inside the reader's interrupt callback, i.e. exactly between
 * the reader's state change and the moment its line level lands.  If the level were applied
 * after the UART's lock is released, the read's "off" would land first and the line would
 * stay high with nothing pending: an edge-triggered ISA IRQ never fires again and the
 * console stops reading.  With the level applied under the lock the read waits for it (the
 * callback gives up waiting after a bounded time, which only slows the correct case). */
static struct {
	struct uart_softc *sc;
	pthread_mutex_t m;
	pthread_cond_t c;
	bool armed, done;
	atomic_int line;
} race;

static void *race_vcpu_read(void *arg)
{
	(void)arg;
	uart_read(race.sc, 0);                           /* RBR: FIFO empty, interrupt off */
	pthread_mutex_lock(&race.m);
	race.done = true;
	pthread_cond_signal(&race.c);
	pthread_mutex_unlock(&race.m);
	return NULL;
}

static pthread_t race_thread;

static void race_intr(void *arg, bool on)
{
	(void)arg;
	if (on && race.armed) {
		race.armed = false;
		CHECK_EQ(pthread_create(&race_thread, NULL, race_vcpu_read, NULL), 0);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&race.m);
		while (!race.done &&
		       pthread_cond_timedwait(&race.c, &race.m, &ts) == 0)
			;
		pthread_mutex_unlock(&race.m);
	}
	race.line = on;
}

static void test_intr_order(void)
{
	pthread_mutex_init(&race.m, NULL);
	pthread_cond_init(&race.c, NULL);
	race.sc = uart_init(race_intr, NULL);
	uart_write(race.sc, 1, 0x01);                    /* IER: received data */
	race.armed = true;
	CHECK_EQ(uart_rx_push(race.sc, (const uint8_t *)"x", 1), 1);
	pthread_join(race_thread, NULL);
	CHECK_EQ(uart_read(race.sc, 2) & 0x0F, 0x01);      /* nothing pending ... */
	CHECK_EQ(race.line, 0);                          /* ... and the line is low */
	/* The next byte must raise the line again. */
	CHECK_EQ(uart_rx_push(race.sc, (const uint8_t *)"y", 1), 1);
	CHECK_EQ(race.line, 1);
	uart_deinit(race.sc);
}

static void test_com1(void)
{
	config_set("lpc.com1.path", "pty");
	struct vm *vm = pt_vm_create(1);
	config_unset("lpc.com1.path");
	CHECK(vm != NULL);
	if (!vm)
		return;
	CHECK(plat_uart_softc(vm, 0) != NULL);
	CHECK(plat_uart_softc(vm, 1) == NULL);
	CHECK_EQ(pt_in(vm, 0x3FD, 1), 0x60);
	CHECK_EQ(pt_in(vm, 0x2FD, 1), 0xFF);             /* no COM2 configured */
	pt_lapic_enable(vm, 0);
	pt_ioapic_rte(vm, 4, 0x44);
	pt_out(vm, 0x3F9, 1, 0x02);                      /* THRE interrupt -> IRQ 4 */
	CHECK_EQ(platform_intr_ack(vm, 0), 0x44);
	pt_lapic_eoi(vm, 0);
	/* Input from the pty side reaches RBR. */
	uart_rx_push(plat_uart_softc(vm, 0), (const uint8_t *)"k", 1);
	CHECK_EQ(pt_in(vm, 0x3FD, 1) & 1, 1);
	CHECK_EQ(pt_in(vm, 0x3F8, 1), 'k');
	pt_vm_free(vm);
	/* A backend that cannot open fails platform_create with a message. */
	config_set("lpc.com2.path", "/nonexistent/tty");
	char err[256];
	vm_create("ptest-bad", 1 << 20);
	struct vm *bad = vm_open("ptest-bad");
	vm_destroy("ptest-bad");
	static const struct vm_backend_ops none = { .name = "plat-test" };
	CHECK(bad != NULL);
	if (bad) {
		CHECK_EQ(vm_setup_backend(bad, &none, 1, err, sizeof(err)), 0);
		CHECK(platform_create(bad, err, sizeof(err)) < 0);
		CHECK(strstr(err, "com2") != NULL);
		platform_destroy(bad);
		vm_close(bad);
	}
	config_unset("lpc.com2.path");
}

int main(void)
{
	config_reset();
	struct uart_softc *sc = uart_init(on_intr, NULL);
	uart_set_tx_hook(sc, on_tx, NULL);
	test_regs(sc);
	test_interrupts(sc);
	test_loopback(sc);
	uart_deinit(sc);
	test_pty();
	test_rx_flow_across_probe();
	test_intr_order();
	test_com1();
	return unit_report("uart");
}
