/*
 * Intel 82545EM gigabit NIC (-s N,e1000,BACKEND[,mac=xx:xx:xx:xx:xx:xx]), as bhyve's e1000.
 *
 * Keys: backend (a TAP interface of any name, or slirp with hostfwd=/open), mac (default:
 * netmac_default, as virtio-net), mtu (checked; the e1000 has no way to tell the guest an MTU).
 *
 * The model (Intel's PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's
 * Manual, 8254x): BAR 0 is the 128 KiB register file, BAR 2 the I/O window (IOADDR/IODATA,
 * which Linux uses for the 82545's reset); MSI with one vector, else INTA.
 *   - EEPROM: 64 words behind the Microwire bit-bang interface of EECD (and EERD): the MAC in
 *     words 0-2, the checksum word making words 0..0x3F sum to 0xBABA.
 *   - PHY (MDIC, address 1): an M88E1011 with the link up at 1000 Mb/s full duplex.
 *   - Receive: one descriptor ring (legacy 16-byte descriptors), buffers of RCTL.BSIZE, frames
 *     spanning several descriptors; unicast (16 RAL/RAH), multicast (MTA hash by RCTL.MO),
 *     broadcast (BAM) and promiscuous filters; VLAN tag strip (CTRL.VME) and filter (VFTA);
 *     IPv4 and TCP/UDP checksum verification (RXCSUM).  The 4-byte FCS is counted in the
 *     length unless RCTL.SECRC, as the driver expects; its bytes are zero.
 *   - Transmit: legacy descriptors (CSO/CSS checksum), context descriptors (a checksum context
 *     and a TSO context, kept apart as on the hardware) and data descriptors with IXSM/TXSM;
 *     TCP segmentation (IPv4 and IPv6) with per-segment IP length/ID, TCP sequence, flags and
 *     checksums; VLAN tag insertion (VLE).  Transmit runs in the vCPU thread that writes TDT.
 *   - Interrupts: ICR (read to clear), ICS, IMS/IMC; ITR, RDTR/RADV and TIDV/TADV are stored
 *     but interrupts are never delayed (a cause is signalled when it is set).
 * A guest is hostile: a ring that is not wholly in guest RAM, a head or tail beyond the ring,
 * a buffer outside RAM or a frame too long is dropped (counted), never followed; each
 * descriptor is copied out of guest memory before it is looked at.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net_be.h"
#include "common/devconf.h"
#include "common/netmac.h"
#include "common/parse.h"
#include "pci/pci_devinst.h"
#include "pci/pci_e1000.h"
#include "vmm/vmm.h"

/* Registers (byte offsets in BAR 0). */
#define E1K_CTRL     0x0000
#define E1K_STATUS   0x0008
#define E1K_EECD     0x0010
#define E1K_EERD     0x0014
#define E1K_MDIC     0x0020
#define E1K_VET      0x0038
#define E1K_ICR      0x00C0
#define E1K_ICS      0x00C8
#define E1K_IMS      0x00D0
#define E1K_IMC      0x00D8
#define E1K_RCTL     0x0100
#define E1K_TCTL     0x0400
#define E1K_LEDCTL   0x0E00
#define E1K_PBA      0x1000
#define E1K_RDBAL    0x2800
#define E1K_RDBAH    0x2804
#define E1K_RDLEN    0x2808
#define E1K_RDH      0x2810
#define E1K_RDT      0x2818
#define E1K_TDBAL    0x3800
#define E1K_TDBAH    0x3804
#define E1K_TDLEN    0x3808
#define E1K_TDH      0x3810
#define E1K_TDT      0x3818
#define E1K_STATS    0x4000           /* statistics, 0x4000-0x40FF, clear on read */
#define E1K_STATS_END 0x4100
#define E1K_GPRC     0x4074
#define E1K_GPTC     0x4080
#define E1K_TPR      0x40D0
#define E1K_TPT      0x40D4
#define E1K_RXCSUM   0x5000
#define E1K_MTA      0x5200           /* 128 words */
#define E1K_RA       0x5400           /* 16 RAL/RAH pairs */
#define E1K_VFTA     0x5600           /* 128 words */

#define CTRL_RST     (1u << 26)
#define CTRL_VME     (1u << 30)
#define CTRL_PHY_RST (1u << 31)
#define STATUS_FD    0x01u
#define STATUS_LU    0x02u
#define STATUS_1000  0x80u
#define EECD_SK      0x001u
#define EECD_CS      0x002u
#define EECD_DI      0x004u
#define EECD_DO      0x008u
#define EECD_FWE     0x030u
#define EECD_REQ     0x040u
#define EECD_GNT     0x080u
#define EECD_PRES    0x100u
#define EERD_START   0x01u
#define EERD_DONE    0x10u
#define MDIC_OP_WR   1u
#define MDIC_OP_RD   2u
#define MDIC_READY   (1u << 28)
#define MDIC_IE      (1u << 29)
#define MDIC_ERR     (1u << 30)
#define RAH_AV       (1u << 31)

#define ICR_TXDW     0x001u
#define ICR_TXQE     0x002u
#define ICR_LSC      0x004u
#define ICR_RXDMT0   0x010u
#define ICR_RXO      0x040u
#define ICR_RXT0     0x080u
#define ICR_MDAC     0x200u

#define RCTL_EN      (1u << 1)
#define RCTL_UPE     (1u << 3)
#define RCTL_MPE     (1u << 4)
#define RCTL_LPE     (1u << 5)
#define RCTL_BAM     (1u << 15)
#define RCTL_VFE     (1u << 18)
#define RCTL_BSEX    (1u << 25)
#define RCTL_SECRC   (1u << 26)
#define TCTL_EN      (1u << 1)
#define RXCSUM_IPOFLD (1u << 8)
#define RXCSUM_TUOFLD (1u << 9)

/* Descriptor fields. */
#define RXD_DD       0x01
#define RXD_EOP      0x02
#define RXD_IXSM     0x04
#define RXD_VP       0x08
#define RXD_TCPCS    0x20
#define RXD_IPCS     0x40
#define RXE_TCPE     0x20
#define RXE_IPE      0x40
#define RXE_RXE      0x80
#define TXD_EOP      0x01
#define TXD_IC       0x04
#define TXD_RS       0x08
#define TXD_TSE      0x04                 /* in a data/context descriptor's command */
#define TXD_DEXT     0x20
#define TXD_VLE      0x40
#define TXD_DD       0x01
#define TUCMD_TCP    0x01
#define TUCMD_IP     0x02
#define POPTS_IXSM   0x01
#define POPTS_TXSM   0x02

#define E1K_EE_WORDS 64
#define E1K_EE_SUM   0xBABA
#define E1K_PHY_ADDR 1
#define E1K_TX_MAX   (65536 + 1024)       /* a transmitted packet (TSO: header + payload) */
#define E1K_RX_MIN   60                   /* frames are padded to the Ethernet minimum */
#define E1K_MAX_STD  1522                 /* largest frame without RCTL.LPE (with a tag) */

struct e1000_txctx {
	uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdr_len;
	uint16_t ipcse, tucse, mss;
	uint32_t paylen;
};

struct e1000_softc {
	struct e1000_hooks h;
	pthread_mutex_t mtx;
	uint32_t regs[E1000_BAR_MEM_SIZE / 4];
	uint16_t phy[32];
	uint16_t eeprom[E1K_EE_WORDS];
	uint32_t ioaddr;
	/* Microwire state. */
	uint32_t ee_in;
	int ee_nin, ee_nout;
	bool ee_sk, ee_do, ee_reading;
	uint16_t ee_out;
	/* Transmit: the packet being gathered. */
	uint8_t *tx;
	size_t txlen;
	bool tx_bad, tx_tse, tx_vle;
	uint8_t tx_popts;
	uint16_t tx_vlan;
	struct e1000_txctx ctx_csum, ctx_tso;
	uint8_t *seg;                         /* one TSO segment */
	uint8_t *rx;                          /* a received frame after tag removal */
	uint64_t bad_desc;
};

#define REG(sc, off) ((sc)->regs[(off) / 4])

static uint16_t e1k_get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void e1k_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static uint16_t e1k_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void e1k_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static uint64_t e1k_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Report a write into guest RAM (the software CPU drops code it decoded from there). */
static void e1k_wrote(struct e1000_softc *sc, uint64_t gpa, size_t len)
{
	if (sc->h.wrote)
		sc->h.wrote(sc->h.ctx, gpa, len);
}

/* ---- Interrupts ---- */

static void e1k_intr_update(struct e1000_softc *sc)
{
	sc->h.intr(sc->h.ctx, (REG(sc, E1K_ICR) & REG(sc, E1K_IMS)) != 0);
}

static void e1k_cause(struct e1000_softc *sc, uint32_t bits)
{
	REG(sc, E1K_ICR) |= bits;
	e1k_intr_update(sc);
}

/* ---- EEPROM and PHY ---- */

static void e1k_eeprom_init(struct e1000_softc *sc, const uint8_t mac[6])
{
	uint16_t sum = 0;

	memset(sc->eeprom, 0, sizeof(sc->eeprom));
	for (int i = 0; i < 3; i++)
		sc->eeprom[i] = (uint16_t)(mac[2 * i] | mac[2 * i + 1] << 8);
	sc->eeprom[0x0A] = 0x4408;           /* init control 1: no LRST, ASDE, FD, SLU */
	sc->eeprom[0x0B] = 0x1008;           /* subsystem ID */
	sc->eeprom[0x0C] = 0x8086;           /* subsystem vendor */
	sc->eeprom[0x0D] = 0x100F;           /* device ID */
	sc->eeprom[0x0E] = 0x8086;           /* vendor ID */
	for (int i = 0; i < E1K_EE_WORDS - 1; i++)
		sum = (uint16_t)(sum + sc->eeprom[i]);
	sc->eeprom[E1K_EE_WORDS - 1] = (uint16_t)(E1K_EE_SUM - sum);
}

/* EECD write: Microwire, data sampled on SK's rising edge while CS is high.  A read is the
 * start bit and opcode (110), 6 address bits, then 16 data bits out on DO, MSB first. */
static void e1k_eecd_write(struct e1000_softc *sc, uint32_t val)
{
	bool rising = (val & EECD_SK) && !sc->ee_sk;

	REG(sc, E1K_EECD) = val & (EECD_SK | EECD_CS | EECD_DI | EECD_FWE | EECD_REQ);
	sc->ee_sk = val & EECD_SK;
	if (!(val & EECD_CS)) {
		sc->ee_nin = 0;
		sc->ee_in = 0;
		sc->ee_reading = false;
		sc->ee_do = false;
		return;
	}
	if (!rising)
		return;
	if (sc->ee_reading) {
		if (sc->ee_nout > 0)
			sc->ee_do = (sc->ee_out >> --sc->ee_nout) & 1;
		else
			sc->ee_do = false;
		return;
	}
	if (sc->ee_nin >= 9)
		return;                       /* an opcode we ignore: wait for CS to drop */
	sc->ee_in = sc->ee_in << 1 | ((val & EECD_DI) ? 1 : 0);
	if (++sc->ee_nin == 9 && (sc->ee_in >> 6) == 6) {
		sc->ee_reading = true;
		sc->ee_out = sc->eeprom[sc->ee_in & 0x3F];
		sc->ee_nout = 16;
		sc->ee_do = false;
	}
}

static uint32_t e1k_eecd_read(struct e1000_softc *sc)
{
	uint32_t v = REG(sc, E1K_EECD) | EECD_PRES;

	if (v & EECD_REQ)
		v |= EECD_GNT;
	if (sc->ee_do)
		v |= EECD_DO;
	return v;
}

static void e1k_eerd_write(struct e1000_softc *sc, uint32_t val)
{
	uint32_t a = (val >> 8) & 0xFF;

	if (!(val & EERD_START)) {
		REG(sc, E1K_EERD) = val & ~EERD_DONE;
		return;
	}
	uint16_t d = a < E1K_EE_WORDS ? sc->eeprom[a] : 0xFFFF;
	REG(sc, E1K_EERD) = (uint32_t)d << 16 | a << 8 | EERD_DONE;
}

static void e1k_phy_reset(struct e1000_softc *sc)
{
	static const uint16_t init[32] = {
		[0] = 0x1140,                 /* autonegotiation on, full duplex, 1000 */
		[1] = 0x796D,                 /* link up, autonegotiation complete */
		[2] = 0x0141, [3] = 0x0C20,   /* M88E1011 */
		[4] = 0x0DE1, [5] = 0x45E1, [6] = 0x0001,
		[9] = 0x0E00, [10] = 0x3C00, [15] = 0x3000,
		[0x10] = 0x0360,
		[0x11] = 0xAC00,              /* 1000 Mb/s, full duplex, resolved, link */
		[0x14] = 0x0D60,
	};
	memcpy(sc->phy, init, sizeof(init));
}

static void e1k_mdic_write(struct e1000_softc *sc, uint32_t val)
{
	uint32_t reg = (val >> 16) & 0x1F, op = (val >> 26) & 3;
	uint32_t data = val & 0xFFFF;

	if (((val >> 21) & 0x1F) != E1K_PHY_ADDR) {
		REG(sc, E1K_MDIC) = (val & ~0xFFFFu) | MDIC_READY | MDIC_ERR;
	} else if (op == MDIC_OP_RD) {
		REG(sc, E1K_MDIC) = (val & 0x3FF0000u) | sc->phy[reg] | MDIC_READY;
	} else {
		if (op == MDIC_OP_WR && reg == 0) {
			if (data & 0x8000)
				e1k_phy_reset(sc);
			sc->phy[0] = (uint16_t)(data & ~0x8200u);  /* reset, restart: self-clearing */
		} else if (op == MDIC_OP_WR && reg != 1 && reg != 2 && reg != 3 && reg != 5 &&
			   reg != 10 && reg != 15 && reg != 0x11) {
			sc->phy[reg] = (uint16_t)data;
		}
		REG(sc, E1K_MDIC) = (val & 0x3FFFFFFu) | MDIC_READY;
	}
	if (val & MDIC_IE)
		e1k_cause(sc, ICR_MDAC);
}

/* ---- Reset ---- */

static void e1k_reset(struct e1000_softc *sc)
{
	const uint8_t *m = (const uint8_t *)sc->eeprom;
	memset(sc->regs, 0, sizeof(sc->regs));
	REG(sc, E1K_CTRL) = 0x00000040 | 0x1;        /* SLU, full duplex */
	REG(sc, E1K_VET) = 0x8100;
	REG(sc, E1K_LEDCTL) = 0x07068302;
	REG(sc, E1K_PBA) = 0x00000030;
	REG(sc, E1K_RA) = (uint32_t)m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24;
	REG(sc, E1K_RA + 4) = (uint32_t)m[4] | m[5] << 8 | RAH_AV;
	sc->txlen = 0;
	sc->tx_bad = sc->tx_tse = sc->tx_vle = false;
	memset(&sc->ctx_csum, 0, sizeof(sc->ctx_csum));
	memset(&sc->ctx_tso, 0, sizeof(sc->ctx_tso));
	sc->ee_nin = 0;
	sc->ee_reading = sc->ee_do = sc->ee_sk = false;
	e1k_phy_reset(sc);
	e1k_intr_update(sc);
}

/* ---- Rings ---- */

/* The ring at base/len as a host pointer with *count descriptors, NULL unless it is set up,
 * wholly in guest RAM and both head and tail are inside it. */
static uint8_t *e1k_ring(struct e1000_softc *sc, uint32_t bal, uint32_t *count, uint32_t *head,
			 uint32_t *tail, uint64_t *gpa)
{
	uint64_t base = ((uint64_t)REG(sc, bal + 4) << 32 | REG(sc, bal)) & ~0xFull;

	*gpa = base;
	uint32_t len = REG(sc, bal + 8) & 0xFFF80;

	*count = len / 16;
	*head = REG(sc, bal + 0x10) & 0xFFFF;
	*tail = REG(sc, bal + 0x18) & 0xFFFF;
	if (!len || *head >= *count || *tail >= *count)
		return NULL;
	return sc->h.map(sc->h.ctx, base, len);
}

/* ---- Checksums ---- */

static uint32_t e1k_sum(uint32_t s, const uint8_t *p, size_t n)
{
	size_t i;
	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < n)
		s += (uint32_t)p[i] << 8;
	return s;
}

static uint16_t e1k_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)s;
}

/* Store the checksum of pkt[css .. cse] (cse 0: to the end) at cso, as the hardware does. */
static void e1k_csum_insert(uint8_t *pkt, size_t len, unsigned css, unsigned cso, unsigned cse)
{
	size_t end = cse ? (size_t)cse + 1 : len;

	if (end > len)
		end = len;
	if (css >= end || (size_t)cso + 2 > len)
		return;
	e1k_put_be16(pkt + cso, (uint16_t)~e1k_fold(e1k_sum(0, pkt + css, end - css)));
}

/* ---- Transmit ---- */

static void e1k_send(struct e1000_softc *sc, uint8_t *frame, size_t len)
{
	if (sc->tx_vle && (REG(sc, E1K_CTRL) & CTRL_VME) && len >= 12 && len + 4 <= E1K_TX_MAX) {
		memmove(frame + 16, frame + 12, len - 12);
		e1k_put_be16(frame + 12, (uint16_t)REG(sc, E1K_VET));
		e1k_put_be16(frame + 14, sc->tx_vlan);
		len += 4;
	}
	REG(sc, E1K_GPTC)++;
	REG(sc, E1K_TPT)++;
	sc->h.send(sc->h.ctx, frame, len);
}

/* One TSO segment of the gathered packet: the header, then `n` payload bytes from `off`. */
static void e1k_tso_segment(struct e1000_softc *sc, const struct e1000_txctx *c, size_t off,
			    size_t n, unsigned idx, bool last)
{
	uint8_t *s = sc->seg;
	size_t hl = c->hdr_len, len = hl + n;

	memcpy(s, sc->tx, hl);
	memcpy(s + hl, sc->tx + hl + off, n);
	if (c->tucmd & TUCMD_IP) {
		if ((size_t)c->ipcss + 6 <= hl) {
			e1k_put_be16(s + c->ipcss + 2, (uint16_t)(len - c->ipcss));
			e1k_put_be16(s + c->ipcss + 4, (uint16_t)(e1k_be16(s + c->ipcss + 4) + idx));
		}
	} else if ((size_t)c->ipcss + 6 <= hl) {
		e1k_put_be16(s + c->ipcss + 4, (uint16_t)(len - c->ipcss - 40));
	}
	if ((c->tucmd & TUCMD_TCP) && (size_t)c->tucss + 14 <= hl) {
		uint8_t *t = s + c->tucss;
		uint32_t seq = (uint32_t)t[4] << 24 | t[5] << 16 | t[6] << 8 | t[7];
		seq += (uint32_t)off;
		t[4] = (uint8_t)(seq >> 24); t[5] = (uint8_t)(seq >> 16);
		t[6] = (uint8_t)(seq >> 8); t[7] = (uint8_t)seq;
		if (!last)
			t[13] &= (uint8_t)~0x09;      /* FIN and PSH only on the last segment */
	} else if (!(c->tucmd & TUCMD_TCP) && (size_t)c->tucss + 6 <= hl) {
		e1k_put_be16(s + c->tucss + 4, (uint16_t)(len - c->tucss));
	}
	if (sc->tx_popts & POPTS_IXSM && (c->tucmd & TUCMD_IP) && (size_t)c->ipcso + 2 <= hl) {
		e1k_put_be16(s + c->ipcso, 0);
		e1k_csum_insert(s, len, c->ipcss, c->ipcso, c->ipcse);
	}
	if ((sc->tx_popts & POPTS_TXSM) && c->tucss < len && (size_t)c->tucso + 2 <= hl) {
		/* The driver seeded the field with the pseudo-header sum without the length. */
		uint32_t sum = e1k_sum((uint32_t)(len - c->tucss), s + c->tucss, len - c->tucss);
		e1k_put_be16(s + c->tucso, (uint16_t)~e1k_fold(sum));
	}
	e1k_send(sc, s, len);
}

static void e1k_tso(struct e1000_softc *sc)
{
	const struct e1000_txctx *c = &sc->ctx_tso;
	size_t hl = c->hdr_len, pay;

	if (!c->mss || hl == 0 || hl >= sc->txlen || hl + c->mss > E1K_TX_MAX - 4) {
		sc->bad_desc++;
		return;
	}
	pay = sc->txlen - hl;
	unsigned idx = 0;
	for (size_t off = 0; off < pay; off += c->mss, idx++) {
		size_t n = pay - off < c->mss ? pay - off : c->mss;
		e1k_tso_segment(sc, c, off, n, idx, off + n >= pay);
	}
}

/* The gathered packet is complete (EOP): offloads, then out. */
static void e1k_tx_packet(struct e1000_softc *sc, const uint8_t *d)
{
	if (sc->tx_bad || sc->txlen == 0) {
		if (sc->tx_bad)
			sc->bad_desc++;
	} else if (sc->tx_tse) {
		e1k_tso(sc);
	} else {
		const struct e1000_txctx *c = &sc->ctx_csum;
		if (!(d[11] & TXD_DEXT)) {
			if (d[11] & TXD_IC)           /* legacy: CSO and CSS of the last descriptor */
				e1k_csum_insert(sc->tx, sc->txlen, d[13], d[10], 0);
		} else {
			if (sc->tx_popts & POPTS_IXSM)
				e1k_csum_insert(sc->tx, sc->txlen, c->ipcss, c->ipcso, c->ipcse);
			if (sc->tx_popts & POPTS_TXSM)
				e1k_csum_insert(sc->tx, sc->txlen, c->tucss, c->tucso, c->tucse);
		}
		e1k_send(sc, sc->tx, sc->txlen);
	}
	sc->txlen = 0;
	sc->tx_bad = sc->tx_tse = sc->tx_vle = false;
	sc->tx_popts = 0;
}

static void e1k_tx_context(struct e1000_softc *sc, const uint8_t *d)
{
	struct e1000_txctx *c = (d[11] & TXD_TSE) ? &sc->ctx_tso : &sc->ctx_csum;

	c->ipcss = d[0];
	c->ipcso = d[1];
	c->ipcse = e1k_get16(d + 2);
	c->tucss = d[4];
	c->tucso = d[5];
	c->tucse = e1k_get16(d + 6);
	c->paylen = (uint32_t)(d[8] | d[9] << 8 | (d[10] & 0xF) << 16);
	c->tucmd = d[11];
	c->hdr_len = d[13];
	c->mss = e1k_get16(d + 14);
}

/* Append a data or legacy descriptor's buffer to the packet being gathered. */
static void e1k_tx_data(struct e1000_softc *sc, const uint8_t *d)
{
	bool ext = d[11] & TXD_DEXT;
	size_t len = ext ? (size_t)(d[8] | d[9] << 8 | (d[10] & 0xF) << 16) : e1k_get16(d + 8);
	uint64_t addr = e1k_get64(d);

	if (sc->txlen == 0 && !sc->tx_bad) {
		/* The first descriptor of a packet sets its options. */
		sc->tx_tse = ext && (d[11] & TXD_TSE);
		sc->tx_popts = ext ? d[13] : 0;
	}
	if (d[11] & TXD_VLE) {
		sc->tx_vle = true;
		sc->tx_vlan = e1k_get16(d + 14);
	}
	if (len == 0 || sc->tx_bad)
		return;
	const void *src = len <= E1K_TX_MAX - 4 - sc->txlen ?
			  sc->h.map(sc->h.ctx, addr, len) : NULL;
	if (!src) {
		sc->tx_bad = true;
		return;
	}
	memcpy(sc->tx + sc->txlen, src, len);
	sc->txlen += len;
}

static void e1k_tx_run(struct e1000_softc *sc)
{
	uint32_t count, head, tail;
	uint64_t gpa;
	uint8_t *ring;
	bool done = false;

	if (!(REG(sc, E1K_TCTL) & TCTL_EN))
		return;
	ring = e1k_ring(sc, E1K_TDBAL, &count, &head, &tail, &gpa);
	if (!ring) {
		if (head != tail)
			sc->bad_desc++;
		return;
	}
	while (head != tail) {
		uint8_t d[16];
		memcpy(d, ring + 16 * head, 16);
		bool ctx = (d[11] & TXD_DEXT) && ((d[10] >> 4) & 0xF) == 0;
		if (ctx)
			e1k_tx_context(sc, d);
		else
			e1k_tx_data(sc, d);
		if (!ctx && (d[11] & TXD_EOP))
			e1k_tx_packet(sc, d);
		if (d[11] & TXD_RS) {
			ring[16 * head + 12] |= TXD_DD;
			e1k_wrote(sc, gpa + 16 * head + 12, 1);
			done = true;
		}
		head = (head + 1) % count;
	}
	REG(sc, E1K_TDH) = head;
	e1k_cause(sc, ICR_TXQE | (done ? ICR_TXDW : 0));
}

/* ---- Receive ---- */

static uint32_t e1k_rx_bufsize(uint32_t rctl)
{
	static const uint32_t std[4] = { 2048, 1024, 512, 256 };
	static const uint32_t ext[4] = { 2048, 16384, 8192, 4096 };
	unsigned b = (rctl >> 16) & 3;
	return (rctl & RCTL_BSEX) ? ext[b] : std[b];
}

static bool e1k_rx_accept(struct e1000_softc *sc, const uint8_t *f)
{
	uint32_t rctl = REG(sc, E1K_RCTL);
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (!memcmp(f, bcast, 6))
		return (rctl & RCTL_BAM) || (rctl & RCTL_MPE);
	if (f[0] & 1) {
		if (rctl & RCTL_MPE)
			return true;
		static const int shift[4] = { 4, 3, 2, 0 };
		unsigned mo = (rctl >> 12) & 3;
		uint32_t hash = ((uint32_t)f[4] >> shift[mo] | (uint32_t)f[5] << (8 - shift[mo])) &
				0xFFF;
		return (REG(sc, E1K_MTA + 4 * (hash >> 5)) >> (hash & 31)) & 1;
	}
	if (rctl & RCTL_UPE)
		return true;
	for (int i = 0; i < 16; i++) {
		uint32_t lo = REG(sc, E1K_RA + 8 * i), hi = REG(sc, E1K_RA + 8 * i + 4);
		if ((hi & RAH_AV) && lo == ((uint32_t)f[0] | f[1] << 8 | f[2] << 16 |
					    (uint32_t)f[3] << 24) && (hi & 0xFFFF) ==
		    (uint32_t)(f[4] | f[5] << 8))
			return true;
	}
	return false;
}

/* IPv4 header and TCP/UDP checksum verification: RXD_* status and error bits. */
static void e1k_rx_csum(struct e1000_softc *sc, const uint8_t *f, size_t len, uint8_t *st,
			uint8_t *er)
{
	uint32_t rx = REG(sc, E1K_RXCSUM);

	*st = RXD_IXSM;
	if (!(rx & (RXCSUM_IPOFLD | RXCSUM_TUOFLD)) || len < 34 || e1k_be16(f + 12) != 0x0800)
		return;
	const uint8_t *ip = f + 14;
	size_t ihl = (size_t)(ip[0] & 0xF) * 4, tot = e1k_be16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || 14 + tot > len)
		return;
	*st = 0;
	if (rx & RXCSUM_IPOFLD) {
		*st |= RXD_IPCS;
		if (e1k_fold(e1k_sum(0, ip, ihl)) != 0xFFFF)
			*er |= RXE_IPE;
	}
	if (!(rx & RXCSUM_TUOFLD) || (e1k_be16(ip + 6) & 0x3FFF))
		return;                               /* fragments are not checked */
	uint8_t proto = ip[9];
	size_t l4 = tot - ihl;
	if ((proto != 6 && proto != 17) || l4 < (proto == 6 ? 20u : 8u))
		return;
	if (proto == 17 && e1k_be16(ip + ihl + 6) == 0) {
		*st |= RXD_TCPCS;                     /* UDP without a checksum */
		return;
	}
	uint32_t s = e1k_sum(0, ip + 12, 8) + proto + (uint32_t)l4;
	*st |= RXD_TCPCS;
	if (e1k_fold(e1k_sum(s, ip + ihl, l4)) != 0xFFFF)
		*er |= RXE_TCPE;
}

/* Strip an 802.1Q tag when CTRL.VME; apply the VLAN filter.  NULL: filtered out. */
static const uint8_t *e1k_rx_vlan(struct e1000_softc *sc, const uint8_t *f, size_t *len,
				  bool *tagged, uint16_t *tci)
{
	*tagged = *len >= 18 && e1k_be16(f + 12) == (REG(sc, E1K_VET) & 0xFFFF);
	if (!*tagged)
		return f;
	*tci = e1k_be16(f + 14);
	unsigned vid = *tci & 0xFFF;
	if ((REG(sc, E1K_RCTL) & RCTL_VFE) && !((REG(sc, E1K_VFTA + 4 * (vid >> 5)) >> (vid & 31)) & 1))
		return NULL;
	if (!(REG(sc, E1K_CTRL) & CTRL_VME)) {
		*tagged = false;
		return f;
	}
	memcpy(sc->rx, f, 12);
	memcpy(sc->rx + 12, f + 16, *len - 16);
	*len -= 4;
	return sc->rx;
}

/* Copy the frame (plus FCS) into descriptors from the head.  false: not enough of them. */
static bool e1k_rx_fill(struct e1000_softc *sc, const uint8_t *f, size_t len, size_t total,
			uint8_t st, uint8_t er, uint16_t tci)
{
	uint32_t count, head, tail, bs = e1k_rx_bufsize(REG(sc, E1K_RCTL));
	uint64_t gpa;
	uint8_t *ring = e1k_ring(sc, E1K_RDBAL, &count, &head, &tail, &gpa);
	uint32_t need = (uint32_t)((total + bs - 1) / bs);

	if (!ring || (tail + count - head) % count < need)
		return false;
	for (size_t off = 0; off < total; head = (head + 1) % count) {
		uint8_t *d = ring + 16 * head;
		size_t n = total - off < bs ? total - off : bs;
		uint64_t bufgpa = e1k_get64(d);
		uint8_t *buf = sc->h.map(sc->h.ctx, bufgpa, n);
		bool last = off + n >= total;
		uint8_t dst = RXD_DD | (last ? RXD_EOP : 0) | (last ? st : 0);
		if (buf) {
			size_t c = off < len ? (len - off < n ? len - off : n) : 0;
			memcpy(buf, f + off, c);
			memset(buf + c, 0, n - c);    /* FCS bytes */
			e1k_wrote(sc, bufgpa, n);
		} else {
			sc->bad_desc++;
			n = total - off;              /* the rest of the frame is lost */
			dst |= RXD_EOP;
			last = true;
		}
		e1k_put16(d + 8, buf ? (uint16_t)n : 0);
		e1k_put16(d + 10, 0);
		d[13] = buf ? (last ? er : 0) : RXE_RXE;
		e1k_put16(d + 14, tci);
		d[12] = dst;
		e1k_wrote(sc, gpa + 16 * head, 16);
		off += n;
	}
	REG(sc, E1K_RDH) = head;
	uint32_t left = (tail + count - head) % count;
	uint32_t thr = count >> (((REG(sc, E1K_RCTL) >> 8) & 3) + 1);
	e1k_cause(sc, ICR_RXT0 | (left <= thr ? ICR_RXDMT0 : 0));
	return true;
}

int e1000_rx_frame(struct e1000_softc *sc, const uint8_t *frame, size_t len)
{
	int ret = 1;

	pthread_mutex_lock(&sc->mtx);
	uint32_t rctl = REG(sc, E1K_RCTL);
	bool tagged = false;
	uint16_t tci = 0;
	const uint8_t *f = frame;
	if (!(rctl & RCTL_EN) || len < 14 || len > E1000_MAX_FRAME ||
	    (!(rctl & RCTL_LPE) && len > E1K_MAX_STD) || !e1k_rx_accept(sc, frame) ||
	    !(f = e1k_rx_vlan(sc, frame, &len, &tagged, &tci)))
		goto out;
	if (len < E1K_RX_MIN) {
		if (f != sc->rx)
			memcpy(sc->rx, f, len);
		memset(sc->rx + len, 0, E1K_RX_MIN - len);
		f = sc->rx;
		len = E1K_RX_MIN;
	}
	uint8_t st = 0, er = 0;
	e1k_rx_csum(sc, f, len, &st, &er);
	if (tagged)
		st |= RXD_VP;
	size_t total = len + ((rctl & RCTL_SECRC) ? 0 : 4);
	uint32_t count = (REG(sc, E1K_RDLEN) & 0xFFF80) / 16;
	if ((total + e1k_rx_bufsize(rctl) - 1) / e1k_rx_bufsize(rctl) >= count && count) {
		sc->bad_desc++;                       /* can never fit this ring */
		goto out;
	}
	if (!e1k_rx_fill(sc, f, len, total, st, er, tagged ? tci : 0)) {
		ret = 0;
		e1k_cause(sc, ICR_RXO);
		goto out;
	}
	REG(sc, E1K_GPRC)++;
	REG(sc, E1K_TPR)++;
out:
	pthread_mutex_unlock(&sc->mtx);
	return ret;
}

/* ---- Register file ---- */

static uint32_t e1k_read32(struct e1000_softc *sc, uint32_t off)
{
	uint32_t v;

	switch (off) {
	case E1K_STATUS:
		return STATUS_FD | STATUS_LU | STATUS_1000;
	case E1K_EECD:
		return e1k_eecd_read(sc);
	case E1K_ICR:
		v = REG(sc, E1K_ICR);
		REG(sc, E1K_ICR) = 0;
		e1k_intr_update(sc);
		return v;
	case E1K_ICS:
	case E1K_IMC:
		return 0;
	default:
		v = REG(sc, off);
		if (off >= E1K_STATS && off < E1K_STATS_END)
			REG(sc, off) = 0;
		return v;
	}
}

static void e1k_write32(struct e1000_softc *sc, uint32_t off, uint32_t v)
{
	switch (off) {
	case E1K_CTRL:
		if (v & CTRL_RST) {
			e1k_reset(sc);
			return;
		}
		if (v & CTRL_PHY_RST)
			e1k_phy_reset(sc);
		REG(sc, off) = v & ~CTRL_PHY_RST;
		return;
	case E1K_STATUS:
		return;
	case E1K_EECD:
		e1k_eecd_write(sc, v);
		return;
	case E1K_EERD:
		e1k_eerd_write(sc, v);
		return;
	case E1K_MDIC:
		e1k_mdic_write(sc, v);
		return;
	case E1K_ICR:
		REG(sc, E1K_ICR) &= ~v;
		e1k_intr_update(sc);
		return;
	case E1K_ICS:
		e1k_cause(sc, v);
		return;
	case E1K_IMS:
		REG(sc, E1K_IMS) |= v;
		e1k_intr_update(sc);
		return;
	case E1K_IMC:
		REG(sc, E1K_IMS) &= ~v;
		e1k_intr_update(sc);
		return;
	case E1K_RDT:
	case E1K_RCTL:
		REG(sc, off) = v;
		sc->h.rx_kick(sc->h.ctx);
		return;
	case E1K_TDT:
	case E1K_TCTL:
		REG(sc, off) = v;
		e1k_tx_run(sc);
		return;
	default:
		if (off >= E1K_STATS && off < E1K_STATS_END)
			return;
		REG(sc, off) = v;
	}
}

uint32_t e1000_reg_read(struct e1000_softc *sc, uint32_t off, int size)
{
	if (off >= E1000_BAR_MEM_SIZE || (size != 1 && size != 2 && size != 4))
		return 0;
	pthread_mutex_lock(&sc->mtx);
	uint32_t v = e1k_read32(sc, off & ~3u) >> (8 * (off & 3));
	pthread_mutex_unlock(&sc->mtx);
	return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

void e1000_reg_write(struct e1000_softc *sc, uint32_t off, int size, uint32_t val)
{
	if (off >= E1000_BAR_MEM_SIZE || (size != 1 && size != 2 && size != 4))
		return;
	pthread_mutex_lock(&sc->mtx);
	if (size != 4) {
		/* A narrow write merges into the stored register, then acts as a full write. */
		unsigned sh = 8 * (off & 3);
		uint32_t mask = ((1u << (8 * size)) - 1) << sh;
		val = (REG(sc, off & ~3u) & ~mask) | ((val << sh) & mask);
	}
	e1k_write32(sc, off & ~3u, val);
	pthread_mutex_unlock(&sc->mtx);
}

uint32_t e1000_io_read(struct e1000_softc *sc, uint32_t off, int size)
{
	if (off == 0)
		return sc->ioaddr;
	if (off == 4 && size == 4)
		return e1000_reg_read(sc, sc->ioaddr, 4);
	return 0;
}

void e1000_io_write(struct e1000_softc *sc, uint32_t off, int size, uint32_t val)
{
	if (off == 0 && size == 4)
		sc->ioaddr = val & (E1000_BAR_MEM_SIZE - 1) & ~3u;
	else if (off == 4 && size == 4)
		e1000_reg_write(sc, sc->ioaddr, 4, val);
}

uint64_t e1000_bad_desc(struct e1000_softc *sc)
{
	pthread_mutex_lock(&sc->mtx);
	uint64_t n = sc->bad_desc;
	pthread_mutex_unlock(&sc->mtx);
	return n;
}

struct e1000_softc *e1000_create(const struct e1000_hooks *h, const uint8_t mac[6])
{
	struct e1000_softc *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return NULL;
	sc->tx = malloc(E1K_TX_MAX);
	sc->seg = malloc(E1K_TX_MAX);
	sc->rx = malloc(E1000_MAX_FRAME + E1K_RX_MIN);
	if (!sc->tx || !sc->seg || !sc->rx) {
		e1000_destroy(sc);
		return NULL;
	}
	sc->h = *h;
	pthread_mutex_init(&sc->mtx, NULL);
	e1k_eeprom_init(sc, mac);
	e1k_reset(sc);
	return sc;
}

void e1000_destroy(struct e1000_softc *sc)
{
	if (!sc)
		return;
	if (sc->tx && sc->seg && sc->rx)
		pthread_mutex_destroy(&sc->mtx);
	free(sc->tx);
	free(sc->seg);
	free(sc->rx);
	free(sc);
}

/* ---- PCI device: BARs, interrupts, the network backend ---- */

#define E1K_PCI_DEVICE  0x100F            /* 82545EM copper */
#define E1K_PCI_SUBDEV  0x1008
#define E1K_PCI_VENDOR  0x8086

struct e1000_pci {
	struct pci_devinst *pi;
	struct e1000_softc *sc;
	struct net_be *be;
	uint8_t *frame;                       /* receive bounce buffer (backend thread) */
	ssize_t frame_len;                    /* a frame waiting for receive buffers, or 0 */
	bool msi_level;                       /* MSI: the condition when last signalled */
};

static void *e1k_pci_map(void *ctx, uint64_t gpa, size_t len)
{
	struct e1000_pci *p = ctx;
	/* Bus mastering off: the device reaches no memory. */
	if (!(pci_get_cfgdata16(p->pi, PCIR_COMMAND) & PCIM_CMD_BUSMASTEREN))
		return NULL;
	return vm_map_gpa(p->pi->pi_vm, gpa, len);
}

/* MSI is an edge on the condition's rise; INTx follows its level. */
static void e1k_pci_intr(void *ctx, bool level)
{
	struct e1000_pci *p = ctx;

	if (pci_msi_enabled(p->pi)) {
		pci_lintr_deassert(p->pi);
		if (level && !p->msi_level)
			pci_generate_msi(p->pi, 0);
		p->msi_level = level;
		return;
	}
	p->msi_level = false;
	if (level)
		pci_lintr_assert(p->pi);
	else
		pci_lintr_deassert(p->pi);
}

static void e1k_pci_send(void *ctx, const uint8_t *frame, size_t len)
{
	struct e1000_pci *p = ctx;
	struct iovec iov = { (void *)frame, len };
	(void)net_be_send(p->be, &iov, 1);    /* refused frames are lost, as on a wire */
}

static void e1k_pci_wrote(void *ctx, uint64_t gpa, size_t len)
{
	struct e1000_pci *p = ctx;
	if (vm_tracks_dma_writes(p->pi->pi_vm))
		vm_notify_write(p->pi->pi_vm, gpa, len);
}

static void e1k_pci_kick(void *ctx)
{
	struct e1000_pci *p = ctx;
	if (p->be)
		net_be_rx_kick(p->be);
}

/* Backend thread: offer frames until none are left or the guest has no buffers. */
static int e1k_pci_rx(void *arg)
{
	struct e1000_pci *p = arg;

	for (;;) {
		if (p->frame_len == 0) {
			struct iovec iov = { p->frame, E1000_MAX_FRAME };
			ssize_t n = net_be_recv(p->be, &iov, 1);
			if (n < 0)
				return NET_BE_RX_DRAINED;
			if (n == 0)
				continue;
			p->frame_len = n;
		}
		if (e1000_rx_frame(p->sc, p->frame, (size_t)p->frame_len) == 0)
			return NET_BE_RX_STALLED;
		p->frame_len = 0;
	}
}

static void e1k_pci_deinit(struct pci_devinst *pi)
{
	struct e1000_pci *p = pi->pi_arg;

	if (!p)
		return;
	net_be_close(p->be);                  /* stops the receive thread first */
	e1000_destroy(p->sc);
	free(p->frame);
	free(p);
	pi->pi_arg = NULL;
}

static int e1k_pci_mac(struct pci_devinst *pi, config_node_t *nvl, uint8_t mac[6], char *err,
		       size_t errlen)
{
	const char *macs = config_node_get(nvl, "mac");

	if (macs && parse_mac(macs, mac) < 0) {
		snprintf(err, errlen, "mac=%s: malformed MAC address", macs);
		return -1;
	}
	if (!macs) {
		const char *vmname = config_get("name");
		netmac_default(pi->pi_bus, pi->pi_slot, pi->pi_func, vmname ? vmname : "", mac);
	}
	return 0;
}

static int e1k_pci_setup(struct pci_devinst *pi, char *err, size_t errlen)
{
	pci_set_cfgdata16(pi, PCIR_VENDOR, E1K_PCI_VENDOR);
	pci_set_cfgdata16(pi, PCIR_DEVICE, E1K_PCI_DEVICE);
	pci_set_cfgdata16(pi, PCIR_SUBVEND_0, E1K_PCI_VENDOR);
	pci_set_cfgdata16(pi, PCIR_SUBDEV_0, E1K_PCI_SUBDEV);
	pci_set_cfgdata8(pi, PCIR_CLASS, PCIC_NETWORK);
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, PCIS_NETWORK_ETHERNET);
	if (pci_emul_alloc_bar(pi, 0, PCIBAR_MEM32, E1000_BAR_MEM_SIZE) < 0 ||
	    pci_emul_alloc_bar(pi, 2, PCIBAR_IO, E1000_BAR_IO_SIZE) < 0 ||
	    pci_emul_add_msicap(pi, 1) < 0 || pci_lintr_request(pi) < 0) {
		snprintf(err, errlen, "cannot set up BARs and interrupts");
		return -1;
	}
	return 0;
}

static int e1k_pci_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	uint8_t mac[6];
	struct e1000_pci *p;

	if (e1k_pci_mac(pi, nvl, mac, err, errlen) < 0)
		return -1;
	if (!(p = calloc(1, sizeof(*p))) || !(p->frame = malloc(E1000_MAX_FRAME))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->pi = pi;
	pi->pi_arg = p;
	struct e1000_hooks h = { e1k_pci_map, e1k_pci_intr, e1k_pci_send, e1k_pci_kick,
				 e1k_pci_wrote, p };
	if (!(p->sc = e1000_create(&h, mac))) {
		snprintf(err, errlen, "out of memory");
		e1k_pci_deinit(pi);
		return -1;
	}
	if (e1k_pci_setup(pi, err, errlen) < 0 || !(p->be = net_be_open(nvl, 0, err, errlen)) ||
	    net_be_set_hdr_len(p->be, 0) < 0) {
		if (p->be && !err[0])
			snprintf(err, errlen, "%s: %s", net_be_name(p->be), strerror(errno));
		e1k_pci_deinit(pi);
		return -1;
	}
	if (net_be_start_rx(p->be, e1k_pci_rx, p) < 0) {
		snprintf(err, errlen, "%s: receive thread: %s", net_be_name(p->be), strerror(errno));
		e1k_pci_deinit(pi);
		return -1;
	}
	return 0;
}

static void e1k_pci_barwrite(struct vcpu *vcpu, struct pci_devinst *pi, int baridx,
			     uint64_t offset, int size, uint64_t value)
{
	struct e1000_pci *p = pi->pi_arg;

	if (baridx == 0)
		e1000_reg_write(p->sc, (uint32_t)offset, size, (uint32_t)value);
	else if (baridx == 2)
		e1000_io_write(p->sc, (uint32_t)offset, size, (uint32_t)value);
}

static uint64_t e1k_pci_barread(struct vcpu *vcpu, struct pci_devinst *pi, int baridx,
				uint64_t offset, int size)
{
	struct e1000_pci *p = pi->pi_arg;

	if (baridx == 0)
		return e1000_reg_read(p->sc, (uint32_t)offset, size);
	if (baridx == 2)
		return e1000_io_read(p->sc, (uint32_t)offset, size);
	return 0;
}

static int e1000_validate(config_node_t *nvl, char *err, size_t errlen)
{
	return devconf_net_check(nvl, err, errlen);
}

static const struct pci_devemu pci_de_e1000 = {
	.pe_emu = "e1000",
	.pe_help = "Intel 82545EM network: IFNAME|slirp[,hostfwd=...][,open]"
		   "[,mac=xx:xx:xx:xx:xx:xx]",
	.pe_legacy_config = devconf_net_legacy,
	.pe_keys = (const char *const[]){ DEVCONF_NET_KEYS, NULL },
	.pe_validate = e1000_validate,
	.pe_init = e1k_pci_init,
	.pe_deinit = e1k_pci_deinit,
	.pe_barwrite = e1k_pci_barwrite,
	.pe_barread = e1k_pci_barread,
};
PCI_EMUL_SET(pci_de_e1000);
