/*
 * The ATA command set of an AHCI disk port (ACS-3 as Linux's libata and firmware use it):
 * IDENTIFY DEVICE; READ/WRITE DMA (EXT), READ/WRITE SECTOR(S) (EXT) and MULTIPLE (PIO), READ/
 * WRITE FPDMA QUEUED (NCQ, 32 tags); FLUSH CACHE (EXT); DATA SET MANAGEMENT with TRIM where the
 * backend can discard; READ LOG (DMA) EXT for the log directory and the NCQ error log (10h);
 * SET FEATURES, SET MULTIPLE MODE, READ VERIFY and the power-management commands, which have
 * nothing to do here.  Anything else is aborted (status ERR, error ABRT), as a drive does.
 *
 * A command's sectors, PRD table and ranges are checked before anything reaches the backend:
 * an LBA range past the end fails with IDNF, a PRD entry outside guest RAM, a table that
 * describes fewer bytes than the command moves or more entries than AHCI_MAX_PRD fail with
 * ABRT.  The PRD table may describe more bytes than needed; the rest is left alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pci/pci_ahci.h"

#define ATA_READ_SECTORS        0x20
#define ATA_READ_SECTORS_EXT    0x24
#define ATA_READ_DMA_EXT        0x25
#define ATA_READ_MULTIPLE_EXT   0x29
#define ATA_READ_LOG_EXT        0x2F
#define ATA_WRITE_SECTORS       0x30
#define ATA_WRITE_SECTORS_EXT   0x34
#define ATA_WRITE_DMA_EXT       0x35
#define ATA_WRITE_MULTIPLE_EXT  0x39
#define ATA_READ_VERIFY         0x40
#define ATA_READ_VERIFY_EXT     0x42
#define ATA_READ_LOG_DMA_EXT    0x47
#define ATA_DSM                 0x06
#define ATA_READ_FPDMA          0x60
#define ATA_WRITE_FPDMA         0x61
#define ATA_RECALIBRATE         0x10
#define ATA_INIT_DEV_PARAMS     0x91
#define ATA_READ_MULTIPLE       0xC4
#define ATA_WRITE_MULTIPLE      0xC5
#define ATA_SET_MULTIPLE        0xC6
#define ATA_READ_DMA            0xC8
#define ATA_WRITE_DMA           0xCA
#define ATA_STANDBY_IMMEDIATE   0xE0
#define ATA_IDLE_IMMEDIATE      0xE1
#define ATA_STANDBY             0xE2
#define ATA_IDLE                0xE3
#define ATA_CHECK_POWER_MODE    0xE5
#define ATA_SLEEP               0xE6
#define ATA_FLUSH_CACHE         0xE7
#define ATA_FLUSH_CACHE_EXT     0xEA
#define ATA_IDENTIFY            0xEC
#define ATA_SET_FEATURES        0xEF

#define ATA_LOG_DIRECTORY       0x00
#define ATA_LOG_NCQ_ERROR       0x10
#define AHCI_MULT_MAX           128     /* sectors per DRQ block for READ/WRITE MULTIPLE */

/* ---- IDENTIFY DEVICE ---- */

void ahci_ata_string(uint16_t *w, const char *s, int nchars)
{
	size_t len = s ? strlen(s) : 0;

	for (int i = 0; i < nchars; i += 2) {
		uint8_t a = (size_t)i < len ? (uint8_t)s[i] : ' ';
		uint8_t b = (size_t)i + 1 < len ? (uint8_t)s[i + 1] : ' ';
		w[i / 2] = (uint16_t)(a << 8 | b);
	}
}

static unsigned ahci_log2(unsigned v)
{
	unsigned n = 0;
	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

/* Words 255's checksum: all 512 bytes sum to 0 (ACS-3 7.12.7.91). */
static void ahci_ident_checksum(uint16_t *id)
{
	uint8_t sum = 0xA5;

	for (int i = 0; i < 255; i++)
		sum = (uint8_t)(sum + (id[i] & 0xFF) + (id[i] >> 8));
	id[255] = (uint16_t)(((uint8_t)-sum) << 8 | 0xA5);
}

static void ahci_ident_geometry(uint16_t *id, uint64_t nsect)
{
	uint64_t cyl = nsect / (16 * 63);

	id[1] = (uint16_t)(cyl > 16383 ? 16383 : cyl);
	id[3] = 16;
	id[6] = 63;
	uint64_t lba28 = nsect > 0x0FFFFFFF ? 0x0FFFFFFF : nsect;
	id[60] = (uint16_t)lba28;
	id[61] = (uint16_t)(lba28 >> 16);
	for (int i = 0; i < 4; i++)
		id[100 + i] = (uint16_t)(nsect >> (16 * i));
}

void ahci_ata_identify_init(struct ahci_port *p, const char *ser, const char *model,
			    const char *rev, unsigned nmrr)
{
	uint16_t *id = p->ident;
	unsigned ps = blockif_psectsz(p->bc);

	memset(p->ident, 0, sizeof(p->ident));
	id[0] = 0x0040;                         /* fixed device, ATA */
	ahci_ident_geometry(id, p->nsect);
	ahci_ata_string(id + 10, ser, 20);
	ahci_ata_string(id + 23, rev ? rev : "001", 8);
	ahci_ata_string(id + 27, model ? model : "BHYVE SATA DISK", 40);
	id[47] = 0x8000 | AHCI_MULT_MAX;
	id[49] = 1u << 11 | 1u << 9 | 1u << 8;  /* IORDY, LBA, DMA */
	id[50] = 0x4000;
	id[53] = 1u << 1 | 1u << 2;             /* words 64-70 and 88 valid */
	id[59] = 0x0100 | AHCI_MULT_MAX;        /* multiple sector setting valid */
	id[63] = 0x0007 | 0x0400;               /* MWDMA 0-2, mode 2 selected */
	id[64] = 0x0003;                        /* PIO 3, 4 */
	id[65] = id[66] = id[67] = id[68] = 120;
	id[75] = AHCI_NSLOTS - 1;               /* queue depth - 1 */
	id[76] = 1u << 8 | 1u << 3 | 1u << 2 | 1u << 1;  /* NCQ; SATA Gen3, Gen2, Gen1 */
	id[77] = 3u << 1;                       /* current speed: Gen3 */
	id[80] = 0x03F0;                        /* ATA/ATAPI-4 to ACS-2 */
	id[82] = 1u << 14 | 1u << 6 | 1u << 5;  /* NOP, look-ahead, write cache */
	id[83] = 1u << 14 | 1u << 13 | 1u << 12 | 1u << 10;  /* FLUSH EXT, FLUSH, 48-bit */
	id[84] = 1u << 14 | 1u << 5;            /* general purpose logging */
	id[85] = id[82];
	id[86] = (uint16_t)(id[83] & ~(1u << 14));
	id[87] = id[84];
	id[88] = 0x007F | 1u << (8 + 6);        /* UDMA 0-6, mode 6 selected */
	id[93] = 0;
	if (blockif_can_discard(p->bc)) {
		id[69] = 1u << 14;              /* deterministic read after TRIM */
		id[105] = AHCI_DSM_MAX_BLOCKS;
		id[169] = 1u << 0;              /* DATA SET MANAGEMENT: TRIM */
	}
	id[106] = 1u << 14;                     /* word 106 valid */
	if (ps > p->sectsz)
		id[106] |= (uint16_t)(1u << 13 | ahci_log2(ps / p->sectsz));
	if (p->sectsz > 512) {
		id[106] |= 1u << 12;            /* logical sector longer than 256 words */
		id[117] = (uint16_t)(p->sectsz / 2);
		id[118] = (uint16_t)(p->sectsz / 2 >> 16);
	}
	id[119] = id[120] = 0x4000;
	id[217] = (uint16_t)nmrr;               /* 1: non-rotating (solid state) */
	id[222] = 0x103F;                       /* serial ATA 3.x transport */
	ahci_ident_checksum(id);
}

/* ---- PRD tables ---- */

static uint64_t ahci_le(const uint8_t *b, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

int ahci_prd_iov(struct ahci_port *p, struct ahci_cmd *c, const uint8_t *prdt, unsigned prdtl,
		 uint64_t need)
{
	uint64_t have = 0;
	int n = 0;

	for (unsigned i = 0; i < prdtl && have < need; i++) {
		const uint8_t *e = prdt + 16 * (size_t)i;
		uint64_t dba = ahci_le(e, 8) & ~1ULL;
		uint64_t dbc = (ahci_le(e + 12, 4) & 0x3FFFFF) + 1;
		if (dbc > need - have)
			dbc = need - have;
		void *h = ahci_map(p, dba, (size_t)dbc);
		if (!h || n >= AHCI_MAX_PRD)
			return -1;
		c->iov[n] = (struct iovec){ h, (size_t)dbc };
		c->gpa[n++] = dba;
		have += dbc;
	}
	c->iovcnt = n;
	return have == need ? 0 : -1;
}

uint32_t ahci_prd_write(struct ahci_port *p, const uint8_t *prdt, unsigned prdtl,
			const void *buf, uint32_t len)
{
	struct ahci_cmd tmp = { 0 };
	struct iovec iov[16];
	uint64_t gpa[16];
	uint32_t done = 0;

	tmp.iov = iov;
	tmp.gpa = gpa;
	for (unsigned i = 0; i < prdtl && done < len; i++) {
		const uint8_t *e = prdt + 16 * (size_t)i;
		uint64_t dba = ahci_le(e, 8) & ~1ULL;
		uint32_t dbc = (uint32_t)(ahci_le(e + 12, 4) & 0x3FFFFF) + 1;
		if (dbc > len - done)
			dbc = len - done;
		void *h = ahci_map(p, dba, dbc);
		if (!h)
			break;
		memcpy(h, (const uint8_t *)buf + done, dbc);
		tmp.iov[0] = (struct iovec){ h, dbc };
		tmp.gpa[0] = dba;
		tmp.iovcnt = 1;
		ahci_dma_written(p, &tmp);
		done += dbc;
	}
	return done;
}

/* ---- Commands ---- */

static void ahci_ata_abort(struct ahci_port *p, int slot, uint8_t error)
{
	ahci_complete(p, slot, ATA_S_OK | ATA_S_ERR, error, 0);
}

static void ahci_ata_ok(struct ahci_port *p, int slot)
{
	ahci_complete(p, slot, ATA_S_OK, 0, 0);
}

/* A PIO data-in command whose data is `buf`. */
static void ahci_ata_pio_in(struct ahci_port *p, int slot, const uint8_t *prdt, unsigned prdtl,
			    const void *buf, uint32_t len)
{
	struct ahci_cmd *c = &p->slot[slot];
	uint32_t n = ahci_prd_write(p, prdt, prdtl, buf, len);

	c->pio = true;
	if (n < len) {
		ahci_ata_abort(p, slot, ATA_E_ABRT);
		return;
	}
	ahci_complete(p, slot, ATA_S_OK, 0, n);
}

static uint8_t ahci_ata_errno_to_error(int err, bool write)
{
	if (err == EINVAL)
		return ATA_E_IDNF;
	if (err == EROFS || write)
		return ATA_E_ABRT;
	return ATA_E_UNC;
}

/* Backend completion of a read, write or flush (a worker thread). */
static void ahci_ata_io_done(struct blockif_req *br, int err)
{
	struct ahci_cmd *c = br->arg;
	struct ahci_port *p = c->p;

	pthread_mutex_lock(&p->sc->mtx);
	if (!err && br->op == BLOCKIF_READ)
		ahci_dma_written(p, c);
	if (err)
		ahci_complete(p, c->slot, ATA_S_OK | ATA_S_ERR,
			      ahci_ata_errno_to_error(err, c->is_write), 0);
	else
		ahci_complete(p, c->slot, ATA_S_OK, 0, c->xfer);
	if (--p->inflight == 0)
		pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->sc->mtx);
}

static void ahci_ata_submit(struct ahci_port *p, struct ahci_cmd *c, enum blockif_op op,
			    void (*done)(struct blockif_req *, int))
{
	c->br.op = op;
	c->br.iov = c->iov;
	c->br.done = done;
	c->br.arg = c;
	p->inflight++;
	if (blockif_submit(p->bc, &c->br) != 0) {
		p->inflight--;
		ahci_ata_abort(p, c->slot, ATA_E_ABRT);
	}
}

struct ahci_rw {
	bool write, lba48, ncq, pio;
};

static void ahci_ata_rw(struct ahci_port *p, int slot, const uint8_t *f, const uint8_t *prdt,
			unsigned prdtl, struct ahci_rw k)
{
	struct ahci_cmd *c = &p->slot[slot];
	uint64_t lba, count;

	if (k.lba48 || k.ncq) {
		lba = ahci_le(f + 4, 3) | ahci_le(f + 8, 3) << 24;
		count = k.ncq ? (uint64_t)f[3] | (uint64_t)f[11] << 8 : ahci_le(f + 12, 2);
		if (count == 0)
			count = 65536;
	} else {
		lba = ahci_le(f + 4, 3) | (uint64_t)(f[7] & 0x0F) << 24;
		count = f[12] ? f[12] : 256;
	}
	c->ncq = k.ncq;
	c->pio = k.pio;
	c->is_write = k.write;
	c->lba = lba;
	c->count = (uint16_t)count;
	if (lba > p->nsect || count > p->nsect - lba) {
		ahci_ata_abort(p, slot, ATA_E_IDNF);
		return;
	}
	c->xfer = (uint32_t)(count * p->sectsz);
	if (ahci_prd_iov(p, c, prdt, prdtl, c->xfer) < 0) {
		ahci_ata_abort(p, slot, ATA_E_ABRT);
		return;
	}
	if (k.ncq)      /* the device takes the command: PxCI clears, PxSACT stays until done */
		p->ci &= ~(1u << slot);
	c->br.offset = lba * p->sectsz;
	c->br.iovcnt = c->iovcnt;
	ahci_ata_submit(p, c, k.write ? BLOCKIF_WRITE : BLOCKIF_READ, ahci_ata_io_done);
}

/* ---- DATA SET MANAGEMENT (TRIM): the ranges go to the backend one after another ---- */

/* The next range to discard, or false when none is left. */
static bool ahci_dsm_next(struct ahci_port *p, struct ahci_cmd *c)
{
	while (c->dsm_i < c->dsm_n) {
		const uint8_t *e = c->dsm + 8 * c->dsm_i++;
		uint64_t lba = ahci_le(e, 6), n = ahci_le(e + 6, 2);
		if (n == 0)
			continue;
		c->br.offset = lba * p->sectsz;
		c->br.len = n * p->sectsz;
		c->br.iovcnt = 0;
		return true;
	}
	return false;
}

static void ahci_dsm_done(struct blockif_req *br, int err)
{
	struct ahci_cmd *c = br->arg;
	struct ahci_port *p = c->p;

	pthread_mutex_lock(&p->sc->mtx);
	if (!err && ahci_dsm_next(p, c) && blockif_submit(p->bc, &c->br) == 0) {
		pthread_mutex_unlock(&p->sc->mtx);
		return;
	}
	if (err)
		ahci_ata_abort(p, c->slot, ATA_E_ABRT);
	else
		ahci_complete(p, c->slot, ATA_S_OK, 0, c->xfer);
	if (--p->inflight == 0)
		pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->sc->mtx);
}

static void ahci_ata_dsm(struct ahci_port *p, int slot, const uint8_t *f, const uint8_t *prdt,
			 unsigned prdtl)
{
	struct ahci_cmd *c = &p->slot[slot];
	uint64_t blocks = ahci_le(f + 12, 2);

	c->ncq = c->pio = false;
	c->is_write = true;
	if (!(f[3] & 1) || !blockif_can_discard(p->bc) || blocks == 0 ||
	    blocks > AHCI_DSM_MAX_BLOCKS) {
		ahci_ata_abort(p, slot, ATA_E_ABRT);
		return;
	}
	if (!c->dsm && !(c->dsm = malloc(AHCI_DSM_MAX_BLOCKS * 512))) {
		ahci_ata_abort(p, slot, ATA_E_ABRT);
		return;
	}
	c->xfer = (uint32_t)blocks * 512;
	if (ahci_prd_iov(p, c, prdt, prdtl, c->xfer) < 0) {
		ahci_ata_abort(p, slot, ATA_E_ABRT);
		return;
	}
	size_t off = 0;
	for (int i = 0; i < c->iovcnt; i++) {
		memcpy(c->dsm + off, c->iov[i].iov_base, c->iov[i].iov_len);
		off += c->iov[i].iov_len;
	}
	c->dsm_n = (unsigned)(c->xfer / 8);
	for (unsigned i = 0; i < c->dsm_n; i++) {      /* every range must be on the disk */
		uint64_t lba = ahci_le(c->dsm + 8 * i, 6), n = ahci_le(c->dsm + 8 * i + 6, 2);
		if (lba > p->nsect || n > p->nsect - lba) {
			ahci_ata_abort(p, slot, ATA_E_IDNF);
			return;
		}
	}
	c->dsm_i = 0;
	if (!ahci_dsm_next(p, c)) {
		ahci_complete(p, slot, ATA_S_OK, 0, c->xfer);
		return;
	}
	ahci_ata_submit(p, c, BLOCKIF_DISCARD, ahci_dsm_done);
}

/* ---- Logs ---- */

static void ahci_ata_read_log(struct ahci_port *p, int slot, const uint8_t *f,
			      const uint8_t *prdt, unsigned prdtl, bool dma)
{
	uint8_t page[512];
	unsigned log = f[4], pg = f[5] | (unsigned)f[10] << 8, count = (unsigned)ahci_le(f + 12, 2);

	memset(page, 0, sizeof(page));
	if (count != 1 || pg != 0) {
		ahci_ata_abort(p, slot, ATA_E_ABRT);
		return;
	}
	if (log == ATA_LOG_DIRECTORY) {
		page[0] = 1;                            /* directory version 1 */
		page[2 * ATA_LOG_NCQ_ERROR] = 1;        /* log 10h: one page */
	} else if (log == ATA_LOG_NCQ_ERROR) {
		memcpy(page, p->ncq_err, sizeof(page));
	} else {
		ahci_ata_abort(p, slot, ATA_E_ABRT);
		return;
	}
	if (dma) {
		uint32_t n = ahci_prd_write(p, prdt, prdtl, page, sizeof(page));
		if (n < sizeof(page))
			ahci_ata_abort(p, slot, ATA_E_ABRT);
		else
			ahci_complete(p, slot, ATA_S_OK, 0, n);
		return;
	}
	ahci_ata_pio_in(p, slot, prdt, prdtl, page, sizeof(page));
}

/* Commands with no data and nothing to do but succeed (or check their LBA range). */
static bool ahci_ata_nodata(struct ahci_port *p, int slot, const uint8_t *f)
{
	uint64_t lba, count;

	switch (f[2]) {
	case ATA_SET_FEATURES:
	case ATA_RECALIBRATE:
	case ATA_INIT_DEV_PARAMS:
	case ATA_STANDBY_IMMEDIATE:
	case ATA_IDLE_IMMEDIATE:
	case ATA_STANDBY:
	case ATA_IDLE:
	case ATA_SLEEP:
	case ATA_CHECK_POWER_MODE:
		ahci_ata_ok(p, slot);
		return true;
	case ATA_SET_MULTIPLE:
		if (f[12] > AHCI_MULT_MAX || (f[12] & (f[12] - 1)))
			ahci_ata_abort(p, slot, ATA_E_ABRT);
		else
			ahci_ata_ok(p, slot);
		return true;
	case ATA_READ_VERIFY:
	case ATA_READ_VERIFY_EXT:
		lba = ahci_le(f + 4, 3) | ahci_le(f + 8, 3) << 24;
		count = ahci_le(f + 12, 2);
		if (lba > p->nsect || count > p->nsect - lba)
			ahci_ata_abort(p, slot, ATA_E_IDNF);
		else
			ahci_ata_ok(p, slot);
		return true;
	default:
		return false;
	}
}

void ahci_ata_start(struct ahci_port *p, int slot, const uint8_t *f, const uint8_t *prdt,
		    unsigned prdtl)
{
	struct ahci_cmd *c = &p->slot[slot];

	c->ncq = c->pio = c->is_write = false;
	c->iovcnt = 0;
	c->xfer = 0;
	memset(&c->br, 0, sizeof(c->br));
	switch (f[2]) {
	case ATA_READ_DMA: ahci_ata_rw(p, slot, f, prdt, prdtl, (struct ahci_rw){ 0 }); break;
	case ATA_WRITE_DMA:
		ahci_ata_rw(p, slot, f, prdt, prdtl, (struct ahci_rw){ .write = true });
		break;
	case ATA_READ_DMA_EXT:
		ahci_ata_rw(p, slot, f, prdt, prdtl, (struct ahci_rw){ .lba48 = true });
		break;
	case ATA_WRITE_DMA_EXT:
		ahci_ata_rw(p, slot, f, prdt, prdtl, (struct ahci_rw){ .write = true, .lba48 = true });
		break;
	case ATA_READ_FPDMA:
		ahci_ata_rw(p, slot, f, prdt, prdtl, (struct ahci_rw){ .ncq = true });
		break;
	case ATA_WRITE_FPDMA:
		ahci_ata_rw(p, slot, f, prdt, prdtl, (struct ahci_rw){ .write = true, .ncq = true });
		break;
	case ATA_READ_SECTORS:
	case ATA_READ_MULTIPLE:
		ahci_ata_rw(p, slot, f, prdt, prdtl, (struct ahci_rw){ .pio = true });
		break;
	case ATA_WRITE_SECTORS:
	case ATA_WRITE_MULTIPLE:
		ahci_ata_rw(p, slot, f, prdt, prdtl, (struct ahci_rw){ .write = true, .pio = true });
		break;
	case ATA_READ_SECTORS_EXT:
	case ATA_READ_MULTIPLE_EXT:
		ahci_ata_rw(p, slot, f, prdt, prdtl, (struct ahci_rw){ .lba48 = true, .pio = true });
		break;
	case ATA_WRITE_SECTORS_EXT:
	case ATA_WRITE_MULTIPLE_EXT:
		ahci_ata_rw(p, slot, f, prdt, prdtl,
			    (struct ahci_rw){ .write = true, .lba48 = true, .pio = true });
		break;
	case ATA_FLUSH_CACHE:
	case ATA_FLUSH_CACHE_EXT:
		c->br.iovcnt = 0;
		ahci_ata_submit(p, c, BLOCKIF_FLUSH, ahci_ata_io_done);
		break;
	case ATA_DSM: ahci_ata_dsm(p, slot, f, prdt, prdtl); break;
	case ATA_IDENTIFY:
		ahci_ata_pio_in(p, slot, prdt, prdtl, p->ident, sizeof(p->ident));
		break;
	case ATA_READ_LOG_EXT: ahci_ata_read_log(p, slot, f, prdt, prdtl, false); break;
	case ATA_READ_LOG_DMA_EXT: ahci_ata_read_log(p, slot, f, prdt, prdtl, true); break;
	default:
		if (!ahci_ata_nodata(p, slot, f))
			ahci_ata_abort(p, slot, ATA_E_ABRT);
		break;
	}
}
