/*
 * SCSI direct-access target (SPC-4/SBC-3 subset) for virtio-scsi; see virtio_scsi_target.h.
 */
#include <errno.h>
#include <string.h>

#include "common/bytes.h"
#include "pci/virtio_scsi_target.h"

#define SCSI_MAX_XFER_BLOCKS 0x10000u  /* per command; what VPD B0 announces */
#define SCSI_MAX_UNMAP_BLOCKS 0x400000u


void scsi_sense(struct scsi_result *res, uint8_t key, uint8_t asc, uint8_t ascq)
{
	memset(res->sense, 0, sizeof(res->sense));
	res->status = SCSI_STATUS_CHECK_CONDITION;
	res->sense[0] = 0x70;                   /* current error, fixed format */
	res->sense[2] = key;
	res->sense[7] = SCSI_SENSE_LEN - 8;     /* additional sense length */
	res->sense[12] = asc;
	res->sense[13] = ascq;
	res->sense_len = SCSI_SENSE_LEN;
}

static enum scsi_action scsi_bad(struct scsi_result *res, uint8_t key, uint8_t asc)
{
	scsi_sense(res, key, asc, 0);
	return SCSI_DONE;
}

/* ---- INQUIRY ---- */

static size_t scsi_inq_std(uint8_t *d)
{
	memset(d, 0, 36);
	d[0] = 0x00;                            /* connected direct-access block device */
	d[2] = 0x06;                            /* SPC-4 */
	d[3] = 0x12;                            /* HiSup, response data format 2 */
	d[4] = 36 - 5;
	d[7] = 0x02;                            /* CmdQue */
	memcpy(d + 8, "BHYVE   ", 8);
	memcpy(d + 16, "VIRTUAL DISK    ", 16);
	memcpy(d + 32, "0001", 4);
	return 36;
}

static size_t scsi_vpd_b0(const struct scsi_lun_info *l, uint8_t *d)
{
	memset(d, 0, 64);
	d[1] = 0xB0;
	be16enc(d + 2, 0x3C);
	d[4] = 0x01;                            /* WSNZ: WRITE SAME with 0 blocks is refused */
	be16enc(d + 6, (uint16_t)(1u << l->pblk_exp));      /* optimal transfer granularity */
	be32enc(d + 8, SCSI_MAX_XFER_BLOCKS);
	if (l->can_unmap) {
		be32enc(d + 20, SCSI_MAX_UNMAP_BLOCKS);
		be32enc(d + 24, 1);                /* one descriptor per UNMAP */
		be32enc(d + 28, 1u << l->pblk_exp);
	}
	be64enc(d + 36, SCSI_MAX_UNMAP_BLOCKS);   /* maximum WRITE SAME length */
	return 64;
}

static size_t scsi_vpd(const struct scsi_lun_info *l, uint8_t page, uint8_t *d)
{
	static const uint8_t pages[] = { 0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2 };
	size_t n;

	memset(d, 0, 8);
	d[1] = page;
	switch (page) {
	case 0x00:
		memcpy(d + 4, pages, sizeof(pages));
		n = 4 + sizeof(pages);
		break;
	case 0x80:
		n = strlen(l->serial);
		memcpy(d + 4, l->serial, n);
		n += 4;
		break;
	case 0x83:                              /* one T10 vendor ID designator */
		d[4] = 0x02;                    /* ASCII */
		d[5] = 0x01;                    /* associated with the LUN, T10 vendor ID */
		memcpy(d + 8, "BHYVE   ", 8);
		n = strlen(l->serial);
		memcpy(d + 16, l->serial, n);
		d[7] = (uint8_t)(8 + n);
		n += 16;
		break;
	case 0xB0:
		return scsi_vpd_b0(l, d);
	case 0xB1:
		memset(d + 4, 0, 60);
		be16enc(d + 2, 0x3C);
		be16enc(d + 4, 1);                 /* non-rotating medium */
		return 64;
	case 0xB2:
		d[4] = 0;
		d[5] = l->can_unmap ? 0xE0 | 0x04 : 0;   /* LBPU, LBPWS, LBPWS10, LBPRZ */
		d[6] = l->can_unmap ? 0x02 : 0;          /* thin provisioned */
		n = 8;
		break;
	default:
		return 0;
	}
	be16enc(d + 2, (uint16_t)(n - 4));
	return n;
}

static enum scsi_action scsi_inquiry(const struct scsi_lun_info *l, const uint8_t *cdb,
				     uint8_t *din, size_t *len, struct scsi_result *res)
{
	size_t n;
	if (cdb[1] & 1) {
		n = scsi_vpd(l, cdb[2], din);
		if (n == 0)
			return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	} else {
		if (cdb[2])
			return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		n = scsi_inq_std(din);
	}
	*len = n;
	return SCSI_DONE;
}

/* ---- MODE SENSE ---- */

static size_t scsi_mode_pages(uint8_t page, bool changeable, uint8_t *d)
{
	size_t n = 0;
	if (page == 0x08 || page == 0x3F) {     /* caching: write cache enabled (we flush) */
		memset(d + n, 0, 20);
		d[n] = 0x08;
		d[n + 1] = 0x12;
		if (!changeable)
			d[n + 2] = 0x04;        /* WCE */
		n += 20;
	}
	if (page == 0x0A || page == 0x3F) {     /* control */
		memset(d + n, 0, 12);
		d[n] = 0x0A;
		d[n + 1] = 0x0A;
		n += 12;
	}
	return n;
}

static enum scsi_action scsi_mode_sense(const struct scsi_lun_info *l, const uint8_t *cdb,
					uint8_t *din, size_t *len, struct scsi_result *res)
{
	bool ten = cdb[0] == 0x5A, dbd = cdb[1] & 0x08;
	uint8_t page = cdb[2] & 0x3F, pc = cdb[2] >> 6;
	size_t hdr = ten ? 8 : 4, bd = dbd ? 0 : 8;

	if (pc == 3 || (cdb[3] && !(page == 0x3F && cdb[3] == 0xFF)))
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	size_t np = scsi_mode_pages(page, pc == 1, din + hdr + bd);
	if (np == 0)
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	memset(din, 0, hdr + bd);
	size_t n = hdr + bd + np;
	if (ten) {
		be16enc(din, (uint16_t)(n - 2));
		din[3] = l->ro ? 0x80 : 0;
		be16enc(din + 6, (uint16_t)bd);
	} else {
		din[0] = (uint8_t)(n - 1);
		din[2] = l->ro ? 0x80 : 0;
		din[3] = (uint8_t)bd;
	}
	if (bd) {
		uint8_t *b = din + hdr;
		be32enc(b, l->nblocks > 0xFFFFFF ? 0xFFFFFF : (uint32_t)l->nblocks);
		b[0] = 0;
		be32enc(b + 4, l->blksz);
		b[4] = 0;
	}
	*len = n;
	return SCSI_DONE;
}

/* ---- Media access ---- */

/* Decode LBA/length of READ/WRITE/VERIFY/WRITE SAME in their 6/10/12/16-byte forms. */
static bool scsi_lba_len(const uint8_t *cdb, size_t cdblen, uint64_t *lba, uint32_t *n)
{
	switch (cdb[0] >> 5) {
	case 0:                                 /* 6-byte */
		*lba = (uint64_t)(cdb[1] & 0x1F) << 16 | be16dec(cdb + 2);
		*n = cdb[4] ? cdb[4] : 256;
		return cdblen >= 6;
	case 1:
	case 2:                                 /* 10-byte */
		*lba = be32dec(cdb + 2);
		*n = be16dec(cdb + 7);
		return cdblen >= 10;
	case 4:                                 /* 16-byte */
		*lba = be64dec(cdb + 2);
		*n = be32dec(cdb + 10);
		return cdblen >= 16;
	case 5:                                 /* 12-byte */
		*lba = be32dec(cdb + 2);
		*n = be32dec(cdb + 6);
		return cdblen >= 12;
	}
	return false;
}

static bool scsi_range_ok(const struct scsi_lun_info *l, uint64_t lba, uint64_t n)
{
	return lba <= l->nblocks && n <= l->nblocks - lba;
}

static enum scsi_action scsi_rw(const struct scsi_lun_info *l, const uint8_t *cdb, size_t cdblen,
				bool write, uint64_t buf_total, struct scsi_io *io,
				struct scsi_result *res)
{
	uint64_t lba;
	uint32_t n;

	if (!scsi_lba_len(cdb, cdblen, &lba, &n))
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	if (write && l->ro)
		return scsi_bad(res, SKEY_DATA_PROTECT, ASC_WRITE_PROTECTED);
	if (!scsi_range_ok(l, lba, n))
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	if (n > SCSI_MAX_XFER_BLOCKS || (uint64_t)n * l->blksz > buf_total)
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	if (n == 0)
		return SCSI_DONE;
	io->op = write ? BLOCKIF_WRITE : BLOCKIF_READ;
	io->offset = lba * l->blksz;
	io->len = (uint64_t)n * l->blksz;
	io->data_in = !write;
	return SCSI_IO;
}

static enum scsi_action scsi_unmap(const struct scsi_lun_info *l, const uint8_t *dout,
				   size_t dout_len, struct scsi_io *io, struct scsi_result *res)
{
	if (!l->can_unmap)
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
	if (l->ro)
		return scsi_bad(res, SKEY_DATA_PROTECT, ASC_WRITE_PROTECTED);
	if (dout_len < 8)
		return dout_len == 0 ? SCSI_DONE : scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_PARAM);
	uint16_t bdlen = be16dec(dout + 2);
	if (bdlen == 0)
		return SCSI_DONE;
	if (bdlen != 16 || dout_len < 24)       /* one descriptor, as VPD B0 says */
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_PARAM);
	uint64_t lba = be64dec(dout + 8);
	uint32_t n = be32dec(dout + 16);
	if (!scsi_range_ok(l, lba, n))
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	if (n > SCSI_MAX_UNMAP_BLOCKS)
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_PARAM);
	if (n == 0)
		return SCSI_DONE;
	io->op = BLOCKIF_DISCARD;
	io->offset = lba * l->blksz;
	io->len = (uint64_t)n * l->blksz;
	io->data_in = false;
	return SCSI_IO;
}

/* WRITE SAME: only the patterns we can do without writing block by block: zeroes, or UNMAP. */
static enum scsi_action scsi_write_same(const struct scsi_lun_info *l, const uint8_t *cdb,
					size_t cdblen, const uint8_t *dout, size_t dout_len,
					struct scsi_io *io, struct scsi_result *res)
{
	uint64_t lba;
	uint32_t n;
	bool unmap = cdb[1] & 0x08;

	if (!scsi_lba_len(cdb, cdblen, &lba, &n) || n == 0 || n > SCSI_MAX_UNMAP_BLOCKS)
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	if (l->ro)
		return scsi_bad(res, SKEY_DATA_PROTECT, ASC_WRITE_PROTECTED);
	if (!scsi_range_ok(l, lba, n))
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	if (dout_len < l->blksz)
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	for (size_t i = 0; i < l->blksz; i++)
		if (dout[i])
			return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	io->op = BLOCKIF_WRITE_ZEROES;
	io->may_unmap = unmap && l->can_unmap;
	io->offset = lba * l->blksz;
	io->len = (uint64_t)n * l->blksz;
	io->data_in = false;
	return SCSI_IO;
}

/* ---- Dispatch ---- */

static size_t scsi_read_capacity(const struct scsi_lun_info *l, bool sixteen, uint8_t *d)
{
	uint64_t last = l->nblocks ? l->nblocks - 1 : 0;
	if (!sixteen) {
		be32enc(d, last > 0xFFFFFFFFull ? 0xFFFFFFFFu : (uint32_t)last);
		be32enc(d + 4, l->blksz);
		return 8;
	}
	memset(d, 0, 32);
	be64enc(d, last);
	be32enc(d + 8, l->blksz);
	d[13] = (uint8_t)l->pblk_exp;
	if (l->can_unmap)
		d[14] = 0x80 | 0x40;            /* LBPME, LBPRZ */
	return 32;
}

static size_t scsi_alloc_len(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case 0x12: return be16dec(cdb + 3);       /* INQUIRY */
	case 0x1A: case 0x03: return cdb[4];    /* MODE SENSE(6), REQUEST SENSE */
	case 0x5A: return be16dec(cdb + 7);       /* MODE SENSE(10) */
	case 0x9E: case 0xA0: return be32dec(cdb + (cdb[0] == 0x9E ? 10 : 6));
	default: return SIZE_MAX;
	}
}

static enum scsi_action scsi_simple(const struct scsi_lun_info *l, const uint8_t *cdb,
				    uint8_t *din, size_t *len, struct scsi_result *res)
{
	switch (cdb[0]) {
	case 0x00: case 0x1B: case 0x1E:        /* TEST UNIT READY, START STOP, PREVENT ALLOW */
	case 0x15: case 0x55:                   /* MODE SELECT: nothing is changeable */
		return SCSI_DONE;
	case 0x03:                              /* REQUEST SENSE: no pending sense */
		memset(din, 0, SCSI_SENSE_LEN);
		din[0] = 0x70;
		din[7] = SCSI_SENSE_LEN - 8;
		*len = SCSI_SENSE_LEN;
		return SCSI_DONE;
	case 0x12:
		return scsi_inquiry(l, cdb, din, len, res);
	case 0x1A: case 0x5A:
		return scsi_mode_sense(l, cdb, din, len, res);
	case 0x25:
		*len = scsi_read_capacity(l, false, din);
		return SCSI_DONE;
	case 0x9E:
		if ((cdb[1] & 0x1F) != 0x10)
			return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		*len = scsi_read_capacity(l, true, din);
		return SCSI_DONE;
	case 0xA0:                              /* REPORT LUNS: LUN 0 */
		memset(din, 0, 16);
		be32enc(din, 8);
		*len = 16;
		return SCSI_DONE;
	}
	return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
}

enum scsi_action scsi_cmd(const struct scsi_lun_info *l, const uint8_t *cdb, size_t cdblen,
			  const uint8_t *dout, size_t dout_len, uint64_t dout_total,
			  uint64_t din_total, uint8_t *din, size_t din_max, size_t *din_len,
			  struct scsi_io *io, struct scsi_result *res)
{
	uint64_t lba;
	uint32_t n;

	memset(res, 0, sizeof(*res));
	memset(io, 0, sizeof(*io));
	*din_len = 0;
	if (cdblen < 6 || din_max < 256)
		return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	switch (cdb[0]) {
	case 0x08: case 0x28: case 0xA8: case 0x88:   /* READ 6/10/12/16 */
		return scsi_rw(l, cdb, cdblen, false, din_total, io, res);
	case 0x0A: case 0x2A: case 0xAA: case 0x8A:   /* WRITE 6/10/12/16 */
		return scsi_rw(l, cdb, cdblen, true, dout_total, io, res);
	case 0x2F: case 0x8F:                         /* VERIFY: the medium is always fine */
		if (!scsi_lba_len(cdb, cdblen, &lba, &n) || !scsi_range_ok(l, lba, n))
			return scsi_bad(res, SKEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return SCSI_DONE;
	case 0x35: case 0x91:                         /* SYNCHRONIZE CACHE 10/16 */
		io->op = BLOCKIF_FLUSH;
		return SCSI_IO;
	case 0x42:
		return scsi_unmap(l, dout, dout_len, io, res);
	case 0x41: case 0x93:
		return scsi_write_same(l, cdb, cdblen, dout, dout_len, io, res);
	}
	enum scsi_action a = scsi_simple(l, cdb, din, din_len, res);
	size_t alloc = scsi_alloc_len(cdb);
	if (*din_len > alloc)
		*din_len = alloc;               /* the allocation length truncates */
	return a;
}

void scsi_io_result(const struct scsi_io *io, int err, struct scsi_result *res)
{
	memset(res, 0, sizeof(*res));
	if (err == 0)
		return;
	if (err == EROFS)
		scsi_sense(res, SKEY_DATA_PROTECT, ASC_WRITE_PROTECTED, 0);
	else if (err == EINVAL)
		scsi_sense(res, SKEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
	else if (err == EOPNOTSUPP)
		scsi_sense(res, SKEY_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
	else if (io->op == BLOCKIF_READ)
		scsi_sense(res, SKEY_MEDIUM_ERROR, ASC_READ_ERROR, 0);
	else if (io->op == BLOCKIF_WRITE)
		scsi_sense(res, SKEY_MEDIUM_ERROR, ASC_WRITE_ERROR, 0);
	else
		scsi_sense(res, SKEY_HARDWARE_ERROR, ASC_INTERNAL_FAILURE, 0);
}
