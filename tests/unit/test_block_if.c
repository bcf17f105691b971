/*
 * Block backend on temporary files: concurrent reads and writes, flush, discard, write-zeroes,
 * read-only rejection, range checks, O_DIRECT with unaligned buffers, sector-size options.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/block_if.h"
#include "unit.h"

#define DISK (1 << 20)
#define NREQ 64
#define RLEN 4096

static char path[64];
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int completed;

struct treq {
	struct blockif_req r;
	struct iovec iov[2];
	int err;
};

static void on_done(struct blockif_req *r, int err)
{
	struct treq *t = r->arg;
	pthread_mutex_lock(&mtx);
	t->err = err;
	completed++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mtx);
}

static void wait_for(int n)
{
	pthread_mutex_lock(&mtx);
	while (completed < n)
		pthread_cond_wait(&cv, &mtx);
	completed = 0;
	pthread_mutex_unlock(&mtx);
}

static void make_disk(size_t size, int fill)
{
	strcpy(path, "/tmp/test_block_if.XXXXXX");
	int fd = mkstemp(path);
	char *buf = malloc(size);
	memset(buf, fill, size);
	CHECK_EQ(write(fd, buf, size), size);
	close(fd);
	free(buf);
}

/* Run one request synchronously; returns its error. */
static int run1(struct blockif_ctxt *bc, enum blockif_op op, uint64_t off, uint64_t len,
		void *buf, bool unmap)
{
	struct treq t = { .err = -1 };
	t.r.op = op;
	t.r.offset = off;
	t.r.len = len;
	t.r.may_unmap = unmap;
	t.iov[0].iov_base = buf;
	t.iov[0].iov_len = (size_t)len;
	t.r.iov = t.iov;
	t.r.iovcnt = buf ? 1 : 0;
	t.r.done = on_done;
	t.r.arg = &t;
	CHECK_EQ(blockif_submit(bc, &t.r), 0);
	wait_for(1);
	return t.err;
}

static void test_open_errors(void)
{
	char err[256] = "";
	struct blockif_opts o = { .path = "/nonexistent/disk.img" };
	CHECK(blockif_open(&o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/disk.img") != NULL);
	o.path = "/tmp";
	CHECK(blockif_open(&o, err, sizeof(err)) == NULL);   /* a directory */
	make_disk(DISK, 0);
	o.path = path;
	o.sectsz = 4096;
	o.psectsz = 512;                                     /* physical < logical */
	CHECK(blockif_open(&o, err, sizeof(err)) == NULL);
	o.psectsz = 16384;
	struct blockif_ctxt *bc = blockif_open(&o, err, sizeof(err));
	CHECK(bc != NULL);
	if (bc) {
		CHECK_EQ(blockif_sectsz(bc), 4096);
		CHECK_EQ(blockif_psectsz(bc), 16384);
		blockif_close(bc);
	}
	o.sectsz = o.psectsz = 0;
	bc = blockif_open(&o, err, sizeof(err));
	CHECK(bc != NULL);
	if (bc) {
		CHECK_EQ(blockif_size(bc), DISK);
		CHECK_EQ(blockif_sectsz(bc), 512);
		CHECK(blockif_psectsz(bc) >= 512);
		CHECK(!blockif_is_ro(bc));
		CHECK(blockif_can_discard(bc));
		CHECK(!blockif_is_blockdev(bc));
		blockif_close(bc);
	}
	unlink(path);
}

static void test_concurrent(void)
{
	char err[256];
	make_disk(DISK, 0);
	struct blockif_opts o = { .path = path, .nworkers = 4 };
	struct blockif_ctxt *bc = blockif_open(&o, err, sizeof(err));
	CHECK(bc != NULL);
	if (!bc)
		return;
	static struct treq t[NREQ];
	static uint8_t data[NREQ][RLEN], back[NREQ][RLEN];
	for (int i = 0; i < NREQ; i++) {
		memset(data[i], 0x40 + i, RLEN);
		data[i][0] = (uint8_t)i;
		t[i] = (struct treq){ .err = -1 };
		t[i].r.op = BLOCKIF_WRITE;
		t[i].r.offset = (uint64_t)(NREQ - 1 - i) * RLEN * 2;   /* scattered */
		t[i].iov[0] = (struct iovec){ data[i], 1000 };         /* two uneven pieces */
		t[i].iov[1] = (struct iovec){ data[i] + 1000, RLEN - 1000 };
		t[i].r.iov = t[i].iov;
		t[i].r.iovcnt = 2;
		t[i].r.done = on_done;
		t[i].r.arg = &t[i];
		CHECK_EQ(blockif_submit(bc, &t[i].r), 0);
	}
	wait_for(NREQ);
	for (int i = 0; i < NREQ; i++) {
		CHECK_EQ(t[i].err, 0);
		CHECK_EQ(t[i].r.len, RLEN);
	}
	CHECK_EQ(run1(bc, BLOCKIF_FLUSH, 0, 0, NULL, false), 0);
	/* Another descriptor sees the data; then read it back through the backend. */
	int fd = open(path, O_RDONLY);
	uint8_t chk[RLEN];
	int bad = 0;
	for (int i = 0; i < NREQ; i++) {
		if (pread(fd, chk, RLEN, (off_t)t[i].r.offset) != RLEN || memcmp(chk, data[i], RLEN))
			bad++;
	}
	close(fd);
	CHECK_EQ(bad, 0);
	for (int i = 0; i < NREQ; i++) {
		t[i].r.op = BLOCKIF_READ;
		t[i].iov[0] = (struct iovec){ back[i], 512 };
		t[i].iov[1] = (struct iovec){ back[i] + 512, RLEN - 512 };
		CHECK_EQ(blockif_submit(bc, &t[i].r), 0);
	}
	wait_for(NREQ);
	bad = 0;
	for (int i = 0; i < NREQ; i++)
		bad += t[i].err != 0 || memcmp(back[i], data[i], RLEN) != 0;
	CHECK_EQ(bad, 0);
	blockif_close(bc);
	unlink(path);
}

static void test_bounds(void)
{
	char err[256];
	uint8_t buf[1024];
	make_disk(DISK, 0x11);
	struct blockif_opts o = { .path = path };
	struct blockif_ctxt *bc = blockif_open(&o, err, sizeof(err));
	CHECK(bc != NULL);
	if (!bc)
		return;
	CHECK_EQ(run1(bc, BLOCKIF_READ, DISK - 512, 512, buf, false), 0);
	CHECK_EQ(buf[0], 0x11);
	CHECK_EQ(run1(bc, BLOCKIF_READ, DISK - 512, 1024, buf, false), EINVAL);
	CHECK_EQ(run1(bc, BLOCKIF_WRITE, DISK, 512, buf, false), EINVAL);
	CHECK_EQ(run1(bc, BLOCKIF_READ, ~0ULL - 100, 512, buf, false), EINVAL);
	CHECK_EQ(run1(bc, BLOCKIF_DISCARD, DISK - 4096, 8192, NULL, false), EINVAL);
	CHECK_EQ(run1(bc, BLOCKIF_WRITE_ZEROES, 4096, ~0ULL - 4000, NULL, false), EINVAL);
	CHECK_EQ(run1(bc, BLOCKIF_READ, DISK, 0, buf, false), 0);     /* empty at the end */
	blockif_close(bc);
	struct stat st;
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_size, DISK);                                    /* nothing grew the file */
	unlink(path);
}

static bool all_byte(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_discard_zeroes(void)
{
	char err[256];
	static uint8_t buf[65536];
	make_disk(DISK, 0x5A);
	int fd = open(path, O_RDWR);
	fsync(fd);
	struct stat st0, st1;
	fstat(fd, &st0);
	struct blockif_opts o = { .path = path };
	struct blockif_ctxt *bc = blockif_open(&o, err, sizeof(err));
	CHECK(bc != NULL);
	if (!bc)
		return;
	CHECK_EQ(run1(bc, BLOCKIF_DISCARD, 131072, 262144, NULL, false), 0);
	fstat(fd, &st1);
	CHECK(st1.st_blocks < st0.st_blocks);                          /* a hole was punched */
	CHECK_EQ(st1.st_size, DISK);
	CHECK_EQ(run1(bc, BLOCKIF_WRITE_ZEROES, 4096, 8192, NULL, false), 0);
	CHECK_EQ(run1(bc, BLOCKIF_WRITE_ZEROES, 32768, 4096, NULL, true), 0);
	CHECK_EQ(run1(bc, BLOCKIF_READ, 0, 65536, buf, false), 0);
	CHECK(all_byte(buf, 4096, 0x5A));
	CHECK(all_byte(buf + 4096, 8192, 0));
	CHECK(all_byte(buf + 12288, 32768 - 12288, 0x5A));
	CHECK(all_byte(buf + 32768, 4096, 0));
	CHECK(all_byte(buf + 36864, 65536 - 36864, 0x5A));
	blockif_close(bc);
	/* nodelete: no discard offered, and a discard is refused. */
	o.nodelete = true;
	bc = blockif_open(&o, err, sizeof(err));
	CHECK(bc && !blockif_can_discard(bc));
	if (bc) {
		CHECK_EQ(run1(bc, BLOCKIF_DISCARD, 0, 4096, NULL, false), EOPNOTSUPP);
		blockif_close(bc);
	}
	close(fd);
	unlink(path);
}

static void test_readonly(void)
{
	char err[256];
	uint8_t buf[512];
	make_disk(DISK, 0x22);
	chmod(path, 0444);
	struct blockif_opts o = { .path = path, .ro = true };
	struct blockif_ctxt *bc = blockif_open(&o, err, sizeof(err));
	CHECK(bc != NULL);
	if (!bc)
		return;
	CHECK(blockif_is_ro(bc));
	CHECK(!blockif_can_discard(bc));
	CHECK(!blockif_can_write_zeroes(bc));
	memset(buf, 0x99, sizeof(buf));
	CHECK_EQ(run1(bc, BLOCKIF_WRITE, 0, 512, buf, false), EROFS);
	CHECK_EQ(run1(bc, BLOCKIF_DISCARD, 0, 512, NULL, false), EROFS);
	CHECK_EQ(run1(bc, BLOCKIF_WRITE_ZEROES, 0, 512, NULL, false), EROFS);
	CHECK_EQ(run1(bc, BLOCKIF_FLUSH, 0, 0, NULL, false), 0);
	CHECK_EQ(run1(bc, BLOCKIF_READ, 0, 512, buf, false), 0);
	CHECK(all_byte(buf, 512, 0x22));
	blockif_close(bc);
	unlink(path);
}

static void test_nocache_direct(void)
{
	char err[256];
	make_disk(DISK, 0);
	struct blockif_opts o = { .path = path, .nocache = true, .direct = true };
	struct blockif_ctxt *bc = blockif_open(&o, err, sizeof(err));
	if (!bc) {                                   /* a file system without O_DIRECT */
		fprintf(stderr, "nocache skipped: %s\n", err);
		unlink(path);
		return;
	}
	uint8_t *raw = malloc(8192 + 1), *un = raw + 1;   /* deliberately unaligned */
	memset(un, 0x7E, 4096);
	CHECK_EQ(run1(bc, BLOCKIF_WRITE, 8192, 4096, un, false), 0);
	memset(un, 0, 4096);
	CHECK_EQ(run1(bc, BLOCKIF_READ, 8192, 4096, un, false), 0);
	CHECK(all_byte(un, 4096, 0x7E));
	void *al = NULL;
	CHECK_EQ(posix_memalign(&al, 4096, 4096), 0);
	CHECK_EQ(run1(bc, BLOCKIF_READ, 8192, 4096, al, false), 0);
	CHECK(all_byte(al, 4096, 0x7E));
	CHECK_EQ(run1(bc, BLOCKIF_READ, 100, 512, un, false), EINVAL);  /* not sector aligned */
	blockif_close(bc);
	free(al);
	free(raw);
	unlink(path);
}

static long status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = atol(line + strlen(key));
	if (f)
		fclose(f);
	return v;
}

/* Unaligned nocache requests larger than the bounce buffer: the data is right across chunk
 * boundaries, and a 256 MiB request (its buffers all one aliased 1 MiB buffer, as a guest
 * can make them) does not make the host allocate its length. */
static void test_nocache_big(void)
{
	char err[256];
	strcpy(path, "/tmp/test_block_if.XXXXXX");
	int fd = mkstemp(path);
	CHECK_EQ(ftruncate(fd, 256 << 20), 0);
	close(fd);
	struct blockif_opts o = { .path = path, .nocache = true };
	struct blockif_ctxt *bc = blockif_open(&o, err, sizeof(err));
	if (!bc) {
		fprintf(stderr, "nocache skipped: %s\n", err);
		unlink(path);
		return;
	}
	/* 3 MiB + 512 written from three odd-sized unaligned pieces, read back aligned. */
	size_t total = (3u << 20) + 512, l0 = 1000001, l1 = 1500007, l2 = total - l0 - l1;
	uint8_t *raw = malloc(total + 3), *p = raw + 3;
	for (size_t i = 0; i < total; i++)
		p[i] = (uint8_t)(i * 7 + i / 4096);
	struct treq t = { .err = -1 };
	struct iovec iov[3] = { { p, l0 }, { p + l0, l1 }, { p + l0 + l1, l2 } };
	t.r = (struct blockif_req){ .op = BLOCKIF_WRITE, .offset = 4096, .len = total, .iov = iov,
				    .iovcnt = 3, .done = on_done, .arg = &t };
	CHECK_EQ(blockif_submit(bc, &t.r), 0);
	wait_for(1);
	CHECK_EQ(t.err, 0);
	void *al = NULL;
	CHECK_EQ(posix_memalign(&al, 4096, total + 4096), 0);
	CHECK_EQ(run1(bc, BLOCKIF_READ, 4096, total, al, false), 0);
	CHECK(memcmp(al, p, total) == 0);
	memset(p, 0, total);
	t.r.op = BLOCKIF_READ;
	t.r.len = total;
	CHECK_EQ(blockif_submit(bc, &t.r), 0);                       /* unaligned read back */
	wait_for(1);
	CHECK_EQ(t.err, 0);
	CHECK(memcmp(al, p, total) == 0);
	/* 256 MiB through 256 aliased 1 MiB buffers: peak RSS grows by a few MiB, not 256. */
	struct iovec *big = calloc(256, sizeof(*big));
	for (int i = 0; i < 256; i++)
		big[i] = (struct iovec){ p, 1u << 20 };
	FILE *cr = fopen("/proc/self/clear_refs", "w");           /* "5": reset the peak */
	if (cr) {
		fputs("5", cr);
		fclose(cr);
	}
	long before = status_kib("VmRSS:");
	t.r = (struct blockif_req){ .op = BLOCKIF_READ, .offset = 0, .len = 256u << 20, .iov = big,
				    .iovcnt = 256, .done = on_done, .arg = &t };
	CHECK_EQ(blockif_submit(bc, &t.r), 0);
	wait_for(1);
	CHECK_EQ(t.err, 0);
	long peak = status_kib("VmHWM:");
	CHECK(before > 0 && peak > 0 && peak - before < 32 * 1024);
	blockif_close(bc);
	free(big);
	free(al);
	free(raw);
	unlink(path);
}

/* Data written before close is in the file afterwards (close flushes). */
static void test_close_flushes(void)
{
	char err[256];
	uint8_t buf[4096];
	make_disk(DISK, 0);
	struct blockif_opts o = { .path = path };
	struct blockif_ctxt *bc = blockif_open(&o, err, sizeof(err));
	CHECK(bc != NULL);
	if (!bc)
		return;
	memset(buf, 0xC3, sizeof(buf));
	CHECK_EQ(run1(bc, BLOCKIF_WRITE, DISK - 4096, 4096, buf, false), 0);
	blockif_close(bc);
	int fd = open(path, O_RDONLY);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(pread(fd, buf, 4096, DISK - 4096), 4096);
	CHECK(all_byte(buf, 4096, 0xC3));
	close(fd);
	unlink(path);
}

/* A loop device over a temp file: BLKGETSIZE64, BLKDISCARD, BLKZEROOUT paths.  Skipped where
 * loop devices cannot be made (containers without /dev/loop-control, no root). */
static void test_blockdev(void)
{
	char err[256], dev[32];
	int ctl = open("/dev/loop-control", O_RDWR);
	if (ctl < 0) {
		printf("block device test skipped: no /dev/loop-control\n");
		return;
	}
	int n = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	snprintf(dev, sizeof(dev), "/dev/loop%d", n);
	int lfd = n >= 0 ? open(dev, O_RDWR) : -1;
	make_disk(DISK, 0x66);
	int ffd = open(path, O_RDWR);
	if (lfd < 0 || ioctl(lfd, LOOP_SET_FD, ffd) < 0) {
		printf("block device test skipped: cannot attach %s\n", dev);
		if (lfd >= 0)
			close(lfd);
		close(ffd);
		unlink(path);
		return;
	}
	close(ffd);
	struct blockif_opts o = { .path = dev };
	struct blockif_ctxt *bc = blockif_open(&o, err, sizeof(err));
	CHECK(bc != NULL);
	if (bc) {
		static uint8_t buf[8192];
		CHECK(blockif_is_blockdev(bc));
		CHECK_EQ(blockif_size(bc), DISK);
		CHECK_EQ(blockif_sectsz(bc), 512);
		CHECK_EQ(run1(bc, BLOCKIF_WRITE_ZEROES, 8192, 8192, NULL, false), 0);
		CHECK_EQ(run1(bc, BLOCKIF_DISCARD, 65536, 65536, NULL, false), 0);
		CHECK_EQ(run1(bc, BLOCKIF_READ, 4096, 8192, buf, false), 0);
		CHECK(all_byte(buf, 4096, 0x66));
		CHECK(all_byte(buf + 4096, 4096, 0));
		CHECK_EQ(run1(bc, BLOCKIF_READ, DISK, 512, buf, false), EINVAL);
		blockif_close(bc);
	}
	ioctl(lfd, LOOP_CLR_FD, 0);
	close(lfd);
	unlink(path);
}

int main(void)
{
	test_open_errors();
	test_concurrent();
	test_bounds();
	test_discard_zeroes();
	test_readonly();
	test_nocache_direct();
	test_nocache_big();
	test_close_flushes();
	test_blockdev();
	return unit_report("block_if");
}
