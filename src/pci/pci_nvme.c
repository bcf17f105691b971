/*
 * NVM Express controller (-s N,nvme,devpath[,maxq=#][,qsz=#][,ioslots=#][,sectsz=#][,ser=S]
 * [,eui64=#][,dsm=auto|enable|disable]).
 *
 * devpath is a block device, an image file (key path, with the usual block options) or
 * ram=MiB (key ram: a RAM-backed namespace).  Defaults as in bhyve: maxq=16, qsz=2058,
 * ioslots=8; sectsz defaults to the backend's sector size.  maxq is the number of I/O queue
 * pairs, qsz the largest queue (CAP.MQES + 1), ioslots the requests at the backend at once;
 * dsm=auto offers deallocation when the backend can discard.
 *
 * The function: vendor FB5D (bhyve's), device 0A0A, class 01/08/02 (NVMe), BAR 0/1 the
 * controller registers and doorbells (stride 4 bytes), BAR 4 MSI-X (one vector per queue).
 * One namespace (NSID 1).  Admin commands are in pci_nvme_admin.c.
 */
#include "pci/pci_emul.h"

#include <ctype.h>
#include <errno.h>
#include <md5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/devconf.h"
#include "common/parse.h"
#include "pci/pci_devinst.h"
#include "pci/pci_nvme.h"
#include "vmm/vmm.h"

#define NVME_DEFAULT_MAXQ    16
#define NVME_DEFAULT_QSZ     2058
#define NVME_DEFAULT_IOSLOTS 8
#define NVME_MAX_QSZ         65536   /* CAP.MQES is 16 bits, 0-based */
#define NVME_MAX_IOSLOTS     4096
#define NVME_SER_MAX         20      /* Identify Controller SN field */
#define NVME_RAM_MAX_MIB     (1u << 20)

static int nvme_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	const char *rest;
	char *first;
	int rc = 0;

	if (!opts || !*opts)
		return 0;
	first = devconf_first_token(opts, &rest);
	if (strchr(first, '='))   /* ram=N or options only */
		rest = opts;
	else if (config_node_set(nvl, "path", first) < 0) {
		snprintf(err, errlen, "'%s': cannot set path", first);
		rc = -1;
	}
	free(first);
	if (rc == 0 && rest)
		rc = pci_parse_legacy_kv(nvl, rest, err, errlen);
	return rc;
}

static int nvme_check_backing(config_node_t *nvl, char *err, size_t errlen)
{
	const char *path = config_node_get(nvl, "path");
	const char *ram = config_node_get(nvl, "ram");

	if (path && ram) {
		snprintf(err, errlen, "ram=%s: give either a path or ram=, not both", ram);
		return -1;
	}
	if (!path && !ram) {
		snprintf(err, errlen, "a devpath is required (/dev/blockdev, /path/to/image or "
			 "ram=size_in_MiB)");
		return -1;
	}
	if (ram)
		return devconf_num(nvl, "ram", 1, NVME_RAM_MAX_MIB, NULL, err, errlen);
	return devconf_block_check(nvl, true, err, errlen);
}

static int nvme_check_strings(config_node_t *nvl, char *err, size_t errlen)
{
	const char *ser = config_node_get(nvl, "ser");
	const char *eui = config_node_get(nvl, "eui64");
	const char *dsm = config_node_get(nvl, "dsm");
	uint64_t v;

	if (ser) {
		bool ok = strlen(ser) <= NVME_SER_MAX;
		for (const char *c = ser; ok && *c; c++)
			ok = isprint((unsigned char)*c);
		if (!ok) {
			snprintf(err, errlen, "ser=%s: at most %d printable characters", ser,
				 NVME_SER_MAX);
			return -1;
		}
	}
	if (eui && parse_num(eui, 0, 0, UINT64_MAX, &v) < 0) {
		snprintf(err, errlen, "eui64=%s: must be a 64-bit number", eui);
		return -1;
	}
	if (dsm && strcmp(dsm, "auto") && strcmp(dsm, "enable") && strcmp(dsm, "disable")) {
		snprintf(err, errlen, "dsm=%s: expected auto, enable or disable", dsm);
		return -1;
	}
	return 0;
}

static int nvme_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "device", DEVCONF_BLOCK_KEYS, "ram", "maxq", "qsz",
					    "ioslots", "sectsz", "ser", "eui64", "dsm", NULL };
	uint64_t sectsz = 512;

	if (devconf_check_keys(nvl, keys, err, errlen) < 0 ||
	    nvme_check_backing(nvl, err, errlen) < 0 ||
	    devconf_num(nvl, "maxq", 1, NVME_MAX_QUEUES, NULL, err, errlen) < 0 ||
	    devconf_num(nvl, "qsz", 2, NVME_MAX_QSZ, NULL, err, errlen) < 0 ||
	    devconf_num(nvl, "ioslots", 1, NVME_MAX_IOSLOTS, NULL, err, errlen) < 0 ||
	    devconf_num(nvl, "sectsz", 512, 8192, &sectsz, err, errlen) < 0)
		return -1;
	if (sectsz != 512 && sectsz != 4096 && sectsz != 8192) {
		snprintf(err, errlen, "sectsz=%s: expected 512, 4096 or 8192",
			 config_node_get(nvl, "sectsz"));
		return -1;
	}
	return nvme_check_strings(nvl, err, errlen);
}


/* ---- Registers ---- */

#define NVME_BAR         0
#define NVME_MSIX_BAR    4
#define NVME_REG_CAP     0x00
#define NVME_REG_VS      0x08
#define NVME_REG_INTMS   0x0C
#define NVME_REG_INTMC   0x10
#define NVME_REG_CC      0x14
#define NVME_REG_CSTS    0x1C
#define NVME_REG_NSSR    0x20
#define NVME_REG_AQA     0x24
#define NVME_REG_ASQ     0x28
#define NVME_REG_ACQ     0x30
#define NVME_DOORBELL    0x1000
#define NVME_CC_EN       (1u << 0)
#define NVME_CC_SHN(cc)  (((cc) >> 14) & 3)
#define NVME_CSTS_RDY    (1u << 0)
#define NVME_CSTS_CFS    (1u << 1)
#define NVME_CSTS_SHST_DONE (2u << 2)

/* Opcodes of the NVM command set. */
#define NVME_OPC_FLUSH        0x00
#define NVME_OPC_WRITE        0x01
#define NVME_OPC_READ         0x02
#define NVME_OPC_WRITE_ZEROES 0x08
#define NVME_OPC_DSM          0x09

/* SGL descriptor types (byte 15, bits 7:4). */
#define NVME_SGL_DATA         0x0
#define NVME_SGL_BIT_BUCKET   0x1
#define NVME_SGL_SEGMENT      0x2
#define NVME_SGL_LAST_SEGMENT 0x3
#define NVME_SGL_MAX_DESC     1024      /* descriptors walked per command at most */

void *nvme_map(struct nvme_softc *sc, uint64_t gpa, size_t len)
{
	return vm_map_gpa(sc->vm, gpa, len);
}

static uint64_t nvme_le(const uint8_t *b, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* ---- Interrupts ---- */

/* INTx (and INTMS for it): the line is up while an enabled CQ holds unconsumed entries. */
static void nvme_intx_update(struct nvme_softc *sc)
{
	bool on = false;

	for (unsigned q = 0; q <= sc->maxq && !on; q++) {
		struct nvme_cq *cq = &sc->cq[q];
		on = cq->valid && cq->ien && cq->head != cq->tail && !(sc->intms & 1);
	}
	if (on)
		pci_lintr_assert(sc->pi);
	else
		pci_lintr_deassert(sc->pi);
}

static void nvme_interrupt(struct nvme_softc *sc, struct nvme_cq *cq)
{
	if (!cq->ien)
		return;
	if (pci_msix_enabled(sc->pi))
		pci_generate_msix(sc->pi, cq->iv);
	else if (pci_msi_enabled(sc->pi))
		pci_generate_msi(sc->pi, 0);
	else
		nvme_intx_update(sc);
}

/* ---- Completion ---- */

/* Write one completion entry on sqid's CQ and interrupt (no bookkeeping). */
static void nvme_post(struct nvme_softc *sc, uint16_t sqid, uint16_t cid, uint32_t dw0,
		      uint16_t status)
{
	struct nvme_sq *sq = &sc->sq[sqid];
	struct nvme_cq *cq = &sc->cq[sq->cqid];

	if (!cq->valid)
		return;
	uint8_t *e = nvme_map(sc, cq->base + (uint64_t)cq->tail * 16, 16);
	if (!e) {
		sc->csts |= NVME_CSTS_CFS;      /* the queue left guest RAM: controller fatal */
		return;
	}
	uint32_t dw3 = cid | (uint32_t)(cq->phase ? 1 : 0) << 16 | (uint32_t)(status & 0x7FF) << 17;
	if (status & NVME_SC_DNR)
		dw3 |= 1u << 31;
	uint32_t dw[4] = { dw0, 0, sq->head | (uint32_t)sqid << 16, dw3 };
	memcpy(e, dw, 12);
	__atomic_store_n((uint32_t *)(e + 12), dw[3], __ATOMIC_RELEASE);   /* phase last */
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	nvme_interrupt(sc, cq);
}

void nvme_complete(struct nvme_softc *sc, uint16_t sqid, uint16_t cid, uint32_t dw0,
		   uint16_t status)
{
	struct nvme_sq *sq = &sc->sq[sqid];

	if (!sq->valid)
		return;
	sq->inflight--;
	sq->cids[cid / 64] &= ~(1ULL << (cid % 64));
	if (sc->cq[sq->cqid].reserved)
		sc->cq[sq->cqid].reserved--;
	nvme_post(sc, sqid, cid, dw0, status);
}

/* ---- Data pointers: PRP lists and SGLs ---- */

/* Append [gpa, gpa+len) to r's iov, merging with the previous entry when contiguous. */
static uint16_t nvme_iov_add(struct nvme_softc *sc, struct nvme_req *r, uint64_t gpa,
			     uint64_t len)
{
	if (len == 0)
		return NVME_SC_SUCCESS;
	uint8_t *h = nvme_map(sc, gpa, (size_t)len);
	if (!h)
		return NVME_SC_DATA_XFER_ERROR;
	if (r->iovcnt > 0) {
		struct iovec *last = &r->iov[r->iovcnt - 1];
		if ((uint8_t *)last->iov_base + last->iov_len == h &&
		    r->gpa[r->iovcnt - 1] + last->iov_len == gpa) {
			last->iov_len += (size_t)len;
			return NVME_SC_SUCCESS;
		}
	}
	if (r->iovcnt >= (int)NVME_MAX_IOV)
		return NVME_SC_DATA_XFER_ERROR;
	r->iov[r->iovcnt] = (struct iovec){ h, (size_t)len };
	r->gpa[r->iovcnt++] = gpa;
	return NVME_SC_SUCCESS;
}

/* PRP1/PRP2 for `len` bytes (NVMe 1.4 4.3): PRP2 is the second page, or a PRP list whose
 * last entry on each list page chains to the next list page. */
static uint16_t nvme_prp(struct nvme_softc *sc, struct nvme_req *r, const struct nvme_cmd *c,
			 uint32_t len)
{
	uint32_t first = NVME_PAGE - (uint32_t)(c->prp1 & (NVME_PAGE - 1));
	uint16_t st;

	if (c->prp1 & 3)
		return NVME_SC_PRP_OFFSET;
	if (first > len)
		first = len;
	if ((st = nvme_iov_add(sc, r, c->prp1, first)) != NVME_SC_SUCCESS)
		return st;
	len -= first;
	if (len == 0)
		return NVME_SC_SUCCESS;
	if (len <= NVME_PAGE) {
		if (c->prp2 & (NVME_PAGE - 1))
			return NVME_SC_PRP_OFFSET;
		return nvme_iov_add(sc, r, c->prp2, len);
	}
	uint64_t list = c->prp2;
	if (list & 7)
		return NVME_SC_PRP_OFFSET;
	while (len > 0) {
		uint32_t n = (NVME_PAGE - (uint32_t)(list & (NVME_PAGE - 1))) / 8;
		const uint8_t *ent = nvme_map(sc, list, (size_t)n * 8);
		if (!ent)
			return NVME_SC_DATA_XFER_ERROR;
		for (uint32_t i = 0; i < n && len > 0; i++) {
			uint64_t prp = nvme_le(ent + 8 * i, 8);
			if (i == n - 1 && len > NVME_PAGE) {    /* chains to the next list page */
				if (prp & 7)
					return NVME_SC_PRP_OFFSET;
				list = prp;
				break;
			}
			if (prp & (NVME_PAGE - 1))
				return NVME_SC_PRP_OFFSET;
			uint32_t k = len < NVME_PAGE ? len : NVME_PAGE;
			if ((st = nvme_iov_add(sc, r, prp, k)) != NVME_SC_SUCCESS)
				return st;
			len -= k;
		}
	}
	return NVME_SC_SUCCESS;
}

struct nvme_sgl_walk {
	uint32_t need;          /* bytes still to map */
	unsigned ndesc;         /* descriptors seen (a bound against cycles) */
	bool write;             /* host -> controller: bit buckets are not allowed */
};

/* One data or bit-bucket descriptor. */
static uint16_t nvme_sgl_data(struct nvme_softc *sc, struct nvme_req *r, struct nvme_sgl_walk *w,
			      uint64_t addr, uint32_t dlen, unsigned type)
{
	uint32_t k = dlen < w->need ? dlen : w->need;

	if (type == NVME_SGL_BIT_BUCKET) {
		/* Data to discard: only meaningful for reads; we do not model skipping, so a
		 * bit bucket inside a transfer is refused. */
		return w->write || k ? NVME_SC_SGL_TYPE_INVALID : NVME_SC_SUCCESS;
	}
	uint16_t st = nvme_iov_add(sc, r, addr, k);
	w->need -= k;
	return st;
}

/* The SGL of a command (NVMe 1.4 4.4): data descriptors, segments chained by their last
 * descriptor, a last segment of data descriptors only. */
static uint16_t nvme_sgl(struct nvme_softc *sc, struct nvme_req *r, const struct nvme_cmd *c,
			 uint32_t len, bool write)
{
	uint8_t d[16];
	struct nvme_sgl_walk w = { len, 0, write };

	memcpy(d, &c->prp1, 8);
	memcpy(d + 8, &c->prp2, 8);
	for (;;) {
		uint64_t addr = nvme_le(d, 8);
		uint32_t dlen = (uint32_t)nvme_le(d + 8, 4);
		unsigned type = d[15] >> 4;
		if (++w.ndesc > NVME_SGL_MAX_DESC)
			return NVME_SC_SGL_NUM_INVALID;
		if (type == NVME_SGL_DATA || type == NVME_SGL_BIT_BUCKET) {
			uint16_t st = nvme_sgl_data(sc, r, &w, addr, dlen, type);
			return st ? st : w.need ? NVME_SC_SGL_LEN_INVALID : NVME_SC_SUCCESS;
		}
		if ((type != NVME_SGL_SEGMENT && type != NVME_SGL_LAST_SEGMENT) || dlen == 0 ||
		    dlen % 16 || dlen / 16 > NVME_SGL_MAX_DESC)
			return type > NVME_SGL_LAST_SEGMENT ? NVME_SC_SGL_TYPE_INVALID
							    : NVME_SC_SGL_SEG_INVALID;
		const uint8_t *seg = nvme_map(sc, addr, dlen);
		if (!seg)
			return NVME_SC_DATA_XFER_ERROR;
		unsigned n = dlen / 16;
		for (unsigned i = 0; i < n; i++) {
			const uint8_t *e = seg + 16 * i;
			unsigned t = e[15] >> 4;
			if (++w.ndesc > NVME_SGL_MAX_DESC)
				return NVME_SC_SGL_NUM_INVALID;
			if (i == n - 1 && type == NVME_SGL_SEGMENT &&
			    (t == NVME_SGL_SEGMENT || t == NVME_SGL_LAST_SEGMENT)) {
				memcpy(d, e, 16);       /* the next segment */
				break;
			}
			if (t != NVME_SGL_DATA && t != NVME_SGL_BIT_BUCKET)
				return NVME_SC_SGL_TYPE_INVALID;
			uint16_t st = nvme_sgl_data(sc, r, &w, nvme_le(e, 8),
						    (uint32_t)nvme_le(e + 8, 4), t);
			if (st)
				return st;
			if (i == n - 1)
				return w.need ? NVME_SC_SGL_LEN_INVALID : NVME_SC_SUCCESS;
		}
	}
}

static uint16_t nvme_dptr(struct nvme_softc *sc, struct nvme_req *r, const struct nvme_cmd *c,
			  uint32_t len, bool write)
{
	r->iovcnt = 0;
	switch ((c->flags >> 6) & 3) {
	case 0: return nvme_prp(sc, r, c, len);
	case 1: return nvme_sgl(sc, r, c, len, write);
	default: return NVME_SC_INVALID_FIELD;
	}
}

uint16_t nvme_copy_out(struct nvme_softc *sc, const struct nvme_cmd *c, const void *buf,
		       uint32_t len)
{
	static __thread struct nvme_req tmp;    /* mtx held: one user per thread at a time */
	uint16_t st = nvme_dptr(sc, &tmp, c, len, false);
	size_t done = 0;

	if (st)
		return st;
	for (int i = 0; i < tmp.iovcnt; i++) {
		memcpy(tmp.iov[i].iov_base, (const uint8_t *)buf + done, tmp.iov[i].iov_len);
		vm_notify_write(sc->vm, tmp.gpa[i], tmp.iov[i].iov_len);
		done += tmp.iov[i].iov_len;
	}
	return NVME_SC_SUCCESS;
}

/* ---- I/O commands ---- */

static void nvme_req_free(struct nvme_softc *sc, struct nvme_req *r)
{
	r->next_free = sc->free_req;
	sc->free_req = r;
}

static uint16_t nvme_errno_status(int err, bool write)
{
	if (err == EINVAL)
		return NVME_SC_LBA_RANGE;
	if (err == EROFS)
		return NVME_SC_WRITE_FAULT | NVME_SC_DNR;
	if (err == EOPNOTSUPP)
		return NVME_SC_INVALID_OPCODE | NVME_SC_DNR;
	return write ? NVME_SC_WRITE_FAULT : NVME_SC_READ_ERROR;
}

static void nvme_sq_kick(struct nvme_softc *sc, uint32_t mask);

/* The request is done: post, give the request back, fetch more from the queues waiting. */
static void nvme_req_finish(struct nvme_softc *sc, struct nvme_req *r, uint16_t status)
{
	uint16_t sqid = r->sqid;

	nvme_complete(sc, sqid, r->cid, 0, status);
	nvme_req_free(sc, r);
	if (--sc->inflight == 0)
		pthread_cond_broadcast(&sc->idle);
	uint32_t mask = 0;
	for (unsigned q = 1; q <= sc->maxq; q++)
		if (sc->sq[q].valid && sc->sq[q].head != sc->sq[q].tail)
			mask |= 1u << q;
	if (mask)
		nvme_sq_kick(sc, mask);
}

static bool nvme_dsm_next(struct nvme_softc *sc, struct nvme_req *r)
{
	while (r->dsm_i < r->dsm_n) {
		const uint8_t *e = r->dsm + 16 * r->dsm_i++;
		uint64_t nlb = nvme_le(e + 4, 4), slba = nvme_le(e + 8, 8);
		if (nlb == 0)
			continue;
		r->br.offset = slba * sc->sectsz;
		r->br.len = nlb * sc->sectsz;
		r->br.iovcnt = 0;
		return true;
	}
	return false;
}

static void nvme_io_done(struct blockif_req *br, int err)
{
	struct nvme_req *r = br->arg;
	struct nvme_softc *sc = r->sc;

	pthread_mutex_lock(&sc->mtx);
	if (!err && r->opc == NVME_OPC_DSM && nvme_dsm_next(sc, r) &&
	    blockif_submit(sc->bc, &r->br) == 0) {
		pthread_mutex_unlock(&sc->mtx);
		return;
	}
	if (!err && br->op == BLOCKIF_READ)
		for (int i = 0; i < r->iovcnt; i++)
			vm_notify_write(sc->vm, r->gpa[i], r->iov[i].iov_len);
	nvme_req_finish(sc, r, err ? nvme_errno_status(err, br->op != BLOCKIF_READ) : 0);
	pthread_mutex_unlock(&sc->mtx);
}

/* A RAM namespace does the request at once. */
static int nvme_ram_exec(struct nvme_softc *sc, struct nvme_req *r)
{
	struct blockif_req *br = &r->br;
	uint64_t off = br->offset;

	if (br->op == BLOCKIF_FLUSH)
		return 0;
	if (br->op == BLOCKIF_DISCARD || br->op == BLOCKIF_WRITE_ZEROES) {
		if (off > sc->size || br->len > sc->size - off)
			return EINVAL;
		memset(sc->ram + off, 0, (size_t)br->len);
		return 0;
	}
	for (int i = 0; i < r->iovcnt; i++) {
		size_t n = r->iov[i].iov_len;
		if (off > sc->size || n > sc->size - off)
			return EINVAL;
		if (br->op == BLOCKIF_READ)
			memcpy(r->iov[i].iov_base, sc->ram + off, n);
		else
			memcpy(sc->ram + off, r->iov[i].iov_base, n);
		off += n;
	}
	return 0;
}

static void nvme_io_submit(struct nvme_softc *sc, struct nvme_req *r, enum blockif_op op)
{
	r->br.op = op;
	r->br.iov = r->iov;
	r->br.iovcnt = op == BLOCKIF_READ || op == BLOCKIF_WRITE ? r->iovcnt : 0;
	r->br.done = nvme_io_done;
	r->br.arg = r;
	sc->inflight++;
	if (sc->ram) {
		int err;
		do {
			err = nvme_ram_exec(sc, r);
		} while (!err && op == BLOCKIF_DISCARD && nvme_dsm_next(sc, r));
		if (!err && op == BLOCKIF_READ)
			for (int i = 0; i < r->iovcnt; i++)
				vm_notify_write(sc->vm, r->gpa[i], r->iov[i].iov_len);
		nvme_req_finish(sc, r, err ? nvme_errno_status(err, op != BLOCKIF_READ) : 0);
		return;
	}
	if (blockif_submit(sc->bc, &r->br) != 0)
		nvme_req_finish(sc, r, NVME_SC_INTERNAL);
}

/* Starting LBA and block count of a read/write/write-zeroes; a status if out of range. */
static uint16_t nvme_lba_range(struct nvme_softc *sc, const struct nvme_cmd *c, uint64_t *slba,
			       uint64_t *nlb)
{
	*slba = (uint64_t)c->cdw11 << 32 | c->cdw10;
	*nlb = (c->cdw12 & 0xFFFF) + 1ULL;
	if (*slba > sc->nlba || *nlb > sc->nlba - *slba)
		return NVME_SC_LBA_RANGE | NVME_SC_DNR;
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_io_rw(struct nvme_softc *sc, struct nvme_req *r, const struct nvme_cmd *c)
{
	bool write = c->opc == NVME_OPC_WRITE;
	uint64_t slba, nlb;
	uint16_t st = nvme_lba_range(sc, c, &slba, &nlb);

	if (st)
		return st;
	if (nlb * sc->sectsz > NVME_MAX_XFER)
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	if (write && sc->ro)
		return NVME_SC_WRITE_FAULT | NVME_SC_DNR;
	r->xfer = (uint32_t)(nlb * sc->sectsz);
	if ((st = nvme_dptr(sc, r, c, r->xfer, write)) != NVME_SC_SUCCESS)
		return st | NVME_SC_DNR;
	r->br.offset = slba * sc->sectsz;
	nvme_io_submit(sc, r, write ? BLOCKIF_WRITE : BLOCKIF_READ);
	return 0xFFFF;
}

static uint16_t nvme_io_dsm(struct nvme_softc *sc, struct nvme_req *r, const struct nvme_cmd *c)
{
	unsigned nr = (c->cdw10 & 0xFF) + 1;

	if (!sc->dsm)
		return NVME_SC_INVALID_OPCODE | NVME_SC_DNR;
	if (!(c->cdw11 & (1u << 2)))    /* only the deallocate attribute does anything */
		return NVME_SC_SUCCESS;
	if (sc->ro)
		return NVME_SC_WRITE_FAULT | NVME_SC_DNR;
	if (!r->dsm && !(r->dsm = malloc(NVME_DSM_MAX * 16)))
		return NVME_SC_INTERNAL;
	uint16_t st = nvme_dptr(sc, r, c, nr * 16, true);
	if (st)
		return st | NVME_SC_DNR;
	size_t off = 0;
	for (int i = 0; i < r->iovcnt; i++) {
		memcpy(r->dsm + off, r->iov[i].iov_base, r->iov[i].iov_len);
		off += r->iov[i].iov_len;
	}
	for (unsigned i = 0; i < nr; i++) {
		uint64_t nlb = nvme_le(r->dsm + 16 * i + 4, 4), slba = nvme_le(r->dsm + 16 * i + 8, 8);
		if (slba > sc->nlba || nlb > sc->nlba - slba)
			return NVME_SC_LBA_RANGE | NVME_SC_DNR;
	}
	r->dsm_n = nr;
	r->dsm_i = 0;
	if (!nvme_dsm_next(sc, r))
		return NVME_SC_SUCCESS;
	nvme_io_submit(sc, r, BLOCKIF_DISCARD);
	return 0xFFFF;
}

/* Start an I/O command: a status to post now, or 0xFFFF when the backend has it. */
static uint16_t nvme_io(struct nvme_softc *sc, struct nvme_req *r, const struct nvme_cmd *c)
{
	uint64_t slba, nlb;
	uint16_t st;

	r->opc = c->opc;
	if (c->nsid != 1 && !(c->opc == NVME_OPC_FLUSH && c->nsid == 0xFFFFFFFFu))
		return NVME_SC_INVALID_NS | NVME_SC_DNR;
	switch (c->opc) {
	case NVME_OPC_FLUSH:
		nvme_io_submit(sc, r, BLOCKIF_FLUSH);
		return 0xFFFF;
	case NVME_OPC_READ:
	case NVME_OPC_WRITE:
		return nvme_io_rw(sc, r, c);
	case NVME_OPC_WRITE_ZEROES:
		if ((st = nvme_lba_range(sc, c, &slba, &nlb)) != NVME_SC_SUCCESS)
			return st;
		if (sc->ro)
			return NVME_SC_WRITE_FAULT | NVME_SC_DNR;
		r->br.offset = slba * sc->sectsz;
		r->br.len = nlb * sc->sectsz;
		r->br.may_unmap = (c->cdw12 >> 25) & 1;
		nvme_io_submit(sc, r, BLOCKIF_WRITE_ZEROES);
		return 0xFFFF;
	case NVME_OPC_DSM:
		return nvme_io_dsm(sc, r, c);
	default:
		return NVME_SC_INVALID_OPCODE | NVME_SC_DNR;
	}
}

/* ---- Submission queues ---- */

static bool nvme_fetch(struct nvme_softc *sc, struct nvme_sq *sq, struct nvme_cmd *c)
{
	const uint8_t *e = nvme_map(sc, sq->base + (uint64_t)sq->head * 64, 64);

	if (!e) {               /* checked when the queue was made; RAM does not move */
		sc->csts |= NVME_CSTS_CFS;
		return false;
	}
	memcpy(c, e, sizeof(*c));
	if (++sq->head == sq->size)
		sq->head = 0;
	return true;
}

/* Room in the CQ for one more completion (counting those of commands in flight). */
static bool nvme_cq_room(const struct nvme_cq *cq)
{
	uint32_t used = (cq->tail + cq->size - cq->head) % cq->size;
	return used + cq->reserved + 1 < cq->size;
}

static void nvme_sq_run(struct nvme_softc *sc, uint16_t sqid)
{
	struct nvme_sq *sq = &sc->sq[sqid];

	while (sq->valid && sq->head != sq->tail && (sc->csts & NVME_CSTS_RDY) &&
	       !(sc->csts & NVME_CSTS_CFS)) {
		struct nvme_cq *cq = &sc->cq[sq->cqid];
		struct nvme_cmd c;
		if (!cq->valid || !nvme_cq_room(cq) || (sqid && !sc->free_req))
			return;         /* resumes when a completion or CQ head frees room */
		if (!nvme_fetch(sc, sq, &c))
			return;
		if (sq->cids[c.cid / 64] & (1ULL << (c.cid % 64))) {
			/* The id is still outstanding: report the conflict, leave the other. */
			nvme_post(sc, sqid, c.cid, 0, NVME_SC_CID_CONFLICT | NVME_SC_DNR);
			continue;
		}
		cq->reserved++;
		sq->inflight++;
		sq->cids[c.cid / 64] |= 1ULL << (c.cid % 64);
		if (sqid == 0) {
			nvme_admin(sc, &c);     /* completes it, or holds an async event request */
			continue;
		}
		struct nvme_req *r = sc->free_req;
		sc->free_req = r->next_free;
		memset(&r->br, 0, sizeof(r->br));
		r->sqid = sqid;
		r->cid = c.cid;
		uint16_t st = nvme_io(sc, r, &c);
		if (st != 0xFFFF) {
			nvme_complete(sc, sqid, c.cid, 0, st);
			nvme_req_free(sc, r);
		}
	}
}

/* Fetch from the SQs in `mask`.  Not reentrant: a completion posted while fetching (a RAM
 * namespace completes at once, a drain lets workers complete) only marks queues to look at
 * again, so the stack stays flat however long the queues are. */
static void nvme_sq_kick(struct nvme_softc *sc, uint32_t mask)
{
	sc->kick_mask |= mask;
	if (sc->kicking)
		return;
	sc->kicking = true;
	while (sc->kick_mask) {
		int q = __builtin_ctz(sc->kick_mask);
		sc->kick_mask &= ~(1u << q);
		nvme_sq_run(sc, (uint16_t)q);
	}
	sc->kicking = false;
}

static void nvme_sq_process(struct nvme_softc *sc, uint16_t sqid)
{
	nvme_sq_kick(sc, 1u << sqid);
}

void nvme_kick_cq(struct nvme_softc *sc, uint16_t cqid)
{
	uint32_t mask = 0;
	for (unsigned q = 0; q <= sc->maxq; q++)
		if (sc->sq[q].valid && sc->sq[q].cqid == cqid)
			mask |= 1u << q;
	nvme_sq_kick(sc, mask);
}

void nvme_drain(struct nvme_softc *sc)
{
	while (sc->inflight > 0)
		pthread_cond_wait(&sc->idle, &sc->mtx);
}

/* ---- Controller reset, enable, shutdown ---- */

static void nvme_queues_reset(struct nvme_softc *sc)
{
	for (unsigned q = 0; q <= NVME_MAX_QUEUES; q++) {
		sc->sq[q].valid = false;
		sc->cq[q].valid = false;
	}
	nvme_admin_reset(sc);
	pci_lintr_deassert(sc->pi);
}

struct nvme_flush_wait {
	struct blockif_req br;
	struct nvme_softc *sc;
	bool done;
};

static void nvme_flush_done(struct blockif_req *br, int err)
{
	struct nvme_flush_wait *w = br->arg;

	(void)err;
	pthread_mutex_lock(&w->sc->mtx);
	w->done = true;
	pthread_cond_broadcast(&w->sc->idle);
	pthread_mutex_unlock(&w->sc->mtx);
}

/* Shutdown notification: everything in flight finishes and is on stable storage. */
static void nvme_shutdown(struct nvme_softc *sc)
{
	nvme_drain(sc);
	if (sc->bc) {
		struct nvme_flush_wait w = { .sc = sc };
		w.br.op = BLOCKIF_FLUSH;
		w.br.done = nvme_flush_done;
		w.br.arg = &w;
		if (blockif_submit(sc->bc, &w.br) == 0)
			while (!w.done)
				pthread_cond_wait(&sc->idle, &sc->mtx);
	}
	sc->csts = (sc->csts & ~(3u << 2)) | NVME_CSTS_SHST_DONE;
}

/* CC.EN 0 -> 1: the admin queues from AQA/ASQ/ACQ; a bad setting is a controller fatal
 * status (CSTS.CFS), as the specification allows for an unusable configuration. */
static void nvme_enable(struct nvme_softc *sc)
{
	uint32_t sqs = (sc->aqa & 0xFFF) + 1, cqs = ((sc->aqa >> 16) & 0xFFF) + 1;
	unsigned mps = (sc->cc >> 7) & 0xF, css = (sc->cc >> 4) & 7;

	if (sqs < 2 || cqs < 2 || mps != 0 || css != 0 || (sc->asq & (NVME_PAGE - 1)) ||
	    (sc->acq & (NVME_PAGE - 1)) || !nvme_map(sc, sc->asq, (size_t)sqs * 64) ||
	    !nvme_map(sc, sc->acq, (size_t)cqs * 16)) {
		sc->csts |= NVME_CSTS_CFS;
		return;
	}
	sc->sq[0] = (struct nvme_sq){ .valid = true, .base = sc->asq, .size = sqs, .cqid = 0,
				      .cids = sc->sq[0].cids };
	memset(sc->sq[0].cids, 0, 65536 / 8);
	sc->cq[0] = (struct nvme_cq){ .valid = true, .ien = true, .base = sc->acq, .size = cqs,
				      .iv = 0, .phase = true };
	sc->csts = NVME_CSTS_RDY;
}

static void nvme_write_cc(struct nvme_softc *sc, uint32_t v)
{
	uint32_t old = sc->cc;

	sc->cc = v & 0x00FFFFF1u;
	if ((old & NVME_CC_EN) && !(v & NVME_CC_EN)) {
		nvme_drain(sc);
		nvme_queues_reset(sc);
		sc->csts = 0;
		return;
	}
	if (!(old & NVME_CC_EN) && (v & NVME_CC_EN))
		nvme_enable(sc);
	if (NVME_CC_SHN(v) && !NVME_CC_SHN(old))
		nvme_shutdown(sc);
	else if (!NVME_CC_SHN(v))
		sc->csts &= ~(3u << 2);
}

/* Doorbell idx: 2*qid is SQ qid's tail, 2*qid+1 CQ qid's head.  A value beyond the queue or
 * for a queue that does not exist is ignored. */
static void nvme_doorbell(struct nvme_softc *sc, uint32_t idx, uint32_t v)
{
	uint32_t qid = idx / 2;

	if (qid > sc->maxq)
		return;
	if (idx & 1) {
		struct nvme_cq *cq = &sc->cq[qid];
		if (!cq->valid || v >= cq->size)
			return;
		cq->head = v;
		if (!pci_msix_enabled(sc->pi) && !pci_msi_enabled(sc->pi))
			nvme_intx_update(sc);
		nvme_kick_cq(sc, (uint16_t)qid);
	} else {
		struct nvme_sq *sq = &sc->sq[qid];
		if (!sq->valid || v >= sq->size)
			return;
		sq->tail = v;
		nvme_sq_process(sc, (uint16_t)qid);
	}
}

static void nvme_reg_write(struct nvme_softc *sc, uint32_t off, uint32_t v)
{
	bool en = sc->cc & NVME_CC_EN;

	if (off >= NVME_DOORBELL) {
		if (!(off & 3))
			nvme_doorbell(sc, (off - NVME_DOORBELL) / 4, v);
		return;
	}
	switch (off) {
	case NVME_REG_INTMS: sc->intms |= v; nvme_intx_update(sc); break;
	case NVME_REG_INTMC: sc->intms &= ~v; nvme_intx_update(sc); break;
	case NVME_REG_CC: nvme_write_cc(sc, v); break;
	case NVME_REG_AQA: if (!en) sc->aqa = v & 0x0FFF0FFF; break;
	case NVME_REG_ASQ: if (!en) sc->asq = (sc->asq & ~0xFFFFFFFFULL) | (v & ~0xFFFu); break;
	case NVME_REG_ASQ + 4: if (!en) sc->asq = (sc->asq & 0xFFFFFFFFULL) | (uint64_t)v << 32; break;
	case NVME_REG_ACQ: if (!en) sc->acq = (sc->acq & ~0xFFFFFFFFULL) | (v & ~0xFFFu); break;
	case NVME_REG_ACQ + 4: if (!en) sc->acq = (sc->acq & 0xFFFFFFFFULL) | (uint64_t)v << 32; break;
	default: break;         /* CAP, VS, CSTS read-only; NSSR not supported */
	}
}

static uint32_t nvme_reg_read(void *dev, uint32_t off)
{
	struct nvme_softc *sc = dev;

	switch (off) {
	case NVME_REG_CAP: return (uint32_t)sc->cap;
	case NVME_REG_CAP + 4: return (uint32_t)(sc->cap >> 32);
	case NVME_REG_VS: return 0x00010400;
	case NVME_REG_INTMS:
	case NVME_REG_INTMC: return sc->intms;
	case NVME_REG_CC: return sc->cc;
	case NVME_REG_CSTS: return sc->csts;
	case NVME_REG_AQA: return sc->aqa;
	case NVME_REG_ASQ: return (uint32_t)sc->asq;
	case NVME_REG_ASQ + 4: return (uint32_t)(sc->asq >> 32);
	case NVME_REG_ACQ: return (uint32_t)sc->acq;
	case NVME_REG_ACQ + 4: return (uint32_t)(sc->acq >> 32);
	default: return 0;      /* doorbells read as 0 */
	}
}

#define NVME_BAR_SIZE 16384

static uint64_t nvme_barread(struct vcpu *vcpu, struct pci_devinst *pi, int baridx,
			     uint64_t off, int size)
{
	struct nvme_softc *sc = pi->pi_arg;
	uint64_t v;

	(void)vcpu;
	if (!sc || baridx != NVME_BAR || off >= NVME_BAR_SIZE)
		return ~0ULL;
	pthread_mutex_lock(&sc->mtx);
	v = pci_bar_read_words(sc, nvme_reg_read, off, size);
	pthread_mutex_unlock(&sc->mtx);
	return v;
}

static void nvme_barwrite(struct vcpu *vcpu, struct pci_devinst *pi, int baridx, uint64_t off,
			  int size, uint64_t val)
{
	struct nvme_softc *sc = pi->pi_arg;

	(void)vcpu;
	if (!sc || baridx != NVME_BAR || off >= NVME_BAR_SIZE)
		return;
	pthread_mutex_lock(&sc->mtx);
	if (size == 8 && !(off & 7)) {
		nvme_reg_write(sc, (uint32_t)off, (uint32_t)val);
		nvme_reg_write(sc, (uint32_t)off + 4, (uint32_t)(val >> 32));
	} else if (size == 4 && !(off & 3)) {
		nvme_reg_write(sc, (uint32_t)off, (uint32_t)val);
	}
	/* Narrower writes to the registers are not defined (NVMe 1.4 3.1): ignored. */
	pthread_mutex_unlock(&sc->mtx);
}

/* ---- Set-up ---- */

static int nvme_open_backing(struct nvme_softc *sc, config_node_t *nvl, char *err,
			     size_t errlen)
{
	const char *ram = config_node_get(nvl, "ram");
	uint64_t ss = 0, mib = 0, ioslots = NVME_DEFAULT_IOSLOTS;

	parse_num(config_node_get(nvl, "sectsz") ? config_node_get(nvl, "sectsz") : "0", 10, 0,
		  8192, &ss);
	if (config_node_get(nvl, "ioslots"))
		parse_num(config_node_get(nvl, "ioslots"), 10, 1, NVME_MAX_IOSLOTS, &ioslots);
	if (ram) {
		parse_num(ram, 10, 1, NVME_RAM_MAX_MIB, &mib);
		sc->size = mib << 20;
		sc->ram = mmap(NULL, (size_t)sc->size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (sc->ram == MAP_FAILED) {
			sc->ram = NULL;
			snprintf(err, errlen, "ram=%s: %s", ram, strerror(errno));
			return -1;
		}
		sc->sectsz = ss ? (unsigned)ss : 512;
	} else {
		struct blockif_opts o;
		if (blockif_opts_node(nvl, &o, err, errlen) < 0)
			return -1;
		if (ss)
			o.sectsz = (unsigned)ss;
		o.nworkers = ioslots < BLOCKIF_NWORKERS ? (int)ioslots : BLOCKIF_NWORKERS;
		if (!(sc->bc = blockif_open(&o, err, errlen)))
			return -1;
		sc->size = blockif_size(sc->bc);
		sc->sectsz = blockif_sectsz(sc->bc);
		sc->ro = blockif_is_ro(sc->bc);
	}
	sc->nlba = sc->size / sc->sectsz;
	sc->nreqs = (unsigned)ioslots;
	return 0;
}

static void nvme_identity(struct nvme_softc *sc, config_node_t *nvl)
{
	const char *ser = config_node_get(nvl, "ser");
	const char *eui = config_node_get(nvl, "eui64");
	const char *dsm = config_node_get(nvl, "dsm");
	struct pci_devinst *pi = sc->pi;

	if (ser)
		snprintf(sc->serial, sizeof(sc->serial), "%s", ser);
	else
		snprintf(sc->serial, sizeof(sc->serial), "NVME-%d-%d", pi->pi_slot, pi->pi_func);
	/* Default EUI-64: the OUI, then bus/slot/function, unique within the VM. */
	sc->eui64 = 0x589CFCULL << 40 | (uint64_t)pi->pi_bus << 16 | (uint64_t)pi->pi_slot << 8 |
		    pi->pi_func;
	if (eui)
		parse_num(eui, 0, 0, UINT64_MAX, &sc->eui64);
	bool can = sc->ram || blockif_can_discard(sc->bc);
	if (dsm && strcmp(dsm, "enable") == 0)
		sc->dsm = !sc->ro;
	else if (dsm && strcmp(dsm, "disable") == 0)
		sc->dsm = false;
	else
		sc->dsm = can;
}

static void nvme_deinit(struct pci_devinst *pi)
{
	struct nvme_softc *sc = pi->pi_arg;

	if (!sc)
		return;
	pthread_mutex_lock(&sc->mtx);
	nvme_drain(sc);
	pthread_mutex_unlock(&sc->mtx);
	blockif_close(sc->bc);
	if (sc->ram)
		munmap(sc->ram, (size_t)sc->size);
	for (unsigned i = 0; sc->reqs && i < sc->nreqs; i++)
		free(sc->reqs[i].dsm);
	free(sc->reqs);
	for (unsigned q = 0; q <= NVME_MAX_QUEUES; q++)
		free(sc->sq[q].cids);
	pthread_cond_destroy(&sc->idle);
	pthread_mutex_destroy(&sc->mtx);
	free(sc);
	pi->pi_arg = NULL;
}

static int nvme_setup_pci(struct nvme_softc *sc, char *err, size_t errlen)
{
	struct pci_devinst *pi = sc->pi;

	pci_set_cfgdata16(pi, PCIR_VENDOR, 0xFB5D);
	pci_set_cfgdata16(pi, PCIR_DEVICE, 0x0A0A);
	pci_set_cfgdata16(pi, PCIR_SUBVEND_0, 0xFB5D);
	pci_set_cfgdata16(pi, PCIR_SUBDEV_0, 0x0A0A);
	pci_set_cfgdata8(pi, PCIR_CLASS, PCIC_STORAGE);
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, PCIS_STORAGE_NVM);
	pci_set_cfgdata8(pi, PCIR_PROGIF, 0x02);        /* NVM Express */
	sc->msix_vectors = sc->maxq + 1;
	if (pci_emul_alloc_bar(pi, NVME_BAR, PCIBAR_MEM64, NVME_BAR_SIZE) < 0 ||
	    pci_emul_add_msixcap(pi, (int)sc->msix_vectors, NVME_MSIX_BAR) < 0 ||
	    pci_emul_add_pciecap(pi) < 0 || pci_lintr_request(pi) < 0) {
		snprintf(err, errlen, "cannot allocate BARs or capabilities");
		return -1;
	}
	return 0;
}

static int nvme_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	struct nvme_softc *sc = calloc(1, sizeof(*sc));
	uint64_t maxq = NVME_DEFAULT_MAXQ, qsz = NVME_DEFAULT_QSZ;

	if (!sc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sc->pi = pi;
	sc->vm = pi->pi_vm;
	pthread_mutex_init(&sc->mtx, NULL);
	pthread_cond_init(&sc->idle, NULL);
	pi->pi_arg = sc;
	if (config_node_get(nvl, "maxq"))
		parse_num(config_node_get(nvl, "maxq"), 10, 1, NVME_MAX_QUEUES, &maxq);
	if (config_node_get(nvl, "qsz"))
		parse_num(config_node_get(nvl, "qsz"), 10, 2, NVME_MAX_QSZ, &qsz);
	sc->maxq = (unsigned)maxq;
	sc->qsz = (uint32_t)qsz;
	if (nvme_open_backing(sc, nvl, err, errlen) < 0 || nvme_setup_pci(sc, err, errlen) < 0)
		goto fail;
	nvme_identity(sc, nvl);
	sc->reqs = calloc(sc->nreqs, sizeof(*sc->reqs));
	sc->sq[0].cids = calloc(65536 / 64, sizeof(uint64_t));
	if (!sc->reqs || !sc->sq[0].cids) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < sc->nreqs; i++) {
		sc->reqs[i].sc = sc;
		nvme_req_free(sc, &sc->reqs[i]);
	}
	/* CAP: MQES, CQR, TO = 30 s (500 ms units), DSTRD 0, CSS NVM, MPSMIN = MPSMAX = 4 KiB. */
	sc->cap = (sc->qsz - 1) | 1ULL << 16 | 60ULL << 24 | 1ULL << 37;
	nvme_admin_reset(sc);
	return 0;
fail:
	nvme_deinit(pi);
	return -1;
}

static const struct pci_devemu pci_de_nvme = {
	.pe_emu = "nvme",
	.pe_help = "NVMe: /dev/blockdev|/path/to/image|ram=MiB[,maxq=#][,qsz=#][,ioslots=#]"
		   "[,sectsz=512|4096|8192][,ser=A-Z][,eui64=#][,dsm=auto|enable|disable]",
	.pe_legacy_config = nvme_legacy_config,
	.pe_validate = nvme_validate,
	.pe_init = nvme_init, .pe_deinit = nvme_deinit,
	.pe_barread = nvme_barread, .pe_barwrite = nvme_barwrite,
};
PCI_EMUL_SET(pci_de_nvme);
