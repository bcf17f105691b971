/* The VARS flash: OVMF's probe sequence, program and erase reaching the file, hostile offsets
 * and sizes, bad files. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pci/pflash.h"
#include "unit.h"

static uint64_t rd(struct pflash *pf, uint64_t off, int size)
{
	uint64_t v = 0x1234;
	pflash_access(pf, 0, off, size, &v);
	return v;
}

static void wr(struct pflash *pf, uint64_t off, int size, uint64_t v)
{
	pflash_access(pf, 1, off, size, &v);
}

static char *tmpfile_with(size_t size, uint8_t fill)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/test_pflash.%d", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t *b = malloc(size ? size : 1);
	memset(b, fill, size);
	CHECK_EQ(write(fd, b, size), size);
	close(fd);
	free(b);
	return path;
}

static void test_commands(void)
{
	char err[256];
	char *path = tmpfile_with(8192, 0x5A);
	struct pflash *pf = pflash_create(NULL, path, 0x100000000ull, 1 << 20, err, sizeof(err));
	CHECK(pf != NULL);
	if (!pf)
		return;
	CHECK_EQ(pflash_size(pf), 8192);
	/* OVMF's probe: clear status leaves read-array (not RAM), read status reads 0 */
	CHECK_EQ(rd(pf, 0, 1), 0x5A);
	wr(pf, 0, 1, 0x50);
	CHECK_EQ(rd(pf, 0, 1), 0x5A);
	wr(pf, 0, 1, 0x70);
	CHECK_EQ(rd(pf, 0, 1), 0x00);
	wr(pf, 0, 1, 0xFF);
	CHECK_EQ(rd(pf, 0, 4), 0x5A5A5A5A);
	/* program a byte: status ready, then read array shows it */
	wr(pf, 5, 1, 0x10);
	wr(pf, 5, 1, 0x12);
	CHECK_EQ(rd(pf, 5, 1), 0x80);
	wr(pf, 5, 1, 0xFF);
	CHECK_EQ(rd(pf, 5, 1), 0x12);
	/* erase the second block */
	wr(pf, 4097, 1, 0x20);
	wr(pf, 4097, 1, 0xD0);
	wr(pf, 0, 1, 0xFF);
	CHECK_EQ(rd(pf, 4096, 8), ~0ull);
	CHECK_EQ(rd(pf, 8184, 8), ~0ull);
	CHECK_EQ(rd(pf, 4095, 1), 0x5A);
	/* erase with a wrong confirm: error bits, nothing erased */
	wr(pf, 0, 1, 0x20);
	wr(pf, 0, 1, 0x33);
	CHECK_EQ(rd(pf, 0, 1) & 0x30, 0x30);
	wr(pf, 0, 1, 0x50);
	CHECK_EQ(rd(pf, 0, 1), 0x5A);
	/* identifier */
	wr(pf, 0, 1, 0x90);
	CHECK_EQ(rd(pf, 0, 1), 0x89);
	wr(pf, 0, 1, 0xFF);
	/* out of range or odd sizes: reads all ones, writes ignored */
	CHECK_EQ(rd(pf, 8192, 1), ~0ull);
	CHECK_EQ(rd(pf, 8190, 4), ~0ull);
	CHECK_EQ(rd(pf, ~0ull, 1), ~0ull);
	CHECK_EQ(rd(pf, 0, 16), ~0ull);
	wr(pf, 8190, 1, 0x10);
	wr(pf, 8190, 4, 0x11111111);       /* crosses the end: dropped, still in program mode */
	wr(pf, 8191, 1, 0x77);
	wr(pf, 0, 1, 0xFF);
	CHECK_EQ(rd(pf, 8190, 2), 0x77FF);
	pflash_destroy(pf);
	/* the file has what was programmed and erased */
	int fd = open(path, O_RDONLY);
	uint8_t b[8192];
	CHECK_EQ(read(fd, b, sizeof(b)), sizeof(b));
	close(fd);
	CHECK_EQ(b[5], 0x12);
	CHECK_EQ(b[4], 0x5A);
	CHECK_EQ(b[4096], 0xFF);
	CHECK_EQ(b[8191], 0x77);
	unlink(path);
}

static void test_bad_files(void)
{
	char err[256];
	char *path = tmpfile_with(5000, 0);
	CHECK(pflash_create(NULL, path, 0x100000000ull, 1 << 20, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "multiple of 4 KiB") != NULL);
	path = tmpfile_with(0, 0);
	CHECK(pflash_create(NULL, path, 0x100000000ull, 1 << 20, err, sizeof(err)) == NULL);
	path = tmpfile_with(8192, 0);
	CHECK(pflash_create(NULL, path, 0x100000000ull, 4096, err, sizeof(err)) == NULL);
	unlink(path);
	CHECK(pflash_create(NULL, path, 0x100000000ull, 1 << 20, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "No such file") != NULL);
}

int main(void)
{
	test_commands();
	test_bad_files();
	return unit_report("pflash");
}
