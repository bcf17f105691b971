/*
 * Lazy arithmetic flags.  ALU handlers store the operation, its operands and result; the six
 * status flags are computed only when something reads them (Jcc/SETcc/CMOVcc, PUSHF, ADC...).
 */
#include "cpu/cpu_internal.h"

static inline uint64_t lf_sign(uint64_t v, int size)
{
	return (v >> (size * 8 - 1)) & 1;
}

static uint32_t lf_cf(struct cpu *c);

static inline uint32_t lf_parity(uint64_t v)
{
	return __builtin_parity((unsigned)(v & 0xff)) ? 0 : CPU_PF;
}

uint32_t cpu_lazy_cf(struct cpu *c)
{
	return c->lf_op == CPU_LF_NONE ? (uint32_t)c->r.rflags & 1 : lf_cf(c);
}

static uint32_t lf_cf(struct cpu *c)
{
	uint64_t m = cpu_size_mask(c->lf_size);
	uint64_t s1 = c->lf_s1 & m, s2 = c->lf_s2 & m, r = c->lf_res & m;
	switch (c->lf_op) {
	case CPU_LF_ADD: return r < s1;
	case CPU_LF_ADC: return r < s1 || (r == s1 && c->lf_cf);
	case CPU_LF_SUB: return s1 < s2;
	case CPU_LF_SBB: return s1 < s2 || (s1 == s2 && c->lf_cf);
	case CPU_LF_NEG: return r != 0;
	case CPU_LF_INC: case CPU_LF_DEC: return (uint32_t)c->lf_cf;
	case CPU_LF_SHL: return (uint32_t)(s1 >> (c->lf_size * 8 - c->lf_s2)) & 1;
	case CPU_LF_SHR: return (uint32_t)(s1 >> (c->lf_s2 - 1)) & 1;
	case CPU_LF_SAR: {
		int sh = 64 - c->lf_size * 8;
		return (uint32_t)(((int64_t)(s1 << sh) >> sh) >> (c->lf_s2 - 1)) & 1;
	}
	default: return 0;
	}
}

static uint32_t lf_of(struct cpu *c)
{
	int sz = c->lf_size;
	uint64_t s1 = c->lf_s1, s2 = c->lf_s2, r = c->lf_res;
	switch (c->lf_op) {
	case CPU_LF_ADD: case CPU_LF_ADC: return lf_sign((s1 ^ r) & (s2 ^ r), sz);
	case CPU_LF_SUB: case CPU_LF_SBB: return lf_sign((s1 ^ s2) & (s1 ^ r), sz);
	case CPU_LF_INC: return (r & cpu_size_mask(sz)) == (1ull << (sz * 8 - 1));
	case CPU_LF_DEC: return (r & cpu_size_mask(sz)) == (1ull << (sz * 8 - 1)) - 1;
	case CPU_LF_NEG: return (r & cpu_size_mask(sz)) == (1ull << (sz * 8 - 1));
	case CPU_LF_SHL: return (uint32_t)lf_sign(r, sz) ^ lf_cf(c);
	case CPU_LF_SHR: return (uint32_t)lf_sign(s1, sz);
	default: return 0;
	}
}

static uint32_t lf_af(struct cpu *c)
{
	switch (c->lf_op) {
	case CPU_LF_LOGIC: case CPU_LF_SHL: case CPU_LF_SHR: case CPU_LF_SAR: return 0;
	case CPU_LF_INC: return (c->lf_res & 0xf) == 0;
	case CPU_LF_DEC: return (c->lf_res & 0xf) == 0xf;
	case CPU_LF_NEG: return (c->lf_res & 0xf) != 0;
	default: return ((c->lf_s1 ^ c->lf_s2 ^ c->lf_res) >> 4) & 1;
	}
}

uint32_t cpu_status_flags(struct cpu *c)
{
	if (c->lf_op == CPU_LF_NONE)
		return (uint32_t)c->r.rflags & CPU_STATUS_FLAGS;
	uint64_t r = c->lf_res & cpu_size_mask(c->lf_size);
	uint32_t f = lf_parity(r);
	if (r == 0)
		f |= CPU_ZF;
	if (lf_sign(r, c->lf_size))
		f |= CPU_SF;
	if (lf_cf(c))
		f |= CPU_CF;
	if (lf_of(c))
		f |= CPU_OF;
	if (lf_af(c))
		f |= CPU_AF;
	return f;
}

/* Fast paths for the common "compare then branch" cases; everything else computes flags. */
bool cpu_cond(struct cpu *c, int cc)
{
	bool r;
	if (c->lf_op != CPU_LF_NONE && ((cc >> 1) == 2 || (cc >> 1) == 4)) {
		/* ZF and SF come straight from the result for every lazy operation */
		int sh = 64 - c->lf_size * 8;
		int64_t v = (int64_t)(c->lf_res << sh);
		r = (cc >> 1) == 2 ? v == 0 : v < 0;
		goto out;
	}
	if (c->lf_op == CPU_LF_SUB) {
		int sh = 64 - c->lf_size * 8;
		uint64_t a = c->lf_s1 << sh, b = c->lf_s2 << sh;
		switch (cc >> 1) {
		case 1: r = a < b; goto out;                        /* B */
		case 2: r = a == b; goto out;                       /* Z */
		case 3: r = a <= b; goto out;                       /* BE */
		case 6: r = (int64_t)a < (int64_t)b; goto out;      /* L */
		case 7: r = (int64_t)a <= (int64_t)b; goto out;     /* LE */
		default: break;
		}
	} else if (c->lf_op == CPU_LF_LOGIC) {
		int sh = 64 - c->lf_size * 8;
		int64_t v = (int64_t)(c->lf_res << sh);
		switch (cc >> 1) {
		case 0: case 1: r = false; goto out;               /* O, B: OF=CF=0 */
		case 2: r = v == 0; goto out;
		case 3: r = v == 0; goto out;                      /* BE: CF|ZF */
		case 4: r = v < 0; goto out;                       /* S */
		case 6: r = v < 0; goto out;                       /* L: SF != OF(0) */
		case 7: r = v <= 0; goto out;
		default: break;
		}
	}
	uint32_t f = cpu_status_flags(c);
	r = cpu_cond_of_flags(f, cc >> 1);
out:
	return r ^ (cc & 1);
}

/* Write RFLAGS bits under `mask` (status flags included) and drop the lazy state. */
void cpu_set_rflags(struct cpu *c, uint64_t v, uint64_t mask)
{
	uint64_t cur = cpu_get_rflags(c);
	c->r.rflags = ((cur & ~mask) | (v & mask) | 2) & 0x3f7fd7;
	if (CPU_UNLIKELY(c->r.rflags & ~cur & CPU_AC))
		cpu_ac_changed(c);
}
