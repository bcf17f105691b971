/*
 * virtio-rnd made from its registration on a VM's PCI bus, driven through the legacy transport: buffers are filled with
 * random bytes and returned with their length, a huge buffer is capped, a chain without
 * writable buffers comes back empty, an invalid chain sets DEVICE_NEEDS_RESET.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "vtdev_test.h"

#define RAM_SIZE (4u << 20)
#define RING_GPA 0x10000ULL
#define VTRND_QSIZE     64               /* what the device offers */
#define VTRND_MAX_CHAIN (64u * 1024)     /* bytes it fills per chain at most */

static uint8_t *ram;
static struct vtpci_state *vs;
static uint64_t rdesc, ravail, rused;
static uint16_t qsz, avail_idx;
static int irqs;

static void f_intx(void *c) { irqs++; }
static const struct vtpci_intr_ops intr = { .intx_assert = f_intx };

static void set_desc(int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };
	memcpy(ram + rdesc + 16ULL * i, &d, 16);
}

static void submit(uint16_t head)
{
	uint16_t *av = (uint16_t *)(ram + ravail);
	av[2 + avail_idx % qsz] = head;
	av[1] = ++avail_idx;
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_NOTIFY, 2, 0);
}

static uint32_t used_len(int slot)
{
	return ((uint32_t *)(ram + rused + 4))[2 * slot + 1];
}

static bool nonzero(uint64_t gpa, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ram[gpa + i])
			return true;
	return false;
}

int main(void)
{
	char err[128];
	config_set("pci.0.5.0.device", "virtio-rnd");
	vs = vtdev_open(5, RAM_SIZE, &intr, &ram, err, sizeof(err));
	CHECK(vs != NULL);
	if (!vs) {
		fprintf(stderr, "%s\n", err);
		return unit_report("virtio_rnd");
	}

	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 3);
	vtpci_legacy_write(vs, VTPCI_L_GUEST_FEATURES, 4, 0);
	qsz = (uint16_t)vtpci_legacy_read(vs, VTPCI_L_QUEUE_NUM, 2);
	CHECK_EQ(qsz, VTRND_QSIZE);
	vtpci_legacy_write(vs, VTPCI_L_QUEUE_PFN, 4, RING_GPA / 4096);
	rdesc = RING_GPA;
	ravail = rdesc + 16ULL * qsz;
	rused = (ravail + 6 + 2ULL * qsz + 4095) & ~4095ULL;
	vtpci_legacy_write(vs, VTPCI_L_STATUS, 1, 7);
	CHECK_EQ(vtpci_legacy_read(vs, 0x14, 1), 0xFF);          /* no device config */

	set_desc(0, 0x100000, 32, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(1, 0x100100, 100, VRING_DESC_F_WRITE, 0);
	submit(0);
	CHECK_EQ(((uint16_t *)(ram + rused))[1], 1);
	CHECK_EQ(used_len(0), 132);
	CHECK(nonzero(0x100000, 32));
	CHECK(nonzero(0x100100, 100));
	CHECK(!nonzero(0x100100 + 100, 64));                     /* nothing beyond the buffer */
	CHECK_EQ(irqs, 1);

	set_desc(2, 0x200000, 0x100000, VRING_DESC_F_WRITE, 0);  /* 1 MiB: capped */
	submit(2);
	CHECK_EQ(used_len(1), VTRND_MAX_CHAIN);
	CHECK(!nonzero(0x200000 + VTRND_MAX_CHAIN, 4096));

	set_desc(3, 0x100000, 16, 0, 0);                          /* read-only: nothing to fill */
	submit(3);
	CHECK_EQ(used_len(2), 0);

	set_desc(4, RAM_SIZE - 8, 64, VRING_DESC_F_WRITE, 0);     /* outside RAM */
	submit(4);
	CHECK(vtpci_legacy_read(vs, VTPCI_L_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(((uint16_t *)(ram + rused))[1], 3);

	vtdev_close();
	return unit_report("virtio_rnd");
}
