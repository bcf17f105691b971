/* Internals shared by the PCI bus (pci_bus.c) and its interrupt/capability half (pci_irq.c). */
#ifndef BHYVE_PCI_BUS_INT_H
#define BHYVE_PCI_BUS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci/pci_devinst.h"
#include "vmm/layout.h"
#include "vmm/vmm.h"

/* 64-bit BARs up to this size go below 4 GiB (some drivers mishandle high BARs); larger ones
 * go to the 64-bit window. */
#define PCI_MEM64_LOW_MAX (128ULL << 20)

struct pci_bus {
	struct vm *vm;
	pthread_mutex_t lock;            /* recursive: config accesses and interrupt state */
	struct pci_devinst *dev[PCI_MAXBUS][PCI_MAXSLOT][PCI_MAXFUNC];
	uint32_t cf8;                    /* configuration address register */
	uint64_t io_next, mem32_next, mem64_next, mem64_end;
	int intx_count[IOAPIC_NPINS];    /* devices driving each IOAPIC pin (wired OR) */
	struct inout_port cf8_port, cfc_port;
	struct mem_range ecam;
	bool cf8_registered, cfc_registered, ecam_registered;
};

/* The bus of the VM the device is on (NULL for a device on no bus: unit tests). */
static inline struct pci_bus *pci_bus_of(const struct pci_devinst *pi)
{
	return pi && pi->pi_vm ? vm_pci_bus(pi->pi_vm) : NULL;
}

/* The bus lock of pi's bus (nothing when there is no bus). */
void pci_lock(const struct pci_devinst *pi);
void pci_unlock(const struct pci_devinst *pi);
/* Lock held: a guest write to the capability area (dword `dw`, before/after values). */
void pci_cap_write(struct pci_devinst *pi, int dw, uint32_t old, uint32_t val);
/* Lock held or not: put the device's INTx state on the wire. */
void pci_lintr_update(struct pci_devinst *pi);
/* An access to BAR `idx` at `off`: true if it hit the MSI-X table or PBA (and was done). */
bool pci_msix_bar_access(struct pci_devinst *pi, int idx, uint64_t off, int size, uint64_t *val,
			 bool write);

#endif
