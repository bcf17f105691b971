/* Segmentation, far transfers and IRET (cpu_seg.c); task/descriptor helpers. */
#ifndef BHYVE_CPU_SEG_H
#define BHYVE_CPU_SEG_H

#include "cpu/cpu_internal.h"

void cpu_desc_to_seg(uint64_t d, uint64_t dhi, uint16_t sel, struct cpu_segment *s);
uint64_t cpu_read_desc(struct cpu *c, uint16_t sel, int vec, uint64_t *addr);
void cpu_desc_set_accessed(struct cpu *c, uint64_t addr, uint64_t d);
void cpu_set_cs(struct cpu *c, uint64_t d, uint64_t addr, uint16_t sel, int cpl);
void cpu_far_transfer(struct cpu *c, uint16_t sel, uint64_t off, int osz, bool call,
		      uint64_t ret_ip);
void cpu_far_ret(struct cpu *c, int osz, uint16_t imm);
void cpu_iret(struct cpu *c, int osz);
void cpu_seg_fix_dpl(struct cpu *c);
void cpu_check_code_limit(struct cpu *c, uint64_t d, uint64_t ip);

#endif
