/* Helpers shared by the x87 / MMX / SSE files (sse*.c, fpu*.c): access to the FXSAVE-layout
 * state in c->r.fx and the MMX <-> x87 aliasing rules. */
#ifndef BHYVE_SSE_INT_H
#define BHYVE_SSE_INT_H

#include "cpu/cpu_ext.h"

#define SSE_FX_FCW   0
#define SSE_FX_FSW   2
#define SSE_FX_FTW   4
#define SSE_FX_FOP   6
#define SSE_FX_FIP   8
#define SSE_FX_FDP   16
#define SSE_FX_MXCSR 24
#define SSE_FX_MXMASK 28
#define SSE_FX_ST    32
#define SSE_FX_XMM   160
#define SSE_MXCSR_MASK 0xffffu   /* MXCSR bits this CPU implements (DAZ included) */

static inline uint8_t *sse_xmm(struct cpu *c, int r) { return c->r.fx.bytes + SSE_FX_XMM + 16 * r; }

static inline uint16_t sse_get16(struct cpu *c, int off)
{
	uint16_t v;
	memcpy(&v, c->r.fx.bytes + off, 2);
	return v;
}

static inline void sse_put16(struct cpu *c, int off, uint16_t v) { memcpy(c->r.fx.bytes + off, &v, 2); }

static inline uint32_t sse_mxcsr(struct cpu *c)
{
	uint32_t v;
	memcpy(&v, c->r.fx.bytes + SSE_FX_MXCSR, 4);
	return v;
}

static inline void sse_set_mxcsr(struct cpu *c, uint32_t v) { memcpy(c->r.fx.bytes + SSE_FX_MXCSR, &v, 4); }

static inline int sse_top(struct cpu *c) { return (sse_get16(c, SSE_FX_FSW) >> 11) & 7; }

/* MMX register k is physical x87 register k, stored (FXSAVE order) in slot ST((k - TOP) & 7). */
static inline uint64_t sse_mm_get(struct cpu *c, int k)
{
	uint64_t v;
	memcpy(&v, c->r.fx.bytes + SSE_FX_ST + 16 * ((k - sse_top(c)) & 7), 8);
	return v;
}

/* An MMX write also sets the register's exponent/sign field to all ones. */
static inline void sse_mm_set(struct cpu *c, int k, uint64_t v)
{
	uint8_t *p = c->r.fx.bytes + SSE_FX_ST + 16 * ((k - sse_top(c)) & 7);
	memcpy(p, &v, 8);
	p[8] = p[9] = 0xff;
}

/* Executing an MMX instruction: TOP = 0 and every tag valid.  The slots are renumbered so
 * that ST(i) is still the physical register TOP + i. */
static inline void sse_mmx_transition(struct cpu *c)
{
	int top = sse_top(c);
	if (top) {
		uint8_t old[128];
		memcpy(old, c->r.fx.bytes + SSE_FX_ST, 128);
		for (int k = 0; k < 8; k++)
			memcpy(c->r.fx.bytes + SSE_FX_ST + 16 * k, old + 16 * ((k - top) & 7), 16);
		sse_put16(c, SSE_FX_FSW, (uint16_t)(sse_get16(c, SSE_FX_FSW) & ~0x3800));
	}
	c->r.fx.bytes[SSE_FX_FTW] = 0xff;
}

/* An x87 exception is pending when FSW.ES is set (or a flagged exception is unmasked). */
static inline bool sse_x87_pending(struct cpu *c)
{
	uint16_t fsw = sse_get16(c, SSE_FX_FSW), fcw = sse_get16(c, SSE_FX_FCW);
	return (fsw & 0x80) || (fsw & ~fcw & 0x3f);
}

/* MMX instructions: #UD with CR0.EM, #NM with CR0.TS, #MF with a pending x87 exception. */
static inline void sse_mmx_check(struct cpu *c)
{
	if (c->r.cr0 & CPU_CR0_EM)
		cpu_raise_ud(c);
	if (c->r.cr0 & CPU_CR0_TS)
		cpu_raise_nm(c);
	if (sse_x87_pending(c))
		cpu_raise(c, CPU_EXC_MF, false, 0);
}

cpu_handler_fn sse_state_select(const struct insn *i);

#endif
