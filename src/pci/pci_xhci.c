/*
 * xHCI USB controller (-s N,xhci[,DEV[,DEV...]]): each USB device becomes
 * pci.B.S.F.slot.N.device (N from 1), e.g. "tablet" -> slot.1.device=tablet.  The only USB
 * device bhyve(8) documents is the tablet (absolute pointer for VNC).  At most 8 devices.
 *
 * The model: PCI 1B36:000D (the ID of QEMU's xHCI, which Linux's xhci_pci drives without
 * quirks), class 0C0330, a 64 KiB register BAR: capability registers at 0, operational at
 * 0x20 (ports at 0x420 + 0x10 * n), runtime at 0x1000 (one interrupter), doorbells at 0x2000,
 * and a Supported Protocol capability at 0x100 declaring USB 2 ports 1..N, one per device.
 * Interrupts by MSI or INTx.  Commands: enable/disable slot, address device, configure
 * endpoint, evaluate context, reset/stop endpoint, set TR dequeue pointer, reset device,
 * no-op.  Transfers: control (setup/data/status stages) on endpoint 0 and the interrupt IN
 * endpoint of the tablet, which completes a pending TRB when a new report waits.
 *
 * Guest memory is hostile: every ring, context and buffer goes through vm_map_gpa with its
 * length; a ring walk stops after XHCI_MAX_TRBS TRBs (a ring of Link TRBs cannot loop us);
 * bad pointers end in a completion code (TRB error, context state error) or a Host System
 * Error, as on hardware.  All state is under one lock: doorbells and register writes come
 * from vCPUs, new reports from the VNC thread.
 */
#include "pci/pci_emul.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/devconf.h"
#include "common/parse.h"
#include "pci/pci_devinst.h"
#include "pci/usb_tablet.h"
#include "vmm/vmm.h"

#define XHCI_MAX_DEVS 8

static const char *const xhci_usb_devices[] = { "tablet", NULL };

static int xhci_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	const char *p = opts;
	unsigned n = 0;
	char key[32];

	while (p && *p) {
		char *tok = devconf_first_token(p, &p);
		int rc = 0;
		if (++n > XHCI_MAX_DEVS) {
			snprintf(err, errlen, "'%s': at most %d USB devices", tok, XHCI_MAX_DEVS);
			rc = -1;
		} else {
			snprintf(key, sizeof(key), "slot.%u.device", n);
			rc = config_node_set(nvl, key, tok);
			if (rc < 0)
				snprintf(err, errlen, "'%s': cannot set %s", tok, key);
		}
		free(tok);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int xhci_slot_visit(const char *name, config_node_t *child, const char *value, void *arg)
{
	static const char *const keys[] = { "device", NULL };
	struct devconf_err *eb = arg;
	const char *dev;
	uint64_t n;
	char sub[PCI_ERRLEN];

	if (!child || parse_num(name, 10, 1, XHCI_MAX_DEVS, &n) < 0) {
		snprintf(eb->err, eb->errlen, "slot.%s: USB slots are 1 to %d", name, XHCI_MAX_DEVS);
		return -1;
	}
	if (devconf_check_keys(child, keys, sub, sizeof(sub)) < 0) {
		snprintf(eb->err, eb->errlen, "slot.%s.%s", name, sub);
		return -1;
	}
	dev = config_node_get(child, "device");
	for (size_t i = 0; dev && xhci_usb_devices[i]; i++)
		if (strcmp(dev, xhci_usb_devices[i]) == 0)
			return 0;
	snprintf(eb->err, eb->errlen, "slot.%s.device=%s: unknown USB device (expected tablet)",
		 name, dev ? dev : "");
	(void)value;
	return -1;
}

static int xhci_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "device", "slot", NULL };
	config_node_t *slots = devconf_find_child(nvl, "slot");
	struct devconf_err eb = { err, errlen };

	if (devconf_check_keys(nvl, keys, err, errlen) < 0)
		return -1;
	if (config_node_get(nvl, "slot")) {
		snprintf(err, errlen, "slot=%s: USB devices are slot.N.device",
			 config_node_get(nvl, "slot"));
		return -1;
	}
	return slots && config_node_foreach(slots, xhci_slot_visit, &eb) ? -1 : 0;
}


/* ---- registers ---- */
#define XHCI_BAR_SIZE     0x10000
#define XHCI_CAPLEN       0x20
#define XHCI_OP           XHCI_CAPLEN
#define XHCI_PORTS_OFF    (XHCI_OP + 0x400)
#define XHCI_RT_OFF       0x1000
#define XHCI_DB_OFF       0x2000
#define XHCI_XECP_OFF     0x100
#define XHCI_MAX_SLOTS    8
#define XHCI_MAX_TRBS     256      /* per ring walk */
#define XHCI_ERST_MAX     4        /* 2^ERST Max entries in the segment table: 16 */

#define USBCMD_RS    0x1
#define USBCMD_HCRST 0x2
#define USBCMD_INTE  0x4
#define USBSTS_HCH   0x1
#define USBSTS_HSE   0x4
#define USBSTS_EINT  0x8
#define USBSTS_PCD   0x10
#define CRCR_RCS     0x1
#define CRCR_CRR     0x8

#define PORTSC_CCS   (1u << 0)
#define PORTSC_PED   (1u << 1)
#define PORTSC_PR    (1u << 4)
#define PORTSC_PLS_M (0xFu << 5)
#define PORTSC_PP    (1u << 9)
#define PORTSC_SPEED_FS (1u << 10)
#define PORTSC_LWS   (1u << 16)
#define PORTSC_CSC   (1u << 17)
#define PORTSC_PEC   (1u << 18)
#define PORTSC_WRC   (1u << 19)
#define PORTSC_OCC   (1u << 20)
#define PORTSC_PRC   (1u << 21)
#define PORTSC_PLC   (1u << 22)
#define PORTSC_CEC   (1u << 23)
#define PORTSC_CHANGE (PORTSC_CSC | PORTSC_PEC | PORTSC_WRC | PORTSC_OCC | PORTSC_PRC | \
		       PORTSC_PLC | PORTSC_CEC)
#define PORTSC_WAKE  (7u << 25)

/* TRB types and completion codes. */
enum {
	TRB_NORMAL = 1, TRB_SETUP = 2, TRB_DATA = 3, TRB_STATUS = 4, TRB_LINK = 6,
	TRB_EVENT_DATA = 7, TRB_NOOP = 8, TRB_ENABLE_SLOT = 9, TRB_DISABLE_SLOT = 10,
	TRB_ADDRESS_DEV = 11, TRB_CONFIG_EP = 12, TRB_EVAL_CTX = 13, TRB_RESET_EP = 14,
	TRB_STOP_EP = 15, TRB_SET_TR_DEQ = 16, TRB_RESET_DEV = 17, TRB_NOOP_CMD = 23,
	TRB_EV_TRANSFER = 32, TRB_EV_CMD = 33, TRB_EV_PORT = 34,
};
enum {
	CC_SUCCESS = 1, CC_DATA_BUFFER = 2, CC_TRB_ERROR = 5, CC_STALL = 6, CC_RESOURCE = 7,
	CC_NO_SLOTS = 9, CC_SHORT_PACKET = 13, CC_PARAMETER = 17, CC_CONTEXT_STATE = 19,
	CC_SLOT_NOT_ENABLED = 11,
};
#define TRB_C        0x1
#define TRB_TC       0x2           /* Link: toggle cycle */
#define TRB_ISP      0x4
#define TRB_IOC      0x20
#define TRB_IDT      0x40
#define TRB_TYPE(c)  (((c) >> 10) & 0x3F)

#define EP_STATE_DISABLED 0
#define EP_STATE_RUNNING  1
#define EP_STATE_HALTED   2
#define EP_STATE_STOPPED  3
#define SLOT_STATE_ENABLED    0
#define SLOT_STATE_DEFAULT    1
#define SLOT_STATE_ADDRESSED  2
#define SLOT_STATE_CONFIGURED 3
#define XHCI_CTX_SIZE 32
#define XHCI_EP_COUNT 32           /* device context entries: slot + 31 endpoints */

struct xhci_trb {
	uint64_t param;
	uint32_t status, control;
};

struct xhci_ring {
	uint64_t deq;                  /* guest address of the next TRB */
	bool ccs;                      /* consumer cycle state */
};

struct xhci_ep {
	struct xhci_ring ring;
	uint8_t state;
};

struct xhci_slot {
	bool enabled;
	int port;                      /* 1-based root port of its device, 0 none */
	struct xhci_ep ep[XHCI_EP_COUNT];   /* by DCI (1 = EP0, 3 = EP1 IN) */
};

struct xhci_softc {
	struct pci_devinst *pi;
	pthread_mutex_t lock;
	uint32_t usbcmd, usbsts, dnctrl, config;
	uint64_t crcr, dcbaap;
	struct xhci_ring cmd;
	bool cmd_running;
	uint32_t portsc[XHCI_MAX_DEVS];
	int nports;
	struct usb_tablet *tablet[XHCI_MAX_DEVS];
	/* interrupter 0 */
	uint32_t iman, imod, erstsz;
	uint64_t erstba, erdp;
	uint64_t ev_seg_base;          /* current event ring segment */
	uint32_t ev_seg_size, ev_seg_idx, ev_idx;
	bool ev_pcs;                   /* producer cycle state */
	bool ev_ready;
	struct xhci_slot slot[XHCI_MAX_SLOTS + 1];
};

/* ---- guest memory ---- */

static bool xhci_read_trb(struct xhci_softc *sc, uint64_t gpa, struct xhci_trb *t)
{
	uint8_t *p = (gpa & 0xF) ? NULL : vm_map_gpa(sc->pi->pi_vm, gpa, 16);

	if (p == NULL)
		return false;
	memcpy(&t->param, p, 8);
	memcpy(&t->status, p + 8, 4);
	memcpy(&t->control, p + 12, 4);
	return true;
}

static uint32_t *xhci_ctx(struct xhci_softc *sc, uint64_t base, int idx)
{
	if (base & 0x3F)
		return NULL;
	return vm_map_gpa(sc->pi->pi_vm, base + (uint64_t)idx * XHCI_CTX_SIZE, XHCI_CTX_SIZE);
}

/* The output device context of a slot (DCBAA entry), or 0. */
static uint64_t xhci_dev_ctx(struct xhci_softc *sc, int slot)
{
	uint64_t *e = vm_map_gpa(sc->pi->pi_vm, sc->dcbaap + 8 * (uint64_t)slot, 8);

	return e && !(sc->dcbaap & 0x3F) ? *e & ~0x3FULL : 0;
}

/* ---- interrupts and the event ring ---- */

static void xhci_intr(struct xhci_softc *sc)
{
	sc->usbsts |= USBSTS_EINT;
	if (!(sc->iman & 0x2) || !(sc->usbcmd & USBCMD_INTE))
		return;
	sc->iman |= 0x1;
	if (pci_msi_enabled(sc->pi))
		pci_generate_msi(sc->pi, 0);
	else
		pci_lintr_assert(sc->pi);
}

static bool xhci_erst_load(struct xhci_softc *sc, uint32_t idx)
{
	uint8_t *e;

	if (idx >= sc->erstsz || idx >= (1u << XHCI_ERST_MAX))
		return false;
	e = vm_map_gpa(sc->pi->pi_vm, sc->erstba + 16ULL * idx, 16);
	if (e == NULL)
		return false;
	memcpy(&sc->ev_seg_base, e, 8);
	memcpy(&sc->ev_seg_size, e + 8, 4);
	sc->ev_seg_base &= ~0x3FULL;
	sc->ev_seg_size &= 0xFFFF;
	sc->ev_seg_idx = idx;
	sc->ev_idx = 0;
	return sc->ev_seg_size >= 16 && sc->ev_seg_size <= 4096;
}

static void xhci_hse(struct xhci_softc *sc)
{
	/* The controller cannot go on: Host System Error, halted. */
	sc->usbsts |= USBSTS_HSE | USBSTS_HCH;
	sc->usbcmd &= ~(uint32_t)USBCMD_RS;
	sc->ev_ready = false;
}

static void xhci_event(struct xhci_softc *sc, uint64_t param, uint32_t status, uint32_t control)
{
	uint64_t gpa, next;
	uint8_t *p;

	if (!sc->ev_ready || !(sc->usbcmd & USBCMD_RS))
		return;
	gpa = sc->ev_seg_base + 16ULL * sc->ev_idx;
	/* Full when the slot after this one is where the guest will dequeue: drop the event
	 * (hardware would post Event Ring Full; the guest is not reading anyway). */
	next = sc->ev_idx + 1 < sc->ev_seg_size ? gpa + 16 : 0;
	if (next && next == (sc->erdp & ~0xFULL))
		return;
	p = vm_map_gpa(sc->pi->pi_vm, gpa, 16);
	if (p == NULL) {
		xhci_hse(sc);
		return;
	}
	control = (control & ~(uint32_t)TRB_C) | (sc->ev_pcs ? TRB_C : 0);
	memcpy(p, &param, 8);
	memcpy(p + 8, &status, 4);
	__atomic_store_n((uint32_t *)(void *)(p + 12), control, __ATOMIC_RELEASE);
	if (++sc->ev_idx >= sc->ev_seg_size) {
		uint32_t nseg = sc->ev_seg_idx + 1 < sc->erstsz ? sc->ev_seg_idx + 1 : 0;
		if (nseg == 0)
			sc->ev_pcs = !sc->ev_pcs;
		if (!xhci_erst_load(sc, nseg))
			xhci_hse(sc);
	}
	xhci_intr(sc);
}

static void xhci_port_event(struct xhci_softc *sc, int port)
{
	sc->usbsts |= USBSTS_PCD;
	xhci_event(sc, (uint64_t)port << 24, CC_SUCCESS << 24, TRB_EV_PORT << 10);
}

static void xhci_cmd_done(struct xhci_softc *sc, uint64_t trb, int cc, int slot)
{
	xhci_event(sc, trb, (uint32_t)cc << 24, (uint32_t)slot << 24 | TRB_EV_CMD << 10);
}

static void xhci_xfer_event(struct xhci_softc *sc, uint64_t trb, int cc, uint32_t resid,
			    int slot, int dci)
{
	xhci_event(sc, trb, (uint32_t)cc << 24 | (resid & 0xFFFFFF),
		   (uint32_t)slot << 24 | (uint32_t)dci << 16 | TRB_EV_TRANSFER << 10);
}

/* ---- rings ---- */

/* The next TRB of a ring that the guest owns (cycle bit = ccs), following Link TRBs;
 * false when the ring is empty or broken.  *at is the TRB's address. */
static bool xhci_ring_peek(struct xhci_softc *sc, struct xhci_ring *r, struct xhci_trb *t,
			   uint64_t *at)
{
	for (int i = 0; i < XHCI_MAX_TRBS; i++) {
		if (!xhci_read_trb(sc, r->deq, t) || (bool)(t->control & TRB_C) != r->ccs)
			return false;
		if (TRB_TYPE(t->control) != TRB_LINK) {
			*at = r->deq;
			return true;
		}
		if (t->control & TRB_TC)
			r->ccs = !r->ccs;
		r->deq = t->param & ~0xFULL;
	}
	return false;
}

static void xhci_ring_advance(struct xhci_ring *r)
{
	r->deq += 16;
}

/* ---- device slots and contexts ---- */

static void xhci_ep_state(struct xhci_softc *sc, int slot, int dci, uint8_t state)
{
	uint32_t *c = xhci_ctx(sc, xhci_dev_ctx(sc, slot), dci);

	sc->slot[slot].ep[dci].state = state;
	if (c)
		c[0] = (c[0] & ~7u) | state;
}

static void xhci_ep_sync_deq(struct xhci_softc *sc, int slot, int dci)
{
	uint32_t *c = xhci_ctx(sc, xhci_dev_ctx(sc, slot), dci);
	struct xhci_ring *r = &sc->slot[slot].ep[dci].ring;

	if (c) {
		uint64_t v = r->deq | (r->ccs ? 1 : 0);
		c[2] = (uint32_t)v;
		c[3] = (uint32_t)(v >> 32);
	}
}

static int xhci_slot_of(const struct xhci_trb *t)
{
	return (int)(t->control >> 24);
}

static bool xhci_slot_ok(struct xhci_softc *sc, int slot)
{
	return slot >= 1 && slot <= XHCI_MAX_SLOTS && sc->slot[slot].enabled;
}

/* Copy endpoint `dci`'s context from the input context into the device's and start it. */
static int xhci_ep_add(struct xhci_softc *sc, int slot, uint64_t in, int dci)
{
	uint32_t *src = xhci_ctx(sc, in, dci + 1);
	uint32_t *dst = xhci_ctx(sc, xhci_dev_ctx(sc, slot), dci);
	uint64_t deq;

	if (src == NULL || dst == NULL)
		return CC_TRB_ERROR;
	memcpy(dst, src, XHCI_CTX_SIZE);
	deq = (uint64_t)src[3] << 32 | src[2];
	sc->slot[slot].ep[dci].ring.deq = deq & ~0xFULL;
	sc->slot[slot].ep[dci].ring.ccs = deq & 1;
	xhci_ep_state(sc, slot, dci, EP_STATE_RUNNING);
	return CC_SUCCESS;
}

static int xhci_cmd_address(struct xhci_softc *sc, const struct xhci_trb *t, int slot)
{
	uint64_t in = t->param & ~0xFULL;
	uint32_t *ictl = xhci_ctx(sc, in, 0), *islot = xhci_ctx(sc, in, 1);
	uint32_t *oslot = xhci_ctx(sc, xhci_dev_ctx(sc, slot), 0);
	int port;

	if (!xhci_slot_ok(sc, slot))
		return CC_SLOT_NOT_ENABLED;
	if (!ictl || !islot || !oslot || (ictl[1] & 3) != 3)
		return CC_TRB_ERROR;
	port = (int)((islot[1] >> 16) & 0xFF);
	if (port < 1 || port > sc->nports)
		return CC_PARAMETER;
	memcpy(oslot, islot, XHCI_CTX_SIZE);
	sc->slot[slot].port = port;
	/* Block Set Address Request (BSR, bit 9): Default state, else Addressed with the slot
	 * number as USB address. */
	oslot[3] = (t->control & (1u << 9)) ? (uint32_t)SLOT_STATE_DEFAULT << 27 :
		   (uint32_t)SLOT_STATE_ADDRESSED << 27 | (uint32_t)slot;
	return xhci_ep_add(sc, slot, in, 1);
}

static int xhci_cmd_configure(struct xhci_softc *sc, const struct xhci_trb *t, int slot)
{
	uint64_t in = t->param & ~0xFULL;
	uint32_t *ictl = xhci_ctx(sc, in, 0), *oslot = xhci_ctx(sc, xhci_dev_ctx(sc, slot), 0);
	uint32_t *islot = xhci_ctx(sc, in, 1);
	int cc = CC_SUCCESS;

	if (!xhci_slot_ok(sc, slot))
		return CC_SLOT_NOT_ENABLED;
	if (!oslot)
		return CC_TRB_ERROR;
	if (t->control & (1u << 9)) {              /* deconfigure */
		for (int dci = 2; dci < XHCI_EP_COUNT; dci++)
			xhci_ep_state(sc, slot, dci, EP_STATE_DISABLED);
		oslot[3] = (oslot[3] & ~(0x1Fu << 27)) | (uint32_t)SLOT_STATE_ADDRESSED << 27;
		return CC_SUCCESS;
	}
	if (!ictl || !islot)
		return CC_TRB_ERROR;
	for (int dci = 2; dci < XHCI_EP_COUNT && cc == CC_SUCCESS; dci++) {
		if (ictl[0] & (1u << dci))
			xhci_ep_state(sc, slot, dci, EP_STATE_DISABLED);
		if (ictl[1] & (1u << dci))
			cc = xhci_ep_add(sc, slot, in, dci);
	}
	if (cc != CC_SUCCESS)
		return cc;
	/* Context Entries follows the input; the state becomes Configured. */
	oslot[0] = (oslot[0] & ~(0x1Fu << 27)) | (islot[0] & (0x1Fu << 27));
	oslot[3] = (oslot[3] & ~(0x1Fu << 27)) | (uint32_t)SLOT_STATE_CONFIGURED << 27;
	return CC_SUCCESS;
}

static int xhci_cmd_evaluate(struct xhci_softc *sc, const struct xhci_trb *t, int slot)
{
	uint64_t in = t->param & ~0xFULL;
	uint64_t dev = xhci_dev_ctx(sc, slot);
	uint32_t *ictl = xhci_ctx(sc, in, 0), *islot = xhci_ctx(sc, in, 1);
	uint32_t *iep0 = xhci_ctx(sc, in, 2);
	uint32_t *oslot = xhci_ctx(sc, dev, 0), *oep0 = xhci_ctx(sc, dev, 1);

	if (!xhci_slot_ok(sc, slot))
		return CC_SLOT_NOT_ENABLED;
	if (!ictl || !islot || !iep0 || !oslot || !oep0)
		return CC_TRB_ERROR;
	if (ictl[1] & 1) {                         /* max exit latency, interrupter target */
		oslot[1] = (oslot[1] & 0xFFFF0000u) | (islot[1] & 0xFFFF);
		oslot[2] = (oslot[2] & 0x003FFFFFu) | (islot[2] & 0xFFC00000u);
	}
	if (ictl[1] & 2)                           /* EP0 max packet size */
		oep0[1] = (oep0[1] & 0x0000FFFFu) | (iep0[1] & 0xFFFF0000u);
	return CC_SUCCESS;
}

static int xhci_cmd_ep(struct xhci_softc *sc, const struct xhci_trb *t, int slot, int type)
{
	int dci = (int)((t->control >> 16) & 0x1F);
	struct xhci_ep *ep;

	if (!xhci_slot_ok(sc, slot))
		return CC_SLOT_NOT_ENABLED;
	if (dci < 1 || dci >= XHCI_EP_COUNT)
		return CC_TRB_ERROR;
	ep = &sc->slot[slot].ep[dci];
	if (ep->state == EP_STATE_DISABLED)
		return CC_CONTEXT_STATE;
	switch (type) {
	case TRB_RESET_EP:
		if (ep->state != EP_STATE_HALTED)
			return CC_CONTEXT_STATE;
		xhci_ep_state(sc, slot, dci, EP_STATE_STOPPED);
		break;
	case TRB_STOP_EP:
		xhci_ep_sync_deq(sc, slot, dci);
		xhci_ep_state(sc, slot, dci, EP_STATE_STOPPED);
		break;
	case TRB_SET_TR_DEQ:
		if (ep->state != EP_STATE_STOPPED && ep->state != EP_STATE_HALTED)
			return CC_CONTEXT_STATE;
		ep->ring.deq = t->param & ~0xFULL;
		ep->ring.ccs = t->param & 1;
		xhci_ep_sync_deq(sc, slot, dci);
		xhci_ep_state(sc, slot, dci, EP_STATE_STOPPED);
		break;
	}
	return CC_SUCCESS;
}

static void xhci_slot_reset(struct xhci_softc *sc, int slot, bool disable)
{
	memset(sc->slot[slot].ep, 0, sizeof(sc->slot[slot].ep));
	if (disable) {
		sc->slot[slot].enabled = false;
		sc->slot[slot].port = 0;
	}
}

static int xhci_cmd_slot(struct xhci_softc *sc, const struct xhci_trb *t, int type, int *slot)
{
	uint32_t *oslot;

	switch (type) {
	case TRB_ENABLE_SLOT:
		for (int s = 1; s <= XHCI_MAX_SLOTS; s++) {
			if (!sc->slot[s].enabled) {
				xhci_slot_reset(sc, s, true);
				sc->slot[s].enabled = true;
				*slot = s;
				return CC_SUCCESS;
			}
		}
		*slot = 0;
		return CC_NO_SLOTS;
	case TRB_DISABLE_SLOT:
		if (!xhci_slot_ok(sc, *slot))
			return CC_SLOT_NOT_ENABLED;
		xhci_slot_reset(sc, *slot, true);
		return CC_SUCCESS;
	default:                                   /* reset device */
		if (!xhci_slot_ok(sc, *slot))
			return CC_SLOT_NOT_ENABLED;
		oslot = xhci_ctx(sc, xhci_dev_ctx(sc, *slot), 0);
		for (int dci = 2; dci < XHCI_EP_COUNT; dci++)
			xhci_ep_state(sc, *slot, dci, EP_STATE_DISABLED);
		if (oslot)
			oslot[3] = (uint32_t)SLOT_STATE_DEFAULT << 27;
		return CC_SUCCESS;
	}
}

static void xhci_run_commands(struct xhci_softc *sc)
{
	struct xhci_trb t;
	uint64_t at;

	for (int n = 0; n < XHCI_MAX_TRBS && xhci_ring_peek(sc, &sc->cmd, &t, &at); n++) {
		int type = (int)TRB_TYPE(t.control), slot = xhci_slot_of(&t), cc;
		switch (type) {
		case TRB_ENABLE_SLOT: case TRB_DISABLE_SLOT: case TRB_RESET_DEV:
			cc = xhci_cmd_slot(sc, &t, type, &slot);
			break;
		case TRB_ADDRESS_DEV: cc = xhci_cmd_address(sc, &t, slot); break;
		case TRB_CONFIG_EP: cc = xhci_cmd_configure(sc, &t, slot); break;
		case TRB_EVAL_CTX: cc = xhci_cmd_evaluate(sc, &t, slot); break;
		case TRB_RESET_EP: case TRB_STOP_EP: case TRB_SET_TR_DEQ:
			cc = xhci_cmd_ep(sc, &t, slot, type);
			break;
		case TRB_NOOP_CMD: cc = CC_SUCCESS; slot = 0; break;
		default: cc = CC_TRB_ERROR; slot = 0; break;
		}
		xhci_ring_advance(&sc->cmd);
		xhci_cmd_done(sc, at, cc, slot);
	}
}

/* ---- transfers ---- */

static struct usb_tablet *xhci_dev(struct xhci_softc *sc, int slot)
{
	int port = sc->slot[slot].port;

	return port >= 1 && port <= sc->nports ? sc->tablet[port - 1] : NULL;
}

/* One TRB of a control transfer on EP0.  Returns false to stop (stall or ring problem). */
static bool xhci_ctrl_trb(struct xhci_softc *sc, int slot, const struct xhci_trb *t,
			  uint64_t at, struct usb_setup *setup, bool *stalled)
{
	uint8_t buf[256];
	size_t got = 0;
	uint32_t len = t->status & 0x1FFFF;
	int cc = CC_SUCCESS;
	uint32_t resid = 0;

	switch (TRB_TYPE(t->control)) {
	case TRB_SETUP:
		if (!(t->control & TRB_IDT) || len != 8) {
			cc = CC_TRB_ERROR;
			break;
		}
		memcpy(setup, &t->param, 8);
		*stalled = false;
		/* OUT requests (no data stage for ours) run now; IN ones at the data stage. */
		if (!(setup->bmRequestType & 0x80) &&
		    usb_tablet_control(xhci_dev(sc, slot), setup, buf, 0, &got) < 0)
			*stalled = true;
		break;
	case TRB_DATA:
		if (!(setup->bmRequestType & 0x80) || !(t->control & (1u << 16))) {
			cc = CC_TRB_ERROR;  /* OUT data: none of our requests take any */
			break;
		}
		if (usb_tablet_control(xhci_dev(sc, slot), setup, buf,
				       len < sizeof(buf) ? len : sizeof(buf), &got) < 0) {
			*stalled = true;
			break;
		}
		if (got && !(t->control & TRB_IDT)) {
			uint8_t *dst = vm_map_gpa(sc->pi->pi_vm, t->param, got);
			if (dst == NULL) {
				cc = CC_DATA_BUFFER;
				break;
			}
			memcpy(dst, buf, got);
			vm_notify_write(sc->pi->pi_vm, t->param, got);
		}
		resid = len - (uint32_t)got;
		if (resid && (t->control & TRB_ISP))
			cc = CC_SHORT_PACKET;
		break;
	case TRB_STATUS: case TRB_NOOP: case TRB_EVENT_DATA:
		break;
	default:
		cc = CC_TRB_ERROR;
		break;
	}
	if (*stalled) {
		/* Halted on this TRB: the dequeue pointer stays on it and the endpoint context
		 * says so; the driver resets the endpoint and moves past the TD itself. */
		xhci_xfer_event(sc, at, CC_STALL, len, slot, 1);
		xhci_ep_sync_deq(sc, slot, 1);
		xhci_ep_state(sc, slot, 1, EP_STATE_HALTED);
		return false;
	}
	if ((t->control & TRB_IOC) || cc != CC_SUCCESS)
		xhci_xfer_event(sc, at, cc, resid, slot, 1);
	return true;
}

/* Interrupt IN of the tablet: one report into one Normal TRB, if a report waits. */
static bool xhci_intr_trb(struct xhci_softc *sc, int slot, int dci, const struct xhci_trb *t,
			  uint64_t at)
{
	uint8_t rep[USB_TABLET_REPORT_LEN];
	uint32_t len = t->status & 0x1FFFF, n;
	struct usb_tablet *tab = xhci_dev(sc, slot);
	uint8_t *dst;

	if (TRB_TYPE(t->control) != TRB_NORMAL) {
		xhci_xfer_event(sc, at, CC_TRB_ERROR, len, slot, dci);
		return true;
	}
	if (tab == NULL || !usb_tablet_poll(tab, rep))
		return false;                      /* stays pending until a report comes */
	n = len < USB_TABLET_REPORT_LEN ? len : USB_TABLET_REPORT_LEN;
	dst = n ? vm_map_gpa(sc->pi->pi_vm, t->param, n) : NULL;
	if (n && dst == NULL) {
		xhci_xfer_event(sc, at, CC_DATA_BUFFER, len, slot, dci);
		return true;
	}
	if (n) {
		memcpy(dst, rep, n);
		vm_notify_write(sc->pi->pi_vm, t->param, n);
	}
	xhci_xfer_event(sc, at, n < len ? CC_SHORT_PACKET : CC_SUCCESS, len - n, slot, dci);
	return true;
}

static void xhci_run_ep(struct xhci_softc *sc, int slot, int dci)
{
	struct xhci_ep *ep = &sc->slot[slot].ep[dci];
	struct usb_setup setup = { 0 };
	bool stalled = false;
	struct xhci_trb t;
	uint64_t at;

	if (ep->state != EP_STATE_RUNNING || !(sc->usbcmd & USBCMD_RS))
		return;
	for (int n = 0; n < XHCI_MAX_TRBS && xhci_ring_peek(sc, &ep->ring, &t, &at); n++) {
		bool go = dci == 1 ? xhci_ctrl_trb(sc, slot, &t, at, &setup, &stalled) :
			  dci == 3 ? xhci_intr_trb(sc, slot, dci, &t, at) : false;
		if (!go)
			break;             /* halted, or nothing to complete yet: stay on it */
		xhci_ring_advance(&ep->ring);
	}
}

static void xhci_doorbell(struct xhci_softc *sc, int db, uint32_t val)
{
	int dci = (int)(val & 0xFF);

	if (!(sc->usbcmd & USBCMD_RS))
		return;
	if (db == 0) {
		if (!sc->cmd_running) {
			sc->cmd.deq = sc->crcr & ~0x3FULL;
			sc->cmd.ccs = sc->crcr & CRCR_RCS;
			sc->cmd_running = true;
		}
		xhci_run_commands(sc);
		return;
	}
	if (!xhci_slot_ok(sc, db) || dci < 1 || dci >= XHCI_EP_COUNT)
		return;
	if (sc->slot[db].ep[dci].state == EP_STATE_STOPPED)
		xhci_ep_state(sc, db, dci, EP_STATE_RUNNING);
	xhci_run_ep(sc, db, dci);
}

/* A new tablet report: complete a waiting interrupt transfer of its slot. */
static void xhci_tablet_changed(void *arg)
{
	struct xhci_softc *sc = arg;

	pthread_mutex_lock(&sc->lock);
	for (int s = 1; s <= XHCI_MAX_SLOTS; s++)
		if (sc->slot[s].enabled && xhci_dev(sc, s))
			xhci_run_ep(sc, s, 3);
	pthread_mutex_unlock(&sc->lock);
}

/* ---- register file ---- */

static void xhci_reset(struct xhci_softc *sc)
{
	sc->usbcmd = 0;
	sc->usbsts = USBSTS_HCH;
	sc->dnctrl = sc->config = 0;
	sc->crcr = sc->dcbaap = 0;
	sc->cmd_running = false;
	sc->iman = sc->imod = sc->erstsz = 0;
	sc->erstba = sc->erdp = 0;
	sc->ev_ready = false;
	for (int s = 0; s <= XHCI_MAX_SLOTS; s++)
		xhci_slot_reset(sc, s, true);
	for (int p = 0; p < sc->nports; p++)
		sc->portsc[p] = PORTSC_CCS | PORTSC_PP | PORTSC_SPEED_FS | PORTSC_CSC | (7u << 5);
	pci_lintr_deassert(sc->pi);
}

static uint32_t xhci_cap_read(struct xhci_softc *sc, uint64_t off)
{
	switch (off) {
	case 0x00: return XHCI_CAPLEN | 0x0100u << 16;
	case 0x04: return XHCI_MAX_SLOTS | 1u << 8 | (uint32_t)sc->nports << 24;
	case 0x08: return XHCI_ERST_MAX << 4;
	case 0x10: return 0x1 | (XHCI_XECP_OFF / 4) << 16;   /* 64-bit addressing */
	case 0x14: return XHCI_DB_OFF;
	case 0x18: return XHCI_RT_OFF;
	case XHCI_XECP_OFF: return 0x02000002;             /* Supported Protocol: USB 2.0 */
	case XHCI_XECP_OFF + 4: return 0x20425355;         /* "USB " */
	case XHCI_XECP_OFF + 8: return 1u | (uint32_t)sc->nports << 8;
	default: return 0;
	}
}

static uint32_t xhci_read32(struct xhci_softc *sc, uint64_t off)
{
	if (off < XHCI_OP)
		return xhci_cap_read(sc, off);
	if (off >= XHCI_XECP_OFF && off < XHCI_XECP_OFF + 0x10)
		return xhci_cap_read(sc, off);
	if (off >= XHCI_PORTS_OFF && off < XHCI_PORTS_OFF + 0x10u * (uint64_t)sc->nports)
		return (off & 0xF) == 0 ? sc->portsc[(off - XHCI_PORTS_OFF) / 0x10] : 0;
	switch (off) {
	case XHCI_OP + 0x00: return sc->usbcmd;
	case XHCI_OP + 0x04: return sc->usbsts;
	case XHCI_OP + 0x08: return 1;                      /* 4 KiB pages */
	case XHCI_OP + 0x14: return sc->dnctrl;
	case XHCI_OP + 0x18: return sc->cmd_running ? CRCR_CRR : 0;
	case XHCI_OP + 0x30: return (uint32_t)sc->dcbaap;
	case XHCI_OP + 0x34: return (uint32_t)(sc->dcbaap >> 32);
	case XHCI_OP + 0x38: return sc->config;
	case XHCI_RT_OFF + 0x20: return sc->iman;
	case XHCI_RT_OFF + 0x24: return sc->imod;
	case XHCI_RT_OFF + 0x28: return sc->erstsz;
	case XHCI_RT_OFF + 0x30: return (uint32_t)sc->erstba;
	case XHCI_RT_OFF + 0x34: return (uint32_t)(sc->erstba >> 32);
	case XHCI_RT_OFF + 0x38: return (uint32_t)sc->erdp;
	case XHCI_RT_OFF + 0x3C: return (uint32_t)(sc->erdp >> 32);
	default: return 0;
	}
}

static void xhci_usbcmd(struct xhci_softc *sc, uint32_t v)
{
	bool was = sc->usbcmd & USBCMD_RS;

	if (v & USBCMD_HCRST) {
		xhci_reset(sc);
		return;
	}
	sc->usbcmd = v & 0x3F0F;
	if ((v & USBCMD_RS) && !was && !(sc->usbsts & USBSTS_HSE)) {
		sc->usbsts &= ~(uint32_t)USBSTS_HCH;
		for (int p = 0; p < sc->nports; p++)
			if (sc->portsc[p] & PORTSC_CHANGE)
				xhci_port_event(sc, p + 1);
	} else if (!(v & USBCMD_RS)) {
		sc->usbsts |= USBSTS_HCH;
		sc->cmd_running = false;
	}
}

static void xhci_portsc_write(struct xhci_softc *sc, int p, uint32_t v)
{
	uint32_t *ps = &sc->portsc[p];

	*ps &= ~(v & PORTSC_CHANGE);               /* write 1 to clear */
	if (v & PORTSC_PED)
		*ps &= ~(uint32_t)PORTSC_PED;      /* write 1 to disable */
	if ((v & PORTSC_LWS) && (*ps & PORTSC_PED))
		*ps = (*ps & ~PORTSC_PLS_M) | (v & PORTSC_PLS_M);
	*ps = (*ps & ~PORTSC_WAKE) | (v & PORTSC_WAKE);
	if ((v & PORTSC_PR) && (*ps & PORTSC_CCS)) {
		/* The reset completes at once: enabled, U0. */
		*ps = (*ps & ~PORTSC_PLS_M) | PORTSC_PED | PORTSC_PRC;
		xhci_port_event(sc, p + 1);
	}
}

static void xhci_write32(struct xhci_softc *sc, uint64_t off, uint32_t v)
{
	if (off >= XHCI_DB_OFF && off < XHCI_DB_OFF + 4 * (XHCI_MAX_SLOTS + 1)) {
		xhci_doorbell(sc, (int)((off - XHCI_DB_OFF) / 4), v);
		return;
	}
	if (off >= XHCI_PORTS_OFF && off < XHCI_PORTS_OFF + 0x10u * (uint64_t)sc->nports) {
		if ((off & 0xF) == 0)
			xhci_portsc_write(sc, (int)((off - XHCI_PORTS_OFF) / 0x10), v);
		return;
	}
	switch (off) {
	case XHCI_OP + 0x00: xhci_usbcmd(sc, v); break;
	case XHCI_OP + 0x04:
		sc->usbsts &= ~(v & (USBSTS_HSE | USBSTS_EINT | USBSTS_PCD));
		break;
	case XHCI_OP + 0x14: sc->dnctrl = v & 0xFFFF; break;
	case XHCI_OP + 0x18:
		if (!sc->cmd_running)
			sc->crcr = (sc->crcr & ~0xFFFFFFFFULL) | v;
		else if (v & 0x6)                   /* stop/abort: nothing runs asynchronously */
			sc->cmd_running = false;
		break;
	case XHCI_OP + 0x1C:
		if (!sc->cmd_running)
			sc->crcr = (sc->crcr & 0xFFFFFFFFULL) | (uint64_t)v << 32;
		break;
	case XHCI_OP + 0x30: sc->dcbaap = (sc->dcbaap & ~0xFFFFFFFFULL) | (v & ~0x3Fu); break;
	case XHCI_OP + 0x34: sc->dcbaap = (sc->dcbaap & 0xFFFFFFFFULL) | (uint64_t)v << 32; break;
	case XHCI_OP + 0x38: sc->config = v & 0xFF; break;
	case XHCI_RT_OFF + 0x20:
		sc->iman = (sc->iman & ~0x2u & ~(v & 0x1u)) | (v & 0x2u);
		if (!(sc->iman & 0x1))
			pci_lintr_deassert(sc->pi);
		break;
	case XHCI_RT_OFF + 0x24: sc->imod = v; break;
	case XHCI_RT_OFF + 0x28: sc->erstsz = v & 0xFFFF; break;
	case XHCI_RT_OFF + 0x30: case XHCI_RT_OFF + 0x34:
		if (off == XHCI_RT_OFF + 0x30)
			sc->erstba = (sc->erstba & ~0xFFFFFFFFULL) | (v & ~0x3Fu);
		else
			sc->erstba = (sc->erstba & 0xFFFFFFFFULL) | (uint64_t)v << 32;
		sc->ev_pcs = true;
		sc->ev_ready = xhci_erst_load(sc, 0);
		break;
	case XHCI_RT_OFF + 0x38:
		sc->erdp = (sc->erdp & ~0xFFFFFFFFULL) | (v & ~0xFu);   /* EHB: write 1 to clear */
		break;
	case XHCI_RT_OFF + 0x3C: sc->erdp = (sc->erdp & 0xFFFFFFFFULL) | (uint64_t)v << 32; break;
	default: break;
	}
}

static void xhci_barwrite(struct vcpu *vcpu, struct pci_devinst *pi, int baridx,
			  uint64_t offset, int size, uint64_t value)
{
	struct xhci_softc *sc = pi->pi_arg;

	if (baridx != 0 || offset >= XHCI_BAR_SIZE || (offset & 3) || size < 4)
		return;                            /* registers are dwords */
	pthread_mutex_lock(&sc->lock);
	xhci_write32(sc, offset, (uint32_t)value);
	if (size == 8)
		xhci_write32(sc, offset + 4, (uint32_t)(value >> 32));
	pthread_mutex_unlock(&sc->lock);
}

static uint64_t xhci_barread(struct vcpu *vcpu, struct pci_devinst *pi, int baridx,
			     uint64_t offset, int size)
{
	struct xhci_softc *sc = pi->pi_arg;
	uint64_t v;
	uint64_t al = offset & ~3ULL;

	if (baridx != 0 || offset >= XHCI_BAR_SIZE)
		return ~0ULL;
	pthread_mutex_lock(&sc->lock);
	v = xhci_read32(sc, al);
	if (size == 8)
		v |= (uint64_t)xhci_read32(sc, al + 4) << 32;
	pthread_mutex_unlock(&sc->lock);
	if (size < 8) {
		v >>= 8 * (offset & 3);
		v &= (1ULL << (8 * size)) - 1;
	}
	return v;
}

/* ---- set-up ---- */

static int xhci_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	struct xhci_softc *sc = calloc(1, sizeof(*sc));
	config_node_t *slots = devconf_find_child(nvl, "slot");
	char key[32];

	if (sc == NULL)
		abort();
	sc->pi = pi;
	pthread_mutex_init(&sc->lock, NULL);
	for (int n = 1; n <= XHCI_MAX_DEVS && slots; n++) {
		snprintf(key, sizeof(key), "%d.device", n);
		if (config_node_get(slots, key) == NULL)
			continue;
		sc->tablet[sc->nports++] = usb_tablet_create(pi->pi_vm, xhci_tablet_changed, sc);
	}
	pi->pi_arg = sc;
	pci_set_cfgdata16(pi, PCIR_VENDOR, 0x1B36);
	pci_set_cfgdata16(pi, PCIR_DEVICE, 0x000D);
	pci_set_cfgdata8(pi, PCIR_CLASS, PCIC_SERIALBUS);
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, PCIS_SERIALBUS_USB);
	pci_set_cfgdata8(pi, PCIR_PROGIF, 0x30);   /* xHCI */
	pci_set_cfgdata8(pi, 0x60, 0x30);          /* SBRN: USB 3.0 */
	xhci_reset(sc);
	if (pci_emul_alloc_bar(pi, 0, PCIBAR_MEM64, XHCI_BAR_SIZE) < 0 ||
	    pci_emul_add_msicap(pi, 1) < 0 || pci_lintr_request(pi) < 0) {
		snprintf(err, errlen, "xhci: cannot set up its BAR and interrupts");
		return -1;
	}
	return 0;
}

static void xhci_deinit(struct pci_devinst *pi)
{
	struct xhci_softc *sc = pi->pi_arg;

	if (sc == NULL)
		return;
	for (int p = 0; p < sc->nports; p++)
		usb_tablet_destroy(sc->tablet[p]);
	pthread_mutex_destroy(&sc->lock);
	free(sc);
	pi->pi_arg = NULL;
}

static const struct pci_devemu pci_de_xhci = {
	.pe_emu = "xhci",
	.pe_help = "xHCI USB controller: [tablet][,...]",
	.pe_legacy_config = xhci_legacy_config,
	.pe_validate = xhci_validate,
	.pe_init = xhci_init,
	.pe_deinit = xhci_deinit,
	.pe_barread = xhci_barread,
	.pe_barwrite = xhci_barwrite,
};
PCI_EMUL_SET(pci_de_xhci);
