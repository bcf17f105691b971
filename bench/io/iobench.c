/*
 * iobench: the guest side of `make bench-io`, a static program added to a copy of the default
 * guest's initramfs (/bin/iobench).  Each command times itself with CLOCK_MONOTONIC inside the
 * guest and prints one line "iobench: <what>=<value> bytes=<n> secs=<s>".
 *
 *   iobench read  DEV MIB    sequential O_DIRECT reads of 1 MiB from offset 0      -> MBps
 *   iobench write DEV MIB    sequential O_DIRECT writes of 1 MiB, then fdatasync    -> MBps
 *   iobench rand  DEV SECS   O_DIRECT 4 KiB reads at random 4 KiB-aligned offsets,
 *                            one at a time, for SECS seconds                        -> iops
 *   iobench tcprecv IP PORT  connect, read until the peer closes                    -> MBps
 *   iobench tcpsend IP PORT MIB  connect, send MIB MiB, half-close, wait for the peer to
 *                            close (so every byte has arrived)                      -> MBps
 *
 * MBps is 10^6 bytes per second.  Exit status 0 on success, 1 with a message on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IOB_BLK   (1u << 20)
#define IOB_SMALL 4096u
#define IOB_NETBUF (256u << 10)

static double iob_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int iob_fail(const char *what)
{
	fprintf(stderr, "iobench: %s: %s\n", what, strerror(errno));
	return 1;
}

static void iob_report(const char *what, double value, uint64_t bytes, double secs)
{
	printf("iobench: %s=%.2f bytes=%llu secs=%.3f\n", what, value,
	       (unsigned long long)bytes, secs);
}

static void *iob_buf(size_t len, unsigned seed)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, len) != 0)
		return NULL;
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i += 4) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		memcpy((char *)p + i, &x, 4);
	}
	return p;
}

static int iob_seq(const char *dev, long mib, int writing)
{
	int fd = open(dev, (writing ? O_WRONLY : O_RDONLY) | O_DIRECT);
	char *buf = iob_buf(IOB_BLK, 7);
	if (fd < 0 || !buf)
		return iob_fail(dev);
	double t0 = iob_now();
	for (long i = 0; i < mib; i++) {
		off_t off = (off_t)i * IOB_BLK;
		ssize_t n = writing ? pwrite(fd, buf, IOB_BLK, off) : pread(fd, buf, IOB_BLK, off);
		if (n != (ssize_t)IOB_BLK)
			return iob_fail(writing ? "write" : "read");
	}
	if (writing && fdatasync(fd) < 0)
		return iob_fail("fdatasync");
	double secs = iob_now() - t0;
	uint64_t bytes = (uint64_t)mib * IOB_BLK;
	iob_report(writing ? "write_MBps" : "read_MBps", (double)bytes / secs / 1e6, bytes, secs);
	close(fd);
	free(buf);
	return 0;
}

static int iob_rand(const char *dev, double limit)
{
	int fd = open(dev, O_RDONLY | O_DIRECT);
	char *buf = iob_buf(IOB_SMALL, 3);
	uint64_t size = 0;
	if (fd < 0 || !buf || ioctl(fd, BLKGETSIZE64, &size) < 0 || size < IOB_SMALL)
		return iob_fail(dev);
	uint64_t blocks = size / IOB_SMALL, x = 88172645463325252ull, n = 0;
	double t0 = iob_now(), t;
	do {
		for (int k = 0; k < 16; k++, n++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			if (pread(fd, buf, IOB_SMALL, (off_t)((x % blocks) * IOB_SMALL)) != IOB_SMALL)
				return iob_fail("read");
		}
		t = iob_now() - t0;
	} while (t < limit);
	iob_report("rand4k_iops", (double)n / t, n * IOB_SMALL, t);
	close(fd);
	free(buf);
	return 0;
}

static int iob_connect(const char *ip, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		errno = EINVAL;
		return -1;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return s;
}

/* Read until EOF; bytes read or -1. */
static int64_t iob_drain(int s, char *buf)
{
	int64_t total = 0;
	for (;;) {
		ssize_t n = read(s, buf, IOB_NETBUF);
		if (n == 0)
			return total;
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0)
			total += n;
	}
}

static int iob_tcp(const char *ip, const char *port, long mib)
{
	char *buf = iob_buf(IOB_NETBUF, 11);
	int s = iob_connect(ip, port);
	if (s < 0 || !buf)
		return iob_fail("connect");
	double t0 = iob_now();
	uint64_t bytes = 0, want = (uint64_t)mib << 20;
	while (bytes < want) {
		size_t len = want - bytes < IOB_NETBUF ? (size_t)(want - bytes) : IOB_NETBUF;
		ssize_t n = write(s, buf, len);
		if (n < 0 && errno != EINTR)
			return iob_fail("send");
		if (n > 0)
			bytes += (uint64_t)n;
	}
	if (mib > 0)
		shutdown(s, SHUT_WR);
	int64_t got = iob_drain(s, buf);
	if (got < 0)
		return iob_fail("recv");
	double secs = iob_now() - t0;
	bytes += (uint64_t)got;
	iob_report(mib > 0 ? "send_MBps" : "recv_MBps", (double)bytes / secs / 1e6, bytes, secs);
	close(s);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "read"))
		return iob_seq(argv[2], atol(argv[3]), 0);
	if (argc == 4 && !strcmp(argv[1], "write"))
		return iob_seq(argv[2], atol(argv[3]), 1);
	if (argc == 4 && !strcmp(argv[1], "rand"))
		return iob_rand(argv[2], atof(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "tcprecv"))
		return iob_tcp(argv[2], argv[3], 0);
	if (argc == 5 && !strcmp(argv[1], "tcpsend"))
		return iob_tcp(argv[2], argv[3], atol(argv[4]));
	fprintf(stderr, "usage: iobench read|write DEV MIB | rand DEV SECS | "
		"tcprecv IP PORT | tcpsend IP PORT MIB\n");
	return 1;
}
