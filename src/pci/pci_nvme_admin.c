/*
 * The NVMe admin command set (NVMe 1.4 5): IDENTIFY (controller, namespace, active namespace
 * list, namespace identification descriptors), CREATE/DELETE I/O SUBMISSION/COMPLETION QUEUE,
 * GET/SET FEATURES (number of queues, interrupt coalescing, volatile write cache, ...), GET
 * LOG PAGE (error information, SMART / health, firmware slot), ABORT (never finds a command to
 * abort: they are at the backend already) and ASYNCHRONOUS EVENT REQUEST (held; this
 * controller has no events to report).  Every queue id, size, vector and address is checked
 * before a queue is made; a bad one fails the command with its status.
 */
#include <stdlib.h>
#include <string.h>

#include "pci/pci_devinst.h"
#include "pci/pci_nvme.h"

#define NVME_ADM_DELETE_SQ   0x00
#define NVME_ADM_CREATE_SQ   0x01
#define NVME_ADM_GET_LOG     0x02
#define NVME_ADM_DELETE_CQ   0x04
#define NVME_ADM_CREATE_CQ   0x05
#define NVME_ADM_IDENTIFY    0x06
#define NVME_ADM_ABORT       0x08
#define NVME_ADM_SET_FEAT    0x09
#define NVME_ADM_GET_FEAT    0x0A
#define NVME_ADM_AER         0x0C

#define NVME_FEAT_ARBITRATION 0x01
#define NVME_FEAT_POWER       0x02
#define NVME_FEAT_TEMP        0x04
#define NVME_FEAT_ERR_RECOV   0x05
#define NVME_FEAT_VWC         0x06
#define NVME_FEAT_NUM_QUEUES  0x07
#define NVME_FEAT_INT_COAL    0x08
#define NVME_FEAT_INT_VECTOR  0x09
#define NVME_FEAT_WRITE_ATOM  0x0A
#define NVME_FEAT_ASYNC_EVENT 0x0B

static void nvme_put(uint8_t *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static void nvme_str(uint8_t *b, const char *s, size_t n)
{
	size_t len = strlen(s);
	for (size_t i = 0; i < n; i++)
		b[i] = i < len ? (uint8_t)s[i] : ' ';
}

/* ---- IDENTIFY ---- */

static void nvme_ident_ctrl(struct nvme_softc *sc, uint8_t *d)
{
	nvme_put(d + 0, 0xFB5D, 2);             /* VID */
	nvme_put(d + 2, 0xFB5D, 2);             /* SSVID */
	nvme_str(d + 4, sc->serial, 20);
	nvme_str(d + 24, "bhyve-NVMe", 40);
	nvme_str(d + 64, "1.0", 8);
	d[72] = 4;                              /* RAB: recommended arbitration burst */
	d[73] = 0x58; d[74] = 0x9C; d[75] = 0xFC;       /* IEEE OUI (bhyve's) */
	d[77] = NVME_MDTS;
	nvme_put(d + 80, 0x00010400, 4);        /* VER 1.4 */
	d[111] = 1;                             /* CNTRLTYPE: I/O controller */
	d[258] = 3;                             /* ACL: 4 aborts */
	d[259] = NVME_AERL - 1;
	d[260] = 1u << 0 | 1u << 1;             /* FRMW: slot 1 read-only, 1 slot */
	d[261] = 1u << 1;                       /* LPA: command effects? no; SMART per ns: no */
	d[261] = 0;
	d[262] = 0;                             /* ELPE: 1 error log entry */
	d[512] = 6 << 4 | 6;                    /* SQES: 64 bytes */
	d[513] = 4 << 4 | 4;                    /* CQES: 16 bytes */
	nvme_put(d + 516, 1, 4);                /* NN: one namespace */
	uint16_t oncs = 1u << 3;                /* Write Zeroes */
	if (sc->dsm)
		oncs |= 1u << 2;                /* Dataset Management */
	nvme_put(d + 520, oncs, 2);
	d[525] = 1;                             /* VWC: volatile write cache (flush matters) */
	nvme_put(d + 536, 1, 4);                /* SGLS: SGLs without alignment rules */
	char nqn[64];
	snprintf(nqn, sizeof(nqn), "nqn.2014-08.org.nvmexpress:uuid:bhyve-%s", sc->serial);
	memcpy(d + 768, nqn, strlen(nqn));
	nvme_put(d + 2048, 2500, 2);            /* PSD0: 25.00 W */
}

static unsigned nvme_log2(unsigned v)
{
	unsigned n = 0;
	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

static void nvme_ident_ns(struct nvme_softc *sc, uint8_t *d)
{
	nvme_put(d + 0, sc->nlba, 8);           /* NSZE */
	nvme_put(d + 8, sc->nlba, 8);           /* NCAP */
	nvme_put(d + 16, sc->nlba, 8);          /* NUSE */
	d[24] = 0;                              /* NSFEAT */
	d[25] = 0;                              /* NLBAF: one format */
	d[26] = 0;                              /* FLBAS: format 0 */
	if (sc->dsm)
		d[33] = 1;                      /* DLFEAT: deallocated blocks read as zero */
	nvme_put(d + 120, sc->eui64, 8);        /* EUI64, big-endian in the structure */
	for (int i = 0; i < 8; i++)
		d[120 + i] = (uint8_t)(sc->eui64 >> (56 - 8 * i));
	d[128 + 2] = (uint8_t)nvme_log2(sc->sectsz);   /* LBAF0.LBADS */
}

static uint16_t nvme_identify(struct nvme_softc *sc, const struct nvme_cmd *c)
{
	static __thread uint8_t d[4096];

	memset(d, 0, sizeof(d));
	switch (c->cdw10 & 0xFF) {
	case 0x00:                              /* namespace */
		if (c->nsid != 1)
			return NVME_SC_INVALID_NS | NVME_SC_DNR;
		nvme_ident_ns(sc, d);
		break;
	case 0x01:
		nvme_ident_ctrl(sc, d);
		break;
	case 0x02:                              /* active NSIDs above c->nsid */
		if (c->nsid >= 0xFFFFFFFEu)
			return NVME_SC_INVALID_NS | NVME_SC_DNR;
		if (c->nsid < 1)
			nvme_put(d, 1, 4);
		break;
	case 0x03:                              /* namespace identification descriptors */
		if (c->nsid != 1)
			return NVME_SC_INVALID_NS | NVME_SC_DNR;
		d[0] = 1;                       /* NIDT: IEEE EUI-64 */
		d[1] = 8;
		for (int i = 0; i < 8; i++)
			d[4 + i] = (uint8_t)(sc->eui64 >> (56 - 8 * i));
		break;
	default:
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	}
	return nvme_copy_out(sc, c, d, sizeof(d));
}

/* ---- Queues ---- */

static uint16_t nvme_create_cq(struct nvme_softc *sc, const struct nvme_cmd *c)
{
	unsigned qid = c->cdw10 & 0xFFFF, size = (c->cdw10 >> 16) + 1, iv = c->cdw11 >> 16;
	bool ien = (c->cdw11 >> 1) & 1;

	if (qid == 0 || qid > sc->maxq || sc->cq[qid].valid)
		return NVME_SC_INVALID_QID | NVME_SC_DNR;
	if (size < 2 || size > sc->qsz)
		return NVME_SC_INVALID_QSIZE | NVME_SC_DNR;
	if (!(c->cdw11 & 1))                    /* CAP.CQR: physically contiguous only */
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	if (iv >= sc->msix_vectors)
		return NVME_SC_INVALID_VECTOR | NVME_SC_DNR;
	if ((c->prp1 & (NVME_PAGE - 1)) || !nvme_map(sc, c->prp1, (size_t)size * 16))
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	sc->cq[qid] = (struct nvme_cq){ .valid = true, .ien = ien, .base = c->prp1,
					.size = size, .iv = (uint16_t)iv, .phase = true };
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_create_sq(struct nvme_softc *sc, const struct nvme_cmd *c)
{
	unsigned qid = c->cdw10 & 0xFFFF, size = (c->cdw10 >> 16) + 1, cqid = c->cdw11 >> 16;

	/* qid is the guest's: checked before it indexes sc->sq. */
	if (qid == 0 || qid > sc->maxq || sc->sq[qid].valid)
		return NVME_SC_INVALID_QID | NVME_SC_DNR;
	struct nvme_sq *sq = &sc->sq[qid];
	if (size < 2 || size > sc->qsz)
		return NVME_SC_INVALID_QSIZE | NVME_SC_DNR;
	if (cqid == 0 || cqid > sc->maxq || !sc->cq[cqid].valid)
		return NVME_SC_CQ_INVALID | NVME_SC_DNR;
	if (!(c->cdw11 & 1))
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	if ((c->prp1 & (NVME_PAGE - 1)) || !nvme_map(sc, c->prp1, (size_t)size * 64))
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	if (!sq->cids && !(sq->cids = calloc(65536 / 64, sizeof(uint64_t))))
		return NVME_SC_INTERNAL;
	memset(sq->cids, 0, 65536 / 8);
	sq->valid = true;
	sq->base = c->prp1;
	sq->size = size;
	sq->head = sq->tail = 0;
	sq->cqid = (uint16_t)cqid;
	sq->inflight = 0;
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_delete_sq(struct nvme_softc *sc, const struct nvme_cmd *c)
{
	unsigned qid = c->cdw10 & 0xFFFF;

	if (qid == 0 || qid > sc->maxq || !sc->sq[qid].valid)
		return NVME_SC_INVALID_QID | NVME_SC_DNR;
	struct nvme_sq *sq = &sc->sq[qid];
	/* Commands of this queue at the backend finish first (their completions are posted
	 * before the queue goes: the CQ outlives its SQs). */
	nvme_drain(sc);
	struct nvme_cq *cq = &sc->cq[sq->cqid];
	cq->reserved = cq->reserved > sq->inflight ? cq->reserved - sq->inflight : 0;
	sq->valid = false;
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_delete_cq(struct nvme_softc *sc, const struct nvme_cmd *c)
{
	unsigned qid = c->cdw10 & 0xFFFF;

	if (qid == 0 || qid > sc->maxq || !sc->cq[qid].valid)
		return NVME_SC_INVALID_QID | NVME_SC_DNR;
	for (unsigned q = 1; q <= sc->maxq; q++)
		if (sc->sq[q].valid && sc->sq[q].cqid == qid)
			return NVME_SC_INVALID_DELETE | NVME_SC_DNR;
	sc->cq[qid].valid = false;
	return NVME_SC_SUCCESS;
}

/* ---- Features ---- */

static uint16_t nvme_set_features(struct nvme_softc *sc, const struct nvme_cmd *c, uint32_t *dw0)
{
	unsigned fid = c->cdw10 & 0xFF;

	switch (fid) {
	case NVME_FEAT_NUM_QUEUES:
		if ((c->cdw11 & 0xFFFF) == 0xFFFF || (c->cdw11 >> 16) == 0xFFFF)
			return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		*dw0 = (sc->maxq - 1) | (sc->maxq - 1) << 16;   /* what we allocate, 0-based */
		return NVME_SC_SUCCESS;
	case NVME_FEAT_ARBITRATION:
	case NVME_FEAT_POWER:
	case NVME_FEAT_TEMP:
	case NVME_FEAT_ERR_RECOV:
	case NVME_FEAT_VWC:
	case NVME_FEAT_INT_COAL:
	case NVME_FEAT_INT_VECTOR:
	case NVME_FEAT_WRITE_ATOM:
	case NVME_FEAT_ASYNC_EVENT:
		sc->feat[fid] = c->cdw11;
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	}
}

static uint16_t nvme_get_features(struct nvme_softc *sc, const struct nvme_cmd *c, uint32_t *dw0)
{
	unsigned fid = c->cdw10 & 0xFF;

	switch (fid) {
	case NVME_FEAT_NUM_QUEUES:
		*dw0 = (sc->maxq - 1) | (sc->maxq - 1) << 16;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_INT_VECTOR:
		*dw0 = c->cdw11 & 0xFFFF;       /* vector, coalescing disabled? no: enabled */
		return NVME_SC_SUCCESS;
	case NVME_FEAT_ARBITRATION:
	case NVME_FEAT_POWER:
	case NVME_FEAT_TEMP:
	case NVME_FEAT_ERR_RECOV:
	case NVME_FEAT_VWC:
	case NVME_FEAT_INT_COAL:
	case NVME_FEAT_WRITE_ATOM:
	case NVME_FEAT_ASYNC_EVENT:
		*dw0 = sc->feat[fid];
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	}
}

/* ---- Logs ---- */

static uint16_t nvme_get_log(struct nvme_softc *sc, const struct nvme_cmd *c)
{
	static __thread uint8_t d[4096];
	unsigned lid = c->cdw10 & 0xFF;
	uint64_t len = (((uint64_t)(c->cdw11 & 0xFFFF) << 16 | (c->cdw10 >> 16)) + 1) * 4;
	uint64_t off = (uint64_t)c->cdw13 << 32 | c->cdw12;
	uint64_t size;

	memset(d, 0, sizeof(d));
	switch (lid) {
	case 0x01: size = 64; break;            /* error information: no errors */
	case 0x02:                              /* SMART / health */
		size = 512;
		nvme_put(d + 1, 296, 2);        /* composite temperature: 23 C in kelvin */
		d[3] = 100;                     /* available spare */
		d[4] = 10;                      /* spare threshold */
		break;
	case 0x03:                              /* firmware slot information */
		size = 512;
		d[0] = 1;                       /* active slot 1 */
		memcpy(d + 8, "1.0     ", 8);
		break;
	default:
		return NVME_SC_INVALID_LOG | NVME_SC_DNR;
	}
	if (off & 3 || off >= size)
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	if (len > size - off)
		len = size - off;               /* the rest of the host buffer is left alone */
	return nvme_copy_out(sc, c, d + off, (uint32_t)len);
}

bool nvme_admin(struct nvme_softc *sc, const struct nvme_cmd *c)
{
	uint32_t dw0 = 0;
	uint16_t st;

	switch (c->opc) {
	case NVME_ADM_DELETE_SQ: st = nvme_delete_sq(sc, c); break;
	case NVME_ADM_CREATE_SQ: st = nvme_create_sq(sc, c); break;
	case NVME_ADM_GET_LOG: st = nvme_get_log(sc, c); break;
	case NVME_ADM_DELETE_CQ: st = nvme_delete_cq(sc, c); break;
	case NVME_ADM_CREATE_CQ: st = nvme_create_cq(sc, c); break;
	case NVME_ADM_IDENTIFY: st = nvme_identify(sc, c); break;
	case NVME_ADM_ABORT:
		dw0 = 1;                        /* bit 0: the command was not aborted */
		st = NVME_SC_SUCCESS;
		break;
	case NVME_ADM_SET_FEAT: st = nvme_set_features(sc, c, &dw0); break;
	case NVME_ADM_GET_FEAT: st = nvme_get_features(sc, c, &dw0); break;
	case NVME_ADM_AER:
		if (sc->aer_n >= NVME_AERL) {
			st = NVME_SC_AER_LIMIT | NVME_SC_DNR;
			break;
		}
		sc->aer_cid[sc->aer_n++] = c->cid;
		return false;
	default:
		st = NVME_SC_INVALID_OPCODE | NVME_SC_DNR;
		break;
	}
	nvme_complete(sc, 0, c->cid, dw0, st);
	return true;
}

void nvme_admin_reset(struct nvme_softc *sc)
{
	memset(sc->feat, 0, sizeof(sc->feat));
	sc->feat[NVME_FEAT_VWC] = 1;
	sc->feat[NVME_FEAT_ARBITRATION] = 0;
	sc->aer_n = 0;
}
