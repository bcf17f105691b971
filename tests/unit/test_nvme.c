/*
 * The NVMe controller on a VM's PCI bus (no CPU), driven as a driver would and as a hostile
 * one would: IDs and CAP; enable with admin queues; IDENTIFY; I/O queues; a write through a
 * PRP list and a read through a chained SGL that reach the image; MSI-X per queue; then bad
 * queue ids, sizes, vectors and addresses, doorbells beyond a queue or for queues that do not
 * exist, PRPs outside RAM or misaligned, SGL cycles and unknown descriptor types, LBAs past
 * the end, transfers above MDTS, bad namespaces, command id conflicts, unknown opcodes and
 * log pages, the async event request limit, an admin queue outside RAM at enable (fatal
 * status), controller reset and shutdown.  Each must end in the specification's status.
 */
#include <fcntl.h>

#include "pci/pci_devinst.h"
#include "pci/pci_nvme.h"
#include "plat_test.h"
#include "unit.h"

#define SLOT    5
#define ASQ_GPA 0x100000ULL
#define ACQ_GPA 0x101000ULL
#define SQ1_GPA 0x102000ULL
#define CQ1_GPA 0x103000ULL
#define PRPL    0x104000ULL
#define SGL_GPA 0x105000ULL
#define BUF_GPA 0x200000ULL
#define BUF2    0x300000ULL
#define DISK    (4u << 20)
#define QSZ     8

static char img[64];
static struct vm *vm;
static uint64_t bar;
static unsigned asq_tail, acq_head, sq1_tail, cq1_head;
static bool acq_phase = true, cq1_phase = true;

static uint32_t rd(uint32_t off) { return (uint32_t)pt_mr(vm, 0, bar + off, 4); }
static void wr(uint32_t off, uint32_t v) { pt_mw(vm, 0, bar + off, 4, v); }
static uint8_t *ram(uint64_t gpa, size_t len) { return vm_map_gpa(vm, gpa, len); }

static uint32_t cfg_rd(int reg, int bytes)
{
	uint32_t v = 0;
	pci_cfg_access(vm, 0, SLOT, 0, reg, bytes, &v, false);
	return v;
}

static void cfg_wr(int reg, int bytes, uint32_t v)
{
	pci_cfg_access(vm, 0, SLOT, 0, reg, bytes, &v, true);
}

static struct nvme_cmd cmd(uint8_t opc, uint16_t cid, uint32_t nsid)
{
	struct nvme_cmd c;
	memset(&c, 0, sizeof(c));
	c.opc = opc;
	c.cid = cid;
	c.nsid = nsid;
	return c;
}

/* Wait for the next completion of a CQ; its status (type << 8 | code), or 0xFFFF. */
static unsigned cq_wait(uint64_t cq, unsigned *head, bool *phase, uint16_t cid, uint32_t *dw0,
			uint32_t db)
{
	volatile uint32_t *e = (volatile uint32_t *)ram(cq + 16 * (uint64_t)*head, 16);
	if (!PT_WAIT(((e[3] >> 16) & 1) == *phase, 3000))
		return 0xFFFF;
	CHECK_EQ(e[3] & 0xFFFF, cid);
	if (dw0)
		*dw0 = e[0];
	unsigned st = (e[3] >> 17) & 0x7FF;
	if (++*head == QSZ) {
		*head = 0;
		*phase = !*phase;
	}
	wr(db, *head);
	return st;
}

static unsigned admin(struct nvme_cmd c, uint32_t *dw0)
{
	memcpy(ram(ASQ_GPA + 64 * (uint64_t)asq_tail, 64), &c, 64);
	asq_tail = (asq_tail + 1) % QSZ;
	wr(0x1000, asq_tail);
	return cq_wait(ACQ_GPA, &acq_head, &acq_phase, c.cid, dw0, 0x1004);
}

static unsigned io(struct nvme_cmd c)
{
	memcpy(ram(SQ1_GPA + 64 * (uint64_t)sq1_tail, 64), &c, 64);
	sq1_tail = (sq1_tail + 1) % QSZ;
	wr(0x1008, sq1_tail);
	return cq_wait(CQ1_GPA, &cq1_head, &cq1_phase, c.cid, NULL, 0x100C);
}

static void enable(void)
{
	wr(0x14, 0);
	CHECK(PT_WAIT(!(rd(0x1C) & 1), 1000));
	wr(0x24, (QSZ - 1) | (QSZ - 1) << 16);
	wr(0x28, (uint32_t)ASQ_GPA);
	wr(0x2C, 0);
	wr(0x30, (uint32_t)ACQ_GPA);
	wr(0x34, 0);
	memset(ram(ACQ_GPA, 4096), 0, 4096);
	asq_tail = acq_head = sq1_tail = cq1_head = 0;
	acq_phase = cq1_phase = true;
	wr(0x14, 6u << 16 | 4u << 20 | 1);
	CHECK_EQ(rd(0x1C) & 3, 1);
}

static void test_ids_and_identify(void)
{
	CHECK_EQ(cfg_rd(PCIR_VENDOR, 2), 0xFB5D);
	CHECK_EQ(cfg_rd(PCIR_CLASS, 1), PCIC_STORAGE);
	CHECK_EQ(cfg_rd(PCIR_SUBCLASS, 1), PCIS_STORAGE_NVM);
	CHECK_EQ(cfg_rd(PCIR_PROGIF, 1), 2);
	CHECK_EQ(rd(0x00) & 0xFFFF, 63);                        /* qsz=64 */
	CHECK_EQ(rd(0x08), 0x00010400);
	enable();
	struct nvme_cmd c = cmd(0x06, 1, 0);
	c.prp1 = BUF_GPA;
	c.cdw10 = 1;
	CHECK_EQ(admin(c, NULL), 0);
	uint8_t *d = ram(BUF_GPA, 4096);
	CHECK_EQ(d[0] | d[1] << 8, 0xFB5D);
	CHECK_EQ(memcmp(d + 4, "TESTSER", 7), 0);
	CHECK_EQ(d[77], NVME_MDTS);
	c = cmd(0x06, 2, 1);
	c.prp1 = BUF_GPA;
	c.cdw10 = 0;
	CHECK_EQ(admin(c, NULL), 0);
	uint64_t nsze;
	memcpy(&nsze, d, 8);
	CHECK_EQ(nsze, DISK / 512);
	/* Number of queues: maxq=2. */
	uint32_t dw0 = 0;
	c = cmd(0x09, 3, 0);
	c.cdw10 = 7;
	c.cdw11 = 0x00100010;
	CHECK_EQ(admin(c, &dw0), 0);
	CHECK_EQ(dw0, 0x00010001);
}

static unsigned create_cq(uint16_t qid, uint16_t size, uint64_t base, uint16_t iv, uint16_t cid)
{
	struct nvme_cmd c = cmd(0x05, cid, 0);
	c.prp1 = base;
	c.cdw10 = qid | (uint32_t)(size - 1) << 16;
	c.cdw11 = 1 | 2 | (uint32_t)iv << 16;
	return admin(c, NULL);
}

static unsigned create_sq(uint16_t qid, uint16_t size, uint64_t base, uint16_t cqid,
			  uint16_t cid)
{
	struct nvme_cmd c = cmd(0x01, cid, 0);
	c.prp1 = base;
	c.cdw10 = qid | (uint32_t)(size - 1) << 16;
	c.cdw11 = 1 | (uint32_t)cqid << 16;
	return admin(c, NULL);
}

static void test_queues_hostile(void)
{
	CHECK_EQ(create_cq(0, QSZ, CQ1_GPA, 1, 10), 0x101);        /* qid 0 */
	CHECK_EQ(create_cq(3, QSZ, CQ1_GPA, 1, 11), 0x101);        /* above maxq */
	CHECK_EQ(create_cq(1, 1, CQ1_GPA, 1, 12), 0x102);          /* size 1 */
	CHECK_EQ(create_cq(1, 65, CQ1_GPA, 1, 13), 0x102);         /* above MQES */
	CHECK_EQ(create_cq(1, QSZ, CQ1_GPA, 9, 14), 0x108);        /* no such vector */
	CHECK_EQ(create_cq(1, QSZ, 0xFFFFF000ULL, 1, 15), 0x002);  /* outside RAM */
	CHECK_EQ(create_cq(1, QSZ, CQ1_GPA + 8, 1, 16), 0x002);    /* not page aligned */
	CHECK_EQ(create_sq(1, QSZ, SQ1_GPA, 1, 17), 0x100);        /* CQ 1 not there yet */
	CHECK_EQ(create_cq(1, QSZ, CQ1_GPA, 1, 18), 0);
	CHECK_EQ(create_cq(1, QSZ, CQ1_GPA, 1, 19), 0x101);        /* exists */
	CHECK_EQ(create_sq(1, QSZ, vm_lowmem_size(vm) - 256, 1, 20), 0x002);
	CHECK_EQ(create_sq(1, QSZ, SQ1_GPA, 1, 21), 0);
	struct nvme_cmd c = cmd(0x04, 22, 0);
	c.cdw10 = 1;
	CHECK_EQ(admin(c, NULL), 0x10C);                           /* CQ in use by SQ 1 */
	c = cmd(0x00, 23, 0);
	c.cdw10 = 2;
	CHECK_EQ(admin(c, NULL), 0x101);                           /* no SQ 2 */
	/* Queue ids far past the array (found by fuzz_nvme): refused before they index it
	 * (UBSan in `make check-san` saw the out-of-bounds index). */
	c.cdw10 = 0xFFFF;
	CHECK_EQ(admin(c, NULL), 0x101);                           /* delete SQ 65535 */
	CHECK_EQ(create_sq(0xFFFF, QSZ, SQ1_GPA, 1, 26), 0x101);   /* create SQ 65535 */
	c = cmd(0x04, 27, 0);
	c.cdw10 = 0xFFFF;
	CHECK_EQ(admin(c, NULL), 0x101);                           /* delete CQ 65535 */
	CHECK_EQ(admin(cmd(0xC1, 24, 0), NULL), 0x001);            /* unknown opcode */
	c = cmd(0x02, 25, 0);
	c.prp1 = BUF_GPA;
	c.cdw10 = 0x42 | 127u << 16;
	CHECK_EQ(admin(c, NULL), 0x109);                           /* unknown log */
	c.cdw10 = 0x02 | 127u << 16;
	CHECK_EQ(admin(c, NULL), 0);                               /* SMART */
	c.prp1 = 0xFFFFF000ULL;
	CHECK_EQ(admin(c, NULL), 0x004);                           /* PRP outside RAM */
	/* Async event requests are held; the fifth is refused; a command reusing a held
	 * id is a conflict. */
	for (int i = 0; i < NVME_AERL; i++) {
		struct nvme_cmd a = cmd(0x0C, (uint16_t)(100 + i), 0);
		memcpy(ram(ASQ_GPA + 64 * (uint64_t)asq_tail, 64), &a, 64);
		asq_tail = (asq_tail + 1) % QSZ;
	}
	wr(0x1000, asq_tail);
	CHECK_EQ(admin(cmd(0x0C, 200, 0), NULL), 0x105);
	CHECK_EQ(admin(cmd(0x06, 100, 0), NULL), 0x003);
	/* Doorbells beyond the queue or for no queue: ignored. */
	wr(0x1000, QSZ + 5);
	wr(0x1004, 1000);
	wr(0x1010, 3);
	wr(0x1FFC, 7);
	wr(0x3FFC, 7);
	pt_mw(vm, 0, bar + 0x1001, 1, 0xFF);
	CHECK_EQ(rd(0x1C) & 3, 1);
}

static void test_io(void)
{
	/* MSI-X vector 1 for CQ 1. */
	struct pci_devinst *pi = pci_bus_find(vm, 0, SLOT, 0);
	uint64_t tbl = pi->pi_bar[4].addr;
	int cap = 0;
	for (int off = (int)cfg_rd(PCIR_CAP_PTR, 1); off; off = (int)cfg_rd(off + 1, 1))
		if (cfg_rd(off, 1) == PCIY_MSIX)
			cap = off;
	pt_lapic_enable(vm, 0);
	pt_mw(vm, 0, tbl + 16, 8, LAYOUT_LAPIC_BASE);
	pt_mw(vm, 0, tbl + 24, 4, 0x65);
	pt_mw(vm, 0, tbl + 28, 4, 0);
	cfg_wr(cap + 2, 2, 0x8000);
	/* WRITE of 3 pages (12 KiB at LBA 8) through PRP1 + a PRP list of 2. */
	for (int i = 0; i < 3; i++)
		memset(ram(BUF_GPA + 0x1000 * (uint64_t)i, 4096), 0x10 + i, 4096);
	uint64_t *l = (uint64_t *)ram(PRPL, 16);
	l[0] = BUF_GPA + 0x1000;
	l[1] = BUF_GPA + 0x2000;
	struct nvme_cmd c = cmd(0x01, 1, 1);
	c.prp1 = BUF_GPA;
	c.prp2 = PRPL;
	c.cdw10 = 8;
	c.cdw12 = 23;
	CHECK_EQ(io(c), 0);
	CHECK(PT_WAIT((pt_lapic_rd(vm, 0, 0x200 + 0x10 * 3) >> 5) & 1, 3000));
	int fd = open(img, O_RDONLY);
	uint8_t b[12288];
	CHECK_EQ(pread(fd, b, sizeof(b), 8 * 512), (ssize_t)sizeof(b));
	CHECK(b[0] == 0x10 && b[4096] == 0x11 && b[12287] == 0x12);
	close(fd);
	/* READ back through an SGL: a segment of two data blocks then a last segment of one. */
	uint8_t *s = ram(SGL_GPA, 256);
	memset(s, 0, 256);
	uint64_t a;
	uint32_t n;
	a = BUF2; n = 4096; memcpy(s, &a, 8); memcpy(s + 8, &n, 4);
	a = BUF2 + 0x1000; memcpy(s + 16, &a, 8); memcpy(s + 24, &n, 4);
	a = SGL_GPA + 128; n = 16; memcpy(s + 32, &a, 8); memcpy(s + 40, &n, 4); s[47] = 0x30;
	a = BUF2 + 0x2000; n = 4096; memcpy(s + 128, &a, 8); memcpy(s + 136, &n, 4);
	c = cmd(0x02, 2, 1);
	c.flags = 1 << 6;
	a = SGL_GPA; n = 48;
	memcpy(&c.prp1, &a, 8);
	memcpy((uint8_t *)&c.prp2, &n, 4);
	((uint8_t *)&c.prp2)[7] = 0x20;
	c.cdw10 = 8;
	c.cdw12 = 23;
	CHECK_EQ(io(c), 0);
	CHECK_EQ(memcmp(ram(BUF2, 12288), b, 12288), 0);
	/* An SGL segment that points at itself: bounded, then an error. */
	a = SGL_GPA + 192; n = 16;
	memcpy(s + 192, &a, 8); memcpy(s + 200, &n, 4); s[207] = 0x20;
	c.cid = 3;
	memcpy(&c.prp1, &a, 8);
	memcpy((uint8_t *)&c.prp2, &n, 4);
	CHECK(io(c) != 0);
	c.cid = 4;
	((uint8_t *)&c.prp2)[7] = 0x70;                         /* unknown type */
	CHECK_EQ(io(c), 0x011);
	/* PRP errors, ranges, sizes, namespaces, opcodes. */
	c = cmd(0x02, 5, 1);
	c.prp1 = 0xFFFFF000ULL;
	CHECK_EQ(io(c), 0x004);
	c = cmd(0x02, 6, 1);
	c.prp1 = BUF_GPA;
	c.prp2 = BUF2 + 8;                                      /* second page not aligned */
	c.cdw12 = 15;
	CHECK_EQ(io(c), 0x013);
	c.cid = 7;
	c.prp2 = PRPL;
	l[1] = BUF_GPA + 0x2004;                                /* list entry misaligned */
	c.cdw12 = 23;
	CHECK_EQ(io(c), 0x013);
	c = cmd(0x02, 8, 1);
	c.prp1 = BUF_GPA;
	c.cdw10 = DISK / 512;                                   /* past the end */
	CHECK_EQ(io(c), 0x080);
	c.cid = 9;
	c.cdw10 = 0xFFFFFFFF;
	c.cdw11 = 0xFFFFFFFF;
	CHECK_EQ(io(c), 0x080);
	c = cmd(0x02, 10, 1);
	c.prp1 = BUF_GPA;
	c.cdw12 = 4095;                                         /* 2 MiB > MDTS */
	CHECK_EQ(io(c), 0x002);
	c = cmd(0x02, 11, 2);
	CHECK_EQ(io(c), 0x00B);
	CHECK_EQ(io(cmd(0x7F, 12, 1)), 0x001);
	/* DATASET MANAGEMENT: deallocate LBA 8..31; a range past the end fails. */
	uint8_t *r = ram(BUF_GPA, 4096);
	memset(r, 0, 32);
	uint32_t nlb = 24;
	uint64_t slba = 8;
	memcpy(r + 4, &nlb, 4);
	memcpy(r + 8, &slba, 8);
	c = cmd(0x09, 13, 1);
	c.prp1 = BUF_GPA;
	c.cdw11 = 4;
	CHECK_EQ(io(c), 0);
	fd = open(img, O_RDONLY);
	CHECK_EQ(pread(fd, b, 512, 8 * 512), 512);
	CHECK_EQ(b[0], 0);
	close(fd);
	slba = DISK / 512 - 1;
	memcpy(r + 8, &slba, 8);
	c.cid = 14;
	CHECK_EQ(io(c), 0x080);
	c = cmd(0x00, 15, 1);
	CHECK_EQ(io(c), 0);                                     /* flush */
}

static void test_reset_shutdown(void)
{
	wr(0x14, rd(0x14) | 1u << 14);                          /* normal shutdown */
	CHECK_EQ((rd(0x1C) >> 2) & 3, 2);
	wr(0x14, 0);
	CHECK_EQ(rd(0x1C) & 1, 0);
	wr(0x1008, 1);                                          /* queues are gone */
	/* An admin queue outside RAM: fatal status at enable. */
	wr(0x24, (QSZ - 1) | (QSZ - 1) << 16);
	wr(0x28, 0xFFFFF000u);
	wr(0x2C, 0x7FFF);
	wr(0x14, 6u << 16 | 4u << 20 | 1);
	CHECK(rd(0x1C) & 2);
	wr(0x14, 0);
	enable();
	CHECK_EQ(rd(0x1C) & 3, 1);
}

int main(void)
{
	char err[256] = "";

	strcpy(img, "/tmp/test_nvme.XXXXXX");
	int fd = mkstemp(img);
	CHECK_EQ(ftruncate(fd, DISK), 0);
	close(fd);
	config_reset();
	config_set("pci.0.5.0.device", "nvme");
	config_set("pci.0.5.0.path", img);
	config_set("pci.0.5.0.maxq", "2");
	config_set("pci.0.5.0.qsz", "64");
	config_set("pci.0.5.0.ser", "TESTSER");
	vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (vm && pci_bus_init(vm, err, sizeof(err)) == 0) {
		bar = pci_bus_find(vm, 0, SLOT, 0)->pi_bar[0].addr;
		test_ids_and_identify();
		test_queues_hostile();
		test_io();
		test_reset_shutdown();
		pci_bus_fini(vm);
	} else {
		fprintf(stderr, "pci_bus_init: %s\n", err);
		CHECK(0);
	}
	pt_vm_free(vm);
	unlink(img);
	return unit_report("nvme");
}
