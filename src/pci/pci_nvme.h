/*
 * NVM Express 1.4 controller, shared between pci_nvme.c (options, PCI function, controller
 * registers, queues, doorbells, interrupts, the NVM I/O command set, PRP lists and SGLs) and
 * pci_nvme_admin.c (the admin command set: identify, queues, features, logs, async events).
 *
 * Locking: one mutex per controller (nvme_softc.mtx) covers registers, queues and requests.
 * Submission queues are read on the vCPU thread that rings the doorbell, or on a backend
 * worker when a completion frees room; completion entries are posted with the mutex held.
 */
#ifndef BHYVE_PCI_NVME_H
#define BHYVE_PCI_NVME_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backends/block_if.h"

struct pci_devinst;
struct vm;

#define NVME_PAGE        4096u
#define NVME_MDTS        8              /* max transfer: 2^8 pages = 1 MiB */
#define NVME_MAX_XFER    (NVME_PAGE << NVME_MDTS)
#define NVME_MAX_IOV     (NVME_MAX_XFER / NVME_PAGE + 1)
#define NVME_MAX_QUEUES  16             /* I/O queue pairs at most (maxq) */
#define NVME_AERL        4              /* async event requests held at most */
#define NVME_DSM_MAX     256            /* ranges of a DATASET MANAGEMENT command */

/* Status: type << 8 | code. */
#define NVME_SC(t, c)            ((uint16_t)((t) << 8 | (c)))
#define NVME_SC_SUCCESS          NVME_SC(0, 0x00)
#define NVME_SC_INVALID_OPCODE   NVME_SC(0, 0x01)
#define NVME_SC_INVALID_FIELD    NVME_SC(0, 0x02)
#define NVME_SC_CID_CONFLICT     NVME_SC(0, 0x03)
#define NVME_SC_DATA_XFER_ERROR  NVME_SC(0, 0x04)
#define NVME_SC_INTERNAL         NVME_SC(0, 0x06)
#define NVME_SC_ABORT_SQ_DELETED NVME_SC(0, 0x08)
#define NVME_SC_INVALID_NS       NVME_SC(0, 0x0B)
#define NVME_SC_SGL_SEG_INVALID  NVME_SC(0, 0x0D)
#define NVME_SC_SGL_NUM_INVALID  NVME_SC(0, 0x0E)
#define NVME_SC_SGL_LEN_INVALID  NVME_SC(0, 0x0F)
#define NVME_SC_SGL_TYPE_INVALID NVME_SC(0, 0x11)
#define NVME_SC_PRP_OFFSET       NVME_SC(0, 0x13)
#define NVME_SC_LBA_RANGE        NVME_SC(0, 0x80)
#define NVME_SC_CQ_INVALID       NVME_SC(1, 0x00)
#define NVME_SC_INVALID_QID      NVME_SC(1, 0x01)
#define NVME_SC_INVALID_QSIZE    NVME_SC(1, 0x02)
#define NVME_SC_AER_LIMIT        NVME_SC(1, 0x05)
#define NVME_SC_INVALID_VECTOR   NVME_SC(1, 0x08)
#define NVME_SC_INVALID_LOG      NVME_SC(1, 0x09)
#define NVME_SC_INVALID_DELETE   NVME_SC(1, 0x0C)
#define NVME_SC_WRITE_FAULT      NVME_SC(2, 0x80)
#define NVME_SC_READ_ERROR       NVME_SC(2, 0x81)
#define NVME_SC_DNR              0x8000u        /* do not retry */

struct nvme_cmd {               /* a submission queue entry, 64 bytes */
	uint8_t opc, flags;
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;    /* or one SGL descriptor */
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

struct nvme_sq {
	bool valid;
	uint64_t base;
	uint32_t size;          /* entries */
	uint32_t head, tail;
	uint16_t cqid;
	uint32_t inflight;      /* commands fetched and not yet completed */
	uint64_t *cids;         /* 65536 bits: command ids in flight */
};

struct nvme_cq {
	bool valid, ien;
	uint64_t base;
	uint32_t size;
	uint32_t head, tail;
	uint16_t iv;
	bool phase;
	uint32_t reserved;      /* commands fetched for this CQ, completion not yet posted */
};

struct nvme_softc;

/* One I/O command at the backend. */
struct nvme_req {
	struct blockif_req br;
	struct nvme_softc *sc;
	struct nvme_req *next_free;
	uint16_t sqid, cid;
	uint8_t opc;
	uint32_t xfer;
	uint8_t *dsm;           /* NVME_DSM_MAX * 16 bytes, lazily */
	unsigned dsm_n, dsm_i;
	struct iovec iov[NVME_MAX_IOV];
	uint64_t gpa[NVME_MAX_IOV];
	int iovcnt;
};

struct nvme_softc {
	struct pci_devinst *pi;
	struct vm *vm;
	pthread_mutex_t mtx;
	pthread_cond_t idle;            /* inflight reached 0 */
	int inflight;                   /* requests at the backend */
	/* registers */
	uint64_t cap, asq, acq;
	uint32_t cc, csts, aqa, intms;
	/* queues: index 0 is the admin pair */
	struct nvme_sq sq[NVME_MAX_QUEUES + 1];
	struct nvme_cq cq[NVME_MAX_QUEUES + 1];
	unsigned maxq;                  /* I/O queue pairs offered */
	uint32_t qsz;                   /* entries per queue at most (CAP.MQES + 1) */
	/* backing store */
	struct blockif_ctxt *bc;
	uint8_t *ram;                   /* ram=MiB namespace instead of bc */
	uint64_t size;                  /* bytes */
	unsigned sectsz;
	uint64_t nlba;
	bool dsm;                       /* DATASET MANAGEMENT (deallocate) offered */
	bool ro;
	/* identity */
	char serial[21];
	uint64_t eui64;
	/* features */
	uint32_t feat[32];
	unsigned aer_n;                 /* async event requests held */
	uint16_t aer_cid[NVME_AERL];
	/* requests */
	struct nvme_req *reqs, *free_req;
	unsigned nreqs;
	unsigned msix_vectors;
	bool kicking;                   /* inside nvme_sq_kick */
	uint32_t kick_mask;             /* SQs to look at */
};

/* ---- pci_nvme.c (called with mtx held) ---- */
void *nvme_map(struct nvme_softc *sc, uint64_t gpa, size_t len);
/* Post a completion for `cid` of `sqid` on its CQ (dw0: command specific). */
void nvme_complete(struct nvme_softc *sc, uint16_t sqid, uint16_t cid, uint32_t dw0,
		   uint16_t status);
/* Copy buf to the host buffer of a command's PRP1/PRP2 (admin data-in): a status. */
uint16_t nvme_copy_out(struct nvme_softc *sc, const struct nvme_cmd *c, const void *buf,
		       uint32_t len);
/* Wait (mtx held) until nothing is at the backend. */
void nvme_drain(struct nvme_softc *sc);
/* Start fetching from every SQ that feeds cq (after room was made in it). */
void nvme_kick_cq(struct nvme_softc *sc, uint16_t cqid);

/* ---- pci_nvme_admin.c ---- */
/* Execute an admin command; returns false when it stays outstanding (async event request). */
bool nvme_admin(struct nvme_softc *sc, const struct nvme_cmd *c);
/* Features to their reset values, async event requests dropped (controller reset). */
void nvme_admin_reset(struct nvme_softc *sc);

#endif
