/* virtio-console device model with UNIX-socket ports: bus-independent part. */
#ifndef BHYVE_VIRTIO_CONSOLE_H
#define BHYVE_VIRTIO_CONSOLE_H

#include <stddef.h>

#include "pci/virtio_pci.h"

struct vtcon_softc;

#define VTCON_MAXPORTS    16
#define VTCON_QSIZE       64
#define VTCON_CFGSIZE     12
#define VTCON_NAME_MAX    63

#define VIRTIO_CONSOLE_F_SIZE      0
#define VIRTIO_CONSOLE_F_MULTIPORT 1

/* Control events (5.3.6.2). */
#define VTCON_DEVICE_READY  0
#define VTCON_DEVICE_ADD    1
#define VTCON_DEVICE_REMOVE 2
#define VTCON_PORT_READY    3
#define VTCON_CONSOLE_PORT  4
#define VTCON_RESIZE        5
#define VTCON_PORT_OPEN     6
#define VTCON_PORT_NAME     7

struct vtcon_port_conf {
	const char *name;
	const char *path;           /* UNIX socket bhyve creates and listens on */
};

struct vtcon_softc *vtcon_create(const struct vtcon_port_conf *ports, int nports,
				 const struct vtpci_intr_ops *intr, void *intr_ctx,
				 const struct vq_mem *mem, char *err, size_t errlen);
/* Stops the I/O thread, closes connections and removes the sockets. */
void vtcon_destroy(struct vtcon_softc *sc);
struct vtpci_state *vtcon_vtpci(struct vtcon_softc *sc);

#endif
