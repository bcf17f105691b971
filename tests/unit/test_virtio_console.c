/*
 * virtio-console with two UNIX-socket ports, made from its registration and config keys on a
 * VM's PCI bus and driven through the legacy transport: the MULTIPORT control handshake (DEVICE_READY -> DEVICE_ADD, PORT_READY ->
 * PORT_NAME + PORT_OPEN), data both ways, one client at a time, reconnect after a disconnect,
 * sockets removed at the end.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "unit.h"
#include "vtdev_test.h"

/* The MULTIPORT feature and control events (virtio 1.x 5.3), as a driver knows them. */
#define VIRTIO_CONSOLE_F_MULTIPORT 1
#define VTCON_DEVICE_READY  0
#define VTCON_DEVICE_ADD    1
#define VTCON_PORT_READY    3
#define VTCON_PORT_OPEN     6
#define VTCON_PORT_NAME     7

#define RAM_SIZE (4u << 20)
#define BUF_GPA  0x200000ULL

static uint8_t *ram;
static struct vtpci_state *vs;

struct dq { uint64_t desc, avail, used; uint16_t size, avail_idx, used_seen, next_desc; };
static struct dq q[6];

static void f_intx(void *c) { }
static const struct vtpci_intr_ops intr = { .intx_assert = f_intx };

static void q_setup(int i)
{
	uint64_t gpa = 0x10000ULL + 0x2000ULL * (uint64_t)i;
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_SEL, 2, i);
	q[i].size = (uint16_t)vtpci_legacy_read(vs, VTPCI_L_QUEUE_NUM, 2);
	q[i].desc = gpa;
	q[i].avail = gpa + 16ULL * q[i].size;
	q[i].used = (q[i].avail + 6 + 2ULL * q[i].size + 4095) & ~4095ULL;
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_PFN, 4, (uint32_t)(gpa / 4096));
}

/* Post one buffer of `len` bytes at a fresh address; returns its guest address. */
static uint64_t post(int i, uint32_t len, bool writable, const void *data)
{
	static uint64_t next = BUF_GPA;
	uint64_t a = next;
	next += 256;
	if (data)
		memcpy(ram + a, data, len);
	uint16_t d = q[i].next_desc++ % q[i].size;
	struct vring_desc desc = { a, len, writable ? VRING_DESC_F_WRITE : 0, 0 };
	memcpy(ram + q[i].desc + 16ULL * d, &desc, 16);
	uint16_t *av = (uint16_t *)(ram + q[i].avail);
	av[2 + q[i].avail_idx % q[i].size] = d;
	__atomic_store_n(&av[1], ++q[i].avail_idx, __ATOMIC_RELEASE);
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, i);
	return a;
}

static uint16_t used_idx(int i)
{
	return __atomic_load_n((uint16_t *)(ram + q[i].used) + 1, __ATOMIC_ACQUIRE);
}

/* Next used element of queue i (waits a bounded time): its buffer and length. */
static const uint8_t *next_used(int i, uint32_t *len)
{
	for (int t = 0; t < 60000 && used_idx(i) == q[i].used_seen; t++)
		usleep(1000);
	if (used_idx(i) == q[i].used_seen)
		return NULL;
	uint32_t *e = (uint32_t *)(ram + q[i].used + 4 + 8ULL * (q[i].used_seen++ % q[i].size));
	uint16_t d = (uint16_t)e[0];
	*len = e[1];
	struct vring_desc desc;
	memcpy(&desc, ram + q[i].desc + 16ULL * d, 16);
	return ram + desc.addr;
}

/* Expect control message {id, event, value} next on the control receive queue. */
static bool expect_ctl(uint32_t id, uint16_t ev, uint16_t val, const char *name)
{
	uint32_t len;
	const uint8_t *b = next_used(2, &len);
	if (!b)
		return false;
	uint32_t gid;
	uint16_t gev, gval;
	memcpy(&gid, b, 4);
	memcpy(&gev, b + 4, 2);
	memcpy(&gval, b + 6, 2);
	bool ok = gid == id && gev == ev && gval == val;
	if (name)
		ok = ok && len == 8 + strlen(name) && memcmp(b + 8, name, strlen(name)) == 0;
	if (!ok)
		fprintf(stderr, "ctl: got id %u ev %u val %u, want %u %u %u\n", gid, gev, gval, id,
			ev, val);
	post(2, 64, true, NULL);                      /* give the buffer back */
	return ok;
}

static void send_ctl(uint32_t id, uint16_t ev, uint16_t val)
{
	uint8_t m[8];
	memcpy(m, &id, 4);
	memcpy(m + 4, &ev, 2);
	memcpy(m + 6, &val, 2);
	post(3, 8, false, m);
}

static int client(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool readable_within(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, ms) == 1;
}

/* A one-port device on `path`, alone on the bus: false with the error in err. */
static bool one_port(const char *path, char *err, size_t errlen)
{
	uint8_t *r;
	config_reset();
	config_set("pci.0.8.0.device", "virtio-console");
	config_set("pci.0.8.0.port.p.path", path);
	return vtdev_open(8, RAM_SIZE, &intr, &r, err, errlen) != NULL;
}

/* What is at a port's path before bhyve starts: a stale socket is replaced, a file or a
 * socket somebody listens on is left alone (and reported), and no temporary name stays. */
static void test_socket_path(const char *dir)
{
	char path[96], tmp[112], err[256];
	snprintf(path, sizeof(path), "%s/port.sock", dir);
	snprintf(tmp, sizeof(tmp), "%s.bhyve~", path);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);

	int f = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	CHECK(f >= 0 && write(f, "keep", 4) == 4);
	close(f);
	CHECK(!one_port(path, err, sizeof(err)));
	CHECK(strstr(err, "not a socket") != NULL);
	struct stat st;
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4);
	CHECK(access(tmp, F_OK) < 0);
	unlink(path);

	int l = socket(AF_UNIX, SOCK_STREAM, 0);             /* somebody's live socket */
	CHECK(bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 1) == 0);
	CHECK(!one_port(path, err, sizeof(err)));
	CHECK(strstr(err, "listening") != NULL);
	int c = client(path);
	CHECK(c >= 0);                                       /* still theirs */
	if (c >= 0)
		close(c);
	CHECK(access(tmp, F_OK) < 0);
	close(l);                                            /* now a stale socket: replaced */
	CHECK(one_port(path, err, sizeof(err)));
	c = client(path);
	CHECK(c >= 0);
	if (c >= 0)
		close(c);
	CHECK(access(tmp, F_OK) < 0);
	vtdev_close();
	CHECK(access(path, F_OK) < 0);
}

int main(void)
{
	char err[256], dir[] = "/tmp/test_vtcon.XXXXXX", pa[64], pb[64];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(pa, sizeof(pa), "%s/alpha.sock", dir);
	snprintf(pb, sizeof(pb), "%s/beta.sock", dir);
	test_socket_path(dir);
	config_reset();
	config_set("pci.0.7.0.device", "virtio-console");
	config_set("pci.0.7.0.port.alpha.path", pa);
	config_set("pci.0.7.0.port.beta.path", pb);
	vs = vtdev_open(7, RAM_SIZE, &intr, &ram, err, sizeof(err));
	CHECK(vs != NULL);
	if (!vs) {
		fprintf(stderr, "%s\n", err);
		return unit_report("virtio_console");
	}
	struct stat st;
	CHECK(stat(pb, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK(vtpci_legacy_read(vs, VTPCI_L_HOST_FEATURES, 4) & (1u << VIRTIO_CONSOLE_F_MULTIPORT));
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 4, 4), 2);              /* max_nr_ports */

	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 3);
	vtpci_legacy_write(vs, VTPCI_L_GUEST_FEATURES, 4, 1u << VIRTIO_CONSOLE_F_MULTIPORT);
	for (int i = 0; i < 6; i++)
		q_setup(i);
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 7);
	for (int i = 0; i < 8; i++)
		post(2, 64, true, NULL);

	send_ctl(0, VTCON_DEVICE_READY, 1);
	CHECK(expect_ctl(0, VTCON_DEVICE_ADD, 0, NULL));
	CHECK(expect_ctl(1, VTCON_DEVICE_ADD, 0, NULL));
	send_ctl(1, VTCON_PORT_READY, 1);
	CHECK(expect_ctl(1, VTCON_PORT_NAME, 0, "beta"));
	CHECK(expect_ctl(1, VTCON_PORT_OPEN, 0, NULL));               /* no client yet */

	int c1 = client(pb);
	CHECK(c1 >= 0);
	CHECK(expect_ctl(1, VTCON_PORT_OPEN, 1, NULL));
	/* A second client while the first is connected is turned away. */
	int c2 = client(pb);
	char tmp[16];
	CHECK(c2 >= 0 && readable_within(c2, 3000) && read(c2, tmp, sizeof(tmp)) == 0);
	close(c2);

	/* Host -> guest once the guest opened the port and posted buffers. */
	send_ctl(1, VTCON_PORT_OPEN, 1);
	post(4, 64, true, NULL);
	CHECK_EQ(write(c1, "hello", 5), 5);
	uint32_t len;
	const uint8_t *b = next_used(4, &len);
	CHECK(b && len == 5 && memcmp(b, "hello", 5) == 0);
	/* More than one buffer holds: split over two. */
	post(4, 4, true, NULL);
	post(4, 64, true, NULL);
	CHECK_EQ(write(c1, "0123456789", 10), 10);
	b = next_used(4, &len);
	CHECK(b && len == 4 && memcmp(b, "0123", 4) == 0);
	b = next_used(4, &len);
	CHECK(b && len == 6 && memcmp(b, "456789", 6) == 0);

	/* Guest -> host. */
	post(5, 5, false, "world");
	CHECK(readable_within(c1, 3000));
	memset(tmp, 0, sizeof(tmp));
	CHECK_EQ(read(c1, tmp, sizeof(tmp)), 5);
	CHECK(memcmp(tmp, "world", 5) == 0);

	/* Disconnect, then a new client. */
	close(c1);
	CHECK(expect_ctl(1, VTCON_PORT_OPEN, 0, NULL));
	int c3 = client(pb);
	CHECK(c3 >= 0);
	CHECK(expect_ctl(1, VTCON_PORT_OPEN, 1, NULL));
	CHECK_EQ(write(c3, "again", 5), 5);
	post(4, 64, true, NULL);
	b = next_used(4, &len);
	CHECK(b && len == 5 && memcmp(b, "again", 5) == 0);

	/* Unknown control events and ids are ignored. */
	send_ctl(99, VTCON_PORT_READY, 1);
	send_ctl(0, 77, 1);
	CHECK_EQ(vtpci_legacy_read(vs, VTPCI_L_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);

	close(c3);
	vtdev_close();
	CHECK(stat(pa, &st) < 0 && stat(pb, &st) < 0);              /* sockets removed */
	rmdir(dir);
	return unit_report("virtio_console");
}
