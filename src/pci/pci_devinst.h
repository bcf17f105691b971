/*
 * A PCI function at run time (struct pci_devinst) and what an emulation's pe_init uses to
 * shape it: config-space accessors, BARs, capabilities, INTx, MSI and MSI-X.  Implemented by
 * the bus (src/pci/pci_bus.c), which also decodes configuration mechanism #1 (0xCF8/0xCFC)
 * and ECAM (LAYOUT_PCI_ECAM_BASE).
 *
 * What the bus does for every device, so emulations need not:
 *   - BAR registers: sizing (write all ones, read the size mask), moving, and registering the
 *     range with the VM while the command register's I/O or memory decode bit is set;
 *   - the MSI and MSI-X capabilities' registers, the MSI-X table and PBA inside their BAR
 *     (accesses there never reach pe_barread/pe_barwrite), masking and pending bits;
 *   - INTx: interrupt pin/line registers, the command register's interrupt-disable bit and the
 *     status register's interrupt bit; shared lines are wire-ORed across devices;
 *   - read-only IDs/class, the capability list (status bit 4, pointer at 0x34), header type
 *     with the multi-function bit when a slot has several functions.
 * Emulations set IDs/class in pe_init with pci_set_cfgdata*, allocate BARs with
 * pci_emul_alloc_bar (the address is assigned at once, as firmware would, and decode enabled),
 * and raise interrupts with pci_generate_msix / pci_generate_msi / pci_lintr_assert.  Those
 * interrupt functions may be called from any thread.
 */
#ifndef BHYVE_PCI_DEVINST_H
#define BHYVE_PCI_DEVINST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pci/pci_emul.h"
#include "vmm/inout.h"
#include "vmm/mmio.h"

#define PCI_CFG_SIZE      4096     /* PCIe extended config space (ECAM); CF8 reaches 256 bytes */

/* Standard configuration header (type 0) registers. */
#define PCIR_VENDOR       0x00
#define PCIR_DEVICE       0x02
#define PCIR_COMMAND      0x04
#define PCIR_STATUS       0x06
#define PCIR_REVID        0x08
#define PCIR_PROGIF       0x09
#define PCIR_SUBCLASS     0x0A
#define PCIR_CLASS        0x0B
#define PCIR_CACHELNSZ    0x0C
#define PCIR_LATTIMER     0x0D
#define PCIR_HDRTYPE      0x0E
#define PCIR_BAR(i)       (0x10 + 4 * (i))
#define PCIR_SUBVEND_0    0x2C
#define PCIR_SUBDEV_0     0x2E
#define PCIR_BIOS         0x30     /* expansion ROM: none, reads 0 */
#define PCIR_CAP_PTR      0x34
#define PCIR_INTLINE      0x3C
#define PCIR_INTPIN       0x3D

#define PCIM_CMD_PORTEN   0x0001
#define PCIM_CMD_MEMEN    0x0002
#define PCIM_CMD_BUSMASTEREN 0x0004
#define PCIM_CMD_SERRESPEN 0x0100
#define PCIM_CMD_INTxDIS  0x0400
#define PCIM_STATUS_INTxSTATE 0x0008
#define PCIM_STATUS_CAPPRESENT 0x0010
#define PCIM_HDRTYPE_MFDEV 0x80

#define PCIM_BAR_IO       0x01
#define PCIM_BAR_MEM_64   0x04
#define PCIM_BAR_MEM_PREFETCH 0x08

/* Capability IDs. */
#define PCIY_PMG          0x01
#define PCIY_MSI          0x05
#define PCIY_VENDOR       0x09
#define PCIY_EXPRESS      0x10
#define PCIY_MSIX         0x11

/* Class codes used by our emulations. */
#define PCIC_STORAGE      0x01
#define PCIS_STORAGE_SCSI 0x00
#define PCIS_STORAGE_SATA 0x06
#define PCIS_STORAGE_NVM  0x08
#define PCIC_NETWORK      0x02
#define PCIS_NETWORK_ETHERNET 0x00
#define PCIC_DISPLAY      0x03
#define PCIC_MULTIMEDIA   0x04
#define PCIS_MULTIMEDIA_HDA 0x03
#define PCIC_BRIDGE       0x06
#define PCIS_BRIDGE_HOST  0x00
#define PCIS_BRIDGE_ISA   0x01
#define PCIC_SIMPLECOMM   0x07
#define PCIS_SIMPLECOMM_UART 0x00
#define PCIC_SERIALBUS    0x0C
#define PCIS_SERIALBUS_USB 0x03
#define PCIC_OTHER        0xFF

struct pci_devinst;

struct pcibar {
	enum pcibar_type type;     /* PCIBAR_MEMHI64 marks the upper half of a 64-bit BAR */
	uint64_t addr;             /* current guest address (aligned to size) */
	uint64_t size;             /* power of two */
	bool registered;           /* its range is registered with the VM */
	struct pci_devinst *pi;    /* back pointers for the port/MMIO handlers */
	int idx;
	struct inout_port io;      /* what was registered, to unregister it */
	struct mem_range mem;
};

struct msix_table_entry {
	uint64_t addr;
	uint32_t msg_data;
	uint32_t vector_control;   /* bit 0: masked */
};

struct pci_devinst {
	const struct pci_devemu *pi_d;
	struct vm *pi_vm;
	uint8_t pi_bus, pi_slot, pi_func;
	char pi_name[40];          /* "virtio-blk@0:4:0" */
	void *pi_arg;              /* the emulation's own state */
	/* Optional: BAR idx starts (on) or stops decoding at addr; virtio moves its notify
	 * ioevents (ioevent.h) with it. */
	void (*pi_bar_moved)(struct pci_devinst *pi, int idx, bool on, uint64_t addr);

	struct {
		int pin;           /* 1-4 = INTA-INTD, 0 = none requested */
		int ioapic_irq;    /* IOAPIC input (PCI_INTX_IOAPIC_PIN) */
		bool asserted;     /* the device drives its line */
		bool counted;      /* ...and it counts on the shared wire now */
	} pi_lintr;

	struct {
		int capoff;        /* 0 = no MSI capability */
		int maxmsgnum;     /* vectors the capability offers */
	} pi_msi;

	struct {
		int capoff;        /* 0 = no MSI-X capability */
		int table_bar, pba_bar;
		uint32_t table_offset, pba_offset;
		int table_count;
		struct msix_table_entry *table;
		uint64_t *pba;     /* pending bits, one per vector */
	} pi_msix;

	int pi_pcie_capoff;        /* 0 = no PCI Express capability */
	int pi_capend;             /* next free offset for a capability */
	int pi_lastcap;            /* offset of the last one in the list, 0 = none */
	struct pcibar pi_bar[PCI_BARMAX + 1];
	uint8_t pi_cfgdata[PCI_CFG_SIZE];
};

/* ---- config space, as the device sees it (no side effects) ---- */
uint8_t pci_get_cfgdata8(const struct pci_devinst *pi, int off);
uint16_t pci_get_cfgdata16(const struct pci_devinst *pi, int off);
uint32_t pci_get_cfgdata32(const struct pci_devinst *pi, int off);
void pci_set_cfgdata8(struct pci_devinst *pi, int off, uint8_t val);
void pci_set_cfgdata16(struct pci_devinst *pi, int off, uint16_t val);
void pci_set_cfgdata32(struct pci_devinst *pi, int off, uint32_t val);

/* ---- set-up (pe_init) ---- */
/* BAR idx of `type` and at least `size` bytes (I/O: 4 minimum; memory: 4 KiB minimum, so
 * every BAR has pages of its own); a 64-bit BAR takes idx and idx + 1.  64-bit BARs of up to
 * 128 MiB are placed below 4 GiB, larger ones in the 64-bit window.  0, or -1 (bad index or
 * size, window full). */
int pci_emul_alloc_bar(struct pci_devinst *pi, int idx, enum pcibar_type type, uint64_t size);
/* Append a capability (cap[0] = ID; cap[1], the next pointer, is filled in): its offset in
 * config space, or -1 if there is no room. */
int pci_emul_add_capability(struct pci_devinst *pi, const uint8_t *cap, int caplen);
/* MSI with `msgnum` vectors (1, 2, 4, 8, 16 or 32), 64-bit address. 0 or -1. */
int pci_emul_add_msicap(struct pci_devinst *pi, int msgnum);
/* MSI-X with `msgnum` vectors (1-2048): the table at offset 0 of a new 32-bit memory BAR
 * `barnum`, the PBA on the next 4 KiB boundary after it.  0 or -1. */
int pci_emul_add_msixcap(struct pci_devinst *pi, int msgnum, int barnum);
/* A PCI Express capability (endpoint, type 0) so guests see a PCIe device. 0 or -1. */
int pci_emul_add_pciecap(struct pci_devinst *pi);
/* Ask for an INTx line: INTA for function 0, INTB.. for the other functions.  0 or -1. */
int pci_lintr_request(struct pci_devinst *pi);

/* ---- interrupts (any thread) ---- */
bool pci_msi_enabled(struct pci_devinst *pi);
int pci_msi_maxmsgnum(struct pci_devinst *pi);      /* vectors the guest enabled */
void pci_generate_msi(struct pci_devinst *pi, int index);
bool pci_msix_enabled(struct pci_devinst *pi);
/* Send MSI-X vector `index`, or mark it pending while it (or the function) is masked. */
void pci_generate_msix(struct pci_devinst *pi, int index);
/* INTx: the line stays asserted until deasserted (level); the interrupt-disable bit of the
 * command register and MSI/MSI-X being on keep it off the wire. */
void pci_lintr_assert(struct pci_devinst *pi);
void pci_lintr_deassert(struct pci_devinst *pi);

/* ---- the bus ---- */
/* Walk the config nodes pci.B.S.F, create each device (pe_init), register 0xCF8/0xCFC and
 * ECAM.  0, or -1 with a message naming the device. */
int pci_bus_init(struct vm *vm, char *err, size_t errlen);
/* pe_deinit every device, unregister everything, free. */
void pci_bus_fini(struct vm *vm);
/* The device at bus/slot/function of vm's bus, or NULL. */
struct pci_devinst *pci_bus_find(struct vm *vm, int bus, int slot, int func);
/* A configuration read or write as the guest would do it (tests; ECAM and 0xCFC use it):
 * bytes 1, 2 or 4 at `reg` (0-4095).  A missing function reads all ones. */
void pci_cfg_access(struct vm *vm, int bus, int slot, int func, int reg, int bytes,
		    uint32_t *val, bool write);
/* Where the ECAM window (256 MiB, buses 0-255) decodes: a host bridge with a programmable
 * base (Q35's PCIEXBAR) moves it; base 0 turns it off.  0, or -1 (misaligned, overlaps
 * another range; the old window stays). */
int pci_ecam_set_base(struct vm *vm, uint64_t base);
/* The current ECAM base, 0 when off (LAYOUT_PCI_ECAM_BASE until moved). */
uint64_t pci_ecam_base(struct vm *vm);

#endif
