/*
 * e1000 (82545EM) device core with a fake guest RAM: EEPROM over Microwire and EERD, PHY over
 * MDIC, transmit (legacy, checksum context, TSO, VLAN insertion), receive (filters, buffers
 * spanning descriptors, checksum verification, VLAN strip), interrupts, and hostile rings:
 * rings and buffers outside RAM, heads and tails beyond the ring, absurd lengths, random
 * register and descriptor contents.  Guard areas around the fake RAM must stay untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "pci/pci_e1000.h"
#include "unit.h"

#define RAM_SIZE  (4u << 20)
#define GUARD     4096
#define TXR       0x10000u
#define TXB       0x20000u
#define RXR       0x30000u
#define RXB       0x40000u
#define NDESC     16

static uint8_t *mem;                          /* guard | RAM | guard */
static uint8_t *ram;
static struct e1000_softc *sc;
static bool level;
static int kicks;
static uint8_t sent[64][2048];
static size_t sent_len[64];
static int nsent;
static const uint8_t MAC[6] = { 0x58, 0x9c, 0xfc, 0x01, 0x02, 0x03 };

static void *fmap(void *ctx, uint64_t gpa, size_t len)
{
	if (gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return ram + gpa;
}
static void fintr(void *ctx, bool l) { level = l; }
static void fsend(void *ctx, const uint8_t *f, size_t len)
{
	if (nsent < 64) {
		memcpy(sent[nsent], f, len < 2048 ? len : 2048);
		sent_len[nsent] = len;
	}
	nsent++;
}
static void fkick(void *ctx) { kicks++; }
static uint64_t wrote_bytes;
static void fwrote(void *ctx, uint64_t gpa, size_t len)
{
	CHECK(gpa < RAM_SIZE && len <= RAM_SIZE - gpa);
	wrote_bytes += len;
}

static void wr(uint32_t off, uint32_t v) { e1000_reg_write(sc, off, 4, v); }
static uint32_t rd(uint32_t off) { return e1000_reg_read(sc, off, 4); }

static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void fresh(void)
{
	if (sc)
		e1000_destroy(sc);
	memset(ram, 0, RAM_SIZE);
	nsent = 0;
	level = false;
	struct e1000_hooks h = { fmap, fintr, fsend, fkick, fwrote, NULL };
	sc = e1000_create(&h, MAC);
}

static uint16_t ee_read(unsigned addr)
{
	uint32_t e = 0x40;                    /* REQ */
	wr(0x10, e);
	CHECK(rd(0x10) & 0x80);               /* GNT */
	e |= 0x2;                             /* CS */
	wr(0x10, e);
	uint32_t cmd = 6u << 6 | (addr & 0x3F);
	for (int i = 8; i >= 0; i--) {
		uint32_t di = (cmd >> i) & 1 ? 0x4 : 0;
		wr(0x10, e | di);
		wr(0x10, e | di | 0x1);
		wr(0x10, e | di);
	}
	uint16_t d = 0;
	for (int i = 0; i < 16; i++) {
		wr(0x10, e | 0x1);
		d = (uint16_t)(d << 1 | ((rd(0x10) & 0x8) ? 1 : 0));
		wr(0x10, e);
	}
	wr(0x10, 0);
	return d;
}

static void test_eeprom_phy(void)
{
	fresh();
	CHECK_EQ(ee_read(0), 0x9c58);
	CHECK_EQ(ee_read(1), 0x01fc);
	CHECK_EQ(ee_read(2), 0x0302);
	uint16_t sum = 0;
	for (unsigned i = 0; i < 64; i++)
		sum = (uint16_t)(sum + ee_read(i));
	CHECK_EQ(sum, 0xBABA);
	wr(0x14, 1 | 1 << 8);
	CHECK_EQ(rd(0x14), 0x01fcu << 16 | 1 << 8 | 0x10);
	wr(0x20, 2u << 26 | 1u << 21 | 2u << 16);
	CHECK_EQ(rd(0x20) & 0x1000FFFF, 0x10000141);
	wr(0x20, 2u << 26 | 1u << 21 | 3u << 16);
	CHECK_EQ(rd(0x20) & 0xFFFF, 0x0C20);
	wr(0x20, 2u << 26 | 2u << 21 | 1u << 16);      /* no PHY at address 2 */
	CHECK(rd(0x20) & (1u << 30));
	CHECK_EQ(rd(0x08) & 3, 3);                     /* full duplex, link up */
	/* RAL/RAH 0 hold the EEPROM's MAC after reset; I/O window reaches the registers. */
	CHECK_EQ(rd(0x5400), 0x01fc9c58);
	e1000_io_write(sc, 0, 4, 0x5404);
	CHECK_EQ(e1000_io_read(sc, 4, 4), 0x80000302);
}

static void tx_ring(void)
{
	wr(0x3800, TXR);
	wr(0x3804, 0);
	wr(0x3808, NDESC * 16);
	wr(0x3810, 0);
	wr(0x3818, 0);
	wr(0x400, 0x2);                               /* TCTL.EN */
	wr(0xD0, 0x1F);                               /* IMS: TXDW TXQE LSC RXDMT0 .. */
}

static void tx_legacy(unsigned i, uint64_t addr, uint16_t len, uint8_t cmd)
{
	uint8_t *d = ram + TXR + 16 * i;
	memset(d, 0, 16);
	put64(d, addr);
	d[8] = (uint8_t)len;
	d[9] = (uint8_t)(len >> 8);
	d[11] = cmd;
}

static void test_tx_legacy(void)
{
	fresh();
	tx_ring();
	for (int i = 0; i < 100; i++)
		ram[TXB + i] = (uint8_t)i;
	tx_legacy(0, TXB, 60, 0);
	tx_legacy(1, TXB + 60, 40, 0x01 | 0x08);      /* EOP RS */
	wr(0x3818, 2);
	CHECK_EQ(nsent, 1);
	CHECK_EQ(sent_len[0], 100);
	CHECK(!memcmp(sent[0], ram + TXB, 100));
	CHECK_EQ(ram[TXR + 16 + 12] & 1, 1);          /* DD */
	CHECK_EQ(rd(0x3810), 2);
	CHECK(level);
	CHECK_EQ(rd(0xC0) & 3, 3);                    /* TXDW TXQE, read clears */
	CHECK(!level);
	CHECK_EQ(rd(0xC0), 0);
}

/* Ethernet + IPv4 + TCP, payload `pay` bytes; the TCP checksum field seeded as Linux does. */
static size_t mk_tcp(uint8_t *f, size_t pay, bool seed_len)
{
	memset(f, 0, 54);
	memcpy(f, MAC, 6);
	f[6] = 2;
	f[12] = 0x08;
	uint8_t *ip = f + 14, *t = f + 34;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + 20 + pay) >> 8);
	ip[3] = (uint8_t)(20 + 20 + pay);
	ip[4] = 0x12; ip[5] = 0x34;
	ip[8] = 64; ip[9] = 6;
	ip[12] = 10; ip[15] = 1; ip[16] = 10; ip[19] = 2;
	t[0] = 0x13; t[1] = 0x88; t[2] = 0x00; t[3] = 0x16;
	t[4] = 0; t[5] = 0; t[6] = 0x10; t[7] = 0;   /* seq 0x1000 */
	t[12] = 0x50; t[13] = 0x19;                  /* FIN PSH ACK */
	for (size_t i = 0; i < pay; i++)
		f[54 + i] = (uint8_t)(i * 7 + 3);
	uint32_t s = (10u << 8) + 1 + (10u << 8) + 2 + 6 + (seed_len ? 20 + pay : 0);
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	t[16] = (uint8_t)(s >> 8);
	t[17] = (uint8_t)s;
	return 54 + pay;
}

static uint16_t fold_sum(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)s;
}

static bool tcp_ok(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14;
	size_t l4 = len - 34;
	uint32_t ps = fold_sum(ip + 12, 8, 6 + (uint32_t)l4);
	return fold_sum(ip, 20, 0) == 0xFFFF && fold_sum(f + 34, l4, ps) == 0xFFFF &&
	       be16(ip + 2) == len - 14;
}

static void ctx_desc(unsigned i, bool tse, uint32_t paylen, uint8_t hdr, uint16_t mss)
{
	uint8_t *d = ram + TXR + 16 * i;
	memset(d, 0, 16);
	d[0] = 14; d[1] = 24; d[2] = 33; d[3] = 0;   /* IP: css 14, cso 24, cse 33 */
	d[4] = 34; d[5] = 50;                        /* TCP: css 34, cso 50, to the end */
	d[8] = (uint8_t)paylen; d[9] = (uint8_t)(paylen >> 8); d[10] = (uint8_t)((paylen >> 16) & 0xF);
	d[11] = 0x20 | 0x01 | 0x02 | (tse ? 0x04 : 0);   /* DEXT TCP IP [TSE] */
	d[13] = hdr;
	d[14] = (uint8_t)mss; d[15] = (uint8_t)(mss >> 8);
}

static void data_desc(unsigned i, uint64_t addr, uint32_t len, uint8_t dcmd, uint8_t popts)
{
	uint8_t *d = ram + TXR + 16 * i;
	memset(d, 0, 16);
	put64(d, addr);
	d[8] = (uint8_t)len; d[9] = (uint8_t)(len >> 8);
	d[10] = (uint8_t)(0x10 | ((len >> 16) & 0xF));  /* DTYP 1 */
	d[11] = (uint8_t)(0x20 | dcmd);
	d[13] = popts;
}

static void test_tx_offloads(void)
{
	fresh();
	tx_ring();
	size_t n = mk_tcp(ram + TXB, 500, true);
	ctx_desc(0, false, 0, 0, 0);
	data_desc(1, TXB, (uint32_t)n, 0x01 | 0x08, 0x01 | 0x02);
	wr(0x3818, 2);
	CHECK_EQ(nsent, 1);
	CHECK(tcp_ok(sent[0], sent_len[0]));
	/* TSO: 3000 bytes of payload, mss 1000 -> three segments of 1054 bytes. */
	n = mk_tcp(ram + TXB, 3000, false);
	ram[TXB + 16] = ram[TXB + 17] = 0;            /* IP total length 0, as Linux */
	ctx_desc(2, true, 3000, 54, 1000);
	data_desc(3, TXB, 54, 0x04, 0x03);
	data_desc(4, TXB + 54, 3000, 0x04 | 0x01 | 0x08, 0x03);
	wr(0x3818, 5);
	CHECK_EQ(nsent, 4);
	for (int s = 1; s <= 3; s++) {
		CHECK_EQ(sent_len[s], 1054);
		CHECK(tcp_ok(sent[s], sent_len[s]));
		CHECK_EQ(be16(sent[s] + 18), 0x1234 + s - 1);
		CHECK_EQ(be16(sent[s] + 40), 0x1000 + 1000 * (s - 1));
		CHECK_EQ(sent[s][47] & 0x09, s == 3 ? 0x09 : 0);
		CHECK(!memcmp(sent[s] + 54, ram + TXB + 54 + 1000 * (s - 1), 1000));
	}
	/* The checksum context survives the TSO one: a plain checksum frame again. */
	n = mk_tcp(ram + TXB, 100, true);
	data_desc(5, TXB, (uint32_t)n, 0x01 | 0x08, 0x03);
	wr(0x3818, 6);
	CHECK_EQ(nsent, 5);
	CHECK(tcp_ok(sent[4], sent_len[4]));
	/* VLAN insertion. */
	wr(0x0, rd(0x0) | 1u << 30);
	data_desc(6, TXB, 60, 0x01 | 0x08 | 0x40, 0);
	ram[TXR + 16 * 6 + 14] = 0x05;
	wr(0x3818, 7);
	CHECK_EQ(nsent, 6);
	CHECK_EQ(sent_len[5], 64);
	CHECK_EQ(be16(sent[5] + 12), 0x8100);
	CHECK_EQ(be16(sent[5] + 14), 5);
}

static void rx_ring(uint32_t rdt)
{
	for (unsigned i = 0; i < NDESC; i++)
		put64(ram + RXR + 16 * i, RXB + 2048 * i);
	wr(0x2800, RXR);
	wr(0x2804, 0);
	wr(0x2808, NDESC * 16);
	wr(0x2810, 0);
	wr(0x2818, rdt);
	wr(0x100, 0x2 | 1u << 15);                    /* EN, BAM, 2048-byte buffers */
	wr(0xD0, 0x80);
}

static void test_rx(void)
{
	fresh();
	rx_ring(NDESC - 1);
	uint8_t f[3000];
	size_t n = mk_tcp(f, 200, true);
	/* A valid TCP checksum for the receive side. */
	uint8_t *t = f + 34;
	t[16] = t[17] = 0;
	uint32_t ps = fold_sum(f + 26, 8, 6 + 220);
	uint16_t c = (uint16_t)~fold_sum(t, 220, ps);
	t[16] = (uint8_t)(c >> 8); t[17] = (uint8_t)c;
	uint16_t ic = (uint16_t)~fold_sum(f + 14, 20, 0);
	f[24] = (uint8_t)(ic >> 8); f[25] = (uint8_t)ic;
	wr(0x5000, 0x300);                            /* RXCSUM: IP and TCP/UDP */
	CHECK_EQ(e1000_rx_frame(sc, f, n), 1);
	uint8_t *d = ram + RXR;
	CHECK_EQ(d[8] | d[9] << 8, n + 4);            /* with the FCS */
	CHECK_EQ(d[12], 0x01 | 0x02 | 0x20 | 0x40);   /* DD EOP TCPCS IPCS */
	CHECK_EQ(d[13], 0);
	CHECK(!memcmp(ram + RXB, f, n));
	CHECK(wrote_bytes >= n + 4 + 16);             /* buffer and descriptor reported */
	CHECK(level);
	CHECK_EQ(rd(0x2810), 1);
	f[60] ^= 1;                                   /* bad TCP checksum */
	CHECK_EQ(e1000_rx_frame(sc, f, n), 1);
	CHECK_EQ(ram[RXR + 16 + 13], 0x20);           /* TCPE */
	f[60] ^= 1;
	/* Another unicast address: filtered; promiscuous: taken. */
	f[5] = 0x99;
	CHECK_EQ(e1000_rx_frame(sc, f, n), 1);
	CHECK_EQ(rd(0x2810), 2);
	wr(0x100, rd(0x100) | 1u << 3);
	CHECK_EQ(e1000_rx_frame(sc, f, n), 1);
	CHECK_EQ(rd(0x2810), 3);
	wr(0x100, rd(0x100) & ~(1u << 3));
	/* Multicast 01:00:5e:00:00:fb with MO=0: hash = 0xfb0 >> ... by the MTA bit. */
	static const uint8_t mc[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
	memcpy(f, mc, 6);
	CHECK_EQ(e1000_rx_frame(sc, f, n), 1);
	CHECK_EQ(rd(0x2810), 3);
	uint32_t hash = (0x00u >> 4 | 0xfbu << 4) & 0xFFF;
	wr(0x5200 + 4 * (hash >> 5), 1u << (hash & 31));
	CHECK_EQ(e1000_rx_frame(sc, f, n), 1);
	CHECK_EQ(rd(0x2810), 4);
	/* A 3000-byte frame (LPE) spans two 2048-byte buffers. */
	memcpy(f, MAC, 6);
	wr(0x100, rd(0x100) | 1u << 5);
	memset(f + 14, 0xAB, sizeof(f) - 14);
	CHECK_EQ(e1000_rx_frame(sc, f, 3000), 1);
	CHECK_EQ(ram[RXR + 16 * 4 + 12], 0x01);       /* DD, not EOP */
	CHECK_EQ(ram[RXR + 16 * 5 + 12] & 0x03, 0x03);
	CHECK_EQ(ram[RXR + 16 * 5 + 8] | ram[RXR + 16 * 5 + 9] << 8, 3004 - 2048);
	CHECK(!memcmp(ram + RXB + 2048 * 5, f + 2048, 3000 - 2048));
	/* VLAN strip with CTRL.VME. */
	wr(0x0, rd(0x0) | 1u << 30);
	uint8_t v[64] = { 0 };
	memcpy(v, MAC, 6);
	v[12] = 0x81; v[14] = 0x00; v[15] = 0x07; v[16] = 0x08;
	CHECK_EQ(e1000_rx_frame(sc, v, 64), 1);
	d = ram + RXR + 16 * 6;
	CHECK(d[12] & 0x08);                          /* VP */
	CHECK_EQ(d[14], 7);
	CHECK_EQ(ram[RXB + 2048 * 6 + 12], 0x08);     /* type after the removed tag */
	/* No buffers left (head reaches tail): the frame waits. */
	wr(0x2818, 7);
	CHECK_EQ(e1000_rx_frame(sc, f, 100), 0);
	wr(0x2818, 9);
	CHECK_EQ(e1000_rx_frame(sc, f, 100), 1);
}

static void check_guards(void)
{
	bool ok = true;
	for (size_t i = 0; i < GUARD; i++)
		if (mem[i] != 0x5A || mem[GUARD + RAM_SIZE + i] != 0x5A)
			ok = false;
	CHECK(ok);
}

static void test_hostile(void)
{
	fresh();
	tx_ring();
	uint64_t bad0 = e1000_bad_desc(sc);
	/* Ring outside RAM, ring crossing the end of RAM, tail beyond the ring. */
	wr(0x3800, RAM_SIZE + 0x1000);
	wr(0x3818, 3);
	CHECK_EQ(nsent, 0);
	wr(0x3800, RAM_SIZE - 64);
	wr(0x3818, 5);
	CHECK_EQ(nsent, 0);
	wr(0x3800, 0xFFFFFFF0);
	wr(0x3804, 0xFFFFFFFF);
	wr(0x3818, 1);
	CHECK_EQ(nsent, 0);
	tx_ring();
	wr(0x3818, NDESC + 5);
	CHECK_EQ(rd(0x3810), 0);
	CHECK(e1000_bad_desc(sc) > bad0);
	/* Buffers outside RAM, a wrapping address, too long a packet: dropped, DD written. */
	tx_ring();
	tx_legacy(0, RAM_SIZE - 10, 100, 0x09);
	tx_legacy(1, 0xFFFFFFFFFFFFFFF0ull, 0x100, 0x09);
	data_desc(2, 0, 0xFFFFF, 0x09, 0);
	for (int i = 3; i < 12; i++)
		data_desc((unsigned)i, 0, 0xFFFF, 0x08, 0);   /* no EOP: too long in the end */
	data_desc(12, 0, 100, 0x09, 0);
	wr(0x3818, 13);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(ram[TXR + 12] & 1, 1);
	CHECK_EQ(rd(0x3810), 13);
	/* TSO with mss 0 or a header longer than the packet. */
	ctx_desc(13, true, 100, 200, 0);
	data_desc(14, TXB, 100, 0x04 | 0x09, 0x03);
	wr(0x3818, 15);
	CHECK_EQ(nsent, 0);
	ctx_desc(15, true, 100, 54, 1);                    /* mss 1: many tiny segments */
	data_desc(0, TXB, 154, 0x04 | 0x09, 0x03);
	wr(0x3818, 1);
	CHECK_EQ(nsent, 100);
	/* Receive buffers outside RAM: error in the descriptor, nothing written. */
	rx_ring(NDESC - 1);
	put64(ram + RXR, RAM_SIZE - 100);
	uint8_t f[200] = { 0 };
	memcpy(f, MAC, 6);
	CHECK_EQ(e1000_rx_frame(sc, f, 200), 1);
	CHECK_EQ(ram[RXR + 13], 0x80);
	CHECK_EQ(ram[RXR + 12] & 0x03, 0x03);
	/* Receive ring outside RAM or with the head beyond it: nothing taken, nothing written. */
	wr(0x2800, RAM_SIZE);
	CHECK_EQ(e1000_rx_frame(sc, f, 200), 0);
	rx_ring(NDESC - 1);
	wr(0x2810, 1000);
	CHECK_EQ(e1000_rx_frame(sc, f, 200), 0);
	check_guards();
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* Random ring registers, descriptors and frames; only RAM may change. */
static void test_fuzz(void)
{
	static const uint32_t regs[] = { 0x2800, 0x2804, 0x2808, 0x2810, 0x2818, 0x100, 0x3800,
		0x3804, 0x3808, 0x3810, 0x3818, 0x400, 0x0, 0x5000, 0x38 };
	uint8_t f[E1000_MAX_FRAME + 100];

	fresh();
	tx_ring();
	rx_ring(NDESC - 1);
	for (int it = 0; it < 20000; it++) {
		uint32_t r = rnd();
		uint32_t reg = regs[r % (sizeof(regs) / sizeof(regs[0]))];
		uint32_t v = rnd();
		if (reg == 0x0)
			v &= ~(1u << 26);
		if (reg == 0x2800 || reg == 0x3800)
			v = (rnd() & 1) ? v % (RAM_SIZE + 0x10000) : v;
		if (reg == 0x2808 || reg == 0x3808)
			v = (rnd() & 1) ? (v % 64 + 1) * 16 : v;
		wr(reg, v);
		for (int k = 0; k < 8; k++)
			ram[(rnd() % 0x80000)] = (uint8_t)rnd();
		if (it % 3 == 0) {
			size_t n = rnd() % sizeof(f);
			for (size_t i = 0; i < n && i < 64; i++)
				f[i] = (uint8_t)rnd();
			if (rnd() & 1)
				memcpy(f, MAC, 6);
			e1000_rx_frame(sc, f, n);
		}
	}
	(void)rd(0xC0);
	check_guards();
	CHECK(1);
}

int main(void)
{
	mem = malloc(RAM_SIZE + 2 * GUARD);
	if (!mem)
		return 1;
	memset(mem, 0x5A, RAM_SIZE + 2 * GUARD);
	ram = mem + GUARD;
	test_eeprom_phy();
	test_tx_legacy();
	test_tx_offloads();
	test_rx();
	test_hostile();
	test_fuzz();
	e1000_destroy(sc);
	free(mem);
	return unit_report("e1000");
}
