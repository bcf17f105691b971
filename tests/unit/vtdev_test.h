/*
 * Shared by the virtio device unit tests (test_virtio_*.c): make a device the way bhyve does,
 * from its registration (PCI_EMUL_SET) and the config tree on the PCI bus of a VM without CPU,
 * and drive it through the transport's register interface (vtpci_legacy_* / vtpci_modern_*)
 * as a guest driver would.  Guest RAM is the VM's own; the device's interrupts go to the
 * test's `struct vtpci_intr_ops` instead of the bus, so a test counts and checks them.
 * Header-only so each test program stays one file.
 */
#ifndef BHYVE_VTDEV_TEST_H
#define BHYVE_VTDEV_TEST_H

#include "pci/pci_devinst.h"
#include "pci/virtio_pci.h"
#include "plat_test.h"

static struct vm *vtdev_vm;

/* The device configured at pci.0.<slot>.0 (the test sets its keys first) in a VM of
 * `ram_size` bytes; *ram is guest address 0.  NULL with the device's message in err. */
static inline struct vtpci_state *vtdev_open(int slot, uint64_t ram_size,
					     const struct vtpci_intr_ops *intr, uint8_t **ram,
					     char *err, size_t errlen)
{
	vtdev_vm = pt_vm_create_mem(1, ram_size);
	if (!vtdev_vm) {
		snprintf(err, errlen, "cannot create the VM");
		return NULL;
	}
	struct pci_devinst *pi = NULL;
	if (pci_bus_init(vtdev_vm, err, errlen) == 0)
		pi = pci_bus_find(vtdev_vm, 0, slot, 0);
	if (!pi || !pi->pi_arg) {
		if (pi)
			snprintf(err, errlen, "no virtio device at slot %d", slot);
		pci_bus_fini(vtdev_vm);
		pt_vm_free(vtdev_vm);
		vtdev_vm = NULL;
		return NULL;
	}
	*ram = vm_map_gpa(vtdev_vm, 0, ram_size);
	/* Every virtio softc starts with its transport state (virtio_pci_bus.c). */
	struct vtpci_state *vs = pi->pi_arg;
	vs->intr = intr;
	vs->intr_ctx = NULL;
	return vs;
}

/* Tear the device down as bhyve does at exit (waits for I/O, flushes, closes). */
static inline void vtdev_close(void)
{
	if (!vtdev_vm)
		return;
	pci_bus_fini(vtdev_vm);
	pt_vm_free(vtdev_vm);
	vtdev_vm = NULL;
}

#endif
