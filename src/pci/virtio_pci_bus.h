/*
 * The virtio transport on the PCI bus (virtio_pci_bus.c): what the device files
 * pci_virtio_*.c plug into their descriptors (pe_barread, pe_barwrite) and use from their
 * pe_init (vtpci_pci_setup, vtpci_pci_intr, vtpci_pci_mem).
 */
#ifndef BHYVE_VIRTIO_PCI_BUS_H
#define BHYVE_VIRTIO_PCI_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "pci/virtio_pci.h"

struct pci_devinst;
struct vcpu;

extern const struct vtpci_intr_ops vtpci_pci_intr;
/* Guest memory of pi's VM (vm_map_gpa). */
void vtpci_pci_mem(struct pci_devinst *pi, struct vq_mem *mem);
/* IDs, BAR 0 (legacy), BAR 1 (MSI-X) or MSI, BAR 4 (modern) + capabilities, INTx. */
int vtpci_pci_setup(struct vtpci_state *vs, struct pci_devinst *pi, uint16_t devid,
		    uint8_t type, uint8_t class, uint8_t subclass, char *err, size_t errlen);

/* BAR handlers for every virtio device (pi_arg = softc starting with its vtpci_state). */
uint64_t vtpci_barread(struct vcpu *vcpu, struct pci_devinst *pi, int baridx, uint64_t off,
		       int size);
void vtpci_barwrite(struct vcpu *vcpu, struct pci_devinst *pi, int baridx, uint64_t off,
		    int size, uint64_t val);


#endif
