/* xHCI with the USB tablet (src/pci/pci_xhci.c, usb_tablet.c) driven as Linux's xhci_hcd
 * does: reset, rings, port reset, enable slot, address device, GET_DESCRIPTOR on EP0,
 * configure endpoint and a tablet report on the interrupt endpoint; then hostile input:
 * random TRBs on every ring, Link TRB loops, pointers outside RAM, a bad event ring, random
 * register writes.  Nothing may crash, write outside guest RAM or loop for ever. */
#include "plat_test.h"
#include "unit.h"

#include "pci/pci_devinst.h"
#include "pci/usb_tablet.h"
#include "vmm/console.h"

#define OP 0x20
#define RT 0x1000
#define DB 0x2000
#define PORTSC (OP + 0x400)

/* Guest memory map of the test (256 MiB VM). */
#define DCBAA  0x100000ULL
#define CMDR   0x101000ULL
#define ERST   0x102000ULL
#define EVR    0x103000ULL
#define INCTX  0x104000ULL
#define DEVCTX 0x105000ULL
#define EP0R   0x106000ULL
#define EP1R   0x107000ULL
#define BUF    0x108000ULL

static struct pci_devinst *pi;
static struct vm *tvm;
static unsigned cmd_idx, ev_idx, ep0_idx, ep1_idx;
static int ev_cycle = 1;

static void wr(uint64_t off, uint32_t v) { pi->pi_d->pe_barwrite(NULL, pi, 0, off, 4, v); }
static uint32_t rd(uint64_t off) { return (uint32_t)pi->pi_d->pe_barread(NULL, pi, 0, off, 4); }
static uint8_t *mem(uint64_t gpa, size_t n) { return vm_map_gpa(tvm, gpa, n); }

static void put_trb(uint64_t ring, unsigned idx, uint64_t p, uint32_t s, uint32_t c)
{
	uint8_t *t = mem(ring + 16ULL * idx, 16);
	memcpy(t, &p, 8);
	memcpy(t + 8, &s, 4);
	memcpy(t + 12, &c, 4);
}

/* The next event (type, completion code, param, control) or type -1 if none. */
static int next_event(uint64_t *param, int *cc, uint32_t *ctl)
{
	uint8_t *t = mem(EVR + 16ULL * ev_idx, 16);
	uint32_t c, s;
	memcpy(&c, t + 12, 4);
	if ((int)(c & 1) != ev_cycle)
		return -1;
	memcpy(param, t, 8);
	memcpy(&s, t + 8, 4);
	*cc = (int)(s >> 24);
	*ctl = c;
	if (++ev_idx == 64) {
		ev_idx = 0;
		ev_cycle ^= 1;
	}
	uint64_t erdp = EVR + 16ULL * ev_idx;
	wr(RT + 0x38, (uint32_t)erdp | 8);
	wr(RT + 0x3C, 0);
	return (int)((c >> 10) & 0x3F);
}

static int command(uint64_t p, uint32_t s, uint32_t c, int *slot)
{
	uint64_t param;
	int cc, type;
	uint32_t ctl;

	put_trb(CMDR, cmd_idx++, p, s, c | 1);
	wr(DB, 0);
	while ((type = next_event(&param, &cc, &ctl)) >= 0)
		if (type == 33) {
			if (slot)
				*slot = (int)(ctl >> 24);
			return cc;
		}
	return -1;
}

static void setup_controller(void)
{
	memset(mem(DCBAA, 0x10000), 0, 0x10000);
	cmd_idx = ev_idx = ep0_idx = ep1_idx = 0;
	ev_cycle = 1;
	wr(OP + 0x00, 2);                          /* HCRST */
	CHECK_EQ(rd(OP + 0x04) & 1, 1);            /* halted */
	wr(OP + 0x38, 8);
	wr(OP + 0x30, (uint32_t)DCBAA);
	wr(OP + 0x34, 0);
	wr(OP + 0x18, (uint32_t)CMDR | 1);
	wr(OP + 0x1C, 0);
	uint64_t seg[2] = { EVR, 64 };
	memcpy(mem(ERST, 16), seg, 16);
	wr(RT + 0x28, 1);
	wr(RT + 0x38, (uint32_t)EVR);
	wr(RT + 0x3C, 0);
	wr(RT + 0x30, (uint32_t)ERST);
	wr(RT + 0x34, 0);
	wr(RT + 0x20, 2);                          /* IE */
	wr(OP + 0x00, 1 | 4);                      /* run, interrupts */
	CHECK_EQ(rd(OP + 0x04) & 1, 0);
}

static void test_enumerate(void)
{
	uint64_t param;
	int cc, slot = 0;
	uint32_t ctl;

	CHECK_EQ(rd(0) & 0xFF, 0x20);
	CHECK_EQ(rd(4) >> 24, 1);                  /* one port */
	setup_controller();
	CHECK_EQ(next_event(&param, &cc, &ctl), 34);   /* the connected port */
	CHECK_EQ(param >> 24, 1);
	CHECK_EQ(rd(PORTSC) & 1, 1);
	wr(PORTSC, rd(PORTSC) | (1u << 4));        /* port reset */
	CHECK_EQ(rd(PORTSC) & 3, 3);               /* connected, enabled */
	CHECK_EQ(next_event(&param, &cc, &ctl), 34);
	wr(PORTSC, (rd(PORTSC) & ~2u) | (1u << 21) | (1u << 17));
	CHECK_EQ(command(0, 0, 9u << 10, &slot), 1);   /* enable slot */
	CHECK_EQ(slot, 1);
	uint64_t dev = DEVCTX;
	memcpy(mem(DCBAA + 8, 8), &dev, 8);
	uint32_t *in = (uint32_t *)(void *)mem(INCTX, 33 * 32);
	memset(in, 0, 33 * 32);
	in[1] = 3;                                  /* add slot and EP0 */
	in[8 + 0] = 1u << 27;                       /* one context entry */
	in[8 + 1] = 1u << 16;                       /* root port 1 */
	in[16 + 1] = 64u << 16 | 4u << 3;           /* control EP, 64 bytes */
	in[16 + 2] = (uint32_t)EP0R | 1;
	CHECK_EQ(command(INCTX, 0, 11u << 10 | 1u << 24, NULL), 1);
	/* GET_DESCRIPTOR(device, 18) */
	uint64_t setup = 0x80 | 6u << 8 | (uint64_t)0x0100 << 16 | (uint64_t)18 << 48;
	put_trb(EP0R, ep0_idx++, setup, 8, 2u << 10 | 0x40 | 3u << 16 | 1);
	put_trb(EP0R, ep0_idx++, BUF, 18, 3u << 10 | 1u << 16 | 1);
	put_trb(EP0R, ep0_idx++, 0, 0, 4u << 10 | 0x20 | 1);
	wr(DB + 4, 1);
	CHECK_EQ(next_event(&param, &cc, &ctl), 32);
	CHECK_EQ(cc, 1);
	CHECK_EQ(mem(BUF, 2)[0], 18);
	CHECK_EQ(mem(BUF, 2)[1], 1);
	/* SET_CONFIGURATION(1), then the interrupt endpoint (DCI 3). */
	put_trb(EP0R, ep0_idx++, 0x00 | 9u << 8 | 1u << 16, 8, 2u << 10 | 0x40 | 1);
	put_trb(EP0R, ep0_idx++, 0, 0, 4u << 10 | 0x20 | 1u << 16 | 1);
	wr(DB + 4, 1);
	CHECK_EQ(next_event(&param, &cc, &ctl), 32);
	CHECK_EQ(cc, 1);
	memset(in, 0, 33 * 32);
	in[1] = 1u | 1u << 3;
	in[8 + 0] = 3u << 27;
	in[8 + 32 + 1] = 0;
	in[8 * 4 + 1] = 8u << 16 | 7u << 3;         /* EP ctx for DCI 3: interrupt IN */
	in[8 * 4 + 2] = (uint32_t)EP1R | 1;
	CHECK_EQ(command(INCTX, 0, 12u << 10 | 1u << 24, NULL), 1);
	put_trb(EP1R, ep1_idx++, BUF + 0x100, 8, 1u << 10 | 0x20 | 0x4 | 1);
	wr(DB + 4, 3);                              /* the set-up report comes at once */
	CHECK_EQ(next_event(&param, &cc, &ctl), 32);
	put_trb(EP1R, ep1_idx++, BUF + 0x100, 8, 1u << 10 | 0x20 | 0x4 | 1);
	wr(DB + 4, 3);
	CHECK_EQ(next_event(&param, &cc, &ctl), -1);   /* nothing new: the TRB waits */
	console_ptr_event(tvm, 1, 1023, 0, 1024, 768);
	CHECK_EQ(next_event(&param, &cc, &ctl), 32);
	CHECK_EQ(cc, 13);                           /* short packet: 6 of 8 bytes */
	uint8_t *r = mem(BUF + 0x100, 6);
	CHECK_EQ(r[0], 1);
	CHECK_EQ(r[1] | r[2] << 8, 0x7FFF);
	CHECK_EQ(r[3] | r[4] << 8, 0);
}

static unsigned long long seed = 99;
static uint32_t rnd(void)
{
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(seed >> 33);
}

static uint64_t rnd_addr(void)
{
	switch (rnd() % 4) {
	case 0: return (uint64_t)rnd() << 32 | rnd();        /* anywhere */
	case 1: return (256ULL << 20) - 16 * (rnd() % 4);     /* the end of RAM */
	case 2: return 0x100000ULL + (rnd() % 0x10000);       /* our structures, misaligned */
	default: return 0x100000ULL + (rnd() % 0x100) * 16;
	}
}

static void test_hostile(void)
{
	for (int round = 0; round < 300; round++) {
		setup_controller();
		/* Garbage in every ring and context. */
		for (int i = 0; i < 64; i++) {
			uint32_t c = rnd();
			if (rnd() % 8 == 0)
				c = (c & ~(0x3Fu << 10)) | 6u << 10;   /* Link TRBs, loops included */
			put_trb(CMDR, (unsigned)i, rnd() % 3 ? rnd_addr() : CMDR, rnd(), c);
			put_trb(EP0R, (unsigned)i, rnd_addr(), rnd(), rnd());
			put_trb(EP1R, (unsigned)i, rnd_addr(), rnd(), rnd());
		}
		uint32_t *ctx = (uint32_t *)(void *)mem(INCTX, 0x2000);
		for (int i = 0; i < 0x800; i++)
			ctx[i] = rnd();
		uint64_t dev = rnd() % 2 ? DEVCTX : rnd_addr();
		memcpy(mem(DCBAA + 8, 8), &dev, 8);
		for (int i = 0; i < 200; i++) {
			switch (rnd() % 6) {
			case 0: wr(DB, 0); break;
			case 1: wr(DB + 4 * (rnd() % 12), rnd()); break;
			case 2: wr(rnd() % 0x10000 & ~3u, rnd()); break;
			case 3: rd(rnd() % 0x10000); break;
			case 4: console_ptr_event(tvm, (int)(rnd() & 31), (int)(rnd() % 3000) - 500,
						  (int)(rnd() % 3000) - 500, 1024, 768); break;
			default: {
				uint64_t seg[2] = { rnd_addr(), rnd() };
				memcpy(mem(ERST, 16), seg, 16);
				wr(RT + 0x28, rnd() % 40);
				wr(RT + 0x30, (uint32_t)(rnd() % 2 ? ERST : rnd_addr()));
			}
			}
		}
	}
	/* It still works afterwards. */
	CHECK_EQ(pi != NULL, 1);
	test_enumerate();
}

int main(void)
{
	char err[256];

	config_reset();
	tvm = pt_vm_create(1);
	CHECK(tvm != NULL);
	if (!tvm)
		return unit_report("xhci");
	config_set("pci.0.3.0.device", "xhci");
	config_set("pci.0.3.0.slot.1.device", "tablet");
	CHECK_EQ(pci_bus_init(tvm, err, sizeof(err)), 0);
	pi = pci_bus_find(tvm, 0, 3, 0);
	CHECK(pi != NULL);
	if (pi) {
		test_enumerate();
		test_hostile();
	}
	pci_bus_fini(tvm);
	pt_vm_free(tvm);
	return unit_report("xhci");
}
