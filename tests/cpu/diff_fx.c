/*
 * Differential CPU test: x87/SSE state of a case (FXSAVE image): special floating-point
 * values (zeros, infinities, NaNs, denormals, integers, boundaries) in XMM lanes and on the
 * x87 stack, MXCSR/FCW rounding modes, random stack depth.
 */
#include <string.h>

#include "diff_gen.h"

static const uint32_t diff_f32[] = {
	0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000, 0x7fc00000,
	0xffc00000, 0x7fa00000, 0x00000001, 0x807fffff, 0x7f7fffff, 0xff7fffff, 0x00800000,
	0x4f000000, 0xcf000000, 0x5f000000, 0x3f000000, 0x40490fdb, 0x4b000000,
};
static const uint64_t diff_f64[] = {
	0, 0x8000000000000000ULL, 0x3ff0000000000000ULL, 0xbff0000000000000ULL,
	0x7ff0000000000000ULL, 0xfff0000000000000ULL, 0x7ff8000000000000ULL,
	0xfff8000000000000ULL, 0x7ff4000000000000ULL, 1, 0x800fffffffffffffULL,
	0x7fefffffffffffffULL, 0x0010000000000000ULL, 0x41e0000000000000ULL,
	0xc1e0000000000000ULL, 0x43e0000000000000ULL, 0x3fe0000000000000ULL,
	0x400921fb54442d18ULL, 0x4330000000000000ULL, 0x41dfffffffc00000ULL,
};

static uint32_t diff_rand_f32(struct drng *r)
{
	uint64_t k = drng_below(r, 8);
	if (k < 3)
		return diff_f32[drng_below(r, sizeof(diff_f32) / 4)];
	if (k < 5) {     /* a "normal" number of moderate magnitude */
		uint32_t sign = (uint32_t)drng_below(r, 2) << 31;
		uint32_t exp = (uint32_t)(127 - 20 + drng_below(r, 50)) << 23;
		return sign | exp | ((uint32_t)drng_next(r) & 0x7fffff);
	}
	if (k == 5)      /* a small integer */
		return 0;
	return (uint32_t)drng_next(r);
}

static uint64_t diff_rand_f64(struct drng *r)
{
	uint64_t k = drng_below(r, 8);
	if (k < 3)
		return diff_f64[drng_below(r, sizeof(diff_f64) / 8)];
	if (k < 5) {
		uint64_t sign = drng_below(r, 2) << 63;
		uint64_t exp = (1023 - 40 + drng_below(r, 100)) << 52;
		return sign | exp | (drng_next(r) & 0xfffffffffffffULL);
	}
	return drng_next(r);
}

static void diff_rand_xmm(struct drng *r, uint8_t *x)
{
	int how = (int)drng_below(r, 4);
	for (int i = 0; i < 16; i += 8) {
		uint64_t v;
		if (how == 0) {
			uint32_t a = diff_rand_f32(r), b = diff_rand_f32(r);
			if (a == 0 && drng_below(r, 2))
				a = 0x3f800000 + ((uint32_t)drng_below(r, 16) << 20);
			v = a | (uint64_t)b << 32;
		} else if (how == 1) {
			v = diff_rand_f64(r);
		} else if (how == 2) {
			v = diff_gen_value(r, (int)(8 << drng_below(r, 4)));
		} else {
			v = drng_next(r);
		}
		memcpy(x + i, &v, 8);
	}
}

/* An 80-bit extended value into 10 bytes. */
static void diff_rand_f80(struct drng *r, uint8_t *p)
{
	long double v;
	switch (drng_below(r, 10)) {
	case 0: v = 0.0L; break;
	case 1: v = -0.0L; break;
	case 2: v = 1.0L; break;
	case 3: v = -(long double)drng_below(r, 1000); break;
	case 4: v = __builtin_infl() * (drng_below(r, 2) ? 1 : -1); break;
	case 5: v = __builtin_nanl(""); break;
	case 6: v = (long double)(int64_t)drng_next(r) / (long double)(drng_below(r, 1000) + 1); break;
	case 7: v = 3.14159265358979323846L * (long double)drng_below(r, 100); break;
	default: {
		uint64_t mant = drng_next(r) | (1ULL << 63);
		uint16_t se = (uint16_t)((16383 - 64 + drng_below(r, 128)) | (drng_below(r, 2) << 15));
		memcpy(p, &mant, 8);
		memcpy(p + 8, &se, 2);
		return;
	}
	}
	memcpy(p, &v, 10);
}

void diff_gen_fx(const struct dform *f, struct drng *r, uint8_t *fx)
{
	uint16_t fcw = 0x37f, fsw = 0;
	uint32_t mxcsr = 0x1f80;
	uint8_t ftw = 0;

	memset(fx, 0, 512);
	for (int i = 0; i < 16; i++)
		diff_rand_xmm(r, fx + 160 + 16 * i);
	if (f->fp & 2) {
		uint64_t k = drng_below(r, 10);
		if (k >= 6)
			mxcsr = 0x1f80 | (uint32_t)drng_below(r, 4) << 13;
		if (k == 9)
			mxcsr = (uint32_t)drng_next(r) & 0xffff;
		if (k == 8)
			mxcsr |= 0x8040 & (uint32_t)drng_next(r);      /* FTZ / DAZ */
	}
	if (f->fp & 1) {
		uint64_t k = drng_below(r, 10);
		if (k >= 6)
			fcw = (uint16_t)(0x7f | (drng_below(r, 16) << 8));
		int top = (int)drng_below(r, 8);
		int depth = (int)drng_below(r, 9);
		if (drng_below(r, 2))
			depth = 8 - (int)drng_below(r, 3);
		fsw = (uint16_t)(top << 11) | (uint16_t)(drng_next(r) & 0x4700);
		for (int i = 0; i < 8; i++) {
			diff_rand_f80(r, fx + 32 + 16 * i);
			if (i < depth)
				ftw |= (uint8_t)(1 << ((top + i) & 7));
		}
	}
	memcpy(fx + 0, &fcw, 2);
	memcpy(fx + 2, &fsw, 2);
	fx[4] = ftw;
	memcpy(fx + 24, &mxcsr, 4);
	uint32_t mask = 0xffff;
	memcpy(fx + 28, &mask, 4);
}
