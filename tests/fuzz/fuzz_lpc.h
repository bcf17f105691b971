/*
 * The LPC bridge at 0:31:0 with a 64 KiB boot ROM, a 64 KiB variable store below it, QEMU's
 * fw_cfg and COM1 on a pseudo-terminal: shared by the fuzz targets of those devices.
 */
#ifndef BHYVE_FUZZ_LPC_H
#define BHYVE_FUZZ_LPC_H

#include "fuzz_dev.h"

#define FZ_ROM_SIZE  0x10000ULL
#define FZ_VARS_SIZE 0x10000ULL

static inline void fz_lpc_configure(void)
{
	config_set("pci.0.31.0.device", "lpc");
	config_set("lpc.bootrom", fz_file(1, FZ_ROM_SIZE));
	config_set("lpc.bootvars", fz_file(2, FZ_VARS_SIZE));
	config_set("lpc.fwcfg", "qemu");
	config_set("lpc.com1.path", "pty");
}

#endif
