/*
 * PCI capabilities and interrupts: the capability list, MSI (PCI 3.0 6.8.1), MSI-X (6.8.2:
 * table and pending-bit array inside a memory BAR, per-vector and function masks), a PCI
 * Express endpoint capability, and INTx.
 *
 * INTx follows the routing rule of layout.h (PCI_INTX_IOAPIC_PIN), the same one the DSDT's
 * _PRT and the MP table describe.  The lines are level-triggered and shared: the bus counts
 * the devices driving each IOAPIC pin and raises the pin while any does.  A device's line is
 * off the wire while its command register's interrupt-disable bit is set or MSI/MSI-X is on,
 * as the PCI specification requires.  (There is no PIRQ router: guests without an IOAPIC get
 * no PCI INTx.)
 */
#include <stdlib.h>
#include <string.h>

#include "pci/pci_bus_int.h"
#include "vmm/irq.h"

/* MSI capability layout (64-bit, no per-vector masking). */
#define MSI_CTRL      2
#define MSI_ADDR_LO   4
#define MSI_ADDR_HI   8
#define MSI_DATA      12
#define MSI_LEN       14
#define MSI_CTRL_EN   0x0001
#define MSI_CTRL_MME  0x0070
#define MSI_CTRL_64   0x0080

/* MSI-X capability layout. */
#define MSIX_CTRL     2
#define MSIX_TABLE    4
#define MSIX_PBA      8
#define MSIX_LEN      12
#define MSIX_CTRL_EN    0x8000
#define MSIX_CTRL_FMASK 0x4000
#define MSIX_ENTRY_SIZE 16
#define MSIX_VC_MASK  0x1

/* PCI Express capability (version 2, endpoint). */
#define PCIE_LEN      0x3C
#define PCIE_DEVCTL   0x08
#define PCIE_LINKCTL  0x10
#define PCIE_DEVCTL2  0x28
#define PCIE_LINKCTL2 0x30

int pci_emul_add_capability(struct pci_devinst *pi, const uint8_t *cap, int caplen)
{
	if (caplen < 2)
		return -1;
	int off = (pi->pi_capend + 3) & ~3;
	if (off < 0x40 || off + caplen > 0x100)       /* capabilities live in the first 256 bytes */
		return -1;
	memcpy(pi->pi_cfgdata + off, cap, (size_t)caplen);
	pi->pi_cfgdata[off + 1] = 0;
	if (pi->pi_lastcap)
		pi->pi_cfgdata[pi->pi_lastcap + 1] = (uint8_t)off;
	else
		pci_set_cfgdata8(pi, PCIR_CAP_PTR, (uint8_t)off);
	pci_set_cfgdata16(pi, PCIR_STATUS,
			  (uint16_t)(pci_get_cfgdata16(pi, PCIR_STATUS) | PCIM_STATUS_CAPPRESENT));
	pi->pi_lastcap = off;
	pi->pi_capend = off + caplen;
	return off;
}

int pci_emul_add_msicap(struct pci_devinst *pi, int msgnum)
{
	if (pi->pi_msi.capoff || msgnum < 1 || msgnum > 32 || (msgnum & (msgnum - 1)))
		return -1;
	uint8_t cap[MSI_LEN] = { PCIY_MSI, 0 };
	uint16_t ctrl = (uint16_t)(MSI_CTRL_64 | (__builtin_ctz((unsigned)msgnum) << 1));
	cap[MSI_CTRL] = (uint8_t)ctrl;
	cap[MSI_CTRL + 1] = (uint8_t)(ctrl >> 8);
	int off = pci_emul_add_capability(pi, cap, sizeof(cap));
	if (off < 0)
		return -1;
	pi->pi_msi.capoff = off;
	pi->pi_msi.maxmsgnum = msgnum;
	return 0;
}

int pci_emul_add_msixcap(struct pci_devinst *pi, int msgnum, int barnum)
{
	if (pi->pi_msix.capoff || msgnum < 1 || msgnum > 2048 || barnum < 0 || barnum > PCI_BARMAX)
		return -1;
	uint32_t table_size = (uint32_t)msgnum * MSIX_ENTRY_SIZE;
	uint32_t pba_off = (table_size + 4095) & ~4095u;
	uint32_t pba_words = (uint32_t)(msgnum + 63) / 64;
	pi->pi_msix.table = calloc((size_t)msgnum, sizeof(*pi->pi_msix.table));
	pi->pi_msix.pba = calloc(pba_words, sizeof(uint64_t));
	if (!pi->pi_msix.table || !pi->pi_msix.pba ||
	    pci_emul_alloc_bar(pi, barnum, PCIBAR_MEM32, pba_off + pba_words * 8) < 0)
		goto fail;
	for (int i = 0; i < msgnum; i++)
		pi->pi_msix.table[i].vector_control = MSIX_VC_MASK;   /* masked at reset */
	uint8_t cap[MSIX_LEN] = { PCIY_MSIX, 0 };
	uint16_t ctrl = (uint16_t)(msgnum - 1);
	uint32_t tbl = (uint32_t)barnum, pba = pba_off | (uint32_t)barnum;
	memcpy(cap + MSIX_CTRL, (uint8_t[]){ (uint8_t)ctrl, (uint8_t)(ctrl >> 8) }, 2);
	for (int i = 0; i < 4; i++) {
		cap[MSIX_TABLE + i] = (uint8_t)(tbl >> (8 * i));
		cap[MSIX_PBA + i] = (uint8_t)(pba >> (8 * i));
	}
	int off = pci_emul_add_capability(pi, cap, sizeof(cap));
	if (off < 0)
		goto fail;
	pi->pi_msix.capoff = off;
	pi->pi_msix.table_bar = pi->pi_msix.pba_bar = barnum;
	pi->pi_msix.table_offset = 0;
	pi->pi_msix.pba_offset = pba_off;
	pi->pi_msix.table_count = msgnum;
	return 0;
fail:
	free(pi->pi_msix.table);
	free(pi->pi_msix.pba);
	pi->pi_msix.table = NULL;
	pi->pi_msix.pba = NULL;
	return -1;
}

int pci_emul_add_pciecap(struct pci_devinst *pi)
{
	if (pi->pi_pcie_capoff)
		return -1;
	uint8_t cap[PCIE_LEN] = { PCIY_EXPRESS, 0, 0x02, 0x00 };   /* version 2, endpoint */
	cap[0x0C] = 0x11;            /* link capabilities: 2.5 GT/s, x1 */
	cap[0x12] = 0x11;            /* link status: 2.5 GT/s, x1 */
	int off = pci_emul_add_capability(pi, cap, sizeof(cap));
	if (off < 0)
		return -1;
	pi->pi_pcie_capoff = off;
	return 0;
}

/* ---- state read from the capability registers ---- */

static uint16_t pci_msi_ctrl(const struct pci_devinst *pi)
{
	return pi->pi_msi.capoff ? pci_get_cfgdata16(pi, pi->pi_msi.capoff + MSI_CTRL) : 0;
}

static uint16_t pci_msix_ctrl(const struct pci_devinst *pi)
{
	return pi->pi_msix.capoff ? pci_get_cfgdata16(pi, pi->pi_msix.capoff + MSIX_CTRL) : 0;
}

bool pci_msi_enabled(struct pci_devinst *pi)
{
	pci_lock(pi);
	bool on = pci_msi_ctrl(pi) & MSI_CTRL_EN;
	pci_unlock(pi);
	return on;
}

int pci_msi_maxmsgnum(struct pci_devinst *pi)
{
	pci_lock(pi);
	uint16_t ctrl = pci_msi_ctrl(pi);
	pci_unlock(pi);
	return (ctrl & MSI_CTRL_EN) ? 1 << ((ctrl & MSI_CTRL_MME) >> 4) : 0;
}

bool pci_msix_enabled(struct pci_devinst *pi)
{
	pci_lock(pi);
	bool on = pci_msix_ctrl(pi) & MSIX_CTRL_EN;
	pci_unlock(pi);
	return on;
}

void pci_generate_msi(struct pci_devinst *pi, int index)
{
	pci_lock(pi);
	uint16_t ctrl = pci_msi_ctrl(pi);
	int nvec = 1 << ((ctrl & MSI_CTRL_MME) >> 4);
	if ((ctrl & MSI_CTRL_EN) && index >= 0 && index < nvec) {
		int c = pi->pi_msi.capoff;
		uint64_t addr = pci_get_cfgdata32(pi, c + MSI_ADDR_LO) |
				(uint64_t)pci_get_cfgdata32(pi, c + MSI_ADDR_HI) << 32;
		uint32_t data = pci_get_cfgdata16(pi, c + MSI_DATA);
		/* With several vectors the function puts the index in the low data bits. */
		data = (data & ~(uint32_t)(nvec - 1)) | (uint32_t)index;
		vm_lapic_msi(pi->pi_vm, addr, data);
	}
	pci_unlock(pi);
}

/* Lock held: send vector i now if nothing masks it, else leave it pending. */
static void pci_msix_fire(struct pci_devinst *pi, int i)
{
	uint16_t ctrl = pci_msix_ctrl(pi);
	struct msix_table_entry *e = &pi->pi_msix.table[i];
	if ((ctrl & MSIX_CTRL_FMASK) || (e->vector_control & MSIX_VC_MASK)) {
		pi->pi_msix.pba[i / 64] |= 1ULL << (i % 64);
		return;
	}
	pi->pi_msix.pba[i / 64] &= ~(1ULL << (i % 64));
	vm_lapic_msi(pi->pi_vm, e->addr, e->msg_data);
}

void pci_generate_msix(struct pci_devinst *pi, int index)
{
	pci_lock(pi);
	if ((pci_msix_ctrl(pi) & MSIX_CTRL_EN) && index >= 0 && index < pi->pi_msix.table_count)
		pci_msix_fire(pi, index);
	pci_unlock(pi);
}

/* Lock held: after an unmask, send what was pending and is no longer masked. */
static void pci_msix_flush_pending(struct pci_devinst *pi)
{
	if (!(pci_msix_ctrl(pi) & MSIX_CTRL_EN) || (pci_msix_ctrl(pi) & MSIX_CTRL_FMASK))
		return;
	for (int i = 0; i < pi->pi_msix.table_count; i++)
		if ((pi->pi_msix.pba[i / 64] >> (i % 64)) & 1 &&
		    !(pi->pi_msix.table[i].vector_control & MSIX_VC_MASK))
			pci_msix_fire(pi, i);
}

/* ---- INTx ---- */

int pci_lintr_request(struct pci_devinst *pi)
{
	if (pi->pi_lintr.pin)
		return 0;
	int pin = 1 + (pi->pi_func & 3);
	pi->pi_lintr.pin = pin;
	pi->pi_lintr.ioapic_irq = PCI_INTX_IOAPIC_PIN(pi->pi_slot, pin);
	pci_set_cfgdata8(pi, PCIR_INTPIN, (uint8_t)pin);
	pci_set_cfgdata8(pi, PCIR_INTLINE, (uint8_t)pi->pi_lintr.ioapic_irq);
	return 0;
}

void pci_lintr_update(struct pci_devinst *pi)
{
	struct pci_bus *st = pci_bus_of(pi);
	pci_lock(pi);
	uint16_t status = pci_get_cfgdata16(pi, PCIR_STATUS);
	status = pi->pi_lintr.asserted ? (status | PCIM_STATUS_INTxSTATE) :
					 (status & ~PCIM_STATUS_INTxSTATE);
	pci_set_cfgdata16(pi, PCIR_STATUS, status);
	bool want = pi->pi_lintr.pin && pi->pi_lintr.asserted &&
		    !(pci_get_cfgdata16(pi, PCIR_COMMAND) & PCIM_CMD_INTxDIS) &&
		    !(pci_msi_ctrl(pi) & MSI_CTRL_EN) && !(pci_msix_ctrl(pi) & MSIX_CTRL_EN);
	int irq = pi->pi_lintr.ioapic_irq;
	if (st && want != pi->pi_lintr.counted && irq >= 0 && irq < IOAPIC_NPINS) {
		pi->pi_lintr.counted = want;
		if (want && st->intx_count[irq]++ == 0)
			vm_ioapic_assert_irq(pi->pi_vm, irq);
		else if (!want && --st->intx_count[irq] == 0)
			vm_ioapic_deassert_irq(pi->pi_vm, irq);
	}
	pci_unlock(pi);
}

void pci_lintr_assert(struct pci_devinst *pi)
{
	pci_lock(pi);
	pi->pi_lintr.asserted = true;
	pci_lintr_update(pi);
	pci_unlock(pi);
}

void pci_lintr_deassert(struct pci_devinst *pi)
{
	pci_lock(pi);
	pi->pi_lintr.asserted = false;
	pci_lintr_update(pi);
	pci_unlock(pi);
}

/* ---- guest writes to capabilities ---- */

static bool pci_in_cap(int dw, int capoff, int len)
{
	return capoff && dw >= (capoff & ~3) && dw < capoff + len;
}

static void pci_msi_write(struct pci_devinst *pi, int rel, uint32_t val)
{
	int c = pi->pi_msi.capoff;
	if (rel == 0) {
		uint16_t old = pci_msi_ctrl(pi), ctrl = (uint16_t)(val >> 16);
		uint16_t mme = ctrl & MSI_CTRL_MME, mmc = (uint16_t)((old & 0x000E) << 3);
		if (mme > mmc)
			mme = mmc;                  /* no more vectors than offered */
		ctrl = (uint16_t)((old & ~(MSI_CTRL_EN | MSI_CTRL_MME)) | (ctrl & MSI_CTRL_EN) | mme);
		pci_set_cfgdata16(pi, c + MSI_CTRL, ctrl);
		if ((old ^ ctrl) & MSI_CTRL_EN)
			pci_lintr_update(pi);
	} else if (rel == MSI_ADDR_LO) {
		pci_set_cfgdata32(pi, c + MSI_ADDR_LO, val & ~3u);
	} else if (rel == MSI_ADDR_HI) {
		pci_set_cfgdata32(pi, c + MSI_ADDR_HI, val);
	} else if (rel == MSI_DATA) {
		pci_set_cfgdata16(pi, c + MSI_DATA, (uint16_t)val);
	}
}

static void pci_msix_cap_write(struct pci_devinst *pi, int rel, uint32_t val)
{
	if (rel != 0)
		return;                             /* table/PBA locations are read-only */
	uint16_t old = pci_msix_ctrl(pi);
	uint16_t wm = MSIX_CTRL_EN | MSIX_CTRL_FMASK;
	uint16_t ctrl = (uint16_t)((old & ~wm) | ((val >> 16) & wm));
	pci_set_cfgdata16(pi, pi->pi_msix.capoff + MSIX_CTRL, ctrl);
	if ((old ^ ctrl) & MSIX_CTRL_EN)
		pci_lintr_update(pi);
	pci_msix_flush_pending(pi);
}

/* PCIe: device control, link control and their "2" versions are writable; the rest reads
 * as the device describes itself. */
static void pci_pcie_write(struct pci_devinst *pi, int rel, uint32_t val)
{
	int c = pi->pi_pcie_capoff;
	if (rel == PCIE_DEVCTL || rel == PCIE_LINKCTL || rel == PCIE_DEVCTL2 ||
	    rel == PCIE_LINKCTL2)
		pci_set_cfgdata16(pi, c + rel, (uint16_t)val);
}

void pci_cap_write(struct pci_devinst *pi, int dw, uint32_t old, uint32_t val)
{
	(void)old;
	if (pci_in_cap(dw, pi->pi_msi.capoff, MSI_LEN))
		pci_msi_write(pi, dw - pi->pi_msi.capoff, val);
	else if (pci_in_cap(dw, pi->pi_msix.capoff, MSIX_LEN))
		pci_msix_cap_write(pi, dw - pi->pi_msix.capoff, val);
	else if (pci_in_cap(dw, pi->pi_pcie_capoff, PCIE_LEN))
		pci_pcie_write(pi, dw - pi->pi_pcie_capoff, val);
	/* Other capabilities and unimplemented registers are read-only. */
}

/* ---- the MSI-X table and PBA in their BAR ---- */

static void pci_msix_table_rw(struct pci_devinst *pi, uint64_t off, int size, uint64_t *val,
			      bool write)
{
	int i = (int)(off / MSIX_ENTRY_SIZE), field = (int)(off % MSIX_ENTRY_SIZE);
	struct msix_table_entry *e = &pi->pi_msix.table[i];
	if (!write) {
		uint32_t w[4] = { (uint32_t)e->addr, (uint32_t)(e->addr >> 32), e->msg_data,
				  e->vector_control };
		*val = w[field / 4];
		if (size == 8)
			*val |= (uint64_t)w[field / 4 + 1] << 32;
		return;
	}
	for (int k = 0; k < size / 4; k++) {
		uint32_t v = (uint32_t)(*val >> (32 * k));
		switch (field / 4 + k) {
		case 0: e->addr = (e->addr & ~0xFFFFFFFFULL) | (v & ~3u); break;
		case 1: e->addr = (e->addr & 0xFFFFFFFFULL) | (uint64_t)v << 32; break;
		case 2: e->msg_data = v; break;
		case 3:
			e->vector_control = (e->vector_control & ~MSIX_VC_MASK) | (v & MSIX_VC_MASK);
			pci_msix_flush_pending(pi);
			break;
		}
	}
}

bool pci_msix_bar_access(struct pci_devinst *pi, int idx, uint64_t off, int size, uint64_t *val,
			 bool write)
{
	if (!pi->pi_msix.capoff || idx != pi->pi_msix.table_bar)
		return false;
	uint64_t tend = pi->pi_msix.table_offset + (uint64_t)pi->pi_msix.table_count * MSIX_ENTRY_SIZE;
	uint64_t pbalen = (uint64_t)((pi->pi_msix.table_count + 63) / 64) * 8;
	bool in_table = off >= pi->pi_msix.table_offset && off < tend;
	bool in_pba = off >= pi->pi_msix.pba_offset && off < pi->pi_msix.pba_offset + pbalen;
	if (!in_table && !in_pba)
		return false;
	pci_lock(pi);
	if ((size != 4 && size != 8) || (off & (uint64_t)(size - 1))) {
		if (!write)
			*val = 0;                   /* only aligned dword/qword accesses are defined */
	} else if (in_table) {
		pci_msix_table_rw(pi, off - pi->pi_msix.table_offset, size, val, write);
	} else if (!write) {
		uint64_t rel = off - pi->pi_msix.pba_offset;
		uint64_t word = pi->pi_msix.pba[rel / 8];
		*val = size == 8 ? word : (uint32_t)(word >> (8 * (rel % 8)));
	}
	pci_unlock(pi);
	return true;
}
