/*
 * The e1000 (Intel 82545EM) device core of pci_e1000.c without the PCI glue, so that unit
 * tests drive it with fake guest memory, a fake interrupt line and a frame sink.
 */
#ifndef BHYVE_PCI_E1000_H
#define BHYVE_PCI_E1000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct e1000_softc;

struct e1000_hooks {
	/* Host pointer to guest RAM [gpa, gpa+len), or NULL when not wholly RAM. */
	void *(*map)(void *ctx, uint64_t gpa, size_t len);
	/* The interrupt condition (ICR & IMS != 0) is now `level`; called on every update. */
	void (*intr)(void *ctx, bool level);
	/* One Ethernet frame (no FCS) to the network. */
	void (*send)(void *ctx, const uint8_t *frame, size_t len);
	/* The guest made receive buffers available (or enabled reception). */
	void (*rx_kick)(void *ctx);
	/* The device wrote guest RAM at [gpa, gpa+len) (before the guest is told); may be NULL. */
	void (*wrote)(void *ctx, uint64_t gpa, size_t len);
	void *ctx;
};

#define E1000_BAR_MEM_SIZE 0x20000          /* BAR 0: the register file */
#define E1000_BAR_IO_SIZE  8                /* BAR 2: IOADDR at 0, IODATA at 4 */
#define E1000_MAX_FRAME    16384            /* largest frame received (with LPE) */

struct e1000_softc *e1000_create(const struct e1000_hooks *h, const uint8_t mac[6]);
void e1000_destroy(struct e1000_softc *sc);
/* A register access at byte offset `off` of BAR 0, `size` 1, 2 or 4 bytes. */
uint32_t e1000_reg_read(struct e1000_softc *sc, uint32_t off, int size);
void e1000_reg_write(struct e1000_softc *sc, uint32_t off, int size, uint32_t val);
/* The same through the I/O BAR (IOADDR/IODATA). */
uint32_t e1000_io_read(struct e1000_softc *sc, uint32_t off, int size);
void e1000_io_write(struct e1000_softc *sc, uint32_t off, int size, uint32_t val);
/* Offer one received frame: 1 taken (delivered or filtered/dropped), 0 no receive buffer
 * now (offer it again after rx_kick). */
int e1000_rx_frame(struct e1000_softc *sc, const uint8_t *frame, size_t len);
/* Frames dropped because of bad guest descriptors or buffers (tests). */
uint64_t e1000_bad_desc(struct e1000_softc *sc);

#endif
