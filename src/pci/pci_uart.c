/*
 * PCI 16550 UART (-s N,uart[,stdio|/dev/xxx]): a serial port as a PCI device.  Without a
 * backend the port exists but is unconnected.  Key: path.
 */
#include "pci/pci_emul.h"

#include "common/devconf.h"

static int uart_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	if (!opts || !*opts)
		return 0;
	if (config_node_set(nvl, "path", opts) < 0) {
		snprintf(err, errlen, "'%s': cannot set path", opts);
		return -1;
	}
	return 0;
}

static int uart_validate(config_node_t *nvl, char *err, size_t errlen)
{
	const char *path = config_node_get(nvl, "path");

	return path ? devconf_tty_check("path", path, err, errlen) : 0;
}

static const struct pci_devemu pci_de_uart = {
	.pe_emu = "uart",
	.pe_unimplemented = true,
	.pe_help = "PCI 16550 serial port: [stdio | /dev/xxx]",
	.pe_legacy_config = uart_legacy_config,
	.pe_keys = (const char *const[]){ "path", NULL },
	.pe_validate = uart_validate,
};
PCI_EMUL_SET(pci_de_uart);
