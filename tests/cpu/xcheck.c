/*
 * decoder-xcheck: instruction lengths of the software CPU's decoder (cpu_decode_length) against
 * libzydis (test-only dependency; never linked into the product) over random byte strings.
 *
 * Strings are biased towards meaningful encodings: 0-4 legacy prefixes (sometimes many more, to
 * reach the 15-byte limit), an optional REX, a one-byte, 0F or 0F 38/0F 3A opcode, then random
 * ModRM/SIB/displacement/immediate bytes.
 *
 * Comparison rule (64-bit mode):
 *  - Zydis decodes a legacy-encoded instruction of an ISA extension we claim (base integer,
 *    long mode, x87, MMX, SSE, SSE2, CLFLUSH, PAUSE): our length must equal Zydis' length.
 *    66-prefixed near branches are accepted with either the Intel or the AMD operand size.
 *  - Zydis says the instruction exceeds 15 bytes: ours must say invalid (<= 0).
 *  - VEX/EVEX/XOP/3DNow! encodings, extensions we do not claim (SSE3+, AVX, BMI, ...) and
 *    strings Zydis rejects for other reasons are skipped (counted separately): for those the
 *    emulator raises #UD and its length is not an architectural property.
 *
 * usage: decoder-xcheck [-n strings] [-v]
 * Closing line: "decoder-xcheck: strings=N disagreements=K"
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <Zydis/Zydis.h>

/* Provided by the software CPU (src/cpu); weak so the check builds before it lands. */
int cpu_decode_length(const uint8_t *bytes, size_t n, int mode) __attribute__((weak));

#define XC_MODE64 64
#define XC_BUF 32

static uint64_t xc_state = 0xdec0de5eedULL;

static uint64_t xc_rand(void)
{
	uint64_t z = (xc_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static const uint8_t xc_prefixes[] = { 0x66, 0x66, 0x67, 0xf2, 0xf3, 0xf3, 0xf0, 0x2e, 0x36,
				       0x3e, 0x26, 0x64, 0x65 };

static void xc_gen(uint8_t *b)
{
	int n = 0;
	uint64_t r = xc_rand();
	int npfx = (int)(r % 8 < 4 ? 0 : r % 8 - 3);     /* 0 (half the time) .. 4 */
	if ((r >> 8) % 64 == 0)
		npfx = 10 + (int)((r >> 16) % 6);            /* reach the 15-byte limit */
	for (int i = 0; i < npfx; i++)
		b[n++] = xc_prefixes[xc_rand() % sizeof(xc_prefixes)];
	r = xc_rand();
	if (r % 2)
		b[n++] = (uint8_t)(0x40 | ((r >> 4) & 15));
	unsigned k = (unsigned)((r >> 8) % 100);
	if (k < 60) {
		b[n++] = (uint8_t)(r >> 16);
	} else if (k < 95) {
		b[n++] = 0x0f;
		b[n++] = (uint8_t)(r >> 16);
	} else {
		b[n++] = 0x0f;
		b[n++] = (r >> 16) & 1 ? 0x3a : 0x38;
		b[n++] = (uint8_t)(r >> 24);
	}
	while (n < XC_BUF) {
		uint64_t v = xc_rand();
		for (int i = 0; i < 8 && n < XC_BUF; i++)
			b[n++] = (uint8_t)(v >> (8 * i));
	}
}

static bool xc_claimed(ZydisISAExt ext)
{
	switch (ext) {
	case ZYDIS_ISA_EXT_BASE: case ZYDIS_ISA_EXT_LONGMODE: case ZYDIS_ISA_EXT_X87:
	case ZYDIS_ISA_EXT_MMX: case ZYDIS_ISA_EXT_SSE: case ZYDIS_ISA_EXT_SSE2:
	case ZYDIS_ISA_EXT_CLFSH: case ZYDIS_ISA_EXT_PAUSE:
		return true;
	default:
		return false;
	}
}

int main(int argc, char **argv)
{
	long n = 10000000;
	bool verbose = false;
	int opt;
	while ((opt = getopt(argc, argv, "n:v")) != -1) {
		if (opt == 'n')
			n = atol(optarg);
		else if (opt == 'v')
			verbose = true;
		else
			return 2;
	}
	ZydisDecoder dec, dec_amd;
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisDecoderInit(&dec_amd, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisDecoderEnableMode(&dec_amd, ZYDIS_DECODER_MODE_AMD_BRANCHES, ZYAN_TRUE);
	bool have = cpu_decode_length != NULL;
	if (!have)
		printf("decoder-xcheck: cpu_decode_length() is not linked in: every compared string disagrees\n");

	long compared = 0, skipped_ext = 0, skipped_invalid = 0, toolong = 0, dis = 0, shown = 0;
	uint8_t b[XC_BUF];
	for (long i = 0; i < n; i++) {
		ZydisDecodedInstruction in;
		xc_gen(b);
		ZyanStatus st = ZydisDecoderDecodeInstruction(&dec, ZYAN_NULL, b, XC_BUF, &in);
		int want = 0, alt = 0;
		if (st == ZYDIS_STATUS_INSTRUCTION_TOO_LONG) {
			toolong++;
			want = alt = -1;
		} else if (!ZYAN_SUCCESS(st)) {
			skipped_invalid++;
			continue;
		} else if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY || !xc_claimed(in.meta.isa_ext)) {
			skipped_ext++;
			continue;
		} else {
			want = alt = in.length;
			ZydisDecodedInstruction in2;
			if (ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec_amd, ZYAN_NULL, b, XC_BUF, &in2)))
				alt = in2.length;
		}
		compared++;
		int got = have ? cpu_decode_length(b, XC_BUF, XC_MODE64) : -2;
		bool ok = want < 0 ? got <= 0 : (got == want || got == alt);
		if (!ok) {
			dis++;
			if (verbose || (have && shown < 20)) {
				shown++;
				printf("DISAGREE ours=%d zydis=%d:", got, want);
				for (int j = 0; j < 16; j++)
					printf(" %02x", b[j]);
				printf("\n");
			}
		}
	}
	printf("decoder-xcheck: compared=%ld (%ld too long) skipped: %ld unclaimed-ISA/VEX, %ld zydis-invalid\n",
	       compared, toolong, skipped_ext, skipped_invalid);
	printf("decoder-xcheck: strings=%ld disagreements=%ld\n", n, dis);
	return dis ? 1 : 0;
}
