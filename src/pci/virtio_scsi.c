/*
 * virtio-scsi (virtio 1.x section 5.6): queue 0 control, 1 events, 2 requests.  One target
 * (0) with LUN 0 on an image file through the block backend; the SCSI commands themselves are
 * decoded by virtio_scsi_target.c.
 *
 * A request chain: req_cmd {lun[8], id, task_attr, prio, crn, cdb[32]} + data-out
 * (device-readable), then resp_cmd {sense_len, resid, status_qualifier, status, response,
 * sense[96]} + data-in (device-writable).  Media access runs asynchronously on the backend's
 * workers; as in virtio-blk, a head that is still in flight marks the device broken.
 */
#include <errno.h>
#include <md5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "pci/virtio_scsi.h"
#include "pci/virtio_scsi_target.h"

#define VTSCSI_CTLQ 0
#define VTSCSI_EVTQ 1
#define VTSCSI_REQQ 2

struct vtscsi_req {
	struct blockif_req br;
	struct vtscsi_softc *sc;
	uint16_t head;
	struct scsi_io io;
	struct iovec resp[VTSCSI_MAXSEGS + 2];     /* the writable part: resp + data-in */
	int nresp;
	uint64_t din_total, dout_total;
	struct iovec data[VTSCSI_MAXSEGS + 2];     /* media buffers for the backend */
};

struct vtscsi_softc {
	struct vtpci_state vs;
	struct vtpci_dev dev;
	struct blockif_ctxt *bc;
	struct scsi_lun_info lun;
	uint8_t cfg[VTSCSI_CFGSIZE];
	pthread_mutex_t qlock;      /* request intake vs reset (both on vCPU threads) */
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	int inflight;
	bool busy[VTSCSI_QSIZE];
	struct vtscsi_req req[VTSCSI_QSIZE];
	/* Task-management requests waiting for the requests in flight (under mtx): answered by
	 * the completion that leaves nothing in flight, so no thread waits for the media. */
	struct vtscsi_tmf {
		uint16_t head;
		struct iovec resp;      /* the response byte, or iov_len 0 */
	} tmf[VTSCSI_QSIZE];
	int ntmf;
};

struct vtpci_state *vtscsi_vtpci(struct vtscsi_softc *sc) { return &sc->vs; }

/* iov[0..n) from byte `skip` on, at most `max` bytes, into out; returns the count. */
static int vtscsi_slice(struct iovec *out, const struct iovec *in, int n, size_t skip,
			uint64_t max)
{
	int k = 0;
	for (int i = 0; i < n && max; i++) {
		size_t l = in[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t take = l - skip < max ? l - skip : (size_t)max;
		out[k].iov_base = (uint8_t *)in[i].iov_base + skip;
		out[k++].iov_len = take;
		max -= take;
		skip = 0;
	}
	return k;
}

/* ---- Completion ---- */

static void vtscsi_complete(struct vtscsi_softc *sc, uint16_t head, uint32_t len);

static void vtscsi_finish(struct vtscsi_softc *sc, struct vtscsi_req *r, uint8_t response,
			  const struct scsi_result *res, uint64_t din_done, uint64_t resid)
{
	uint8_t resp[VTSCSI_RESP_SIZE];
	memset(resp, 0, sizeof(resp));
	if (res) {
		le32enc(resp, (uint32_t)res->sense_len);
		le32enc(resp + 4, resid > UINT32_MAX ? UINT32_MAX : (uint32_t)resid);
		resp[10] = res->status;
		memcpy(resp + 12, res->sense, (size_t)res->sense_len);
	}
	resp[11] = response;
	vq_buf_to_iov(r->resp, r->nresp, 0, resp, sizeof(resp));
	vtscsi_complete(sc, r->head, (uint32_t)(VTSCSI_RESP_SIZE + din_done));
}

/* Answer a task-management request: FUNCTION COMPLETE (0) in its response byte. */
static void vtscsi_tmf_answer(struct vtscsi_softc *sc, const struct vtscsi_tmf *t)
{
	uint8_t resp = 0;
	size_t n = vq_buf_to_iov(&t->resp, t->resp.iov_len ? 1 : 0, 0, &resp, 1);
	vq_push(vtpci_vq(&sc->vs, VTSCSI_CTLQ), t->head, (uint32_t)n);
}

/* Answer the waiting task-management requests; with sc->mtx held and nothing in flight. */
static void vtscsi_tmf_flush(struct vtscsi_softc *sc)
{
	if (sc->ntmf == 0)
		return;
	for (int i = 0; i < sc->ntmf; i++)
		vtscsi_tmf_answer(sc, &sc->tmf[i]);
	sc->ntmf = 0;
	vtpci_queue_done(&sc->vs, VTSCSI_CTLQ);
}

/* Hand the chain back with `len` bytes written. */
static void vtscsi_complete(struct vtscsi_softc *sc, uint16_t head, uint32_t len)
{
	pthread_mutex_lock(&sc->mtx);
	sc->busy[head] = false;             /* before push: the driver may reuse it at once */
	pthread_mutex_unlock(&sc->mtx);
	vq_push(vtpci_vq(&sc->vs, VTSCSI_REQQ), head, len);
	vtpci_queue_done(&sc->vs, VTSCSI_REQQ);
	pthread_mutex_lock(&sc->mtx);
	if (--sc->inflight == 0) {
		vtscsi_tmf_flush(sc);
		pthread_cond_broadcast(&sc->idle);
	}
	pthread_mutex_unlock(&sc->mtx);
}

static void vtscsi_io_done(struct blockif_req *br, int err)
{
	struct vtscsi_req *r = br->arg;
	struct scsi_result res;
	scsi_io_result(&r->io, err, &res);
	uint64_t moved = err ? 0 : r->io.len;
	uint64_t total = r->io.data_in ? r->din_total : r->dout_total;
	uint64_t done_in = r->io.data_in ? moved : 0;
	vtscsi_finish(r->sc, r, VIRTIO_SCSI_S_OK, &res, done_in,
		      r->io.op == BLOCKIF_READ || r->io.op == BLOCKIF_WRITE ? total - moved : 0);
}

/* ---- Requests ---- */

/* Commands to a LUN other than 0: INQUIRY says "no device here", the rest is refused. */
static bool vtscsi_other_lun(const uint8_t *cdb, uint8_t *din, size_t *len,
			     struct scsi_result *res)
{
	memset(res, 0, sizeof(*res));
	if (cdb[0] == 0x12 && !(cdb[1] & 1)) {
		memset(din, 0, 36);
		din[0] = 0x7F;                  /* peripheral qualifier 3: not supported */
		din[4] = 31;
		*len = 36;
		return true;
	}
	if (cdb[0] == 0xA0)
		return false;                   /* REPORT LUNS: the target's answer */
	scsi_sense(res, SKEY_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED, 0);
	*len = 0;
	return true;
}

static void vtscsi_exec(struct vtscsi_softc *sc, struct vtscsi_req *r, const uint8_t *req,
			const struct iovec *iov, const struct vq_chain *c)
{
	uint8_t din[512], dout[4096];
	size_t dinlen = 0;
	struct scsi_result res;
	const uint8_t *cdb = req + 19;
	uint16_t lun = (uint16_t)((req[2] & 0x3F) << 8 | req[3]);

	r->dout_total = c->read_len - VTSCSI_REQ_SIZE;
	r->din_total = c->write_len - VTSCSI_RESP_SIZE;
	size_t dl = vq_iov_to_buf(iov, c->nread, VTSCSI_REQ_SIZE, dout, sizeof(dout));
	enum scsi_action a = SCSI_DONE;
	if (lun == 0 || !vtscsi_other_lun(cdb, din, &dinlen, &res))
		a = scsi_cmd(&sc->lun, cdb, VTSCSI_CDB_SIZE, dout, dl, r->dout_total, r->din_total,
			     din, sizeof(din), &dinlen, &r->io, &res);
	if (a == SCSI_DONE) {
		size_t w = vq_buf_to_iov(r->resp, r->nresp, VTSCSI_RESP_SIZE, din, dinlen);
		vtscsi_finish(sc, r, VIRTIO_SCSI_S_OK, &res, w, r->din_total - w);
		return;
	}
	memset(&r->br, 0, sizeof(r->br));
	r->br.op = r->io.op;
	r->br.offset = r->io.offset;
	r->br.len = r->io.len;
	r->br.may_unmap = r->io.may_unmap;
	if (r->io.op == BLOCKIF_READ)
		r->br.iovcnt = vtscsi_slice(r->data, r->resp, r->nresp, VTSCSI_RESP_SIZE, r->io.len);
	else if (r->io.op == BLOCKIF_WRITE)
		r->br.iovcnt = vtscsi_slice(r->data, iov, c->nread, VTSCSI_REQ_SIZE, r->io.len);
	r->br.iov = r->data;
	r->br.done = vtscsi_io_done;
	r->br.arg = r;
	if (blockif_submit(sc->bc, &r->br) != 0) {
		scsi_io_result(&r->io, EIO, &res);
		vtscsi_finish(sc, r, VIRTIO_SCSI_S_OK, &res, 0, 0);
	}
}

/* One request chain; false if the driver reused a head in flight. */
static bool vtscsi_start(struct vtscsi_softc *sc, const struct iovec *iov, const struct vq_chain *c)
{
	pthread_mutex_lock(&sc->mtx);
	if (sc->busy[c->head]) {
		pthread_mutex_unlock(&sc->mtx);
		return false;
	}
	sc->busy[c->head] = true;
	sc->inflight++;
	pthread_mutex_unlock(&sc->mtx);

	struct vtscsi_req *r = &sc->req[c->head];
	r->sc = sc;
	r->head = c->head;
	r->nresp = vtscsi_slice(r->resp, iov + c->nread, c->niov - c->nread, 0, UINT64_MAX);
	uint8_t req[VTSCSI_REQ_SIZE];
	if (c->write_len < VTSCSI_RESP_SIZE) {
		vtscsi_complete(sc, c->head, 0);   /* no room for a response: back empty */
		return true;
	}
	if (c->read_len < VTSCSI_REQ_SIZE ||
	    vq_iov_to_buf(iov, c->nread, 0, req, sizeof(req)) != sizeof(req)) {
		vtscsi_finish(sc, r, VIRTIO_SCSI_S_FAILURE, NULL, 0, 0);
		return true;
	}
	if (req[0] != 1 || req[1] != 0) {       /* single-level LUN to target 0 only */
		vtscsi_finish(sc, r, VIRTIO_SCSI_S_BAD_TARGET, NULL, 0, 0);
		return true;
	}
	vtscsi_exec(sc, r, req, iov, c);
	return true;
}

static void vtscsi_wait_idle(struct vtscsi_softc *sc)
{
	pthread_mutex_lock(&sc->mtx);
	while (sc->inflight)
		pthread_cond_wait(&sc->idle, &sc->mtx);
	pthread_mutex_unlock(&sc->mtx);
}

/* A task-management request completes once nothing is in flight: at once, or by the last
 * completion (vtscsi_complete).  True if it was answered here. */
static bool vtscsi_tmf(struct vtscsi_softc *sc, const struct iovec *iov, const struct vq_chain *c)
{
	struct vtscsi_tmf t = { .head = c->head };
	struct iovec w[1];
	if (vtscsi_slice(w, iov + c->nread, c->niov - c->nread, 0, 1) == 1)
		t.resp = w[0];
	pthread_mutex_lock(&sc->mtx);
	bool now = sc->inflight == 0 || sc->ntmf >= VTSCSI_QSIZE;
	if (!now)
		sc->tmf[sc->ntmf++] = t;
	pthread_mutex_unlock(&sc->mtx);
	if (now)
		vtscsi_tmf_answer(sc, &t);
	return now;
}

/* Control queue: task management (vtscsi_tmf); asynchronous-notification queries and
 * subscriptions get an empty event mask. */
static void vtscsi_control(struct vtscsi_softc *sc)
{
	struct virtqueue *vq = vtpci_vq(&sc->vs, VTSCSI_CTLQ);
	struct iovec iov[8];
	struct vq_chain c;
	bool any = false;

	for (;;) {
		int r = vq_pop(vq, iov, 8, &c);
		if (r <= 0) {
			if (r < 0)
				vtpci_needs_reset(&sc->vs);
			break;
		}
		uint8_t type[4] = { 0xFF, 0xFF, 0xFF, 0xFF }, resp[5] = { 0 };
		vq_iov_to_buf(iov, c.nread, 0, type, 4);
		size_t n = 0;
		if (type[0] == 0 && !type[1] && !type[2] && !type[3]) {  /* TMF */
			any |= vtscsi_tmf(sc, iov, &c);
			continue;
		} else if ((type[0] == 1 || type[0] == 2) && !type[1] && !type[2] && !type[3]) {
			n = vq_buf_to_iov(iov + c.nread, c.niov - c.nread, 0, resp, 5);
		}
		vq_push(vq, c.head, (uint32_t)n);
		any = true;
	}
	if (any)
		vtpci_queue_done(&sc->vs, VTSCSI_CTLQ);
}

static void vtscsi_qnotify(void *arg, int q)
{
	struct vtscsi_softc *sc = arg;
	struct iovec iov[VTSCSI_MAXSEGS + 2];
	struct vq_chain c;

	if (q == VTSCSI_CTLQ) {
		vtscsi_control(sc);
		return;
	}
	if (q != VTSCSI_REQQ)
		return;                         /* event buffers are kept for events we never send */
	pthread_mutex_lock(&sc->qlock);
	for (;;) {
		int r = vq_pop(vtpci_vq(&sc->vs, q), iov, VTSCSI_MAXSEGS + 2, &c);
		if (r == 0)
			break;
		if (r < 0 || !vtscsi_start(sc, iov, &c)) {
			vtpci_needs_reset(&sc->vs);
			break;
		}
	}
	pthread_mutex_unlock(&sc->qlock);
}

static void vtscsi_reset(void *arg)
{
	struct vtscsi_softc *sc = arg;
	pthread_mutex_lock(&sc->qlock);     /* no new requests while the rings go away */
	vtscsi_wait_idle(sc);
	pthread_mutex_lock(&sc->mtx);
	memset(sc->busy, 0, sizeof(sc->busy));
	pthread_mutex_unlock(&sc->mtx);
	vq_reset(vtpci_vq(&sc->vs, VTSCSI_REQQ));   /* the transport does it too; here under qlock */
	pthread_mutex_unlock(&sc->qlock);
}

static void vtscsi_cfgread(void *arg, uint32_t off, int size, uint8_t *out)
{
	struct vtscsi_softc *sc = arg;
	memcpy(out, sc->cfg + off, (size_t)size);
}

static void vtscsi_setup(struct vtscsi_softc *sc, const char *path)
{
	struct scsi_lun_info *l = &sc->lun;
	unsigned ps = blockif_psectsz(sc->bc);
	MD5_CTX ctx;
	uint8_t d[16];

	l->blksz = blockif_sectsz(sc->bc);
	l->nblocks = blockif_size(sc->bc) / l->blksz;
	while ((l->blksz << l->pblk_exp) < ps)
		l->pblk_exp++;
	l->ro = blockif_is_ro(sc->bc);
	l->can_unmap = blockif_can_discard(sc->bc);
	MD5Init(&ctx);
	MD5Update(&ctx, (const uint8_t *)path, strlen(path));
	MD5Final(d, &ctx);
	snprintf(l->serial, sizeof(l->serial), "BHYVE-%02X%02X-%02X%02X-%02X%02X", d[0], d[1],
		 d[2], d[3], d[4], d[5]);
	uint8_t *c = sc->cfg;
	le32enc(c + 0, 1);                        /* num_queues */
	le32enc(c + 4, VTSCSI_MAXSEGS);           /* seg_max */
	le32enc(c + 8, 0xFFFF);                   /* max_sectors */
	le32enc(c + 12, VTSCSI_QSIZE);            /* cmd_per_lun */
	le32enc(c + 16, 16);                      /* event_info_size */
	le32enc(c + 20, VTSCSI_SENSE_SIZE);
	le32enc(c + 24, VTSCSI_CDB_SIZE);
	/* max_channel 0, max_target 0, max_lun 0 */
}

struct vtscsi_softc *vtscsi_create(const struct blockif_opts *lun0,
				   const struct vtpci_intr_ops *intr, void *intr_ctx,
				   const struct vq_mem *mem, char *err, size_t errlen)
{
	struct vtscsi_softc *sc = calloc(1, sizeof(*sc));
	if (!sc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sc->bc = blockif_open(lun0, err, errlen);
	if (!sc->bc) {
		free(sc);
		return NULL;
	}
	pthread_mutex_init(&sc->qlock, NULL);
	pthread_mutex_init(&sc->mtx, NULL);
	pthread_cond_init(&sc->idle, NULL);
	vtscsi_setup(sc, lun0->path);
	sc->dev = (struct vtpci_dev){
		.name = "virtio-scsi", .nvq = 3, .qsize = VTSCSI_QSIZE,
		.features = (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX),
		.cfgsize = VTSCSI_CFGSIZE, .cfgread = vtscsi_cfgread, .qnotify = vtscsi_qnotify,
		.reset = vtscsi_reset,
	};
	vtpci_init(&sc->vs, &sc->dev, sc, intr, intr_ctx, mem);
	return sc;
}

void vtscsi_destroy(struct vtscsi_softc *sc)
{
	if (!sc)
		return;
	vtscsi_wait_idle(sc);
	blockif_close(sc->bc);
	vtpci_destroy(&sc->vs);
	pthread_cond_destroy(&sc->idle);
	pthread_mutex_destroy(&sc->mtx);
	pthread_mutex_destroy(&sc->qlock);
	free(sc);
}
