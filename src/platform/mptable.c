/*
 * Intel MultiProcessor Specification 1.4 tables: the MP floating pointer structure ("_MP_",
 * 16 bytes, found by scanning 0xF0000-0xFFFFF) pointing at the configuration table ("PCMP")
 * that follows it.  Entries: one processor per vCPU (the first is the bootstrap processor),
 * the PCI bus 0 and the ISA bus 1, the IOAPIC, I/O interrupt assignments for ISA IRQs 0-15
 * (IRQ 0 arrives on pin 2, as the MADT's override says) and for every PCI slot's INTA-INTD
 * (PCI_INTX_IOAPIC_PIN), and the local interrupts ExtINT -> LINT0, NMI -> LINT1.
 */
#include <string.h>

#include "common/bytes.h"
#include "platform/firmware.h"
#include "platform/mptable.h"
#include "vmm/layout.h"


struct mp_ctx {
	uint8_t *buf;
	size_t size, off;
	uint16_t count;
	bool overflow;
};

static uint8_t *mp_entry(struct mp_ctx *c, size_t len)
{
	if (c->overflow || len > c->size - c->off) {
		c->overflow = true;
		return NULL;
	}
	uint8_t *p = c->buf + c->off;
	memset(p, 0, len);
	c->off += len;
	c->count++;
	return p;
}

static void mp_processor(struct mp_ctx *c, uint8_t apic_id, bool bsp)
{
	uint8_t *e = mp_entry(c, 20);
	if (!e)
		return;
	e[0] = MP_ENTRY_PROCESSOR;
	e[1] = apic_id;
	e[2] = MP_LAPIC_VERSION;
	e[3] = (uint8_t)(MP_CPU_ENABLED | (bsp ? MP_CPU_BSP : 0));
	le32enc(e + 4, MP_CPU_SIGNATURE);
	le32enc(e + 8, MP_CPU_FEATURES);
}

static void mp_bus(struct mp_ctx *c, uint8_t id, const char *type)
{
	uint8_t *e = mp_entry(c, 8);
	if (!e)
		return;
	e[0] = MP_ENTRY_BUS;
	e[1] = id;
	memcpy(e + 2, type, 6);
}

static void mp_ioapic(struct mp_ctx *c)
{
	uint8_t *e = mp_entry(c, 8);
	if (!e)
		return;
	e[0] = MP_ENTRY_IOAPIC;
	e[1] = MP_IOAPIC_ID;
	e[2] = MP_IOAPIC_VERSION;
	e[3] = 1;                               /* enabled */
	le32enc(e + 4, (uint32_t)LAYOUT_IOAPIC_BASE);
}

/* I/O (type 3) or local (type 4) interrupt assignment. */
static void mp_intr(struct mp_ctx *c, uint8_t type, uint8_t itype, uint16_t flags, uint8_t bus,
		    uint8_t bus_irq, uint8_t dst, uint8_t pin)
{
	uint8_t *e = mp_entry(c, 8);
	if (!e)
		return;
	e[0] = type;
	e[1] = itype;
	le16enc(e + 2, flags);
	e[4] = bus;
	e[5] = bus_irq;
	e[6] = dst;
	e[7] = pin;
}

static void mp_entries(struct mp_ctx *c, const struct fw_info *fi)
{
	for (int i = 0; i < fi->ncpu; i++)
		mp_processor(c, (uint8_t)fi->apic_id[i], i == 0);
	mp_bus(c, MP_BUS_PCI, "PCI   ");
	mp_bus(c, MP_BUS_ISA, "ISA   ");
	mp_ioapic(c);
	for (int irq = 0; irq < 16; irq++) {
		if (irq == 2)                   /* the cascade: pin 2 carries IRQ 0 */
			continue;
		uint16_t flags = irq == IRQ_SCI ? MP_FLAGS_LEVEL_HIGH : MP_FLAGS_CONFORM;
		mp_intr(c, MP_ENTRY_IOINT, MP_INT_INT, flags, MP_BUS_ISA, (uint8_t)irq, MP_IOAPIC_ID,
			(uint8_t)(irq == IRQ_PIT ? 2 : irq));
	}
	/* PCI: source bus IRQ = device number << 2 | (INTx - 1); level, active low. */
	for (int slot = 0; slot < 32; slot++)
		for (int pin = 1; pin <= 4; pin++)
			mp_intr(c, MP_ENTRY_IOINT, MP_INT_INT, MP_FLAGS_LEVEL_LOW, MP_BUS_PCI,
				(uint8_t)(slot << 2 | (pin - 1)), MP_IOAPIC_ID,
				(uint8_t)PCI_INTX_IOAPIC_PIN(slot, pin));
	mp_intr(c, MP_ENTRY_LINT, MP_INT_EXTINT, MP_FLAGS_CONFORM, MP_BUS_ISA, 0, 0xFF, 0);
	mp_intr(c, MP_ENTRY_LINT, MP_INT_NMI, MP_FLAGS_CONFORM, MP_BUS_ISA, 0, 0xFF, 1);
}

long mptable_build_table(const struct fw_info *fi, uint8_t *buf, uint64_t gpa, size_t size)
{
	if ((gpa & 15) || size < MP_FPS_LEN + MP_HDR_LEN || gpa + size > 0x100000000ULL)
		return -1;
	memset(buf, 0, size);
	uint8_t *fps = buf, *hdr = buf + MP_FPS_LEN;
	struct mp_ctx c = { .buf = buf, .size = size, .off = MP_FPS_LEN + MP_HDR_LEN };
	mp_entries(&c, fi);
	if (c.overflow)
		return -1;

	memcpy(hdr, "PCMP", 4);
	le16enc(hdr + 4, (uint16_t)(c.off - MP_FPS_LEN));   /* base table length */
	hdr[6] = 4;                                           /* spec revision 1.4 */
	memcpy(hdr + 8, "BHYVE   ", 8);
	memcpy(hdr + 16, "LINUX-VM    ", 12);
	le16enc(hdr + 34, c.count);
	le32enc(hdr + 36, (uint32_t)LAYOUT_LAPIC_BASE);
	hdr[7] = fw_checksum(hdr, c.off - MP_FPS_LEN);

	memcpy(fps, "_MP_", 4);
	le32enc(fps + 4, (uint32_t)(gpa + MP_FPS_LEN));
	fps[8] = 1;                                           /* length in 16-byte units */
	fps[9] = 4;
	/* feature byte 1 = 0: a configuration table is present; feature byte 2 bit 7 clear:
	 * virtual-wire mode (no IMCR). */
	fps[10] = fw_checksum(fps, MP_FPS_LEN);
	return (long)c.off;
}
