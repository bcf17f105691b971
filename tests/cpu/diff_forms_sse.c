/*
 * Differential CPU test: SSE/SSE2 (and MMX) instruction forms, legacy encodings only (no VEX).
 * The XMM registers and MXCSR are compared for every form; MMX forms also compare the x87
 * register file and tag word that MMX aliases.
 */
#include <stdlib.h>

#include "diff_forms.h"

#define P(...) (&(struct dproto){ __VA_ARGS__ })

/* xmm, xmm/m (align = required alignment of the memory form). */
static void sse_op(struct dfb *b, const char *mn, uint8_t pfx, uint8_t op, int align, int imm)
{
	struct dproto p = { .mn = mn, .op = { 0x0f, op }, .nop = 2, .digit = -1, .rc_reg = RC_XMM,
			    .rc_rm = RC_XMM, .kind = K_SSE, .fp = 2, .align = (uint8_t)align,
			    .imm = (uint8_t)imm };
	if (pfx) {
		p.pfx[0] = pfx;
		p.npfx = 1;
	}
	dfb_sizes(b, &p, SZ32);
	if (align > 1) {      /* the same form with a misaligned operand: #GP(0) */
		p.misalign = 1;
		p.where = 2;
		char *m = malloc(48);
		snprintf(m, 48, "%s misaligned", mn);
		p.mn = m;
		dfb_sizes(b, &p, SZ32);
	}
}

static void forms_fp_arith(struct dfb *b)
{
	static const struct { const char *mn; uint8_t op; } ar[] = {
		{ "sqrt", 0x51 }, { "add", 0x58 }, { "mul", 0x59 }, { "sub", 0x5c }, { "min", 0x5d },
		{ "div", 0x5e }, { "max", 0x5f }, { "cmp", 0xc2 },
	};
	static const struct { const char *sfx; uint8_t pfx; int align; } ty[] = {
		{ "ps", 0, 16 }, { "pd", 0x66, 16 }, { "ss", 0xf3, 1 }, { "sd", 0xf2, 1 },
	};
	for (size_t i = 0; i < sizeof(ar) / sizeof(ar[0]); i++) {
		for (int t = 0; t < 4; t++) {
			char *mn = malloc(24);
			snprintf(mn, 24, "%s%s", ar[i].mn, ty[t].sfx);
			sse_op(b, mn, ty[t].pfx, ar[i].op, ty[t].align, ar[i].op == 0xc2);
		}
	}
	static const struct { const char *mn; uint8_t op; } lg[] = {
		{ "and", 0x54 }, { "andn", 0x55 }, { "or", 0x56 }, { "xor", 0x57 },
		{ "unpckl", 0x14 }, { "unpckh", 0x15 }, { "shuf", 0xc6 },
	};
	for (size_t i = 0; i < sizeof(lg) / sizeof(lg[0]); i++) {
		for (int t = 0; t < 2; t++) {
			char *mn = malloc(24);
			snprintf(mn, 24, "%s%s", lg[i].mn, ty[t].sfx);
			sse_op(b, mn, ty[t].pfx, lg[i].op, 16, lg[i].op == 0xc6);
		}
	}
	static const struct { const char *mn; uint8_t pfx, op; } cm[] = {
		{ "ucomiss", 0, 0x2e }, { "comiss", 0, 0x2f }, { "ucomisd", 0x66, 0x2e },
		{ "comisd", 0x66, 0x2f },
	};
	for (int i = 0; i < 4; i++)
		sse_op(b, cm[i].mn, cm[i].pfx, cm[i].op, 1, 0);
}

static void forms_moves(struct dfb *b)
{
	static const struct { const char *mn; uint8_t pfx, op; int align, where; } mv[] = {
		{ "movups load", 0, 0x10, 1, 0 }, { "movups store", 0, 0x11, 1, 0 },
		{ "movupd load", 0x66, 0x10, 1, 0 }, { "movupd store", 0x66, 0x11, 1, 0 },
		{ "movss load", 0xf3, 0x10, 1, 0 }, { "movss store", 0xf3, 0x11, 1, 0 },
		{ "movsd load", 0xf2, 0x10, 1, 0 }, { "movsd store", 0xf2, 0x11, 1, 0 },
		{ "movaps load", 0, 0x28, 16, 0 }, { "movaps store", 0, 0x29, 16, 0 },
		{ "movapd load", 0x66, 0x28, 16, 0 }, { "movapd store", 0x66, 0x29, 16, 0 },
		{ "movdqa load", 0x66, 0x6f, 16, 0 }, { "movdqa store", 0x66, 0x7f, 16, 0 },
		{ "movdqu load", 0xf3, 0x6f, 1, 0 }, { "movdqu store", 0xf3, 0x7f, 1, 0 },
		{ "movlps/movhlps", 0, 0x12, 1, 0 }, { "movlps store", 0, 0x13, 1, 2 },
		{ "movhps/movlhps", 0, 0x16, 1, 0 }, { "movhps store", 0, 0x17, 1, 2 },
		{ "movlpd load", 0x66, 0x12, 1, 2 }, { "movlpd store", 0x66, 0x13, 1, 2 },
		{ "movhpd load", 0x66, 0x16, 1, 2 }, { "movhpd store", 0x66, 0x17, 1, 2 },
		{ "movq xmm,xmm/m64", 0xf3, 0x7e, 1, 0 }, { "movq xmm/m64,xmm", 0x66, 0xd6, 1, 0 },
		{ "movntps", 0, 0x2b, 16, 2 }, { "movntpd", 0x66, 0x2b, 16, 2 },
		{ "movntdq", 0x66, 0xe7, 16, 2 },
		{ "cvtps2pd", 0, 0x5a, 1, 0 }, { "cvtpd2ps", 0x66, 0x5a, 16, 0 },
		{ "cvtss2sd", 0xf3, 0x5a, 1, 0 }, { "cvtsd2ss", 0xf2, 0x5a, 1, 0 },
		{ "cvtdq2ps", 0, 0x5b, 16, 0 }, { "cvtps2dq", 0x66, 0x5b, 16, 0 },
		{ "cvttps2dq", 0xf3, 0x5b, 16, 0 }, { "cvtdq2pd", 0xf3, 0xe6, 1, 0 },
		{ "cvtpd2dq", 0xf2, 0xe6, 16, 0 }, { "cvttpd2dq", 0x66, 0xe6, 16, 0 },
	};
	for (size_t i = 0; i < sizeof(mv) / sizeof(mv[0]); i++) {
		struct dproto p = { .mn = mv[i].mn, .op = { 0x0f, mv[i].op }, .nop = 2, .digit = -1,
				    .rc_reg = RC_XMM, .rc_rm = RC_XMM, .kind = K_SSE, .fp = 2,
				    .align = (uint8_t)mv[i].align, .where = (uint8_t)mv[i].where,
				    .pfx = { mv[i].pfx }, .npfx = mv[i].pfx != 0 };
		dfb_sizes(b, &p, SZ32);
	}
	/* GPR <-> XMM (operand size from REX.W). */
	static const struct { const char *mn; uint8_t pfx, op; int rcreg, rcrm, sizes; } gx[] = {
		{ "movd/q xmm,rm", 0x66, 0x6e, RC_XMM, RC_GPR, SZ32 | SZ64 },
		{ "movd/q rm,xmm", 0x66, 0x7e, RC_XMM, RC_GPR, SZ32 | SZ64 },
		{ "cvtsi2ss xmm,rm", 0xf3, 0x2a, RC_XMM, RC_GPR, SZ32 | SZ64 },
		{ "cvtsi2sd xmm,rm", 0xf2, 0x2a, RC_XMM, RC_GPR, SZ32 | SZ64 },
		{ "cvtss2si r,xmm", 0xf3, 0x2d, RC_GPR, RC_XMM, SZ32 | SZ64 },
		{ "cvttss2si r,xmm", 0xf3, 0x2c, RC_GPR, RC_XMM, SZ32 | SZ64 },
		{ "cvtsd2si r,xmm", 0xf2, 0x2d, RC_GPR, RC_XMM, SZ32 | SZ64 },
		{ "cvttsd2si r,xmm", 0xf2, 0x2c, RC_GPR, RC_XMM, SZ32 | SZ64 },
	};
	for (size_t i = 0; i < sizeof(gx) / sizeof(gx[0]) && gx[i].sizes; i++) {
		struct dproto p = { .mn = gx[i].mn, .op = { 0x0f, gx[i].op }, .nop = 2, .digit = -1,
				    .rc_reg = (uint8_t)gx[i].rcreg, .rc_rm = (uint8_t)gx[i].rcrm,
				    .kind = K_SSE, .fp = 2, .pfx = { gx[i].pfx }, .npfx = 1 };
		dfb_sizes(b, &p, gx[i].sizes);
	}
	dfb_sizes(b, P(.mn = "movmskps r,xmm", .op = { 0x0f, 0x50 }, .nop = 2, .digit = -1,
		       .rc_reg = RC_GPR, .rc_rm = RC_XMM, .kind = K_SSE, .fp = 2, .where = 1), SZ32);
	dfb_sizes(b, P(.mn = "movmskpd r,xmm", .op = { 0x0f, 0x50 }, .nop = 2, .digit = -1,
		       .rc_reg = RC_GPR, .rc_rm = RC_XMM, .kind = K_SSE, .fp = 2, .where = 1,
		       .pfx = { 0x66 }, .npfx = 1), SZ32);
	dfb_sizes(b, P(.mn = "pmovmskb r,xmm", .op = { 0x0f, 0xd7 }, .nop = 2, .digit = -1,
		       .rc_reg = RC_GPR, .rc_rm = RC_XMM, .kind = K_SSE, .fp = 2, .where = 1,
		       .pfx = { 0x66 }, .npfx = 1), SZ32);
	dfb_sizes(b, P(.mn = "pextrw r,xmm,imm", .op = { 0x0f, 0xc5 }, .nop = 2, .digit = -1,
		       .rc_reg = RC_GPR, .rc_rm = RC_XMM, .kind = K_SSE, .fp = 2, .where = 1, .imm = 1,
		       .pfx = { 0x66 }, .npfx = 1), SZ32);
	dfb_sizes(b, P(.mn = "pinsrw xmm,rm,imm", .op = { 0x0f, 0xc4 }, .nop = 2, .digit = -1,
		       .rc_reg = RC_XMM, .rc_rm = RC_GPR, .kind = K_SSE, .fp = 2, .imm = 1,
		       .pfx = { 0x66 }, .npfx = 1), SZ32);
}

/* Integer SIMD ops that exist as MMX (0F xx) and SSE2 (66 0F xx). */
static const struct { const char *mn; uint8_t op; uint8_t mmx; } simd_int[] = {
	{ "punpcklbw", 0x60, 1 }, { "punpcklwd", 0x61, 1 }, { "punpckldq", 0x62, 1 },
	{ "packsswb", 0x63, 1 }, { "pcmpgtb", 0x64, 1 }, { "pcmpgtw", 0x65, 1 }, { "pcmpgtd", 0x66, 1 },
	{ "packuswb", 0x67, 1 }, { "punpckhbw", 0x68, 1 }, { "punpckhwd", 0x69, 1 },
	{ "punpckhdq", 0x6a, 1 }, { "packssdw", 0x6b, 1 }, { "punpcklqdq", 0x6c, 0 },
	{ "punpckhqdq", 0x6d, 0 }, { "pcmpeqb", 0x74, 1 }, { "pcmpeqw", 0x75, 1 },
	{ "pcmpeqd", 0x76, 1 }, { "psrlw", 0xd1, 1 }, { "psrld", 0xd2, 1 }, { "psrlq", 0xd3, 1 },
	{ "paddq", 0xd4, 1 }, { "pmullw", 0xd5, 1 }, { "psubusb", 0xd8, 1 }, { "psubusw", 0xd9, 1 },
	{ "pminub", 0xda, 1 }, { "pand", 0xdb, 1 }, { "paddusb", 0xdc, 1 }, { "paddusw", 0xdd, 1 },
	{ "pmaxub", 0xde, 1 }, { "pandn", 0xdf, 1 }, { "pavgb", 0xe0, 1 }, { "psraw", 0xe1, 1 },
	{ "psrad", 0xe2, 1 }, { "pavgw", 0xe3, 1 }, { "pmulhuw", 0xe4, 1 }, { "pmulhw", 0xe5, 1 },
	{ "psubsb", 0xe8, 1 }, { "psubsw", 0xe9, 1 }, { "pminsw", 0xea, 1 }, { "por", 0xeb, 1 },
	{ "paddsb", 0xec, 1 }, { "paddsw", 0xed, 1 }, { "pmaxsw", 0xee, 1 }, { "pxor", 0xef, 1 },
	{ "psllw", 0xf1, 1 }, { "pslld", 0xf2, 1 }, { "psllq", 0xf3, 1 }, { "pmuludq", 0xf4, 1 },
	{ "pmaddwd", 0xf5, 1 }, { "psadbw", 0xf6, 1 }, { "psubb", 0xf8, 1 }, { "psubw", 0xf9, 1 },
	{ "psubd", 0xfa, 1 }, { "psubq", 0xfb, 1 }, { "paddb", 0xfc, 1 }, { "paddw", 0xfd, 1 },
	{ "paddd", 0xfe, 1 },
};

static void forms_simd_int(struct dfb *b)
{
	for (size_t i = 0; i < sizeof(simd_int) / sizeof(simd_int[0]); i++) {
		sse_op(b, simd_int[i].mn, 0x66, simd_int[i].op, 16, 0);
		if (!simd_int[i].mmx)
			continue;
		char *mn = malloc(32);
		snprintf(mn, 32, "mmx %s", simd_int[i].mn);
		dfb_sizes(b, P(.mn = mn, .op = { 0x0f, simd_int[i].op }, .nop = 2, .digit = -1,
			       .rc_reg = RC_MMX, .rc_rm = RC_MMX, .kind = K_MMX, .fp = 3, .norex = 1), SZ32);
	}
	sse_op(b, "pshufd", 0x66, 0x70, 16, 1);
	sse_op(b, "pshufhw", 0xf3, 0x70, 16, 1);
	sse_op(b, "pshuflw", 0xf2, 0x70, 16, 1);
	static const struct { const char *mn; uint8_t op, d; } sh[] = {
		{ "psrlw imm", 0x71, 2 }, { "psraw imm", 0x71, 4 }, { "psllw imm", 0x71, 6 },
		{ "psrld imm", 0x72, 2 }, { "psrad imm", 0x72, 4 }, { "pslld imm", 0x72, 6 },
		{ "psrlq imm", 0x73, 2 }, { "psrldq imm", 0x73, 3 }, { "psllq imm", 0x73, 6 },
		{ "pslldq imm", 0x73, 7 },
	};
	for (size_t i = 0; i < sizeof(sh) / sizeof(sh[0]); i++) {
		dfb_sizes(b, P(.mn = sh[i].mn, .op = { 0x0f, sh[i].op }, .nop = 2, .digit = (int8_t)sh[i].d,
			       .rc_rm = RC_XMM, .imm = 1, .kind = K_SSE, .fp = 2, .where = 1,
			       .pfx = { 0x66 }, .npfx = 1), SZ32);
		if (sh[i].d == 3 || sh[i].d == 7)
			continue;
		char *mn = malloc(32);
		snprintf(mn, 32, "mmx %s", sh[i].mn);
		dfb_sizes(b, P(.mn = mn, .op = { 0x0f, sh[i].op }, .nop = 2, .digit = (int8_t)sh[i].d,
			       .rc_rm = RC_MMX, .imm = 1, .kind = K_MMX, .fp = 3, .where = 1, .norex = 1), SZ32);
	}
}

static void forms_mmx_misc(struct dfb *b)
{
	static const struct { const char *mn; uint8_t op; int rcreg, rcrm, where, imm; } mm[] = {
		{ "mmx movd mm,rm32", 0x6e, RC_MMX, RC_GPR, 0, 0 },
		{ "mmx movd rm32,mm", 0x7e, RC_MMX, RC_GPR, 0, 0 },
		{ "mmx movq mm,mm/m64", 0x6f, RC_MMX, RC_MMX, 0, 0 },
		{ "mmx movq mm/m64,mm", 0x7f, RC_MMX, RC_MMX, 0, 0 },
		{ "mmx movntq", 0xe7, RC_MMX, RC_MMX, 2, 0 },
		{ "mmx pmovmskb", 0xd7, RC_GPR, RC_MMX, 1, 0 },
		{ "mmx pshufw", 0x70, RC_MMX, RC_MMX, 0, 1 },
		{ "mmx pextrw", 0xc5, RC_GPR, RC_MMX, 1, 1 },
		{ "mmx pinsrw", 0xc4, RC_MMX, RC_GPR, 0, 1 },
		{ "cvtpi2ps xmm,mm", 0x2a, RC_XMM, RC_MMX, 0, 0 },
		{ "cvtps2pi mm,xmm", 0x2d, RC_MMX, RC_XMM, 0, 0 },
		{ "cvttps2pi mm,xmm", 0x2c, RC_MMX, RC_XMM, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(mm) / sizeof(mm[0]); i++)
		dfb_sizes(b, P(.mn = mm[i].mn, .op = { 0x0f, mm[i].op }, .nop = 2, .digit = -1,
			       .rc_reg = (uint8_t)mm[i].rcreg, .rc_rm = (uint8_t)mm[i].rcrm, .norex = 1,
			       .where = (uint8_t)mm[i].where, .imm = (uint8_t)mm[i].imm, .kind = K_MMX,
			       .fp = 3), SZ32);
	dfb_sizes(b, P(.mn = "emms", .op = { 0x0f, 0x77 }, .nop = 2, .digit = -2, .kind = K_MMX,
		       .fp = 3), SZ32);
}

static void forms_state(struct dfb *b)
{
	dfb_sizes(b, P(.mn = "ldmxcsr m32", .op = { 0x0f, 0xae }, .nop = 2, .digit = 2, .rc_rm = RC_GPR,
		       .where = 2, .kind = K_SSE, .fp = 2, .sub = 2), SZ32);
	dfb_sizes(b, P(.mn = "stmxcsr m32", .op = { 0x0f, 0xae }, .nop = 2, .digit = 3, .rc_rm = RC_GPR,
		       .where = 2, .kind = K_SSE, .fp = 2), SZ32);
	dfb_sizes(b, P(.mn = "fxsave m512", .op = { 0x0f, 0xae }, .nop = 2, .digit = 0, .rc_rm = RC_GPR,
		       .where = 2, .kind = K_SSE, .fp = 3, .align = 16, .memskip = 1), SZ32 | SZ64);
	dfb_sizes(b, P(.mn = "fxrstor m512", .op = { 0x0f, 0xae }, .nop = 2, .digit = 1, .rc_rm = RC_GPR,
		       .where = 2, .kind = K_SSE, .fp = 3, .align = 16, .sub = 1), SZ32 | SZ64);
}

int diff_forms_sse(struct dform *out, int max)
{
	struct dfb b = { out, 0, max };
	forms_fp_arith(&b);
	forms_moves(&b);
	forms_simd_int(&b);
	forms_mmx_misc(&b);
	forms_state(&b);
	return b.n;
}
