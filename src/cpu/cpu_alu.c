/*
 * Integer arithmetic and logic: ADD/OR/ADC/SBB/AND/SUB/XOR/CMP/TEST (specialised per operand
 * size and register/memory form, LOCK via host atomics), INC/DEC/NEG/NOT, shifts and rotates,
 * SHLD/SHRD, MUL/IMUL/DIV/IDIV, BT/BTS/BTR/BTC, BSF/BSR, XADD, CMPXCHG, CMPXCHG8B/16B, XCHG,
 * BCD adjust instructions.
 */
#include "cpu/cpu_ops.h"

/* ---- the eight classic ALU operations ---- */

enum { OP_ADD, OP_OR, OP_ADC, OP_SBB, OP_AND, OP_SUB, OP_XOR, OP_CMP };

static inline __attribute__((always_inline))
uint64_t alu(struct cpu *c, int op, int size, uint64_t a, uint64_t b)
{
	uint64_t r, cf;
	switch (op) {
	case OP_ADD: r = a + b; set_lf(c, CPU_LF_ADD, size, a, b, r); return r;
	case OP_OR: r = a | b; set_lf(c, CPU_LF_LOGIC, size, a, b, r); return r;
	case OP_ADC:
		cf = get_cf(c);
		r = a + b + cf;
		c->lf_cf = cf;
		set_lf(c, CPU_LF_ADC, size, a, b, r);
		return r;
	case OP_SBB:
		cf = get_cf(c);
		r = a - b - cf;
		c->lf_cf = cf;
		set_lf(c, CPU_LF_SBB, size, a, b, r);
		return r;
	case OP_AND: r = a & b; set_lf(c, CPU_LF_LOGIC, size, a, b, r); return r;
	case OP_XOR: r = a ^ b; set_lf(c, CPU_LF_LOGIC, size, a, b, r); return r;
	default: r = a - b; set_lf(c, CPU_LF_SUB, size, a, b, r); return r;
	}
}

/* RMW on memory: atomic when LOCKed and the operand is in RAM within one page. */
static inline __attribute__((always_inline))
void alu_mem(struct cpu *c, const struct insn *i, int op, int size, uint64_t b)
{
	uint64_t off = cpu_ea(c, i);
	if (op == OP_CMP) {
		alu(c, op, size, cpu_rd(c, i->seg, off, size), b);
		return;
	}
	void *p = cpu_ptr_rmw_fast(c, i->seg, off, size);
	if (!p) {
		uint64_t a = cpu_rd(c, i->seg, off, size);
		cpu_wr(c, i->seg, off, size, alu(c, op, size, a, b));
		return;
	}
	if (i->pfx & CPU_PFX_LOCK) {
		uint64_t a = ld_host(p, size);
		while (!cas_host(p, size, &a, alu(c, op, size, a, b)))
			;
		return;
	}
	st_host(p, size, alu(c, op, size, ld_host(p, size), b));
}

#define ALU_FORMS(OP, SZ)                                                                   \
H(alu_##OP##_##SZ##_mr_r) {                                                                 \
	uint64_t r = alu(c, OP, SZ, cpu_get_reg(c, i->rm, SZ), cpu_get_reg(c, i->reg, SZ)); \
	if (OP != OP_CMP) cpu_set_reg(c, i->rm, SZ, r);                                     \
	NEXT;                                                                               \
}                                                                                           \
H(alu_##OP##_##SZ##_mr_m) { alu_mem(c, i, OP, SZ, cpu_get_reg(c, i->reg, SZ)); NEXT; }      \
H(alu_##OP##_##SZ##_rm_m) {                                                                 \
	uint64_t b = cpu_rd(c, i->seg, cpu_ea(c, i), SZ);                                   \
	uint64_t r = alu(c, OP, SZ, cpu_get_reg(c, i->reg, SZ), b);                         \
	if (OP != OP_CMP) cpu_set_reg(c, i->reg, SZ, r);                                    \
	NEXT;                                                                               \
}                                                                                           \
H(alu_##OP##_##SZ##_mi_r) {                                                                 \
	uint64_t r = alu(c, OP, SZ, cpu_get_reg(c, i->rm, SZ), i->imm);                     \
	if (OP != OP_CMP) cpu_set_reg(c, i->rm, SZ, r);                                     \
	NEXT;                                                                               \
}                                                                                           \
H(alu_##OP##_##SZ##_mi_m) { alu_mem(c, i, OP, SZ, i->imm); NEXT; }

#define ALU_SIZES(OP) ALU_FORMS(OP, 1) ALU_FORMS(OP, 2) ALU_FORMS(OP, 4) ALU_FORMS(OP, 8)
ALU_SIZES(OP_ADD) ALU_SIZES(OP_OR) ALU_SIZES(OP_ADC) ALU_SIZES(OP_SBB)
ALU_SIZES(OP_AND) ALU_SIZES(OP_SUB) ALU_SIZES(OP_XOR) ALU_SIZES(OP_CMP)

#define ALU_ROW(OP, F) { alu_##OP##_1_##F, alu_##OP##_2_##F, alu_##OP##_4_##F, alu_##OP##_8_##F }
#define ALU_TABLE(F) { ALU_ROW(OP_ADD, F), ALU_ROW(OP_OR, F), ALU_ROW(OP_ADC, F), \
	ALU_ROW(OP_SBB, F), ALU_ROW(OP_AND, F), ALU_ROW(OP_SUB, F), ALU_ROW(OP_XOR, F), \
	ALU_ROW(OP_CMP, F) }
static const cpu_handler_fn alu_mr_r[8][4] = ALU_TABLE(mr_r);
static const cpu_handler_fn alu_mr_m[8][4] = ALU_TABLE(mr_m);
static const cpu_handler_fn alu_rm_m[8][4] = ALU_TABLE(rm_m);
static const cpu_handler_fn alu_mi_r[8][4] = ALU_TABLE(mi_r);
static const cpu_handler_fn alu_mi_m[8][4] = ALU_TABLE(mi_m);

static int size_idx(int size)
{
	return size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
}

/* ---- TEST ---- */
H(test_r) { uint64_t a = rd_rm(c, i, i->osz), b = cpu_get_reg(c, i->reg, i->osz);
	set_lf(c, CPU_LF_LOGIC, i->osz, a, b, a & b); NEXT; }
H(test_acc) { uint64_t a = cpu_get_reg(c, CPU_RAX, i->osz);
	set_lf(c, CPU_LF_LOGIC, i->osz, a, i->imm, a & i->imm); NEXT; }

/* TEST r, r / TEST r, imm with 32/64-bit register operands */
#define TEST_FAST(SZ)                                                                        \
H(test_rr_##SZ) { uint64_t a = cpu_get_reg(c, i->rm, SZ), b = cpu_get_reg(c, i->reg, SZ);      \
	set_lf(c, CPU_LF_LOGIC, SZ, a, b, a & b); NEXT; }                                        \
H(test_ri_##SZ) { uint64_t a = cpu_get_reg(c, i->rm, SZ);                                    \
	set_lf(c, CPU_LF_LOGIC, SZ, a, i->imm, a & i->imm); NEXT; }
TEST_FAST(4) TEST_FAST(8)
/* TEST r8, imm8 (legacy AH..BH included through cpu_get_reg) */
H(test_ri_1) { uint64_t a = cpu_get_reg(c, i->rm, 1);
	set_lf(c, CPU_LF_LOGIC, 1, a, i->imm, a & i->imm); NEXT; }

/* ---- accumulator, immediate (04, 0C, ...) ---- */
H(alu_acc) {
	int op = (i->op >> 3) & 7;
	uint64_t a = cpu_get_reg(c, CPU_RAX, i->osz), r;
	switch (op) {
	case OP_ADD: r = alu(c, OP_ADD, i->osz, a, i->imm); break;
	case OP_OR: r = alu(c, OP_OR, i->osz, a, i->imm); break;
	case OP_ADC: r = alu(c, OP_ADC, i->osz, a, i->imm); break;
	case OP_SBB: r = alu(c, OP_SBB, i->osz, a, i->imm); break;
	case OP_AND: r = alu(c, OP_AND, i->osz, a, i->imm); break;
	case OP_SUB: r = alu(c, OP_SUB, i->osz, a, i->imm); break;
	case OP_XOR: r = alu(c, OP_XOR, i->osz, a, i->imm); break;
	default: alu(c, OP_CMP, i->osz, a, i->imm); NEXT;
	}
	cpu_set_reg(c, CPU_RAX, i->osz, r);
	NEXT;
}

/* ---- INC / DEC / NEG / NOT ---- */

static inline __attribute__((always_inline))
void incdec_flags(struct cpu *c, bool dec, int size, uint64_t a, uint64_t r)
{
	c->lf_cf = get_cf(c);
	set_lf(c, dec ? CPU_LF_DEC : CPU_LF_INC, size, a, 1, r);
}

static uint64_t unop(struct cpu *c, int kind, int size, uint64_t a)
{
	switch (kind) {
	case 0: incdec_flags(c, false, size, a, a + 1); return a + 1;
	case 1: incdec_flags(c, true, size, a, a - 1); return a - 1;
	case 2: return ~a;
	default: set_lf(c, CPU_LF_NEG, size, 0, a, -a); return -a;
	}
}

static void unop_rm(struct cpu *c, const struct insn *i, int kind)
{
	int sz = i->osz;
	if (!(i->flags & CPU_IF_MEM)) {
		cpu_set_reg(c, i->rm, sz, unop(c, kind, sz, cpu_get_reg(c, i->rm, sz)));
		return;
	}
	uint64_t off = cpu_ea(c, i);
	void *p = cpu_ptr_rmw_fast(c, i->seg, off, sz);
	if (!p) {
		uint64_t a = cpu_rd(c, i->seg, off, sz);
		cpu_wr(c, i->seg, off, sz, unop(c, kind, sz, a));
	} else if (i->pfx & CPU_PFX_LOCK) {
		uint64_t a = ld_host(p, sz);
		uint32_t cf = get_cf(c);
		for (;;) {
			uint64_t exp = a;
			c->lf_op = CPU_LF_NONE;
			c->r.rflags = (c->r.rflags & ~1ull) | cf;
			if (cas_host(p, sz, &exp, unop(c, kind, sz, a)))
				break;
			a = exp;
		}
	} else {
		st_host(p, sz, unop(c, kind, sz, ld_host(p, sz)));
	}
}

H(inc_rm) { unop_rm(c, i, 0); NEXT; }
H(dec_rm) { unop_rm(c, i, 1); NEXT; }
H(inc_reg) { uint64_t a = cpu_get_reg(c, i->rm, i->osz); incdec_flags(c, false, i->osz, a, a + 1);
	cpu_set_reg(c, i->rm, i->osz, a + 1); NEXT; }
H(dec_reg) { uint64_t a = cpu_get_reg(c, i->rm, i->osz); incdec_flags(c, true, i->osz, a, a - 1);
	cpu_set_reg(c, i->rm, i->osz, a - 1); NEXT; }
/* INC/DEC on a 32/64-bit register */
#define INCDEC_FAST(SZ)                                                                      \
H(inc_reg_##SZ) { uint64_t a = cpu_get_reg(c, i->rm, SZ); incdec_flags(c, false, SZ, a, a + 1); \
	cpu_set_reg(c, i->rm, SZ, a + 1); NEXT; }                                                \
H(dec_reg_##SZ) { uint64_t a = cpu_get_reg(c, i->rm, SZ); incdec_flags(c, true, SZ, a, a - 1);  \
	cpu_set_reg(c, i->rm, SZ, a - 1); NEXT; }
INCDEC_FAST(4) INCDEC_FAST(8)
H(inc_r32) { uint64_t a = cpu_get_reg(c, i->reg, i->osz); incdec_flags(c, false, i->osz, a, a + 1);
	cpu_set_reg(c, i->reg, i->osz, a + 1); NEXT; }
H(dec_r32) { uint64_t a = cpu_get_reg(c, i->reg, i->osz); incdec_flags(c, true, i->osz, a, a - 1);
	cpu_set_reg(c, i->reg, i->osz, a - 1); NEXT; }

/* ---- shifts and rotates ---- */

static uint64_t do_shift(struct cpu *c, int kind, int size, uint64_t a, unsigned cnt)
{
	int bits = size * 8;
	uint64_t m = cpu_size_mask(size), r = a;
	uint32_t f, cf, of;
	cnt &= size == 8 ? 63 : 31;
	if (!cnt)
		return a;
	a &= m;
	switch (kind) {
	case 0: { /* ROL */
		unsigned n = cnt % bits;
		r = n ? ((a << n) | (a >> (bits - n))) & m : a;
		cf = r & 1;
		of = (uint32_t)msb(r, size) ^ cf;
		set_flags(c, (cf ? CPU_CF : 0) | (of ? CPU_OF : 0), CPU_CF | CPU_OF);
		return r;
	}
	case 1: { /* ROR */
		unsigned n = cnt % bits;
		r = n ? ((a >> n) | (a << (bits - n))) & m : a;
		cf = (uint32_t)msb(r, size);
		of = cf ^ (uint32_t)((r >> (bits - 2)) & 1);
		set_flags(c, (cf ? CPU_CF : 0) | (of ? CPU_OF : 0), CPU_CF | CPU_OF);
		return r;
	}
	case 2: case 3: { /* RCL, RCR */
		unsigned n = size < 4 ? cnt % (bits + 1) : cnt;
		unsigned __int128 t = ((unsigned __int128)get_cf(c) << bits) | a, mm;
		mm = ((unsigned __int128)1 << (bits + 1)) - 1;
		if (n) {
			if (kind == 2)
				t = ((t << n) | (t >> (bits + 1 - n))) & mm;
			else
				t = ((t >> n) | (t << (bits + 1 - n))) & mm;
		}
		r = (uint64_t)t & m;
		cf = (uint32_t)(t >> bits) & 1;
		if (kind == 2)
			of = (uint32_t)msb(r, size) ^ cf;
		else
			of = (uint32_t)(msb(r, size) ^ ((r >> (bits - 2)) & 1));
		set_flags(c, (cf ? CPU_CF : 0) | (of ? CPU_OF : 0), CPU_CF | CPU_OF);
		return r;
	}
	case 4: case 6: /* SHL/SAL */
		if (cnt < (unsigned)bits) {
			r = (a << cnt) & m;
			set_lf(c, CPU_LF_SHL, size, a, cnt, r);
			return r;
		}
		r = cnt < 64 ? (a << cnt) & m : 0;
		cf = cnt <= (unsigned)bits ? (uint32_t)(a >> (bits - cnt)) & 1 : 0;
		of = (uint32_t)msb(r, size) ^ cf;
		break;
	case 5: /* SHR */
		if (cnt < (unsigned)bits) {
			r = a >> cnt;
			set_lf(c, CPU_LF_SHR, size, a, cnt, r);
			return r;
		}
		r = cnt < 64 ? a >> cnt : 0;
		cf = cnt <= (unsigned)bits ? (uint32_t)(a >> (cnt - 1)) & 1 : 0;
		of = (uint32_t)msb(a, size);
		break;
	default: { /* SAR */
		int64_t s = (int64_t)sx(a, size);
		if (cnt < (unsigned)bits) {
			r = (uint64_t)(s >> cnt) & m;
			set_lf(c, CPU_LF_SAR, size, a, cnt, r);
			return r;
		}
		r = (uint64_t)(s >> (cnt > 63 ? 63 : cnt)) & m;
		cf = (uint32_t)(s >> (cnt - 1 > 63 ? 63 : cnt - 1)) & 1;
		of = 0;
		break;
	}
	}
	f = szp_flags(r, size) | (cf ? CPU_CF : 0) | (of ? CPU_OF : 0);
	set_flags(c, f, CPU_STATUS_FLAGS);
	return r;
}

static void shift_rm(struct cpu *c, const struct insn *i, unsigned cnt)
{
	int kind = (i->modrm >> 3) & 7, sz = i->osz;
	if (!(i->flags & CPU_IF_MEM)) {
		cpu_set_reg(c, i->rm, sz, do_shift(c, kind, sz, cpu_get_reg(c, i->rm, sz), cnt));
		return;
	}
	uint64_t off = cpu_ea(c, i);
	uint64_t a = cpu_rd(c, i->seg, off, sz);
	uint64_t r = do_shift(c, kind, sz, a, cnt);
	cpu_wr(c, i->seg, off, sz, r);
}

H(shift_1) { shift_rm(c, i, 1); NEXT; }
H(shift_cl) { shift_rm(c, i, (unsigned)c->r.gpr[CPU_RCX] & 0xff); NEXT; }
H(shift_imm) { shift_rm(c, i, (unsigned)i->imm & 0xff); NEXT; }

/* SHL reg, imm fast path */
H(shl_r_imm) {
	unsigned cnt = (unsigned)i->imm & (i->osz == 8 ? 63 : 31);
	if (cnt && cnt < (unsigned)i->osz * 8 && i->osz >= 4) {
		uint64_t a = cpu_get_reg(c, i->rm, i->osz), m = cpu_size_mask(i->osz);
		uint64_t r = (a << cnt) & m;
		set_lf(c, CPU_LF_SHL, i->osz, a, cnt, r);
		cpu_set_reg(c, i->rm, i->osz, r);
		NEXT;
	}
	shift_rm(c, i, (unsigned)i->imm & 0xff);
	NEXT;
}

/* SHL/SHR/SAR on a 32/64-bit register: the count is masked to 5/6 bits, so it is below the
 * operand width; a zero count leaves the flags alone (the 32-bit form still zero-extends). */
static inline __attribute__((always_inline))
void sh_reg(struct cpu *c, const struct insn *i, int kind, int sz, unsigned cnt)
{
	uint64_t m = cpu_size_mask(sz), a = c->r.gpr[i->rm] & m, r = a;
	cnt &= sz == 8 ? 63 : 31;
	if (cnt) {
		switch (kind) {
		case 4: r = (a << cnt) & m; set_lf(c, CPU_LF_SHL, sz, a, cnt, r); break;
		case 5: r = a >> cnt; set_lf(c, CPU_LF_SHR, sz, a, cnt, r); break;
		default:
			r = (uint64_t)((int64_t)sx(a, sz) >> cnt) & m;
			set_lf(c, CPU_LF_SAR, sz, a, cnt, r);
			break;
		}
	}
	c->r.gpr[i->rm] = r;
}
#define SH_REG(K, SZ)                                                                        \
H(sh_##K##_##SZ##_i) { sh_reg(c, i, K, SZ, (unsigned)i->imm); NEXT; }                        \
H(sh_##K##_##SZ##_cl) { sh_reg(c, i, K, SZ, (unsigned)c->r.gpr[CPU_RCX]); NEXT; }            \
H(sh_##K##_##SZ##_1) { sh_reg(c, i, K, SZ, 1); NEXT; }
SH_REG(4, 4) SH_REG(4, 8) SH_REG(5, 4) SH_REG(5, 8) SH_REG(7, 4) SH_REG(7, 8)
/* [SHL, SHR, SAR][size 4, 8][count: imm8, CL, 1] */
static const cpu_handler_fn sh_reg_tab[3][2][3] = {
	{ { sh_4_4_i, sh_4_4_cl, sh_4_4_1 }, { sh_4_8_i, sh_4_8_cl, sh_4_8_1 } },
	{ { sh_5_4_i, sh_5_4_cl, sh_5_4_1 }, { sh_5_8_i, sh_5_8_cl, sh_5_8_1 } },
	{ { sh_7_4_i, sh_7_4_cl, sh_7_4_1 }, { sh_7_8_i, sh_7_8_cl, sh_7_8_1 } },
};

/* ROL/ROR on a 32/64-bit register (the masked count is below the width). */
static inline __attribute__((always_inline))
void rot_reg(struct cpu *c, const struct insn *i, bool right, int sz, unsigned cnt)
{
	int bits = sz * 8;
	uint64_t m = cpu_size_mask(sz), a = c->r.gpr[i->rm] & m, r = a;
	cnt &= sz == 8 ? 63 : 31;
	if (cnt) {
		uint32_t cf, of;
		if (right) {
			r = ((a >> cnt) | (a << (bits - cnt))) & m;
			cf = (uint32_t)msb(r, sz);
			of = cf ^ (uint32_t)((r >> (bits - 2)) & 1);
		} else {
			r = ((a << cnt) | (a >> (bits - cnt))) & m;
			cf = r & 1;
			of = (uint32_t)msb(r, sz) ^ cf;
		}
		set_flags(c, (cf ? CPU_CF : 0) | (of ? CPU_OF : 0), CPU_CF | CPU_OF);
	}
	c->r.gpr[i->rm] = r;
}
#define ROT_REG(K, SZ)                                                                       \
H(rot_##K##_##SZ##_i) { rot_reg(c, i, K, SZ, (unsigned)i->imm); NEXT; }                      \
H(rot_##K##_##SZ##_cl) { rot_reg(c, i, K, SZ, (unsigned)c->r.gpr[CPU_RCX]); NEXT; }          \
H(rot_##K##_##SZ##_1) { rot_reg(c, i, K, SZ, 1); NEXT; }
ROT_REG(0, 4) ROT_REG(0, 8) ROT_REG(1, 4) ROT_REG(1, 8)
/* [ROL, ROR][size 4, 8][count: imm8, CL, 1] */
static const cpu_handler_fn rot_reg_tab[2][2][3] = {
	{ { rot_0_4_i, rot_0_4_cl, rot_0_4_1 }, { rot_0_8_i, rot_0_8_cl, rot_0_8_1 } },
	{ { rot_1_4_i, rot_1_4_cl, rot_1_4_1 }, { rot_1_8_i, rot_1_8_cl, rot_1_8_1 } },
};

/* A specialised handler for register forms of ROL/ROR/SHL/SAL/SHR/SAR with 32/64-bit
 * operands, NULL for the others (RCL/RCR, memory, 8/16-bit).  form: 0 imm8, 1 CL, 2 one. */
static cpu_handler_fn sel_sh_reg(const struct insn *i, int form)
{
	int reg = (i->modrm >> 3) & 7;
	if ((i->flags & CPU_IF_MEM) || i->osz < 4 || reg == 2 || reg == 3)
		return NULL;
	if (reg < 2)
		return rot_reg_tab[reg][i->osz == 8][form];
	int k = reg == 5 ? 1 : reg == 7 ? 2 : 0;
	return sh_reg_tab[k][i->osz == 8][form];
}

static uint64_t do_shd(struct cpu *c, bool left, int size, uint64_t d, uint64_t s, unsigned cnt)
{
	int bits = size * 8;
	uint64_t m = cpu_size_mask(size), r;
	uint32_t cf;
	cnt &= size == 8 ? 63 : 31;
	if (!cnt)
		return d;
	d &= m;
	s &= m;
	if (size == 2) {   /* counts above 16 are undefined: operate on d:s:d (48 bits) */
		if (left) {
			unsigned __int128 t = ((unsigned __int128)d << 32) | (s << 16) | d;
			r = (uint64_t)((t << cnt) >> 32) & 0xffff;
			cf = (uint32_t)((t << (cnt - 1)) >> 47) & 1;
		} else {
			unsigned __int128 t = ((unsigned __int128)d << 32) | (s << 16) | d;
			r = (uint64_t)(t >> cnt) & 0xffff;
			cf = (uint32_t)(t >> (cnt - 1)) & 1;
		}
	} else if (left) {
		r = ((d << cnt) | (cnt < (unsigned)bits ? s >> (bits - cnt) : 0)) & m;
		cf = (uint32_t)(d >> (bits - cnt)) & 1;
	} else {
		r = ((d >> cnt) | (s << (bits - cnt))) & m;
		cf = (uint32_t)(d >> (cnt - 1)) & 1;
	}
	uint32_t of = (uint32_t)(msb(r, size) ^ msb(d, size));
	set_flags(c, szp_flags(r, size) | (cf ? CPU_CF : 0) | (of ? CPU_OF : 0), CPU_STATUS_FLAGS);
	return r;
}

H(shd) {
	bool left = (i->op & 0xff) < 0xa8;
	unsigned cnt = (i->op & 1) ? (unsigned)c->r.gpr[CPU_RCX] & 0xff : (unsigned)i->imm & 0xff;
	uint64_t s = cpu_get_reg(c, i->reg, i->osz);
	if (!(i->flags & CPU_IF_MEM)) {
		uint64_t d = cpu_get_reg(c, i->rm, i->osz);
		cpu_set_reg(c, i->rm, i->osz, do_shd(c, left, i->osz, d, s, cnt));
		NEXT;
	}
	uint64_t off = cpu_ea(c, i);
	uint64_t d = cpu_rd(c, i->seg, off, i->osz);
	uint64_t r = do_shd(c, left, i->osz, d, s, cnt);
	cpu_wr(c, i->seg, off, i->osz, r);
	NEXT;
}

/* ---- multiply / divide ---- */

static void mul_flags(struct cpu *c, bool over, uint64_t lo, int size)
{
	set_flags(c, szp_flags(lo, size) | (over ? CPU_CF | CPU_OF : 0), CPU_STATUS_FLAGS);
}

static void set_dx_ax(struct cpu *c, int size, uint64_t lo, uint64_t hi)
{
	if (size == 1) {
		cpu_set_reg(c, CPU_RAX, 2, (lo & 0xff) | ((hi & 0xff) << 8));
	} else {
		cpu_set_reg(c, CPU_RAX, size, lo);
		cpu_set_reg(c, CPU_RDX, size, hi);
	}
}

H(grp3) {
	int sz = i->osz, op = (i->modrm >> 3) & 7, bits = sz * 8;
	if (op == 0 || op == 1) {
		uint64_t a = rd_rm(c, i, sz);
		set_lf(c, CPU_LF_LOGIC, sz, a, i->imm, a & i->imm);
		NEXT;
	}
	if (op == 2 || op == 3) {
		unop_rm(c, i, op);
		NEXT;
	}
	uint64_t src = rd_rm(c, i, sz), m = cpu_size_mask(sz);
	uint64_t a = cpu_get_reg(c, CPU_RAX, sz == 1 ? 2 : sz);
	if (op == 4) {
		unsigned __int128 p = (unsigned __int128)(a & m) * src;
		uint64_t lo = (uint64_t)p & m, hi = sz == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> bits) & m;
		set_dx_ax(c, sz, lo, hi);
		mul_flags(c, hi != 0, lo, sz);
	} else if (op == 5) {
		__int128 p = (__int128)(int64_t)sx(a & m, sz) * (int64_t)sx(src, sz);
		uint64_t lo = (uint64_t)p & m, hi = sz == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> bits) & m;
		set_dx_ax(c, sz, lo, hi);
		mul_flags(c, p != (__int128)(int64_t)sx(lo, sz), lo, sz);
	} else {
		uint64_t d = sz == 1 ? (a >> 8) & 0xff : cpu_get_reg(c, CPU_RDX, sz);
		if (sz == 1)
			a &= 0xff;
		if (src == 0)
			cpu_raise(c, CPU_EXC_DE, false, 0);
		unsigned __int128 n = ((unsigned __int128)d << bits) | a;
		uint64_t q, r;
		if (op == 6) {
			unsigned __int128 qq = n / src;
			if (qq > m)
				cpu_raise(c, CPU_EXC_DE, false, 0);
			q = (uint64_t)qq;
			r = (uint64_t)(n % src);
		} else {
			__int128 sn = (__int128)(n << (128 - 2 * bits)) >> (128 - 2 * bits);
			__int128 sd = (int64_t)sx(src, sz);
			if (sz == 8 && (unsigned __int128)sn == (unsigned __int128)1 << 127 && sd == -1)
				cpu_raise(c, CPU_EXC_DE, false, 0);
			__int128 qq = sn / sd, rr = sn % sd;
			__int128 lim = (__int128)1 << (bits - 1);
			if (qq >= lim || qq < -lim)
				cpu_raise(c, CPU_EXC_DE, false, 0);
			q = (uint64_t)qq & m;
			r = (uint64_t)rr & m;
		}
		set_dx_ax(c, sz, q, r);
	}
	NEXT;
}

/* IMUL r, r/m [, imm] */
static void imul2(struct cpu *c, const struct insn *i, uint64_t a, uint64_t b)
{
	int sz = i->osz;
	__int128 p = (__int128)(int64_t)sx(a, sz) * (int64_t)sx(b, sz);
	uint64_t lo = (uint64_t)p & cpu_size_mask(sz);
	mul_flags(c, p != (__int128)(int64_t)sx(lo, sz), lo, sz);
	cpu_set_reg(c, i->reg, sz, lo);
}
/* IMUL r, r/m [, imm] with 32/64-bit operands */
static inline __attribute__((always_inline))
void imul_fast(struct cpu *c, const struct insn *i, int sz, uint64_t a, uint64_t b)
{
	uint64_t lo;
	bool over;
	if (sz == 8) {
		int64_t r;
		over = __builtin_mul_overflow((int64_t)a, (int64_t)b, &r);
		lo = (uint64_t)r;
	} else {
		int64_t p = (int64_t)(int32_t)a * (int32_t)b;
		lo = (uint32_t)p;
		over = p != (int32_t)p;
	}
	mul_flags(c, over, lo, sz);
	c->r.gpr[i->reg] = lo;
}
H(imul_rm_8) { imul_fast(c, i, 8, c->r.gpr[i->reg], rd_rm(c, i, 8)); NEXT; }
H(imul_rm_4) { imul_fast(c, i, 4, c->r.gpr[i->reg], rd_rm(c, i, 4)); NEXT; }
H(imul_rmi_8) { imul_fast(c, i, 8, rd_rm(c, i, 8), i->imm); NEXT; }
H(imul_rmi_4) { imul_fast(c, i, 4, rd_rm(c, i, 4), i->imm); NEXT; }
H(imul_r_rm) { imul2(c, i, cpu_get_reg(c, i->reg, i->osz), rd_rm(c, i, i->osz)); NEXT; }
H(imul_r_rm_imm) { imul2(c, i, rd_rm(c, i, i->osz), i->imm); NEXT; }

/* ---- bit operations ---- */

H(bt_op) {
	int sz = i->osz, bits = sz * 8, kind;
	int64_t bitoff;
	bool imm = (i->op & 0xff) == 0xba;
	if (imm) {
		kind = (i->modrm >> 3) & 3;
		bitoff = (int64_t)(i->imm & (bits - 1));
	} else {
		kind = ((i->op & 0xff) >> 3) & 3;   /* A3:0 BT, AB:1 BTS, B3:2 BTR, BB:3 BTC */
		bitoff = (int64_t)sx(cpu_get_reg(c, i->reg, sz), sz);
	}
	uint64_t v, nv, bit;
	if (!(i->flags & CPU_IF_MEM)) {
		bit = (uint64_t)bitoff & (bits - 1);
		v = cpu_get_reg(c, i->rm, sz);
	} else {
		int64_t unit = imm ? 0 : (bitoff >> (sz == 2 ? 4 : sz == 4 ? 5 : 6));
		bit = (uint64_t)bitoff & (bits - 1);
		uint64_t off = (cpu_ea(c, i) + (uint64_t)(unit * sz)) & cpu_size_mask(i->asz);
		if (kind == 0) {
			v = cpu_rd(c, i->seg, off, sz);
		} else {
			void *p = (i->pfx & CPU_PFX_LOCK) ? cpu_ptr_rmw(c, i->seg, off, sz) : NULL;
			uint64_t mask = 1ull << bit;
			if (p) {
				v = ld_host(p, sz);
				do {
					nv = kind == 1 ? v | mask : kind == 2 ? v & ~mask : v ^ mask;
				} while (!cas_host(p, sz, &v, nv));
			} else {
				v = cpu_rd(c, i->seg, off, sz);
				nv = kind == 1 ? v | mask : kind == 2 ? v & ~mask : v ^ mask;
				cpu_wr(c, i->seg, off, sz, nv);
			}
			set_flags(c, (v >> bit) & 1 ? CPU_CF : 0, CPU_CF);
			NEXT;
		}
	}
	set_flags(c, (v >> bit) & 1 ? CPU_CF : 0, CPU_CF);
	if (kind && !(i->flags & CPU_IF_MEM)) {
		uint64_t mask = 1ull << bit;
		nv = kind == 1 ? v | mask : kind == 2 ? v & ~mask : v ^ mask;
		cpu_set_reg(c, i->rm, sz, nv);
	}
	NEXT;
}

H(bsf_bsr) {
	uint64_t v = rd_rm(c, i, i->osz);
	if (!v) {
		set_flags(c, CPU_ZF, CPU_ZF);
		NEXT;
	}
	int r = (i->op & 0xff) == 0xbc ? __builtin_ctzll(v) : 63 - __builtin_clzll(v);
	set_flags(c, 0, CPU_ZF);
	cpu_set_reg(c, i->reg, i->osz, (uint64_t)r);
	NEXT;
}

/* ---- exchange / compare-exchange ---- */

H(xadd) {
	int sz = i->osz;
	uint64_t s = cpu_get_reg(c, i->reg, sz);
	if (!(i->flags & CPU_IF_MEM)) {
		uint64_t d = cpu_get_reg(c, i->rm, sz);
		alu(c, OP_ADD, sz, d, s);
		cpu_set_reg(c, i->reg, sz, d);
		cpu_set_reg(c, i->rm, sz, d + s);
		NEXT;
	}
	uint64_t off = cpu_ea(c, i), d;
	void *p = cpu_ptr_rmw_fast(c, i->seg, off, sz);
	if (p) {
		d = ld_host(p, sz);
		while (!cas_host(p, sz, &d, d + s))
			;
	} else {
		d = cpu_rd(c, i->seg, off, sz);
		cpu_wr(c, i->seg, off, sz, d + s);
	}
	alu(c, OP_ADD, sz, d, s);
	cpu_set_reg(c, i->reg, sz, d);
	NEXT;
}

H(xchg_rm) {
	int sz = i->osz;
	uint64_t s = cpu_get_reg(c, i->reg, sz), d;
	if (!(i->flags & CPU_IF_MEM)) {
		d = cpu_get_reg(c, i->rm, sz);
		cpu_set_reg(c, i->rm, sz, s);
		cpu_set_reg(c, i->reg, sz, d);
		NEXT;
	}
	uint64_t off = cpu_ea(c, i);
	void *p = cpu_ptr_rmw_fast(c, i->seg, off, sz);
	if (p) {
		d = ld_host(p, sz);
		while (!cas_host(p, sz, &d, s))
			;
	} else {
		d = cpu_rd(c, i->seg, off, sz);
		cpu_wr(c, i->seg, off, sz, s);
	}
	cpu_set_reg(c, i->reg, sz, d);
	NEXT;
}

H(xchg_acc) {
	uint64_t a = cpu_get_reg(c, CPU_RAX, i->osz), b = cpu_get_reg(c, i->reg, i->osz);
	cpu_set_reg(c, CPU_RAX, i->osz, b);
	cpu_set_reg(c, i->reg, i->osz, a);
	NEXT;
}

H(cmpxchg) {
	int sz = i->osz;
	uint64_t acc = cpu_get_reg(c, CPU_RAX, sz), s = cpu_get_reg(c, i->reg, sz), d;
	uint64_t m = cpu_size_mask(sz);
	if (!(i->flags & CPU_IF_MEM)) {
		d = cpu_get_reg(c, i->rm, sz);
		alu(c, OP_CMP, sz, acc, d);
		if ((acc & m) == (d & m))
			cpu_set_reg(c, i->rm, sz, s);
		else
			cpu_set_reg(c, CPU_RAX, sz, d);
		NEXT;
	}
	uint64_t off = cpu_ea(c, i);
	void *p = cpu_ptr_rmw_fast(c, i->seg, off, sz);
	if (p) {
		d = acc & m;
		if (!cas_host(p, sz, &d, s)) { /* d = current value */ }
	} else {
		d = cpu_rd(c, i->seg, off, sz);
		cpu_wr(c, i->seg, off, sz, (d & m) == (acc & m) ? s : d);
	}
	alu(c, OP_CMP, sz, acc, d);
	if ((acc & m) != (d & m))
		cpu_set_reg(c, CPU_RAX, sz, d);
	NEXT;
}

/* 16-byte atomic compare-exchange on the host (every x86-64 host we run on has CX16). */
static bool cas16(void *p, unsigned __int128 e, unsigned __int128 n)
{
	uint64_t elo = (uint64_t)e, ehi = (uint64_t)(e >> 64);
	bool ok;
	__asm__ volatile("lock cmpxchg16b %1\n\tsete %0"
			 : "=q"(ok), "+m"(*(volatile unsigned __int128 *)p), "+a"(elo), "+d"(ehi)
			 : "b"((uint64_t)n), "c"((uint64_t)(n >> 64))
			 : "memory", "cc");
	return ok;
}

H(cmpxchg8b) {
	uint64_t off = cpu_ea(c, i);
	if (i->osz == 8) {   /* CMPXCHG16B */
		if (off & 15)
			cpu_raise_gp(c, 0);
		uint64_t lo = cpu_rd(c, i->seg, off, 8), hi = cpu_rd(c, i->seg, off + 8, 8);
		bool eq = lo == c->r.gpr[CPU_RAX] && hi == c->r.gpr[CPU_RDX];
		void *p = cpu_ptr_rmw(c, i->seg, off, 8);
		if (p && eq) {
			unsigned __int128 e = ((unsigned __int128)hi << 64) | lo;
			unsigned __int128 n = ((unsigned __int128)c->r.gpr[CPU_RCX] << 64) | c->r.gpr[CPU_RBX];
			eq = cas16(p, e, n);
			if (!eq) {
				lo = cpu_rd(c, i->seg, off, 8);
				hi = cpu_rd(c, i->seg, off + 8, 8);
			}
		} else if (eq) {
			cpu_wr(c, i->seg, off, 8, c->r.gpr[CPU_RBX]);
			cpu_wr(c, i->seg, off + 8, 8, c->r.gpr[CPU_RCX]);
		}
		if (!eq) {
			c->r.gpr[CPU_RAX] = lo;
			c->r.gpr[CPU_RDX] = hi;
		}
		set_flags(c, eq ? CPU_ZF : 0, CPU_ZF);
		NEXT;
	}
	uint64_t exp = ((uint64_t)(uint32_t)c->r.gpr[CPU_RDX] << 32) | (uint32_t)c->r.gpr[CPU_RAX];
	uint64_t nv = ((uint64_t)(uint32_t)c->r.gpr[CPU_RCX] << 32) | (uint32_t)c->r.gpr[CPU_RBX];
	void *p = cpu_ptr_rmw(c, i->seg, off, 8);
	uint64_t cur = exp;
	bool eq;
	if (p) {
		eq = cas_host(p, 8, &cur, nv);
	} else {
		cur = cpu_rd(c, i->seg, off, 8);
		eq = cur == exp;
		cpu_wr(c, i->seg, off, 8, eq ? nv : cur);
	}
	if (!eq) {
		c->r.gpr[CPU_RAX] = (uint32_t)cur;
		c->r.gpr[CPU_RDX] = cur >> 32;
	}
	set_flags(c, eq ? CPU_ZF : 0, CPU_ZF);
	NEXT;
}

/* ---- BCD (16/32-bit modes only) ---- */

H(daa_das) {
	uint32_t f = cpu_status_flags(c);
	uint8_t al = (uint8_t)c->r.gpr[CPU_RAX], old = al;
	bool cf = f & CPU_CF, af = false, sub = i->op == 0x2f;
	if ((al & 0xf) > 9 || (f & CPU_AF)) {
		al = sub ? al - 6 : al + 6;
		cf = cf || (sub ? old < 6 : old > 0xf9);
		af = true;
	}
	if (old > 0x99 || (f & CPU_CF)) {
		al = sub ? al - 0x60 : al + 0x60;
		cf = true;
	}
	cpu_set_reg(c, CPU_RAX, 1, al);
	set_flags(c, szp_flags(al, 1) | (cf ? CPU_CF : 0) | (af ? CPU_AF : 0),
		  CPU_STATUS_FLAGS);
	NEXT;
}

H(aaa_aas) {
	uint32_t f = cpu_status_flags(c);
	uint16_t ax = (uint16_t)c->r.gpr[CPU_RAX];
	bool adj = (ax & 0xf) > 9 || (f & CPU_AF);
	if (adj) {
		if (i->op == 0x37)
			ax = (uint16_t)(ax + 0x106);
		else
			ax = (uint16_t)(((ax - 6) & 0xff) | (((ax >> 8) - 1) << 8));
	}
	ax &= 0xff0f;
	cpu_set_reg(c, CPU_RAX, 2, ax);
	set_flags(c, szp_flags(ax, 1) | (adj ? CPU_CF | CPU_AF : 0), CPU_STATUS_FLAGS);
	NEXT;
}

H(aam) {
	uint8_t base = (uint8_t)i->imm, al = (uint8_t)c->r.gpr[CPU_RAX];
	if (!base)
		cpu_raise(c, CPU_EXC_DE, false, 0);
	uint8_t r = al % base;
	cpu_set_reg(c, CPU_RAX, 2, ((al / base) << 8) | r);
	set_flags(c, szp_flags(r, 1), CPU_STATUS_FLAGS);
	NEXT;
}

H(aad) {
	uint16_t ax = (uint16_t)c->r.gpr[CPU_RAX];
	uint8_t al = (uint8_t)((ax & 0xff) + (ax >> 8) * (uint8_t)i->imm);
	cpu_set_reg(c, CPU_RAX, 2, al);
	set_flags(c, szp_flags(al, 1), CPU_STATUS_FLAGS);
	NEXT;
}

/* ---- selection ---- */

static cpu_handler_fn sel_alu_classic(struct insn *i)
{
	int op = (i->op >> 3) & 7, form = i->op & 7, s = size_idx(i->osz);
	bool mem = i->flags & CPU_IF_MEM;
	switch (form) {
	case 0: case 1: return mem ? alu_mr_m[op][s] : alu_mr_r[op][s];
	case 2: case 3:
		if (!mem) {   /* r, r/m with register source: swap roles into the mr form */
			uint8_t t = i->reg;
			i->reg = i->rm;
			i->rm = t;
			return alu_mr_r[op][s];
		}
		return alu_rm_m[op][s];
	default: return alu_acc;
	}
}

cpu_handler_fn cpu_alu_select(struct insn *i)
{
	bool mem = i->flags & CPU_IF_MEM;
	int reg = (i->modrm >> 3) & 7;
	switch (i->op) {
	case 0x00 ... 0x05: case 0x08 ... 0x0d: case 0x10 ... 0x15: case 0x18 ... 0x1d:
	case 0x20 ... 0x25: case 0x28 ... 0x2d: case 0x30 ... 0x35: case 0x38 ... 0x3d:
		return sel_alu_classic(i);
	case 0x80: case 0x81: case 0x82: case 0x83:
		if (i->op == 0x83 || i->op == 0x80 || i->op == 0x82)
			i->imm = i->osz == 1 ? (uint8_t)i->imm : i->imm & cpu_size_mask(i->osz);
		else
			i->imm &= cpu_size_mask(i->osz);
		return mem ? alu_mi_m[reg][size_idx(i->osz)] : alu_mi_r[reg][size_idx(i->osz)];
	case 0x84: case 0x85:
		if (!mem && i->osz >= 4)
			return i->osz == 8 ? test_rr_8 : test_rr_4;
		return test_r;
	case 0xa8: case 0xa9: i->imm &= cpu_size_mask(i->osz); return test_acc;
	case 0x86: case 0x87: return xchg_rm;
	case 0x90 ... 0x97:
		if (i->op == 0x90 && !(i->rex & 1))
			return NULL;   /* NOP / PAUSE: cpu_ctl */
		return xchg_acc;
	case 0x40 ... 0x47: return inc_r32;
	case 0x48 ... 0x4f: return dec_r32;
	case 0xfe: case 0xff:
		if (reg == 0)
			return mem ? inc_rm : i->osz == 8 ? inc_reg_8 : i->osz == 4 ? inc_reg_4 : inc_reg;
		if (reg == 1)
			return mem ? dec_rm : i->osz == 8 ? dec_reg_8 : i->osz == 4 ? dec_reg_4 : dec_reg;
		return NULL;
	case 0xf6: case 0xf7:
		if (reg <= 1) {
			i->imm &= cpu_size_mask(i->osz);
			if (!mem && i->osz != 2)
				return i->osz == 8 ? test_ri_8 : i->osz == 4 ? test_ri_4 : test_ri_1;
		}
		return grp3;
	case 0xc0: case 0xc1:
		if (sel_sh_reg(i, 0))
			return sel_sh_reg(i, 0);
		if (!mem && (reg == 4 || reg == 6))
			return shl_r_imm;
		return shift_imm;
	case 0xd0: case 0xd1: return sel_sh_reg(i, 2) ? sel_sh_reg(i, 2) : shift_1;
	case 0xd2: case 0xd3: return sel_sh_reg(i, 1) ? sel_sh_reg(i, 1) : shift_cl;
	case 0x69: case 0x6b:
		return i->osz == 8 ? imul_rmi_8 : i->osz == 4 ? imul_rmi_4 : imul_r_rm_imm;
	case 0x1af: return i->osz == 8 ? imul_rm_8 : i->osz == 4 ? imul_rm_4 : imul_r_rm;
	case 0x1a4: case 0x1a5: case 0x1ac: case 0x1ad: return shd;
	case 0x1a3: case 0x1ab: case 0x1b3: case 0x1bb: case 0x1ba: return bt_op;
	case 0x1bc: case 0x1bd: return bsf_bsr;
	case 0x1c0: case 0x1c1: return xadd;
	case 0x1b0: case 0x1b1: return cmpxchg;
	case 0x1c7: return reg == 1 && mem ? cmpxchg8b : NULL;
	case 0x27: case 0x2f: return daa_das;
	case 0x37: case 0x3f: return aaa_aas;
	case 0xd4: return aam;
	case 0xd5: return aad;
	default: return NULL;
	}
}
