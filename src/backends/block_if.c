/*
 * Block backend: a request queue served by worker threads doing preadv/pwritev, fdatasync,
 * fallocate (files) or BLKDISCARD/BLKZEROOUT (block devices).  See block_if.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/block_if.h"
#include "common/config.h"
#include "common/devconf.h"

struct blockif_ctxt {
	int fd;
	bool ro, nocache, blockdev, candelete;
	uint64_t size;
	unsigned sectsz, psectsz;
	unsigned dio_align;             /* O_DIRECT buffer/offset alignment */
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* work arrived or closing */
	struct blockif_req *head, *tail;
	bool closing;
	int nworkers;
	pthread_t workers[32];
};

static bool blockif_pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

/* Size and sector sizes of the opened file or device. */
static int blockif_probe(struct blockif_ctxt *bc, const struct blockif_opts *o, char *err,
			 size_t errlen)
{
	struct stat st;
	unsigned lsz = 512, psz = 512;

	if (fstat(bc->fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", o->path, strerror(errno));
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		int l = 0, p = 0;
		bc->blockdev = true;
		if (ioctl(bc->fd, BLKGETSIZE64, &bc->size) < 0 || ioctl(bc->fd, BLKSSZGET, &l) < 0 ||
		    ioctl(bc->fd, BLKPBSZGET, &p) < 0) {
			snprintf(err, errlen, "%s: %s", o->path, strerror(errno));
			return -1;
		}
		lsz = (unsigned)l;
		psz = (unsigned)p;
	} else if (S_ISREG(st.st_mode)) {
		bc->size = (uint64_t)st.st_size;
		if (st.st_blksize > 0 && blockif_pow2((unsigned)st.st_blksize) && st.st_blksize <= 32768)
			psz = (unsigned)st.st_blksize;
	} else {
		snprintf(err, errlen, "%s: not a regular file or block device", o->path);
		return -1;
	}
	if (o->sectsz) {
		/* The guest may not address units smaller than the device's own sector. */
		if (bc->blockdev && o->sectsz < lsz) {
			snprintf(err, errlen, "%s: sectorsize %u is smaller than the device's %u",
				 o->path, o->sectsz, lsz);
			return -1;
		}
		bc->sectsz = o->sectsz;
		bc->psectsz = o->psectsz ? o->psectsz : (psz > o->sectsz ? psz : o->sectsz);
	} else {
		bc->sectsz = lsz;
		bc->psectsz = psz < lsz ? lsz : psz;
	}
	bc->dio_align = lsz < 512 ? 512 : lsz;
	if (bc->psectsz < bc->sectsz || bc->psectsz % bc->sectsz) {
		snprintf(err, errlen, "%s: physical sector size %u is not a multiple of %u", o->path,
			 bc->psectsz, bc->sectsz);
		return -1;
	}
	return 0;
}

/* ---- I/O ---- */

static bool blockif_iov_aligned(const struct blockif_ctxt *bc, const struct blockif_req *r)
{
	if (r->offset % bc->dio_align)
		return false;
	for (int i = 0; i < r->iovcnt; i++)
		if (((uintptr_t)r->iov[i].iov_base | r->iov[i].iov_len) % bc->dio_align)
			return false;
	return true;
}

/* Full transfer of an iov array at `off`, looping over short reads/writes. */
static int blockif_rw_iov(struct blockif_ctxt *bc, bool write, struct iovec *iov, int cnt,
			  uint64_t off)
{
	struct iovec local[BLOCKIF_MAXIOV];
	int i = 0;

	if (cnt > BLOCKIF_MAXIOV)
		return EINVAL;
	memcpy(local, iov, sizeof(*iov) * (size_t)cnt);
	while (i < cnt) {
		ssize_t n = write ? pwritev(bc->fd, &local[i], cnt - i, (off_t)off)
				  : preadv(bc->fd, &local[i], cnt - i, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			return EIO;     /* the file shrank under us */
		off += (uint64_t)n;
		while (i < cnt && (size_t)n >= local[i].iov_len) {
			n -= (ssize_t)local[i].iov_len;
			i++;
		}
		if (i < cnt) {
			local[i].iov_base = (uint8_t *)local[i].iov_base + n;
			local[i].iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* Copy `n` bytes between the request's buffers, from byte `pos` of them, and `buf`. */
static void blockif_iov_copy(const struct blockif_req *r, uint64_t pos, uint8_t *buf, size_t n,
			     bool to_buf)
{
	for (int i = 0; i < r->iovcnt && n; i++) {
		size_t l = r->iov[i].iov_len;
		if (pos >= l) {
			pos -= l;
			continue;
		}
		size_t k = l - pos < n ? l - (size_t)pos : n;
		uint8_t *g = (uint8_t *)r->iov[i].iov_base + pos;
		if (to_buf)
			memcpy(buf, g, k);
		else
			memcpy(g, buf, k);
		buf += k;
		n -= k;
		pos = 0;
	}
}

/* O_DIRECT with guest buffers that are not aligned: go through an aligned bounce buffer of
 * at most BLOCKIF_BOUNCE_MAX bytes, a chunk at a time, so a request of any size (a guest's
 * can be near 4 GiB) costs the host a bounded amount of memory per worker. */
static int blockif_rw_bounce(struct blockif_ctxt *bc, struct blockif_req *r, bool write)
{
	uint64_t len = r->len;
	size_t chunk = BLOCKIF_BOUNCE_MAX / bc->dio_align * bc->dio_align;
	void *buf;

	if (r->offset % bc->dio_align || len % bc->dio_align)
		return EINVAL;  /* the device cannot address this unit */
	if (chunk == 0)
		chunk = bc->dio_align;
	if (posix_memalign(&buf, bc->dio_align > 4096 ? bc->dio_align : 4096, chunk))
		return ENOMEM;
	int e = 0;
	for (uint64_t pos = 0; pos < len && !e; pos += chunk) {
		size_t n = len - pos < chunk ? (size_t)(len - pos) : chunk;
		struct iovec one = { buf, n };
		if (write) {
			blockif_iov_copy(r, pos, buf, n, true);
			e = blockif_rw_iov(bc, true, &one, 1, r->offset + pos);
		} else {
			e = blockif_rw_iov(bc, false, &one, 1, r->offset + pos);
			if (!e)
				blockif_iov_copy(r, pos, buf, n, false);
		}
	}
	free(buf);
	return e;
}

static int blockif_rw(struct blockif_ctxt *bc, struct blockif_req *r, bool write)
{
	if (r->len == 0)
		return 0;
	if (bc->nocache && !blockif_iov_aligned(bc, r))
		return blockif_rw_bounce(bc, r, write);
	return blockif_rw_iov(bc, write, r->iov, r->iovcnt, r->offset);
}

/* Write zeroes the slow way, when the file system has no ZERO_RANGE. */
static int blockif_write_zero_buf(struct blockif_ctxt *bc, uint64_t off, uint64_t len)
{
	const size_t chunk = 1 << 20;
	void *buf;

	if (posix_memalign(&buf, 4096, chunk))
		return ENOMEM;
	memset(buf, 0, chunk);
	int e = 0;
	while (len && !e) {
		size_t n = len < chunk ? (size_t)len : chunk;
		struct iovec one = { buf, n };
		e = blockif_rw_iov(bc, true, &one, 1, off);
		off += n;
		len -= n;
	}
	free(buf);
	return e;
}

static int blockif_discard(struct blockif_ctxt *bc, struct blockif_req *r)
{
	if (!bc->candelete)
		return EOPNOTSUPP;
	if (bc->blockdev) {
		uint64_t range[2] = { r->offset, r->len };
		return ioctl(bc->fd, BLKDISCARD, range) < 0 ? errno : 0;
	}
	if (fallocate(bc->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r->offset,
		      (off_t)r->len) < 0 && errno != EOPNOTSUPP)
		return errno;
	return 0;       /* a discard is a hint: a file system without holes just keeps the data */
}

static int blockif_write_zeroes(struct blockif_ctxt *bc, struct blockif_req *r)
{
	if (bc->blockdev) {
		uint64_t range[2] = { r->offset, r->len };
		if (ioctl(bc->fd, BLKZEROOUT, range) == 0)
			return 0;
		if (errno != EOPNOTSUPP && errno != ENOTTY)
			return errno;
		return blockif_write_zero_buf(bc, r->offset, r->len);
	}
	int mode = (r->may_unmap && bc->candelete) ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
						   : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	if (fallocate(bc->fd, mode, (off_t)r->offset, (off_t)r->len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return errno;
	return blockif_write_zero_buf(bc, r->offset, r->len);
}

/* Range and permission checks common to every op. */
static int blockif_check(struct blockif_ctxt *bc, struct blockif_req *r)
{
	if (r->op == BLOCKIF_FLUSH)
		return 0;
	if (bc->ro && r->op != BLOCKIF_READ)
		return EROFS;
	if (r->offset > bc->size || r->len > bc->size - r->offset)
		return EINVAL;
	return 0;
}

static int blockif_exec(struct blockif_ctxt *bc, struct blockif_req *r)
{
	int e = blockif_check(bc, r);
	if (e)
		return e;
	switch (r->op) {
	case BLOCKIF_READ:
		return blockif_rw(bc, r, false);
	case BLOCKIF_WRITE:
		return blockif_rw(bc, r, true);
	case BLOCKIF_FLUSH:
		if (bc->ro)
			return 0;
		return fdatasync(bc->fd) < 0 ? errno : 0;
	case BLOCKIF_DISCARD:
		return blockif_discard(bc, r);
	case BLOCKIF_WRITE_ZEROES:
		return blockif_write_zeroes(bc, r);
	}
	return EINVAL;
}

static void *blockif_worker(void *arg)
{
	struct blockif_ctxt *bc = arg;

	pthread_mutex_lock(&bc->lock);
	for (;;) {
		while (!bc->head && !bc->closing)
			pthread_cond_wait(&bc->cond, &bc->lock);
		struct blockif_req *r = bc->head;
		if (!r)
			break;          /* closing and drained */
		bc->head = r->next;
		if (!bc->head)
			bc->tail = NULL;
		pthread_mutex_unlock(&bc->lock);
		int e = blockif_exec(bc, r);
		r->done(r, e);
		pthread_mutex_lock(&bc->lock);
	}
	pthread_mutex_unlock(&bc->lock);
	return NULL;
}

int blockif_submit(struct blockif_ctxt *bc, struct blockif_req *req)
{
	if (req->op == BLOCKIF_READ || req->op == BLOCKIF_WRITE) {
		uint64_t len = 0;
		for (int i = 0; i < req->iovcnt; i++)
			len += req->iov[i].iov_len;
		req->len = len;
	}
	req->next = NULL;
	pthread_mutex_lock(&bc->lock);
	if (bc->closing) {
		pthread_mutex_unlock(&bc->lock);
		return EBUSY;
	}
	if (bc->tail)
		bc->tail->next = req;
	else
		bc->head = req;
	bc->tail = req;
	pthread_cond_signal(&bc->cond);
	pthread_mutex_unlock(&bc->lock);
	return 0;
}

/* ---- Life ---- */

static int blockif_start(struct blockif_ctxt *bc, int n, char *err, size_t errlen)
{
	if (n <= 0)
		n = BLOCKIF_NWORKERS;
	if (n > (int)(sizeof(bc->workers) / sizeof(bc->workers[0])))
		n = (int)(sizeof(bc->workers) / sizeof(bc->workers[0]));
	for (int i = 0; i < n; i++) {
		int e = pthread_create(&bc->workers[i], NULL, blockif_worker, bc);
		if (e) {
			snprintf(err, errlen, "block worker threads: %s", strerror(e));
			return -1;
		}
		bc->nworkers++;
	}
	return 0;
}

static void blockif_stop(struct blockif_ctxt *bc)
{
	pthread_mutex_lock(&bc->lock);
	bc->closing = true;
	pthread_cond_broadcast(&bc->cond);
	pthread_mutex_unlock(&bc->lock);
	for (int i = 0; i < bc->nworkers; i++)
		pthread_join(bc->workers[i], NULL);
	bc->nworkers = 0;
}

static void blockif_free(struct blockif_ctxt *bc)
{
	if (bc->fd >= 0)
		close(bc->fd);
	pthread_cond_destroy(&bc->cond);
	pthread_mutex_destroy(&bc->lock);
	free(bc);
}

int blockif_opts_node(config_node_t *n, struct blockif_opts *o, char *err, size_t errlen)
{
	return blockif_opts_path(n, config_node_get(n, "path"), o, err, errlen);
}

int blockif_opts_path(config_node_t *n, const char *path, struct blockif_opts *o, char *err,
		      size_t errlen)
{
	const char *ss = config_node_get(n, "sectorsize");

	*o = (struct blockif_opts){
		.path = path,
		.nocache = config_node_get_bool(n, "nocache", false),
		.direct = config_node_get_bool(n, "direct", false),
		.ro = config_node_get_bool(n, "ro", false),
		.nodelete = config_node_get_bool(n, "nodelete", false),
	};
	if (ss && devconf_parse_sectorsize(ss, &o->sectsz, &o->psectsz) < 0) {
		snprintf(err, errlen, "sectorsize=%s: expected logical[/physical]", ss);
		return -1;
	}
	if (!path || !*path) {
		snprintf(err, errlen, "a backing file or device path is required");
		return -1;
	}
	return 0;
}

struct blockif_ctxt *blockif_open(const struct blockif_opts *o, char *err, size_t errlen)
{
	struct blockif_ctxt *bc = calloc(1, sizeof(*bc));
	if (!bc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&bc->lock, NULL);
	pthread_cond_init(&bc->cond, NULL);
	int flags = (o->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (o->nocache)
		flags |= O_DIRECT;
	if (o->direct)
		flags |= O_SYNC;
	bc->fd = o->path ? open(o->path, flags) : -1;
	if (bc->fd < 0) {
		snprintf(err, errlen, "%s: %s", o->path ? o->path : "(no path)", strerror(errno));
		blockif_free(bc);
		return NULL;
	}
	bc->ro = o->ro;
	bc->nocache = o->nocache;
	bc->candelete = !o->nodelete && !o->ro;
	if (blockif_probe(bc, o, err, errlen) < 0 || blockif_start(bc, o->nworkers, err, errlen) < 0) {
		blockif_stop(bc);
		blockif_free(bc);
		return NULL;
	}
	return bc;
}

void blockif_close(struct blockif_ctxt *bc)
{
	if (!bc)
		return;
	blockif_stop(bc);
	if (!bc->ro)
		fdatasync(bc->fd);
	blockif_free(bc);
}

uint64_t blockif_size(const struct blockif_ctxt *bc) { return bc->size; }
unsigned blockif_sectsz(const struct blockif_ctxt *bc) { return bc->sectsz; }
unsigned blockif_psectsz(const struct blockif_ctxt *bc) { return bc->psectsz; }
bool blockif_is_ro(const struct blockif_ctxt *bc) { return bc->ro; }
bool blockif_can_discard(const struct blockif_ctxt *bc) { return bc->candelete; }
bool blockif_can_write_zeroes(const struct blockif_ctxt *bc) { return !bc->ro; }
bool blockif_is_blockdev(const struct blockif_ctxt *bc) { return bc->blockdev; }
