/*
 * 0F AE /0-/3: FXSAVE, FXRSTOR, LDMXCSR, STMXCSR (64-bit mode: REX.W selects the 64-bit
 * FXSAVE64 layout of FIP/FDP; outside 64-bit mode only XMM0-7 are saved).
 */
#include "cpu/sse_int.h"

#define SSE_FX_SAVED 416   /* bytes 416-511 are reserved / available to software: untouched */

static uint64_t sse_state_addr(struct cpu *c, const struct insn *i, int acc)
{
	uint64_t off = cpu_ea(c, i);
	if (cpu_seg_lin(c, i->seg, off, 16, acc) & 15)
		cpu_raise_gp(c, 0);
	return off;
}

static int sse_fxsave(struct cpu *c, const struct insn *i)
{
	cpu_fpu_check(c);
	uint64_t off = sse_state_addr(c, i, CPU_ACC_W);
	uint8_t img[SSE_FX_SAVED];
	memcpy(img, c->r.fx.bytes, sizeof(img));
	uint32_t mask = SSE_MXCSR_MASK;
	memcpy(img + SSE_FX_MXMASK, &mask, 4);
	if (!(i->rex & 8)) {                   /* 32-bit layout: FIP, FCS, FDP, FDS */
		memset(img + 12, 0, 4);
		memset(img + 20, 0, 4);
	}
	size_t n = i->mode == 64 ? SSE_FX_SAVED : SSE_FX_XMM + 8 * 16;
	cpu_wr_buf(c, i->seg, off, img, n);
	return CPU_H_NEXT;
}

static int sse_fxrstor(struct cpu *c, const struct insn *i)
{
	cpu_fpu_check(c);
	uint64_t off = sse_state_addr(c, i, CPU_ACC_R);
	uint8_t img[SSE_FX_SAVED];
	size_t n = i->mode == 64 ? SSE_FX_SAVED : SSE_FX_XMM + 8 * 16;
	cpu_rd_buf(c, i->seg, off, img, n);
	uint32_t mx;
	memcpy(&mx, img + SSE_FX_MXCSR, 4);
	if (mx & ~SSE_MXCSR_MASK)
		cpu_raise_gp(c, 0);
	if (!(i->rex & 8)) {
		memset(img + 12, 0, 4);
		memset(img + 20, 0, 4);
	}
	/* FCW: reserved bits 13-15 read 0, bit 6 reads 1.  FSW.ES (and FSW.B, its mirror) are
	 * recomputed from the exception flags and masks. */
	uint16_t fsw, fcw;
	memcpy(&fcw, img, 2);
	memcpy(&fsw, img + 2, 2);
	fcw = (uint16_t)((fcw & 0x1f3f) | 0x40);
	uint16_t es = (fsw & ~fcw & 0x3f) ? 0x8080 : 0;
	fsw = (uint16_t)((fsw & 0x7f7f) | es);
	memcpy(img, &fcw, 2);
	memcpy(img + 2, &fsw, 2);
	memcpy(c->r.fx.bytes, img, SSE_FX_MXMASK);          /* FCW .. MXCSR */
	c->r.fx.bytes[5] = 0;
	memcpy(c->r.fx.bytes + SSE_FX_ST, img + SSE_FX_ST, n - SSE_FX_ST);
	return CPU_H_NEXT;
}

static int sse_ldmxcsr(struct cpu *c, const struct insn *i)
{
	cpu_sse_check(c);
	uint32_t v = (uint32_t)cpu_rd(c, i->seg, cpu_ea(c, i), 4);
	if (v & ~SSE_MXCSR_MASK)
		cpu_raise_gp(c, 0);
	sse_set_mxcsr(c, v);
	return CPU_H_NEXT;
}

static int sse_stmxcsr(struct cpu *c, const struct insn *i)
{
	cpu_sse_check(c);
	cpu_wr(c, i->seg, cpu_ea(c, i), 4, sse_mxcsr(c));
	return CPU_H_NEXT;
}

cpu_handler_fn sse_state_select(const struct insn *i)
{
	if (!(i->flags & CPU_IF_MEM))
		return NULL;
	switch ((i->modrm >> 3) & 7) {
	case 0: return sse_fxsave;
	case 1: return sse_fxrstor;
	case 2: return sse_ldmxcsr;
	case 3: return sse_stmxcsr;
	default: return NULL;
	}
}
