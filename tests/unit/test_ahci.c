/*
 * The AHCI controller on a VM's PCI bus (no CPU), driven as a guest driver would and as a
 * hostile one would: IDs and HBA registers, IDENTIFY (PIO setup FIS), DMA writes and NCQ reads
 * that reach the image, TRIM, MSI; then command lists, command tables and PRD entries outside
 * guest RAM, PRD tables shorter than the transfer, LBAs past the end, unknown commands, bad
 * TRIM ranges, narrow and stray register accesses, commands issued while stopped, a read-only
 * port.  Each bad input must end in the AHCI/ATA error status, never a crash.
 */
#include <fcntl.h>

#include "pci/pci_devinst.h"
#include "plat_test.h"
#include "unit.h"

#define SLOT     4
#define CLB_GPA  0x100000ULL
#define FB_GPA   0x101000ULL
#define CT_GPA   0x102000ULL       /* command table of slot s at CT_GPA + 0x1000 * s */
#define BUF_GPA  0x200000ULL
#define BUF2_GPA 0x300000ULL
#define DISK     (4u << 20)

static char img[64], roimg[64], iso[64];
static struct vm *vm;
static uint64_t abar;

static uint32_t rd(uint32_t off) { return (uint32_t)pt_mr(vm, 0, abar + off, 4); }
static void wr(uint32_t off, uint32_t v) { pt_mw(vm, 0, abar + off, 4, v); }
static uint32_t prd(int port, uint32_t r) { return rd(0x100 + 0x80 * (uint32_t)port + r); }
static void pwr(int port, uint32_t r, uint32_t v) { wr(0x100 + 0x80 * (uint32_t)port + r, v); }
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

static void put32(uint8_t *b, uint32_t v) { memcpy(b, &v, 4); }

/* Port p: command list and FIS area per port, FRE and ST on. */
static void port_start(int p)
{
	pwr(p, 0x18, 0);                                        /* stop */
	pwr(p, 0x00, (uint32_t)(CLB_GPA + 0x10000 * (uint64_t)p));
	pwr(p, 0x04, 0);
	pwr(p, 0x08, (uint32_t)(FB_GPA + 0x10000 * (uint64_t)p));
	pwr(p, 0x0C, 0);
	pwr(p, 0x30, ~0u);                                      /* SERR clear */
	pwr(p, 0x10, ~0u);                                      /* IS clear */
	pwr(p, 0x14, ~0u);
	pwr(p, 0x18, 0x10);                                     /* FRE */
	pwr(p, 0x18, 0x11);                                     /* ST */
}

/* Build slot s of port p: an H2D FIS with cmd, lba, count (features for NCQ), and nprd
 * PRD entries of `each` bytes from buf. */
static uint8_t *cmd_build(int p, int s, uint8_t cmd, uint64_t lba, uint16_t count,
			  uint16_t feat, int nprd, uint64_t buf, uint32_t each, bool write)
{
	uint8_t *hdr = ram(CLB_GPA + 0x10000 * (uint64_t)p + 32 * (uint64_t)s, 32);
	uint64_t ct = CT_GPA + 0x10000 * (uint64_t)p + 0x1000 * (uint64_t)s;
	uint8_t *t = ram(ct, 0x1000);
	memset(hdr, 0, 32);
	memset(t, 0, 0x1000);
	put32(hdr, 5u | (write ? 1u << 6 : 0) | (uint32_t)nprd << 16);
	put32(hdr + 8, (uint32_t)ct);
	t[0] = 0x27;
	t[1] = 0x80;
	t[2] = cmd;
	t[3] = (uint8_t)feat;
	t[11] = (uint8_t)(feat >> 8);
	for (int i = 0; i < 3; i++) {
		t[4 + i] = (uint8_t)(lba >> (8 * i));
		t[8 + i] = (uint8_t)(lba >> (24 + 8 * i));
	}
	t[7] = 0x40;
	t[12] = (uint8_t)count;
	t[13] = (uint8_t)(count >> 8);
	for (int i = 0; i < nprd; i++) {
		uint8_t *e = t + 0x80 + 16 * i;
		uint64_t a = buf + (uint64_t)i * each;
		put32(e, (uint32_t)a);
		put32(e + 4, (uint32_t)(a >> 32));
		put32(e + 12, each - 1);
	}
	return hdr;
}

static void issue(int p, int s) { pwr(p, 0x38, 1u << s); }

/* Wait until slot s is no longer in PxCI and PxSACT, or the port reports an error. */
static bool wait_done(int p, int s)
{
	return PT_WAIT(!((prd(p, 0x38) | prd(p, 0x34)) & (1u << s)) ||
		       (prd(p, 0x10) & 0x78000000u), 3000);
}

static void test_ids(void)
{
	CHECK_EQ(cfg_rd(PCIR_VENDOR, 2), 0x8086);
	CHECK_EQ(cfg_rd(PCIR_DEVICE, 2), 0x2821);
	CHECK_EQ(cfg_rd(PCIR_CLASS, 1), PCIC_STORAGE);
	CHECK_EQ(cfg_rd(PCIR_SUBCLASS, 1), PCIS_STORAGE_SATA);
	CHECK_EQ(cfg_rd(PCIR_PROGIF, 1), 1);
	uint32_t cap = rd(0x00);
	CHECK_EQ(cap & 0x1F, 2);                                /* ports 0..2: NP = 2 */
	CHECK(cap & (1u << 30));                                /* NCQ */
	CHECK_EQ((cap >> 8) & 0x1F, 31);                        /* 32 slots */
	CHECK_EQ(rd(0x0C), 0x7);                                /* ports 0, 1 (cd) and 2 */
	CHECK_EQ(rd(0x10), 0x00010301);
	CHECK(rd(0x04) & (1u << 31));                           /* AE */
	CHECK_EQ(prd(0, 0x24), 0x101);                          /* disk signature */
	CHECK_EQ(prd(0, 0x28), 0x133);
	CHECK_EQ(pt_mr(vm, 0, abar + 0x100 + 0x80 * 5 + 0x28, 4), 0);   /* no port 5 */
}

static void test_identify_and_io(void)
{
	wr(0x04, 1u << 31 | 2);                                 /* AE, IE */
	port_start(0);
	uint8_t *hdr = cmd_build(0, 0, 0xEC, 0, 0, 0, 1, BUF_GPA, 512, false);
	issue(0, 0);
	CHECK(wait_done(0, 0));
	CHECK_EQ(prd(0, 0x10) & 3, 3);                          /* DHRS, PSS */
	CHECK_EQ(rd(0x08), 1);                                  /* IS: port 0 */
	uint32_t prdbc;
	memcpy(&prdbc, hdr + 4, 4);
	CHECK_EQ(prdbc, 512);
	uint16_t *id = (uint16_t *)ram(BUF_GPA, 512);
	CHECK_EQ(id[27], ('B' << 8) | 'H');                     /* "BHYVE SATA DISK" */
	CHECK_EQ(id[100] | (uint32_t)id[101] << 16, DISK / 512);
	CHECK_EQ(ram(FB_GPA + 0x20, 20)[15], 0x50);             /* PIO setup E_Status */
	uint8_t sum = 0;
	for (int i = 0; i < 512; i++)
		sum = (uint8_t)(sum + ((uint8_t *)id)[i]);
	CHECK_EQ(sum, 0);

	/* WRITE DMA EXT, 8 sectors at LBA 16 through two PRDs. */
	memset(ram(BUF_GPA, 4096), 0x5A, 4096);
	cmd_build(0, 1, 0x35, 16, 8, 0, 2, BUF_GPA, 2048, true);
	issue(0, 1);
	CHECK(wait_done(0, 1));
	CHECK_EQ(prd(0, 0x20) & 0xFF, 0x50);
	/* READ FPDMA QUEUED (NCQ) tag 3 back into another buffer. */
	memset(ram(BUF2_GPA, 4096), 0, 4096);
	cmd_build(0, 3, 0x60, 16, 0, 8, 1, BUF2_GPA, 4096, false);
	ram(CT_GPA + 0x3000, 16)[12] = 3 << 3;
	pwr(0, 0x10, ~0u);
	pwr(0, 0x34, 1u << 3);
	issue(0, 3);
	CHECK(wait_done(0, 3));
	CHECK(prd(0, 0x10) & (1u << 3));                        /* SDBS */
	CHECK_EQ(memcmp(ram(BUF2_GPA, 4096), ram(BUF_GPA, 4096), 4096), 0);
	int fd = open(img, O_RDONLY);
	uint8_t b[4096];
	CHECK_EQ(pread(fd, b, 4096, 16 * 512), 4096);
	CHECK(b[0] == 0x5A && b[4095] == 0x5A);
	close(fd);
	/* FLUSH CACHE EXT. */
	cmd_build(0, 4, 0xEA, 0, 0, 0, 0, 0, 0, false);
	issue(0, 4);
	CHECK(wait_done(0, 4));
	CHECK_EQ(prd(0, 0x20) & 0xFF, 0x50);
}

static void test_trim(void)
{
	port_start(0);
	uint8_t *r = ram(BUF_GPA, 512);
	memset(r, 0, 512);
	uint64_t ent = 16 | (uint64_t)8 << 48;                  /* LBA 16, 8 sectors */
	memcpy(r, &ent, 8);
	cmd_build(0, 0, 0x06, 0, 1, 1, 1, BUF_GPA, 512, true);
	issue(0, 0);
	CHECK(wait_done(0, 0));
	CHECK_EQ(prd(0, 0x20) & 0xFF, 0x50);
	int fd = open(img, O_RDONLY);
	uint8_t b[4096];
	CHECK_EQ(pread(fd, b, 4096, 16 * 512), 4096);
	CHECK(b[0] == 0 && b[4095] == 0);
	close(fd);
	/* A range past the end of the disk: IDNF, nothing discarded. */
	ent = (DISK / 512 - 4) | (uint64_t)8 << 48;
	memcpy(r, &ent, 8);
	port_start(0);
	cmd_build(0, 0, 0x06, 0, 1, 1, 1, BUF_GPA, 512, true);
	issue(0, 0);
	CHECK(wait_done(0, 0));
	CHECK(prd(0, 0x10) & (1u << 30));
	CHECK_EQ(prd(0, 0x20), 0x1051);
	/* Zero blocks of ranges, or too many: ABRT. */
	port_start(0);
	cmd_build(0, 0, 0x06, 0, 0, 1, 1, BUF_GPA, 512, true);
	issue(0, 0);
	CHECK(wait_done(0, 0));
	CHECK_EQ(prd(0, 0x20), 0x0451);
}

/* Expect the command in slot 0 to fail with the given PxIS bit and (if nonzero) TFD. */
static void expect_fail(uint32_t isbit, uint32_t tfd)
{
	issue(0, 0);
	CHECK(PT_WAIT(prd(0, 0x10) & isbit, 3000));
	if (tfd)
		CHECK_EQ(prd(0, 0x20), tfd);
	/* A halted port takes nothing more until software restarts it. */
	cmd_build(0, 1, 0xE7, 0, 0, 0, 0, 0, 0, false);
	issue(0, 1);
	CHECK(prd(0, 0x38) & 2);
	port_start(0);
	CHECK_EQ(prd(0, 0x38), 0);
}

static void test_hostile(void)
{
	/* PRD entry outside guest RAM. */
	port_start(0);
	cmd_build(0, 0, 0x25, 0, 8, 0, 1, 0xF0000000ULL, 4096, false);
	expect_fail(1u << 30, 0x0451);
	/* PRD table shorter than the transfer. */
	cmd_build(0, 0, 0x25, 0, 16, 0, 1, BUF_GPA, 4096, false);
	expect_fail(1u << 30, 0x0451);
	/* LBA past the end; 48-bit count 0 means 65536 sectors: past the end too. */
	cmd_build(0, 0, 0x25, DISK / 512, 1, 0, 1, BUF_GPA, 512, false);
	expect_fail(1u << 30, 0x1051);
	cmd_build(0, 0, 0x25, 0, 0, 0, 1, BUF_GPA, 512, false);
	expect_fail(1u << 30, 0x1051);
	cmd_build(0, 0, 0x60, ~0ULL, 0, 1, 1, BUF_GPA, 512, false);
	expect_fail(1u << 30, 0x1051);
	/* Unknown command, READ LOG of a log that does not exist. */
	cmd_build(0, 0, 0x77, 0, 0, 0, 0, 0, 0, false);
	expect_fail(1u << 30, 0x0451);
	cmd_build(0, 0, 0x2F, 0x33, 1, 0, 1, BUF_GPA, 512, false);
	expect_fail(1u << 30, 0x0451);
	/* A FIS that is not a register FIS. */
	cmd_build(0, 0, 0x25, 0, 1, 0, 1, BUF_GPA, 512, false);
	ram(CT_GPA, 1)[0] = 0x39;
	expect_fail(1u << 30, 0x0451);
	/* Command table outside RAM; the largest PRD table running off the end of RAM. */
	uint8_t *hdr = cmd_build(0, 0, 0x25, 0, 1, 0, 1, BUF_GPA, 512, false);
	put32(hdr + 8, 0xFFFFFF80u);
	expect_fail(1u << 29, 0);
	hdr = cmd_build(0, 0, 0x25, 0, 1, 0, 1, BUF_GPA, 512, false);
	put32(hdr, 5u | 0xFFFFu << 16);
	put32(hdr + 8, (uint32_t)(vm_lowmem_size(vm) - 0x1000));
	expect_fail(1u << 29, 0);
	/* Command list outside RAM. */
	pwr(0, 0x18, 0);
	pwr(0, 0x00, 0xFFFFFC00u);
	pwr(0, 0x04, 0x7FFFFFFF);
	pwr(0, 0x18, 0x11);
	issue(0, 0);
	CHECK(PT_WAIT(prd(0, 0x10) & (1u << 29), 3000));
	/* FIS area outside RAM: commands still run, nothing is written there. */
	port_start(0);
	pwr(0, 0x18, 0);
	pwr(0, 0x0C, 0x7FFFFFFF);
	pwr(0, 0x18, 0x11);
	cmd_build(0, 0, 0xE7, 0, 0, 0, 0, 0, 0, false);
	issue(0, 0);
	CHECK(wait_done(0, 0));
	CHECK_EQ(prd(0, 0x20) & 0xFF, 0x50);
	/* Issue while stopped: ignored. */
	pwr(0, 0x18, 0x10);
	issue(0, 2);
	CHECK_EQ(prd(0, 0x38), 0);
	/* Stray and narrow accesses. */
	pt_mw(vm, 0, abar + 0x1FFF, 1, 0xFF);
	pt_mw(vm, 0, abar + 0x100 + 0x80 * 31, 4, ~0u);
	pt_mw(vm, 0, abar + 0x04, 1, 0x02);                     /* GHC byte: IE */
	CHECK_EQ(rd(0x04), 1u << 31 | 2);
	pwr(0, 0x14, 0);
	pt_mw(vm, 0, abar + 0x100 + 0x16, 1, 0xFF);             /* PxIE byte 2: PRCE, PCE */
	CHECK_EQ(prd(0, 0x14), 0xC00000);
	CHECK_EQ(pt_mr(vm, 0, abar + 0x3000, 4), ~0u & 0xFFFFFFFFu);
	(void)pt_mr(vm, 0, abar + 0x103, 2);
	/* HBA reset: ports stop, GHC back to AE only. */
	wr(0x04, 1);
	CHECK_EQ(rd(0x04), 1u << 31);
	CHECK_EQ(prd(0, 0x18) & 1, 0);
}

static void test_ro_port_and_msi(void)
{
	int cap = 0;
	for (int off = (int)cfg_rd(PCIR_CAP_PTR, 1); off; off = (int)cfg_rd(off + 1, 1))
		if (cfg_rd(off, 1) == PCIY_MSI)
			cap = off;
	CHECK(cap != 0);
	pt_lapic_enable(vm, 0);
	cfg_wr(cap + 4, 4, (uint32_t)LAYOUT_LAPIC_BASE);
	cfg_wr(cap + 8, 4, 0);
	cfg_wr(cap + 12, 2, 0x61);
	cfg_wr(cap + 2, 2, 1);
	wr(0x04, 1u << 31 | 2);
	port_start(2);
	memset(ram(BUF_GPA, 512), 0x77, 512);
	cmd_build(2, 0, 0xCA, 0, 1, 0, 1, BUF_GPA, 512, true);
	issue(2, 0);
	CHECK(PT_WAIT(prd(2, 0x10) & (1u << 30), 3000));
	CHECK_EQ(prd(2, 0x20), 0x0451);
	CHECK(PT_WAIT((pt_lapic_rd(vm, 0, 0x200 + 0x10 * 3) >> 1) & 1, 3000));   /* 0x61 */
	int fd = open(roimg, O_RDONLY);
	uint8_t b[512];
	CHECK_EQ(pread(fd, b, 512, 0), 512);
	CHECK_EQ(b[0], 0);
	close(fd);
}

/* A PACKET command in slot 0 of port 1 (the cd: port): cdb, data to buf (DMA). */
static void packet(const uint8_t *cdb, uint32_t len)
{
	cmd_build(1, 0, 0xA0, 0, 0, 1, len ? 1 : 0, BUF_GPA, len ? len : 1, false);
	uint8_t *t = ram(CT_GPA + 0x10000, 0x100);
	memcpy(t + 0x40, cdb, 12);
	ram(CLB_GPA + 0x10000, 4)[0] |= 1u << 5;                /* ATAPI bit */
	pwr(1, 0x10, ~0u);
	issue(1, 0);
	CHECK(wait_done(1, 0));
}

/* After a CHECK CONDITION: the sense key in TFD's error bits 7:4, then REQUEST SENSE. */
static void expect_sense(uint8_t key, uint8_t asc)
{
	CHECK(prd(1, 0x10) & (1u << 30));
	CHECK_EQ(prd(1, 0x20) >> 12 & 0xF, key);
	port_start(1);
	uint8_t rs[12] = { 0x03, 0, 0, 0, 18 };
	packet(rs, 18);
	uint8_t *d = ram(BUF_GPA, 18);
	CHECK_EQ(d[2], key);
	CHECK_EQ(d[12], asc);
}

static void test_atapi(void)
{
	port_start(1);
	CHECK_EQ(prd(1, 0x24), 0xEB140101u);
	cmd_build(1, 0, 0xA1, 0, 0, 0, 1, BUF_GPA, 512, false);
	issue(1, 0);
	CHECK(wait_done(1, 0));
	CHECK_EQ(((uint16_t *)ram(BUF_GPA, 2))[0], 0x85C0);
	cmd_build(1, 0, 0xEC, 0, 0, 0, 1, BUF_GPA, 512, false);         /* IDENTIFY: aborts */
	issue(1, 0);
	CHECK(PT_WAIT(prd(1, 0x10) & (1u << 30), 3000));
	port_start(1);
	uint8_t inq[12] = { 0x12, 0, 0, 0, 36 };
	packet(inq, 36);
	CHECK_EQ(ram(BUF_GPA, 1)[0], 5);
	CHECK_EQ(memcmp(ram(BUF_GPA + 16, 13), "BHYVE DVD-ROM", 13), 0);
	uint8_t cap[12] = { 0x25 };
	packet(cap, 8);
	CHECK_EQ(ram(BUF_GPA, 8)[7], 0);                                 /* 2048 = 0x800 */
	CHECK_EQ(ram(BUF_GPA, 8)[6], 8);
	CHECK_EQ(ram(BUF_GPA, 8)[2] << 8 | ram(BUF_GPA, 8)[3], DISK / 2048 - 1);
	uint8_t rd10[12] = { 0x28, 0, 0, 0, 0, 4, 0, 0, 1 };           /* LBA 4 = byte 8192 */
	packet(rd10, 2048);
	CHECK_EQ(ram(BUF_GPA, 1)[0], 0xEE);
	uint8_t past[12] = { 0x28, 0, 0, 0, 0x08, 0, 0, 0, 1 };        /* LBA 2048: past end */
	packet(past, 2048);
	expect_sense(5, 0x21);
	uint8_t bad[12] = { 0xFF };
	port_start(1);
	packet(bad, 0);
	expect_sense(5, 0x20);
	/* READ into a PRD outside RAM: check condition, nothing written anywhere. */
	port_start(1);
	cmd_build(1, 0, 0xA0, 0, 0, 1, 1, 0xF0000000ULL, 2048, false);
	memcpy(ram(CT_GPA + 0x10000 + 0x40, 12), rd10, 12);
	issue(1, 0);
	CHECK(wait_done(1, 0));
	CHECK(prd(1, 0x10) & (1u << 30));
	/* Eject: no medium until the tray is closed again. */
	port_start(1);
	uint8_t ej[12] = { 0x1B, 0, 0, 0, 0x02 };
	packet(ej, 0);
	uint8_t tur[12] = { 0x00 };
	packet(tur, 0);
	expect_sense(2, 0x3A);
	uint8_t load[12] = { 0x1B, 0, 0, 0, 0x03 };
	port_start(1);
	packet(load, 0);
	packet(tur, 0);
	CHECK_EQ(prd(1, 0x10) & (1u << 30), 0);
	uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 20 };
	packet(toc, 20);
	CHECK_EQ(ram(BUF_GPA, 20)[14], 0xAA);
}

static void mkimg(char *path, const char *tmpl)
{
	strcpy(path, tmpl);
	int fd = mkstemp(path);
	CHECK_EQ(ftruncate(fd, DISK), 0);
	uint8_t b[8192];
	memset(b, 0xEE, sizeof(b));
	CHECK_EQ(pwrite(fd, b, sizeof(b), 8192), (ssize_t)sizeof(b));
	close(fd);
}

int main(void)
{
	char err[256] = "";

	mkimg(img, "/tmp/test_ahci.XXXXXX");
	mkimg(roimg, "/tmp/test_ahci_ro.XXXXXX");
	mkimg(iso, "/tmp/test_ahci_iso.XXXXXX");
	config_reset();
	config_set("pci.0.4.0.device", "ahci");
	config_set("pci.0.4.0.port.0.type", "hd");
	config_set("pci.0.4.0.port.0.path", img);
	config_set("pci.0.4.0.port.2.type", "hd");
	config_set("pci.0.4.0.port.2.path", roimg);
	config_set("pci.0.4.0.port.2.ro", "true");
	config_set("pci.0.4.0.port.1.type", "cd");
	config_set("pci.0.4.0.port.1.path", iso);
	vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (vm && pci_bus_init(vm, err, sizeof(err)) == 0) {
		abar = pci_bus_find(vm, 0, SLOT, 0)->pi_bar[5].addr;
		test_ids();
		test_identify_and_io();
		test_trim();
		test_hostile();
		test_ro_port_and_msi();
		test_atapi();
		pci_bus_fini(vm);
	} else {
		fprintf(stderr, "pci_bus_init: %s\n", err);
		CHECK(0);
	}
	pt_vm_free(vm);
	unlink(img);
	unlink(roimg);
	unlink(iso);
	return unit_report("ahci");
}
