/*
 * Differential CPU test: the general-purpose (integer) instruction forms of 64-bit mode, with
 * the flags each manual (Intel SDM vol. 2, AMD APM vol. 3) calls undefined.
 */
#include <stdlib.h>

#include "diff_forms.h"

#define R_AX (1u << 0)
#define R_CX (1u << 1)
#define R_DX (1u << 2)
#define R_BX (1u << 3)
#define R_SP (1u << 4)
#define R_BP (1u << 5)
#define R_SI (1u << 6)
#define R_DI (1u << 7)

#define U_LOGIC FL_AF
#define U_MUL (FL_SF | FL_ZF | FL_AF | FL_PF)
#define U_DIV FL_STATUS
#define U_BT (FL_OF | FL_SF | FL_AF | FL_PF)
#define U_BSX (FL_CF | FL_OF | FL_SF | FL_AF | FL_PF)

static const char *const alu_mn[8] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };
static const char *const shift_mn[8] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar" };
static const char *const cc_mn[16] = { "o", "no", "b", "ae", "e", "ne", "be", "a",
				       "s", "ns", "p", "np", "l", "ge", "le", "g" };

#define P(...) (&(struct dproto){ __VA_ARGS__ })

static void forms_alu(struct dfb *b)
{
	for (int i = 0; i < 8; i++) {
		uint8_t base = (uint8_t)(i * 8);
		uint16_t u = (i == 1 || i == 4 || i == 6) ? U_LOGIC : 0;
		int lk = i != 7;
		char mn[5][32];
		snprintf(mn[0], 32, "%s rm,r", alu_mn[i]);
		snprintf(mn[1], 32, "%s r,rm", alu_mn[i]);
		snprintf(mn[2], 32, "%s acc,imm", alu_mn[i]);
		snprintf(mn[3], 32, "%s rm,imm", alu_mn[i]);
		snprintf(mn[4], 32, "%s rm,imm8s", alu_mn[i]);
		dfb_sizes(b, P(.mn = mn[0], .op = { base }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
			       .rc_rm = RC_GPR, .undef = u, .lock = lk), SZ8);
		dfb_sizes(b, P(.mn = mn[0], .op = { base + 1 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
			       .rc_rm = RC_GPR, .undef = u, .lock = lk), SZ_V);
		dfb_sizes(b, P(.mn = mn[1], .op = { base + 2 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
			       .rc_rm = RC_GPR, .undef = u), SZ8);
		dfb_sizes(b, P(.mn = mn[1], .op = { base + 3 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
			       .rc_rm = RC_GPR, .undef = u), SZ_V);
		dfb_sizes(b, P(.mn = mn[2], .op = { base + 4 }, .nop = 1, .digit = -2, .imm = 1,
			       .undef = u), SZ8);
		dfb_sizes(b, P(.mn = mn[2], .op = { base + 5 }, .nop = 1, .digit = -2, .imm = 0xff,
			       .undef = u), SZ_V);
		dfb_sizes(b, P(.mn = mn[3], .op = { 0x80 }, .nop = 1, .digit = (int8_t)i, .rc_rm = RC_GPR,
			       .imm = 1, .undef = u, .lock = lk), SZ8);
		dfb_sizes(b, P(.mn = mn[3], .op = { 0x81 }, .nop = 1, .digit = (int8_t)i, .rc_rm = RC_GPR,
			       .imm = 0xff, .undef = u, .lock = lk), SZ_V);
		dfb_sizes(b, P(.mn = mn[4], .op = { 0x83 }, .nop = 1, .digit = (int8_t)i, .rc_rm = RC_GPR,
			       .imm = 1, .undef = u, .lock = lk), SZ_V);
	}
	dfb_sizes(b, P(.mn = "test rm,r", .op = { 0x84 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .undef = U_LOGIC), SZ8);
	dfb_sizes(b, P(.mn = "test rm,r", .op = { 0x85 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .undef = U_LOGIC), SZ_V);
	dfb_sizes(b, P(.mn = "test acc,imm", .op = { 0xa8 }, .nop = 1, .digit = -2, .imm = 1,
		       .undef = U_LOGIC), SZ8);
	dfb_sizes(b, P(.mn = "test acc,imm", .op = { 0xa9 }, .nop = 1, .digit = -2, .imm = 0xff,
		       .undef = U_LOGIC), SZ_V);
	for (int d = 0; d < 2; d++) {       /* F6 /1 is an alias of /0 */
		dfb_sizes(b, P(.mn = d ? "test(/1) rm,imm" : "test rm,imm", .op = { 0xf6 }, .nop = 1,
			       .digit = (int8_t)d, .rc_rm = RC_GPR, .imm = 1, .undef = U_LOGIC), SZ8);
		dfb_sizes(b, P(.mn = d ? "test(/1) rm,imm" : "test rm,imm", .op = { 0xf7 }, .nop = 1,
			       .digit = (int8_t)d, .rc_rm = RC_GPR, .imm = 0xff, .undef = U_LOGIC), SZ_V);
	}
}

static void forms_unary(struct dfb *b)
{
	static const char *const mn[8] = { 0, 0, "not", "neg", "mul", "imul", "div", "idiv" };
	for (int d = 2; d < 8; d++) {
		struct dproto p = { .mn = mn[d], .op = { 0xf6 }, .nop = 1, .digit = (int8_t)d,
				    .rc_rm = RC_GPR, .lock = d < 4 };
		if (d >= 4) {
			p.kind = d >= 6 ? K_DIV : K_MUL;
			p.undef = d >= 6 ? U_DIV : U_MUL;
			p.implicit = R_AX | R_DX;
		}
		dfb_sizes(b, &p, SZ8);
		p.op[0] = 0xf7;
		dfb_sizes(b, &p, SZ_V);
	}
	for (int d = 0; d < 2; d++) {
		const char *m = d ? "dec" : "inc";
		dfb_sizes(b, P(.mn = m, .op = { 0xfe }, .nop = 1, .digit = (int8_t)d, .rc_rm = RC_GPR,
			       .lock = 1), SZ8);
		dfb_sizes(b, P(.mn = m, .op = { 0xff }, .nop = 1, .digit = (int8_t)d, .rc_rm = RC_GPR,
			       .lock = 1), SZ_V);
	}
	dfb_sizes(b, P(.mn = "imul r,rm", .op = { 0x0f, 0xaf }, .nop = 2, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .undef = U_MUL), SZ_V);
	dfb_sizes(b, P(.mn = "imul r,rm,imm", .op = { 0x69 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .imm = 0xff, .undef = U_MUL), SZ_V);
	dfb_sizes(b, P(.mn = "imul r,rm,imm8", .op = { 0x6b }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .imm = 1, .undef = U_MUL), SZ_V);
}

static void forms_shift(struct dfb *b)
{
	static const char *const cnt[3] = { "1", "cl", "imm8" };
	static const uint8_t op8[3] = { 0xd0, 0xd2, 0xc0 }, opv[3] = { 0xd1, 0xd3, 0xc1 };
	for (int d = 0; d < 8; d++) {
		for (int c = 0; c < 3; c++) {
			char *mn = malloc(32);
			snprintf(mn, 32, "%s rm,%s", shift_mn[d], cnt[c]);
			struct dproto p = { .mn = mn, .op = { op8[c] }, .nop = 1, .digit = (int8_t)d,
					    .rc_rm = RC_GPR, .imm = c == 2, .sub = (uint8_t)c,
					    .kind = d < 2 ? K_ROT : d < 4 ? K_RCX : K_SHIFT,
					    .implicit = c == 1 ? R_CX : 0 };
			dfb_sizes(b, &p, SZ8);
			p.op[0] = opv[c];
			dfb_sizes(b, &p, SZ_V);
		}
	}
	for (int d = 0; d < 2; d++) {
		for (int c = 1; c < 3; c++) {
			char *mn = malloc(32);
			snprintf(mn, 32, "%s rm,r,%s", d ? "shrd" : "shld", cnt[c]);
			uint8_t op = (uint8_t)((d ? 0xac : 0xa4) + (c == 1));
			dfb_sizes(b, P(.mn = mn, .op = { 0x0f, op }, .nop = 2, .digit = -1, .rc_reg = RC_GPR,
				       .rc_rm = RC_GPR, .imm = c == 2, .sub = (uint8_t)c, .kind = K_SHXD,
				       .implicit = c == 1 ? R_CX : 0), SZ_V);
		}
	}
}

static void forms_mov(struct dfb *b)
{
	dfb_sizes(b, P(.mn = "mov rm,r", .op = { 0x88 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR), SZ8);
	dfb_sizes(b, P(.mn = "mov rm,r", .op = { 0x89 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR), SZ_V);
	dfb_sizes(b, P(.mn = "mov r,rm", .op = { 0x8a }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR), SZ8);
	dfb_sizes(b, P(.mn = "mov r,rm", .op = { 0x8b }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR), SZ_V);
	dfb_sizes(b, P(.mn = "mov rm,imm", .op = { 0xc6 }, .nop = 1, .digit = 0, .rc_rm = RC_GPR,
		       .imm = 1), SZ8);
	dfb_sizes(b, P(.mn = "mov rm,imm", .op = { 0xc7 }, .nop = 1, .digit = 0, .rc_rm = RC_GPR,
		       .imm = 0xff), SZ_V);
	dfb_sizes(b, P(.mn = "mov r,imm", .op = { 0xb0 }, .nop = 1, .digit = -2, .opreg = 1,
		       .imm = 1), SZ8);
	dfb_sizes(b, P(.mn = "mov r,imm", .op = { 0xb8 }, .nop = 1, .digit = -2, .opreg = 1,
		       .imm = 0xff), SZ16 | SZ32);
	dfb_sizes(b, P(.mn = "mov r,imm64", .op = { 0xb8 }, .nop = 1, .digit = -2, .opreg = 1,
		       .imm = 8), SZ64);
	dfb_sizes(b, P(.mn = "mov acc,moffs", .op = { 0xa0 }, .nop = 1, .digit = -2, .imm = 8,
		       .kind = K_MOFFS), SZ8);
	dfb_sizes(b, P(.mn = "mov acc,moffs", .op = { 0xa1 }, .nop = 1, .digit = -2, .imm = 8,
		       .kind = K_MOFFS), SZ_V);
	dfb_sizes(b, P(.mn = "mov moffs,acc", .op = { 0xa2 }, .nop = 1, .digit = -2, .imm = 8,
		       .kind = K_MOFFS), SZ8);
	dfb_sizes(b, P(.mn = "mov moffs,acc", .op = { 0xa3 }, .nop = 1, .digit = -2, .imm = 8,
		       .kind = K_MOFFS), SZ_V);
	dfb_sizes(b, P(.mn = "mov acc,moffs32", .op = { 0xa1 }, .nop = 1, .digit = -2, .imm = 4,
		       .kind = K_MOFFS, .pfx = { 0x67 }, .npfx = 1), SZ32);
	dfb_sizes(b, P(.mn = "mov moffs32,acc", .op = { 0xa2 }, .nop = 1, .digit = -2, .imm = 4,
		       .kind = K_MOFFS, .pfx = { 0x67 }, .npfx = 1), SZ8);
	/* MOVZX/MOVSX: the source is byte/word regardless of the destination size. */
	static const struct { const char *mn; uint8_t op; int sizes; } ext[] = {
		{ "movzx r,rm8", 0xb6, SZ_V }, { "movzx r,rm16", 0xb7, SZ_V },
		{ "movsx r,rm8", 0xbe, SZ_V }, { "movsx r,rm16", 0xbf, SZ_V },
	};
	for (int i = 0; i < 4; i++) {
		/* rm8 forms: rm is a byte register; emulate via an 8-bit rm class. */
		struct dproto p = { .mn = ext[i].mn, .op = { 0x0f, ext[i].op }, .nop = 2, .digit = -1,
				    .rc_reg = RC_GPR, .rc_rm = (ext[i].op & 1) ? RC_GPR : RC_GPR8 };
		dfb_sizes(b, &p, ext[i].sizes);
	}
	dfb_sizes(b, P(.mn = "movsxd r,rm32", .op = { 0x63 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR), SZ64 | SZ32);
	dfb_sizes(b, P(.mn = "xchg rm,r", .op = { 0x86 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .lock = 1), SZ8);
	dfb_sizes(b, P(.mn = "xchg rm,r", .op = { 0x87 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .lock = 1), SZ_V);
	dfb_sizes(b, P(.mn = "xchg acc,r", .op = { 0x90 }, .nop = 1, .digit = -2, .opreg = 1), SZ_V);
	dfb_sizes(b, P(.mn = "xadd rm,r", .op = { 0x0f, 0xc0 }, .nop = 2, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .lock = 1), SZ8);
	dfb_sizes(b, P(.mn = "xadd rm,r", .op = { 0x0f, 0xc1 }, .nop = 2, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .lock = 1), SZ_V);
	dfb_sizes(b, P(.mn = "cmpxchg rm,r", .op = { 0x0f, 0xb0 }, .nop = 2, .digit = -1,
		       .rc_reg = RC_GPR, .rc_rm = RC_GPR, .lock = 1, .implicit = R_AX), SZ8);
	dfb_sizes(b, P(.mn = "cmpxchg rm,r", .op = { 0x0f, 0xb1 }, .nop = 2, .digit = -1,
		       .rc_reg = RC_GPR, .rc_rm = RC_GPR, .lock = 1, .implicit = R_AX), SZ_V);
	dfb_sizes(b, P(.mn = "cmpxchg8b m64", .op = { 0x0f, 0xc7 }, .nop = 2, .digit = 1,
		       .rc_rm = RC_GPR, .where = 2, .lock = 1, .kind = K_CX8,
		       .implicit = R_AX | R_BX | R_CX | R_DX), SZ32);
	dfb_sizes(b, P(.mn = "lea r,m", .op = { 0x8d }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .where = 2), SZ_V);
	dfb_sizes(b, P(.mn = "bswap r", .op = { 0x0f, 0xc8 }, .nop = 2, .digit = -2, .opreg = 1),
		  SZ32 | SZ64);
	dfb_sizes(b, P(.mn = "movnti m,r", .op = { 0x0f, 0xc3 }, .nop = 2, .digit = -1,
		       .rc_reg = RC_GPR, .rc_rm = RC_GPR, .where = 2), SZ32 | SZ64);
}

static void forms_cc(struct dfb *b)
{
	for (int c = 0; c < 16; c++) {
		char *m1 = malloc(24), *m2 = malloc(24), *m3 = malloc(24), *m4 = malloc(24);
		snprintf(m1, 24, "cmov%s r,rm", cc_mn[c]);
		snprintf(m2, 24, "set%s rm8", cc_mn[c]);
		snprintf(m3, 24, "j%s rel8", cc_mn[c]);
		snprintf(m4, 24, "j%s rel32", cc_mn[c]);
		dfb_sizes(b, P(.mn = m1, .op = { 0x0f, (uint8_t)(0x40 + c) }, .nop = 2, .digit = -1,
			       .rc_reg = RC_GPR, .rc_rm = RC_GPR), SZ_V);
		dfb_sizes(b, P(.mn = m2, .op = { 0x0f, (uint8_t)(0x90 + c) }, .nop = 2, .digit = 0,
			       .rc_rm = RC_GPR), SZ8);
		dfb_sizes(b, P(.mn = m3, .op = { (uint8_t)(0x70 + c) }, .nop = 1, .digit = -2, .imm = 1,
			       .d64 = 1, .kind = K_BRANCH), SZ64);
		dfb_sizes(b, P(.mn = m4, .op = { 0x0f, (uint8_t)(0x80 + c) }, .nop = 2, .digit = -2,
			       .imm = 4, .d64 = 1, .kind = K_BRANCH), SZ64);
	}
	static const char *const lmn[4] = { "loopne", "loope", "loop", "jrcxz" };
	for (int i = 0; i < 4; i++)
		dfb_sizes(b, P(.mn = lmn[i], .op = { (uint8_t)(0xe0 + i) }, .nop = 1, .digit = -2,
			       .imm = 1, .d64 = 1, .kind = K_BRANCH, .implicit = R_CX), SZ64);
	dfb_sizes(b, P(.mn = "jecxz", .op = { 0xe3 }, .nop = 1, .digit = -2, .imm = 1,
		       .d64 = 1, .kind = K_BRANCH, .pfx = { 0x67 }, .npfx = 1), SZ64);
	dfb_sizes(b, P(.mn = "jmp rel8", .op = { 0xeb }, .nop = 1, .digit = -2, .imm = 1,
		       .d64 = 1, .kind = K_BRANCH), SZ64);
	dfb_sizes(b, P(.mn = "jmp rel32", .op = { 0xe9 }, .nop = 1, .digit = -2, .imm = 4,
		       .d64 = 1, .kind = K_BRANCH), SZ64);
	dfb_sizes(b, P(.mn = "call rel32", .op = { 0xe8 }, .nop = 1, .digit = -2, .imm = 4,
		       .d64 = 1, .kind = K_CALL, .implicit = R_SP), SZ64);
}

static void forms_bits(struct dfb *b)
{
	static const char *const mn[4] = { "bt", "bts", "btr", "btc" };
	for (int i = 0; i < 4; i++) {
		char *m1 = malloc(24), *m2 = malloc(24);
		snprintf(m1, 24, "%s rm,r", mn[i]);
		snprintf(m2, 24, "%s rm,imm8", mn[i]);
		struct dproto p = { .mn = m1, .op = { 0x0f, (uint8_t)(0xa3 + 8 * i) }, .nop = 2,
				    .digit = -1, .rc_reg = RC_GPR, .rc_rm = RC_GPR, .undef = U_BT,
				    .where = 1 };
		dfb_sizes(b, &p, SZ_V);
		p.where = 2;
		p.kind = K_BTMEM;
		p.lock = i > 0;
		dfb_sizes(b, &p, SZ_V);
		dfb_sizes(b, P(.mn = m2, .op = { 0x0f, 0xba }, .nop = 2, .digit = (int8_t)(4 + i),
			       .rc_rm = RC_GPR, .imm = 1, .undef = U_BT, .lock = i > 0), SZ_V);
	}
	dfb_sizes(b, P(.mn = "bsf r,rm", .op = { 0x0f, 0xbc }, .nop = 2, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .undef = U_BSX, .kind = K_BSX), SZ_V);
	dfb_sizes(b, P(.mn = "bsr r,rm", .op = { 0x0f, 0xbd }, .nop = 2, .digit = -1, .rc_reg = RC_GPR,
		       .rc_rm = RC_GPR, .undef = U_BSX, .kind = K_BSX), SZ_V);
}

static void forms_stack(struct dfb *b)
{
	dfb_sizes(b, P(.mn = "push r", .op = { 0x50 }, .nop = 1, .digit = -2, .opreg = 1,
		       .d64 = 1, .kind = K_PUSH, .implicit = R_SP), SZ16 | SZ64);
	dfb_sizes(b, P(.mn = "pop r", .op = { 0x58 }, .nop = 1, .digit = -2, .opreg = 1,
		       .d64 = 1, .kind = K_POP, .implicit = R_SP), SZ16 | SZ64);
	dfb_sizes(b, P(.mn = "push imm8", .op = { 0x6a }, .nop = 1, .digit = -2, .imm = 1,
		       .d64 = 1, .kind = K_PUSH, .implicit = R_SP), SZ16 | SZ64);
	dfb_sizes(b, P(.mn = "push imm", .op = { 0x68 }, .nop = 1, .digit = -2, .imm = 0xff,
		       .d64 = 1, .kind = K_PUSH, .implicit = R_SP), SZ16);
	dfb_sizes(b, P(.mn = "push imm32", .op = { 0x68 }, .nop = 1, .digit = -2, .imm = 4,
		       .d64 = 1, .kind = K_PUSH, .implicit = R_SP), SZ64);
	dfb_sizes(b, P(.mn = "push rm", .op = { 0xff }, .nop = 1, .digit = 6, .rc_rm = RC_GPR,
		       .d64 = 1, .kind = K_PUSH, .implicit = R_SP), SZ16 | SZ64);
	dfb_sizes(b, P(.mn = "pop rm", .op = { 0x8f }, .nop = 1, .digit = 0, .rc_rm = RC_GPR,
		       .d64 = 1, .kind = K_POP, .implicit = R_SP), SZ16 | SZ64);
	dfb_sizes(b, P(.mn = "pushf", .op = { 0x9c }, .nop = 1, .digit = -2, .d64 = 1, .kind = K_PUSH,
		       .implicit = R_SP), SZ16 | SZ64);
	dfb_sizes(b, P(.mn = "popf", .op = { 0x9d }, .nop = 1, .digit = -2, .d64 = 1, .kind = K_POPF,
		       .implicit = R_SP), SZ64);
	dfb_sizes(b, P(.mn = "ret", .op = { 0xc3 }, .nop = 1, .digit = -2, .d64 = 1, .kind = K_RET,
		       .implicit = R_SP), SZ64);
	dfb_sizes(b, P(.mn = "ret imm16", .op = { 0xc2 }, .nop = 1, .digit = -2, .imm = 2,
		       .d64 = 1, .kind = K_RET, .implicit = R_SP), SZ64);
	dfb_sizes(b, P(.mn = "call rm", .op = { 0xff }, .nop = 1, .digit = 2, .rc_rm = RC_GPR,
		       .d64 = 1, .kind = K_CALLIND, .implicit = R_SP), SZ64);
	dfb_sizes(b, P(.mn = "jmp rm", .op = { 0xff }, .nop = 1, .digit = 4, .rc_rm = RC_GPR,
		       .d64 = 1, .kind = K_JMPIND, .implicit = R_SP), SZ64);
	dfb_sizes(b, P(.mn = "leave", .op = { 0xc9 }, .nop = 1, .digit = -2, .d64 = 1, .kind = K_LEAVE,
		       .implicit = R_SP | R_BP), SZ16 | SZ64);
	dfb_sizes(b, P(.mn = "enter", .op = { 0xc8 }, .nop = 1, .digit = -2, .imm = 3,
		       .d64 = 1, .kind = K_ENTER, .implicit = R_SP | R_BP), SZ16 | SZ64);
}

static void forms_string(struct dfb *b)
{
	static const struct { const char *mn; uint8_t op; int rep; } s[] = {
		{ "movs", 0xa4, 1 }, { "cmps", 0xa6, 2 }, { "stos", 0xaa, 1 }, { "lods", 0xac, 1 },
		{ "scas", 0xae, 2 },
	};
	static const uint8_t reps[3] = { 0, 0xf3, 0xf2 };
	for (int i = 0; i < 5; i++) {
		for (int r = 0; r <= s[i].rep; r++) {
			for (int a = 0; a < 2; a++) {
				if (a && r == 2)
					continue;
				struct dproto p = { .mn = s[i].mn, .op = { s[i].op }, .nop = 1, .digit = -2,
						    .kind = K_STRING, .implicit = R_SI | R_DI | R_CX };
				int np = 0;
				if (a)
					p.pfx[np++] = 0x67;
				if (r)
					p.pfx[np++] = reps[r];
				p.npfx = (uint8_t)np;
				dfb_sizes(b, &p, SZ8);
				p.op[0]++;
				dfb_sizes(b, &p, a ? SZ32 | SZ64 : SZ_V);
			}
		}
	}
	dfb_sizes(b, P(.mn = "xlat", .op = { 0xd7 }, .nop = 1, .digit = -2, .kind = K_XLAT,
		       .implicit = R_BX), SZ8);
}

static void forms_misc(struct dfb *b)
{
	static const struct { const char *mn; uint8_t op; int sizes; } one[] = {
		{ "cbw/cwde/cdqe", 0x98, SZ_V }, { "cwd/cdq/cqo", 0x99, SZ_V }, { "clc", 0xf8, SZ32 },
		{ "stc", 0xf9, SZ32 }, { "cmc", 0xf5, SZ32 }, { "cld", 0xfc, SZ32 }, { "std", 0xfd, SZ32 },
		{ "lahf", 0x9f, SZ32 }, { "sahf", 0x9e, SZ32 }, { "nop", 0x90, SZ32 | SZ16 },
	};
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		dfb_sizes(b, P(.mn = one[i].mn, .op = { one[i].op }, .nop = 1, .digit = -2), one[i].sizes);
	dfb_sizes(b, P(.mn = "pause", .op = { 0x90 }, .nop = 1, .digit = -2, .pfx = { 0xf3 },
		       .npfx = 1), SZ32);
	dfb_sizes(b, P(.mn = "nopl rm", .op = { 0x0f, 0x1f }, .nop = 2, .digit = 0, .rc_rm = RC_GPR),
		  SZ16 | SZ32);
	for (int d = 0; d < 4; d++)
		dfb_sizes(b, P(.mn = "prefetch m", .op = { 0x0f, 0x18 }, .nop = 2, .digit = (int8_t)d,
			       .rc_rm = RC_GPR, .where = 2), SZ32);
	static const struct { const char *mn; uint8_t rm; } fence[] = {
		{ "lfence", 0xe8 }, { "mfence", 0xf0 }, { "sfence", 0xf8 } };
	for (int i = 0; i < 3; i++)
		dfb_sizes(b, P(.mn = fence[i].mn, .op = { 0x0f, 0xae, fence[i].rm }, .nop = 3,
			       .digit = -2), SZ32);
	dfb_sizes(b, P(.mn = "clflush m", .op = { 0x0f, 0xae }, .nop = 2, .digit = 7,
		       .rc_rm = RC_GPR, .where = 2), SZ32);
	dfb_sizes(b, P(.mn = "ud2", .op = { 0x0f, 0x0b }, .nop = 2, .digit = -2), SZ32);
	/* One-byte opcodes that are invalid in 64-bit mode: #UD. */
	static const uint8_t inval[] = { 0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f,
					 0x37, 0x3f, 0x60, 0x61, 0xce, 0xd4, 0xd5, 0xd6, 0x9a, 0xea };
	for (size_t i = 0; i < sizeof(inval); i++) {
		char *mn = malloc(24);
		snprintf(mn, 24, "invalid64 %02x", inval[i]);
		dfb_sizes(b, P(.mn = mn, .op = { inval[i] }, .nop = 1, .digit = -2,
			       .kind = K_INVALID), SZ32);
	}
	/* Redundant segment prefixes (ignored in 64-bit mode) on a memory ALU form. */
	static const uint8_t segs[4] = { 0x26, 0x2e, 0x36, 0x3e };
	for (int i = 0; i < 4; i++) {
		char *mn = malloc(24);
		snprintf(mn, 24, "seg%02x add r,rm", segs[i]);
		dfb_sizes(b, P(.mn = mn, .op = { 0x03 }, .nop = 1, .digit = -1, .rc_reg = RC_GPR,
			       .rc_rm = RC_GPR, .pfx = { segs[i] }, .npfx = 1, .where = 2), SZ32 | SZ64);
	}
}

int diff_forms_int(struct dform *out, int max)
{
	struct dfb b = { out, 0, max };
	forms_alu(&b);
	forms_unary(&b);
	forms_shift(&b);
	forms_mov(&b);
	forms_cc(&b);
	forms_bits(&b);
	forms_stack(&b);
	forms_string(&b);
	forms_misc(&b);
	return b.n;
}
