/*
 * virtio-scsi with the in-process target on an image file, made from its registration and
 * config keys on a VM's PCI bus and driven through the legacy transport: the commands Linux's sd issues (INQUIRY + VPD, READ CAPACITY, MODE SENSE,
 * READ/WRITE, SYNCHRONIZE CACHE, UNMAP, WRITE SAME, REPORT LUNS), sense data for bad ones,
 * other LUNs and targets, task management, a read-only LUN.
 */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pci/virtio_scsi_target.h"
#include "unit.h"
#include "vtdev_test.h"

/* virtio-scsi request and response sizes, response codes (virtio 1.x 5.6), as a driver knows
 * them with the cdb_size and sense_size the device's config space offers. */
#define VTSCSI_CDB_SIZE  32
#define VTSCSI_SENSE_SIZE 96
#define VTSCSI_REQ_SIZE  (19 + VTSCSI_CDB_SIZE)
#define VTSCSI_RESP_SIZE (12 + VTSCSI_SENSE_SIZE)
#define VIRTIO_SCSI_S_OK         0
#define VIRTIO_SCSI_S_BAD_TARGET 3
#define VIRTIO_SCSI_S_FAILURE    9

#define RAM_SIZE (4u << 20)
#define REQ_GPA  0x100000ULL
#define DOUT_GPA 0x110000ULL
#define RESP_GPA 0x120000ULL
#define DIN_GPA  0x130000ULL
#define HOLD_GPA 0x200000ULL      /* a page whose first touch blocks (userfaultfd) */
#define DISK     (1u << 20)

static uint8_t *ram;
static char path[64];
static struct vtpci_state *vs;

struct dq { uint64_t desc, avail, used; uint16_t size, avail_idx, used_seen; };
static struct dq q[3];

static void f_intx(void *c) { }
static const struct vtpci_intr_ops intr = { .intx_assert = f_intx };

static void q_setup(int i)
{
	uint64_t gpa = 0x10000ULL + 0x4000ULL * (uint64_t)i;
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_SEL, 2, i);
	q[i].size = (uint16_t)vtpci_legacy_read(vs, VTPCI_L_QUEUE_NUM, 2);
	q[i].desc = gpa;
	q[i].avail = gpa + 16ULL * q[i].size;
	q[i].used = (q[i].avail + 6 + 2ULL * q[i].size + 4095) & ~4095ULL;
	q[i].avail_idx = q[i].used_seen = 0;
	memset(ram + gpa, 0, 0x4000);
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_PFN, 4, (uint32_t)(gpa / 4096));
}

static void set_desc(int qi, int d, uint64_t a, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc desc = { a, len, flags, next };
	memcpy(ram + q[qi].desc + 16ULL * d, &desc, 16);
}

static void post(int qi, uint16_t head);

/* Wait (a generous last guard) for the next used entry of queue qi; its length in *ulen. */
static bool wait_used(int qi, uint32_t *ulen)
{
	uint16_t *u = (uint16_t *)(ram + q[qi].used);
	for (int t = 0; t < 60000 && __atomic_load_n(&u[1], __ATOMIC_ACQUIRE) == q[qi].used_seen; t++)
		usleep(1000);
	if (__atomic_load_n(&u[1], __ATOMIC_ACQUIRE) == q[qi].used_seen)
		return false;
	uint32_t *e = (uint32_t *)(ram + q[qi].used + 4 + 8ULL * (q[qi].used_seen++ % q[qi].size));
	*ulen = e[1];
	return true;
}

static bool run_chain(int qi, uint16_t head, uint32_t *ulen)
{
	post(qi, head);
	return wait_used(qi, ulen);
}

struct resp { uint32_t sense_len, resid, ulen; uint8_t status, response; uint8_t *sense; };

/* One command to target `tgt`, LUN `lun`. */
static struct resp cmd(int tgt, int lun, const uint8_t *cdb, size_t cdblen, const void *dout,
		       uint32_t doutlen, uint32_t dincap)
{
	uint8_t *req = ram + REQ_GPA;
	memset(req, 0, VTSCSI_REQ_SIZE);
	req[0] = 1;
	req[1] = (uint8_t)tgt;
	req[2] = (uint8_t)(0x40 | (lun >> 8));
	req[3] = (uint8_t)lun;
	memcpy(req + 19, cdb, cdblen);
	memset(ram + RESP_GPA, 0xEE, VTSCSI_RESP_SIZE);
	memset(ram + DIN_GPA, 0, dincap + 16);
	int d = 0;
	set_desc(2, d, REQ_GPA, VTSCSI_REQ_SIZE, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
	d++;
	if (doutlen) {
		memcpy(ram + DOUT_GPA, dout, doutlen);
		set_desc(2, d, DOUT_GPA, doutlen, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
		d++;
	}
	set_desc(2, d, RESP_GPA, VTSCSI_RESP_SIZE, VRING_DESC_F_WRITE | (dincap ? VRING_DESC_F_NEXT : 0),
		 (uint16_t)(d + 1));
	d++;
	if (dincap)
		set_desc(2, d, DIN_GPA, dincap, VRING_DESC_F_WRITE, 0);
	struct resp r = { 0 };
	if (!run_chain(2, 0, &r.ulen)) {
		r.response = 0xDD;
		return r;
	}
	uint8_t *p = ram + RESP_GPA;
	memcpy(&r.sense_len, p, 4);
	memcpy(&r.resid, p + 4, 4);
	r.status = p[10];
	r.response = p[11];
	r.sense = p + 12;
	return r;
}

static uint8_t *din(void) { return ram + DIN_GPA; }

static void make_disk(int fill)
{
	strcpy(path, "/tmp/test_vtscsi.XXXXXX");
	int fd = mkstemp(path);
	uint8_t *b = malloc(DISK);
	memset(b, fill, DISK);
	CHECK_EQ(write(fd, b, DISK), DISK);
	free(b);
	close(fd);
}

static struct vtpci_state *start(bool ro)
{
	char err[256];
	config_reset();
	config_set("pci.0.6.0.device", "virtio-scsi");
	config_set("pci.0.6.0.dev", path);
	config_set("pci.0.6.0.ro", ro ? "true" : "false");
	vs = vtdev_open(6, RAM_SIZE, &intr, &ram, err, sizeof(err));
	CHECK(vs != NULL);
	if (!vs) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 3);
	vtpci_legacy_write(vs, VTPCI_L_GUEST_FEATURES, 4, 0);
	for (int i = 0; i < 3; i++)
		q_setup(i);
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 7);
	return vs;
}

static bool check_sense(struct resp r, uint8_t key, uint8_t asc)
{
	bool ok = r.response == VIRTIO_SCSI_S_OK && r.status == SCSI_STATUS_CHECK_CONDITION &&
		  r.sense_len == SCSI_SENSE_LEN && r.sense[0] == 0x70 && r.sense[2] == key &&
		  r.sense[12] == asc;
	if (!ok)
		fprintf(stderr, "sense: resp %u status %u key %u asc 0x%x\n", r.response, r.status,
			r.sense[2], r.sense[12]);
	return ok;
}

static bool good(struct resp r)
{
	return r.response == VIRTIO_SCSI_S_OK && r.status == SCSI_STATUS_GOOD && r.sense_len == 0;
}

static void test_identify(void)
{
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 0, 4), 1);                 /* num_queues */
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 20, 4), VTSCSI_SENSE_SIZE);
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 24, 4), VTSCSI_CDB_SIZE);
	uint8_t tur[6] = { 0 };
	CHECK(good(cmd(0, 0, tur, 6, NULL, 0, 0)));
	uint8_t inq[6] = { 0x12, 0, 0, 0, 96, 0 };
	struct resp r = cmd(0, 0, inq, 6, NULL, 0, 96);
	CHECK(good(r));
	CHECK_EQ(r.ulen, VTSCSI_RESP_SIZE + 36);
	CHECK_EQ(r.resid, 96 - 36);
	CHECK_EQ(din()[0], 0);                                            /* disk */
	CHECK(memcmp(din() + 8, "BHYVE", 5) == 0);
	inq[4] = 5;                                                       /* allocation length */
	r = cmd(0, 0, inq, 6, NULL, 0, 96);
	CHECK(good(r) && r.ulen == VTSCSI_RESP_SIZE + 5);
	uint8_t vpd[6] = { 0x12, 1, 0x00, 0, 255, 0 };
	CHECK(good(cmd(0, 0, vpd, 6, NULL, 0, 255)));
	CHECK(din()[1] == 0 && din()[3] == 6 && din()[5] == 0x80 && din()[9] == 0xB2);
	vpd[2] = 0x80;
	CHECK(good(cmd(0, 0, vpd, 6, NULL, 0, 255)));
	CHECK(memcmp(din() + 4, "BHYVE-", 6) == 0);
	vpd[2] = 0xB0;
	CHECK(good(cmd(0, 0, vpd, 6, NULL, 0, 255)));
	CHECK_EQ(din()[27], 1);                                           /* 1 UNMAP descriptor */
	vpd[2] = 0xB2;
	CHECK(good(cmd(0, 0, vpd, 6, NULL, 0, 255)));
	CHECK(din()[5] & 0x80);                                           /* LBPU */
	vpd[2] = 0x42;
	CHECK(check_sense(cmd(0, 0, vpd, 6, NULL, 0, 255), SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD));
	uint8_t rc10[10] = { 0x25 };
	CHECK(good(cmd(0, 0, rc10, 10, NULL, 0, 8)));
	CHECK(din()[2] == ((DISK / 512 - 1) >> 8) && din()[3] == ((DISK / 512 - 1) & 0xFF));
	CHECK(din()[6] == 2 && din()[7] == 0);                            /* 512 */
	uint8_t rc16[16] = { 0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32 };
	CHECK(good(cmd(0, 0, rc16, 16, NULL, 0, 32)));
	CHECK_EQ(din()[7], (DISK / 512 - 1) & 0xFF);
	CHECK(din()[14] & 0x80);                                          /* LBPME */
	uint8_t ms6[6] = { 0x1A, 0, 0x3F, 0, 255, 0 };
	CHECK(good(cmd(0, 0, ms6, 6, NULL, 0, 255)));
	CHECK_EQ(din()[0], 4 + 8 + 20 + 12 - 1);
	CHECK_EQ(din()[2] & 0x80, 0);                                     /* not write protected */
	uint8_t ms10[10] = { 0x5A, 0x08, 0x08, 0, 0, 0, 0, 0, 255, 0 };
	CHECK(good(cmd(0, 0, ms10, 10, NULL, 0, 255)));
	CHECK(din()[8] == 0x08 && (din()[10] & 0x04));                    /* caching, WCE */
	uint8_t rl[12] = { 0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	CHECK(good(cmd(0, 0, rl, 12, NULL, 0, 256)));
	CHECK(din()[3] == 8 && din()[8] == 0 && din()[9] == 0);
	uint8_t bad[6] = { 0xFF };
	CHECK(check_sense(cmd(0, 0, bad, 6, NULL, 0, 0), SKEY_ILLEGAL_REQUEST, ASC_INVALID_OPCODE));
	/* Other LUNs: no device; other targets: BAD_TARGET. */
	inq[4] = 96;
	CHECK(good(cmd(0, 1, inq, 6, NULL, 0, 96)));
	CHECK_EQ(din()[0], 0x7F);
	CHECK(check_sense(cmd(0, 3, tur, 6, NULL, 0, 0), SKEY_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED));
	CHECK_EQ(cmd(1, 0, tur, 6, NULL, 0, 0).response, VIRTIO_SCSI_S_BAD_TARGET);
}

static void test_io(void)
{
	static uint8_t buf[8192];
	for (int i = 0; i < 4096; i++)
		buf[i] = (uint8_t)(i * 13);
	uint8_t w10[10] = { 0x2A, 0, 0, 0, 0, 16, 0, 0, 8, 0 };            /* LBA 16, 8 blocks */
	CHECK(good(cmd(0, 0, w10, 10, buf, 4096, 0)));
	uint8_t sync[10] = { 0x35 };
	CHECK(good(cmd(0, 0, sync, 10, NULL, 0, 0)));
	int fd = open(path, O_RDONLY);
	uint8_t chk[4096];
	CHECK_EQ(pread(fd, chk, 4096, 16 * 512), 4096);
	CHECK(memcmp(chk, buf, 4096) == 0);
	uint8_t r16[16] = { 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 2 };  /* LBA 17, 2 */
	struct resp r = cmd(0, 0, r16, 16, NULL, 0, 2048);
	CHECK(good(r));
	CHECK_EQ(r.ulen, VTSCSI_RESP_SIZE + 1024);
	CHECK_EQ(r.resid, 1024);
	CHECK(memcmp(din(), buf + 512, 1024) == 0);
	uint8_t r6[6] = { 0x08, 0, 0, 16, 1, 0 };
	CHECK(good(cmd(0, 0, r6, 6, NULL, 0, 512)) && memcmp(din(), buf, 512) == 0);
	/* Past the end; a buffer too small for the transfer. */
	uint8_t rend[10] = { 0x28, 0, 0, 0, (DISK / 512 - 1) >> 8, (DISK / 512 - 1) & 0xFF, 0, 0, 2, 0 };
	CHECK(check_sense(cmd(0, 0, rend, 10, NULL, 0, 1024), SKEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE));
	uint8_t rbig[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 4, 0 };
	CHECK(check_sense(cmd(0, 0, rbig, 10, NULL, 0, 512), SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD));
	/* UNMAP LBA 16..23, then WRITE SAME(16) UNMAP over 64..71; both read back zero. */
	uint8_t um[10] = { 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0 };
	uint8_t param[24] = { 0, 22, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 8 };
	CHECK(good(cmd(0, 0, um, 10, param, 24, 0)));
	CHECK_EQ(pread(fd, chk, 4096, 16 * 512), 4096);
	CHECK_EQ(chk[1] | chk[4095], 0);
	uint8_t ws[16] = { 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 8 };
	memset(buf, 0, 512);
	CHECK(good(cmd(0, 0, ws, 16, buf, 512, 0)));
	buf[3] = 1;                                                       /* a pattern: refused */
	CHECK(check_sense(cmd(0, 0, ws, 16, buf, 512, 0), SKEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD));
	CHECK_EQ(pread(fd, chk, 512, 64 * 512), 512);
	CHECK_EQ(chk[0] | chk[511], 0);
	CHECK_EQ(pread(fd, chk, 512, 72 * 512), 512);
	CHECK_EQ(chk[0], 0x5C);                                           /* untouched */
	close(fd);
}

static void test_control(void)
{
	/* TMF (type 0): FUNCTION COMPLETE; AN query (type 1): event_actual 0. */
	uint8_t tmf[24] = { 0 };
	memcpy(ram + REQ_GPA, tmf, 24);
	ram[RESP_GPA] = 0xEE;
	set_desc(0, 0, REQ_GPA, 24, VRING_DESC_F_NEXT, 1);
	set_desc(0, 1, RESP_GPA, 1, VRING_DESC_F_WRITE, 0);
	uint32_t ulen = 0;
	CHECK(run_chain(0, 0, &ulen));
	CHECK_EQ(ulen, 1);
	CHECK_EQ(ram[RESP_GPA], 0);
	ram[REQ_GPA] = 1;
	set_desc(0, 1, RESP_GPA, 5, VRING_DESC_F_WRITE, 0);
	CHECK(run_chain(0, 0, &ulen));
	CHECK_EQ(ulen, 5);
	/* A request without room for the response comes back empty; a short one fails. */
	set_desc(2, 0, REQ_GPA, VTSCSI_REQ_SIZE, VRING_DESC_F_NEXT, 1);
	set_desc(2, 1, RESP_GPA, 10, VRING_DESC_F_WRITE, 0);
	CHECK(run_chain(2, 0, &ulen));
	CHECK_EQ(ulen, 0);
	set_desc(2, 0, REQ_GPA, 10, VRING_DESC_F_NEXT, 1);
	set_desc(2, 1, RESP_GPA, VTSCSI_RESP_SIZE, VRING_DESC_F_WRITE, 0);
	CHECK(run_chain(2, 0, &ulen));
	CHECK_EQ(ram[RESP_GPA + 11], VIRTIO_SCSI_S_FAILURE);
	CHECK_EQ(vtpci_legacy_read(vs, VTPCI_L_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

/* Post chain `head` on queue qi and notify, without waiting for it. */
static void post(int qi, uint16_t head)
{
	uint16_t *av = (uint16_t *)(ram + q[qi].avail);
	av[2 + q[qi].avail_idx % q[qi].size] = head;
	__atomic_store_n(&av[1], ++q[qi].avail_idx, __ATOMIC_RELEASE);
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, qi);
}

static bool answered(int qi)
{
	uint16_t *u = (uint16_t *)(ram + q[qi].used);
	return __atomic_load_n(&u[1], __ATOMIC_ACQUIRE) != q[qi].used_seen;
}

static _Atomic bool tmf_returned;

static void *tmf_thread(void *a)
{
	post(0, 0);
	tmf_returned = true;
	return NULL;
}

/* A page of `ram` whose first access blocks until the test fills it: the fd, or -1. */
static int hold_page(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (uintptr_t)(ram + HOLD_GPA), 4096 }, .mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	madvise(ram + HOLD_GPA, 4096, MADV_DONTNEED);
	if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0 || ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Task management while a READ is stuck in the backend (its data-in page faults until we
 * fill it): the notify returns at once, the TMF is answered when the READ completes. */
static void test_tmf_does_not_block(void)
{
	int uf = hold_page();
	if (uf < 0) {
		printf("virtio_scsi: no userfaultfd (not root?), TMF-while-busy test skipped\n");
		return;
	}
	uint8_t *req = ram + REQ_GPA;
	memset(req, 0, VTSCSI_REQ_SIZE);
	req[0] = 1;
	req[2] = 0x40;
	uint8_t r10[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	memcpy(req + 19, r10, 10);
	set_desc(2, 0, REQ_GPA, VTSCSI_REQ_SIZE, VRING_DESC_F_NEXT, 1);
	set_desc(2, 1, RESP_GPA, VTSCSI_RESP_SIZE, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(2, 2, HOLD_GPA, 512, VRING_DESC_F_WRITE, 0);
	post(2, 0);
	struct pollfd pfd = { .fd = uf, .events = POLLIN };
	struct uffd_msg msg;
	CHECK_EQ(poll(&pfd, 1, 60000), 1);                  /* the backend is stuck on the page */
	CHECK_EQ(read(uf, &msg, sizeof(msg)), (ssize_t)sizeof(msg));
	uint8_t tmf[24] = { 0 };
	memcpy(ram + REQ_GPA + 0x1000, tmf, 24);
	ram[RESP_GPA + 0x1000] = 0xEE;
	set_desc(0, 0, REQ_GPA + 0x1000, 24, VRING_DESC_F_NEXT, 1);
	set_desc(0, 1, RESP_GPA + 0x1000, 1, VRING_DESC_F_WRITE, 0);
	pthread_t t;
	tmf_returned = false;
	pthread_create(&t, NULL, tmf_thread, NULL);
	for (int i = 0; i < 30000 && !tmf_returned; i++)     /* a last guard, not a timing */
		usleep(1000);
	CHECK(tmf_returned);
	CHECK(!answered(0));                                 /* the READ is still in flight */
	struct uffdio_zeropage zp = { .range = { (uintptr_t)(ram + HOLD_GPA), 4096 } };
	CHECK_EQ(ioctl(uf, UFFDIO_ZEROPAGE, &zp), 0);
	pthread_join(t, NULL);
	uint32_t ulen = 0;
	CHECK(wait_used(2, &ulen));                          /* the READ, then the TMF */
	CHECK_EQ(ram[RESP_GPA + 11], VIRTIO_SCSI_S_OK);
	CHECK(wait_used(0, &ulen));
	CHECK_EQ(ulen, 1);
	CHECK_EQ(ram[RESP_GPA + 0x1000], 0);                 /* FUNCTION COMPLETE */
	close(uf);
}

int main(void)
{
	make_disk(0x5C);
	struct vtpci_state *sc = start(false);
	if (sc) {
		test_identify();
		test_io();
		test_control();
		test_tmf_does_not_block();
		vtdev_close();
	}
	/* Read-only LUN: WRITE PROTECT in MODE SENSE, writes refused with DATA PROTECT. */
	chmod(path, 0444);
	sc = start(true);
	if (sc) {
		uint8_t ms6[6] = { 0x1A, 0, 0x3F, 0, 255, 0 };
		CHECK(good(cmd(0, 0, ms6, 6, NULL, 0, 255)) && (din()[2] & 0x80));
		uint8_t w10[10] = { 0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
		uint8_t b[512] = { 1 };
		CHECK(check_sense(cmd(0, 0, w10, 10, b, 512, 0), SKEY_DATA_PROTECT, ASC_WRITE_PROTECTED));
		uint8_t r10[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
		CHECK(good(cmd(0, 0, r10, 10, NULL, 0, 512)) && din()[0] == 0x5C);
		vtdev_close();
	}
	unlink(path);
	return unit_report("virtio_scsi");
}
