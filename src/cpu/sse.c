/*
 * MMX / SSE / SSE2 instructions (0F map opcodes routed by cpu_sse_select, see cpu_ext.h).
 *
 * A table gives, per mandatory prefix (none, 66, F3, F2) and opcode, the register class of
 * ModRM.reg and ModRM.rm, the memory operand size and alignment, and whether the rm operand is
 * the destination.  The handler does the architectural work -- #UD/#NM/#MF checks, #GP(0) on
 * misaligned 16-byte operands, guest memory reads and writes through the MMU, MXCSR exception
 * flags and #XM for unmasked ones, the MMX <-> x87 aliasing (TOP = 0, all tags valid, exponent
 * 0xFFFF on MMX writes) -- and lets the host unit compute the result (sse_host.h).
 * FXSAVE/FXRSTOR/LDMXCSR/STMXCSR, EMMS and MASKMOVQ/MASKMOVDQU are written out here.
 */
#include "cpu/cpu_ext.h"
#include "cpu/sse_host.h"
#include "cpu/sse_int.h"

enum { C_N = 0, C_X, C_M, C_G };
#define F_A16  0x01   /* 16-byte memory operand must be aligned */
#define F_WRM  0x02   /* rm is the destination (store form): memory is written, not read */
#define F_MO   0x04   /* memory form only */
#define F_RO   0x08   /* register form only */
#define F_IMM  0x10   /* imm8 follows */
#define F_FL   0x20   /* sets ZF/PF/CF (COMIS*, UCOMIS*) */
#define F_DIG  0x40   /* ModRM.reg is an opcode extension (0F 71-73) */
#define SZ_OSZ 0xff   /* memory size = operand size (4 or 8) */

struct sse_desc {
	uint8_t regc, rmc, msize, flags;
};

#define R(p, o, rc, mc, sz, fl) [p][o] = { C_##rc, C_##mc, sz, fl }
#define PK(p, o) R(p, o, X, X, 16, F_A16)
#define MM(o) R(0, o, M, M, 8, 0)
static const struct sse_desc sse_tab[4][256] = {
	R(0, 0x10, X, X, 16, 0), R(0, 0x11, X, X, 16, F_WRM), R(0, 0x12, X, X, 8, 0),
	R(0, 0x13, X, X, 8, F_WRM | F_MO), PK(0, 0x14), PK(0, 0x15), R(0, 0x16, X, X, 8, 0),
	R(0, 0x17, X, X, 8, F_WRM | F_MO), PK(0, 0x28), R(0, 0x29, X, X, 16, F_A16 | F_WRM),
	R(0, 0x2a, X, M, 8, 0), R(0, 0x2b, X, X, 16, F_A16 | F_WRM | F_MO),
	R(0, 0x2c, M, X, 8, 0), R(0, 0x2d, M, X, 8, 0), R(0, 0x2e, X, X, 4, F_FL),
	R(0, 0x2f, X, X, 4, F_FL), R(0, 0x50, G, X, 0, F_RO), PK(0, 0x51), PK(0, 0x52),
	PK(0, 0x53), PK(0, 0x54), PK(0, 0x55), PK(0, 0x56), PK(0, 0x57), PK(0, 0x58), PK(0, 0x59),
	R(0, 0x5a, X, X, 8, 0), PK(0, 0x5b), PK(0, 0x5c), PK(0, 0x5d), PK(0, 0x5e), PK(0, 0x5f),
	R(0, 0x60, M, M, 4, 0), R(0, 0x61, M, M, 4, 0), R(0, 0x62, M, M, 4, 0), MM(0x63), MM(0x64),
	MM(0x65), MM(0x66), MM(0x67), MM(0x68), MM(0x69), MM(0x6a), MM(0x6b),
	R(0, 0x6e, M, G, SZ_OSZ, 0), MM(0x6f), R(0, 0x70, M, M, 8, F_IMM),
	R(0, 0x71, N, M, 0, F_RO | F_IMM | F_DIG), R(0, 0x72, N, M, 0, F_RO | F_IMM | F_DIG),
	R(0, 0x73, N, M, 0, F_RO | F_IMM | F_DIG), MM(0x74), MM(0x75), MM(0x76),
	R(0, 0x7e, M, G, SZ_OSZ, F_WRM), R(0, 0x7f, M, M, 8, F_WRM),
	R(0, 0xc2, X, X, 16, F_A16 | F_IMM), R(0, 0xc3, G, G, SZ_OSZ, F_WRM | F_MO),
	R(0, 0xc4, M, G, 2, F_IMM), R(0, 0xc5, G, M, 0, F_RO | F_IMM),
	R(0, 0xc6, X, X, 16, F_A16 | F_IMM), MM(0xd1), MM(0xd2), MM(0xd3), MM(0xd4), MM(0xd5),
	R(0, 0xd7, G, M, 0, F_RO), MM(0xd8), MM(0xd9), MM(0xda), MM(0xdb), MM(0xdc), MM(0xdd),
	MM(0xde), MM(0xdf), MM(0xe0), MM(0xe1), MM(0xe2), MM(0xe3), MM(0xe4), MM(0xe5),
	R(0, 0xe7, M, M, 8, F_WRM | F_MO), MM(0xe8), MM(0xe9), MM(0xea), MM(0xeb), MM(0xec),
	MM(0xed), MM(0xee), MM(0xef), MM(0xf1), MM(0xf2), MM(0xf3), MM(0xf4), MM(0xf5), MM(0xf6),
	MM(0xf8), MM(0xf9), MM(0xfa), MM(0xfb), MM(0xfc), MM(0xfd), MM(0xfe),

	R(1, 0x10, X, X, 16, 0), R(1, 0x11, X, X, 16, F_WRM), R(1, 0x12, X, X, 8, F_MO),
	R(1, 0x13, X, X, 8, F_WRM | F_MO), PK(1, 0x14), PK(1, 0x15), R(1, 0x16, X, X, 8, F_MO),
	R(1, 0x17, X, X, 8, F_WRM | F_MO), PK(1, 0x28), R(1, 0x29, X, X, 16, F_A16 | F_WRM),
	R(1, 0x2a, X, M, 8, 0), R(1, 0x2b, X, X, 16, F_A16 | F_WRM | F_MO), R(1, 0x2c, M, X, 16, F_A16),
	R(1, 0x2d, M, X, 16, F_A16), R(1, 0x2e, X, X, 8, F_FL), R(1, 0x2f, X, X, 8, F_FL),
	R(1, 0x50, G, X, 0, F_RO), PK(1, 0x51), PK(1, 0x54), PK(1, 0x55), PK(1, 0x56), PK(1, 0x57),
	PK(1, 0x58), PK(1, 0x59), PK(1, 0x5a), PK(1, 0x5b), PK(1, 0x5c), PK(1, 0x5d), PK(1, 0x5e),
	PK(1, 0x5f), PK(1, 0x60), PK(1, 0x61), PK(1, 0x62), PK(1, 0x63), PK(1, 0x64), PK(1, 0x65),
	PK(1, 0x66), PK(1, 0x67), PK(1, 0x68), PK(1, 0x69), PK(1, 0x6a), PK(1, 0x6b), PK(1, 0x6c),
	PK(1, 0x6d), R(1, 0x6e, X, G, SZ_OSZ, 0), PK(1, 0x6f), R(1, 0x70, X, X, 16, F_A16 | F_IMM),
	R(1, 0x71, N, X, 0, F_RO | F_IMM | F_DIG), R(1, 0x72, N, X, 0, F_RO | F_IMM | F_DIG),
	R(1, 0x73, N, X, 0, F_RO | F_IMM | F_DIG), PK(1, 0x74), PK(1, 0x75), PK(1, 0x76),
	R(1, 0x7e, X, G, SZ_OSZ, F_WRM), R(1, 0x7f, X, X, 16, F_A16 | F_WRM),
	R(1, 0xc2, X, X, 16, F_A16 | F_IMM), R(1, 0xc4, X, G, 2, F_IMM), R(1, 0xc5, G, X, 0, F_RO | F_IMM),
	R(1, 0xc6, X, X, 16, F_A16 | F_IMM), PK(1, 0xd1), PK(1, 0xd2), PK(1, 0xd3), PK(1, 0xd4),
	PK(1, 0xd5), R(1, 0xd6, X, X, 8, F_WRM), R(1, 0xd7, G, X, 0, F_RO), PK(1, 0xd8), PK(1, 0xd9),
	PK(1, 0xda), PK(1, 0xdb), PK(1, 0xdc), PK(1, 0xdd), PK(1, 0xde), PK(1, 0xdf), PK(1, 0xe0),
	PK(1, 0xe1), PK(1, 0xe2), PK(1, 0xe3), PK(1, 0xe4), PK(1, 0xe5), PK(1, 0xe6),
	R(1, 0xe7, X, X, 16, F_A16 | F_WRM | F_MO), PK(1, 0xe8), PK(1, 0xe9), PK(1, 0xea),
	PK(1, 0xeb), PK(1, 0xec), PK(1, 0xed), PK(1, 0xee), PK(1, 0xef), PK(1, 0xf1), PK(1, 0xf2),
	PK(1, 0xf3), PK(1, 0xf4), PK(1, 0xf5), PK(1, 0xf6), PK(1, 0xf8), PK(1, 0xf9), PK(1, 0xfa),
	PK(1, 0xfb), PK(1, 0xfc), PK(1, 0xfd), PK(1, 0xfe),

	R(2, 0x10, X, X, 4, 0), R(2, 0x11, X, X, 4, F_WRM), R(2, 0x2a, X, G, SZ_OSZ, 0),
	R(2, 0x2c, G, X, 4, 0), R(2, 0x2d, G, X, 4, 0), R(2, 0x51, X, X, 4, 0), R(2, 0x52, X, X, 4, 0),
	R(2, 0x53, X, X, 4, 0), R(2, 0x58, X, X, 4, 0), R(2, 0x59, X, X, 4, 0), R(2, 0x5a, X, X, 4, 0),
	PK(2, 0x5b), R(2, 0x5c, X, X, 4, 0), R(2, 0x5d, X, X, 4, 0), R(2, 0x5e, X, X, 4, 0),
	R(2, 0x5f, X, X, 4, 0), R(2, 0x6f, X, X, 16, 0), R(2, 0x70, X, X, 16, F_A16 | F_IMM),
	R(2, 0x7e, X, X, 8, 0), R(2, 0x7f, X, X, 16, F_WRM), R(2, 0xc2, X, X, 4, F_IMM),
	R(2, 0xd6, X, M, 0, F_RO), R(2, 0xe6, X, X, 8, 0),

	R(3, 0x10, X, X, 8, 0), R(3, 0x11, X, X, 8, F_WRM), R(3, 0x2a, X, G, SZ_OSZ, 0),
	R(3, 0x2c, G, X, 8, 0), R(3, 0x2d, G, X, 8, 0), R(3, 0x51, X, X, 8, 0), R(3, 0x58, X, X, 8, 0),
	R(3, 0x59, X, X, 8, 0), R(3, 0x5a, X, X, 8, 0), R(3, 0x5c, X, X, 8, 0), R(3, 0x5d, X, X, 8, 0),
	R(3, 0x5e, X, X, 8, 0), R(3, 0x5f, X, X, 8, 0), R(3, 0x70, X, X, 16, F_A16 | F_IMM),
	R(3, 0xc2, X, X, 8, F_IMM), R(3, 0xd6, M, X, 0, F_RO), R(3, 0xe6, X, X, 16, F_A16),
};

static int sse_pfx_index(const struct insn *i)
{
	if (i->pfx & CPU_PFX_REP)
		return 2;
	if (i->pfx & CPU_PFX_REPNE)
		return 3;
	return (i->pfx & CPU_PFX_OPSZ) ? 1 : 0;
}

static const struct sse_desc *sse_desc_of(const struct insn *i)
{
	return &sse_tab[sse_pfx_index(i)][(uint8_t)i->op];
}

/* Per-thread context block for the stubs. */
static __thread struct sse_hctx sse_ctx;

/* The host encoding: mandatory prefix, REX.W (GPR operand size), 0F op, ModRM with reg = 0
 * (or the /digit) and rm = 1 (register) or [rdx], imm8. */
static int sse_host_insn(const struct insn *i, const struct sse_desc *d, uint8_t *b,
			 uint32_t *key)
{
	static const uint8_t pfx[4] = { 0, 0x66, 0xf3, 0xf2 };
	int n = 0, p = sse_pfx_index(i);
	bool mem = i->flags & CPU_IF_MEM;
	bool w = i->osz == 8 && (d->regc == C_G || d->rmc == C_G);
	int reg = (d->flags & F_DIG) ? (i->modrm >> 3) & 7 : 0;
	if (p)
		b[n++] = pfx[p];
	if (w)
		b[n++] = 0x48;
	b[n++] = 0x0f;
	b[n++] = (uint8_t)i->op;
	b[n++] = (uint8_t)(mem ? (reg << 3 | 2) : (0xc0 | reg << 3 | 1));
	if (d->flags & F_IMM)
		b[n++] = (uint8_t)i->imm;
	*key = (uint32_t)p | (uint32_t)(uint8_t)i->op << 2 | (uint32_t)mem << 10 |
	       (uint32_t)reg << 11 | (uint32_t)w << 14 | (uint32_t)(i->imm & 0xff) << 15 |
	       (uint32_t)((d->flags & F_IMM) != 0) << 23;
	return n;
}

/* Linear address of the memory operand (for alignment checks). */
static uint64_t sse_lin(struct cpu *c, const struct insn *i, uint64_t off, int size, int acc)
{
	return cpu_seg_lin(c, i->seg, off, size, acc);
}

static void sse_load_operand(struct cpu *c, int cls, int r, uint8_t *x, uint64_t *g, uint64_t *m)
{
	switch (cls) {
	case C_X: memcpy(x, sse_xmm(c, r), 16); break;
	case C_M: *m = sse_mm_get(c, r & 7); break;
	case C_G: *g = c->r.gpr[r]; break;
	default: break;
	}
}

/* Writes back the operand of class cls if the host changed it (only one of the two ever is). */
static void sse_store_operand(struct cpu *c, int cls, int r, const uint8_t *x, const uint8_t *x_old,
			      uint64_t g, uint64_t g_old, uint64_t m, bool m_written)
{
	switch (cls) {
	case C_X:
		if (memcmp(x, x_old, 16))
			memcpy(sse_xmm(c, r), x, 16);
		break;
	case C_M:
		if (m_written)
			sse_mm_set(c, r & 7, m);
		break;
	case C_G:
		if (g != g_old)
			c->r.gpr[r] = g;
		break;
	default:
		break;
	}
}

static void sse_checks(struct cpu *c, const struct sse_desc *d, bool mem)
{
	bool mmx = d->regc == C_M || (d->rmc == C_M && !mem);
	bool xmm = d->regc == C_X || d->rmc == C_X;
	if (xmm)
		cpu_sse_check(c);
	if (mmx || (d->rmc == C_M && mem))
		sse_mmx_check(c);
}

#define SSE_MX_UE  0x0010
#define SSE_MX_UM  0x0800
#define SSE_MX_FTZ 0x8000

/* Unmasked underflow is signalled for any tiny result, exact or not; the host ran with
 * underflow masked, where only tiny *and* inexact results raise UE.  Detect the exact tiny
 * (denormal) results of the operations that can underflow: ADD, MUL, SUB, DIV, and the
 * narrowing CVTPD2PS / CVTSD2SS. */
static bool sse_tiny_result(const struct insn *i, const uint8_t *x)
{
	uint8_t op = (uint8_t)i->op;
	int p = sse_pfx_index(i);
	bool narrow = op == 0x5a && (p == 1 || p == 3);
	if (op != 0x58 && op != 0x59 && op != 0x5c && op != 0x5e && !narrow)
		return false;
	bool f32 = narrow || p == 0 || p == 2;
	int lanes = narrow ? (p == 1 ? 2 : 1) : (p == 0 ? 4 : p == 1 ? 2 : 1);
	for (int k = 0; k < lanes; k++) {
		if (f32) {
			uint32_t v;
			memcpy(&v, x + 4 * k, 4);
			if ((v & 0x7f800000u) == 0 && (v & 0x7fffffu))
				return true;
		} else {
			uint64_t v;
			memcpy(&v, x + 8 * k, 8);
			if ((v & 0x7ff0000000000000ull) == 0 && (v & 0xfffffffffffffull))
				return true;
		}
	}
	return false;
}

static int sse_exec(struct cpu *c, const struct insn *i)
{
	const struct sse_desc *d = sse_desc_of(i);
	bool mem = i->flags & CPU_IF_MEM;
	struct sse_hctx *h = &sse_ctx;
	sse_checks(c, d, mem);

	int msize = d->msize == SZ_OSZ ? (i->osz == 8 ? 8 : 4) : d->msize;
	uint64_t off = 0;
	uint8_t x0[16], x1[16];
	uint64_t rax = 0, rcx = 0, mm0 = 0, mm1 = 0;
	memset(x0, 0, 16);
	memset(x1, 0, 16);
	sse_load_operand(c, d->regc, i->reg, x0, &rax, &mm0);
	if (!mem) {
		sse_load_operand(c, d->rmc, i->rm, x1, &rcx, &mm1);
	} else {
		off = cpu_ea(c, i);
		if ((d->flags & F_A16) &&
		    (sse_lin(c, i, off, msize, (d->flags & F_WRM) ? CPU_ACC_W : CPU_ACC_R) & 15))
			cpu_raise_gp(c, 0);
		if (!(d->flags & F_WRM))
			cpu_rd_buf(c, i->seg, off, h->mem, (size_t)msize);
	}
	memcpy(h->x0, x0, 16);
	memcpy(h->x1, x1, 16);
	h->rax = rax;
	h->rcx = rcx;
	h->mm0 = mm0;
	h->mm1 = mm1;
	uint32_t gmx = sse_mxcsr(c);
	h->mxcsr = (gmx & ~0x3fu) | 0x1f80;
	if (!(gmx & SSE_MX_UM))
		h->mxcsr &= ~SSE_MX_FTZ;          /* FTZ only applies to masked underflow */

	uint8_t code[16];
	uint32_t key;
	int n = sse_host_insn(i, d, code, &key);
	bool mmx = d->regc == C_M || d->rmc == C_M;
	sse_stub_fn fn = sse_stub_get(key, mmx ? SSE_STUB_MMX : SSE_STUB_SIMD, code, n);
	if (!fn)
		cpu_abort_exit(c, CPU_EXIT_INVALID, "sse: out of stub memory");
	fn(h);

	uint32_t raised = h->mxcsr & 0x3f;
	if (!(gmx & SSE_MX_UM) && sse_tiny_result(i, h->x0))
		raised |= SSE_MX_UE;
	if (raised & ~(gmx >> 7) & 0x3f) {
		sse_set_mxcsr(c, gmx | raised);
		if (c->r.cr4 & CPU_CR4_OSXMMEXCPT)
			cpu_raise(c, CPU_EXC_XM, false, 0);
		cpu_raise_ud(c);
	}
	if (mem && (d->flags & F_WRM))
		cpu_wr_buf(c, i->seg, off, h->mem, (size_t)msize);
	sse_set_mxcsr(c, gmx | raised);
	if (d->regc == C_M || (d->rmc == C_M && !mem))
		sse_mmx_transition(c);
	bool wrm = d->flags & F_WRM;
	sse_store_operand(c, d->regc, i->reg, h->x0, x0, h->rax, rax, h->mm0, !wrm);
	if (!mem)
		sse_store_operand(c, d->rmc, i->rm, h->x1, x1, h->rcx, rcx, h->mm1,
				  wrm || (d->flags & F_DIG));
	if (d->flags & F_FL)
		cpu_set_status(c, (uint32_t)h->rflags & (CPU_ZF | CPU_PF | CPU_CF));
	return CPU_H_NEXT;
}

/* ---- instructions written out ---- */

static int sse_emms(struct cpu *c, const struct insn *i)
{
	(void)i;
	sse_mmx_check(c);
	sse_mmx_transition(c);         /* TOP = 0 ... */
	c->r.fx.bytes[4] = 0;          /* ... and all tags empty */
	return CPU_H_NEXT;
}

/* MASKMOVQ / MASKMOVDQU: byte-masked store of reg to DS:rDI (segment overridable). */
static int sse_maskmov(struct cpu *c, const struct insn *i)
{
	bool x = i->pfx & CPU_PFX_OPSZ;
	uint8_t data[16], mask[16];
	if (x) {
		cpu_sse_check(c);
		memcpy(data, sse_xmm(c, i->reg), 16);
		memcpy(mask, sse_xmm(c, i->rm), 16);
	} else {
		sse_mmx_check(c);
		uint64_t d = sse_mm_get(c, i->reg & 7), m = sse_mm_get(c, i->rm & 7);
		memcpy(data, &d, 8);
		memcpy(mask, &m, 8);
	}
	int n = x ? 16 : 8;
	uint64_t base = c->r.gpr[CPU_RDI] & cpu_size_mask(i->asz);
	int seg = (i->pfx & CPU_PFX_SEG) ? i->seg : CPU_DS;
	for (int k = 0; k < n; k++)
		if (mask[k] & 0x80)
			cpu_wr(c, seg, (base + (uint64_t)k) & cpu_size_mask(i->asz), 1, data[k]);
	if (!x)
		sse_mmx_transition(c);
	return CPU_H_NEXT;
}

cpu_handler_fn cpu_sse_select(const struct insn *i)
{
	uint8_t op = (uint8_t)i->op;
	bool mem = i->flags & CPU_IF_MEM;
	if ((i->op >> 8) != 1 || (i->pfx & CPU_PFX_LOCK))
		return NULL;
	if (op == 0xae)
		return sse_state_select(i);
	int p = sse_pfx_index(i);
	if (op == 0x77 && p == 0)
		return sse_emms;
	if (op == 0xf7 && p <= 1)
		return mem ? NULL : sse_maskmov;
	const struct sse_desc *d = &sse_tab[p][op];
	if (d->regc == C_N && d->rmc == C_N)
		return NULL;
	if ((d->flags & F_MO) && !mem)
		return NULL;
	if ((d->flags & F_RO) && mem)
		return NULL;
	if (d->flags & F_DIG) {
		int g = (i->modrm >> 3) & 7;
		bool ok = g == 2 || g == 4 || g == 6 || (op == 0x73 && p == 1 && (g == 3 || g == 7));
		if (!ok || (op == 0x73 && g == 4))
			return NULL;
	}
	return sse_exec;
}
