/*
 * The guest's physical address map and fixed I/O ports, all in one place.  It follows a PC (and
 * bhyve's own choices where a guest can see them), so Linux's drivers find devices where they
 * expect them.
 */
#ifndef BHYVE_LAYOUT_H
#define BHYVE_LAYOUT_H

/* ---- Guest-physical memory ---- */
#define GPA_KiB(x) ((uint64_t)(x) << 10)
#define GPA_MiB(x) ((uint64_t)(x) << 20)
#define GPA_GiB(x) ((uint64_t)(x) << 30)

/* Low RAM runs from 0 up to the PCI hole; the rest of RAM is placed from 4 GiB up.
 * bhyve puts the 32-bit PCI hole at 3 GiB (lowmem limit 0xC0000000). */
#define LAYOUT_LOWMEM_LIMIT   0xC0000000ULL
#define LAYOUT_HIGHMEM_BASE   0x100000000ULL   /* 4 GiB */

/* Legacy areas inside low RAM.  The e820 map marks 0x9FC00-0x100000 reserved. */
#define LAYOUT_EBDA_BASE      0x9FC00ULL       /* extended BIOS data area (1 KiB), MP table lives here */
#define LAYOUT_VGA_BASE       0xA0000ULL       /* legacy VGA window (fbuf vga=on) */
#define LAYOUT_BIOS_AREA      0xE0000ULL       /* RSDP / SMBIOS entry points are searched here */
#define LAYOUT_BIOS_AREA_END  0x100000ULL

/* Where the loader puts things for a Linux direct boot (all below 1 MiB, above the IVT/BDA). */
#define LAYOUT_BOOT_GDT       0x500ULL         /* boot GDT: null, code64, data, code32 */
#define LAYOUT_BOOT_IDT       0x520ULL         /* empty IDT */
#define LAYOUT_ZERO_PAGE      0x7000ULL        /* Linux boot_params */
#define LAYOUT_BOOT_STACK     0x8FF0ULL        /* initial RSP */
#define LAYOUT_BOOT_PML4      0x9000ULL        /* identity map: PML4, PDPT, 4 x PD (first 4 GiB) */
#define LAYOUT_BOOT_PDPT      0xA000ULL
#define LAYOUT_BOOT_PD        0xB000ULL        /* 4 pages: 0xB000-0xEFFF */
#define LAYOUT_CMDLINE        0x20000ULL       /* kernel command line, up to 4 KiB */
#define LAYOUT_CMDLINE_MAX    4096
#define LAYOUT_MB_INFO        0x21000ULL       /* multiboot_info and its mmap */
#define LAYOUT_KERNEL_BASE    0x100000ULL      /* bzImage protected-mode code / multiboot default */

/* Firmware tables, in the BIOS area where guests scan for them. */
#define LAYOUT_ACPI_BASE      0xE0000ULL       /* RSDP followed by the other ACPI tables (<= 64 KiB) */
#define LAYOUT_ACPI_SIZE      0x10000ULL
#define LAYOUT_SMBIOS_BASE    0xF1000ULL       /* SMBIOS entry point + structure table */
#define LAYOUT_MPTABLE_BASE   0xF0000ULL       /* MP floating pointer + config table (<= 4 KiB) */

/* 32-bit PCI hole: memory BARs are allocated from here up to the fixed devices. */
#define LAYOUT_PCI_MMIO32_BASE 0xC0000000ULL
#define LAYOUT_PCI_MMIO32_END  0xE0000000ULL
/* With QEMU's OVMF (Q35) the firmware allocates 32-bit BARs from the end of the ECAM window
 * it programs up to here, and the DSDT's window says the same. */
#define LAYOUT_PCI_MMIO32_END_Q35 0xFC000000ULL
/* PCIe ECAM (MCFG) for bus 0-255: 256 MiB. */
#define LAYOUT_PCI_ECAM_BASE   0xE0000000ULL
#define LAYOUT_PCI_ECAM_SIZE   0x10000000ULL
/* 64-bit BARs above RAM: a window of LAYOUT_PCI_MMIO64_SIZE starting at the first multiple
 * of its size at or above the end of high RAM (32 GiB for up to 28 GiB of high RAM). */
#define LAYOUT_PCI_MMIO64_SIZE GPA_GiB(32)
#define LAYOUT_PCI_MMIO64_BASE(highmem_size) \
	((LAYOUT_HIGHMEM_BASE + (highmem_size) + LAYOUT_PCI_MMIO64_SIZE - 1) & ~(LAYOUT_PCI_MMIO64_SIZE - 1))

#define LAYOUT_IOAPIC_BASE    0xFEC00000ULL    /* IOAPIC (MADT) */
#define LAYOUT_HPET_BASE      0xFED00000ULL    /* HPET (ACPI HPET table) */
#define LAYOUT_LAPIC_BASE     0xFEE00000ULL    /* local APIC default base (IA32_APIC_BASE) */
/* pc-testdev (-l pc-testdev): 64 KiB of scratch memory where QEMU's pc-testdev has it, inside
 * the top 16 MiB that a boot ROM of at most 16 MiB - 64 KiB leaves free. */
#define LAYOUT_PCTESTDEV_IOMEM 0xFF000000ULL
#define PCTESTDEV_IOMEM_SIZE  0x10000
#define LAYOUT_BOOTROM_END    0x100000000ULL   /* boot ROM (-l bootrom) is mapped to end here */
#define LAYOUT_BOOTROM_MAX    GPA_MiB(16)

/* ---- Fixed I/O ports ---- */
#define PORT_PIC1             0x20    /* 8259 master: 0x20-0x21 */
#define PORT_PIT              0x40    /* 8254: 0x40-0x43 */
#define PORT_KBD_DATA         0x60    /* i8042 data (reads 0xff: no controller) */
#define PORT_NMI_SC           0x61    /* NMI status/control, PIT channel 2 gate and OUT2 */
#define PORT_KBD_CMD          0x64    /* i8042 command; 0xFE pulses reset */
#define PORT_RTC              0x70    /* CMOS index/data 0x70-0x71 */
#define PORT_POST             0x80    /* POST code, used by Linux for I/O delays */
#define PORT_SYSCTL_A         0x92    /* system control port A: bit 0 fast reset, bit 1 A20 gate */
/* pc-testdev (-l pc-testdev), QEMU's ports: scratch register 0xE0-0xE3, page flush 0xE4
 * (32-bit write of a guest-physical address), the register again byte-wise at 0xE8-0xEB, and
 * one port per interrupt line 0x2000-0x2017 (inside the PCI I/O window: BARs are allocated
 * around it when the device is configured). */
#define PORT_PCTESTDEV_DATA   0xE0
#define PORT_PCTESTDEV_FLUSH  0xE4
#define PORT_PCTESTDEV_BYTE   0xE8
#define PORT_PCTESTDEV_IRQ    0x2000
/* isa-debug-exit (part of pc-testdev): 0xF4-0xF7, a write ends bhyve with status (v << 1) | 1. */
#define PORT_DEBUG_EXIT       0xF4
#define PORT_PIC2             0xA0    /* 8259 slave: 0xA0-0xA1 */
#define PORT_COM2             0x2F8   /* 16550 COM2, IRQ 3 */
#define PORT_COM1             0x3F8   /* 16550 COM1, IRQ 4 */
#define PORT_COM3             0x3E8   /* COM3, IRQ 4 (shared) */
#define PORT_COM4             0x2E8   /* COM4, IRQ 3 (shared) */
#define PORT_ELCR             0x4D0   /* 8259 edge/level control 0x4D0-0x4D1 */
#define PORT_VBE_DISPI_INDEX  0x1CE   /* Bochs VBE "dispi" index (16 bit); data at 0x1CF (fbuf) */
#define PORT_PCI_CONFIG_ADDR  0xCF8   /* PCI configuration mechanism #1 */
#define PORT_PCI_CONFIG_DATA  0xCFC   /* 0xCFC-0xCFF */
#define PORT_RESET_CF9        0xCF9   /* reset control register (byte access inside 0xCF8 dword) */
/* QEMU's fw_cfg (lpc.fwcfg=qemu with a boot ROM): selector 0x510 (16-bit), data 0x511, and the
 * DMA address register 0x514-0x51B (big-endian; writing the low half at 0x518 starts it). */
#define PORT_FWCFG_SEL        0x510
#define PORT_FWCFG_DMA        0x514
/* ACPI fixed hardware (FADT), a block bhyve also uses. */
#define PORT_PM1A_EVT         0x400   /* PM1a event block: status 0x400, enable 0x402 */
#define PORT_PM1A_CNT         0x404   /* PM1a control (SLP_TYP/SLP_EN) */
#define PORT_PM_TMR           0x408   /* ACPI PM timer, 24-bit, 3.579545 MHz */
#define PORT_SMI_CMD          0xB2    /* SMI command port for ACPI enable/disable */
/* FADT values (src/platform/pm.c implements them): writing ACPI_ENABLE to SMI_CMD sets
 * PM1_CNT.SCI_EN, ACPI_DISABLE clears it; the DSDT's \_S5 package gives SLP_TYP = ACPI_SLP_TYP_S5,
 * and PM1a_CNT with SLP_EN and that SLP_TYP powers the VM off.  Block lengths for the FADT. */
#define ACPI_ENABLE_VALUE     0xA0
#define ACPI_DISABLE_VALUE    0xA1
#define ACPI_SLP_TYP_S5       5
#define PM1_EVT_LEN           4
#define PM1_CNT_LEN           2
#define PM_TMR_LEN            4
/* RTC CMOS century register (FADT.CENTURY). */
#define RTC_CENTURY_REG       0x32
/* The SCI is ISA IRQ 9 / GSI 9, level triggered, active high (MADT override, MP table). */
#define PORT_PCI_IO_BASE      0x2000  /* I/O BARs are allocated from here */
#define PORT_PCI_IO_BASE_TESTDEV 0x2100 /* ... or from here, above pc-testdev's IRQ ports */
#define PORT_PCI_IO_END       0x10000

/* ---- Interrupts ---- */
#define IRQ_PIT               0       /* ISA IRQ0 -> IOAPIC pin 2 (interrupt source override) */
#define IRQ_KBD               1
#define IRQ_COM2              3
#define IRQ_COM1              4
#define IRQ_RTC               8
#define IRQ_SCI               9       /* ACPI SCI, level, active low... bhyve uses 9 too */
#define IRQ_MOUSE             12
#define IOAPIC_NPINS          24
#define PCI_INTX_PIN_FIRST    16      /* PCI INTx lines are routed to IOAPIC pins 16-23 */
/* The INTx routing rule shared by the PCI bus, the DSDT's _PRT and the MP table: INTA-INTD
 * (intpin 1-4) of device `slot` on bus 0 goes to IOAPIC pin 16 + ((slot + intpin - 1) mod 8),
 * level triggered, active low as PCI defines; functions of one slot share their slot's pins.
 * The interrupt line register reads back that pin number. */
#define PCI_INTX_IOAPIC_PIN(slot, intpin) (PCI_INTX_PIN_FIRST + (((slot) + (intpin) - 1) & 7))

/* Emulated TSC and PM timer frequencies. */
#define PM_TIMER_HZ           3579545ULL

#endif
