/*
 * Requests in flight on one virtqueue of a storage device (virtio-blk, virtio-scsi), and the
 * serial number those devices report.
 *
 * A storage request leaves the vCPU thread that popped it and completes later on a block
 * backend worker, out of order.  The driver may not make a head available again before the
 * device used it (virtio 1.x 2.7.13); a chain that does so would alias a request in flight, so
 * the device refuses it (vtreq_claim fails) and sets DEVICE_NEEDS_RESET instead.  A reset waits
 * until nothing is in flight before the rings go away, and `intake` keeps a concurrent notify
 * from starting requests meanwhile.
 */
#ifndef BHYVE_VIRTIO_REQ_H
#define BHYVE_VIRTIO_REQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pci/virtio_pci.h"

#define VTREQ_MAXQSIZE 256         /* largest queue a storage device offers */
#define VTREQ_SERIAL_LEN 20        /* "BHYVE-XXXX-XXXX-XXXX" */

struct vtreq_track {
	struct vtpci_state *vs;
	int q;                      /* the request queue */
	pthread_mutex_t intake;     /* request intake vs reset (both on vCPU threads) */
	pthread_mutex_t mtx;        /* busy[], inflight; a device may take it to look at
				     * inflight and leave work for on_idle */
	pthread_cond_t idle;        /* inflight dropped to 0 */
	int inflight;
	bool busy[VTREQ_MAXQSIZE];
	/* Optional: called with mtx held by the completion that leaves nothing in flight. */
	void (*on_idle)(void *arg);
	void *arg;
};

void vtreq_init(struct vtreq_track *t, struct vtpci_state *vs, int q);
void vtreq_destroy(struct vtreq_track *t);
/* Mark head in flight; false if it already is (the driver broke the rules). */
bool vtreq_claim(struct vtreq_track *t, uint16_t head);
/* Give the chain back with `len` bytes written, interrupt as the driver asked, and count the
 * request done.  Any thread. */
void vtreq_complete(struct vtreq_track *t, uint16_t head, uint32_t len);
/* Pop every available chain of the request queue and hand it to start(); a bad chain, or
 * start() returning false, sets DEVICE_NEEDS_RESET and stops. */
void vtreq_drain(struct vtreq_track *t, struct iovec *iov, int maxiov,
		 bool (*start)(void *arg, const struct iovec *iov, const struct vq_chain *c),
		 void *arg);
/* Wait until no request is in flight. */
void vtreq_wait_idle(struct vtreq_track *t);
/* Device reset: wait for requests in flight, forget them and the request queue's ring. */
void vtreq_reset(struct vtreq_track *t);

/* A serial number derived from the backing path, stable across runs:
 * "BHYVE-XXXX-XXXX-XXXX" (MD5 of the path); out has room for VTREQ_SERIAL_LEN + 1. */
void vtreq_serial(const char *path, char *out, size_t outlen);

#endif
