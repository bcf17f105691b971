/*
 * The virtio PCI transport, shared by every virtio device (blk, net, rnd, console, scsi).
 *
 * A transitional device (virtio 1.x 4.1.2): PCI vendor 0x1AF4, device 0x1000 + (type - 1)
 * style legacy IDs (0x1001 block, 0x1000 net, 0x1005 entropy, 0x1003 console, 0x1004 scsi),
 * revision 0, subsystem ID = virtio device type.  It offers both interfaces at once:
 *   - legacy (virtio 0.9.5, what FreeBSD's bhyve offers): an I/O BAR 0 with the registers
 *     below, queues given as a page frame number, device config at 0x14 (0x18 with MSI-X on);
 *   - modern (virtio 1.x): vendor capabilities pointing into a 64-bit memory BAR 4 with the
 *     common config (0x0000), ISR (0x1000), device config (0x2000) and notifications (0x3000,
 *     4 bytes per queue), features above bit 31, VERSION_1, FEATURES_OK, DEVICE_NEEDS_RESET.
 * Interrupts: MSI-X (table in BAR 1) when the guest enables it, else MSI when the device has
 * the MSI capability (-W, virtio_msix=false), else INTx with the ISR register.
 *
 * This file's core (struct vtpci_state) knows nothing about the PCI bus: register accesses come
 * in through vtpci_legacy_read/write and vtpci_modern_read/write, interrupts go out through
 * `struct vtpci_intr_ops`, guest memory through `struct vq_mem`.  The bus glue (pci_devinst,
 * BARs, capabilities) is a thin layer on top, so the whole transport is unit-testable.
 */
#ifndef BHYVE_VIRTIO_PCI_H
#define BHYVE_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci/virtio_ring.h"

#define VIRTIO_VENDOR            0x1AF4
#define VIRTIO_DEV_NET           0x1000     /* legacy (transitional) PCI device IDs */
#define VIRTIO_DEV_BLOCK         0x1001
#define VIRTIO_DEV_CONSOLE       0x1003
#define VIRTIO_DEV_SCSI          0x1004
#define VIRTIO_DEV_RANDOM        0x1005
#define VIRTIO_TYPE_NET          1          /* virtio device types (subsystem ID) */
#define VIRTIO_TYPE_BLOCK        2
#define VIRTIO_TYPE_CONSOLE      3
#define VIRTIO_TYPE_ENTROPY      4
#define VIRTIO_TYPE_SCSI         8

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACK        0x01
#define VIRTIO_STATUS_DRIVER     0x02
#define VIRTIO_STATUS_DRIVER_OK  0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED     0x80

/* Device-independent feature bits. */
#define VIRTIO_F_NOTIFY_ON_EMPTY 24
#define VIRTIO_F_ANY_LAYOUT      27
#define VIRTIO_F_VERSION_1       32

#define VIRTIO_ISR_QUEUE         0x01
#define VIRTIO_ISR_CONFIG        0x02
#define VIRTIO_MSI_NO_VECTOR     0xFFFF

/* Legacy I/O BAR registers. */
#define VTPCI_L_HOST_FEATURES    0x00
#define VTPCI_L_GUEST_FEATURES   0x04
#define VTPCI_L_QUEUE_PFN        0x08
#define VTPCI_L_QUEUE_NUM        0x0C
#define VTPCI_L_QUEUE_SEL        0x0E
#define VTPCI_L_QUEUE_NOTIFY     0x10
#define VTPCI_L_STATUS           0x12
#define VTPCI_L_ISR              0x13
#define VTPCI_L_CONFIG_VECTOR    0x14       /* only while MSI-X is enabled */
#define VTPCI_L_QUEUE_VECTOR     0x16
#define VTPCI_L_CFG_NOMSIX       0x14
#define VTPCI_L_CFG_MSIX         0x18

/* Modern BAR layout (our choice) and common config registers (4.1.4.3). */
#define VTPCI_M_COMMON           0x0000
#define VTPCI_M_ISR              0x1000
#define VTPCI_M_DEVICE           0x2000
#define VTPCI_M_NOTIFY           0x3000
#define VTPCI_M_NOTIFY_MULT      4
#define VTPCI_M_BAR_SIZE         0x4000
#define VTPCI_C_DFSELECT         0x00
#define VTPCI_C_DF               0x04
#define VTPCI_C_GFSELECT         0x08
#define VTPCI_C_GF               0x0C
#define VTPCI_C_MSIX_CONFIG      0x10
#define VTPCI_C_NUMQ             0x12
#define VTPCI_C_STATUS           0x14
#define VTPCI_C_CFGGEN           0x15
#define VTPCI_C_Q_SELECT         0x16
#define VTPCI_C_Q_SIZE           0x18
#define VTPCI_C_Q_MSIX           0x1A
#define VTPCI_C_Q_ENABLE         0x1C
#define VTPCI_C_Q_NOFF           0x1E
#define VTPCI_C_Q_DESC           0x20
#define VTPCI_C_Q_AVAIL          0x28
#define VTPCI_C_Q_USED           0x30
#define VTPCI_C_SIZE             0x38

/* PCI vendor capability cfg_type values (4.1.4). */
#define VIRTIO_PCI_CAP_COMMON    1
#define VIRTIO_PCI_CAP_NOTIFY    2
#define VIRTIO_PCI_CAP_ISR       3
#define VIRTIO_PCI_CAP_DEVICE    4

#define VTPCI_MAXQ               64      /* virtio-console: 2 * (16 ports + control) */
#define VTPCI_LEGACY_BAR         0
#define VTPCI_MSIX_BAR           1
#define VTPCI_MODERN_BAR         4

/* How the transport raises interrupts; `ctx` is the bus's device (pci_devinst). */
struct vtpci_intr_ops {
	bool (*msix_enabled)(void *ctx);
	void (*msix_send)(void *ctx, int vector);
	bool (*msi_enabled)(void *ctx);
	void (*msi_send)(void *ctx);
	void (*intx_assert)(void *ctx);
	void (*intx_deassert)(void *ctx);
};

struct vtpci_state;

/* What a device model provides; all callbacks get the device's `sc`. */
struct vtpci_dev {
	const char *name;
	int nvq;
	uint16_t qsize;             /* queue size offered (max for modern) */
	uint64_t features;          /* device features, VERSION_1 added by the transport */
	uint32_t cfgsize;           /* bytes of device-specific config */
	/* Device config space, little-endian; offsets are checked against cfgsize. */
	void (*cfgread)(void *sc, uint32_t off, int size, uint8_t *out);
	void (*cfgwrite)(void *sc, uint32_t off, int size, const uint8_t *in);
	void (*qnotify)(void *sc, int q);
	/* Driver wrote status 0: stop using the queues (wait for I/O in flight). */
	void (*reset)(void *sc);
	/* Features are final (FEATURES_OK, or legacy DRIVER_OK). */
	void (*negotiated)(void *sc, uint64_t features);
	/* DRIVER_OK was set: the device may start (e.g. fill receive buffers). */
	void (*driver_ok)(void *sc);
};

struct vtpci_queue {
	struct virtqueue vq;
	uint16_t size;              /* modern: the driver may lower it */
	uint16_t msix;
	bool enabled;
	uint64_t desc, avail, used;
};

struct vtpci_state {
	const struct vtpci_dev *dev;
	void *sc;
	const struct vtpci_intr_ops *intr;
	void *intr_ctx;
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t isr;
	uint8_t cfggen;
	bool legacy_used;           /* the driver touched the legacy BAR */
	bool warned;                /* a bad ring address was logged (once per device) */
	uint32_t dfselect, gfselect;
	uint64_t guest_features;    /* written by the driver */
	uint64_t features;          /* negotiated (valid after FEATURES_OK / DRIVER_OK) */
	uint16_t qsel;
	uint16_t msix_config;
	struct vtpci_queue q[VTPCI_MAXQ];
	/* virtio_pci_bus.c: the queue-notify ioevents (ioevent.h) of the legacy and the modern
	 * BAR, handle + 1 (0: none). */
	int ioev[2][VTPCI_MAXQ];
};

int vtpci_init(struct vtpci_state *vs, const struct vtpci_dev *dev, void *sc,
	       const struct vtpci_intr_ops *intr, void *intr_ctx, const struct vq_mem *mem);
void vtpci_destroy(struct vtpci_state *vs);
/* Device features the transport offers (dev->features + VERSION_1). */
uint64_t vtpci_host_features(const struct vtpci_state *vs);
bool vtpci_negotiated(const struct vtpci_state *vs, int bit);
struct virtqueue *vtpci_vq(struct vtpci_state *vs, int q);

/* Register access; size 1, 2 or 4 (8 allowed on the modern BAR's 64-bit fields split in two). */
uint32_t vtpci_legacy_read(struct vtpci_state *vs, uint64_t off, int size);
void vtpci_legacy_write(struct vtpci_state *vs, uint64_t off, int size, uint32_t val);
uint64_t vtpci_legacy_bar_size(const struct vtpci_state *vs);
uint64_t vtpci_modern_read(struct vtpci_state *vs, uint64_t off, int size);
void vtpci_modern_write(struct vtpci_state *vs, uint64_t off, int size, uint64_t val);

/* From devices: the queue has used elements (interrupt unless suppressed). */
void vtpci_queue_done(struct vtpci_state *vs, int q);
/* The driver notified queue q (a register write or an ioevent): an out-of-range or unready
 * queue is ignored. */
void vtpci_queue_notify(struct vtpci_state *vs, uint32_t q);
/* Device config changed (e.g. capacity): config generation++ and a config interrupt. */
void vtpci_config_changed(struct vtpci_state *vs);
/* A queue reported a bad chain: set DEVICE_NEEDS_RESET and tell the driver (2.1.2). */
void vtpci_needs_reset(struct vtpci_state *vs);

#endif
