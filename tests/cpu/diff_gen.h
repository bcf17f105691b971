/* Differential CPU test: encoding and state generation of one case. */
#ifndef DIFF_GEN_H
#define DIFF_GEN_H

#include "diff.h"

struct drng { uint64_t s; };

static inline uint64_t drng_next(struct drng *r)
{
	/* splitmix64: deterministic, good enough for test values. */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t drng_below(struct drng *r, uint64_t n) { return drng_next(r) % n; }

/* The encoded instruction and where its operands are. */
struct denc {
	uint8_t bytes[16];
	int len;
	bool rex;            /* a REX prefix is present */
	bool a32;            /* 0x67 address-size prefix */
	int reg, rm;         /* register numbers of ModRM.reg / ModRM.rm (or opcode register) */
	int base, index;     /* address registers (-1 none) */
	uint64_t addr;       /* effective address of the memory operand */
	int imm_off;         /* offset of the immediate in bytes[] */
};

uint64_t diff_gen_value(struct drng *r, int bits);
void diff_gen_case(const struct dform *f, struct drng *r, struct dstate *st, struct denc *e);
uint16_t diff_gen_undef(const struct dform *f, const struct dstate *st, const struct denc *e);
void diff_gen_fx(const struct dform *f, struct drng *r, uint8_t *fx);

#endif
