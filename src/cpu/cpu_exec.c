/*
 * The run loop of the software CPU: decoded-block cache keyed by guest-physical address and
 * code mode, block execution with threaded handlers, instruction-boundary events (kick,
 * budget, NMI, external interrupts, interrupt shadow, HLT), and the cpu.h lifecycle API.
 */
#include <stdio.h>
#include <stdlib.h>
#include "cpu/cpu_internal.h"


#define BLOCK_HASH_SIZE (1u << CPU_BLOCK_HASH_BITS)
#define CPU_ARENA_BYTES (32u << 20)  /* decoded blocks (touched lazily) */

/* ---- mode ---- */

void cpu_update_mode(struct cpu *c)
{
	const struct cpu_segment *cs = &c->r.seg[CPU_CS];
	uint8_t old_mode = c->code_mode;
	bool old_paging = c->paging;
	c->long_mode = (c->r.efer & CPU_EFER_LMA) != 0;
	c->paging = (c->r.cr0 & CPU_CR0_PG) && (c->r.cr0 & CPU_CR0_PE);
	if (c->long_mode && (cs->attr & 0x2000))
		c->code_mode = 64;
	else if ((c->r.cr0 & CPU_CR0_PE) && !(c->r.rflags & CPU_VM) && (cs->attr & 0x4000))
		c->code_mode = 32;
	else
		c->code_mode = 16;
	if (!(c->r.cr0 & CPU_CR0_PE))
		c->cpl = 0;
	else if (c->r.rflags & CPU_VM)
		c->cpl = 3;
	else
		c->cpl = (c->r.seg[CPU_SS].attr >> 5) & 3;
	c->user = c->cpl == 3;
	/* cached RIP -> block lookups depend on the code mode, paging and CS base (and on CPL:
	 * the jump cache tags user-mode entries, see jc_tag) */
	if (c->code_mode != old_mode || c->paging != old_paging || cs->base != c->code_base) {
		c->code_base = cs->base;
		cpu_xlat_bump(c, true);
	}
	c->stack32 = (c->r.seg[CPU_SS].attr & 0x4000) != 0;
}

/* ---- block cache ---- */

static int h_block_end(struct cpu *c, const struct insn *i)
{
	c->r.rip = CPU_NEXT_RIP(c, i);
	return CPU_H_BRANCH;
}

static void block_terminate(struct cpu_block *b, uint16_t off)
{
	struct insn *t = &b->insns[b->n];
	memset(t, 0, sizeof(*t));
	t->h = h_block_end;
	t->end = off;
	t->len = 0;
}

/* Decode an instruction that crosses a page (or lies in MMIO) byte by byte; not cached. */
static struct cpu_block *block_uncached(struct cpu *c, uint64_t la)
{
	uint8_t buf[16];
	struct cpu_block *b = &c->tmpblk;
	b->insns = c->tmp_insns;
	struct insn *i = &b->insns[0];
	int len = 0;
	for (int k = 0; k < 15; k++) {
		buf[k] = (uint8_t)cpu_fetch_byte_slow(c, la + k);
		len = cpu_decode(i, buf, k + 1, c->code_mode);
		if (len != 0)
			break;
	}
	if (len <= 0) {
		i->h = cpu_h_ud;
		i->len = 1;
	}
	i->end = i->len;
	b->n = 1;
	b->key = ~0ull;
	block_terminate(b, i->end);
	return b;
}

static void mark_code_page(struct cpu *c, uint64_t pg)
{
	struct cpu_vm *vm = c->vm;
	if (!vm->page_code[pg]) {
		vm->page_code[pg] = 1;
		__atomic_fetch_add(&vm->code_epoch, 1, __ATOMIC_RELEASE);
	}
}

void cpu_flush_blocks(struct cpu *c);

/* Puts back the handler cpu_stop_after swapped out (see there). */
static inline void block_unstop(struct cpu *c)
{
	if (CPU_UNLIKELY(c->stop_insn != NULL)) {
		c->stop_insn->h = c->stop_h;
		c->stop_insn = NULL;
	}
}

/* 64-bit mode Jcc handlers fall through to the next insn when not taken, so a block goes on
 * past them (a taken Jcc ends it). */
static inline bool jcc_continues(const struct cpu *c, const struct insn *i)
{
	return c->code_mode == 64 && i->osz == 8 &&
	       ((i->op & 0x3f0) == 0x70 || (i->op & 0x3f0) == 0x180);
}

#define BLOCK_BYTES_MAX (sizeof(struct cpu_block) + (CPU_BLOCK_MAX + 1) * sizeof(struct insn))

static struct cpu_block *block_decode(struct cpu *c, const uint8_t *host, uint64_t la,
				      uint64_t key, uint64_t pg)
{
	unsigned off = 0, pgoff = la & 0xfff;
	if (c->arena_used + BLOCK_BYTES_MAX > c->arena_size)
		cpu_flush_blocks(c);     /* arena full: start over (rare) */
	struct cpu_block *b = (struct cpu_block *)(c->arena + c->arena_used);
	b->insns = (struct insn *)(b + 1);
	b->key = key;
	b->page = pg;
	b->fgen = c->blk_fgen;
	b->genp = &c->vm->page_gen[pg];
	b->gen = __atomic_load_n(b->genp, __ATOMIC_ACQUIRE);
	mark_code_page(c, pg);
	b->n = 0;
	while (b->n < CPU_BLOCK_MAX) {
		struct insn *i = &b->insns[b->n];
		size_t avail = 0x1000 - (pgoff + off);
		int len = avail ? cpu_decode(i, host + off, avail, c->code_mode) : 0;
		if (len == 0)
			break;                        /* crosses the page: next block does it */
		if (len < 0) {
			i->h = cpu_h_ud;
			i->len = 1;
			len = 1;
		}
		off += len;
		i->end = (uint16_t)off;
		b->n++;
		if (i->h == cpu_h_ud || (cpu_insn_ends_block(i) && !jcc_continues(c, i)))
			break;
	}
	b->bytes = (uint16_t)off;
	block_terminate(b, (uint16_t)off);   /* also after branches: handlers may fall through */
	if (b->n)
		c->arena_used += sizeof(*b) + (b->n + 1u) * sizeof(struct insn);
	return b;
}

/* The block at c->r.rip (decoded now if needed); *glob = 1 when the code page's translation
 * is global (cached lookups then survive CR3 writes). */
static struct cpu_block *block_get(struct cpu *c, uint64_t *glob)
{
	uint64_t rip = c->r.rip;
	uint64_t la = c->code_mode == 64 ? rip : (c->r.seg[CPU_CS].base + rip) & 0xffffffffull;
	void *host;
	uint64_t gpa = cpu_translate_exec(c, la, &host);
	uint64_t pg = gpa >> 12;
	*glob = c->tlb[CPU_ACC_X][c->user][(la >> 12) & (CPU_TLB_SIZE - 1)].gpa & 1;
	if (!host || pg >= c->vm->npages)
		return block_uncached(c, la);
	uint64_t key = (gpa << 2) | (c->code_mode == 64 ? 2 : c->code_mode == 32 ? 1 : 0);
	uint64_t h = (gpa ^ (gpa >> 13) ^ (c->code_mode >> 4)) & (BLOCK_HASH_SIZE - 1);
	struct cpu_block *b = c->btab[h];
	if (CPU_LIKELY(b && b->key == key && b->fgen == c->blk_fgen &&
		       b->gen == __atomic_load_n(&c->vm->page_gen[pg], __ATOMIC_ACQUIRE)))
		return b;
	b = block_decode(c, host, la, key, pg);
	if (b->n == 0)
		return block_uncached(c, la);
	c->btab[h] = b;
	return b;
}

/* Drops every decoded block of this CPU in O(1): table entries from an older flush
 * generation are ignored, and the jump cache is keyed by xlat_gen. */
void cpu_flush_blocks(struct cpu *c)
{
	block_unstop(c);   /* before the arena is reused */
	c->blk_fgen++;
	c->arena_used = 0;
	cpu_xlat_bump(c, true);
	if (c->blk_fgen == 0) {   /* wrapped: really clear the table once */
		memset(c->btab, 0, BLOCK_HASH_SIZE * sizeof(c->btab[0]));
		c->blk_fgen = 1;
	}
}

/* ---- block execution ---- */

/* Replaces the handlers after the current instruction of a block whose code was just
 * overwritten: the block is stale (its page generation moved on) and is never run again, so
 * patching it in place is safe; the run loop then decodes the new code. */
static int h_cut(struct cpu *c, const struct insn *i)
{
	c->r.rip = CPU_CUR_RIP(c, i);
	if (i->len)
		c->icount--;   /* not executed: compensate the block's count */
	return CPU_H_BRANCH;
}

void cpu_block_cut(struct cpu *c, uint64_t page)
{
	/* blocks lie within one page; only the uncached block can span two */
	if (!c->cur || !c->blk || (c->blk != &c->tmpblk && c->blk->page != page))
		return;
	struct insn *end = c->blk->insns + c->blk->n;
	for (struct insn *p = (struct insn *)c->cur + 1; p <= end; p++)
		p->h = h_cut;
}

/* Ending a block early: cpu_stop_after swaps the next insn's handler for h_stop, which puts it
 * back, leaves the block at that insn and does not count it.  Blocks belong to one CPU (its
 * arena, or tmpblk), so no other thread can meet the swapped handler.  When the instruction
 * branches instead (a REP restart, a jump through MMIO), the swap stays until h_stop runs on a
 * later pass, a fault, exec_one, the next swap or an arena flush undoes it: h_stop only ends a
 * block early with the right RIP, so a late one is harmless, and the hot path of exec_block
 * carries no check. */
static int h_stop(struct cpu *c, const struct insn *i)
{
	block_unstop(c);
	c->r.rip = CPU_CUR_RIP(c, i);
	if (i->len)
		c->icount--;   /* not executed: compensate the block's count */
	return CPU_H_BRANCH;
}

static void cpu_stop_after(struct cpu *c)
{
	c->stop = 1;       /* REP string loops stop between iterations too */
	if (!c->cur)
		return;
	block_unstop(c);
	struct insn *n = (struct insn *)c->cur + 1;
	c->stop_insn = n;
	c->stop_h = n->h;
	n->h = h_stop;
}

/* Called on this CPU's thread after a callback that can raise an interrupt or NMI (port I/O,
 * MMIO: a self-IPI, an EOI that uncovers the next vector, an 8259 unmask...).  Hardware
 * recognises the event at the next instruction boundary, so the block ends there.  Events
 * from other threads need no such care: their arrival time is not architectural, and a block
 * (at most CPU_BLOCK_MAX straight-line instructions) reaches a boundary check soon. */
void cpu_check_events(struct cpu *c)
{
	if ((c->nmi_pending && !c->nmi_blocked) || (c->irq_pending && (c->r.rflags & CPU_IF)) ||
	    c->kick)
		cpu_stop_after(c);
}

static void exec_block(struct cpu *c, struct cpu_block *b)
{
	const struct insn *i = b->insns;
	c->blk = b;
	c->blk_rip = c->r.rip;
	for (;;) {
		c->cur = i;
		if (i->h(c, i))
			break;
		i++;
	}
	c->icount += (uint64_t)(i - b->insns) + (i->len != 0);
	c->cur = NULL;
	c->stop = 0;
}

/* Execute exactly one instruction of b (interrupt shadow, budget end). */
static void exec_one(struct cpu *c, struct cpu_block *b)
{
	const struct insn *i = b->insns;
	c->blk = b;
	c->blk_rip = c->r.rip;
	c->cur = i;
	if (!i->h(c, i))
		c->r.rip = CPU_NEXT_RIP(c, i);
	c->stop = 0;
	c->icount += i->len != 0;
	c->cur = NULL;
	block_unstop(c);
}

static void deliver_db(struct cpu *c, uint32_t bits)
{
	c->r.dr[6] |= bits | c->db_pending;
	c->db_pending = 0;
	c->shadow &= (uint8_t)~CPU_SHADOW_DB;
	cpu_interrupt(c, CPU_EXC_DB, CPU_INT_EXC, false, 0);
}

/* One instruction with the debug rules, when RFLAGS.TF or RF is set, DR7 enables a
 * breakpoint or a #DB trap is held:
 * - an instruction breakpoint is a fault before the instruction, unless RF is set; RF is
 *   cleared as the instruction starts, so it covers one instruction (an IRET may set it
 *   again, and a fault pushes RF=1 anyway);
 * - when the instruction completes (no fault, no event delivered): a single-step trap if TF
 *   was set as it started (so POPF and IRET that set TF trap after the next instruction), and
 *   its data breakpoints, as one #DB with their DR6 bits.  SYSCALL traps only if TF is still
 *   set after it (SFMASK normally clears it); SYSRET that loads TF=1 traps at once (sysret
 *   sets db_pending);
 * - after MOV SS / POP SS the traps are held until the next instruction completes and come
 *   with its own in one #DB (SDM Vol. 3A 6.8.3).  If that instruction faults or is INT n, the
 *   held #DB is delivered before the handler's first instruction. */
static void step_one(struct cpu *c, struct cpu_block *b)
{
	uint64_t ints = c->int_count;
	bool tf = c->r.rflags & CPU_TF, dbg = c->dbg_on;
	if (dbg && cpu_dbg_before(c)) {
		/* instruction breakpoint (cpu_dbg.c): traps held by MOV SS are reported with it */
		c->r.dr[6] |= c->db_pending;
		c->db_pending = 0;
		c->shadow &= (uint8_t)~CPU_SHADOW_DB;
		return;
	}
	c->r.rflags &= ~(uint64_t)CPU_RF;
	if (c->db_pending)
		c->shadow |= CPU_SHADOW_DB;   /* if this faults, the next boundary delivers it */
	uint16_t op = b->insns[0].op;
	exec_one(c, b);
	if (c->exit_reason || c->int_count != ints)
		return;
	if (op == 0x105)
		tf = c->r.rflags & CPU_TF;    /* SYSCALL */
	uint32_t bits = (dbg ? cpu_dbg_after(c) : 0) | (tf ? CPU_DR6_BS : 0);
	if (c->shadow & CPU_SHADOW_SS) {  /* this was MOV SS / POP SS */
		c->db_pending |= bits;
		return;
	}
	if (bits | c->db_pending)
		deliver_db(c, bits);
}

/* ---- events at instruction boundaries ---- */

static bool take_interrupt(struct cpu *c)
{
	if (c->nmi_pending && !c->nmi_blocked) {
		c->nmi_pending = 0;
		c->halted = false;
		c->nmi_blocked = true;
		cpu_interrupt(c, CPU_EXC_NMI, CPU_INT_EXT, false, 0);
		return true;
	}
	if (c->irq_pending && (c->r.rflags & CPU_IF)) {
		__atomic_store_n(&c->irq_pending, 0, __ATOMIC_SEQ_CST);
		int v = c->ops->intr_ack ? c->ops->intr_ack(c->ctx) : -1;
		if (v >= 0) {
			__atomic_store_n(&c->irq_pending, 1, __ATOMIC_SEQ_CST);
			c->halted = false;
			cpu_interrupt(c, v & 0xff, CPU_INT_EXT, false, 0);
			return true;
		}
	}
	return false;
}

static inline void sync_epochs(struct cpu *c)
{
	/* both epochs at once (adjacent in both structures); the usual case is "unchanged" */
	uint64_t both = __atomic_load_n((const volatile uint64_t *)&c->vm->code_epoch, __ATOMIC_ACQUIRE);
	uint64_t mine;
	memcpy(&mine, &c->code_epoch, sizeof(mine));
	if (CPU_LIKELY(both == mine))
		return;
	uint32_t e = __atomic_load_n(&c->vm->code_epoch, __ATOMIC_ACQUIRE);
	if (CPU_UNLIKELY(e != c->code_epoch)) {
		c->code_epoch = e;
		for (int u = 0; u < 2; u++)
			for (unsigned k = 0; k < CPU_TLB_SIZE; k++)
				c->tlb[CPU_ACC_W][u][k].tag = ~0ull;
	}
	e = __atomic_load_n(&c->vm->memmap_epoch, __ATOMIC_ACQUIRE);
	if (CPU_UNLIKELY(e != c->memmap_epoch)) {
		c->memmap_epoch = e;
		cpu_tlb_flush(c, false);
		cpu_flush_blocks(c);
	}
}

static void set_exit(struct cpu *c, int reason)
{
	c->exit_reason = reason;
}

/* The block for c->r.rip: the jump cache when its entry still holds, else the table. */
static inline struct cpu_block *next_block(struct cpu *c)
{
	uint64_t rip = c->r.rip;
	/* CPL 3 lookups get a tag no kernel-mode RIP has (bit 52 flipped: not canonical), so a
	 * user-mode jump never reuses a translation checked for supervisor mode */
	uint64_t tag = rip ^ ((uint64_t)c->user << 52);
	struct cpu_jc_entry *e = &c->jc[(rip ^ (rip >> CPU_JC_BITS)) & (CPU_JC_SIZE - 1)];
	if (CPU_LIKELY(e->rip == tag && e->xgen == c->xlat_gen[e->glob])) {
		struct cpu_block *b = e->b;
		if (CPU_LIKELY(b->gen == __atomic_load_n(b->genp, __ATOMIC_RELAXED)))
			return b;
	}
	uint64_t glob;
	struct cpu_block *b = block_get(c, &glob);
	if (b->key != ~0ull) {
		e->rip = tag;
		e->glob = glob;
		e->xgen = c->xlat_gen[glob];
		e->b = b;
	}
	return b;
}

/* Everything that can happen at an instruction boundary other than running the next block:
 * returns 1 to run a block, 0 to check again, -1 to return from cpu_run. */
static int boundary_events(struct cpu *c)
{
	if (CPU_UNLIKELY(c->kick)) {
		c->kick = 0;
		set_exit(c, CPU_EXIT_KICK);
		return -1;
	}
	if (CPU_UNLIKELY(c->icount >= c->budget_end)) {
		set_exit(c, CPU_EXIT_BUDGET);
		return -1;
	}
	if (c->inject_pending) {
		int v = c->inject_vec;
		c->inject_vec = -1;
		c->inject_pending = 0;
		cpu_raise(c, v, c->inject_err, c->inject_code);
	}
	uint8_t shadow = c->shadow;
	if (CPU_UNLIKELY(shadow)) {
		c->shadow = 0;
		/* traps of the previous instruction come before NMIs and interrupts */
		if (c->db_pending && !(shadow & CPU_SHADOW_SS)) {
			deliver_db(c, 0);
			return 0;
		}
		shadow &= CPU_SHADOW_STI | CPU_SHADOW_SS;
	}
	if (!shadow && (c->irq_pending || c->nmi_pending) && take_interrupt(c))
		return 0;
	if (c->halted) {
		set_exit(c, CPU_EXIT_HLT);
		return -1;
	}
	if (c->exit_reason)
		return -1;
	if (CPU_UNLIKELY(shadow | (c->r.rflags & (CPU_TF | CPU_RF)) | c->dbg_on | c->db_pending)) {
		/* one instruction: a shadow ends after it, or the debug rules apply */
		struct cpu_block *b = next_block(c);
		sync_epochs(c);
		if ((c->r.rflags & (CPU_TF | CPU_RF)) | c->dbg_on | c->db_pending)
			step_one(c, b);
		else
			exec_one(c, b);
		return c->exit_reason ? -1 : 0;
	}
	return 1;
}

/* Not inlined: cpu_run holds the setjmp, which would pin every variable here to the stack. */
__attribute__((noinline)) static void run_loop(struct cpu *c)
{
	for (;;) {
		uint64_t ev = *(volatile uint64_t *)&c->events;
		if (CPU_UNLIKELY(ev | (c->r.rflags & (CPU_TF | CPU_RF)) | (c->icount >= c->budget_end))) {
			int r = boundary_events(c);
			if (r < 0)
				return;
			if (r == 0)
				continue;
		}
		struct cpu_block *b = next_block(c);
		sync_epochs(c);
		if (CPU_UNLIKELY(c->icount + b->n > c->budget_end))
			exec_one(c, b);
		else
			exec_block(c, b);
		if (c->exit_reason)
			return;
	}
}

CPU_NORETURN void cpu_abort_exit(struct cpu *c, int reason, const char *msg)
{
	c->exc_vec = -1;
	c->exit_reason = reason;
	c->exit_msg = msg;
	__builtin_longjmp(c->jb, 1);
}

/* After a longjmp from a fault: rewind to the faulting instruction and deliver. */
static void fault_recover(struct cpu *c)
{
	if (c->cur) {
		const struct insn *i = c->cur;
		c->r.rip = CPU_CUR_RIP(c, i);
		if (c->blk)
			c->icount += (uint64_t)(i - c->blk->insns);
		c->cur = NULL;
	}
	c->stop = 0;
	block_unstop(c);
	if (c->exc_vec >= 0 && !c->exit_reason)
		cpu_deliver_pending_exception(c);
}

enum cpu_exit_reason cpu_run(struct cpu *c, uint64_t max_insns, struct cpu_exit *ex)
{
	c->exit_reason = CPU_EXIT_NONE;
	c->exit_msg = NULL;
	c->budget_end = max_insns ? c->icount + max_insns : ~0ull;
	if (c->wait_sipi) {
		c->exit_reason = CPU_EXIT_WAIT_SIPI;
	} else {
		if (__builtin_setjmp(c->jb))
			fault_recover(c);
		if (!c->exit_reason)
			run_loop(c);
	}
	c->cur = NULL;
	if (ex) {
		ex->reason = c->exit_reason;
		ex->msg = c->exit_msg;
	}
	return c->exit_reason;
}

/* ---- lifecycle ---- */

struct cpu *cpu_create(struct cpu_vm *cvm, const struct cpu_ops *ops, void *ctx,
		       const struct cpu_model *model)
{
	struct cpu *c = aligned_alloc(64, (sizeof(struct cpu) + 63) & ~63ul);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->btab = calloc(BLOCK_HASH_SIZE, sizeof(c->btab[0]));
	c->arena_size = CPU_ARENA_BYTES;
	c->arena = aligned_alloc(64, c->arena_size);
	c->blk_fgen = 1;
	if (!c->btab || !c->arena) {
		free(c->btab);
		free(c->arena);
		free(c);
		return NULL;
	}
	c->vm = cvm;
	c->ops = ops;
	c->ctx = ctx;
	if (model)
		c->model = *model;
	c->is_bsp = c->model.apic_id == 0;
	c->tlb_log_n = CPU_TLB_LOG + 1;   /* the first flush clears the whole (zeroed) TLB */
	const char *tr = getenv("BHYVE_CPU_TRACE");
	c->trace = tr ? atoi(tr) : 0;
	cpu_reset(c);
	return c;
}

void cpu_destroy(struct cpu *c)
{
	if (!c)
		return;
	if (c->trace)
		fprintf(stderr, "cpu: %llu instructions retired\n", (unsigned long long)c->icount);
	free(c->btab);
	free(c->arena);
	free(c);
}

static void reset_seg(struct cpu_segment *s, uint16_t sel, uint64_t base, uint16_t attr)
{
	s->sel = sel;
	s->base = base;
	s->limit = 0xffff;
	s->attr = attr;
}

/* State common to RESET and INIT (SDM Vol. 3 table 9-1). */
static void reset_common(struct cpu *c)
{
	struct cpu_regs *r = &c->r;
	memset(r->gpr, 0, sizeof(r->gpr));
	r->gpr[CPU_RDX] = 0x00000600 | 0x0f00;   /* family/model/stepping signature-ish */
	r->rip = 0xfff0;
	r->rflags = 2;
	c->lf_op = CPU_LF_NONE;
	reset_seg(&r->seg[CPU_CS], 0xf000, 0xffff0000ull, 0x9b);
	for (int s = 0; s < CPU_NSEG; s++)
		if (s != CPU_CS && s != CPU_LDTR && s != CPU_TR)
			reset_seg(&r->seg[s], 0, 0, 0x93);
	reset_seg(&r->seg[CPU_LDTR], 0, 0, 0x82);
	reset_seg(&r->seg[CPU_TR], 0, 0, 0x8b);
	r->gdtr.base = r->idtr.base = 0;
	r->gdtr.limit = r->idtr.limit = 0xffff;
	r->cr0 = (r->cr0 & (CPU_CR0_CD | CPU_CR0_NW)) | CPU_CR0_ET | CPU_CR0_CD | CPU_CR0_NW;
	r->cr2 = r->cr3 = r->cr4 = r->cr8 = 0;
	memset(r->dr, 0, sizeof(r->dr));
	r->dr[6] = 0xffff0ff0;
	r->dr[7] = 0x400;
	r->efer = 0;
	c->shadow = 0;
	c->halted = false;
	c->nmi_blocked = false;
	c->deliver_vec = -1;
	c->inject_vec = -1;
	c->inject_pending = 0;
	c->db_pending = 0;
	cpu_update_mode(c);
	cpu_tlb_flush(c, false);
	cpu_flush_blocks(c);
}

void cpu_reset(struct cpu *c)
{
	struct cpu_regs *r = &c->r;
	memset(r, 0, sizeof(*r));
	reset_common(c);
	r->cr0 = CPU_CR0_ET | CPU_CR0_CD | CPU_CR0_NW;
	r->pat = 0x0007040600070406ull;
	/* x87/SSE power-up state in the FXSAVE image: FCW 0x0040, MXCSR 0x1F80 */
	r->fx.bytes[0] = 0x40;
	r->fx.bytes[24] = 0x80;
	r->fx.bytes[25] = 0x1f;
	r->fx.bytes[28] = 0xff;
	r->fx.bytes[29] = 0xff;
	memset(c->ext_priv, 0, sizeof(c->ext_priv));
	c->wait_sipi = false;
	c->nmi_pending = 0;
	c->irq_pending = 0;
}

void cpu_init_signal(struct cpu *c)
{
	/* INIT keeps x87/SSE state, MSRs such as EFER are cleared; APs wait for SIPI. */
	reset_common(c);
	c->wait_sipi = !c->is_bsp;
}

void cpu_sipi(struct cpu *c, uint8_t vector)
{
	if (!c->wait_sipi)
		return;
	c->wait_sipi = false;
	c->r.seg[CPU_CS].sel = (uint16_t)vector << 8;
	c->r.seg[CPU_CS].base = (uint64_t)vector << 12;
	c->r.rip = 0;
	cpu_update_mode(c);
}

void cpu_get_regs(struct cpu *c, struct cpu_regs *regs)
{
	cpu_get_rflags(c);
	*regs = c->r;
	regs->rflags |= 2;
}

void cpu_set_regs(struct cpu *c, const struct cpu_regs *regs)
{
	c->r = *regs;
	c->r.rflags |= 2;
	c->halted = false;   /* loading a state means "run from here" */
	c->shadow = 0;
	c->db_pending = 0;
	c->lf_op = CPU_LF_NONE;
	cpu_update_mode(c);
	cpu_tlb_flush(c, false);
	cpu_flush_blocks(c);
}

void cpu_kick(struct cpu *c)
{
	__atomic_store_n(&c->kick, 1, __ATOMIC_SEQ_CST);
}

void cpu_set_irq_pending(struct cpu *c)
{
	__atomic_store_n(&c->irq_pending, 1, __ATOMIC_SEQ_CST);
}

void cpu_set_nmi_pending(struct cpu *c)
{
	__atomic_store_n(&c->nmi_pending, 1, __ATOMIC_SEQ_CST);
}

void cpu_set_exit_on_pause(struct cpu *c, bool on)
{
	c->exit_on_pause = on;
}

void cpu_inject_exception(struct cpu *c, int vector, bool has_err, uint32_t err)
{
	c->inject_vec = vector;
	c->inject_pending = vector >= 0;
	c->inject_err = has_err;
	c->inject_code = err;
}

uint64_t cpu_insn_count(const struct cpu *c)
{
	return c->icount;
}

bool cpu_is_halted(const struct cpu *c)
{
	return c->halted;
}
