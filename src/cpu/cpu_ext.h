/*
 * Hooks between the integer core (decoder, cpu_*.c) and the x87 / MMX / SSE / SSE2 / FXSAVE
 * implementation (src/cpu/fpu*.c, src/cpu/sse*.c).
 *
 * CONTRACT
 * --------
 * Selection happens ONCE, at decode time.  For every opcode listed below the decoder fully
 * decodes the instruction (prefixes, ModRM, SIB, displacement, immediate) into a struct insn
 * (cpu_internal.h) and calls the matching select function; the returned handler is stored in
 * the insn and called each time the instruction executes.  Returning NULL means "undefined":
 * the core then raises #UD when it executes.
 *
 *   cpu_x87_select(i):  i->op in 0xD8..0xDF (ESC, ModRM decoded; i->modrm has mod/reg/rm), and
 *                       i->op == 0x9B (FWAIT).
 *   cpu_sse_select(i):  0F map, i->op = 0x100 | second byte, for
 *                       0F 10-17, 0F 28-2F, 0F 50-7F, 0F C2-C6, 0F D0-FF,
 *                       0F AE with mod != 3 and reg 0..3 (FXSAVE, FXRSTOR, LDMXCSR, STMXCSR);
 *                       0F 0F (3DNow!) is not routed (#UD).  The core itself does 0F AE
 *                       fences (mod == 3, reg 5..7), CLFLUSH (0F AE /7 mem) and 0F 18-1F hints.
 *   The 0F38/0F3A maps (SSSE3+) are not routed: they raise #UD (nothing above SSE2 is
 *   advertised in CPUID).
 *
 * Fields of struct insn the handlers use:
 *   i->op       opcode (with map, see above)
 *   i->pfx      CPU_PFX_OPSZ (66), CPU_PFX_REP (F3), CPU_PFX_REPNE (F2); only the LAST of F2/F3
 *               is kept, so "mandatory prefix" = 66 unless F2/F3 is set.
 *   i->rex      REX byte (0 if none); i->osz == 8 iff REX.W (e.g. MOVQ xmm, r64; CVTSI2SD r64)
 *   i->reg      ModRM.reg + REX.R  (XMM 0..15 / MMX: use reg & 7 / GPR)
 *   i->rm       ModRM.rm  + REX.B  (register operand when !(i->flags & CPU_IF_MEM))
 *   i->flags    CPU_IF_MEM when the r/m operand is memory
 *   i->imm      imm8 where the opcode has one (0F 70-73, C2, C4-C6), zero-extended
 *   i->modrm    raw ModRM
 *   Memory operand: off = cpu_ea(c, i); segment = i->seg; then cpu_rd/cpu_wr (1,2,4,8 bytes)
 *   or cpu_rd_buf/cpu_wr_buf (10, 16, 512 bytes...).  They fault (longjmp) on #PF/#GP;
 *   cpu_wr_buf checks every page before writing anything.  Alignment checks (#GP(0) for
 *   MOVAPS & co. on a misaligned 16-byte operand) are the handler's job.
 *   General registers: cpu_get_reg / cpu_set_reg (size 4 writes zero-extend to 64 bits).
 *   Flags: cpu_set_status(c, CPU_ZF|CPU_PF|CPU_CF...) for COMISS/UCOMISS/FCOMI.
 *   Exceptions: cpu_raise(c, vec, has_err, err), cpu_raise_ud, cpu_raise_nm, cpu_raise_gp.
 *   CR0.EM/TS/MP and CR4.OSFXSR: cpu_fpu_check(c) / cpu_sse_check(c) raise #NM/#UD as the
 *   SDM tables say; call them first in every handler (the mode may change between runs of a
 *   cached block).
 *
 * Handlers return CPU_H_NEXT and must not change c->r.rip (RIP is implicit inside a block).
 *
 * State: the canonical x87/SSE state is c->r.fx in FXSAVE (64-bit) layout: FCW at 0, FSW at 2,
 * abridged FTW at 4, FOP at 6, FIP 8, FDP 16, MXCSR at 24, MXCSR_MASK at 28, ST/MM regs at 32
 * + 16*n (80-bit values), XMM regs at 160 + 16*n.  The VM core reads/writes it through
 * cpu_get_regs/cpu_set_regs.  c->ext_priv[] is scratch space private to the x87/SSE files.
 * cpu_reset() puts FCW = 0x0040, MXCSR = 0x1F80, everything else 0 (power-up state);
 * cpu_init_signal() keeps x87/SSE state as INIT does.
 *
 * The weak defaults in cpu_ext_default.c return NULL (so everything here is #UD, or #NM when
 * CR0.TS/EM say so for x87 opcodes), except FWAIT which is a NOP.
 */
#ifndef BHYVE_CPU_EXT_H
#define BHYVE_CPU_EXT_H

#include "cpu/cpu_internal.h"

cpu_handler_fn cpu_x87_select(const struct insn *i);
cpu_handler_fn cpu_sse_select(const struct insn *i);

/* True when the 0F-map opcode `op2` (second byte) is routed to cpu_sse_select. */
bool cpu_ext_is_sse_op(uint8_t op2, uint8_t modrm);

#endif
