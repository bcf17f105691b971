/* Constants of the Intel MP table (MultiProcessor Specification 1.4, chapter 4). */
#ifndef BHYVE_MPTABLE_H
#define BHYVE_MPTABLE_H

#define MP_FPS_LEN          16      /* floating pointer structure */
#define MP_HDR_LEN          44      /* configuration table header */

#define MP_ENTRY_PROCESSOR  0
#define MP_ENTRY_BUS        1
#define MP_ENTRY_IOAPIC     2
#define MP_ENTRY_IOINT      3
#define MP_ENTRY_LINT       4

#define MP_CPU_ENABLED      0x01
#define MP_CPU_BSP          0x02
#define MP_LAPIC_VERSION    0x14
#define MP_IOAPIC_VERSION   0x11
#define MP_IOAPIC_ID        0
/* CPUID.1 signature (family 6) and features (FPU, TSC, MSR, APIC, ...) for the processor
 * entries; Linux reads the real values from CPUID. */
#define MP_CPU_SIGNATURE    0x00000600u
#define MP_CPU_FEATURES     0x00000201u   /* FPU, APIC */

#define MP_BUS_PCI          0
#define MP_BUS_ISA          1

#define MP_INT_INT          0
#define MP_INT_NMI          1
#define MP_INT_SMI          2
#define MP_INT_EXTINT       3

/* Interrupt flags: polarity bits 1:0 (1 high, 3 low), trigger bits 3:2 (1 edge, 3 level). */
#define MP_FLAGS_CONFORM    0x0000
#define MP_FLAGS_LEVEL_HIGH 0x000D
#define MP_FLAGS_LEVEL_LOW  0x000F

#endif
