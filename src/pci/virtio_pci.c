/*
 * Virtio PCI transport core: the legacy register block, the modern common/ISR/notify/device
 * regions, feature negotiation, device status and reset, and interrupt delivery.  No PCI bus
 * knowledge here (see virtio_pci.h); virtio_pci_bus.c attaches it to a pci_devinst.
 *
 * Locking: `lock` protects the transport registers.  Device callbacks (qnotify, reset,
 * negotiated, driver_ok) run without it, because devices complete requests from other threads
 * through vtpci_queue_done(), which takes it; reset in particular waits for those threads.
 */
#include <stdio.h>
#include <string.h>

#include "common/ratelimit.h"
#include "pci/virtio_pci.h"

uint64_t vtpci_host_features(const struct vtpci_state *vs)
{
	return vs->dev->features | (1ULL << VIRTIO_F_VERSION_1);
}

bool vtpci_negotiated(const struct vtpci_state *vs, int bit)
{
	return (vs->features >> bit) & 1;
}

struct virtqueue *vtpci_vq(struct vtpci_state *vs, int q)
{
	return (q >= 0 && q < vs->dev->nvq) ? &vs->q[q].vq : NULL;
}

int vtpci_init(struct vtpci_state *vs, const struct vtpci_dev *dev, void *sc,
	       const struct vtpci_intr_ops *intr, void *intr_ctx, const struct vq_mem *mem)
{
	if (dev->nvq < 1 || dev->nvq > VTPCI_MAXQ || dev->qsize == 0 ||
	    (dev->qsize & (dev->qsize - 1)) || dev->qsize > VQ_MAX_SIZE)
		return -1;
	memset(vs, 0, sizeof(*vs));
	vs->dev = dev;
	vs->sc = sc;
	vs->intr = intr;
	vs->intr_ctx = intr_ctx;
	pthread_mutex_init(&vs->lock, NULL);
	vs->msix_config = VIRTIO_MSI_NO_VECTOR;
	for (int i = 0; i < dev->nvq; i++) {
		vq_init(&vs->q[i].vq, mem);
		vs->q[i].size = dev->qsize;
		vs->q[i].msix = VIRTIO_MSI_NO_VECTOR;
	}
	return 0;
}

void vtpci_destroy(struct vtpci_state *vs)
{
	for (int i = 0; i < vs->dev->nvq; i++)
		vq_destroy(&vs->q[i].vq);
	pthread_mutex_destroy(&vs->lock);
}

/* ---- Interrupts ---- */

static bool vtpci_msix_on(struct vtpci_state *vs)
{
	return vs->intr && vs->intr->msix_enabled && vs->intr->msix_enabled(vs->intr_ctx);
}

static void vtpci_raise(struct vtpci_state *vs, uint8_t isrbit, uint16_t vector)
{
	if (!vs->intr)
		return;
	if (vtpci_msix_on(vs)) {
		/* MSI-X: the vector the driver chose, or nothing (NO_VECTOR, 4.1.4.3). */
		if (vector != VIRTIO_MSI_NO_VECTOR && vs->intr->msix_send)
			vs->intr->msix_send(vs->intr_ctx, vector);
		return;
	}
	pthread_mutex_lock(&vs->lock);
	vs->isr |= isrbit;
	pthread_mutex_unlock(&vs->lock);
	if (vs->intr->msi_enabled && vs->intr->msi_enabled(vs->intr_ctx)) {
		if (vs->intr->msi_send)
			vs->intr->msi_send(vs->intr_ctx);
	} else if (vs->intr->intx_assert) {
		vs->intr->intx_assert(vs->intr_ctx);
	}
}

void vtpci_queue_done(struct vtpci_state *vs, int q)
{
	if (q < 0 || q >= vs->dev->nvq || !vq_need_interrupt(&vs->q[q].vq))
		return;
	vtpci_raise(vs, VIRTIO_ISR_QUEUE, vs->q[q].msix);
}

void vtpci_config_changed(struct vtpci_state *vs)
{
	pthread_mutex_lock(&vs->lock);
	vs->cfggen++;
	pthread_mutex_unlock(&vs->lock);
	vtpci_raise(vs, VIRTIO_ISR_CONFIG, vs->msix_config);
}

void vtpci_needs_reset(struct vtpci_state *vs)
{
	pthread_mutex_lock(&vs->lock);
	bool first = !(vs->status & VIRTIO_STATUS_NEEDS_RESET);
	bool tell = first && (vs->status & VIRTIO_STATUS_DRIVER_OK);
	vs->status |= VIRTIO_STATUS_NEEDS_RESET;
	pthread_mutex_unlock(&vs->lock);
	static struct ratelimit rl = RATELIMIT_DEFAULT;
	if (first)
		ratelimit_log(&rl, "%s: the driver gave an invalid virtqueue; device needs reset\n",
			      vs->dev->name);
	if (tell)
		vtpci_raise(vs, VIRTIO_ISR_CONFIG, vs->msix_config);
}

static uint8_t vtpci_read_isr(struct vtpci_state *vs)
{
	pthread_mutex_lock(&vs->lock);
	uint8_t v = vs->isr;
	vs->isr = 0;
	pthread_mutex_unlock(&vs->lock);
	if (v && vs->intr && vs->intr->intx_deassert)
		vs->intr->intx_deassert(vs->intr_ctx);
	return v;
}

/* ---- Status, features, reset ---- */

static void vtpci_apply_features(struct vtpci_state *vs, uint64_t f)
{
	pthread_mutex_lock(&vs->lock);
	vs->features = f;
	pthread_mutex_unlock(&vs->lock);
	for (int i = 0; i < vs->dev->nvq; i++)
		vq_set_features(&vs->q[i].vq, f);
	if (vs->dev->negotiated)
		vs->dev->negotiated(vs->sc, f);
}

static void vtpci_reset(struct vtpci_state *vs)
{
	if (vs->dev->reset)
		vs->dev->reset(vs->sc);
	for (int i = 0; i < vs->dev->nvq; i++) {
		vq_reset(&vs->q[i].vq);
		vq_set_features(&vs->q[i].vq, 0);
	}
	pthread_mutex_lock(&vs->lock);
	bool had_isr = vs->isr != 0;
	vs->status = 0;
	vs->isr = 0;
	vs->dfselect = vs->gfselect = 0;
	vs->guest_features = vs->features = 0;
	vs->qsel = 0;
	vs->legacy_used = false;
	vs->msix_config = VIRTIO_MSI_NO_VECTOR;
	for (int i = 0; i < vs->dev->nvq; i++) {
		vs->q[i].size = vs->dev->qsize;
		vs->q[i].msix = VIRTIO_MSI_NO_VECTOR;
		vs->q[i].enabled = false;
		vs->q[i].desc = vs->q[i].avail = vs->q[i].used = 0;
	}
	pthread_mutex_unlock(&vs->lock);
	if (had_isr && vs->intr && vs->intr->intx_deassert)
		vs->intr->intx_deassert(vs->intr_ctx);
}

static void vtpci_set_status(struct vtpci_state *vs, uint8_t val)
{
	if (val == 0) {
		vtpci_reset(vs);
		return;
	}
	pthread_mutex_lock(&vs->lock);
	uint8_t old = vs->status;
	uint64_t gf = vs->guest_features;
	bool legacy = vs->legacy_used;
	pthread_mutex_unlock(&vs->lock);

	uint8_t set = val & ~old;
	if ((set & VIRTIO_STATUS_FEATURES_OK) && !legacy) {
		/* Modern drivers must accept VERSION_1 and nothing we did not offer (3.1.1). */
		if (!(gf & (1ULL << VIRTIO_F_VERSION_1)) || (gf & ~vtpci_host_features(vs)))
			val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		else
			vtpci_apply_features(vs, gf);
	}
	pthread_mutex_lock(&vs->lock);
	vs->status = val | (old & VIRTIO_STATUS_NEEDS_RESET);
	pthread_mutex_unlock(&vs->lock);
	if ((set & VIRTIO_STATUS_DRIVER_OK) && vs->dev->driver_ok)
		vs->dev->driver_ok(vs->sc);
}

/* ---- Device-specific config ---- */

static uint32_t vtpci_cfg_read(struct vtpci_state *vs, uint64_t off, int size)
{
	uint8_t b[4] = { 0xFF, 0xFF, 0xFF, 0xFF };

	if (size < 1 || size > 4 || off >= vs->dev->cfgsize || vs->dev->cfgsize - off < (uint64_t)size)
		return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
	if (vs->dev->cfgread)
		vs->dev->cfgread(vs->sc, (uint32_t)off, size, b);
	uint32_t v = 0;
	for (int i = size - 1; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

static void vtpci_cfg_write(struct vtpci_state *vs, uint64_t off, int size, uint32_t val)
{
	uint8_t b[4];

	if (size < 1 || size > 4 || off >= vs->dev->cfgsize || vs->dev->cfgsize - off < (uint64_t)size)
		return;
	for (int i = 0; i < size; i++)
		b[i] = (uint8_t)(val >> (8 * i));
	if (vs->dev->cfgwrite)
		vs->dev->cfgwrite(vs->sc, (uint32_t)off, size, b);
}

void vtpci_queue_notify(struct vtpci_state *vs, uint32_t q)
{
	if (q < (uint32_t)vs->dev->nvq && vq_ready(&vs->q[q].vq) && vs->dev->qnotify)
		vs->dev->qnotify(vs->sc, (int)q);
}

/* ---- Legacy I/O BAR ---- */

uint64_t vtpci_legacy_bar_size(const struct vtpci_state *vs)
{
	uint64_t need = VTPCI_L_CFG_MSIX + vs->dev->cfgsize, sz = 32;
	while (sz < need)
		sz <<= 1;
	return sz;
}

static uint32_t vtpci_legacy_cfgbase(struct vtpci_state *vs)
{
	return vtpci_msix_on(vs) ? VTPCI_L_CFG_MSIX : VTPCI_L_CFG_NOMSIX;
}

/* A vector the MSI-X table has (one per queue plus config), else NO_VECTOR: reading it back
 * tells the driver the assignment failed (4.1.5.1.2). */
static uint16_t vtpci_vector(const struct vtpci_state *vs, uint32_t v)
{
	return v <= (uint32_t)vs->dev->nvq ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

static bool vtpci_qsel_ok(const struct vtpci_state *vs)
{
	return vs->qsel < vs->dev->nvq;
}

uint32_t vtpci_legacy_read(struct vtpci_state *vs, uint64_t off, int size)
{
	uint32_t cfgbase = vtpci_legacy_cfgbase(vs);
	if (off >= cfgbase)
		return vtpci_cfg_read(vs, off - cfgbase, size);
	if (off == VTPCI_L_ISR && size == 1)
		return vtpci_read_isr(vs);
	uint32_t v = 0xFFFFFFFFu;
	pthread_mutex_lock(&vs->lock);
	struct vtpci_queue *q = vtpci_qsel_ok(vs) ? &vs->q[vs->qsel] : NULL;
	switch (off | ((uint64_t)size << 16)) {
	case VTPCI_L_HOST_FEATURES | 4 << 16: v = (uint32_t)vs->dev->features; break;
	case VTPCI_L_GUEST_FEATURES | 4 << 16: v = (uint32_t)vs->guest_features; break;
	case VTPCI_L_QUEUE_PFN | 4 << 16: v = q ? (uint32_t)(q->desc / VQ_LEGACY_ALIGN) : 0; break;
	case VTPCI_L_QUEUE_NUM | 2 << 16: v = q ? vs->dev->qsize : 0; break;
	case VTPCI_L_QUEUE_SEL | 2 << 16: v = vs->qsel; break;
	case VTPCI_L_STATUS | 1 << 16: v = vs->status; break;
	case VTPCI_L_CONFIG_VECTOR | 2 << 16: v = vs->msix_config; break;
	case VTPCI_L_QUEUE_VECTOR | 2 << 16: v = q ? q->msix : VIRTIO_MSI_NO_VECTOR; break;
	default:
		if (size < 4)
			v &= (1u << (8 * size)) - 1;
	}
	pthread_mutex_unlock(&vs->lock);
	return v;
}

static void vtpci_legacy_pfn(struct vtpci_state *vs, uint32_t pfn)
{
	if (!vtpci_qsel_ok(vs))
		return;
	struct vtpci_queue *q = &vs->q[vs->qsel];
	if (pfn == 0) {
		vq_reset(&q->vq);
		q->desc = 0;
		return;
	}
	if (vq_setup_legacy(&q->vq, vs->dev->qsize, pfn) < 0) {
		static struct ratelimit rl = RATELIMIT_DEFAULT;
		if (!vs->warned)
			ratelimit_log(&rl, "%s: queue %u: PFN 0x%x is not in guest RAM\n",
				      vs->dev->name, vs->qsel, pfn);
		vs->warned = true;
		return;
	}
	q->desc = (uint64_t)pfn * VQ_LEGACY_ALIGN;
}

void vtpci_legacy_write(struct vtpci_state *vs, uint64_t off, int size, uint32_t val)
{
	uint32_t cfgbase = vtpci_legacy_cfgbase(vs);
	if (off >= cfgbase) {
		vtpci_cfg_write(vs, off - cfgbase, size, val);
		return;
	}
	switch (off | ((uint64_t)size << 16)) {
	case VTPCI_L_STATUS | 1 << 16:
		pthread_mutex_lock(&vs->lock);
		vs->legacy_used = true;
		pthread_mutex_unlock(&vs->lock);
		vtpci_set_status(vs, (uint8_t)val);
		return;
	case VTPCI_L_QUEUE_NOTIFY | 2 << 16:
		vtpci_queue_notify(vs, val & 0xFFFF);
		return;
	case VTPCI_L_GUEST_FEATURES | 4 << 16:
		/* Legacy has no FEATURES_OK: what the driver writes is what it uses. */
		pthread_mutex_lock(&vs->lock);
		vs->legacy_used = true;
		vs->guest_features = val & (uint32_t)vs->dev->features;
		pthread_mutex_unlock(&vs->lock);
		vtpci_apply_features(vs, val & (uint32_t)vs->dev->features);
		return;
	}
	pthread_mutex_lock(&vs->lock);
	vs->legacy_used = true;
	struct vtpci_queue *q = vtpci_qsel_ok(vs) ? &vs->q[vs->qsel] : NULL;
	switch (off | ((uint64_t)size << 16)) {
	case VTPCI_L_QUEUE_PFN | 4 << 16: vtpci_legacy_pfn(vs, val); break;
	case VTPCI_L_QUEUE_SEL | 2 << 16: vs->qsel = (uint16_t)val; break;
	case VTPCI_L_CONFIG_VECTOR | 2 << 16: vs->msix_config = vtpci_vector(vs, val); break;
	case VTPCI_L_QUEUE_VECTOR | 2 << 16: if (q) q->msix = vtpci_vector(vs, val); break;
	default: break;                       /* read-only or unknown: ignored */
	}
	pthread_mutex_unlock(&vs->lock);
}

/* ---- Modern memory BAR ---- */

static uint64_t vtpci_common_read(struct vtpci_state *vs, uint64_t off, int size)
{
	uint64_t hf = vtpci_host_features(vs), v = 0;

	pthread_mutex_lock(&vs->lock);
	struct vtpci_queue *q = vtpci_qsel_ok(vs) ? &vs->q[vs->qsel] : NULL;
	switch (off) {
	case VTPCI_C_DFSELECT: v = vs->dfselect; break;
	case VTPCI_C_DF: v = vs->dfselect < 2 ? (uint32_t)(hf >> (32 * vs->dfselect)) : 0; break;
	case VTPCI_C_GFSELECT: v = vs->gfselect; break;
	case VTPCI_C_GF:
		v = vs->gfselect < 2 ? (uint32_t)(vs->guest_features >> (32 * vs->gfselect)) : 0;
		break;
	case VTPCI_C_MSIX_CONFIG: v = vs->msix_config; break;
	case VTPCI_C_NUMQ: v = (uint16_t)vs->dev->nvq; break;
	case VTPCI_C_STATUS: v = vs->status; break;
	case VTPCI_C_CFGGEN: v = vs->cfggen; break;
	case VTPCI_C_Q_SELECT: v = vs->qsel; break;
	case VTPCI_C_Q_SIZE: v = q ? q->size : 0; break;            /* 0: no such queue */
	case VTPCI_C_Q_MSIX: v = q ? q->msix : VIRTIO_MSI_NO_VECTOR; break;
	case VTPCI_C_Q_ENABLE: v = q ? q->enabled : 0; break;
	case VTPCI_C_Q_NOFF: v = q ? vs->qsel : 0; break;
	case VTPCI_C_Q_DESC: v = q ? q->desc : 0; break;
	case VTPCI_C_Q_DESC + 4: v = q ? q->desc >> 32 : 0; break;
	case VTPCI_C_Q_AVAIL: v = q ? q->avail : 0; break;
	case VTPCI_C_Q_AVAIL + 4: v = q ? q->avail >> 32 : 0; break;
	case VTPCI_C_Q_USED: v = q ? q->used : 0; break;
	case VTPCI_C_Q_USED + 4: v = q ? q->used >> 32 : 0; break;
	default: v = 0; break;
	}
	pthread_mutex_unlock(&vs->lock);
	return size >= 8 ? v : v & ((1ULL << (8 * size)) - 1);
}

/* Set a 32-bit half (or all) of a 64-bit queue address. */
static void vtpci_set_addr(uint64_t *a, uint64_t rel, int size, uint64_t val)
{
	if (size == 8)
		*a = val;
	else if (rel == 0 && size == 4)
		*a = (*a & 0xFFFFFFFF00000000ULL) | (uint32_t)val;
	else if (rel == 4 && size == 4)
		*a = (*a & 0xFFFFFFFFULL) | (val << 32);
}

/* queue_enable = 1: the rings become live (4.1.4.3.2: only 1 may be written). */
static void vtpci_queue_enable(struct vtpci_state *vs, struct vtpci_queue *q)
{
	if (q->enabled)
		return;
	if (vq_setup(&q->vq, q->size, q->desc, q->avail, q->used) < 0) {
		static struct ratelimit rl = RATELIMIT_DEFAULT;
		if (!vs->warned)
			ratelimit_log(&rl, "%s: queue %u: rings not in guest RAM or misaligned\n",
				      vs->dev->name, vs->qsel);
		vs->warned = true;
		return;
	}
	q->enabled = true;
}

static void vtpci_queue_write(struct vtpci_state *vs, uint64_t off, int size, uint64_t val)
{
	struct vtpci_queue *q = vtpci_qsel_ok(vs) ? &vs->q[vs->qsel] : NULL;

	if (!q)
		return;
	switch (off) {
	case VTPCI_C_Q_SIZE:
		/* A power of 2 up to what we offer, while the queue is off (2.7). */
		if (!q->enabled && val && val <= vs->dev->qsize && !(val & (val - 1)))
			q->size = (uint16_t)val;
		return;
	case VTPCI_C_Q_MSIX: q->msix = vtpci_vector(vs, (uint32_t)val); return;
	case VTPCI_C_Q_ENABLE: if (val == 1) vtpci_queue_enable(vs, q); return;
	}
	if (q->enabled)
		return;                           /* addresses are fixed while enabled */
	if (off >= VTPCI_C_Q_DESC && off < VTPCI_C_Q_AVAIL)
		vtpci_set_addr(&q->desc, off - VTPCI_C_Q_DESC, size, val);
	else if (off >= VTPCI_C_Q_AVAIL && off < VTPCI_C_Q_USED)
		vtpci_set_addr(&q->avail, off - VTPCI_C_Q_AVAIL, size, val);
	else if (off >= VTPCI_C_Q_USED && off < VTPCI_C_SIZE)
		vtpci_set_addr(&q->used, off - VTPCI_C_Q_USED, size, val);
}

static void vtpci_common_write(struct vtpci_state *vs, uint64_t off, int size, uint64_t val)
{
	if (off == VTPCI_C_STATUS && size == 1) {
		vtpci_set_status(vs, (uint8_t)val);
		return;
	}
	pthread_mutex_lock(&vs->lock);
	switch (off) {
	case VTPCI_C_DFSELECT: vs->dfselect = (uint32_t)val; break;
	case VTPCI_C_GFSELECT: vs->gfselect = (uint32_t)val; break;
	case VTPCI_C_GF:
		if (vs->gfselect < 2 && !(vs->status & VIRTIO_STATUS_FEATURES_OK)) {
			int sh = 32 * (int)vs->gfselect;
			vs->guest_features = (vs->guest_features & ~(0xFFFFFFFFULL << sh)) |
					     ((uint64_t)(uint32_t)val << sh);
		}
		break;
	case VTPCI_C_MSIX_CONFIG: vs->msix_config = vtpci_vector(vs, (uint32_t)val); break;
	case VTPCI_C_Q_SELECT: vs->qsel = (uint16_t)val; break;
	default:
		if (off >= VTPCI_C_Q_SIZE && off < VTPCI_C_SIZE)
			vtpci_queue_write(vs, off, size, val);
		break;
	}
	pthread_mutex_unlock(&vs->lock);
}

uint64_t vtpci_modern_read(struct vtpci_state *vs, uint64_t off, int size)
{
	if (off < VTPCI_M_COMMON + VTPCI_C_SIZE)
		return vtpci_common_read(vs, off - VTPCI_M_COMMON, size);
	if (off >= VTPCI_M_ISR && off < VTPCI_M_ISR + 4)
		return off == VTPCI_M_ISR ? vtpci_read_isr(vs) : 0;
	if (off >= VTPCI_M_DEVICE && off < VTPCI_M_NOTIFY)
		return vtpci_cfg_read(vs, off - VTPCI_M_DEVICE, size > 4 ? 4 : size);
	return 0;                             /* notify region and holes read as 0 */
}

void vtpci_modern_write(struct vtpci_state *vs, uint64_t off, int size, uint64_t val)
{
	if (off < VTPCI_M_COMMON + VTPCI_C_SIZE) {
		vtpci_common_write(vs, off - VTPCI_M_COMMON, size, val);
	} else if (off >= VTPCI_M_DEVICE && off < VTPCI_M_NOTIFY) {
		vtpci_cfg_write(vs, off - VTPCI_M_DEVICE, size > 4 ? 4 : size, (uint32_t)val);
	} else if (off >= VTPCI_M_NOTIFY && off < VTPCI_M_BAR_SIZE) {
		uint64_t rel = off - VTPCI_M_NOTIFY;
		if (rel % VTPCI_M_NOTIFY_MULT == 0)
			vtpci_queue_notify(vs, (uint32_t)(rel / VTPCI_M_NOTIFY_MULT));
	}
}
