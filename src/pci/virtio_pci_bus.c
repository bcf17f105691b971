/*
 * The virtio transport on the PCI bus: IDs, BARs and capabilities of a transitional virtio
 * function, the BAR access handlers, interrupts through the bus, guest memory through
 * vm_map_gpa, and the pieces of device set-up that several devices share.
 *
 * Function layout (see virtio_pci.h):
 *   BAR 0  I/O, legacy registers + device config
 *   BAR 1  MSI-X table and PBA (nvq + 1 vectors), unless virtio_msix=false (-W): then an MSI
 *          capability with one vector
 *   BAR 4  64-bit memory, the modern regions, described by vendor capabilities (ID 0x09)
 * Every device's softc starts with its struct vtpci_state, and pi_arg points to the softc, so
 * the BAR handlers here serve all virtio devices.
 */
#include <stdio.h>
#include <string.h>

#include "pci/pci_devinst.h"
#include "pci/virtio_pci_bus.h"
#include "vmm/ioevent.h"
#include "vmm/vmm.h"

static bool vtpb_msix_enabled(void *ctx) { return pci_msix_enabled(ctx); }
static void vtpb_msix_send(void *ctx, int v) { pci_generate_msix(ctx, v); }
static bool vtpb_msi_enabled(void *ctx) { return pci_msi_enabled(ctx); }
static void vtpb_msi_send(void *ctx) { pci_generate_msi(ctx, 0); }
static void vtpb_intx_assert(void *ctx) { pci_lintr_assert(ctx); }
static void vtpb_intx_deassert(void *ctx) { pci_lintr_deassert(ctx); }

const struct vtpci_intr_ops vtpci_pci_intr = {
	.msix_enabled = vtpb_msix_enabled, .msix_send = vtpb_msix_send,
	.msi_enabled = vtpb_msi_enabled, .msi_send = vtpb_msi_send,
	.intx_assert = vtpb_intx_assert, .intx_deassert = vtpb_intx_deassert,
};

static void *vtpb_map(void *ctx, uint64_t gpa, size_t len)
{
	return vm_map_gpa(ctx, gpa, len);
}

static void vtpb_wrote(void *ctx, uint64_t gpa, uint64_t len)
{
	vm_notify_write(ctx, gpa, len);
}

void vtpci_pci_mem(struct pci_devinst *pi, struct vq_mem *mem)
{
	mem->map = vtpb_map;
	mem->ctx = pi->pi_vm;
	mem->wrote = vm_tracks_dma_writes(pi->pi_vm) ? vtpb_wrote : NULL;
}

/* struct virtio_pci_cap (4.1.4), plus notify_off_multiplier for the notify capability. */
static int vtpb_add_cap(struct pci_devinst *pi, uint8_t type, uint32_t off, uint32_t len)
{
	uint8_t cap[20] = { PCIY_VENDOR, 0, 16, type, VTPCI_MODERN_BAR, 0, 0, 0 };
	int caplen = type == VIRTIO_PCI_CAP_NOTIFY ? 20 : 16;

	cap[2] = (uint8_t)caplen;
	for (int i = 0; i < 4; i++) {
		cap[8 + i] = (uint8_t)(off >> (8 * i));
		cap[12 + i] = (uint8_t)(len >> (8 * i));
		cap[16 + i] = (uint8_t)((uint32_t)VTPCI_M_NOTIFY_MULT >> (8 * i));
	}
	return pci_emul_add_capability(pi, cap, caplen) < 0 ? -1 : 0;
}

static void vtpb_ioevent(void *arg, long q)
{
	vtpci_queue_notify(arg, (uint32_t)q);
}

/* Queue notifies through ioevents where the backend has them: the legacy register (one port,
 * the queue index as data) and the modern notify area (one 16-bit register per queue). */
static void vtpb_bar_moved(struct pci_devinst *pi, int idx, bool on, uint64_t addr)
{
	struct vtpci_state *vs = pi->pi_arg;
	int which = idx == VTPCI_LEGACY_BAR ? 0 : idx == VTPCI_MODERN_BAR ? 1 : -1;

	if (vs == NULL || which < 0)
		return;
	for (int q = 0; q < vs->dev->nvq; q++) {
		int *h = &vs->ioev[which][q];
		struct vm_ioevent_spec sp = {
			.pio = which == 0, .len = 2, .datamatch = which == 0, .data = (uint64_t)q,
			.addr = which == 0 ? addr + VTPCI_L_QUEUE_NOTIFY :
					     addr + VTPCI_M_NOTIFY + (uint64_t)q * VTPCI_M_NOTIFY_MULT,
			.fn = vtpb_ioevent, .arg = vs, .id = q,
		};
		if (*h > 0)
			vm_ioevent_del(pi->pi_vm, *h - 1);
		*h = on ? vm_ioevent_add(pi->pi_vm, &sp) + 1 : 0;
	}
}

int vtpci_pci_setup(struct vtpci_state *vs, struct pci_devinst *pi, uint16_t devid,
		    uint8_t type, uint8_t class, uint8_t subclass, char *err, size_t errlen)
{
	const struct vtpci_dev *d = vs->dev;

	pci_set_cfgdata16(pi, PCIR_VENDOR, VIRTIO_VENDOR);
	pci_set_cfgdata16(pi, PCIR_DEVICE, devid);
	pci_set_cfgdata8(pi, PCIR_REVID, 0);               /* transitional: revision 0 */
	pci_set_cfgdata8(pi, PCIR_CLASS, class);
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, subclass);
	pci_set_cfgdata16(pi, PCIR_SUBVEND_0, VIRTIO_VENDOR);
	pci_set_cfgdata16(pi, PCIR_SUBDEV_0, type);
	int r = pci_emul_alloc_bar(pi, VTPCI_LEGACY_BAR, PCIBAR_IO, vtpci_legacy_bar_size(vs));
	if (config_get_bool("virtio_msix", true))
		r |= pci_emul_add_msixcap(pi, d->nvq + 1, VTPCI_MSIX_BAR);
	else
		r |= pci_emul_add_msicap(pi, 1);
	r |= pci_emul_alloc_bar(pi, VTPCI_MODERN_BAR, PCIBAR_MEM64, VTPCI_M_BAR_SIZE);
	r |= vtpb_add_cap(pi, VIRTIO_PCI_CAP_COMMON, VTPCI_M_COMMON, VTPCI_C_SIZE);
	r |= vtpb_add_cap(pi, VIRTIO_PCI_CAP_ISR, VTPCI_M_ISR, 4);
	if (d->cfgsize)
		r |= vtpb_add_cap(pi, VIRTIO_PCI_CAP_DEVICE, VTPCI_M_DEVICE, d->cfgsize);
	r |= vtpb_add_cap(pi, VIRTIO_PCI_CAP_NOTIFY, VTPCI_M_NOTIFY,
			  (uint32_t)d->nvq * VTPCI_M_NOTIFY_MULT);
	r |= pci_lintr_request(pi);
	pi->pi_bar_moved = vtpb_bar_moved;
	if (r) {
		snprintf(err, errlen, "%s: cannot allocate BARs or capabilities", d->name);
		return -1;
	}
	return 0;
}

uint64_t vtpci_barread(struct vcpu *vcpu, struct pci_devinst *pi, int baridx, uint64_t off,
		       int size)
{
	struct vtpci_state *vs = pi->pi_arg;

	if (!vs)
		return ~0ULL;
	if (baridx == VTPCI_LEGACY_BAR)
		return vtpci_legacy_read(vs, off, size);
	if (baridx == VTPCI_MODERN_BAR)
		return vtpci_modern_read(vs, off, size);
	return ~0ULL;
}

void vtpci_barwrite(struct vcpu *vcpu, struct pci_devinst *pi, int baridx, uint64_t off,
		    int size, uint64_t val)
{
	struct vtpci_state *vs = pi->pi_arg;

	if (!vs)
		return;
	if (baridx == VTPCI_LEGACY_BAR)
		vtpci_legacy_write(vs, off, size, (uint32_t)val);
	else if (baridx == VTPCI_MODERN_BAR)
		vtpci_modern_write(vs, off, size, val);
}
