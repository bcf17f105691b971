/*
 * Split virtqueue core against a fake guest RAM: normal and indirect chains, used ring,
 * notification suppression, and hostile rings (loops, bad addresses and lengths, nested
 * indirect tables, bad indexes, wrong buffer order) that must mark the queue broken without
 * touching memory outside RAM (this program also runs under ASan).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pci/virtio_ring.h"
#include "unit.h"

#define RAM_BASE 0x10000ULL
#define RAM_SIZE (256 * 1024ULL)
#define QSZ      16
#define DESC_GPA (RAM_BASE)
#define AVAIL_GPA (RAM_BASE + 0x1000)
#define USED_GPA (RAM_BASE + 0x2000)
#define BUF_GPA  (RAM_BASE + 0x10000)

static uint8_t *ram;
static struct virtqueue vq;
static uint16_t avail_idx;

static void *fake_map(void *ctx, uint64_t gpa, size_t len)
{
	(void)ctx;
	if (gpa < RAM_BASE || len > RAM_SIZE || gpa - RAM_BASE > RAM_SIZE - len)
		return NULL;
	return ram + (gpa - RAM_BASE);
}

static void *gp(uint64_t gpa) { return ram + (gpa - RAM_BASE); }

static void set_desc(uint64_t table, int i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };
	memcpy(gp(table + 16ULL * i), &d, sizeof(d));
}

static uint16_t *avail16(int i) { return (uint16_t *)gp(AVAIL_GPA) + i; }
static uint16_t *used16(int i) { return (uint16_t *)gp(USED_GPA) + i; }

static void make_avail(uint16_t head)
{
	*avail16(2 + (avail_idx % QSZ)) = head;
	avail_idx++;
	*avail16(1) = avail_idx;
}

static void fixture(uint64_t features)
{
	struct vq_mem mem = { fake_map, NULL, NULL };
	memset(ram, 0, RAM_SIZE);
	avail_idx = 0;
	vq_init(&vq, &mem);
	vq_set_features(&vq, features);
	CHECK_EQ(vq_setup(&vq, QSZ, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
}

static void done(void) { vq_destroy(&vq); }

/* Pop must fail and leave the queue broken for `reason`. */
static void expect_broken_n(unsigned int reason, int line, int maxiov)
{
	struct iovec iov[64];
	struct vq_chain c;
	int r = vq_pop(&vq, iov, maxiov, &c);
	if (r != -1 || !vq.broken || vq.bad_reason != reason)
		fprintf(stderr, "line %d: r=%d broken=%d reason=%u want %u\n", line, r, vq.broken,
			vq.bad_reason, reason);
	CHECK_EQ(r, -1);
	CHECK(vq.broken);
	CHECK_EQ(vq.bad_reason, reason);
	CHECK_EQ(vq_pop(&vq, iov, 8, &c), -1);   /* stays broken */
	CHECK_EQ(vq_pending(&vq), 0);
}

static void expect_broken(unsigned int reason, int line)
{
	expect_broken_n(reason, line, 64);
}

static void test_setup(void)
{
	struct vq_mem mem = { fake_map, NULL, NULL };
	vq_init(&vq, &mem);
	CHECK_EQ(vq_setup(&vq, 0, DESC_GPA, AVAIL_GPA, USED_GPA), -1);
	CHECK_EQ(vq_setup(&vq, 12, DESC_GPA, AVAIL_GPA, USED_GPA), -1);     /* not a power of 2 */
	CHECK_EQ(vq_setup(&vq, 65535, DESC_GPA, AVAIL_GPA, USED_GPA), -1);
	CHECK_EQ(vq_setup(&vq, QSZ, DESC_GPA + 8, AVAIL_GPA, USED_GPA), -1); /* desc 16-aligned */
	CHECK_EQ(vq_setup(&vq, QSZ, DESC_GPA, AVAIL_GPA + 1, USED_GPA), -1);
	CHECK_EQ(vq_setup(&vq, QSZ, DESC_GPA, AVAIL_GPA, USED_GPA + 2), -1);
	CHECK_EQ(vq_setup(&vq, QSZ, 0, AVAIL_GPA, USED_GPA), -1);            /* not RAM */
	CHECK_EQ(vq_setup(&vq, QSZ, DESC_GPA, RAM_BASE + RAM_SIZE - 8, USED_GPA), -1);
	CHECK_EQ(vq_setup(&vq, 32768, DESC_GPA, AVAIL_GPA, USED_GPA), -1);   /* desc past RAM */
	CHECK_EQ(vq_setup(&vq, QSZ, 0xFFFFFFFFFFFFFFF0ULL, AVAIL_GPA, USED_GPA), -1);
	CHECK(!vq_ready(&vq));
	struct iovec iov[2];
	struct vq_chain c;
	CHECK_EQ(vq_pop(&vq, iov, 2, &c), 0);                 /* unset queue: nothing */
	CHECK_EQ(vq_push(&vq, 0, 0), -1);
	/* Legacy layout: desc at pfn*4096, avail after, used on the next 4 KiB boundary. */
	CHECK_EQ(vq_setup_legacy(&vq, 256, (uint32_t)(RAM_BASE / 4096)), 0);
	CHECK_EQ(vq.desc_gpa, RAM_BASE);
	CHECK_EQ(vq.avail_gpa, RAM_BASE + 4096);
	CHECK_EQ(vq.used_gpa, RAM_BASE + 8192);
	CHECK_EQ(vq_legacy_bytes(256), 8192 + 4096);
	CHECK_EQ(vq_setup_legacy(&vq, 256, 0), -1);
	done();
}

static void test_normal_chain(void)
{
	fixture(0);
	set_desc(DESC_GPA, 3, BUF_GPA, 16, VRING_DESC_F_NEXT, 7);
	set_desc(DESC_GPA, 7, BUF_GPA + 16, 100, VRING_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, BUF_GPA + 0x1000, 512, VRING_DESC_F_WRITE, 0);
	make_avail(3);
	set_desc(DESC_GPA, 5, BUF_GPA + 0x2000, 64, 0, 0);
	make_avail(5);
	CHECK_EQ(vq_pending(&vq), 2);

	struct iovec iov[8];
	struct vq_chain c;
	CHECK_EQ(vq_pop(&vq, iov, 8, &c), 1);
	CHECK_EQ(c.head, 3);
	CHECK_EQ(c.niov, 3);
	CHECK_EQ(c.nread, 2);
	CHECK_EQ(c.read_len, 116);
	CHECK_EQ(c.write_len, 512);
	CHECK(iov[0].iov_base == gp(BUF_GPA) && iov[0].iov_len == 16);
	CHECK(iov[1].iov_base == gp(BUF_GPA + 16) && iov[1].iov_len == 100);
	CHECK(iov[2].iov_base == gp(BUF_GPA + 0x1000) && iov[2].iov_len == 512);
	CHECK_EQ(vq_pop(&vq, iov, 8, &c), 1);
	CHECK_EQ(c.head, 5);
	CHECK_EQ(c.nread, 1);
	CHECK_EQ(c.niov, 1);
	CHECK_EQ(vq_pop(&vq, iov, 8, &c), 0);

	/* Used ring: elements in order, idx published, interrupt unless suppressed. */
	CHECK_EQ(vq_push(&vq, 3, 512), 0);
	CHECK_EQ(vq_push(&vq, 5, 0), 0);
	CHECK_EQ(*used16(1), 2);
	uint32_t *ue = (uint32_t *)gp(USED_GPA + 4);
	CHECK_EQ(ue[0], 3);
	CHECK_EQ(ue[1], 512);
	CHECK_EQ(ue[2], 5);
	CHECK_EQ(ue[3], 0);
	CHECK(vq_need_interrupt(&vq));
	CHECK(!vq_need_interrupt(&vq));                       /* nothing new */
	CHECK_EQ(vq_push(&vq, QSZ, 0), -1);                   /* bad head from a device bug */
	*avail16(0) = VRING_AVAIL_F_NO_INTERRUPT;
	set_desc(DESC_GPA, 0, BUF_GPA, 8, 0, 0);
	make_avail(0);
	CHECK_EQ(vq_pop(&vq, iov, 8, &c), 1);
	CHECK_EQ(vq_push(&vq, 0, 0), 0);
	CHECK(!vq_need_interrupt(&vq));
	CHECK(!vq.broken);
	done();
}

static void test_wraparound(void)
{
	fixture(0);
	struct iovec iov[2];
	struct vq_chain c;
	/* Run the 16-bit indexes past 65535. */
	for (int i = 0; i < 70000; i++) {
		uint16_t h = (uint16_t)(i % QSZ);
		set_desc(DESC_GPA, h, BUF_GPA + h * 64, 64, VRING_DESC_F_WRITE, 0);
		make_avail(h);
		if (vq_pop(&vq, iov, 2, &c) != 1 || c.head != h) {
			CHECK(0);
			break;
		}
		vq_push(&vq, h, 64);
	}
	CHECK_EQ(*used16(1), (uint16_t)70000);
	CHECK(!vq.broken);
	done();
}

static void test_event_idx(void)
{
	fixture(1ULL << VIRTIO_RING_F_EVENT_IDX);
	struct iovec iov[2];
	struct vq_chain c;
	uint16_t *used_event = avail16(2 + QSZ);
	uint16_t *avail_event = used16(2 + 4 * QSZ);
	for (int i = 0; i < 4; i++) {
		set_desc(DESC_GPA, i, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
		make_avail(i);
	}
	CHECK_EQ(vq_pop(&vq, iov, 2, &c), 1);
	CHECK_EQ(*avail_event, 1);                            /* kick me for the next one */
	*used_event = 2;                                      /* driver: interrupt after 3rd */
	vq_push(&vq, 0, 8);
	CHECK(!vq_need_interrupt(&vq));                       /* used idx 1 */
	vq_pop(&vq, iov, 2, &c);
	vq_push(&vq, 1, 8);
	CHECK(!vq_need_interrupt(&vq));                       /* 2 */
	vq_pop(&vq, iov, 2, &c);
	vq_push(&vq, 2, 8);
	CHECK(vq_need_interrupt(&vq));                        /* 3: crossed used_event 2 */
	vq_pop(&vq, iov, 2, &c);
	vq_push(&vq, 3, 8);
	CHECK(!vq_need_interrupt(&vq));                       /* event already passed */
	/* Batch that jumps over the event still interrupts. */
	*used_event = 5;
	for (int i = 0; i < 3; i++) {
		make_avail(i);
		vq_pop(&vq, iov, 2, &c);
		vq_push(&vq, c.head, 8);
	}
	CHECK(vq_need_interrupt(&vq));
	/* Notification suppression through avail_event. */
	CHECK(!vq_set_notify(&vq, false));
	make_avail(0);
	vq_pop(&vq, iov, 2, &c);
	CHECK_EQ(*avail_event, 7);                            /* not advanced while disabled */
	make_avail(1);
	CHECK(vq_set_notify(&vq, true));                      /* one arrived meanwhile */
	CHECK_EQ(*avail_event, 8);
	done();
}

static void test_notify_flag(void)
{
	fixture(0);
	CHECK(!vq_set_notify(&vq, false));
	CHECK_EQ(*used16(0), VRING_USED_F_NO_NOTIFY);
	CHECK(!vq_set_notify(&vq, true));
	CHECK_EQ(*used16(0), 0);
	vq_set_notify(&vq, false);
	set_desc(DESC_GPA, 0, BUF_GPA, 8, 0, 0);
	make_avail(0);
	CHECK(vq_set_notify(&vq, true));
	done();
}

static void test_indirect(void)
{
	const uint64_t tbl = RAM_BASE + 0x8000;
	struct iovec iov[8];
	struct vq_chain c;

	fixture(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	set_desc(tbl, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 2);
	set_desc(tbl, 2, BUF_GPA + 16, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(tbl, 1, BUF_GPA + 8192, 1, VRING_DESC_F_WRITE, 0);
	/* A direct descriptor first, then the indirect one ends the chain. */
	set_desc(DESC_GPA, 4, BUF_GPA + 0x5000, 8, VRING_DESC_F_NEXT, 9);
	set_desc(DESC_GPA, 9, tbl, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	make_avail(4);
	CHECK_EQ(vq_pop(&vq, iov, 8, &c), 1);
	CHECK_EQ(c.head, 4);
	CHECK_EQ(c.niov, 4);
	CHECK_EQ(c.nread, 2);
	CHECK_EQ(c.read_len, 24);
	CHECK_EQ(c.write_len, 4097);
	CHECK(iov[3].iov_base == gp(BUF_GPA + 8192));
	done();

	/* Indirect without the feature. */
	fixture(0);
	set_desc(tbl, 0, BUF_GPA, 16, 0, 0);
	set_desc(DESC_GPA, 0, tbl, 16, VRING_DESC_F_INDIRECT, 0);
	make_avail(0);
	expect_broken(VQ_BAD_INDIRECT, __LINE__);
	done();

	static const struct { uint64_t addr; uint32_t len; uint16_t flags; unsigned int why; } bad[] = {
		{ RAM_BASE + 0x8000, 0, VRING_DESC_F_INDIRECT, VQ_BAD_INDIRECT },          /* empty */
		{ RAM_BASE + 0x8000, 24, VRING_DESC_F_INDIRECT, VQ_BAD_INDIRECT },         /* not n*16 */
		{ RAM_BASE + 0x8000, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, VQ_BAD_INDIRECT },
		{ RAM_BASE + RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, VQ_BAD_ADDR },      /* past RAM */
		{ 0xFFFFFFFFFFFFFFF0ULL, 32, VRING_DESC_F_INDIRECT, VQ_BAD_ADDR },         /* wraps */
		{ RAM_BASE + 0x8000, 0xFFFFFFF0u, VRING_DESC_F_INDIRECT, VQ_BAD_INDIRECT },/* huge */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fixture(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
		set_desc(tbl, 0, BUF_GPA, 16, 0, 0);
		set_desc(tbl, 1, BUF_GPA, 16, 0, 0);
		set_desc(DESC_GPA, 0, bad[i].addr, bad[i].len, bad[i].flags, 1);
		make_avail(0);
		expect_broken(bad[i].why, __LINE__ + (int)i * 1000);
		done();
	}

	/* Indirect inside indirect. */
	fixture(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	set_desc(tbl, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(tbl, 1, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	set_desc(DESC_GPA, 0, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	make_avail(0);
	expect_broken(VQ_BAD_INDIRECT, __LINE__);
	done();

	/* Loop inside the table, and next beyond the table. */
	fixture(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	set_desc(tbl, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(tbl, 1, BUF_GPA, 16, VRING_DESC_F_NEXT, 0);
	set_desc(DESC_GPA, 0, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	make_avail(0);
	expect_broken(VQ_BAD_LOOP, __LINE__);
	done();
	fixture(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	set_desc(tbl, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 2);   /* table has 2 entries */
	set_desc(DESC_GPA, 0, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	make_avail(0);
	expect_broken(VQ_BAD_NEXT, __LINE__);
	done();
}

/* A chain costs at most the queue size of descriptor reads: an indirect table longer than
 * the queue, or direct and indirect descriptors (empty ones too) adding up to more, break the
 * queue; a table of exactly the queue size of empty descriptors is a valid (empty) chain. */
static void test_chain_budget(void)
{
	const uint64_t tbl = RAM_BASE + 0x8000;
	struct iovec iov[8];
	struct vq_chain c;

	fixture(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	for (int i = 0; i < QSZ + 1; i++)
		set_desc(tbl, i, BUF_GPA, 0, i < QSZ ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	set_desc(DESC_GPA, 0, tbl, (QSZ + 1) * 16, VRING_DESC_F_INDIRECT, 0);
	make_avail(0);
	expect_broken(VQ_BAD_INDIRECT, __LINE__);
	done();

	fixture(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	for (int i = 0; i < QSZ; i++)
		set_desc(tbl, i, BUF_GPA, 0, i < QSZ - 1 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	set_desc(DESC_GPA, 0, tbl, QSZ * 16, VRING_DESC_F_INDIRECT, 0);
	make_avail(0);
	CHECK_EQ(vq_pop(&vq, iov, 8, &c), 1);
	CHECK_EQ(c.niov, 0);
	done();

	/* Four empty direct descriptors, then a full-size table: QSZ + 4 in all. */
	fixture(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	for (int i = 0; i < QSZ; i++)
		set_desc(tbl, i, BUF_GPA, 0, i < QSZ - 1 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	for (int i = 0; i < 4; i++)
		set_desc(DESC_GPA, i, BUF_GPA, 0, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	set_desc(DESC_GPA, 4, tbl, QSZ * 16, VRING_DESC_F_INDIRECT, 0);
	make_avail(0);
	expect_broken(VQ_BAD_LOOP, __LINE__);
	done();
}

static void test_hostile_direct(void)
{
	struct iovec iov[8];
	struct vq_chain c;

	fixture(0);                                           /* 0 -> 1 -> 0 ... */
	set_desc(DESC_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	make_avail(0);
	expect_broken(VQ_BAD_LOOP, __LINE__);
	done();

	fixture(0);                                           /* zero-length loop, no iovs */
	set_desc(DESC_GPA, 2, BUF_GPA, 0, VRING_DESC_F_NEXT, 2);
	make_avail(2);
	expect_broken(VQ_BAD_LOOP, __LINE__);
	done();

	fixture(0);
	set_desc(DESC_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, QSZ);
	make_avail(0);
	expect_broken(VQ_BAD_NEXT, __LINE__);
	done();

	fixture(0);
	make_avail(QSZ);                                      /* head beyond queue */
	expect_broken(VQ_BAD_HEAD, __LINE__);
	done();

	fixture(0);
	*avail16(1) = QSZ + 1;                                /* idx jumped by more than size */
	CHECK_EQ(vq_pending(&vq), 0);
	expect_broken(VQ_BAD_AVAIL_IDX, __LINE__);
	done();

	static const struct { uint64_t addr; uint32_t len; } badbuf[] = {
		{ 0, 8 }, { RAM_BASE - 1, 2 }, { RAM_BASE + RAM_SIZE - 4, 8 },
		{ RAM_BASE, 0xFFFFFFFFu }, { 0xFFFFFFFFFFFFFFFFULL, 2 }, { RAM_BASE + RAM_SIZE, 1 },
	};
	for (size_t i = 0; i < sizeof(badbuf) / sizeof(badbuf[0]); i++) {
		fixture(0);
		set_desc(DESC_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
		set_desc(DESC_GPA, 1, badbuf[i].addr, badbuf[i].len, VRING_DESC_F_WRITE, 0);
		make_avail(0);
		expect_broken(VQ_BAD_ADDR, __LINE__ + (int)i * 1000);
		done();
	}

	fixture(0);                                           /* readable after writable */
	set_desc(DESC_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(DESC_GPA, 1, BUF_GPA, 8, 0, 0);
	make_avail(0);
	expect_broken(VQ_BAD_ORDER, __LINE__);
	done();

	fixture(0);                                           /* more buffers than the caller's iov */
	for (int i = 0; i < 9; i++)
		set_desc(DESC_GPA, i, BUF_GPA, 8, i < 8 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	make_avail(0);
	expect_broken_n(VQ_BAD_IOV, __LINE__, 8);
	done();

	/* A broken queue recovers only through reset and set-up. */
	fixture(0);
	make_avail(QSZ + 3);
	CHECK_EQ(vq_pop(&vq, iov, 8, &c), -1);
	vq_reset(&vq);
	CHECK(!vq.broken);
	CHECK_EQ(vq_setup(&vq, QSZ, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
	memset(gp(AVAIL_GPA), 0, 64);
	avail_idx = 0;
	set_desc(DESC_GPA, 0, BUF_GPA, 8, 0, 0);
	make_avail(0);
	CHECK_EQ(vq_pop(&vq, iov, 8, &c), 1);
	done();
}

/* A chain exactly as long as the queue is fine; each descriptor once. */
static void test_full_length_chain(void)
{
	struct iovec iov[QSZ];
	struct vq_chain c;

	fixture(0);
	for (int i = 0; i < QSZ; i++)
		set_desc(DESC_GPA, i, BUF_GPA + i * 8, 8, i < QSZ - 1 ? VRING_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	make_avail(0);
	CHECK_EQ(vq_pop(&vq, iov, QSZ, &c), 1);
	CHECK_EQ(c.niov, QSZ);
	CHECK_EQ(c.read_len, QSZ * 8);
	done();
}

static void test_iov_copy(void)
{
	char a[5], b[7], out[16];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	CHECK_EQ(vq_buf_to_iov(iov, 2, 3, "0123456789ABCDEF", 16), 9);
	CHECK(memcmp(a + 3, "01", 2) == 0);
	CHECK(memcmp(b, "2345678", 7) == 0);
	memset(out, 0, sizeof(out));
	CHECK_EQ(vq_iov_to_buf(iov, 2, 4, out, sizeof(out)), 8);
	CHECK(memcmp(out, "12345678", 8) == 0);
	CHECK_EQ(vq_iov_to_buf(iov, 2, 12, out, 4), 0);
	CHECK_EQ(vq_iov_to_buf(iov, 2, 0, out, 2), 2);
}

/* Random rings (seeded, reproducible): whatever the driver writes, a popped chain only ever
 * points into RAM, its lengths add up, and a bad one breaks the queue instead of the host. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t rand_addr(void)
{
	switch (rng() % 8) {
	case 0: return rng();                                   /* anywhere */
	case 1: return RAM_BASE + RAM_SIZE - (rng() % 64);     /* near the end */
	case 2: return RAM_BASE - (rng() % 64);                /* just before */
	case 3: return RAM_BASE + 0x8000 + 16 * (rng() % 8);   /* the indirect table */
	default: return BUF_GPA + (rng() % 0x10000);
	}
}

static void test_fuzz(void)
{
	struct iovec iov[16];
	struct vq_chain c;
	int popped = 0, broken = 0;

	for (int round = 0; round < 3000; round++) {
		fixture(rng() & 1 ? (1ULL << VIRTIO_RING_F_INDIRECT_DESC) : 0);
		for (int i = 0; i < QSZ; i++)
			set_desc(DESC_GPA, i, rand_addr(), (uint32_t)(rng() % 3 ? rng() % 5000 : rng()),
				 (uint16_t)(rng() % 8), (uint16_t)(rng() % (QSZ + 2)));
		for (int i = 0; i < 8; i++)
			set_desc(RAM_BASE + 0x8000, i, rand_addr(), (uint32_t)(rng() % 3000),
				 (uint16_t)(rng() % 8), (uint16_t)(rng() % 10));
		int n = (int)(rng() % 4);
		for (int i = 0; i < n; i++)
			make_avail((uint16_t)(rng() % (QSZ + 1)));
		if (rng() % 16 == 0)
			*avail16(1) = (uint16_t)rng();
		for (int k = 0; k < 6; k++) {
			int r = vq_pop(&vq, iov, 16, &c);
			if (r == 0)
				break;
			if (r < 0) {
				broken++;
				CHECK(vq.broken);
				break;
			}
			popped++;
			uint64_t total = 0;
			for (int i = 0; i < c.niov; i++) {
				uint8_t *b = iov[i].iov_base;
				if (b < ram || b + iov[i].iov_len > ram + RAM_SIZE)
					CHECK(0);
				total += iov[i].iov_len;
			}
			CHECK_EQ(total, c.read_len + c.write_len);
			CHECK(c.nread <= c.niov && c.head < QSZ);
			vq_push(&vq, c.head, 0);
		}
		done();
	}
	CHECK(popped > 0 && broken > 0);   /* both kinds of outcome were exercised */
}

/* ---- Reports of device writes (vq_mem.wrote) ---- */

#define MAX_NOTES 64
static struct { uint64_t gpa, len; } notes[MAX_NOTES];
static int nnotes;

static void note_wrote(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	if (nnotes < MAX_NOTES) {
		notes[nnotes].gpa = gpa;
		notes[nnotes].len = len;
	}
	nnotes++;
}

static void notes_fixture(uint64_t features)
{
	struct vq_mem mem = { fake_map, NULL, note_wrote };
	memset(ram, 0, RAM_SIZE);
	avail_idx = 0;
	vq_init(&vq, &mem);
	vq_set_features(&vq, features);
	CHECK_EQ(vq_setup(&vq, QSZ, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
	nnotes = 0;
}

/* Was exactly [gpa, gpa+len) reported? */
static bool noted(uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < nnotes && i < MAX_NOTES; i++)
		if (notes[i].gpa == gpa && notes[i].len == len)
			return true;
	return false;
}

/* Bytes reported outside the rings (the buffers). */
static uint64_t noted_buf_bytes(void)
{
	uint64_t n = 0;
	for (int i = 0; i < nnotes && i < MAX_NOTES; i++)
		if (notes[i].gpa >= BUF_GPA)
			n += notes[i].len;
	return n;
}

static void pop_one(void)
{
	struct iovec iov[8];
	struct vq_chain c;
	CHECK_EQ(vq_pop(&vq, iov, 8, &c), 1);
	nnotes = 0;
}

static void test_push_reports_writes(void)
{
	notes_fixture(0);
	set_desc(DESC_GPA, 2, BUF_GPA, 16, VRING_DESC_F_NEXT, 6);                       /* read */
	set_desc(DESC_GPA, 6, BUF_GPA + 0x1000, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 8);
	set_desc(DESC_GPA, 8, BUF_GPA + 0x3000, 1, VRING_DESC_F_WRITE, 0);
	make_avail(2);
	pop_one();
	CHECK_EQ(nnotes, 0);                                  /* popping writes nothing */
	CHECK_EQ(vq_push(&vq, 2, 513), 0);
	CHECK(noted(BUF_GPA + 0x1000, 512));
	CHECK(noted(BUF_GPA + 0x3000, 1));
	CHECK(!noted(BUF_GPA, 16));                           /* device-readable: not written */
	CHECK(noted(USED_GPA + 4, 8));                        /* the used element */
	CHECK(noted(USED_GPA + 2, 2));                        /* used->idx */
	CHECK_EQ(noted_buf_bytes(), 513);

	/* Only the bytes the device says it wrote, in chain order. */
	make_avail(2);
	pop_one();
	CHECK_EQ(vq_push(&vq, 2, 100), 0);
	CHECK(noted(BUF_GPA + 0x1000, 100));
	CHECK_EQ(noted_buf_bytes(), 100);
	make_avail(2);
	pop_one();
	CHECK_EQ(vq_push(&vq, 2, 0), 0);
	CHECK_EQ(noted_buf_bytes(), 0);
	CHECK(noted(USED_GPA + 4 + 8 * 2, 8));

	/* Notification flags written into the used ring are reported too. */
	nnotes = 0;
	vq_set_notify(&vq, false);
	CHECK(noted(USED_GPA, 2));
	done();

	/* Writable buffers inside an indirect table. */
	const uint64_t tbl = RAM_BASE + 0x8000;
	notes_fixture(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	set_desc(tbl, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(tbl, 1, BUF_GPA + 0x2000, 4096, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(tbl, 2, BUF_GPA + 0x5000, 1, VRING_DESC_F_WRITE, 0);
	set_desc(DESC_GPA, 0, tbl, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	make_avail(0);
	pop_one();
	CHECK_EQ(vq_push(&vq, 0, 4097), 0);
	CHECK(noted(BUF_GPA + 0x2000, 4096));
	CHECK(noted(BUF_GPA + 0x5000, 1));
	CHECK_EQ(noted_buf_bytes(), 4097);
	done();

	/* EVENT_IDX: avail_event, written at each pop, is reported. */
	notes_fixture(1ULL << VIRTIO_RING_F_EVENT_IDX);
	set_desc(DESC_GPA, 0, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	struct iovec iov[2];
	struct vq_chain c;
	CHECK_EQ(vq_pop(&vq, iov, 2, &c), 1);
	CHECK(noted(USED_GPA + 4 + 8 * QSZ, 2));
	done();
}

/* A driver that rewrites a chain while the device holds it: the report stays bounded (the
 * walk stops at a loop, after `len` bytes, at buffers outside RAM) and the queue still works. */
static void test_push_reports_hostile(void)
{
	notes_fixture(0);
	set_desc(DESC_GPA, 1, BUF_GPA, 64, VRING_DESC_F_WRITE, 0);
	make_avail(1);
	pop_one();
	set_desc(DESC_GPA, 1, BUF_GPA, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);  /* loop */
	CHECK_EQ(vq_push(&vq, 1, 0xFFFFFFFFu), 0);
	CHECK(nnotes <= QSZ + 2);
	CHECK(noted_buf_bytes() <= 64ULL * QSZ);
	CHECK(!vq.broken);                                    /* only pop judges chains */
	CHECK_EQ(*used16(1), 1);
	done();

	notes_fixture(0);
	set_desc(DESC_GPA, 1, BUF_GPA, 64, VRING_DESC_F_WRITE, 0);
	make_avail(1);
	struct iovec iov[2];
	struct vq_chain c;
	CHECK_EQ(vq_pop(&vq, iov, 2, &c), 1);
	nnotes = 0;
	set_desc(DESC_GPA, 1, RAM_BASE + RAM_SIZE - 8, 64, VRING_DESC_F_WRITE, 0);  /* past RAM */
	CHECK_EQ(vq_push(&vq, 1, 64), 0);
	CHECK_EQ(noted_buf_bytes(), 0);
	CHECK(!vq.broken);
	CHECK_EQ(*used16(1), 1);
	done();
}

int main(void)
{
	ram = malloc(RAM_SIZE);
	test_setup();
	test_normal_chain();
	test_wraparound();
	test_event_idx();
	test_notify_flag();
	test_indirect();
	test_chain_budget();
	test_hostile_direct();
	test_full_length_chain();
	test_iov_copy();
	test_fuzz();
	test_push_reports_writes();
	test_push_reports_hostile();
	free(ram);
	return unit_report("virtio_ring");
}
