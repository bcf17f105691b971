/* Shared inline helpers for the instruction handler files (cpu_alu.c, cpu_ctl.c, ...). */
#ifndef BHYVE_CPU_OPS_H
#define BHYVE_CPU_OPS_H

#include "cpu/cpu_internal.h"

#define H(name) static int name(struct cpu *c, const struct insn *i)
#define NEXT return CPU_H_NEXT

static inline uint64_t sx(uint64_t v, int size)
{
	int sh = 64 - size * 8;
	return (uint64_t)((int64_t)(v << sh) >> sh);
}

static inline uint64_t msb(uint64_t v, int size)
{
	return (v >> (size * 8 - 1)) & 1;
}

static inline uint32_t parity_flag(uint64_t v)
{
	return __builtin_parity((unsigned)(v & 0xff)) ? 0 : CPU_PF;
}

/* Flags SF/ZF/PF of a result. */
static inline uint32_t szp_flags(uint64_t r, int size)
{
	r &= cpu_size_mask(size);
	return parity_flag(r) | (r ? 0 : CPU_ZF) | (msb(r, size) ? CPU_SF : 0);
}

/* CF, with the common lazy states computed inline. */
static inline __attribute__((always_inline)) uint32_t get_cf(struct cpu *c)
{
	uint64_t m;
	switch (c->lf_op) {
	case CPU_LF_NONE: return (uint32_t)c->r.rflags & 1;
	case CPU_LF_LOGIC: return 0;
	case CPU_LF_INC: case CPU_LF_DEC: return (uint32_t)c->lf_cf;
	case CPU_LF_ADD: m = cpu_size_mask(c->lf_size); return (c->lf_res & m) < (c->lf_s1 & m);
	case CPU_LF_SUB: m = cpu_size_mask(c->lf_size); return (c->lf_s1 & m) < (c->lf_s2 & m);
	default: return cpu_lazy_cf(c);
	}
}

/* Condition cc (0..15, as in Jcc) with the common lazy states computed inline; `cc` is
 * normally a constant, so this folds to a few instructions per state. */
static inline __attribute__((always_inline)) bool cond_fast(struct cpu *c, int cc)
{
	int k = cc >> 1;
	uint32_t op = c->lf_op;
	if (op == CPU_LF_NONE) {
		uint64_t f = c->r.rflags;
		return cpu_cond_of_flags(f, k) ^ (cc & 1);
	}
	int sh = 64 - (int)c->lf_size * 8;
	if (k == 2 || k == 4) {      /* ZF and SF come from the result for every lazy op */
		int64_t v = (int64_t)(c->lf_res << sh);
		return (k == 2 ? v == 0 : v < 0) ^ (cc & 1);
	}
	if (op == CPU_LF_SUB && k != 0 && k != 5) {
		uint64_t a = c->lf_s1 << sh, b = c->lf_s2 << sh;
		bool r;
		switch (k) {
		case 1: r = a < b; break;
		case 3: r = a <= b; break;
		case 6: r = (int64_t)a < (int64_t)b; break;
		default: r = (int64_t)a <= (int64_t)b; break;
		}
		return r ^ (cc & 1);
	}
	if (op == CPU_LF_LOGIC && k != 5) {
		int64_t v = (int64_t)(c->lf_res << sh);
		bool r;
		switch (k) {
		case 0: case 1: r = false; break;
		case 3: r = v == 0; break;
		case 6: r = v < 0; break;
		default: r = v <= 0; break;
		}
		return r ^ (cc & 1);
	}
	return cpu_cond(c, cc);
}

static inline void set_lf(struct cpu *c, int op, int size, uint64_t a, uint64_t b, uint64_t r)
{
	c->lf_op = op;
	c->lf_size = size;
	c->lf_s1 = a;
	c->lf_s2 = b;
	c->lf_res = r;
}

/* Eagerly set status flags: `mask` says which ones are written. */
static inline void set_flags(struct cpu *c, uint32_t f, uint32_t mask)
{
	uint32_t cur = mask == CPU_STATUS_FLAGS ? 0 : cpu_status_flags(c);
	c->lf_op = CPU_LF_NONE;
	c->r.rflags = (c->r.rflags & ~(uint64_t)CPU_STATUS_FLAGS) | ((cur & ~mask) | (f & mask));
}

static inline uint64_t rd_rm(struct cpu *c, const struct insn *i, int size)
{
	if (i->flags & CPU_IF_MEM)
		return cpu_rd(c, i->seg, cpu_ea(c, i), size);
	return cpu_get_reg(c, i->rm, size);
}

static inline void wr_rm(struct cpu *c, const struct insn *i, int size, uint64_t v)
{
	if (i->flags & CPU_IF_MEM)
		cpu_wr(c, i->seg, cpu_ea(c, i), size, v);
	else
		cpu_set_reg(c, i->rm, size, v);
}

#define ld_host cpu_ld_host
#define st_host cpu_st_host

/* Atomic compare-and-swap on guest memory (host pointer); returns true if swapped, else
 * *expected gets the current value. */
static inline bool cas_host(void *p, int size, uint64_t *expected, uint64_t desired)
{
	switch (size) {
	case 1: { uint8_t e = (uint8_t)*expected; bool ok = __atomic_compare_exchange_n((uint8_t *)p, &e, (uint8_t)desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *expected = e; return ok; }
	case 2: { uint16_t e = (uint16_t)*expected; bool ok = __atomic_compare_exchange_n((uint16_t *)p, &e, (uint16_t)desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *expected = e; return ok; }
	case 4: { uint32_t e = (uint32_t)*expected; bool ok = __atomic_compare_exchange_n((uint32_t *)p, &e, (uint32_t)desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *expected = e; return ok; }
	default: { uint64_t e = *expected; bool ok = __atomic_compare_exchange_n((uint64_t *)p, &e, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *expected = e; return ok; }
	}
}

/* 64-bit mode: a branch to a non-canonical address raises #GP(0) at the branch. */
static inline void check_target(struct cpu *c, uint64_t t)
{
	if (CPU_UNLIKELY((uint64_t)((int64_t)(t << 16) >> 16) != t))
		cpu_raise_gp(c, 0);
}

/* Branch to `target` (already masked); ends the block. */
static inline int branch_to(struct cpu *c, uint64_t target)
{
	check_target(c, target);
	c->r.rip = target;
	return CPU_H_BRANCH;
}

static inline uint64_t ip_mask(const struct insn *i, uint64_t v)
{
	return i->osz == 8 ? v : v & cpu_size_mask(i->osz);
}

cpu_handler_fn cpu_alu_select(struct insn *i);
cpu_handler_fn cpu_ctl_select(struct insn *i);
cpu_handler_fn cpu_sys_select(struct insn *i);
cpu_handler_fn cpu_str_select(struct insn *i);

#endif
