/*
 * The LPC bridge's COM1-COM4: a 16550A each at the PC's ports and ISA IRQs, created for every
 * lpc.comN.path key (-l comN,backend).
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/config.h"
#include "platform/platform_int.h"
#include "platform/uart_emul.h"
#include "vmm/inout.h"
#include "vmm/irq.h"
#include "vmm/layout.h"

struct lpc_uart {
	struct platform *p;
	struct uart_softc *sc;
	uint16_t port;
	int irq;
};

static const struct {
	const char *name;
	uint16_t port;
	int irq;
} lpc_uart_defs[4] = {
	{ "com1", PORT_COM1, IRQ_COM1 }, { "com2", PORT_COM2, IRQ_COM2 },
	{ "com3", PORT_COM3, IRQ_COM1 }, { "com4", PORT_COM4, IRQ_COM2 },
};

static void lpc_uart_intr(void *arg, bool assert)
{
	struct lpc_uart *u = arg;
	if (assert)
		vm_isa_assert_irq(u->p->vm, u->irq, u->irq);
	else
		vm_isa_deassert_irq(u->p->vm, u->irq, u->irq);
}

static int lpc_uart_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		       void *arg)
{
	struct lpc_uart *u = arg;
	int off = port - u->port;
	if (in)
		*eax = uart_read(u->sc, off);
	else
		uart_write(u->sc, off, (uint8_t)*eax);
	return 0;
}

static void lpc_uart_free(struct lpc_uart *u)
{
	uart_deinit(u->sc);
	free(u);
}

static int lpc_uart_create(struct platform *p, int i, const char *path, char *err, size_t errlen)
{
	struct lpc_uart *u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(err, errlen, "%s: out of memory", lpc_uart_defs[i].name);
		return -1;
	}
	u->p = p;
	u->port = lpc_uart_defs[i].port;
	u->irq = lpc_uart_defs[i].irq;
	u->sc = uart_init(lpc_uart_intr, u);
	if (!u->sc) {
		free(u);
		snprintf(err, errlen, "%s: out of memory", lpc_uart_defs[i].name);
		return -1;
	}
	if (uart_set_backend(u->sc, lpc_uart_defs[i].name, path, err, errlen) < 0) {
		lpc_uart_free(u);
		return -1;
	}
	struct inout_port io = { lpc_uart_defs[i].name, u->port, UART_IO_BAR_SIZE, IOPORT_F_INOUT,
				 lpc_uart_io, u };
	if (register_inout(p->vm, &io) < 0) {
		snprintf(err, errlen, "%s: ports 0x%x busy", lpc_uart_defs[i].name, u->port);
		lpc_uart_free(u);
		return -1;
	}
	p->com[i] = u;
	return 0;
}

int plat_uarts_create(struct platform *p, char *err, size_t errlen)
{
	for (int i = 0; i < 4; i++) {
		char key[32];
		snprintf(key, sizeof(key), "lpc.%s.path", lpc_uart_defs[i].name);
		const char *path = config_get(key);
		if (path && lpc_uart_create(p, i, path, err, errlen) < 0)
			return -1;
	}
	return 0;
}

void plat_uarts_destroy(struct platform *p)
{
	for (int i = 0; i < 4; i++) {
		struct lpc_uart *u = p->com[i];
		if (!u)
			continue;
		struct inout_port io = { .port = u->port, .size = UART_IO_BAR_SIZE };
		unregister_inout(p->vm, &io);
		lpc_uart_free(u);
		p->com[i] = NULL;
	}
}

/* Tests: the UART behind COMn (0-3), or NULL. */
struct uart_softc *plat_uart_softc(struct vm *vm, int n)
{
	struct platform *p = platform_of(vm);
	return p && n >= 0 && n < 4 && p->com[n] ? p->com[n]->sc : NULL;
}
