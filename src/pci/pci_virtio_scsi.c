/*
 * virtio-scsi (-s N,virtio-scsi,/dev/cam/ctl[pp.vp][,iid=N] on FreeBSD; -s N,virtio-scsi,PATH
 * [,iid=N] here): virtio 1.x section 5.6.
 *
 * On FreeBSD the device forwards SCSI commands to a port of the kernel's CAM Target Layer.
 * Linux has no CTL: here the target is emulated in-process from an image file or block device
 * given in place of the CTL port.  Keys as in bhyve: dev (the CTL port, here the image path),
 * iid (initiator ID, default 0).  A /dev/cam/ctl[pp.vp] device is parsed and checked, then
 * refused with a message saying so.
 *
 * Queue 0 control, 1 events, 2 requests.  One target (0) with LUN 0 on an image file through
 * the block backend; the SCSI commands themselves are decoded by virtio_scsi_target.c.
 *
 * A request chain: req_cmd {lun[8], id, task_attr, prio, crn, cdb[32]} + data-out
 * (device-readable), then resp_cmd {sense_len, resid, status_qualifier, status, response,
 * sense[96]} + data-in (device-writable).  Media access runs asynchronously on the backend's
 * workers; as in virtio-blk, a head that is still in flight marks the device broken
 * (virtio_req.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/block_if.h"
#include "common/bytes.h"
#include "common/devconf.h"
#include "common/parse.h"
#include "pci/pci_emul.h"
#include "pci/pci_devinst.h"
#include "pci/virtio_pci_bus.h"
#include "pci/virtio_req.h"
#include "pci/virtio_scsi_target.h"

#define VTSCSI_QSIZE     128
#define VTSCSI_MAXSEGS   (VTSCSI_QSIZE - 2)
#define VTSCSI_CFGSIZE   36
#define VTSCSI_CDB_SIZE  32
#define VTSCSI_SENSE_SIZE 96
#define VTSCSI_REQ_SIZE  (19 + VTSCSI_CDB_SIZE)     /* struct virtio_scsi_req_cmd */
#define VTSCSI_RESP_SIZE (12 + VTSCSI_SENSE_SIZE)   /* struct virtio_scsi_resp_cmd */

/* Response codes (5.6.6.1). */
#define VIRTIO_SCSI_S_OK         0
#define VIRTIO_SCSI_S_BAD_TARGET 3
#define VIRTIO_SCSI_S_FAILURE    9

_Static_assert(VTSCSI_QSIZE <= VTREQ_MAXQSIZE, "request tracking covers every head");

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
	struct vtpci_state vs;      /* first: the transport's BAR handlers find it at pi_arg */
	struct vtpci_dev dev;
	struct blockif_ctxt *bc;
	struct scsi_lun_info lun;
	uint8_t cfg[VTSCSI_CFGSIZE];
	struct vtreq_track rt;      /* the request queue */
	/* Task-management requests waiting for the requests in flight (under rt.mtx): answered
	 * by the completion that leaves nothing in flight, so no thread waits for the media. */
	struct vtscsi_tmf {
		uint16_t head;
		struct iovec resp;      /* the response byte, or iov_len 0 */
	} tmf[VTSCSI_QSIZE];
	int ntmf;
	struct vtscsi_req req[VTSCSI_QSIZE];
};

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
	vtreq_complete(&sc->rt, r->head, (uint32_t)(VTSCSI_RESP_SIZE + din_done));
}

/* Answer a task-management request: FUNCTION COMPLETE (0) in its response byte. */
static void vtscsi_tmf_answer(struct vtscsi_softc *sc, const struct vtscsi_tmf *t)
{
	uint8_t resp = 0;
	size_t n = vq_buf_to_iov(&t->resp, t->resp.iov_len ? 1 : 0, 0, &resp, 1);
	vq_push(vtpci_vq(&sc->vs, VTSCSI_CTLQ), t->head, (uint32_t)n);
}

/* Answer the waiting task-management requests; rt.on_idle, with rt.mtx held and nothing in
 * flight. */
static void vtscsi_tmf_flush(void *arg)
{
	struct vtscsi_softc *sc = arg;

	if (sc->ntmf == 0)
		return;
	for (int i = 0; i < sc->ntmf; i++)
		vtscsi_tmf_answer(sc, &sc->tmf[i]);
	sc->ntmf = 0;
	vtpci_queue_done(&sc->vs, VTSCSI_CTLQ);
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
static bool vtscsi_start(void *arg, const struct iovec *iov, const struct vq_chain *c)
{
	struct vtscsi_softc *sc = arg;

	if (!vtreq_claim(&sc->rt, c->head))
		return false;

	struct vtscsi_req *r = &sc->req[c->head];
	r->sc = sc;
	r->head = c->head;
	r->nresp = vtscsi_slice(r->resp, iov + c->nread, c->niov - c->nread, 0, UINT64_MAX);
	uint8_t req[VTSCSI_REQ_SIZE];
	if (c->write_len < VTSCSI_RESP_SIZE) {
		vtreq_complete(&sc->rt, c->head, 0);   /* no room for a response: back empty */
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

/* A task-management request completes once nothing is in flight: at once, or by the last
 * completion (vtscsi_tmf_flush).  True if it was answered here. */
static bool vtscsi_tmf(struct vtscsi_softc *sc, const struct iovec *iov, const struct vq_chain *c)
{
	struct vtscsi_tmf t = { .head = c->head };
	struct iovec w[1];
	if (vtscsi_slice(w, iov + c->nread, c->niov - c->nread, 0, 1) == 1)
		t.resp = w[0];
	pthread_mutex_lock(&sc->rt.mtx);
	bool now = sc->rt.inflight == 0 || sc->ntmf >= VTSCSI_QSIZE;
	if (!now)
		sc->tmf[sc->ntmf++] = t;
	pthread_mutex_unlock(&sc->rt.mtx);
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

	if (q == VTSCSI_CTLQ)
		vtscsi_control(sc);
	else if (q == VTSCSI_REQQ)
		vtreq_drain(&sc->rt, iov, VTSCSI_MAXSEGS + 2, vtscsi_start, sc);
	/* event buffers are kept for events we never send */
}

static void vtscsi_reset(void *arg)
{
	struct vtscsi_softc *sc = arg;
	vtreq_reset(&sc->rt);
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

	l->blksz = blockif_sectsz(sc->bc);
	l->nblocks = blockif_size(sc->bc) / l->blksz;
	while ((l->blksz << l->pblk_exp) < ps)
		l->pblk_exp++;
	l->ro = blockif_is_ro(sc->bc);
	l->can_unmap = blockif_can_discard(sc->bc);
	vtreq_serial(path, l->serial, sizeof(l->serial));
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

/* ---- Configuration and registration ---- */

#define VTSCSI_CTL "/dev/cam/ctl"
#define VTSCSI_IID_MAX 0xffff

static int vtscsi_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	const char *rest;
	char *dev;
	int rc = 0;

	if (!opts || !*opts)
		return 0;
	dev = devconf_first_token(opts, &rest);
	if (strchr(dev, '='))
		rest = opts;
	else
		rc = config_node_set(nvl, "dev", dev);
	free(dev);
	if (rc == 0 && rest)
		rc = pci_parse_legacy_kv(nvl, rest, err, errlen);
	return rc;
}

/* "/dev/cam/ctl" or "/dev/cam/ctlPP.VP" (port and virtual port numbers). */
static bool vtscsi_dev_ok(const char *dev)
{
	size_t n = strlen(VTSCSI_CTL);
	const char *dot;
	uint64_t pp, vp;
	char *ps;
	int rc;

	if (strncmp(dev, VTSCSI_CTL, n))
		return false;
	if (dev[n] == '\0')
		return true;
	dot = strchr(dev + n, '.');
	if (!dot)
		return false;
	ps = strndup(dev + n, (size_t)(dot - dev - n));
	if (!ps)
		abort();
	rc = parse_num(ps, 10, 0, 0xffff, &pp) | parse_num(dot + 1, 10, 0, 0xffff, &vp);
	free(ps);
	return rc == 0;
}

static int vtscsi_validate(config_node_t *nvl, char *err, size_t errlen)
{
	const char *dev = config_node_get(nvl, "dev");

	if (devconf_block_check(nvl, false, err, errlen) < 0)
		return -1;
	if (devconf_num(nvl, "iid", 0, VTSCSI_IID_MAX, NULL, err, errlen) < 0)
		return -1;
	if (dev && !*dev) {
		snprintf(err, errlen, "dev=: empty target path");
		return -1;
	}
	if (dev && strncmp(dev, VTSCSI_CTL, strlen(VTSCSI_CTL)) == 0) {
		if (!vtscsi_dev_ok(dev))
			snprintf(err, errlen, "dev=%s: expected /dev/cam/ctl[pp.vp]", dev);
		else
			snprintf(err, errlen, "dev=%s: the CAM Target Layer does not exist on Linux; "
				 "give an image file or block device as the SCSI target", dev);
		return -1;
	}
	return 0;
}

static void vtscsi_deinit(struct pci_devinst *pi)
{
	struct vtscsi_softc *sc = pi->pi_arg;

	if (!sc)
		return;
	vtreq_wait_idle(&sc->rt);
	blockif_close(sc->bc);
	vtpci_destroy(&sc->vs);
	vtreq_destroy(&sc->rt);
	free(sc);
	pi->pi_arg = NULL;
}

/* The device on LUN 0 of the image `o` names. */
static struct vtscsi_softc *vtscsi_create(struct pci_devinst *pi, const struct blockif_opts *o,
					  char *err, size_t errlen)
{
	struct vtscsi_softc *sc = calloc(1, sizeof(*sc));
	if (!sc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sc->bc = blockif_open(o, err, errlen);
	if (!sc->bc) {
		free(sc);
		return NULL;
	}
	vtreq_init(&sc->rt, &sc->vs, VTSCSI_REQQ);
	sc->rt.on_idle = vtscsi_tmf_flush;
	sc->rt.arg = sc;
	vtscsi_setup(sc, o->path);
	sc->dev = (struct vtpci_dev){
		.name = "virtio-scsi", .nvq = 3, .qsize = VTSCSI_QSIZE,
		.features = (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX),
		.cfgsize = VTSCSI_CFGSIZE, .cfgread = vtscsi_cfgread, .qnotify = vtscsi_qnotify,
		.reset = vtscsi_reset,
	};
	struct vq_mem mem;
	vtpci_pci_mem(pi, &mem);
	vtpci_init(&sc->vs, &sc->dev, sc, &vtpci_pci_intr, pi, &mem);
	return sc;
}

/* LUN 0 on an image (path=, or dev= naming a file). */
static int vtscsi_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	const char *path = config_node_get(nvl, "path");
	const char *dev = config_node_get(nvl, "dev");
	struct blockif_opts o;

	if (!path && dev && strncmp(dev, VTSCSI_CTL, strlen(VTSCSI_CTL)) != 0)
		path = dev;
	if (!path) {
		snprintf(err, errlen, "virtio-scsi: Linux has no CAM Target Layer; give an image "
			 "with path=/path/to/disk.img");
		return -1;
	}
	if (blockif_opts_path(nvl, path, &o, err, errlen) < 0)
		return -1;
	struct vtscsi_softc *sc = vtscsi_create(pi, &o, err, errlen);
	if (!sc)
		return -1;
	pi->pi_arg = sc;
	if (vtpci_pci_setup(&sc->vs, pi, VIRTIO_DEV_SCSI, VIRTIO_TYPE_SCSI, PCIC_STORAGE,
			    PCIS_STORAGE_SCSI, err, errlen) < 0) {
		vtscsi_deinit(pi);
		return -1;
	}
	return 0;
}

static const struct pci_devemu pci_de_vtscsi = {
	.pe_emu = "virtio-scsi",
	.pe_help = "virtio SCSI: [image-path][,iid=N][,ro][,nocache][,direct][,sectorsize=L[/P]] (FreeBSD: /dev/cam/ctl[pp.vp])",
	.pe_legacy_config = vtscsi_legacy_config,
	/* dev (bhyve's key) or path name the image; the block options apply to it. */
	.pe_keys = (const char *const[]){ "dev", "path", "iid", "ro", "nocache", "direct",
					  "nodelete", "sectorsize", NULL },
	.pe_validate = vtscsi_validate,
	.pe_init = vtscsi_init, .pe_deinit = vtscsi_deinit,
	.pe_barread = vtpci_barread, .pe_barwrite = vtpci_barwrite,
};
PCI_EMUL_SET(pci_de_vtscsi);
