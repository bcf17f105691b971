/*
 * Differential CPU test: x87 instruction forms (D8-DF, FWAIT).  The register stack (as FXSAVE
 * stores it: ST0-ST7, abridged tag, TOP), FCW and FSW are compared, minus the C0-C3 condition
 * bits that the SDM leaves undefined for the instruction.  Memory images of FNSTENV/FNSAVE
 * skip the instruction/data pointer fields (host-dependent).
 */
#include <stdlib.h>

#include "diff_forms.h"

#define C0 0x0100
#define C1 0x0200
#define C2 0x0400
#define C3 0x4000
#define U_ARITH (C0 | C2 | C3)
#define U_ALL (C0 | C1 | C2 | C3)

static void x87(struct dfb *b, const char *mn, uint8_t op, int digit, int where, int fixed,
		uint16_t fsw_undef, int memskip)
{
	struct dproto p = { .mn = mn, .op = { op }, .nop = 1, .digit = (int8_t)digit,
			    .rc_rm = RC_ST, .kind = K_X87, .fp = 1, .where = (uint8_t)where,
			    .fixed_rm = (int8_t)fixed, .fsw_undef = fsw_undef,
			    .memskip = (uint8_t)memskip };
	dfb_sizes(b, &p, SZ32);
}

static void forms_x87_arith(struct dfb *b)
{
	static const char *const ar[8] = { "fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr",
					   "fdiv", "fdivr" };
	static const char *const ty[4] = { "m32fp", "m32int", "m64fp", "m16int" };
	static const uint8_t mop[4] = { 0xd8, 0xda, 0xdc, 0xde };
	for (int t = 0; t < 4; t++) {
		for (int d = 0; d < 8; d++) {
			char *mn = malloc(32);
			snprintf(mn, 32, "%s%s %s", (t & 1) ? "fi" : "f", ar[d] + 1, ty[t]);
			uint16_t u = (d == 2 || d == 3) ? 0 : U_ARITH;
			x87(b, mn, mop[t], d, 2, 0, u, 0);
		}
	}
	/* Register forms: D8 st0,st(i); DC st(i),st0; DE ...p st(i),st0. */
	static const char *const dcn[8] = { "fadd st(i),st0", "fmul st(i),st0", "fcom2", "fcomp3",
					    "fsubr st(i),st0", "fsub st(i),st0", "fdivr st(i),st0",
					    "fdiv st(i),st0" };
	static const char *const den[8] = { "faddp", "fmulp", "fcomp5", 0, "fsubrp", "fsubp",
					    "fdivrp", "fdivp" };
	for (int d = 0; d < 8; d++) {
		char *mn = malloc(32);
		snprintf(mn, 32, "%s st0,st(i)", ar[d]);
		uint16_t u = (d == 2 || d == 3) ? 0 : U_ARITH;
		x87(b, mn, 0xd8, d, 1, 0, u, 0);
		x87(b, dcn[d], 0xdc, d, 1, 0, u, 0);
		if (den[d])
			x87(b, den[d], 0xde, d, 1, 0, u, 0);
	}
	x87(b, "fcompp", 0xde, 3, 1, 1 + 1, 0, 0);
	x87(b, "fucompp", 0xda, 5, 1, 1 + 1, 0, 0);
	static const char *const fcm[4] = { "fcmovb", "fcmove", "fcmovbe", "fcmovu" };
	static const char *const fcn[4] = { "fcmovnb", "fcmovne", "fcmovnbe", "fcmovnu" };
	for (int d = 0; d < 4; d++) {
		x87(b, fcm[d], 0xda, d, 1, 0, U_ARITH, 0);
		x87(b, fcn[d], 0xdb, d, 1, 0, U_ARITH, 0);
	}
	x87(b, "fucomi", 0xdb, 5, 1, 0, 0, 0);
	x87(b, "fcomi", 0xdb, 6, 1, 0, 0, 0);
	x87(b, "fucomip", 0xdf, 5, 1, 0, 0, 0);
	x87(b, "fcomip", 0xdf, 6, 1, 0, 0, 0);
	x87(b, "fucom", 0xdd, 4, 1, 0, 0, 0);
	x87(b, "fucomp", 0xdd, 5, 1, 0, 0, 0);
}

static void forms_x87_move(struct dfb *b)
{
	static const struct { const char *mn; uint8_t op; int d; uint16_t u; int skip; } m[] = {
		{ "fld m32fp", 0xd9, 0, U_ARITH, 0 }, { "fst m32fp", 0xd9, 2, U_ARITH, 0 },
		{ "fstp m32fp", 0xd9, 3, U_ARITH, 0 }, { "fldenv", 0xd9, 4, 0, 0 },
		{ "fldcw", 0xd9, 5, U_ALL, 0 }, { "fnstenv", 0xd9, 6, U_ALL, 2 },
		{ "fnstcw", 0xd9, 7, U_ALL, 0 }, { "fild m32int", 0xdb, 0, U_ARITH, 0 },
		{ "fist m32int", 0xdb, 2, U_ARITH, 0 }, { "fistp m32int", 0xdb, 3, U_ARITH, 0 },
		{ "fld m80fp", 0xdb, 5, U_ARITH, 0 }, { "fstp m80fp", 0xdb, 7, U_ARITH, 0 },
		{ "fld m64fp", 0xdd, 0, U_ARITH, 0 }, { "fst m64fp", 0xdd, 2, U_ARITH, 0 },
		{ "fstp m64fp", 0xdd, 3, U_ARITH, 0 }, { "frstor", 0xdd, 4, 0, 0 },
		{ "fnsave", 0xdd, 6, 0, 3 }, { "fnstsw m16", 0xdd, 7, U_ALL, 0 },
		{ "fild m16int", 0xdf, 0, U_ARITH, 0 }, { "fist m16int", 0xdf, 2, U_ARITH, 0 },
		{ "fistp m16int", 0xdf, 3, U_ARITH, 0 }, { "fbld m80bcd", 0xdf, 4, U_ARITH, 0 },
		{ "fild m64int", 0xdf, 5, U_ARITH, 0 }, { "fbstp m80bcd", 0xdf, 6, U_ARITH, 0 },
		{ "fistp m64int", 0xdf, 7, U_ARITH, 0 },
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		x87(b, m[i].mn, m[i].op, m[i].d, 2, 0, m[i].u, m[i].skip);
	x87(b, "fld st(i)", 0xd9, 0, 1, 0, U_ARITH, 0);
	x87(b, "fxch st(i)", 0xd9, 1, 1, 0, U_ARITH, 0);
	x87(b, "fxch4", 0xdd, 1, 1, 0, U_ARITH, 0);
	x87(b, "ffree st(i)", 0xdd, 0, 1, 0, U_ALL, 0);
	x87(b, "fst st(i)", 0xdd, 2, 1, 0, U_ARITH, 0);
	x87(b, "fstp st(i)", 0xdd, 3, 1, 0, U_ARITH, 0);
	x87(b, "fstp1", 0xd9, 3, 1, 0, U_ARITH, 0);
}

static void forms_x87_d9(struct dfb *b)
{
	/* D9 E0..FF and the others with a fixed ModRM byte. */
	static const struct { const char *mn; uint8_t op, modrm; uint16_t u; } f[] = {
		{ "fnop", 0xd9, 0xd0, U_ALL }, { "fchs", 0xd9, 0xe0, U_ARITH }, { "fabs", 0xd9, 0xe1, U_ARITH },
		{ "ftst", 0xd9, 0xe4, 0 }, { "fxam", 0xd9, 0xe5, 0 }, { "fld1", 0xd9, 0xe8, U_ARITH },
		{ "fldl2t", 0xd9, 0xe9, U_ARITH }, { "fldl2e", 0xd9, 0xea, U_ARITH },
		{ "fldpi", 0xd9, 0xeb, U_ARITH }, { "fldlg2", 0xd9, 0xec, U_ARITH },
		{ "fldln2", 0xd9, 0xed, U_ARITH }, { "fldz", 0xd9, 0xee, U_ARITH },
		{ "f2xm1", 0xd9, 0xf0, U_ARITH }, { "fyl2x", 0xd9, 0xf1, U_ARITH },
		{ "fptan", 0xd9, 0xf2, C0 | C3 }, { "fpatan", 0xd9, 0xf3, U_ARITH },
		{ "fxtract", 0xd9, 0xf4, U_ARITH }, { "fprem1", 0xd9, 0xf5, 0 },
		{ "fdecstp", 0xd9, 0xf6, U_ARITH }, { "fincstp", 0xd9, 0xf7, U_ARITH },
		{ "fprem", 0xd9, 0xf8, 0 }, { "fyl2xp1", 0xd9, 0xf9, U_ARITH },
		{ "fsqrt", 0xd9, 0xfa, U_ARITH }, { "fsincos", 0xd9, 0xfb, C0 | C3 },
		{ "frndint", 0xd9, 0xfc, U_ARITH }, { "fscale", 0xd9, 0xfd, U_ARITH },
		{ "fsin", 0xd9, 0xfe, C0 | C3 }, { "fcos", 0xd9, 0xff, C0 | C3 },
		{ "fnclex", 0xdb, 0xe2, U_ALL }, { "fninit", 0xdb, 0xe3, 0 },
		{ "fnstsw ax", 0xdf, 0xe0, U_ALL },
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		x87(b, f[i].mn, f[i].op, (f[i].modrm >> 3) & 7, 1, 1 + (f[i].modrm & 7), f[i].u, 0);
	struct dproto w = { .mn = "fwait", .op = { 0x9b }, .nop = 1, .digit = -2, .kind = K_X87,
			    .fp = 1 };
	dfb_sizes(b, &w, SZ32);
}

int diff_forms_x87(struct dform *out, int max)
{
	struct dfb b = { out, 0, max };
	forms_x87_arith(&b);
	forms_x87_move(&b);
	forms_x87_d9(&b);
	return b.n;
}
