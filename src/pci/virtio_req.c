/*
 * Requests in flight on a storage device's virtqueue, and its serial number (virtio_req.h).
 */
#include <md5.h>
#include <stdio.h>
#include <string.h>

#include "pci/virtio_req.h"

void vtreq_init(struct vtreq_track *t, struct vtpci_state *vs, int q)
{
	memset(t, 0, sizeof(*t));
	t->vs = vs;
	t->q = q;
	pthread_mutex_init(&t->intake, NULL);
	pthread_mutex_init(&t->mtx, NULL);
	pthread_cond_init(&t->idle, NULL);
}

void vtreq_destroy(struct vtreq_track *t)
{
	pthread_cond_destroy(&t->idle);
	pthread_mutex_destroy(&t->mtx);
	pthread_mutex_destroy(&t->intake);
}

bool vtreq_claim(struct vtreq_track *t, uint16_t head)
{
	bool ok;

	pthread_mutex_lock(&t->mtx);
	ok = head < VTREQ_MAXQSIZE && !t->busy[head];
	if (ok) {
		t->busy[head] = true;
		t->inflight++;
	}
	pthread_mutex_unlock(&t->mtx);
	return ok;
}

void vtreq_complete(struct vtreq_track *t, uint16_t head, uint32_t len)
{
	pthread_mutex_lock(&t->mtx);
	t->busy[head] = false;              /* before push: the driver may reuse it at once */
	pthread_mutex_unlock(&t->mtx);
	vq_push(vtpci_vq(t->vs, t->q), head, len);
	vtpci_queue_done(t->vs, t->q);
	pthread_mutex_lock(&t->mtx);
	if (--t->inflight == 0) {
		if (t->on_idle)
			t->on_idle(t->arg);
		pthread_cond_broadcast(&t->idle);
	}
	pthread_mutex_unlock(&t->mtx);
}

void vtreq_drain(struct vtreq_track *t, struct iovec *iov, int maxiov,
		 bool (*start)(void *arg, const struct iovec *iov, const struct vq_chain *c),
		 void *arg)
{
	struct virtqueue *vq = vtpci_vq(t->vs, t->q);
	struct vq_chain c;

	pthread_mutex_lock(&t->intake);
	for (;;) {
		int r = vq_pop(vq, iov, maxiov, &c);
		if (r == 0)
			break;
		if (r < 0 || !start(arg, iov, &c)) {
			vtpci_needs_reset(t->vs);
			break;
		}
	}
	pthread_mutex_unlock(&t->intake);
}

void vtreq_wait_idle(struct vtreq_track *t)
{
	pthread_mutex_lock(&t->mtx);
	while (t->inflight)
		pthread_cond_wait(&t->idle, &t->mtx);
	pthread_mutex_unlock(&t->mtx);
}

void vtreq_reset(struct vtreq_track *t)
{
	pthread_mutex_lock(&t->intake);
	vtreq_wait_idle(t);
	pthread_mutex_lock(&t->mtx);
	memset(t->busy, 0, sizeof(t->busy));
	pthread_mutex_unlock(&t->mtx);
	vq_reset(vtpci_vq(t->vs, t->q));    /* the transport does it too; here under intake */
	pthread_mutex_unlock(&t->intake);
}

void vtreq_serial(const char *path, char *out, size_t outlen)
{
	MD5_CTX ctx;
	uint8_t d[16];

	MD5Init(&ctx);
	MD5Update(&ctx, (const uint8_t *)path, strlen(path));
	MD5Final(d, &ctx);
	snprintf(out, outlen, "BHYVE-%02X%02X-%02X%02X-%02X%02X", d[0], d[1], d[2], d[3], d[4],
		 d[5]);
}
