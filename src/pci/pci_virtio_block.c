/*
 * virtio-blk (-s N,virtio-blk,path[,nocache][,direct][,ro][,nodelete][,sectorsize=L[/P]]):
 * virtio 1.x section 5.2 on the block backend.
 *
 * Keys: path (a file or a block device; relative paths are relative to bhyve's working
 * directory), nocache (O_DIRECT), direct (O_SYNC), ro, nodelete, sectorsize.
 *
 * One request queue; each chain is
 *   header (16 bytes, device-readable): type u32, reserved u32, sector u64 (512-byte units)
 *   data   (readable for OUT/DISCARD/WRITE_ZEROES, writable for IN/GET_ID)
 *   status (1 byte, device-writable, the last byte of the chain)
 * Requests go to the block backend's workers and complete out of order (virtio_req.h tracks
 * them).  A driver may not make a head available again before we used it; a chain that does so
 * (or any invalid chain) sets DEVICE_NEEDS_RESET instead of touching a request in flight.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/block_if.h"
#include "common/bytes.h"
#include "common/devconf.h"
#include "pci/pci_emul.h"
#include "pci/pci_devinst.h"
#include "pci/virtio_pci_bus.h"
#include "pci/virtio_req.h"

#define VTBLK_QSIZE      128
#define VTBLK_MAXSEGS    (VTBLK_QSIZE - 2)   /* seg_max: data segments per request */
#define VTBLK_CFGSIZE    60

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2
#define VIRTIO_BLK_ID_BYTES       20
#define VTBLK_MAX_DISCARD_SECTORS 0x3FFFFFu    /* per request, in 512-byte sectors */

struct vtblk_ioreq {
	struct blockif_req br;
	struct vtblk_softc *sc;
	uint16_t head;
	uint8_t *status;
	uint32_t data_len;          /* bytes the device writes besides status (IN) */
	struct iovec iov[VTBLK_MAXSEGS + 2];
};

_Static_assert(VTBLK_QSIZE <= VTREQ_MAXQSIZE, "request tracking covers every head");

struct vtblk_softc {
	struct vtpci_state vs;      /* first: the transport's BAR handlers find it at pi_arg */
	struct vtpci_dev dev;
	struct blockif_ctxt *bc;
	struct vtreq_track rt;
	uint8_t cfg[VTBLK_CFGSIZE];
	char ident[VTREQ_SERIAL_LEN + 1];
	struct vtblk_ioreq req[VTBLK_QSIZE];
};

/* ---- Completion ---- */

static void vtblk_finish(struct vtblk_softc *sc, uint16_t head, uint8_t *status, uint8_t s,
			 uint32_t len)
{
	if (status)
		*status = s;
	vtreq_complete(&sc->rt, head, len);
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
static bool vtblk_start(void *arg, const struct iovec *iov, const struct vq_chain *c)
{
	struct vtblk_softc *sc = arg;

	if (!vtreq_claim(&sc->rt, c->head))
		return false;

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
	struct iovec iov[VTBLK_MAXSEGS + 2];

	vtreq_drain(&sc->rt, iov, VTBLK_MAXSEGS + 2, vtblk_start, sc);
}

/* ---- Config, reset, life ---- */

static void vtblk_cfgread(void *arg, uint32_t off, int size, uint8_t *out)
{
	struct vtblk_softc *sc = arg;
	memcpy(out, sc->cfg + off, (size_t)size);   /* bounds checked by the transport */
}

/* Wait for requests in flight and forget the ring. */
static void vtblk_reset(void *arg)
{
	struct vtblk_softc *sc = arg;
	vtreq_reset(&sc->rt);
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

/* ---- Configuration and registration ---- */

static int vtblk_validate(config_node_t *nvl, char *err, size_t errlen)
{
	return devconf_block_check(nvl, true, err, errlen);
}

/* Waits for I/O in flight and flushes and closes the disk. */
static void vtblk_deinit(struct pci_devinst *pi)
{
	struct vtblk_softc *sc = pi->pi_arg;

	if (!sc)
		return;
	vtblk_reset(sc);
	blockif_close(sc->bc);
	vtpci_destroy(&sc->vs);
	vtreq_destroy(&sc->rt);
	free(sc);
	pi->pi_arg = NULL;
}

static int vtblk_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	struct blockif_opts o;
	if (blockif_opts_path(nvl, config_node_get(nvl, "path"), &o, err, errlen) < 0)
		return -1;
	struct vtblk_softc *sc = calloc(1, sizeof(*sc));
	if (!sc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sc->bc = blockif_open(&o, err, errlen);
	if (!sc->bc) {
		free(sc);
		return -1;
	}
	vtreq_init(&sc->rt, &sc->vs, 0);
	vtreq_serial(o.path, sc->ident, sizeof(sc->ident));
	vtblk_setup_config(sc);
	sc->dev = (struct vtpci_dev){
		.name = "virtio-blk", .nvq = 1, .qsize = VTBLK_QSIZE,
		.features = vtblk_features(sc->bc), .cfgsize = VTBLK_CFGSIZE,
		.cfgread = vtblk_cfgread, .qnotify = vtblk_qnotify, .reset = vtblk_reset,
	};
	struct vq_mem mem;
	vtpci_pci_mem(pi, &mem);
	vtpci_init(&sc->vs, &sc->dev, sc, &vtpci_pci_intr, pi, &mem);
	pi->pi_arg = sc;
	if (vtpci_pci_setup(&sc->vs, pi, VIRTIO_DEV_BLOCK, VIRTIO_TYPE_BLOCK, PCIC_STORAGE,
			    PCIS_STORAGE_SCSI, err, errlen) < 0) {
		vtblk_deinit(pi);
		return -1;
	}
	return 0;
}

static const struct pci_devemu pci_de_vtblk = {
	.pe_emu = "virtio-blk",
	.pe_help = "virtio block: path[,nocache][,direct][,ro][,sectorsize=logical[/physical]]",
	.pe_legacy_config = devconf_block_legacy,
	.pe_keys = (const char *const[]){ DEVCONF_BLOCK_KEYS, NULL },
	.pe_validate = vtblk_validate,
	.pe_init = vtblk_init, .pe_deinit = vtblk_deinit,
	.pe_barread = vtpci_barread, .pe_barwrite = vtpci_barwrite,
};
PCI_EMUL_SET(pci_de_vtblk);
