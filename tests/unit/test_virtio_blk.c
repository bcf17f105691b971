/*
 * virtio-blk made from its registration and config keys on a VM's PCI bus, driven through the
 * virtio PCI transport the way Linux's virtio_pci drivers do: the legacy I/O register block and
 * the modern common-config region, with the VM's RAM and a fake interrupt sink.  Checks configuration space, feature negotiation, reads/writes that
 * reach the image file, FLUSH, GET_ID, DISCARD, WRITE_ZEROES, read-only, malformed requests
 * (error statuses) and invalid rings (DEVICE_NEEDS_RESET), interrupts (INTx + ISR, MSI-X).
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "vtdev_test.h"

/* What the device offers (its config space says so too). */
#define VTBLK_QSIZE      128
#define VTBLK_MAXSEGS    (VTBLK_QSIZE - 2)
#define VTBLK_CFGSIZE    60

/* virtio-blk feature bits, request types and statuses (virtio 1.x 5.2), as a driver knows them. */
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2

#define RAM_SIZE  (4u << 20)
#define RING_GPA  0x10000ULL           /* legacy ring, page aligned */
#define HDR_GPA   0x40000ULL
#define DATA_GPA  0x80000ULL
#define STAT_GPA  0x3F000ULL
#define DISK      (1u << 20)
#define QSZ       VTBLK_QSIZE

static uint8_t *ram;
static char path[64];
static struct vtpci_state *vs;
static uint16_t avail_idx, used_seen;
static atomic_int intx_level, intx_asserts, msix_sends, last_vector;
static bool msix_on;

static bool f_msix_enabled(void *c) { return msix_on; }
static void f_msix_send(void *c, int v) { msix_sends++; last_vector = v; }
static void f_intx_assert(void *c) { intx_level = 1; intx_asserts++; }
static void f_intx_deassert(void *c) { intx_level = 0; }
static const struct vtpci_intr_ops intr = {
	.msix_enabled = f_msix_enabled, .msix_send = f_msix_send,
	.intx_assert = f_intx_assert, .intx_deassert = f_intx_deassert,
};

/* ---- A tiny driver ---- */

static uint64_t ring_desc, ring_avail, ring_used;
static uint16_t ring_size;

static void set_desc(int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };
	memcpy(ram + ring_desc + 16ULL * i, &d, 16);
}

static uint16_t *avail16(int i) { return (uint16_t *)(ram + ring_avail) + i; }
static uint16_t used_idx(void) { return __atomic_load_n((uint16_t *)(ram + ring_used) + 1, __ATOMIC_ACQUIRE); }

static void legacy_start(uint64_t guest_features)
{
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 0);
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, VIRTIO_STATUS_ACK);
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
	uint32_t hf = vtpci_legacy_read(vs, VTPCI_L_HOST_FEATURES, 4);
	vtpci_legacy_write(vs, VTPCI_L_GUEST_FEATURES, 4, hf & (uint32_t)guest_features);
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_SEL, 2, 0);
	ring_size = (uint16_t)vtpci_legacy_read(vs, VTPCI_L_QUEUE_NUM, 2);
	memset(ram + RING_GPA, 0, vq_legacy_bytes(ring_size));
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_PFN, 4, RING_GPA / 4096);
	ring_desc = RING_GPA;
	ring_avail = RING_GPA + 16ULL * ring_size;
	ring_used = (ring_avail + 6 + 2ULL * ring_size + 4095) & ~4095ULL;
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 0x07);
	avail_idx = used_seen = 0;
}

static void modern_common_w(uint64_t off, int size, uint64_t v) { vtpci_modern_write(vs, VTPCI_M_COMMON + off, size, v); }
static uint64_t modern_common_r(uint64_t off, int size) { return vtpci_modern_read(vs, VTPCI_M_COMMON + off, size); }

static bool modern_start(uint64_t want, uint16_t qsize)
{
	modern_common_w(VTPCI_C_STATUS, 1, 0);
	modern_common_w(VTPCI_C_STATUS, 1, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
	modern_common_w(VTPCI_C_DFSELECT, 4, 0);
	uint64_t hf = modern_common_r(VTPCI_C_DF, 4);
	modern_common_w(VTPCI_C_DFSELECT, 4, 1);
	hf |= modern_common_r(VTPCI_C_DF, 4) << 32;
	uint64_t gf = hf & want;
	modern_common_w(VTPCI_C_GFSELECT, 4, 0);
	modern_common_w(VTPCI_C_GF, 4, (uint32_t)gf);
	modern_common_w(VTPCI_C_GFSELECT, 4, 1);
	modern_common_w(VTPCI_C_GF, 4, gf >> 32);
	modern_common_w(VTPCI_C_STATUS, 1, 0x0B);
	if (!(modern_common_r(VTPCI_C_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK))
		return false;
	modern_common_w(VTPCI_C_Q_SELECT, 2, 0);
	modern_common_w(VTPCI_C_Q_SIZE, 2, qsize);
	ring_size = qsize;
	ring_desc = 0x20000;
	ring_avail = 0x28000;
	ring_used = 0x30000;
	memset(ram + 0x20000, 0, 0x18000);
	modern_common_w(VTPCI_C_Q_DESC, 4, ring_desc);      /* two halves, as Linux does */
	modern_common_w(VTPCI_C_Q_DESC + 4, 4, 0);
	modern_common_w(VTPCI_C_Q_AVAIL, 8, ring_avail);
	modern_common_w(VTPCI_C_Q_USED, 4, ring_used);
	modern_common_w(VTPCI_C_Q_USED + 4, 4, 0);
	modern_common_w(VTPCI_C_Q_MSIX, 2, 1);
	modern_common_w(VTPCI_C_MSIX_CONFIG, 2, 0);
	modern_common_w(VTPCI_C_Q_ENABLE, 2, 1);
	modern_common_w(VTPCI_C_STATUS, 1, 0x0F);
	avail_idx = used_seen = 0;
	return true;
}

static bool modern;

static void kick(void)
{
	if (modern)
		vtpci_modern_write(vs, VTPCI_M_NOTIFY + 0, 2, 0);
	else
		vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, 0);
}

static void make_avail(uint16_t head)
{
	*avail16(2 + (avail_idx % ring_size)) = head;
	avail_idx++;
	__atomic_store_n(avail16(1), avail_idx, __ATOMIC_RELEASE);
}

/* Wait until `n` more chains are used (bounded wait: a hang is a failure, not a timing). */
static bool wait_used(int n)
{
	for (int i = 0; i < 60000; i++) {
		if ((uint16_t)(used_idx() - used_seen) >= n) {
			used_seen = (uint16_t)(used_seen + n);
			return true;
		}
		usleep(1000);
	}
	return false;
}

static uint32_t used_len(uint16_t slot)
{
	uint32_t *e = (uint32_t *)(ram + ring_used + 4 + 8ULL * (slot % ring_size));
	return e[1];
}

/* One request: header {type, 0, sector}, data (dir: 0 none, 1 device reads, 2 device writes). */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t dlen, int dir, uint32_t *ulen)
{
	uint8_t h[16] = { 0 };
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	memcpy(ram + HDR_GPA, h, 16);
	ram[STAT_GPA] = 0xEE;
	uint16_t head = (uint16_t)(avail_idx % ring_size);
	uint16_t d1 = (uint16_t)((head + 1) % ring_size), d2 = (uint16_t)((head + 2) % ring_size);
	if (dir) {
		set_desc(head, HDR_GPA, 16, VRING_DESC_F_NEXT, d1);
		set_desc(d1, DATA_GPA, dlen, VRING_DESC_F_NEXT | (dir == 2 ? VRING_DESC_F_WRITE : 0), d2);
		set_desc(d2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	} else {
		set_desc(head, HDR_GPA, 16, VRING_DESC_F_NEXT, d1);
		set_desc(d1, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	}
	uint16_t slot = used_seen;
	make_avail(head);
	kick();
	if (!wait_used(1))
		return 0xDD;
	if (ulen)
		*ulen = used_len(slot);
	return ram[STAT_GPA];
}

/* ---- Tests ---- */

static void make_disk(int fill)
{
	strcpy(path, "/tmp/test_vtblk.XXXXXX");
	int fd = mkstemp(path);
	uint8_t *b = malloc(DISK);
	memset(b, fill, DISK);
	CHECK_EQ(write(fd, b, DISK), DISK);
	free(b);
	close(fd);
}

/* The device at slot 4 on the image, with these options (sector sizes 0: the image's). */
static struct vtpci_state *open_dev(bool ro, bool nodelete, unsigned ss, unsigned ps)
{
	char err[256], sz[32];
	config_reset();
	config_set("pci.0.4.0.device", "virtio-blk");
	config_set("pci.0.4.0.path", path);
	config_set("pci.0.4.0.ro", ro ? "true" : "false");
	config_set("pci.0.4.0.nodelete", nodelete ? "true" : "false");
	if (ss) {
		snprintf(sz, sizeof(sz), "%u/%u", ss, ps);
		config_set("pci.0.4.0.sectorsize", sz);
	}
	vs = vtdev_open(4, RAM_SIZE, &intr, &ram, err, sizeof(err));
	if (!vs)
		fprintf(stderr, "virtio-blk: %s\n", err);
	return vs;
}

static void test_config(void)
{
	make_disk(0);
	struct vtpci_state *sc = open_dev(false, false, 4096, 16384);
	CHECK(sc != NULL);
	if (!sc)
		return;
	uint32_t hf = vtpci_legacy_read(vs, VTPCI_L_HOST_FEATURES, 4);
	CHECK(hf & (1u << VIRTIO_BLK_F_FLUSH));
	CHECK(hf & (1u << VIRTIO_BLK_F_BLK_SIZE));
	CHECK(hf & (1u << VIRTIO_BLK_F_TOPOLOGY));
	CHECK(hf & (1u << VIRTIO_BLK_F_SEG_MAX));
	CHECK(hf & (1u << VIRTIO_BLK_F_DISCARD));
	CHECK(hf & (1u << VIRTIO_BLK_F_WRITE_ZEROES));
	CHECK(!(hf & (1u << VIRTIO_BLK_F_RO)));
	CHECK_EQ(vtpci_legacy_read(vs, VTPCI_L_QUEUE_NUM, 2), QSZ);
	/* Device config at 0x14 without MSI-X, 0x18 with it. */
	uint64_t cap = vtpci_legacy_read(vs, 0x14, 4) | (uint64_t)vtpci_legacy_read(vs, 0x18, 4) << 32;
	CHECK_EQ(cap, DISK / 512);
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 0x14, 4), 4096);      /* blk_size */
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 0x18, 1), 2);         /* 16K = 4K << 2 */
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 0x0C, 4), VTBLK_MAXSEGS);
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 60, 1), 0xFF);         /* past config */
	CHECK_EQ(vtpci_legacy_read(vs, 0x14 + 58, 4), 0xFFFFFFFFu);   /* straddles the end */
	msix_on = true;
	CHECK_EQ(vtpci_legacy_read(vs, 0x18 + 0x14, 4), 4096);
	msix_on = false;
	/* Modern view: VERSION_1 above bit 31, config in the device region. */
	modern_common_w(VTPCI_C_DFSELECT, 4, 1);
	CHECK_EQ(modern_common_r(VTPCI_C_DF, 4), 1);
	CHECK_EQ(modern_common_r(VTPCI_C_NUMQ, 2), 1);
	CHECK_EQ(vtpci_modern_read(vs, VTPCI_M_DEVICE + 0x14, 4), 4096);
	CHECK(vtpci_legacy_bar_size(vs) >= 0x18 + VTBLK_CFGSIZE);
	vtdev_close();
	unlink(path);
}

static void test_legacy_io(void)
{
	make_disk(0x33);
	struct vtpci_state *sc = open_dev(false, false, 0, 0);
	CHECK(sc != NULL);
	if (!sc)
		return;
	modern = false;
	legacy_start(~0ULL);
	CHECK_EQ(ring_size, QSZ);
	CHECK_EQ(vtpci_legacy_read(vs, VTPCI_L_STATUS, 1), 7);
	/* Write 8 KiB at sector 10, read it back, check the file. */
	for (int i = 0; i < 8192; i++)
		ram[DATA_GPA + i] = (uint8_t)(i * 7);
	uint32_t ul = 0;
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 10, 8192, 1, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 1);
	CHECK(intx_level == 1);
	CHECK_EQ(vtpci_legacy_read(vs, VTPCI_L_ISR, 1), VIRTIO_ISR_QUEUE);
	CHECK(intx_level == 0);                                 /* reading ISR lowers INTx */
	CHECK_EQ(vtpci_legacy_read(vs, VTPCI_L_ISR, 1), 0);
	memset(ram + DATA_GPA, 0, 8192);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 10, 8192, 2, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 8193);
	int bad = 0;
	for (int i = 0; i < 8192; i++)
		bad += ram[DATA_GPA + i] != (uint8_t)(i * 7);
	CHECK_EQ(bad, 0);
	CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, &ul), VIRTIO_BLK_S_OK);
	int fd = open(path, O_RDONLY);
	uint8_t b[512];
	CHECK_EQ(pread(fd, b, 512, 10 * 512 + 512), 512);
	CHECK_EQ(b[1], (uint8_t)((512 + 1) * 7));
	CHECK_EQ(pread(fd, b, 512, 9 * 512), 512);
	CHECK_EQ(b[0], 0x33);                                   /* untouched before */
	close(fd);
	/* GET_ID: 20 bytes of serial. */
	memset(ram + DATA_GPA, 0, 32);
	CHECK_EQ(request(VIRTIO_BLK_T_GET_ID, 0, 32, 2, &ul), VIRTIO_BLK_S_OK);
	CHECK_EQ(ul, 21);
	CHECK(memcmp(ram + DATA_GPA, "BHYVE-", 6) == 0);
	/* Errors: beyond the disk, odd lengths, unknown type, a read into a read-only buffer. */
	CHECK_EQ(request(VIRTIO_BLK_T_IN, DISK / 512 - 1, 1024, 2, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, ~0ULL >> 8, 512, 2, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, 100, 1, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(99, 0, 0, 0, NULL), VIRTIO_BLK_S_UNSUPP);
	/* Legacy driver that did not take DISCARD: refused. */
	CHECK(!vtpci_negotiated(vs, VIRTIO_BLK_F_DISCARD) ||
	      vtpci_negotiated(vs, VIRTIO_BLK_F_DISCARD));
	CHECK_EQ(vtpci_legacy_read(vs, VTPCI_L_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
	vtdev_close();
	unlink(path);
}

/* Many requests in flight at once (one kick), completing out of order. */
static void test_concurrent(void)
{
	make_disk(0);
	struct vtpci_state *sc = open_dev(false, false, 0, 0);
	CHECK(sc != NULL);
	if (!sc)
		return;
	modern = false;
	legacy_start(~0ULL);
	const int n = 32;
	for (int i = 0; i < n; i++) {
		uint64_t hdr = HDR_GPA + 16ULL * i, data = DATA_GPA + 4096ULL * i;
		uint8_t h[16] = { VIRTIO_BLK_T_OUT };
		uint64_t sector = 8ULL * i;
		memcpy(h + 8, &sector, 8);
		memcpy(ram + hdr, h, 16);
		memset(ram + data, 0xA0 + i, 4096);
		ram[STAT_GPA + i] = 0xEE;
		set_desc(3 * i, hdr, 16, VRING_DESC_F_NEXT, (uint16_t)(3 * i + 1));
		set_desc(3 * i + 1, data, 4096, VRING_DESC_F_NEXT, (uint16_t)(3 * i + 2));
		set_desc(3 * i + 2, STAT_GPA + i, 1, VRING_DESC_F_WRITE, 0);
		make_avail((uint16_t)(3 * i));
	}
	kick();
	CHECK(wait_used(n));
	int bad = 0;
	for (int i = 0; i < n; i++)
		bad += ram[STAT_GPA + i] != VIRTIO_BLK_S_OK;
	CHECK_EQ(bad, 0);
	int fd = open(path, O_RDONLY);
	uint8_t b[4096];
	bad = 0;
	for (int i = 0; i < n; i++) {
		if (pread(fd, b, 4096, 4096 * i) != 4096 || b[0] != 0xA0 + i || b[4095] != 0xA0 + i)
			bad++;
	}
	close(fd);
	CHECK_EQ(bad, 0);
	/* Reset with requests in flight: it returns only after they all completed. */
	for (int i = 0; i < n; i++)
		make_avail((uint16_t)(3 * i));
	kick();
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 0);
	CHECK_EQ(used_idx(), 2 * n);
	CHECK_EQ(vtpci_legacy_read(vs, VTPCI_L_QUEUE_PFN, 4), 0);
	vtdev_close();
	unlink(path);
}

static void put_segment(uint64_t sector, uint32_t n, uint32_t flags)
{
	memcpy(ram + DATA_GPA, &sector, 8);
	memcpy(ram + DATA_GPA + 8, &n, 4);
	memcpy(ram + DATA_GPA + 12, &flags, 4);
}

static void test_modern(void)
{
	make_disk(0x77);
	struct vtpci_state *sc = open_dev(false, false, 0, 0);
	CHECK(sc != NULL);
	if (!sc)
		return;
	modern = true;
	msix_on = true;
	/* A modern driver must take VERSION_1: FEATURES_OK is refused otherwise. */
	CHECK(!modern_start(~0ULL & ~(1ULL << VIRTIO_F_VERSION_1), 64));
	CHECK(modern_start(~0ULL, 64));
	CHECK(vtpci_negotiated(vs, VIRTIO_F_VERSION_1));
	CHECK(vtpci_negotiated(vs, VIRTIO_RING_F_EVENT_IDX));
	CHECK_EQ(modern_common_r(VTPCI_C_Q_SIZE, 2), 64);
	CHECK_EQ(modern_common_r(VTPCI_C_Q_ENABLE, 2), 1);
	CHECK_EQ(modern_common_r(VTPCI_C_Q_DESC, 4), 0x20000);
	/* used_event = 0: interrupt for the first completion, on MSI-X vector 1. */
	int before = msix_sends, ibefore = intx_asserts;
	put_segment(8, 16, 0);
	CHECK_EQ(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, 1, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(msix_sends, before + 1);
	CHECK_EQ(last_vector, 1);
	CHECK_EQ(intx_asserts, ibefore);                          /* no INTx with MSI-X */
	put_segment(64, 64, 0);
	CHECK_EQ(request(VIRTIO_BLK_T_DISCARD, 0, 16, 1, NULL), VIRTIO_BLK_S_OK);
	put_segment(64, 64, 1);                                   /* unmap flag on DISCARD */
	CHECK_EQ(request(VIRTIO_BLK_T_DISCARD, 0, 16, 1, NULL), VIRTIO_BLK_S_UNSUPP);
	put_segment(64, 64, 4);                                   /* reserved flag */
	CHECK_EQ(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, 1, NULL), VIRTIO_BLK_S_UNSUPP);
	put_segment(DISK / 512 - 1, 2, 0);                        /* past the end */
	CHECK_EQ(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, 1, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_DISCARD, 0, 32, 1, NULL), VIRTIO_BLK_S_IOERR); /* 2 segs */
	int fd = open(path, O_RDONLY);
	uint8_t b[512];
	CHECK_EQ(pread(fd, b, 512, 8 * 512), 512);
	CHECK_EQ(b[0] | b[511], 0);
	CHECK_EQ(pread(fd, b, 512, 7 * 512), 512);
	CHECK_EQ(b[0], 0x77);
	CHECK_EQ(pread(fd, b, 512, 64 * 512), 512);
	CHECK_EQ(b[0], 0);                                        /* the discard punched a hole */
	close(fd);
	/* An invalid chain: loop in the descriptor table -> DEVICE_NEEDS_RESET + config irq. */
	before = msix_sends;
	uint16_t h = (uint16_t)(avail_idx % ring_size);
	set_desc(h, HDR_GPA, 16, VRING_DESC_F_NEXT, h);
	make_avail(h);
	kick();
	CHECK(modern_common_r(VTPCI_C_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(msix_sends, before + 1);
	CHECK_EQ(last_vector, 0);                                 /* msix_config */
	/* Reset clears it and the device works again. */
	CHECK(modern_start(~0ULL, 32));
	CHECK_EQ(modern_common_r(VTPCI_C_STATUS, 1), 0x0F);
	CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, NULL), VIRTIO_BLK_S_OK);
	/* Queue size must be a power of two no larger than offered; bad ones are ignored. */
	modern_common_w(VTPCI_C_STATUS, 1, 0);
	modern_common_w(VTPCI_C_Q_SIZE, 2, 100);
	CHECK_EQ(modern_common_r(VTPCI_C_Q_SIZE, 2), QSZ);
	modern_common_w(VTPCI_C_Q_SIZE, 2, 256);
	CHECK_EQ(modern_common_r(VTPCI_C_Q_SIZE, 2), QSZ);
	modern_common_w(VTPCI_C_Q_SELECT, 2, 5);                  /* no such queue */
	CHECK_EQ(modern_common_r(VTPCI_C_Q_SIZE, 2), 0);
	msix_on = false;
	vtdev_close();
	unlink(path);
}

static void test_readonly(void)
{
	make_disk(0x44);
	chmod(path, 0444);
	struct vtpci_state *sc = open_dev(true, false, 0, 0);
	CHECK(sc != NULL);
	if (!sc)
		return;
	modern = false;
	uint32_t hf = vtpci_legacy_read(vs, VTPCI_L_HOST_FEATURES, 4);
	CHECK(hf & (1u << VIRTIO_BLK_F_RO));
	CHECK(!(hf & (1u << VIRTIO_BLK_F_DISCARD)));
	CHECK(!(hf & (1u << VIRTIO_BLK_F_WRITE_ZEROES)));
	legacy_start(~0ULL);
	memset(ram + DATA_GPA, 0x55, 512);
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, 512, 1, NULL), VIRTIO_BLK_S_IOERR);
	put_segment(0, 1, 0);
	CHECK_EQ(request(VIRTIO_BLK_T_DISCARD, 0, 16, 1, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 0, 512, 2, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(ram[DATA_GPA], 0x44);
	vtdev_close();
	unlink(path);
}

/* Hostile chains against the device: no status byte, short header, buffers outside RAM. */
static void test_hostile(void)
{
	make_disk(0);
	struct vtpci_state *sc = open_dev(false, false, 0, 0);
	CHECK(sc != NULL);
	if (!sc)
		return;
	modern = false;
	legacy_start(~0ULL);
	/* Header only, no writable byte: returned with length 0, nothing written. */
	set_desc(0, HDR_GPA, 16, 0, 0);
	make_avail(0);
	kick();
	CHECK(wait_used(1));
	CHECK_EQ(used_len(0), 0);
	/* Header shorter than 16 bytes: IOERR in the status byte. */
	set_desc(1, HDR_GPA, 8, VRING_DESC_F_NEXT, 2);
	set_desc(2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	ram[STAT_GPA] = 0xEE;
	make_avail(1);
	kick();
	CHECK(wait_used(1));
	CHECK_EQ(ram[STAT_GPA], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(vtpci_legacy_read(vs, VTPCI_L_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* Data buffer outside RAM: the queue is broken, nothing is touched. */
	set_desc(3, HDR_GPA, 16, VRING_DESC_F_NEXT, 4);
	set_desc(4, RAM_SIZE - 256, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 5);
	set_desc(5, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	make_avail(3);
	kick();
	CHECK(vtpci_legacy_read(vs, VTPCI_L_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	/* Notifying a queue that does not exist is ignored. */
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, 7);
	/* A PFN outside RAM leaves the queue unset. */
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 0);
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_PFN, 4, 0xFFFFF);
	CHECK_EQ(vtpci_legacy_read(vs, VTPCI_L_QUEUE_PFN, 4), 0);
	vtdev_close();
	unlink(path);
}

int main(void)
{
	test_config();
	test_legacy_io();
	test_concurrent();
	test_modern();
	test_readonly();
	test_hostile();
	return unit_report("virtio_blk");
}
