/*
 * Differential CPU test: shared definitions.
 *
 * One instruction runs natively (ring 3, in this process) and in the software CPU (ring 3 of a
 * 64-bit guest whose page tables identity-map the same addresses), from the same registers and
 * memory; the results are compared.  Code and data live at the same fixed addresses in both
 * worlds (host virtual == guest virtual == guest physical), so RIP-relative operands, branch
 * targets and pushed return addresses are identical.
 */
#ifndef DIFF_H
#define DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed test region, mapped at the same address natively and in the guest. */
#define DIFF_REGION     0x20000000ULL
#define DIFF_CODE       DIFF_REGION                 /* 4 KiB, filled with INT3 */
#define DIFF_INSN       (DIFF_CODE + 0x800)         /* where the instruction under test goes */
#define DIFF_DATA       (DIFF_REGION + 0x1000ULL)      /* 8 KiB of data, compared after each case */
#define DIFF_DATA_SIZE  0x2000
#define DIFF_DATA_MID   (DIFF_DATA + 0x1000)
#define DIFF_REGION_SIZE 0x4000

/* Flags compared: CF PF AF ZF SF OF DF. */
#define FL_CF 0x001
#define FL_PF 0x004
#define FL_AF 0x010
#define FL_ZF 0x040
#define FL_SF 0x080
#define FL_OF 0x800
#define FL_DF 0x400
#define FL_STATUS (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)
#define FL_CMP (FL_STATUS | FL_DF)

/* Machine state of one case (also the layout the native trampoline reads: keep in sync with
 * diff_native.S). */
struct dstate {
	uint64_t gpr[16];      /* 0   */
	uint64_t rip;          /* 128 */
	uint64_t rflags;       /* 136 */
	uint64_t pad[6];       /* 144 */
	uint8_t fx[512] __attribute__((aligned(64)));  /* 192: FXSAVE image */
};

/* Outcome of one run. */
struct dresult {
	struct dstate st;
	int vector;            /* -1: completed; else the exception vector */
	uint64_t cr2;          /* for #PF */
	const char *err;       /* runner failure (emulator exit reason), NULL if none */
};

/* Register classes of ModRM fields. */
enum { RC_NONE, RC_GPR, RC_GPR8, RC_XMM, RC_MMX, RC_ST };

/* Special handling of a form (state set-up and value-dependent flag masks). */
enum dkind {
	K_PLAIN, K_SHIFT, K_ROT, K_RCX, K_SHXD, K_DIV, K_BTMEM, K_BSX, K_MUL,
	K_PUSH, K_POP, K_CALL, K_RET, K_JMPIND, K_CALLIND, K_BRANCH, K_STRING, K_MOFFS,
	K_LEAVE, K_ENTER, K_XLAT, K_CX8, K_POPF, K_X87, K_SSE, K_MMX, K_INVALID
};

/* One instruction form: opcode x operand size x register/memory x prefixes. */
struct dform {
	char name[64];
	uint8_t pfx[4], npfx;      /* legacy/mandatory prefixes, in order */
	uint8_t rexw;              /* REX.W required */
	uint8_t norex;             /* never emit REX (e.g. AH..BH forms must stay legacy) */
	uint8_t op[3], nop;        /* opcode bytes */
	uint8_t modrm;             /* has a ModRM byte */
	int8_t digit;              /* >= 0: ModRM.reg is this opcode extension */
	uint8_t mem;               /* ModRM.rm is memory (else register, mod=3) */
	uint8_t rc_reg, rc_rm;     /* register classes of ModRM.reg / ModRM.rm */
	int8_t fixed_rm;           /* >= 0: fixed mod=3 rm (e.g. D9 E8) */
	uint8_t opreg;             /* register number in the low 3 bits of the last opcode byte */
	uint8_t imm;               /* immediate bytes */
	uint8_t align;             /* memory operand alignment wanted (1 = any) */
	uint8_t misalign;          /* deliberately misalign the memory operand */
	uint8_t osize;             /* operand size in bits (8/16/32/64) */
	uint8_t kind;              /* enum dkind */
	uint8_t sub;               /* kind-specific: shift op, string op, ... */
	uint8_t fp;                /* 1: compare x87 state, 2: compare SSE state, 3: both */
	uint16_t undef;            /* flags the manuals call undefined for this form */
	uint16_t implicit;         /* GPRs used implicitly (never chosen as address registers) */
	uint16_t fsw_undef;        /* x87 status-word bits (C0-C3) left undefined */
	uint8_t memskip;           /* memory image with host-dependent fields: 1 FXSAVE, 2 FNSTENV, 3 FNSAVE */
	const char *known;         /* non-NULL: known failing / unimplemented, with the reason */
};

/* The form table (diff_forms*.c). */
int diff_forms_int(struct dform *out, int max);
int diff_forms_sse(struct dform *out, int max);
int diff_forms_x87(struct dform *out, int max);

/* Native runner (diff_native.c). */
int diff_native_init(void);
void diff_native_run(const struct dstate *in, struct dresult *out);

/* Set around emulator runs: a host signal there is an emulator crash (diff_native.c). */
#include <setjmp.h>
extern sigjmp_buf diff_emu_jb;
extern volatile int diff_in_emu;
extern uint64_t diff_emu_crash_rip, diff_emu_crash_addr;

/* Emulator runner (diff_emu.c). */
int diff_emu_init(void);
bool diff_emu_available(void);
void diff_emu_run(const struct dstate *in, struct dresult *out);

/* Code and data of the region. */
static inline uint8_t *diff_ptr(uint64_t addr) { return (uint8_t *)(uintptr_t)addr; }

#endif
