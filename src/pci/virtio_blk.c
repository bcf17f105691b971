/*
 * virtio-blk: one request queue; each chain is
 *   header (16 bytes, device-readable): type u32, reserved u32, sector u64 (512-byte units)
 *   data   (readable for OUT/DISCARD/WRITE_ZEROES, writable for IN/GET_ID)
 *   status (1 byte, device-writable, the last byte of the chain)
 * Requests go to the block backend's workers and complete out of order.  A driver may not make
 * a head available again before we used it; a chain that does so (or any invalid chain) sets
 * DEVICE_NEEDS_RESET instead of touching a request in flight.
 */
#include <errno.h>
#include <md5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "pci/virtio_blk.h"

struct vtblk_ioreq {
	struct blockif_req br;
	struct vtblk_softc *sc;
	uint16_t head;
	uint8_t *status;
	uint32_t data_len;          /* bytes the device writes besides status (IN) */
	struct iovec iov[VTBLK_MAXSEGS + 2];
};

struct vtblk_softc {
	struct vtpci_state vs;
	struct vtpci_dev dev;
	struct blockif_ctxt *bc;
	pthread_mutex_t qlock;      /* request intake vs reset (both on vCPU threads) */
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	int inflight;
	bool busy[VTBLK_QSIZE];
	uint8_t cfg[VTBLK_CFGSIZE];
	char ident[VIRTIO_BLK_ID_BYTES + 1];
	struct vtblk_ioreq req[VTBLK_QSIZE];
};

struct vtpci_state *vtblk_vtpci(struct vtblk_softc *sc) { return &sc->vs; }

/* ---- Completion ---- */

static void vtblk_finish(struct vtblk_softc *sc, uint16_t head, uint8_t *status, uint8_t s,
			 uint32_t len)
{
	if (status)
		*status = s;
	pthread_mutex_lock(&sc->mtx);
	sc->busy[head] = false;             /* before push: the driver may reuse it at once */
	pthread_mutex_unlock(&sc->mtx);
	vq_push(vtpci_vq(&sc->vs, 0), head, len);
	vtpci_queue_done(&sc->vs, 0);
	pthread_mutex_lock(&sc->mtx);
	if (--sc->inflight == 0)
		pthread_cond_broadcast(&sc->idle);
	pthread_mutex_unlock(&sc->mtx);
}

static void vtblk_done(struct blockif_req *br, int err)
{
	struct vtblk_ioreq *r = br->arg;
	uint8_t s = err == 0 ? VIRTIO_BLK_S_OK : err == EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP
								  : VIRTIO_BLK_S_IOERR;
	uint32_t len = 1 + (err == 0 ? r->data_len : 0);
	vtblk_finish(r->sc, r->head, r->status, s, len);
}

/* ---- Request parsing ---- */

/* iov[first..last) with `skip` bytes cut from the front and `trim` from the back. */
static int vtblk_slice(struct iovec *out, const struct iovec *in, int first, int last,
		       size_t skip, size_t trim)
{
	int n = 0;
	for (int i = first; i < last; i++)
		out[n++] = in[i];
	while (n && skip) {
		size_t k = skip < out[0].iov_len ? skip : out[0].iov_len;
		out[0].iov_base = (uint8_t *)out[0].iov_base + k;
		out[0].iov_len -= k;
		skip -= k;
		if (out[0].iov_len == 0) {
			memmove(out, out + 1, sizeof(*out) * (size_t)--n);
		}
	}
	while (n && trim) {
		size_t k = trim < out[n - 1].iov_len ? trim : out[n - 1].iov_len;
		out[n - 1].iov_len -= k;
		trim -= k;
		if (out[n - 1].iov_len == 0)
			n--;
	}
	return n;
}

/* DISCARD / WRITE_ZEROES: exactly one segment {sector u64, num_sectors u32, flags u32}. */
static uint8_t vtblk_segment(struct vtblk_softc *sc, struct vtblk_ioreq *r, uint32_t type,
			     const struct iovec *iov, int nread, uint64_t read_len)
{
	uint8_t seg[16];
	int feat = type == VIRTIO_BLK_T_DISCARD ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;

	if (!vtpci_negotiated(&sc->vs, feat))
		return VIRTIO_BLK_S_UNSUPP;
	if (read_len != 16 + sizeof(seg) || vq_iov_to_buf(iov, nread, 16, seg, 16) != 16)
		return VIRTIO_BLK_S_IOERR;
	uint64_t sector = le64dec(seg);
	uint32_t nsect = (uint32_t)le32dec(seg + 8), flags = (uint32_t)le32dec(seg + 12);
	/* Bit 0 is "unmap": meaningless (so unsupported) for DISCARD (5.2.6.2). */
	if ((flags & ~1u) || (type == VIRTIO_BLK_T_DISCARD && flags))
		return VIRTIO_BLK_S_UNSUPP;
	if (nsect > VTBLK_MAX_DISCARD_SECTORS || sector > (UINT64_MAX >> 9))
		return VIRTIO_BLK_S_IOERR;
	r->br.op = type == VIRTIO_BLK_T_DISCARD ? BLOCKIF_DISCARD : BLOCKIF_WRITE_ZEROES;
	r->br.offset = sector << 9;
	r->br.len = (uint64_t)nsect << 9;
	r->br.may_unmap = flags & 1;
	r->br.iovcnt = 0;
	return VIRTIO_BLK_S_OK;
}

static uint8_t vtblk_get_id(struct vtblk_softc *sc, struct vtblk_ioreq *r, int n)
{
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += r->iov[i].iov_len;
	size_t w = len < VIRTIO_BLK_ID_BYTES ? len : VIRTIO_BLK_ID_BYTES;
	r->data_len = (uint32_t)vq_buf_to_iov(r->iov, n, 0, sc->ident, w);
	return VIRTIO_BLK_S_OK;
}

/* Fill r->br from the chain; returns a status to complete at once, or 0xFF to submit. */
static uint8_t vtblk_parse(struct vtblk_softc *sc, struct vtblk_ioreq *r, const struct iovec *iov,
			   const struct vq_chain *c)
{
	uint8_t hdr[16];
	if (c->read_len < sizeof(hdr) || vq_iov_to_buf(iov, c->nread, 0, hdr, 16) != 16)
		return VIRTIO_BLK_S_IOERR;
	uint32_t type = (uint32_t)le32dec(hdr);
	uint64_t sector = le64dec(hdr + 8);
	int n;
	r->br.iov = r->iov;

	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (type == VIRTIO_BLK_T_IN)
			n = vtblk_slice(r->iov, iov, c->nread, c->niov, 0, 1);
		else
			n = vtblk_slice(r->iov, iov, 0, c->nread, 16, 0);
		r->br.iovcnt = n;
		r->br.op = type == VIRTIO_BLK_T_IN ? BLOCKIF_READ : BLOCKIF_WRITE;
		uint64_t len = type == VIRTIO_BLK_T_IN ? c->write_len - 1 : c->read_len - 16;
		if (len % 512 || len > UINT32_MAX - 1 || sector > (UINT64_MAX >> 9))
			return VIRTIO_BLK_S_IOERR;
		r->br.offset = sector << 9;
		r->data_len = type == VIRTIO_BLK_T_IN ? (uint32_t)len : 0;
		return 0xFF;
	case VIRTIO_BLK_T_FLUSH:
		if (!vtpci_negotiated(&sc->vs, VIRTIO_BLK_F_FLUSH))
			return VIRTIO_BLK_S_UNSUPP;
		r->br.op = BLOCKIF_FLUSH;
		r->br.iovcnt = 0;
		return 0xFF;
	case VIRTIO_BLK_T_GET_ID:
		n = vtblk_slice(r->iov, iov, c->nread, c->niov, 0, 1);
		return vtblk_get_id(sc, r, n);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		uint8_t s = vtblk_segment(sc, r, type, iov, c->nread, c->read_len);
		return s == VIRTIO_BLK_S_OK ? 0xFF : s;
	}
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* One popped chain.  false: the driver broke the rules (head still in flight). */
static bool vtblk_start(struct vtblk_softc *sc, const struct iovec *iov, const struct vq_chain *c)
{
	pthread_mutex_lock(&sc->mtx);
	if (sc->busy[c->head]) {
		pthread_mutex_unlock(&sc->mtx);
		return false;
	}
	sc->busy[c->head] = true;
	sc->inflight++;
	pthread_mutex_unlock(&sc->mtx);

	struct vtblk_ioreq *r = &sc->req[c->head];
	memset(&r->br, 0, sizeof(r->br));
	r->sc = sc;
	r->head = c->head;
	r->data_len = 0;
	if (c->write_len == 0 || c->niov == c->nread) {
		/* No status byte to write: give the chain back untouched. */
		vtblk_finish(sc, c->head, NULL, 0, 0);
		return true;
	}
	const struct iovec *last = &iov[c->niov - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	uint8_t s = vtblk_parse(sc, r, iov, c);
	if (s != 0xFF) {
		vtblk_finish(sc, c->head, r->status, s, 1 + r->data_len);
		return true;
	}
	r->br.done = vtblk_done;
	r->br.arg = r;
	if (blockif_submit(sc->bc, &r->br) != 0)
		vtblk_finish(sc, c->head, r->status, VIRTIO_BLK_S_IOERR, 1);
	return true;
}

static void vtblk_qnotify(void *arg, int q)
{
	struct vtblk_softc *sc = arg;
	struct virtqueue *vq = vtpci_vq(&sc->vs, q);
	struct iovec iov[VTBLK_MAXSEGS + 2];
	struct vq_chain c;

	pthread_mutex_lock(&sc->qlock);
	for (;;) {
		int r = vq_pop(vq, iov, VTBLK_MAXSEGS + 2, &c);
		if (r == 0)
			break;
		if (r < 0 || !vtblk_start(sc, iov, &c)) {
			vtpci_needs_reset(&sc->vs);
			break;
		}
	}
	pthread_mutex_unlock(&sc->qlock);
}

/* ---- Config, reset, life ---- */

static void vtblk_cfgread(void *arg, uint32_t off, int size, uint8_t *out)
{
	struct vtblk_softc *sc = arg;
	memcpy(out, sc->cfg + off, (size_t)size);   /* bounds checked by the transport */
}

/* Wait for requests in flight and forget the ring; qlock keeps a concurrent notify from
 * starting new requests on the ring that goes away. */
static void vtblk_reset(void *arg)
{
	struct vtblk_softc *sc = arg;
	pthread_mutex_lock(&sc->qlock);
	pthread_mutex_lock(&sc->mtx);
	while (sc->inflight)
		pthread_cond_wait(&sc->idle, &sc->mtx);
	memset(sc->busy, 0, sizeof(sc->busy));
	pthread_mutex_unlock(&sc->mtx);
	vq_reset(vtpci_vq(&sc->vs, 0));     /* the transport does it too; here under qlock */
	pthread_mutex_unlock(&sc->qlock);
}

static unsigned vtblk_log2(unsigned v)
{
	unsigned n = 0;
	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

static void vtblk_setup_config(struct vtblk_softc *sc)
{
	uint8_t *c = sc->cfg;
	unsigned ss = blockif_sectsz(sc->bc), ps = blockif_psectsz(sc->bc);

	memset(c, 0, sizeof(sc->cfg));
	le64enc(c + 0x00, blockif_size(sc->bc) / 512);          /* capacity */
	le32enc(c + 0x0C, VTBLK_MAXSEGS);                       /* seg_max */
	le32enc(c + 0x14, ss);                                  /* blk_size */
	c[0x18] = (uint8_t)vtblk_log2(ps / ss);                      /* physical_block_exp */
	c[0x19] = 0;                                                 /* alignment_offset */
	le16enc(c + 0x1A, ps / ss);                             /* min_io_size */
	le16enc(c + 0x22, 1);                                   /* num_queues */
	le32enc(c + 0x24, VTBLK_MAX_DISCARD_SECTORS);           /* max_discard_sectors */
	le32enc(c + 0x28, 1);                                   /* max_discard_seg */
	le32enc(c + 0x2C, ps / 512);                            /* discard_sector_alignment */
	le32enc(c + 0x30, VTBLK_MAX_DISCARD_SECTORS);           /* max_write_zeroes_sectors */
	le32enc(c + 0x34, 1);                                   /* max_write_zeroes_seg */
	c[0x38] = blockif_can_discard(sc->bc);                       /* write_zeroes_may_unmap */
}

/* A serial number from the path, stable across runs: "BHYVE-XXXX-XXXX-XXXX". */
static void vtblk_make_ident(struct vtblk_softc *sc, const char *path)
{
	MD5_CTX ctx;
	uint8_t d[16];

	MD5Init(&ctx);
	MD5Update(&ctx, (const uint8_t *)path, strlen(path));
	MD5Final(d, &ctx);
	snprintf(sc->ident, sizeof(sc->ident), "BHYVE-%02X%02X-%02X%02X-%02X%02X", d[0], d[1],
		 d[2], d[3], d[4], d[5]);
}

static uint64_t vtblk_features(struct blockif_ctxt *bc)
{
	uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_TOPOLOGY) |
		     (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
	if (blockif_is_ro(bc))
		f |= 1ULL << VIRTIO_BLK_F_RO;
	if (blockif_can_discard(bc))
		f |= 1ULL << VIRTIO_BLK_F_DISCARD;
	if (blockif_can_write_zeroes(bc))
		f |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

struct vtblk_softc *vtblk_create(const struct blockif_opts *opts,
				 const struct vtpci_intr_ops *intr, void *intr_ctx,
				 const struct vq_mem *mem, char *err, size_t errlen)
{
	struct vtblk_softc *sc = calloc(1, sizeof(*sc));
	if (!sc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sc->bc = blockif_open(opts, err, errlen);
	if (!sc->bc) {
		free(sc);
		return NULL;
	}
	pthread_mutex_init(&sc->qlock, NULL);
	pthread_mutex_init(&sc->mtx, NULL);
	pthread_cond_init(&sc->idle, NULL);
	vtblk_make_ident(sc, opts->path);
	vtblk_setup_config(sc);
	sc->dev = (struct vtpci_dev){
		.name = "virtio-blk", .nvq = 1, .qsize = VTBLK_QSIZE,
		.features = vtblk_features(sc->bc), .cfgsize = VTBLK_CFGSIZE,
		.cfgread = vtblk_cfgread, .qnotify = vtblk_qnotify, .reset = vtblk_reset,
	};
	vtpci_init(&sc->vs, &sc->dev, sc, intr, intr_ctx, mem);
	return sc;
}

void vtblk_destroy(struct vtblk_softc *sc)
{
	if (!sc)
		return;
	vtblk_reset(sc);
	blockif_close(sc->bc);
	vtpci_destroy(&sc->vs);
	pthread_cond_destroy(&sc->idle);
	pthread_mutex_destroy(&sc->mtx);
	pthread_mutex_destroy(&sc->qlock);
	free(sc);
}
