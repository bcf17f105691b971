/*
 * virtio-rnd (-s N,virtio-rnd): a virtio entropy device (virtio 1.x section 5.4) fed from the
 * host's random source.  It takes no options.
 *
 * One queue; the driver posts device-writable buffers and we fill them from getrandom().  No
 * config space, no features of its own.  Each chain is capped at VTRND_MAX_CHAIN bytes so a
 * huge buffer cannot stall the vCPU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "pci/pci_emul.h"
#include "pci/pci_devinst.h"
#include "pci/virtio_pci_bus.h"

#define VTRND_QSIZE      64
#define VTRND_MAX_CHAIN  (64u * 1024)

struct vtrnd_softc {
	struct vtpci_state vs;      /* first: the transport's BAR handlers find it at pi_arg */
	struct vtpci_dev dev;
};

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

/* ---- Configuration and registration ---- */

static int vtrnd_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	if (opts && *opts) {
		snprintf(err, errlen, "'%s': virtio-rnd takes no options", opts);
		return -1;
	}
	return 0;
}

static void vtrnd_deinit(struct pci_devinst *pi)
{
	struct vtrnd_softc *sc = pi->pi_arg;

	if (!sc)
		return;
	vtpci_destroy(&sc->vs);
	free(sc);
	pi->pi_arg = NULL;
}

static int vtrnd_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	struct vtrnd_softc *sc = calloc(1, sizeof(*sc));
	if (!sc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sc->dev = (struct vtpci_dev){
		.name = "virtio-rnd", .nvq = 1, .qsize = VTRND_QSIZE,
		.features = (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX),
		.cfgsize = 0, .qnotify = vtrnd_qnotify,
	};
	struct vq_mem mem;
	vtpci_pci_mem(pi, &mem);
	if (vtpci_init(&sc->vs, &sc->dev, sc, &vtpci_pci_intr, pi, &mem) < 0) {
		snprintf(err, errlen, "virtio-rnd: transport set-up failed");
		free(sc);
		return -1;
	}
	pi->pi_arg = sc;
	if (vtpci_pci_setup(&sc->vs, pi, VIRTIO_DEV_RANDOM, VIRTIO_TYPE_ENTROPY,
			    0x10 /* crypto */, 0, err, errlen) < 0) {
		vtrnd_deinit(pi);
		return -1;
	}
	return 0;
}

static const struct pci_devemu pci_de_vtrnd = {
	.pe_emu = "virtio-rnd",
	.pe_help = "virtio entropy source (no options)",
	.pe_legacy_config = vtrnd_legacy_config,
	.pe_keys = (const char *const[]){ NULL },
	.pe_init = vtrnd_init, .pe_deinit = vtrnd_deinit,
	.pe_barread = vtpci_barread, .pe_barwrite = vtpci_barwrite,
};
PCI_EMUL_SET(pci_de_vtrnd);
