/*
 * Steps that build a VM at bhyve start, after vm_setup() and before vm_run(): each part of the
 * emulator that must set something up for a VM (the PCI bus and its devices, firmware tables,
 * a debugger stub...) registers a step from its own file; bhyve_run() runs them in `order`
 * and, when one fails or the VM has ended, runs the `fini` of those done in reverse.
 *
 *     static const struct vm_init_step pci_step = {
 *             "PCI devices", VM_STEP_PCI, pci_bus_init, pci_bus_fini };
 *     VM_INIT_STEP(pci_step);
 *
 * init returns 0, or -1 with a one-line message in err (bhyve prints "bhyve: <what>: <err>"
 * and exits with status 4).
 */
#ifndef BHYVE_VM_INIT_STEP_H
#define BHYVE_VM_INIT_STEP_H

#include <stddef.h>

#include "common/linker_set.h"

struct vm;

/* Orders of the parts (gaps leave room). */
#define VM_STEP_MEMORY     100   /* wiring, core-dump advice (bhyve_run.c) */
#define VM_STEP_PLATFORM   200   /* platform_create(): PIC, PIT, IOAPIC, LAPICs, RTC, PM... */
#define VM_STEP_PCI        300   /* PCI bus and devices (pe_init) */
#define VM_STEP_FIRMWARE   400   /* ACPI / MP table / SMBIOS into guest memory */
#define VM_STEP_LATE       900   /* debugger stubs, anything that needs the whole VM */

struct vm_init_step {
	const char *what;
	int order;
	int (*init)(struct vm *vm, char *err, size_t errlen);
	void (*fini)(struct vm *vm);      /* may be NULL */
};

SET_DECLARE(vm_init_step_set, const struct vm_init_step);
#define VM_INIT_STEP(x) DATA_SET(vm_init_step_set, x)

#endif
