/*
 * An in-process SCSI target for virtio-scsi: a direct-access block device (SBC) per LUN on an
 * image file, answering the commands Linux's sd and the SCSI midlayer issue (TEST UNIT READY,
 * INQUIRY with VPD pages, MODE SENSE, READ CAPACITY, READ/WRITE 6/10/16, SYNCHRONIZE CACHE,
 * UNMAP, WRITE SAME, REPORT LUNS, REQUEST SENSE, START STOP UNIT...).  Everything else gets
 * CHECK CONDITION / ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE, as a disk would.
 *
 * scsi_cmd() is pure: it decodes the CDB, fills data-in for the commands answered at once, and
 * for media access describes the block operation for the caller to run (asynchronously).
 */
#ifndef BHYVE_VIRTIO_SCSI_TARGET_H
#define BHYVE_VIRTIO_SCSI_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/block_if.h"

#define SCSI_STATUS_GOOD            0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SCSI_SENSE_LEN              18

/* Sense keys and additional sense codes we use. */
#define SKEY_NO_SENSE        0x0
#define SKEY_NOT_READY       0x2
#define SKEY_MEDIUM_ERROR    0x3
#define SKEY_HARDWARE_ERROR  0x4
#define SKEY_ILLEGAL_REQUEST 0x5
#define SKEY_DATA_PROTECT    0x7
#define ASC_INVALID_OPCODE   0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD    0x24
#define ASC_LUN_NOT_SUPPORTED 0x25
#define ASC_INVALID_PARAM    0x26
#define ASC_WRITE_PROTECTED  0x27
#define ASC_READ_ERROR       0x11
#define ASC_WRITE_ERROR      0x0C
#define ASC_INTERNAL_FAILURE 0x44

struct scsi_lun_info {
	uint64_t nblocks;             /* logical blocks */
	unsigned blksz;               /* logical block size */
	unsigned pblk_exp;            /* physical block = blksz << pblk_exp */
	bool ro;
	bool can_unmap;
	char serial[21];              /* unit serial number (VPD 0x80) */
	uint64_t naa;                 /* device identifier (VPD 0x83), NAA 6 low bits */
};

struct scsi_result {
	uint8_t status;
	uint8_t sense[SCSI_SENSE_LEN];
	int sense_len;                /* 0 unless CHECK CONDITION */
};

/* What the caller does next. */
enum scsi_action {
	SCSI_DONE,                    /* result (and data-in) are final */
	SCSI_IO,                      /* run `io` on the backend, then scsi_io_result() */
};

struct scsi_io {
	enum blockif_op op;
	uint64_t offset, len;         /* bytes */
	bool may_unmap;
	bool data_in;                 /* READ: data goes to the data-in buffers */
};

/* Execute a CDB.  dout/dout_len: the start of the data-out buffer (parameter lists);
 * dout_total / din_total: the sizes of the whole data-out / data-in buffers; din/din_max: where
 * immediate data-in goes (*din_len: how much).  For SCSI_IO the media transfer is io->len bytes
 * at io->offset, which never exceeds the buffer the initiator provided. */
enum scsi_action scsi_cmd(const struct scsi_lun_info *lun, const uint8_t *cdb, size_t cdblen,
			  const uint8_t *dout, size_t dout_len, uint64_t dout_total,
			  uint64_t din_total, uint8_t *din, size_t din_max, size_t *din_len,
			  struct scsi_io *io, struct scsi_result *res);
/* Turn a backend completion (0 or errno) of `io` into the SCSI result. */
void scsi_io_result(const struct scsi_io *io, int err, struct scsi_result *res);
/* CHECK CONDITION with fixed-format sense. */
void scsi_sense(struct scsi_result *res, uint8_t key, uint8_t asc, uint8_t ascq);

#endif
