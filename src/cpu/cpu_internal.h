/*
 * The software x86-64 CPU: internal interfaces shared by the src/cpu/ files (decoder, integer
 * core, system instructions, memory/paging, x87/SSE extension files).
 *
 * Execution model
 * ---------------
 * Guest code is decoded once into blocks of `struct insn` (at most one guest page, ending at a
 * control transfer or a serialising instruction).  Each insn carries the handler chosen at
 * decode time.  The run loop calls `i->h(c, i)` for each insn in turn:
 *   - a handler returns CPU_H_NEXT (0) to fall through to the next insn of the block;
 *   - it returns CPU_H_BRANCH after storing the new c->r.rip (also for "end this block");
 *   - it returns CPU_H_EXIT after storing c->r.rip and c->exit_reason (cpu_run returns).
 * RIP is implicit inside a block: c->r.rip is NOT updated per instruction.  The address of
 * the next instruction is CPU_NEXT_RIP(c, i); of the current one CPU_CUR_RIP(c, i).
 *
 * Faults: memory helpers and cpu_raise*() do not return; they longjmp back to cpu_run, which
 * rewinds RIP to the faulting instruction and delivers the exception.  So a handler must not
 * change architectural state before its last possible fault (read sources, compute, then write).
 */
#ifndef BHYVE_CPU_INTERNAL_H
#define BHYVE_CPU_INTERNAL_H

#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include "cpu/cpu.h"

#define CPU_LIKELY(x)   __builtin_expect(!!(x), 1)
#define CPU_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CPU_NORETURN    __attribute__((noreturn))

/* ---- RFLAGS ---- */
#define CPU_CF   0x0001u
#define CPU_PF   0x0004u
#define CPU_AF   0x0010u
#define CPU_ZF   0x0040u
#define CPU_SF   0x0080u
#define CPU_TF   0x0100u
#define CPU_IF   0x0200u
#define CPU_DF   0x0400u
#define CPU_OF   0x0800u
#define CPU_IOPL 0x3000u
#define CPU_NT   0x4000u
#define CPU_RF   0x10000u
#define CPU_VM   0x20000u
#define CPU_AC   0x40000u
#define CPU_VIF  0x80000u
#define CPU_VIP  0x100000u
#define CPU_ID   0x200000u
#define CPU_STATUS_FLAGS (CPU_CF | CPU_PF | CPU_AF | CPU_ZF | CPU_SF | CPU_OF)

/* ---- Control registers ---- */
#define CPU_CR0_PE (1ull << 0)
#define CPU_CR0_MP (1ull << 1)
#define CPU_CR0_EM (1ull << 2)
#define CPU_CR0_TS (1ull << 3)
#define CPU_CR0_ET (1ull << 4)
#define CPU_CR0_NE (1ull << 5)
#define CPU_CR0_WP (1ull << 16)
#define CPU_CR0_AM (1ull << 18)
#define CPU_CR0_NW (1ull << 29)
#define CPU_CR0_CD (1ull << 30)
#define CPU_CR0_PG (1ull << 31)
#define CPU_CR4_VME (1ull << 0)
#define CPU_CR4_PVI (1ull << 1)
#define CPU_CR4_TSD (1ull << 2)
#define CPU_CR4_DE  (1ull << 3)
#define CPU_CR4_PSE (1ull << 4)
#define CPU_CR4_PAE (1ull << 5)
#define CPU_CR4_MCE (1ull << 6)
#define CPU_CR4_PGE (1ull << 7)
#define CPU_CR4_PCE (1ull << 8)
#define CPU_CR4_OSFXSR (1ull << 9)
#define CPU_CR4_OSXMMEXCPT (1ull << 10)
#define CPU_EFER_SCE (1ull << 0)
#define CPU_EFER_LME (1ull << 8)
#define CPU_EFER_LMA (1ull << 10)
#define CPU_EFER_NXE (1ull << 11)

/* ---- Exception vectors ---- */
enum {
	CPU_EXC_DE = 0, CPU_EXC_DB = 1, CPU_EXC_NMI = 2, CPU_EXC_BP = 3, CPU_EXC_OF = 4,
	CPU_EXC_BR = 5, CPU_EXC_UD = 6, CPU_EXC_NM = 7, CPU_EXC_DF = 8, CPU_EXC_TS = 10,
	CPU_EXC_NP = 11, CPU_EXC_SS = 12, CPU_EXC_GP = 13, CPU_EXC_PF = 14, CPU_EXC_MF = 16,
	CPU_EXC_AC = 17, CPU_EXC_MC = 18, CPU_EXC_XM = 19,
};

/* ---- Decoded instruction ---- */

struct cpu;
struct insn;

/* Handler return values (see the top of this file). */
#define CPU_H_NEXT   0
#define CPU_H_BRANCH 1
#define CPU_H_EXIT   2

typedef int (*cpu_handler_fn)(struct cpu *c, const struct insn *i);

#define CPU_NOREG 0xff

/* insn.pfx bits: prefixes seen (the decoder keeps the last of F2/F3 only: "mandatory prefix"
 * semantics for SSE; for string instructions the last of F2/F3 decides REPE/REPNE too). */
#define CPU_PFX_LOCK  0x01
#define CPU_PFX_REP   0x02   /* F3 */
#define CPU_PFX_REPNE 0x04   /* F2 */
#define CPU_PFX_OPSZ  0x08   /* 66 */
#define CPU_PFX_ADSZ  0x10   /* 67 */
#define CPU_PFX_REX   0x20   /* a REX prefix was present (byte regs 4-7 are SPL..DIL) */
#define CPU_PFX_SEG   0x40   /* an explicit segment override was present */

/* insn.flags bits */
#define CPU_IF_MEM    0x01   /* ModRM names memory (mod != 3) */
#define CPU_IF_RIPREL 0x02   /* RIP-relative addressing (64-bit mode, mod=0 rm=5) */
#define CPU_IF_MODRM  0x04   /* has a ModRM byte */

/*
 * One decoded instruction.  Register numbers are full 4-bit numbers (REX applied).  For byte
 * operands (osz == 1) register numbers 16..19 mean AH, CH, DH, BH (legacy encodings 4..7
 * without REX); use cpu_get_reg/cpu_set_reg, which know this.
 * op: 0x000-0x0FF one-byte map, 0x100-0x1FF 0F map, 0x200-0x2FF 0F38 map, 0x300-0x3FF 0F3A.
 */
struct insn {
	cpu_handler_fn h;
	uint64_t imm;      /* first immediate, sign- or zero-extended as the opcode defines */
	int32_t disp;      /* displacement, sign-extended */
	uint16_t op;       /* opcode with map (see above) */
	uint16_t end;      /* offset of the NEXT instruction from the block's start RIP */
	uint16_t imm2;     /* second immediate (ENTER's level byte, far pointer selector) */
	uint8_t len;       /* instruction length in bytes (1..15) */
	uint8_t modrm;     /* raw ModRM byte (0 if none) */
	uint8_t reg;       /* ModRM.reg + REX.R, or the register of "+r" opcodes */
	uint8_t rm;        /* ModRM.rm + REX.B (register operand when !(flags & CPU_IF_MEM)) */
	uint8_t base;      /* memory base register or CPU_NOREG */
	uint8_t index;     /* memory index register or CPU_NOREG */
	uint8_t scale;     /* log2 of the index scale */
	uint8_t seg;       /* effective segment (enum cpu_seg) for the memory operand */
	uint8_t osz;       /* operand size in bytes: 1, 2, 4, 8 */
	uint8_t asz;       /* address size in bytes: 2, 4, 8 */
	uint8_t pfx;       /* CPU_PFX_* */
	uint8_t rex;       /* raw REX byte or 0 */
	uint8_t flags;     /* CPU_IF_* */
	uint8_t mode;      /* code size the insn was decoded for: 16, 32 or 64 */
};

/* ---- Lazy flags ---- */
enum cpu_lf_op {
	CPU_LF_NONE = 0,   /* status flags are valid in c->r.rflags */
	CPU_LF_ADD, CPU_LF_ADC, CPU_LF_SUB, CPU_LF_SBB, CPU_LF_LOGIC, CPU_LF_INC, CPU_LF_DEC,
	CPU_LF_NEG,
	CPU_LF_SHL, CPU_LF_SHR, CPU_LF_SAR,   /* s1 = operand, s2 = count (1..bits-1) */
};

/* ---- Software TLB ---- */
#define CPU_TLB_BITS 9
#define CPU_TLB_SIZE (1u << CPU_TLB_BITS)
enum { CPU_ACC_R = 0, CPU_ACC_W = 1, CPU_ACC_X = 2 };
#define CPU_TLB_LOG 192              /* fill-log length (see cpu_tlb_flush) */

struct cpu_tlb_entry {
	uint64_t tag;       /* linear page number, or ~0 when empty */
	uintptr_t addend;   /* host address = linear address + addend */
	uint64_t gpa;       /* guest-physical page address | 1 if global | 2 if from a large page */
};

/* ---- Decoded blocks ----
 * A block is a header followed by its n insns and a terminator, allocated from the CPU's
 * arena (variable size).  The block table maps hash(gpa, mode) to the newest block; the jump
 * cache maps a RIP to its block directly while the translation generation (c->xlat_gen) is
 * unchanged, so most block-to-block transitions skip the TLB and the table.  A block is valid
 * while its page generation matches vm->page_gen[page]. */
#define CPU_BLOCK_MAX 32
#define CPU_BLOCK_HASH_BITS 16
#define CPU_JC_BITS 12
#define CPU_JC_SIZE (1u << CPU_JC_BITS)
struct cpu_block {
	uint64_t key;           /* gpa of the first byte << 2 | mode; ~0 = uncached */
	uint64_t page;          /* gpa page number the block's code lies in */
	uint32_t gen;           /* page generation when decoded */
	uint32_t fgen;          /* c->blk_fgen when decoded (cpu_flush_blocks bumps it) */
	uint16_t n;             /* number of guest instructions (excludes a terminator) */
	uint16_t bytes;
	uint32_t pad;
	struct insn *insns;     /* n insns + terminator, right after the header in the arena */
	const uint32_t *genp;   /* &vm->page_gen[page] */
};

struct cpu_jc_entry {
	uint64_t rip;
	uint64_t xgen;          /* c->xlat_gen[glob] when the entry was made */
	struct cpu_block *b;
	uint64_t glob;          /* 1: the code page's translation is global */
};

/* Shared per VM. */
#define CPU_VM_MAX_ROMS 4
struct cpu_vm_rom {
	uint64_t gpa, size;
	const uint8_t *host;
};

struct cpu_vm {
	cpu_gpa_ptr_fn gpa_ptr;
	void *memctx;
	uint64_t max_gpa;
	/* read-only memory (boot ROMs): read and executed in place, writes go to mmio_write */
	struct cpu_vm_rom rom[CPU_VM_MAX_ROMS];
	int nrom;
	uint64_t npages;
	uint8_t *page_code;          /* 1 = decoded code exists in this page */
	uint32_t *page_gen;          /* bumped whenever the page's code is invalidated */
	/* code_epoch and memmap_epoch are adjacent and 8-aligned here and in struct cpu: the run
	 * loop compares both with one load */
	volatile uint32_t code_epoch __attribute__((aligned(8)));  /* a page became a code page */
	volatile uint32_t memmap_epoch;
};

/* ---- The CPU ---- */
struct cpu {
	struct cpu_regs r;           /* architectural state; r.rip valid between blocks */

	/* lazy flags: valid status flags are computed from these when lf_op != NONE */
	uint32_t lf_op;
	uint32_t lf_size;            /* operand size in bytes */
	uint64_t lf_res, lf_s1, lf_s2;
	uint64_t lf_cf;              /* carry-in for INC/DEC (preserved CF) */

	/* cached mode */
	uint8_t cpl;
	uint8_t code_mode;           /* 16, 32, 64 */
	uint8_t user;                /* cpl == 3 (TLB set) */
	uint8_t stack32;             /* SS.B (32-bit stack) outside 64-bit mode */
	bool long_mode;              /* EFER.LMA */
	bool paging;

	/* execution */
	struct cpu_block *blk;       /* block being executed */
	const struct insn *cur;      /* insn being executed (NULL outside a block) */
	uint64_t blk_rip;            /* RIP of the first insn of blk */
	volatile int stop;           /* end the current block after this insn */
	/* Block-boundary events, tested together as one word (`events`) before each block. */
	union {
		struct {
			volatile uint8_t kick;
			volatile uint8_t irq_pending;
			volatile uint8_t nmi_pending;
			uint8_t shadow;          /* CPU_SHADOW_*: work for the next boundary */
			bool halted;
			uint8_t inject_pending;  /* inject_vec is valid */
			uint8_t exit_reason;     /* enum cpu_exit_reason */
			uint8_t dbg_on;          /* DR7 enables a breakpoint (cpu_dbg.c) */
		};
		uint64_t events;
	};
	const char *exit_msg;
	uint64_t icount;
	int64_t tsc_offset;           /* guest TSC = ops->rdtsc() + tsc_offset (WRMSR TSC) */
	int64_t tsc_adjust;           /* IA32_TSC_ADJUST: what WRMSRs added to this CPU's TSC */
	uint64_t budget_end;
	void *jb[5];                 /* __builtin_setjmp buffer for faults */
	bool wait_sipi, is_bsp;
	bool exit_on_pause;
	bool nmi_blocked;
	int trace;                    /* BHYVE_CPU_TRACE=1: log exceptions to stderr */

	/* exception being raised / delivered */
	int exc_vec;
	bool exc_has_err;
	uint32_t exc_err;
	int deliver_vec;             /* vector being delivered (for #DF), -1 none */
	uint64_t int_count;          /* events delivered (single-step bookkeeping) */
	bool exc_soft;               /* INT n / INT3 / INTO: software interrupt */

	/* cross-thread */
	int inject_vec;
	bool inject_err;
	uint32_t inject_code;

	/* soft TLB: [access][user] */
	struct cpu_tlb_entry tlb[3][2][CPU_TLB_SIZE];
	uint32_t code_epoch __attribute__((aligned(8)));   /* see struct cpu_vm */
	uint32_t memmap_epoch;
	/* translation generations: [0] bumped on every TLB flush and mode/CPL/CS change, [1] the
	 * same except flushes that keep global pages (CR3 writes with CR4.PGE) */
	uint64_t xlat_gen[2];
	uint64_t code_base;          /* CS base the cached lookups were made for */
	bool walk_large;             /* the last page walk ended in a 2M/4M/1G page */
	bool tlb_has_large;          /* some TLB entry maps part of a large page */
	uint32_t tlb_log_n;          /* entries in tlb_log; CPU_TLB_LOG + 1: overflowed */
	uint16_t tlb_log[CPU_TLB_LOG]; /* flat indexes of the entries filled since the last flush */

	/* paging model (from CPUID, filled by the first page walk) and the PAE PDPTE registers,
	 * loaded and checked when CR3/CR0/CR4 are written in PAE mode (cpu_mem.c) */
	bool pg_model_ready;
	bool pg_gbpages;             /* 1 GiB pages advertised (CPUID 80000001h:EDX[26]) */
	uint64_t pg_phys_rsvd;       /* bits 51:MAXPHYADDR */
	uint32_t dbg_hits;           /* data breakpoints hit by the current insn (cpu_dbg.c) */
	uint32_t db_pending;         /* DR6 bits of #DB traps held (MOV SS) or due (SYSRET) */
	bool int_rf;                 /* the event being delivered is a fault: RF=1 in its frame */
	struct insn *stop_insn;      /* insn whose handler h_stop replaces (cpu_stop_after) */
	cpu_handler_fn stop_h;       /* its own handler */
	bool pdpte_valid;
	uint64_t pdpte_cr3;          /* the CR3 the PDPTE registers were loaded from */
	uint64_t pdpte[4];

	/* decoded block cache */
	struct cpu_block **btab;     /* 1 << CPU_BLOCK_HASH_BITS entries */
	uint32_t blk_fgen;           /* blocks decoded under another value are stale */
	struct cpu_block tmpblk;     /* for instructions crossing a page (not cached) */
	struct insn tmp_insns[2];
	uint8_t *arena;              /* cached blocks (header + insns), bump-allocated */
	size_t arena_used, arena_size;
	struct cpu_jc_entry jc[CPU_JC_SIZE];

	struct cpu_vm *vm;
	const struct cpu_ops *ops;
	void *ctx;
	struct cpu_model model;

	/* private to the x87/SSE files (fpu*.c, sse*.c); zeroed by cpu_create and on RESET */
	uint64_t ext_priv[64] __attribute__((aligned(16)));
};

/* c->shadow bits */
#define CPU_SHADOW_STI 1   /* STI: interrupts blocked until the next instruction completes */
#define CPU_SHADOW_SS  2   /* MOV SS / POP SS: interrupts and #DB traps held likewise */
#define CPU_SHADOW_DB  4   /* c->db_pending holds a #DB trap to deliver at the boundary */

/* DR6 */
#define CPU_DR6_BD 0x2000u /* general detect */
#define CPU_DR6_BS 0x4000u /* single step */

#define CPU_NEXT_RIP(c, i) ((c)->blk_rip + (i)->end)
#define CPU_CUR_RIP(c, i)  ((c)->blk_rip + (i)->end - (i)->len)

/* Code translations changed: `global` also for global pages. */
/* Condition pair k (cc >> 1: O, C, Z, BE, S, P, L, LE) from materialised status flags; the
 * low bit of a condition code negates it. */
static inline __attribute__((always_inline)) bool cpu_cond_of_flags(uint64_t f, int k)
{
	switch (k) {
	case 0: return f & CPU_OF;
	case 1: return f & CPU_CF;
	case 2: return f & CPU_ZF;
	case 3: return f & (CPU_CF | CPU_ZF);
	case 4: return f & CPU_SF;
	case 5: return f & CPU_PF;
	case 6: return !(f & CPU_SF) != !(f & CPU_OF);
	default: return (f & CPU_ZF) || (!(f & CPU_SF) != !(f & CPU_OF));
	}
}

static inline void cpu_xlat_bump(struct cpu *c, bool global)
{
	c->xlat_gen[0]++;
	if (global)
		c->xlat_gen[1]++;
}

/* ---- Exceptions (cpu_exc.c): none of these return ---- */
CPU_NORETURN void cpu_raise(struct cpu *c, int vec, bool has_err, uint32_t err);
CPU_NORETURN void cpu_raise_ud(struct cpu *c);
CPU_NORETURN void cpu_raise_gp(struct cpu *c, uint32_t err);
CPU_NORETURN void cpu_raise_nm(struct cpu *c);
/* Stop the CPU from deep inside a handler (callback failed...): cpu_run returns `reason`. */
CPU_NORETURN void cpu_abort_exit(struct cpu *c, int reason, const char *msg);

/* ---- Registers ---- */
static inline uint64_t cpu_get_reg(const struct cpu *c, int r, int size)
{
	switch (size) {
	case 1: return r < 16 ? (uint8_t)c->r.gpr[r] : (uint8_t)(c->r.gpr[r - 16] >> 8);
	case 2: return (uint16_t)c->r.gpr[r];
	case 4: return (uint32_t)c->r.gpr[r];
	default: return c->r.gpr[r];
	}
}

static inline void cpu_set_reg(struct cpu *c, int r, int size, uint64_t v)
{
	switch (size) {
	case 1:
		if (r < 16)
			c->r.gpr[r] = (c->r.gpr[r] & ~0xffull) | (uint8_t)v;
		else
			c->r.gpr[r - 16] = (c->r.gpr[r - 16] & ~0xff00ull) | ((uint64_t)(uint8_t)v << 8);
		break;
	case 2: c->r.gpr[r] = (c->r.gpr[r] & ~0xffffull) | (uint16_t)v; break;
	case 4: c->r.gpr[r] = (uint32_t)v; break;
	default: c->r.gpr[r] = v; break;
	}
}

static inline uint64_t cpu_size_mask(int size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* Effective address (offset within i->seg) of the memory operand. */
static inline uint64_t cpu_ea(const struct cpu *c, const struct insn *i)
{
	uint64_t a = (uint64_t)(int64_t)i->disp;
	if (i->base != CPU_NOREG)
		a += c->r.gpr[i->base];
	if (i->index != CPU_NOREG)
		a += c->r.gpr[i->index] << i->scale;
	if (i->flags & CPU_IF_RIPREL)
		a += CPU_NEXT_RIP(c, i);
	return a & cpu_size_mask(i->asz);
}

/* Effective-address forms the decoder can prove for 64-bit addressing; handlers specialised
 * on a form (cpu_ea_k with a constant kind) skip cpu_ea's tests. */
enum { CPU_EA_ANY, CPU_EA_B, CPU_EA_BI, CPU_EA_RIP };
static inline int cpu_ea_kind(const struct insn *i)
{
	if (i->asz != 8 || !(i->flags & CPU_IF_MEM))
		return CPU_EA_ANY;
	if (i->flags & CPU_IF_RIPREL)
		return i->base == CPU_NOREG && i->index == CPU_NOREG ? CPU_EA_RIP : CPU_EA_ANY;
	if (i->base != CPU_NOREG)
		return i->index == CPU_NOREG ? CPU_EA_B : CPU_EA_BI;
	return CPU_EA_ANY;
}

static inline __attribute__((always_inline))
uint64_t cpu_ea_k(const struct cpu *c, const struct insn *i, int kind)
{
	switch (kind) {
	case CPU_EA_B: return c->r.gpr[i->base] + (uint64_t)(int64_t)i->disp;
	case CPU_EA_BI:
		return c->r.gpr[i->base] + (c->r.gpr[i->index] << i->scale) + (uint64_t)(int64_t)i->disp;
	case CPU_EA_RIP: return CPU_NEXT_RIP(c, i) + (uint64_t)(int64_t)i->disp;
	default: return cpu_ea(c, i);
	}
}

/* ---- Memory (cpu_mem.c).  seg is enum cpu_seg; off is the offset in the segment.  All may
 * fault (#GP/#SS for segment checks, #PF); accesses crossing a page are split and checked
 * before anything is written. ---- */
uint64_t cpu_rd_slow(struct cpu *c, int seg, uint64_t off, int size);
void cpu_wr_slow(struct cpu *c, int seg, uint64_t off, int size, uint64_t val);
void cpu_rd_buf(struct cpu *c, int seg, uint64_t off, void *dst, size_t n);
void cpu_wr_buf(struct cpu *c, int seg, uint64_t off, const void *src, size_t n);
/* Linear-address forms; `sys` = supervisor (implicit) access regardless of CPL. */
uint64_t cpu_rd_lin(struct cpu *c, uint64_t la, int size, bool sys);
void cpu_wr_lin(struct cpu *c, uint64_t la, int size, uint64_t val, bool sys);
/* Host pointer for an aligned-within-page `size`-byte RMW (LOCK) access, NULL for MMIO. */
void *cpu_ptr_rmw(struct cpu *c, int seg, uint64_t off, int size);
uint64_t cpu_seg_lin(struct cpu *c, int seg, uint64_t off, int size, int acc);
void cpu_tlb_flush(struct cpu *c, bool keep_global);
void cpu_tlb_flush_page(struct cpu *c, uint64_t la);
void cpu_code_invalidate(struct cpu_vm *vm, uint64_t page);
/* Read-only host pointer to the RAM or ROM byte at gpa (valid to its page end), or NULL. */
const uint8_t *cpu_phys_peek(struct cpu_vm *vm, uint64_t gpa);
/* Self-modifying code hit: make the running block stop after the current instruction. */
void cpu_block_cut(struct cpu *c, uint64_t page);
/* Fetch-side: translate la for execution; returns gpa or faults. */
uint64_t cpu_translate_exec(struct cpu *c, uint64_t la, void **host);
int cpu_walk(struct cpu *c, uint64_t la, int acc, bool user, uint64_t *gpa, bool *global,
	     bool *writable, uint32_t *pferr, bool set_ad);
/* Alignment checking (#AC): CR0.AM, RFLAGS.AC and CPL 3.  While it is on, user-mode TLB entries
 * are not installed so that every access reaches the checking slow path; call
 * cpu_ac_changed() when RFLAGS.AC or CR0.AM goes from 0 to 1. */
static inline bool cpu_ac_on(const struct cpu *c)
{
	return c->user && (c->r.cr0 & CPU_CR0_AM) && (c->r.rflags & CPU_AC);
}
void cpu_ac_changed(struct cpu *c);
/* Debug-register breakpoints (cpu_dbg.c); active while DR7 enables any (CPU_DR7_ENABLED).
 * c->dbg_on caches it for the run loop's event word; cpu_tlb_flush(c, false), which every
 * DR7 change is followed by, refreshes it. */
#define CPU_DR7_ENABLED(c) ((c)->r.dr[7] & 0xff)
bool cpu_dbg_data_page(const struct cpu *c, uint64_t la);
void cpu_dbg_data(struct cpu *c, uint64_t la, int size, bool write);
bool cpu_dbg_before(struct cpu *c);
uint32_t cpu_dbg_after(struct cpu *c);
/* An I/O, MMIO or MSR callback may have made an interrupt or NMI deliverable: if so the running
 * block stops after the current instruction, so the event is recognised at that instruction
 * boundary (cpu_exec.c). */
void cpu_check_events(struct cpu *c);
/* PAE paging: load the four PDPTE registers from cr3; false (nothing loaded) when a present
 * entry sets a reserved bit (the caller raises #GP(0)). */
bool cpu_pae_load_pdptes(struct cpu *c, uint64_t cr3);
/* True when CR0/CR4/EFER select PAE paging outside long mode. */
static inline bool cpu_pae_legacy(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
	return (cr0 & CPU_CR0_PG) && (cr4 & CPU_CR4_PAE) && !(efer & CPU_EFER_LMA);
}

static inline uint64_t cpu_ld_host(const void *p, int size)
{
	switch (size) {
	case 1: return *(const uint8_t *)p;
	case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
	case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
	default: { uint64_t v; memcpy(&v, p, 8); return v; }
	}
}

static inline void cpu_st_host(void *p, int size, uint64_t v)
{
	switch (size) {
	case 1: *(uint8_t *)p = (uint8_t)v; break;
	case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
	default: memcpy(p, &v, 8); break;
	}
}

/* Fast paths: 64-bit mode, TLB hit, access inside one page (entries exist only for
 * canonical pages, so a non-canonical address always takes the slow path and faults).
 * cpu_tlb_hit returns the host pointer on such a hit, else NULL (then use the slow path). */
static inline void *cpu_tlb_hit(struct cpu *c, int seg, uint64_t off, int size, int acc)
{
	if (CPU_LIKELY(c->code_mode == 64)) {
		uint64_t la = off + (seg >= CPU_FS ? c->r.seg[seg].base : 0);
		const struct cpu_tlb_entry *e = &c->tlb[acc][c->user][(la >> 12) & (CPU_TLB_SIZE - 1)];
		if (CPU_LIKELY(e->tag == la >> 12 && (la & 0xfff) <= 0x1000u - size))
			return (void *)(uintptr_t)(la + e->addend);
	}
	return NULL;
}

static inline uint64_t cpu_rd(struct cpu *c, int seg, uint64_t off, int size)
{
	if (CPU_LIKELY(c->code_mode == 64)) {
		uint64_t la = off + (seg >= CPU_FS ? c->r.seg[seg].base : 0);
		const struct cpu_tlb_entry *e = &c->tlb[CPU_ACC_R][c->user][(la >> 12) & (CPU_TLB_SIZE - 1)];
		if (CPU_LIKELY(e->tag == la >> 12 && (la & 0xfff) <= 0x1000u - size))
			return cpu_ld_host((const void *)(uintptr_t)(la + e->addend), size);
	}
	return cpu_rd_slow(c, seg, off, size);
}

static inline void cpu_wr(struct cpu *c, int seg, uint64_t off, int size, uint64_t val)
{
	if (CPU_LIKELY(c->code_mode == 64)) {
		uint64_t la = off + (seg >= CPU_FS ? c->r.seg[seg].base : 0);
		const struct cpu_tlb_entry *e = &c->tlb[CPU_ACC_W][c->user][(la >> 12) & (CPU_TLB_SIZE - 1)];
		if (CPU_LIKELY(e->tag == la >> 12 && (la & 0xfff) <= 0x1000u - size)) {
			cpu_st_host((void *)(uintptr_t)(la + e->addend), size, val);
			return;
		}
	}
	cpu_wr_slow(c, seg, off, size, val);
}

/* cpu_ptr_rmw with the TLB-hit fast path inline (a write entry also allows reading). */
static inline void *cpu_ptr_rmw_fast(struct cpu *c, int seg, uint64_t off, int size)
{
	void *p = cpu_tlb_hit(c, seg, off, size, CPU_ACC_W);
	return CPU_LIKELY(p != NULL) ? p : cpu_ptr_rmw(c, seg, off, size);
}

/* ---- Flags (cpu_flags.c) ---- */
uint32_t cpu_status_flags(struct cpu *c);           /* compute CF..OF from the lazy state */
static inline uint64_t cpu_get_rflags(struct cpu *c)
{
	if (c->lf_op != CPU_LF_NONE) {
		c->r.rflags = (c->r.rflags & ~(uint64_t)CPU_STATUS_FLAGS) | cpu_status_flags(c);
		c->lf_op = CPU_LF_NONE;
	}
	return c->r.rflags | 2;
}
/* Replace the six status flags (e.g. COMISS, FCOMI): `flags` is a mask of CPU_CF..CPU_OF. */
static inline void cpu_set_status(struct cpu *c, uint32_t flags)
{
	c->lf_op = CPU_LF_NONE;
	c->r.rflags = (c->r.rflags & ~(uint64_t)CPU_STATUS_FLAGS) | (flags & CPU_STATUS_FLAGS);
}
bool cpu_cond(struct cpu *c, int cc);                 /* Jcc/SETcc/CMOVcc condition 0..15 */
void cpu_set_rflags(struct cpu *c, uint64_t v, uint64_t mask);

/* ---- Decoder (cpu_decode.c) ---- */
/* Decode one instruction from bytes[0..n); returns its length, 0 if more bytes are needed
 * (n too small), or -1 for an undefined encoding (then i->h raises #UD). */
int cpu_decode(struct insn *i, const uint8_t *bytes, size_t n, int mode);
/* True when the insn must end a block (control transfer, mode change, serialising). */
bool cpu_insn_ends_block(const struct insn *i);

/* ---- Modes, segments, system (cpu_sys.c, cpu_seg.c) ---- */
void cpu_update_mode(struct cpu *c);
void cpu_load_seg(struct cpu *c, int seg, uint16_t sel);      /* MOV/POP Sreg semantics */
void cpu_set_seg_real(struct cpu *c, int seg, uint16_t sel);  /* real/V86: base = sel << 4 */
void cpu_push(struct cpu *c, int size, uint64_t v);
uint64_t cpu_pop(struct cpu *c, int size);
void cpu_interrupt(struct cpu *c, int vec, int kind, bool has_err, uint32_t err);
#define CPU_INT_EXT  0   /* external interrupt / NMI */
#define CPU_INT_EXC  1   /* exception */
#define CPU_INT_SOFT 2   /* INT n, INT3, INTO */
#define CPU_INT_ICEBP 3  /* INT1 */
uint64_t cpu_stack_mask(const struct cpu *c);
int cpu_write_cr(struct cpu *c, int n, uint64_t v);  /* 0 ok, else raises */

/* Handler tables provided by the integer/system files and used by the decoder. */
cpu_handler_fn cpu_select_handler(struct insn *i);
/* #UD for an opcode nobody handles (cpu_sys.c). */
int cpu_h_ud(struct cpu *c, const struct insn *i);

/* CPUID and the CPU's own MSRs (cpu_cpuid.c): 0, or -1 for #GP. */
void cpu_cpuid(struct cpu *c, uint32_t leaf, uint32_t sub, uint32_t out[4]);
int cpu_msr_read(struct cpu *c, uint32_t msr, uint64_t *v);
int cpu_msr_write(struct cpu *c, uint32_t msr, uint64_t v);
/* Deliver an exception raised during the last instruction (cpu_exc.c). */
void cpu_deliver_pending_exception(struct cpu *c);
/* CF from the lazy flags state (cpu_flags.c). */
uint32_t cpu_lazy_cf(struct cpu *c);
/* Host pointer of the linear address la for access `acc`, or NULL (cpu_mem.c). */
void *cpu_lin_ptr(struct cpu *c, uint64_t la, int acc, bool user);
/* One instruction byte at la through the page walk (cpu_mem.c). */
uint64_t cpu_fetch_byte_slow(struct cpu *c, uint64_t la);

/* Helpers for the x87/SSE files: check CR0/CR4 before touching state. */
static inline void cpu_fpu_check(struct cpu *c)
{
	if (c->r.cr0 & (CPU_CR0_EM | CPU_CR0_TS))
		cpu_raise_nm(c);
}

static inline void cpu_sse_check(struct cpu *c)
{
	if ((c->r.cr0 & CPU_CR0_EM) || !(c->r.cr4 & CPU_CR4_OSFXSR))
		cpu_raise_ud(c);
	if (c->r.cr0 & CPU_CR0_TS)
		cpu_raise_nm(c);
}

#endif
