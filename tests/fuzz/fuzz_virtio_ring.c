/*
 * The split virtqueue core (virtio_ring.c) against a guest RAM the input fills: descriptor
 * tables, indirect tables, avail and used rings, with the driver's index moves in between.
 * Input: a 16-byte header, then RAM contents (64 KiB at most, at RAM_BASE).
 *   header: features u8 (bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 legacy layout),
 *           log2 queue size u8, desc/avail/used offsets u16 each (into RAM), pops u8,
 *           maxiov u8, push length u32, spare u16
 * Each popped chain is pushed back (with the length from the header) and its buffers are
 * read and written through the iovecs, so ASan sees any iovec outside RAM.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pci/virtio_ring.h"

#define RAM_BASE 0x10000ULL
#define RAM_SIZE 0x10000ULL

static uint8_t *ram;

static void *fz_map(void *ctx, uint64_t gpa, size_t len)
{
	(void)ctx;
	if (gpa < RAM_BASE || len > RAM_SIZE || gpa - RAM_BASE > RAM_SIZE - len)
		return NULL;
	return ram + (gpa - RAM_BASE);
}

struct fz_hdr {
	uint8_t features, qlog;
	uint16_t desc, avail, used;
	uint8_t pops, maxiov;
	uint32_t pushlen;
	uint16_t spare;
};

static void fz_drain(struct virtqueue *vq, const struct fz_hdr *h)
{
	struct iovec iov[64];
	struct vq_chain c;
	int maxiov = 1 + h->maxiov % 64;
	for (int i = 0; i < h->pops; i++) {
		if (vq_pop(vq, iov, maxiov, &c) <= 0)
			break;
		uint8_t buf[512];
		vq_iov_to_buf(iov, c.nread, 0, buf, sizeof(buf));
		if (c.niov > c.nread)
			vq_buf_to_iov(iov + c.nread, c.niov - c.nread, 0, buf, sizeof(buf));
		vq_push(vq, c.head, h->pushlen);
		vq_need_interrupt(vq);
		vq_set_notify(vq, i & 1);
	}
	vq_pending(vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_hdr h;
	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	if (!ram)
		ram = malloc(RAM_SIZE);
	memset(ram, 0, RAM_SIZE);
	size_t n = size - sizeof(h) < RAM_SIZE ? size - sizeof(h) : RAM_SIZE;
	memcpy(ram, data + sizeof(h), n);

	struct virtqueue vq;
	struct vq_mem mem = { fz_map, NULL, NULL };
	vq_init(&vq, &mem);
	uint64_t f = 0;
	if (h.features & 1)
		f |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (h.features & 2)
		f |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	vq_set_features(&vq, f);
	uint16_t qsize = (uint16_t)(1u << (h.qlog % 16));
	int rc;
	if (h.features & 4)
		rc = vq_setup_legacy(&vq, qsize, (uint32_t)((RAM_BASE + h.desc) >> 12));
	else
		rc = vq_setup(&vq, h.qlog & 0x80 ? h.spare : qsize, RAM_BASE + h.desc,
			      RAM_BASE + h.avail, RAM_BASE + h.used);
	if (rc == 0) {
		fz_drain(&vq, &h);
		vq_reset(&vq);
	}
	vq_destroy(&vq);
	return 0;
}
