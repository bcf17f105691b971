/*
 * Differential CPU test: builds one case of a form -- the instruction bytes (random register
 * choice, addressing mode, REX/0x67 variants) and the machine state (edge and random values,
 * memory operands inside the data area, kind-specific set-up such as stack pointers, shift
 * counts, branch targets) -- and the flags the manuals leave undefined for that case.
 */
#include <string.h>

#include "diff_gen.h"

static const uint64_t diff_edges[] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
	0x7fffffffffffffffULL, 0x8000000000000000ULL, ~0ULL, ~0ULL - 1, 0x100, 0x10000,
	0x100000000ULL, 0x5555555555555555ULL, 0xaaaaaaaaaaaaaaaaULL, 0x81, 0x7e, 0xfe,
};
#define NEDGES (sizeof(diff_edges) / sizeof(diff_edges[0]))

static uint64_t diff_mask(int bits) { return bits >= 64 ? ~0ULL : (1ULL << bits) - 1; }

uint64_t diff_gen_value(struct drng *r, int bits)
{
	uint64_t v = drng_next(r), m = diff_mask(bits ? bits : 64);
	switch (drng_below(r, 6)) {
	case 0: case 1:
		return v;
	case 2:
		return (v & ~m) | (diff_edges[drng_below(r, NEDGES)] & m);
	case 3:
		return diff_edges[drng_below(r, NEDGES)] + drng_below(r, 3) - 1;
	case 4:   /* small, possibly negative in the operand size */
		return (v & ~m) | ((uint64_t)((int64_t)drng_below(r, 65) - 32) & m);
	default:  /* a sign-boundary value of the operand size with garbage above */
		return (v & ~m) | ((drng_below(r, 2) ? (m >> 1) : (m >> 1) + 1) & m);
	}
}

/* Register value of the ModRM.rm / opcode register (respecting AH..BH without REX). */
static uint8_t *diff_gpr_bytes(struct dstate *st, int rc, int n, bool rex)
{
	uint8_t *p = (uint8_t *)&st->gpr[n];
	if (rc == RC_GPR8 && !rex && n >= 4 && n < 8)
		p = (uint8_t *)&st->gpr[n - 4] + 1;
	return p;
}

/* Put a value into the rm operand (register or memory) in the operand size. */
static void diff_set_rm(const struct dform *f, struct dstate *st, const struct denc *e, uint64_t v)
{
	int bytes = f->osize / 8;
	uint8_t *p = f->mem ? diff_ptr(e->addr) : diff_gpr_bytes(st, f->rc_rm, e->rm, e->rex);
	memcpy(p, &v, bytes ? bytes : 8);
}

static uint64_t diff_code_target(struct drng *r)
{
	/* Anywhere in the INT3-filled code page except on or just before the instruction. */
	for (;;) {
		uint64_t t = DIFF_CODE + drng_below(r, 0x1000);
		if (t + 16 <= DIFF_INSN || t >= DIFF_INSN + 16)
			return t;
	}
}

static uint64_t diff_stack_ptr(struct drng *r)
{
	uint64_t sp = DIFF_DATA_MID + drng_below(r, 512) - 256;
	return drng_below(r, 10) ? sp & ~7ULL : sp;
}

struct diff_asm {
	uint8_t *b;
	int n;
};

static void diff_put(struct diff_asm *a, uint64_t v, int bytes)
{
	memcpy(a->b + a->n, &v, bytes);
	a->n += bytes;
}

/* Memory operand: addressing mode, displacement and address-register values. */
struct diff_mem {
	int mode;            /* 0 [b] 1 [b+d8] 2 [b+d32] 3 [b+i*s(+d)] 4 [rip+d32] 5 [i*s+d32] */
	int scale, disp_bytes, disp_off;
	int64_t disp;
	uint64_t idxval;
};

static int diff_pick_reg(struct drng *r, uint32_t avoid, int nregs)
{
	for (;;) {
		int n = (int)drng_below(r, nregs);
		if (!(avoid & (1u << n)))
			return n;
	}
}

static void diff_choose_mem(const struct dform *f, struct drng *r, struct denc *e,
			    struct diff_mem *m, uint32_t avoid, int nregs)
{
	m->mode = (int)drng_below(r, 6);
	m->scale = 1 << drng_below(r, 4);
	e->base = e->index = -1;
	if (m->mode != 4 && m->mode != 5)
		e->base = diff_pick_reg(r, avoid, nregs);
	if (m->mode == 3 || (m->mode == 5 && drng_below(r, 2)))
		e->index = diff_pick_reg(r, avoid | (1u << 4) |
					 (e->base >= 0 ? 1u << e->base : 0), nregs);
	if (m->mode == 0 && (e->base & 7) == 5)
		m->mode = 1;                      /* [rbp]/[r13] need a displacement */
	uint64_t a = DIFF_DATA_MID + drng_below(r, 1024) - 512;
	if (f->align > 1) {
		a &= ~(uint64_t)(f->align - 1);
		if (f->misalign)
			a += 1 + drng_below(r, f->align - 1);
	}
	e->addr = a;
	m->disp = 0;
	m->disp_bytes = 0;
	if (m->mode == 1 || (m->mode == 3 && drng_below(r, 2))) {
		m->disp = (int8_t)drng_next(r);
		m->disp_bytes = 1;
	} else if (m->mode == 2 || (m->mode == 3 && drng_below(r, 2))) {
		m->disp = (int32_t)drng_next(r);
		m->disp_bytes = 4;
	} else if (m->mode == 4 || m->mode == 5) {
		m->disp_bytes = 4;
	} else if (m->mode == 3 && (e->base & 7) == 5) {
		m->disp_bytes = 1;                /* SIB base rbp/r13 with mod 0 means "no base" */
	}
	m->idxval = 0;
	if (e->index >= 0)
		m->idxval = m->mode == 5 ? (uint64_t)((int64_t)drng_below(r, 129) - 64) : drng_next(r);
	if (m->mode == 5)
		m->disp = (int64_t)(a - m->idxval * (uint64_t)m->scale);
}

static void diff_encode_modrm(struct diff_asm *a, struct denc *e, struct diff_mem *m, int reg)
{
	int r3 = reg & 7;
	if (m->mode == 4) {                      /* RIP-relative, displacement patched later */
		diff_put(a, (uint64_t)(r3 << 3 | 5), 1);
		m->disp_off = a->n;
		diff_put(a, 0, 4);
		return;
	}
	int mod = m->disp_bytes == 1 ? 1 : m->disp_bytes == 4 ? 2 : 0;
	if (m->mode == 5)
		mod = 0;
	if (m->mode == 3 || m->mode == 5 || (e->base & 7) == 4) {
		int idx = e->index >= 0 ? e->index & 7 : 4;
		int base = m->mode == 5 ? 5 : e->base & 7;
		int ss = m->scale == 1 ? 0 : m->scale == 2 ? 1 : m->scale == 4 ? 2 : 3;
		diff_put(a, (uint64_t)(mod << 6 | r3 << 3 | 4), 1);
		diff_put(a, (uint64_t)(ss << 6 | idx << 3 | base), 1);
	} else {
		diff_put(a, (uint64_t)(mod << 6 | r3 << 3 | (e->base & 7)), 1);
	}
	m->disp_off = a->n;
	diff_put(a, (uint64_t)m->disp, m->disp_bytes);
}

/* After the length is known: RIP-relative displacement and the address registers. */
static void diff_fix_address(struct dstate *st, struct denc *e, struct diff_mem *m,
			     struct drng *r)
{
	uint64_t end = DIFF_INSN + (uint64_t)e->len;
	uint64_t amask = e->a32 ? 0xffffffffULL : ~0ULL;
	if (m->mode == 4) {
		int32_t d = (int32_t)(e->addr - end);
		memcpy(e->bytes + m->disp_off, &d, 4);
		return;
	}
	uint64_t garbage = e->a32 ? drng_next(r) & ~amask : 0;
	if (e->index >= 0)
		st->gpr[e->index] = (m->idxval & amask) | (e->a32 ? drng_next(r) & ~amask : 0);
	if (e->base >= 0) {
		uint64_t b = e->addr - (uint64_t)m->disp - m->idxval * (uint64_t)m->scale;
		st->gpr[e->base] = (b & amask) | garbage;
	}
}

static bool diff_kind_allows_a32(const struct dform *f)
{
	return f->modrm && f->mem && f->kind != K_BTMEM && f->kind != K_CALLIND &&
	       f->kind != K_JMPIND;
}

static void diff_fill_data(struct drng *r)
{
	uint64_t *d = (uint64_t *)diff_ptr(DIFF_DATA);
	bool small = drng_below(r, 6) == 0;    /* runs of equal bytes for REPE/REPNE compares */
	for (size_t i = 0; i < DIFF_DATA_SIZE / 8; i++)
		d[i] = small ? (drng_next(r) & 0x0101010101010101ULL) : drng_next(r);
}

/* Registers of the encoding: ModRM.reg, ModRM.rm or opcode register, REX decision. */
static void diff_choose_regs(const struct dform *f, struct drng *r, struct denc *e, int *nregs)
{
	bool want_rex = !f->norex && drng_below(r, 10) < 4;
	e->rex = want_rex || f->rexw;
	*nregs = e->rex ? 16 : 8;
	int nreg = (f->rc_reg == RC_MMX || f->rc_reg == RC_ST) ? 8 : *nregs;
	int nrm = (f->rc_rm == RC_MMX || f->rc_rm == RC_ST) ? 8 : *nregs;
	e->reg = f->digit >= 0 ? f->digit : (int)drng_below(r, nreg);
	e->rm = f->fixed_rm >= 0 ? f->fixed_rm : (int)drng_below(r, nrm);
	if (f->opreg)
		e->rm = (int)drng_below(r, *nregs);
}

static uint32_t diff_avoid_mask(const struct dform *f, const struct denc *e)
{
	uint32_t avoid = f->implicit;
	if (f->digit < 0 && (f->rc_reg == RC_GPR || f->rc_reg == RC_GPR8)) {
		avoid |= 1u << e->reg;
		if (f->rc_reg == RC_GPR8 && !e->rex && e->reg >= 4 && e->reg < 8)
			avoid |= 1u << (e->reg - 4);
	}
	return avoid;
}

/* The instruction bytes (without kind-specific immediates). */
static void diff_assemble(const struct dform *f, struct drng *r, struct denc *e,
			  struct diff_mem *m, int nregs)
{
	struct diff_asm a = { e->bytes, 0 };
	if (e->a32)
		diff_put(&a, 0x67, 1);
	for (int i = 0; i < f->npfx; i++)
		diff_put(&a, f->pfx[i], 1);
	if (f->modrm && f->mem)
		diff_choose_mem(f, r, e, m, diff_avoid_mask(f, e), nregs);
	if (e->rex) {
		int rex = 0x40 | (f->rexw ? 8 : 0);
		if (f->modrm) {
			rex |= (e->reg & 8) ? 4 : 0;
			if (f->mem)
				rex |= ((e->index >= 0 && (e->index & 8)) ? 2 : 0) |
				       ((e->base >= 0 && (e->base & 8)) ? 1 : 0);
			else
				rex |= (e->rm & 8) ? 1 : 0;
		} else if (f->opreg) {
			rex |= (e->rm & 8) ? 1 : 0;
		}
		diff_put(&a, (uint64_t)rex, 1);
	}
	for (int i = 0; i < f->nop; i++)
		diff_put(&a, f->op[i], 1);
	if (f->opreg)
		a.b[a.n - 1] |= (uint8_t)(e->rm & 7);
	if (f->modrm) {
		if (f->mem)
			diff_encode_modrm(&a, e, m, e->reg);
		else
			diff_put(&a, (uint64_t)(0xc0 | (e->reg & 7) << 3 | (e->rm & 7)), 1);
	}
	e->imm_off = a.n;
	for (int i = 0; i < f->imm; i++)
		diff_put(&a, (drng_below(r, 3) == 0) ? (diff_edges[drng_below(r, NEDGES)] >> (8 * i)) & 0xff
						       : drng_next(r) & 0xff, 1);
	e->len = a.n;
}

static void diff_set_imm(struct denc *e, uint64_t v, int bytes, int at)
{
	memcpy(e->bytes + e->imm_off + at, &v, bytes);
}

static int diff_count_mask(const struct dform *f) { return f->osize == 64 ? 0x3f : 0x1f; }

/* Shift/rotate count: in CL or the imm8, biased to the interesting small values. */
static void diff_setup_count(const struct dform *f, struct drng *r, struct dstate *st,
			     struct denc *e)
{
	uint64_t c = drng_below(r, 2) ? drng_below(r, (uint64_t)f->osize + 2) : drng_next(r) & 0xff;
	if (f->kind == K_SHXD && f->osize == 16)
		c = drng_below(r, 17) | (drng_next(r) & 0xe0);   /* >16 is undefined: avoid */
	if (f->sub == 1)
		st->gpr[1] = (st->gpr[1] & ~0xffULL) | (c & 0xff);
	else if (f->sub == 2)
		diff_set_imm(e, c, 1, f->imm - 1);
}

static void diff_setup_branch(const struct dform *f, struct drng *r, struct dstate *st,
			      struct denc *e)
{
	uint64_t end = DIFF_INSN + (uint64_t)e->len;
	int immb = f->imm;
	int64_t rel;
	do {
		rel = (int64_t)(diff_code_target(r) - end);
	} while (immb == 1 && (rel < -128 || rel > 127));
	diff_set_imm(e, (uint64_t)rel, immb, 0);
	/* LOOP/JRCXZ: small counts so both outcomes happen. */
	uint64_t rc = drng_below(r, 3) ? drng_below(r, 3) : st->gpr[1];
	if (drng_below(r, 2))
		st->gpr[1] = rc;
	if (f->kind == K_CALL)
		st->gpr[4] = diff_stack_ptr(r);
}

static void diff_setup_string(const struct dform *f, struct drng *r, struct dstate *st)
{
	uint64_t garbage = (f->npfx && f->pfx[0] == 0x67) ? drng_next(r) & ~0xffffffffULL : 0;
	st->gpr[6] = garbage | (DIFF_DATA_MID + drng_below(r, 512) - 256);
	st->gpr[7] = garbage | (DIFF_DATA_MID + drng_below(r, 512) - 256);
	if (drng_below(r, 4))
		st->gpr[1] = (garbage & (drng_next(r) << 32)) | drng_below(r, 17);
	else
		st->gpr[1] = garbage;
	if (drng_below(r, 2))
		st->gpr[0] &= 0x0101010101010101ULL;
}

static void diff_setup_kind(const struct dform *f, struct drng *r, struct dstate *st,
			    struct denc *e)
{
	uint64_t sp = diff_stack_ptr(r);
	switch (f->kind) {
	case K_SHIFT: case K_ROT: case K_RCX: case K_SHXD:
		diff_setup_count(f, r, st, e);
		break;
	case K_DIV: {
		/* Half the cases: a high half that cannot overflow (only /0 faults). */
		int k = (int)drng_below(r, 4);
		if (f->osize == 8) {
			uint64_t al = st->gpr[0] & 0xff;
			uint64_t ah = k == 0 ? 0 : k == 1 ? ((al & 0x80) ? 0xff : 0) : (st->gpr[0] >> 8) & 0xff;
			st->gpr[0] = (st->gpr[0] & ~0xff00ULL) | ah << 8;
		} else if (k < 2) {
			uint64_t lo = st->gpr[0] & diff_mask(f->osize);
			bool neg = (lo >> (f->osize - 1)) & 1;
			uint64_t hi = (k == 1 && neg) ? diff_mask(f->osize) : 0;
			st->gpr[2] = (st->gpr[2] & ~diff_mask(f->osize)) | hi;
		}
		break;
	}
	case K_BTMEM: {
		uint64_t off = (uint64_t)((int64_t)drng_below(r, 8192) - 4096);
		uint64_t m = diff_mask(f->osize);
		st->gpr[e->reg] = (drng_next(r) & ~m) | (off & m);
		break;
	}
	case K_BSX:
		if (drng_below(r, 5) == 0)
			diff_set_rm(f, st, e, 0);
		break;
	case K_PUSH: case K_POP: case K_POPF:
		st->gpr[4] = sp;
		if (f->kind == K_POPF) {
			uint64_t *top = (uint64_t *)diff_ptr(sp);
			uint64_t v;
			memcpy(&v, top, 8);
			v &= ~(0x40000ULL | 0x100 | 0x4000 | 0x200000);   /* no AC TF NT ID */
			memcpy(top, &v, 8);
		}
		break;
	case K_RET: {
		st->gpr[4] = sp;
		uint64_t t = drng_below(r, 20) ? diff_code_target(r) : drng_next(r);
		memcpy(diff_ptr(sp), &t, 8);
		break;
	}
	case K_CALLIND: case K_JMPIND: {
		st->gpr[4] = sp;
		uint64_t t = drng_below(r, 20) ? diff_code_target(r) : drng_next(r);
		diff_set_rm(f, st, e, t);
		break;
	}
	case K_CALL: case K_BRANCH:
		diff_setup_branch(f, r, st, e);
		break;
	case K_STRING:
		diff_setup_string(f, r, st);
		break;
	case K_MOFFS: {
		uint64_t a = DIFF_DATA_MID + drng_below(r, 512) - 256;
		diff_set_imm(e, a, f->imm, 0);
		break;
	}
	case K_LEAVE:
		st->gpr[5] = sp;
		break;
	case K_ENTER:
		st->gpr[4] = sp;
		st->gpr[5] = DIFF_DATA_MID + (drng_below(r, 512) & ~7ULL) - 256;
		diff_set_imm(e, drng_below(r, 80), 2, 0);
		diff_set_imm(e, drng_below(r, 4) ? drng_below(r, 4) : drng_next(r) & 0xff, 1, 2);
		break;
	case K_XLAT:
		st->gpr[3] = DIFF_DATA_MID - 128 + drng_below(r, 256);
		break;
	case K_SSE:
		if (f->sub == 1 && drng_below(r, 8)) {          /* FXRSTOR: mostly a valid image */
			static const struct dform fpf = { .fp = 3 };
			diff_gen_fx(&fpf, r, diff_ptr(e->addr));
		} else if (f->sub == 2 && drng_below(r, 8)) {   /* LDMXCSR: mostly valid */
			uint32_t v = (uint32_t)drng_next(r) & 0xffff;
			memcpy(diff_ptr(e->addr), &v, 4);
		}
		break;
	case K_CX8:
		if (drng_below(r, 2)) {
			uint32_t lo = (uint32_t)st->gpr[0], hi = (uint32_t)st->gpr[2];
			memcpy(diff_ptr(e->addr), &lo, 4);
			memcpy(diff_ptr(e->addr) + 4, &hi, 4);
		}
		break;
	default:
		break;
	}
}

void diff_gen_case(const struct dform *f, struct drng *r, struct dstate *st, struct denc *e)
{
	struct diff_mem m;
	int nregs;

	memset(e, 0, sizeof(*e));
	memset(&m, 0, sizeof(m));
	e->base = e->index = -1;
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < 16; i++)
		st->gpr[i] = diff_gen_value(r, f->osize ? f->osize : 64);
	st->rflags = (drng_next(r) & FL_CMP) | 0x202;
	st->rip = DIFF_INSN;
	diff_gen_fx(f, r, st->fx);
	diff_fill_data(r);

	diff_choose_regs(f, r, e, &nregs);
	e->a32 = diff_kind_allows_a32(f) && drng_below(r, 8) == 0;
	diff_assemble(f, r, e, &m, nregs);
	if (f->modrm && f->mem) {
		/* Edge values in the memory operand. */
		for (int i = 0; i < 2; i++) {
			uint64_t v = diff_gen_value(r, f->osize ? f->osize : 64);
			memcpy(diff_ptr(e->addr) + 8 * i, &v, 8);
		}
	}
	diff_setup_kind(f, r, st, e);
	if (f->modrm && f->mem)
		diff_fix_address(st, e, &m, r);
}

/* Flags left undefined for this case (value-dependent for shifts and rotates). */
uint16_t diff_gen_undef(const struct dform *f, const struct dstate *st, const struct denc *e)
{
	uint16_t u = f->undef;
	if (f->kind != K_SHIFT && f->kind != K_ROT && f->kind != K_RCX && f->kind != K_SHXD)
		return u;
	unsigned c = 1;
	if (f->sub == 1)
		c = st->gpr[1] & 0xff;
	else if (f->sub == 2)
		c = e->bytes[e->imm_off + f->imm - 1];
	c &= (unsigned)diff_count_mask(f);
	if (c == 0)
		return 0;
	if (c != 1)
		u |= FL_OF;
	if (f->kind == K_SHIFT) {
		u |= FL_AF;
		bool shl_shr = f->op[f->nop - 1] != 0 && (f->digit == 4 || f->digit == 5 || f->digit == 6);
		if (shl_shr && c >= f->osize)
			u |= FL_CF | FL_OF;
	}
	if (f->kind == K_SHXD)
		u |= FL_AF;
	return u;
}
