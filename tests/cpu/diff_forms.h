/* Differential CPU test: helpers to build the form table. */
#ifndef DIFF_FORMS_H
#define DIFF_FORMS_H

#include <stdio.h>
#include <string.h>

#include "diff.h"

/* A form template: expanded over operand sizes and register/memory. */
struct dproto {
	const char *mn;
	uint8_t op[3], nop;
	int8_t digit;           /* -1: ModRM.reg is a register operand; -2: no ModRM */
	uint8_t rc_reg, rc_rm;
	uint8_t imm;            /* immediate bytes; 0xff: operand size (max 4) */
	uint8_t kind, sub, fp, align, misalign;
	uint16_t undef, implicit, fsw_undef;
	uint8_t memskip;
	uint8_t pfx[3], npfx;
	uint8_t where;          /* 0 both, 1 register only, 2 memory only */
	uint8_t lock;           /* also emit a LOCK-prefixed memory variant */
	uint8_t opreg, norex;
	uint8_t d64;             /* size 64 is the default (no REX.W) */
	int8_t fixed_rm;        /* 1 + fixed mod=3 rm, 0: none */
	const char *known;
};

struct dfb {
	struct dform *out;
	int n, max;
};

#define SZ8  1
#define SZ16 2
#define SZ32 4
#define SZ64 8
#define SZ_V (SZ16 | SZ32 | SZ64)
#define SZ_ALL (SZ8 | SZ_V)

void dfb_emit(struct dfb *b, const struct dproto *p, int size, int mem, int lock);
void dfb_sizes(struct dfb *b, const struct dproto *p, int sizes);

#endif
