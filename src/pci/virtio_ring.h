/*
 * The split virtqueue (virtio 1.x section 2.7, and the legacy layout of virtio 0.9.5), with no
 * knowledge of PCI.  The driver (guest) owns three areas in guest RAM:
 *   descriptor table  16 * size bytes, 16-byte aligned: {addr, len, flags, next}
 *   available ring    flags, idx, ring[size], used_event        (2-byte aligned)
 *   used ring         flags, idx, ring[size] {id, len}, avail_event (4-byte aligned)
 * The device pops chains the driver made available and pushes used elements back.
 *
 * Everything read from the rings is guest-controlled and may change under our feet, so each
 * descriptor is copied once and then validated: every buffer must lie wholly in guest RAM, a
 * chain may not be longer than the queue (this catches loops), an indirect table may not contain
 * another indirect descriptor, and device-writable buffers may not precede device-readable ones.
 * A chain that breaks a rule marks the queue broken: the transport then sets DEVICE_NEEDS_RESET
 * (virtio 1.x 2.1.2) and the queue pops nothing more until it is reset.
 *
 * Guest memory is reached through `struct vq_mem` (vm_map_gpa in production, a fake in tests).
 */
#ifndef BHYVE_VIRTIO_RING_H
#define BHYVE_VIRTIO_RING_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VRING_DESC_F_NEXT        1
#define VRING_DESC_F_WRITE       2
#define VRING_DESC_F_INDIRECT    4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY   1

#define VQ_MAX_SIZE              32768     /* virtio: queue size is a power of 2 <= 32768 */
#define VQ_LEGACY_ALIGN          4096      /* legacy PCI: used ring starts on a 4 KiB boundary */

/* Feature bits that concern the ring. */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX     29

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

/* Guest memory access: a host pointer for [gpa, gpa+len) if it lies wholly in RAM, else NULL.
 * `wrote` (may be NULL) is told of every range the device wrote, before the driver can see the
 * write as done: vq_push reports the chain's device-writable buffers and the used-ring entry,
 * so a CPU that caches decoded guest code drops it there (vm_notify_write). */
struct vq_mem {
	void *(*map)(void *ctx, uint64_t gpa, size_t len);
	void *ctx;
	void (*wrote)(void *ctx, uint64_t gpa, uint64_t len);
};

struct virtqueue {
	struct vq_mem mem;
	pthread_mutex_t lock;       /* pop (notify thread) vs push (completion threads) */
	uint16_t size;              /* 0 = not set up */
	bool indirect;              /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool event_idx;             /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool broken;                /* a bad chain was seen: needs reset */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;    /* host pointers into guest RAM */
	uint16_t *avail;            /* [0]=flags [1]=idx [2..size+1]=ring [size+2]=used_event */
	uint16_t *used_hdr;         /* [0]=flags [1]=idx */
	struct vring_used_elem *used_ring;
	uint16_t *avail_event;      /* after used ring */
	uint16_t last_avail;        /* next avail ring slot we will read */
	uint16_t used_idx;          /* our copy of used->idx */
	uint16_t signalled_used;    /* used_idx when we last decided about an interrupt */
	bool signalled_valid;
	bool no_notify;             /* we asked the driver not to kick */
	unsigned int bad_reason;    /* for logs/tests: which check failed (VQ_BAD_*) */
};

/* Why a queue was marked broken. */
enum {
	VQ_BAD_NONE = 0, VQ_BAD_AVAIL_IDX, VQ_BAD_HEAD, VQ_BAD_NEXT, VQ_BAD_ADDR, VQ_BAD_LOOP,
	VQ_BAD_INDIRECT, VQ_BAD_ORDER, VQ_BAD_IOV, VQ_BAD_LEN, VQ_BAD_PUSH,
};

/* One popped chain: iov[0..nread) are device-readable, iov[nread..niov) device-writable. */
struct vq_chain {
	uint16_t head;
	int niov;
	int nread;
	uint64_t read_len;          /* total bytes of the readable part */
	uint64_t write_len;         /* total bytes of the writable part */
};

void vq_init(struct virtqueue *vq, const struct vq_mem *mem);
void vq_destroy(struct virtqueue *vq);
/* Forget the rings (device reset or queue disable); features stay as set. */
void vq_reset(struct virtqueue *vq);

/* Set the queue up from the driver's addresses (virtio 1.x): size must be a power of 2 up to
 * VQ_MAX_SIZE, each area aligned and wholly in RAM.  0, or -1 (queue left unset). */
int vq_setup(struct virtqueue *vq, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used);
/* Legacy layout from a page frame number: desc at pfn*4096, avail after it, used 4 KiB aligned. */
int vq_setup_legacy(struct virtqueue *vq, uint16_t size, uint32_t pfn);
/* Bytes a legacy queue of `size` occupies. */
size_t vq_legacy_bytes(uint16_t size);
static inline bool vq_ready(const struct virtqueue *vq) { return vq->size != 0; }

void vq_set_features(struct virtqueue *vq, uint64_t features);

/* Pop the next available chain into iov[0..maxiov).  1: popped into *c; 0: nothing available;
 * -1: the chain (or the ring) is invalid and the queue is now broken, or it was broken/unset. */
int vq_pop(struct virtqueue *vq, struct iovec *iov, int maxiov, struct vq_chain *c);
/* Number of chains available and not yet popped (0 when broken or unset). */
unsigned int vq_pending(struct virtqueue *vq);
/* Return a chain to the driver, `len` = bytes written into its writable buffers.  The device
 * has finished writing them: mem.wrote hears of each before the used entry is published. */
int vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);
/* After pushing: should the driver be interrupted?  Applies VRING_AVAIL_F_NO_INTERRUPT or, with
 * EVENT_IDX, used_event.  Call once per batch of pushes. */
bool vq_need_interrupt(struct virtqueue *vq);
/* Ask the driver not to notify (false) or to notify again (true).  Enabling returns true if
 * chains arrived meanwhile, so the caller must process them (no lost wake-up). */
bool vq_set_notify(struct virtqueue *vq, bool enable);

/* Copy helpers over an iov array (bounded by the iov's total length). */
size_t vq_iov_to_buf(const struct iovec *iov, int niov, size_t skip, void *buf, size_t len);
size_t vq_buf_to_iov(const struct iovec *iov, int niov, size_t skip, const void *buf, size_t len);

#endif
