/*
 * AHCI 1.3.1 SATA controller, shared between its files: pci_ahci.c (options, PCI function,
 * HBA and port registers, interrupts, the FIS receive area) and pci_ahci_ata.c (the ATA
 * command set of a disk port: IDENTIFY, DMA/PIO/NCQ reads and writes, FLUSH, TRIM, logs).
 *
 * Locking: one mutex per controller (ahci_softc.mtx) covers every register and the slot
 * state.  Commands are parsed on the vCPU thread that writes PxCI; block I/O runs on the
 * backend's workers, whose completion callbacks take the mutex to post the result.
 */
#ifndef BHYVE_PCI_AHCI_H
#define BHYVE_PCI_AHCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backends/block_if.h"

struct pci_devinst;
struct vm;

#define AHCI_MAX_PORTS  32
#define AHCI_NSLOTS     32
#define AHCI_MAX_PRD    BLOCKIF_MAXIOV  /* PRD entries a command may use here */
#define AHCI_DSM_MAX_BLOCKS 8           /* 512-byte blocks of TRIM ranges per command */

/* PxIS bits. */
#define AHCI_P_IS_DHRS  (1u << 0)       /* D2H register FIS received */
#define AHCI_P_IS_PSS   (1u << 1)       /* PIO setup FIS */
#define AHCI_P_IS_SDBS  (1u << 3)       /* set device bits FIS */
#define AHCI_P_IS_DPS   (1u << 5)       /* descriptor processed */
#define AHCI_P_IS_IFS   (1u << 27)      /* interface fatal error */
#define AHCI_P_IS_HBFS  (1u << 29)      /* host bus fatal error */
#define AHCI_P_IS_TFES  (1u << 30)      /* task file error */

/* ATA status and error register bits. */
#define ATA_S_ERR   0x01
#define ATA_S_DRQ   0x08
#define ATA_S_DSC   0x10
#define ATA_S_DRDY  0x40
#define ATA_S_BSY   0x80
#define ATA_E_ABRT  0x04
#define ATA_E_IDNF  0x10
#define ATA_E_UNC   0x40
#define ATA_S_OK    (ATA_S_DRDY | ATA_S_DSC)

struct ahci_port;

/* One command slot in flight. */
struct ahci_cmd {
	struct blockif_req br;
	struct ahci_port *p;
	int slot;
	bool ncq;
	bool pio;                   /* a PIO command: completion also writes the PIO setup FIS */
	bool is_write;
	uint32_t xfer;              /* bytes the command moves */
	uint64_t lba;
	uint16_t count;             /* sectors (NCQ error log) */
	uint8_t *dsm;               /* TRIM ranges (AHCI_DSM_MAX_BLOCKS * 512 bytes), lazily */
	unsigned dsm_n, dsm_i;      /* ranges, next one */
	struct iovec *iov;          /* AHCI_MAX_PRD entries */
	uint64_t *gpa;              /* guest address of each iov entry */
	int iovcnt;
};

struct ahci_port {
	struct ahci_softc *sc;
	int n;
	bool present;
	bool atapi;
	struct blockif_ctxt *bc;
	uint64_t nsect;             /* logical sectors */
	unsigned sectsz;
	uint16_t ident[256];        /* IDENTIFY (PACKET) DEVICE data */
	uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci, sntf, fbs;
	uint32_t started;           /* slots taken from PxCI and not yet completed */
	int inflight;               /* of those, at the backend */
	bool halted;                /* after a task file / fatal error until ST is cleared */
	pthread_cond_t idle;        /* inflight reached 0 */
	uint8_t ncq_err[512];       /* log 10h: the NCQ command that failed */
	struct ahci_cmd slot[AHCI_NSLOTS];
	struct iovec *iov_alloc;    /* the slots' iov and gpa arrays */
	uint64_t *gpa_alloc;
	/* ATAPI state (pci_ahci_atapi.c) */
	uint8_t sense_key, asc, ascq;
	bool tray_open, media_changed;
};

struct ahci_softc {
	struct pci_devinst *pi;
	struct vm *vm;
	pthread_mutex_t mtx;
	uint32_t cap, ghc, is, pimap;
	int nports;                 /* highest implemented port + 1 */
	struct ahci_port port[AHCI_MAX_PORTS];
};

/* ---- pci_ahci.c: services for the command files (called with sc->mtx held) ---- */
/* Guest memory, NULL when [gpa, gpa+len) is not all RAM. */
void *ahci_map(struct ahci_port *p, uint64_t gpa, size_t len);
/* Finish slot: PRD byte count, FIS(es), PxCI/PxSACT, PxIS, PxTFD, interrupt. */
void ahci_complete(struct ahci_port *p, int slot, uint8_t status, uint8_t error, uint32_t bytes);
/* Data-in to guest RAM: tell the software CPU the pages of c's iov changed. */
void ahci_dma_written(struct ahci_port *p, const struct ahci_cmd *c);

/* ---- pci_ahci_ata.c ---- */
/* Build the IDENTIFY data of a disk port (options from its config node). */
struct config_node;
void ahci_ata_identify_init(struct ahci_port *p, const char *ser, const char *model,
			    const char *rev, unsigned nmrr);
/* Start the command in `slot` from its FIS and PRD table (mtx held). */
void ahci_ata_start(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *prdt,
		    unsigned prdtl);
/* Fill c->iov/gpa/iovcnt from a PRD table, exactly `need` bytes: 0, or -1 (an entry not in
 * RAM, too many entries, or the table is shorter than need). */
int ahci_prd_iov(struct ahci_port *p, struct ahci_cmd *c, const uint8_t *prdt, unsigned prdtl,
		 uint64_t need);
/* Copy buf into the PRD table's buffers: bytes copied. */
uint32_t ahci_prd_write(struct ahci_port *p, const uint8_t *prdt, unsigned prdtl,
			const void *buf, uint32_t len);
/* ATA string fields: space padded, two characters per word swapped. */
void ahci_ata_string(uint16_t *w, const char *s, int nchars);

/* ---- pci_ahci_atapi.c ---- */
void ahci_atapi_identify_init(struct ahci_port *p, const char *ser, const char *model,
			      const char *rev);
void ahci_atapi_start(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *acmd,
		      const uint8_t *prdt, unsigned prdtl);

#endif
