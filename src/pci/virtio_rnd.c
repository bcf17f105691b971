/*
 * virtio-rnd (entropy device, virtio 1.x section 5.4): one queue; the driver posts
 * device-writable buffers and we fill them from getrandom().  No config space, no features of
 * its own.  Each chain is capped at VTRND_MAX_CHAIN bytes so a huge buffer cannot stall the vCPU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "pci/virtio_rnd.h"

struct vtrnd_softc {
	struct vtpci_state vs;
	struct vtpci_dev dev;
};

struct vtpci_state *vtrnd_vtpci(struct vtrnd_softc *sc) { return &sc->vs; }

/* Fill up to `max` bytes of the writable buffers; returns bytes written. */
static uint32_t vtrnd_fill(const struct iovec *iov, int first, int n, uint32_t max)
{
	uint32_t done = 0;

	for (int i = first; i < n && done < max; i++) {
		size_t want = iov[i].iov_len;
		if (want > max - done)
			want = max - done;
		size_t got = 0;
		while (got < want) {
			ssize_t r = getrandom((uint8_t *)iov[i].iov_base + got, want - got, 0);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				return done + (uint32_t)got;
			}
			got += (size_t)r;
		}
		done += (uint32_t)got;
	}
	return done;
}

static void vtrnd_qnotify(void *arg, int q)
{
	struct vtrnd_softc *sc = arg;
	struct virtqueue *vq = vtpci_vq(&sc->vs, q);
	struct iovec iov[VTRND_QSIZE];
	struct vq_chain c;
	bool any = false;

	for (;;) {
		int r = vq_pop(vq, iov, VTRND_QSIZE, &c);
		if (r == 0)
			break;
		if (r < 0) {
			vtpci_needs_reset(&sc->vs);
			break;
		}
		uint32_t n = vtrnd_fill(iov, c.nread, c.niov, VTRND_MAX_CHAIN);
		vq_push(vq, c.head, n);
		any = true;
	}
	if (any)
		vtpci_queue_done(&sc->vs, q);
}

struct vtrnd_softc *vtrnd_create(const struct vtpci_intr_ops *intr, void *intr_ctx,
				 const struct vq_mem *mem, char *err, size_t errlen)
{
	struct vtrnd_softc *sc = calloc(1, sizeof(*sc));
	if (!sc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sc->dev = (struct vtpci_dev){
		.name = "virtio-rnd", .nvq = 1, .qsize = VTRND_QSIZE,
		.features = (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX),
		.cfgsize = 0, .qnotify = vtrnd_qnotify,
	};
	if (vtpci_init(&sc->vs, &sc->dev, sc, intr, intr_ctx, mem) < 0) {
		snprintf(err, errlen, "virtio-rnd: transport set-up failed");
		free(sc);
		return NULL;
	}
	return sc;
}

void vtrnd_destroy(struct vtrnd_softc *sc)
{
	if (!sc)
		return;
	vtpci_destroy(&sc->vs);
	free(sc);
}
