/*
 * virtio devices on the real PCI bus of a VM with its platform (no CPU): IDs and class of a
 * transitional function, the vendor capabilities of the modern interface, BAR 0 legacy
 * registers through port I/O, BAR 4 through MMIO, a virtio-blk request in guest RAM that
 * reaches the image, INTx with the ISR, MSI-X into the LAPIC, MSI with virtio_msix=false, and
 * tear-down (flush, sockets).
 */
#include <fcntl.h>

#include "pci/pci_devinst.h"
#include "pci/virtio_pci.h"
#include "plat_test.h"
#include "unit.h"

/* What virtio-blk offers, and the virtio 1.x 5.2 numbers a driver uses. */
#define VTBLK_QSIZE        128
#define VTBLK_CFGSIZE      60
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_OUT   1
#define VIRTIO_BLK_S_OK    0

#define RING_GPA 0x100000ULL
#define HDR_GPA  0x110000ULL
#define DATA_GPA 0x111000ULL
#define STAT_GPA 0x112000ULL

static char img[64];
static struct vm *cur_vm;    /* the VM whose bus cfg_rd/cfg_wr reach */

static uint32_t cfg_rd(int slot, int reg, int bytes)
{
	uint32_t v = 0;
	pci_cfg_access(cur_vm, 0, slot, 0, reg, bytes, &v, false);
	return v;
}

static void cfg_wr(int slot, int reg, int bytes, uint32_t v)
{
	pci_cfg_access(cur_vm, 0, slot, 0, reg, bytes, &v, true);
}

static int find_cap(int slot, int id, int from)
{
	int off = from ? (int)cfg_rd(slot, from + 1, 1) : (int)cfg_rd(slot, PCIR_CAP_PTR, 1);
	for (int n = 0; off && n < 48; n++) {
		if ((int)cfg_rd(slot, off, 1) == id)
			return off;
		off = (int)cfg_rd(slot, off + 1, 1);
	}
	return 0;
}

static bool irr(struct vm *vm, int vec)
{
	return (pt_lapic_rd(vm, 0, 0x200 + 0x10 * (uint32_t)(vec / 32)) >> (vec % 32)) & 1;
}

static void test_identity(void)
{
	CHECK_EQ(cfg_rd(4, PCIR_VENDOR, 2), VIRTIO_VENDOR);
	CHECK_EQ(cfg_rd(4, PCIR_DEVICE, 2), VIRTIO_DEV_BLOCK);
	CHECK_EQ(cfg_rd(4, PCIR_REVID, 1), 0);
	CHECK_EQ(cfg_rd(4, PCIR_SUBDEV_0, 2), VIRTIO_TYPE_BLOCK);
	CHECK_EQ(cfg_rd(4, PCIR_SUBVEND_0, 2), VIRTIO_VENDOR);
	CHECK_EQ(cfg_rd(4, PCIR_CLASS, 1), PCIC_STORAGE);
	CHECK_EQ(cfg_rd(4, PCIR_BAR(0), 4) & 1, 1);                     /* I/O */
	CHECK_EQ(cfg_rd(4, PCIR_BAR(4), 4) & 6, PCIM_BAR_MEM_64);
	CHECK(cfg_rd(4, PCIR_INTPIN, 1) != 0);
	CHECK_EQ(cfg_rd(5, PCIR_DEVICE, 2), VIRTIO_DEV_RANDOM);
	CHECK_EQ(cfg_rd(5, PCIR_SUBDEV_0, 2), VIRTIO_TYPE_ENTROPY);
	/* Modern interface: common, notify, ISR, device capabilities, all in BAR 4. */
	unsigned types = 0;
	for (int off = find_cap(4, PCIY_VENDOR, 0); off; off = find_cap(4, PCIY_VENDOR, off)) {
		int t = (int)cfg_rd(4, off + 3, 1);
		types |= 1u << t;
		CHECK_EQ(cfg_rd(4, off + 4, 1), VTPCI_MODERN_BAR);
		if (t == VIRTIO_PCI_CAP_NOTIFY) {
			CHECK_EQ(cfg_rd(4, off + 2, 1), 20);
			CHECK_EQ(cfg_rd(4, off + 8, 4), VTPCI_M_NOTIFY);
			CHECK_EQ(cfg_rd(4, off + 16, 4), VTPCI_M_NOTIFY_MULT);
		}
		if (t == VIRTIO_PCI_CAP_DEVICE)
			CHECK_EQ(cfg_rd(4, off + 12, 4), VTBLK_CFGSIZE);
	}
	CHECK_EQ(types, 0x1E);
	int msix = find_cap(4, PCIY_MSIX, 0);
	CHECK(msix != 0);
	CHECK_EQ(cfg_rd(4, msix + 2, 2) & 0x7FF, 1);                   /* 2 vectors */
	CHECK_EQ(find_cap(4, PCIY_MSI, 0), 0);
}

/* A legacy driver doing one 4 KiB write through port I/O; the used ring fills. */
static void test_legacy_blk(struct vm *vm)
{
	struct pci_devinst *pi = pci_bus_find(vm, 0, 4, 0);
	uint16_t io = (uint16_t)pi->pi_bar[0].addr;
	uint64_t mem = pi->pi_bar[4].addr;

	CHECK_EQ(pt_mr(vm, 0, mem + VTPCI_C_NUMQ, 2), 1);              /* modern BAR answers */
	pt_out(vm, io + VTPCI_L_STATUS, 1, 3);
	CHECK(pt_in(vm, io + VTPCI_L_HOST_FEATURES, 4) & (1u << VIRTIO_BLK_F_FLUSH));
	pt_out(vm, io + VTPCI_L_GUEST_FEATURES, 4, 1u << VIRTIO_BLK_F_FLUSH);
	uint16_t qsz = (uint16_t)pt_in(vm, io + VTPCI_L_QUEUE_NUM, 2);
	CHECK_EQ(qsz, VTBLK_QSIZE);
	CHECK_EQ(pt_in(vm, io + 0x14, 4), (1u << 20) / 512);             /* capacity, low */
	pt_out(vm, io + VTPCI_L_QUEUE_PFN, 4, RING_GPA / 4096);
	pt_out(vm, io + VTPCI_L_STATUS, 1, 7);

	uint8_t *ring = vm_map_gpa(vm, RING_GPA, vq_legacy_bytes(qsz));
	uint8_t *hdr = vm_map_gpa(vm, HDR_GPA, 16), *data = vm_map_gpa(vm, DATA_GPA, 4096);
	uint8_t *st = vm_map_gpa(vm, STAT_GPA, 1);
	CHECK(ring && hdr && data && st);
	if (!ring || !hdr || !data || !st)
		return;
	uint32_t type = VIRTIO_BLK_T_OUT;
	uint64_t sector = 8;
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	memset(data, 0x3C, 4096);
	*st = 0xEE;
	struct vring_desc d[3] = {
		{ HDR_GPA, 16, VRING_DESC_F_NEXT, 1 },
		{ DATA_GPA, 4096, VRING_DESC_F_NEXT, 2 },
		{ STAT_GPA, 1, VRING_DESC_F_WRITE, 0 },
	};
	memcpy(ring, d, sizeof(d));
	uint16_t *avail = (uint16_t *)(ring + 16 * qsz);
	avail[2] = 0;
	__atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);
	uint64_t used_off = (16ULL * qsz + 6 + 2ULL * qsz + 4095) & ~4095ULL;
	uint16_t *used = (uint16_t *)(ring + used_off);
	pt_out(vm, io + VTPCI_L_QUEUE_NOTIFY, 2, 0);
	CHECK(PT_WAIT(__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == 1, 60000));
	CHECK_EQ(*st, VIRTIO_BLK_S_OK);
	/* INTx: the line is up until the ISR is read. */
	CHECK(PT_WAIT(pi->pi_lintr.asserted, 60000));
	CHECK_EQ(pt_in(vm, io + VTPCI_L_ISR, 1), VIRTIO_ISR_QUEUE);
	CHECK(!pi->pi_lintr.asserted);
	int fd = open(img, O_RDONLY);
	uint8_t b[4096];
	CHECK_EQ(pread(fd, b, 4096, 8 * 512), 4096);
	CHECK(b[0] == 0x3C && b[4095] == 0x3C);
	close(fd);

	/* MSI-X: vector 1 for the queue; config moves to 0x18 in the legacy BAR. */
	int cap = find_cap(4, PCIY_MSIX, 0);
	uint64_t tbl = pi->pi_bar[VTPCI_MSIX_BAR].addr;
	pt_lapic_enable(vm, 0);
	pt_mw(vm, 0, tbl + 16, 8, LAYOUT_LAPIC_BASE);
	pt_mw(vm, 0, tbl + 16 + 8, 4, 0x66);
	pt_mw(vm, 0, tbl + 16 + 12, 4, 0);
	cfg_wr(4, cap + 2, 2, 0x8000);
	CHECK_EQ(pt_in(vm, io + 0x18, 4), (1u << 20) / 512);
	pt_out(vm, io + VTPCI_L_QUEUE_VECTOR, 2, 1);
	CHECK_EQ(pt_in(vm, io + VTPCI_L_QUEUE_VECTOR, 2), 1);
	pt_out(vm, io + VTPCI_L_QUEUE_VECTOR, 2, 7);                     /* no such vector */
	CHECK_EQ(pt_in(vm, io + VTPCI_L_QUEUE_VECTOR, 2), VIRTIO_MSI_NO_VECTOR);
	pt_out(vm, io + VTPCI_L_QUEUE_VECTOR, 2, 1);
	*st = 0xEE;
	avail[3] = 0;
	__atomic_store_n(&avail[1], 2, __ATOMIC_RELEASE);
	pt_out(vm, io + VTPCI_L_QUEUE_NOTIFY, 2, 0);
	CHECK(PT_WAIT(__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == 2, 60000));
	CHECK(PT_WAIT(irr(vm, 0x66), 60000));
	CHECK_EQ(*st, VIRTIO_BLK_S_OK);
	/* A hostile ring address: the device stays safe and says it needs a reset. */
	pt_out(vm, io + VTPCI_L_STATUS, 1, 0);
	pt_out(vm, io + VTPCI_L_QUEUE_PFN, 4, 0xFFFFFFF0u);
	CHECK_EQ(pt_in(vm, io + VTPCI_L_QUEUE_PFN, 4), 0);
	pt_out(vm, io + VTPCI_L_QUEUE_NOTIFY, 2, 0);
}

/* Lines written to stderr while `n` rounds of reset, hostile ring and notify run. */
static int flood_lines(struct vm *vm, uint16_t io, int n)
{
	char path[] = "/tmp/test_vtpci_log.XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	fflush(stderr);
	dup2(fd, 2);
	uint16_t qsz = (uint16_t)pt_in(vm, io + VTPCI_L_QUEUE_NUM, 2);
	uint16_t *avail = vm_map_gpa(vm, RING_GPA + 16ULL * qsz, 4);
	for (int i = 0; avail && i < n; i++) {
		pt_out(vm, io + VTPCI_L_STATUS, 1, 0);                   /* reset re-arms */
		pt_out(vm, io + VTPCI_L_STATUS, 1, 3);
		pt_out(vm, io + VTPCI_L_QUEUE_PFN, 4, 0xFFFFFFF0u);      /* not RAM */
		pt_out(vm, io + VTPCI_L_QUEUE_PFN, 4, RING_GPA / 4096);
		pt_out(vm, io + VTPCI_L_STATUS, 1, 7);
		__atomic_store_n(&avail[1], 0x8000, __ATOMIC_RELEASE);   /* idx jumps past the ring */
		pt_out(vm, io + VTPCI_L_QUEUE_NOTIFY, 2, 0);
		if (!PT_WAIT(pt_in(vm, io + VTPCI_L_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET, 60000))
			break;
	}
	if (avail)
		avail[1] = 0;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	FILE *f = fopen(path, "r");
	int lines = 0, c;
	while (f && (c = fgetc(f)) != EOF)
		lines += c == '\n';
	if (f)
		fclose(f);
	close(fd);
	unlink(path);
	return lines;
}

/* A guest looping over reset and bad rings cannot flood the log: a few lines, not one per
 * round (the limiter allows a burst, then one a second, plus "suppressed" lines). */
static void test_log_flood(struct vm *vm)
{
	struct pci_devinst *pi = pci_bus_find(vm, 0, 4, 0);
	uint16_t io = (uint16_t)pi->pi_bar[0].addr;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int lines = flood_lines(vm, io, 2000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long secs = (long)(b.tv_sec - a.tv_sec) + 1;
	CHECK(lines >= 1);                                  /* it is still said */
	CHECK(lines <= 3 * (5 + 2 * secs));
	pt_out(vm, io + VTPCI_L_STATUS, 1, 0);
}

static struct vm *start(void)
{
	char err[256] = "";
	struct vm *vm = pt_vm_create(1);
	CHECK(vm != NULL);
	if (!vm)
		return NULL;
	if (pci_bus_init(vm, err, sizeof(err)) < 0) {
		fprintf(stderr, "pci_bus_init: %s\n", err);
		CHECK(0);
		pt_vm_free(vm);
		return NULL;
	}
	cur_vm = vm;
	return vm;
}

int main(void)
{
	strcpy(img, "/tmp/test_vtpci.XXXXXX");
	int fd = mkstemp(img);
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	close(fd);
	config_reset();
	config_set("pci.0.4.0.device", "virtio-blk");
	config_set("pci.0.4.0.path", img);
	config_set("pci.0.5.0.device", "virtio-rnd");
	struct vm *vm = start();
	if (vm) {
		test_identity();
		test_legacy_blk(vm);
		test_log_flood(vm);
		pci_bus_fini(vm);
		pt_vm_free(vm);
	}
	/* -W: MSI instead of MSI-X. */
	config_set("virtio_msix", "false");
	vm = start();
	if (vm) {
		CHECK(find_cap(4, PCIY_MSI, 0) != 0);
		CHECK_EQ(find_cap(4, PCIY_MSIX, 0), 0);
		pci_bus_fini(vm);
		pt_vm_free(vm);
	}
	/* A missing image fails set-up with a message naming it. */
	config_set("pci.0.4.0.path", "/nonexistent/disk.img");
	vm = pt_vm_create(1);
	if (vm) {
		char err[256] = "";
		CHECK(pci_bus_init(vm, err, sizeof(err)) < 0);
		CHECK(strstr(err, "/nonexistent/disk.img") != NULL);
		pci_bus_fini(vm);
		pt_vm_free(vm);
	}
	unlink(img);
	return unit_report("virtio_pci_bus");
}
