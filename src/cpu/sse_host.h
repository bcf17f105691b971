/*
 * x87/MMX/SSE/SSE2 execution on the host unit (x86-64 hosts only).
 *
 * The guest's instruction is re-encoded with fixed host operands (XMM0/MM0/RAX for ModRM.reg,
 * XMM1/MM1/RCX or [RDX] for ModRM.rm) and run by a small generated stub that loads the guest
 * operands, executes it, and stores the results back into a context block.  The host unit thus
 * gives bit-exact results (rounding, NaN propagation, DAZ/FTZ, 80-bit x87 arithmetic and
 * transcendentals); the handlers in sse.c / fpu.c do everything architectural around it:
 * decode validity, CR0/CR4 checks, alignment, guest memory accesses through the MMU, MXCSR
 * exception masking (#XM), MMX/x87 aliasing, and x87 pointer registers.
 */
#ifndef BHYVE_SSE_HOST_H
#define BHYVE_SSE_HOST_H

#include <stdint.h>

/* Context block the stubs work on (offsets are baked into the generated code). */
struct sse_hctx {
	uint8_t fx[512];        /* 0:    x87 stubs: guest FXSAVE image in and out */
	uint8_t host[512];      /* 512:  x87 stubs: the host's own state while the guest's runs */
	uint8_t x0[16];         /* 1024: ModRM.reg XMM */
	uint8_t x1[16];         /* 1040: ModRM.rm XMM */
	uint64_t rax;           /* 1056: ModRM.reg GPR (x87: AX for FNSTSW AX) */
	uint64_t rcx;           /* 1064: ModRM.rm GPR */
	uint64_t mm0;           /* 1072: ModRM.reg MMX */
	uint64_t mm1;           /* 1080: ModRM.rm MMX */
	uint32_t mxcsr;         /* 1088: MXCSR while the instruction runs, then its result */
	uint32_t host_mxcsr;    /* 1092 */
	uint64_t rflags;        /* 1096: RFLAGS after the instruction */
	uint8_t pad[48];
	uint8_t mem[128];       /* 1152: memory operand ([RDX]) */
} __attribute__((aligned(64)));

#define SSE_HCTX_X0    1024
#define SSE_HCTX_X1    1040
#define SSE_HCTX_RAX   1056
#define SSE_HCTX_RCX   1064
#define SSE_HCTX_MM0   1072
#define SSE_HCTX_MM1   1080
#define SSE_HCTX_MXCSR 1088
#define SSE_HCTX_HMX   1092
#define SSE_HCTX_FL    1096
#define SSE_HCTX_MEM   1152

typedef void (*sse_stub_fn)(struct sse_hctx *h);

/* Stub kinds. */
#define SSE_STUB_SIMD 0   /* XMM/GPR operands, MXCSR swapped in */
#define SSE_STUB_MMX  1   /* also MM0/MM1, EMMS at the end */
#define SSE_STUB_X87  2   /* whole x87 state swapped in with FXRSTOR64 / FXSAVE64 */

/* Returns the stub running `insn` (len bytes, its ModRM already rewritten for the host
 * operands) for the given kind; cached by key.  NULL if out of memory. */
sse_stub_fn sse_stub_get(uint32_t key, int kind, const uint8_t *insn, int len);

#endif
