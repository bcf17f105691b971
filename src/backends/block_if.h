/*
 * Block backend shared by the disk emulations (virtio-blk, and any other that wants it): a file
 * or block device, opened as the options say (nocache -> O_DIRECT, direct -> O_SYNC,
 * ro -> O_RDONLY), served by a pool of worker threads so that several requests are in flight.
 * A request completes by calling its `done` callback on a worker thread, with 0 or an errno:
 *   EINVAL  the range is outside the disk (or not a whole number of bytes the op allows)
 *   EROFS   a write, discard or write-zeroes on a read-only disk
 *   EIO etc what the host returned
 * FLUSH completes only after fdatasync() returned, so every write that completed before the
 * flush was submitted is on stable storage.  blockif_close() waits for queued requests and
 * flushes, so written data is on disk before the process exits.
 */
#ifndef BHYVE_BLOCK_IF_H
#define BHYVE_BLOCK_IF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct blockif_ctxt;

enum blockif_op {
	BLOCKIF_READ,
	BLOCKIF_WRITE,
	BLOCKIF_FLUSH,
	BLOCKIF_DISCARD,        /* deallocate [offset, offset+len); content then unspecified */
	BLOCKIF_WRITE_ZEROES,   /* [offset, offset+len) reads back as zeroes */
};

struct blockif_req {
	enum blockif_op op;
	uint64_t offset;                /* bytes from the start of the disk */
	uint64_t len;                   /* DISCARD/WRITE_ZEROES: bytes; READ/WRITE: set by submit */
	struct iovec *iov;              /* READ/WRITE buffers; the sum of lengths is the size */
	int iovcnt;
	bool may_unmap;                 /* WRITE_ZEROES may deallocate (VIRTIO_BLK ..._FLAG_UNMAP) */
	void (*done)(struct blockif_req *req, int err);
	void *arg;                      /* for the caller */
	struct blockif_req *next;       /* internal */
};

struct blockif_opts {
	const char *path;
	bool nocache;                   /* O_DIRECT */
	bool direct;                    /* O_SYNC: each write is on stable storage when it completes */
	bool ro;
	bool nodelete;                  /* do not offer DISCARD */
	unsigned sectsz;                /* logical sector size; 0 = the device's, or 512 for a file */
	unsigned psectsz;               /* physical; 0 = the device's or the file system's block */
	int nworkers;                   /* 0 = default (BLOCKIF_NWORKERS) */
};

#define BLOCKIF_NWORKERS 8
#define BLOCKIF_MAXIOV   512
/* Largest bounce buffer a worker allocates for unaligned O_DIRECT (nocache) requests. */
#define BLOCKIF_BOUNCE_MAX (1u << 20)

/* The block keys of a device's config node (path, nocache, direct, ro, nodelete,
 * sectorsize=L[/P]) as options; 0, or -1 with a message (no path, bad sectorsize). */
typedef struct config_node config_node_t;
int blockif_opts_node(config_node_t *n, struct blockif_opts *o, char *err, size_t errlen);
/* The same with the backing path given apart (virtio-scsi takes it from another key). */
int blockif_opts_path(config_node_t *n, const char *path, struct blockif_opts *o, char *err,
		      size_t errlen);

/* Open the backend; NULL and a one-line message in err on failure. */
struct blockif_ctxt *blockif_open(const struct blockif_opts *opts, char *err, size_t errlen);
/* Queue a request; its done callback runs later on a worker.  0, or EBUSY once closing (then
 * done is not called). */
int blockif_submit(struct blockif_ctxt *bc, struct blockif_req *req);
/* Wait for every queued request, flush (unless read-only), stop the workers and close. */
void blockif_close(struct blockif_ctxt *bc);

uint64_t blockif_size(const struct blockif_ctxt *bc);     /* bytes */
unsigned blockif_sectsz(const struct blockif_ctxt *bc);
unsigned blockif_psectsz(const struct blockif_ctxt *bc);
bool blockif_is_ro(const struct blockif_ctxt *bc);
bool blockif_can_discard(const struct blockif_ctxt *bc);
bool blockif_can_write_zeroes(const struct blockif_ctxt *bc);
bool blockif_is_blockdev(const struct blockif_ctxt *bc);

#endif
