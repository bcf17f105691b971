/*
 * Guest memory for the software CPU: segmentation checks, the page walk (32-bit, PAE, 4-level,
 * 4K/2M/4M/1G pages, A/D bits, U/S, R/W, NX, CR0.WP, global pages), the software TLB (guest
 * linear page -> host pointer, one compare on a hit), MMIO and self-modifying-code tracking.
 */
#include <stdlib.h>
#include "cpu/cpu_internal.h"

#define PTE_P   0x001ull
#define PTE_W   0x002ull
#define PTE_U   0x004ull
#define PTE_A   0x020ull
#define PTE_D   0x040ull
#define PTE_PS  0x080ull
#define PTE_G   0x100ull
#define PTE_NX  (1ull << 63)
#define ADDR52  0x000ffffffffff000ull

/* ---- physical memory ---- */

/* Writable host memory (RAM) for gpa, or NULL. */
static void *phys_host(struct cpu *c, uint64_t gpa)
{
	if (gpa >= c->vm->max_gpa && c->vm->max_gpa)
		return NULL;
	return c->vm->gpa_ptr(c->vm->memctx, gpa);
}

static const uint8_t *rom_host(const struct cpu_vm *vm, uint64_t gpa)
{
	for (int k = 0; k < vm->nrom; k++)
		if (gpa - vm->rom[k].gpa < vm->rom[k].size)
			return vm->rom[k].host + (gpa - vm->rom[k].gpa);
	return NULL;
}

const uint8_t *cpu_phys_peek(struct cpu_vm *vm, uint64_t gpa)
{
	if (gpa >= vm->max_gpa && vm->max_gpa)
		return NULL;
	const uint8_t *h = vm->gpa_ptr(vm->memctx, gpa);
	return h ? h : rom_host(vm, gpa);
}

/* Readable host memory (RAM or ROM) for gpa, or NULL.  The result must never be written. */
static uint8_t *phys_host_ro(struct cpu *c, uint64_t gpa)
{
	uint8_t *h = phys_host(c, gpa);
	if (h || CPU_LIKELY(!c->vm->nrom))
		return h;
	return (uint8_t *)(uintptr_t)rom_host(c->vm, gpa);
}

void cpu_code_invalidate(struct cpu_vm *vm, uint64_t page)
{
	if (page >= vm->npages || !vm->page_code[page])
		return;
	vm->page_code[page] = 0;
	__atomic_fetch_add(&vm->page_gen[page], 1, __ATOMIC_RELEASE);
}

static void phys_note_write(struct cpu *c, uint64_t gpa)
{
	uint64_t pg = gpa >> 12;
	if (pg < c->vm->npages && c->vm->page_code[pg]) {
		cpu_code_invalidate(c->vm, pg);
		c->stop = 1;              /* for REP string loops */
		cpu_block_cut(c, pg);     /* the rest of the running block may be stale */
	}
}

static uint64_t phys_read(struct cpu *c, uint64_t gpa, int size)
{
	uint8_t *h = phys_host_ro(c, gpa);
	uint64_t v = 0;
	if (h) {
		memcpy(&v, h, size);
		return v;
	}
	if (size & (size - 1)) {   /* odd-sized piece of a split access: byte by byte */
		for (int k = 0; k < size; k++)
			v |= phys_read(c, gpa + k, 1) << (8 * k);
		return v;
	}
	if (!c->ops->mmio_read || c->ops->mmio_read(c->ctx, gpa, size, &v) == CPU_CB_ABORT)
		cpu_abort_exit(c, CPU_EXIT_ABORT, "mmio read failed");
	cpu_check_events(c);
	return v & cpu_size_mask(size);
}

static void phys_write(struct cpu *c, uint64_t gpa, int size, uint64_t v)
{
	uint8_t *h = phys_host(c, gpa);
	if (h) {
		phys_note_write(c, gpa);
		memcpy(h, &v, size);
		return;
	}
	if (size & (size - 1)) {
		for (int k = 0; k < size; k++)
			phys_write(c, gpa + k, 1, v >> (8 * k));
		return;
	}
	if (!c->ops->mmio_write || c->ops->mmio_write(c->ctx, gpa, size, v) == CPU_CB_ABORT)
		cpu_abort_exit(c, CPU_EXIT_ABORT, "mmio write failed");
	cpu_check_events(c);
}

/* ---- page walk ---- */

static uint64_t *pte_ptr(struct cpu *c, uint64_t gpa)
{
	return phys_host(c, gpa);
}

static uint64_t pte_read(struct cpu *c, uint64_t gpa, int size)
{
	void *h = phys_host_ro(c, gpa);
	if (!h)
		return 0;       /* page tables in MMIO: treat as not present */
	if (size == 4)
		return __atomic_load_n((uint32_t *)h, __ATOMIC_RELAXED);
	return __atomic_load_n((uint64_t *)h, __ATOMIC_RELAXED);
}

static void pte_set(struct cpu *c, uint64_t gpa, int size, uint64_t bits, uint64_t cur)
{
	void *h = pte_ptr(c, gpa);
	if (!h || (cur & bits) == bits)
		return;
	if (size == 4)
		__atomic_fetch_or((uint32_t *)h, (uint32_t)bits, __ATOMIC_RELAXED);
	else
		__atomic_fetch_or((uint64_t *)h, bits, __ATOMIC_RELAXED);
}

struct walk {
	uint64_t ent_gpa[5];
	uint64_t ent[5];
	int n, esz;
	uint64_t perm_u, perm_w, nx;
};


/* The paging-related part of the CPU model, read once from our own CPUID. */
static void pg_model(struct cpu *c)
{
	uint32_t o[4];
	cpu_cpuid(c, 0x80000008, 0, o);
	unsigned m = o[0] & 0xff;
	if (m < 32 || m > 52)
		m = 36;
	c->pg_phys_rsvd = ((1ull << 52) - 1) & ~((1ull << m) - 1);
	cpu_cpuid(c, 0x80000001, 0, o);
	c->pg_gbpages = (o[3] >> 26) & 1;
	c->pg_model_ready = true;
}

/* PAE PDPTE: bits 2:1, 8:5 and 63:MAXPHYADDR are reserved. */
static bool pdpte_bad(const struct cpu *c, uint64_t e)
{
	uint64_t rsvd = 0x1e6ull | c->pg_phys_rsvd | (0xfffull << 52);
	return (e & PTE_P) && (e & rsvd);
}

bool cpu_pae_load_pdptes(struct cpu *c, uint64_t cr3)
{
	uint64_t e[4];
	if (!c->pg_model_ready)
		pg_model(c);
	for (int k = 0; k < 4; k++) {
		e[k] = pte_read(c, (cr3 & 0xffffffe0ull) + k * 8, 8);
		if (pdpte_bad(c, e[k]))
			return false;
	}
	memcpy(c->pdpte, e, sizeof(e));
	c->pdpte_cr3 = cr3;
	c->pdpte_valid = true;
	return true;
}

/* Reserved bits of a present 64-bit paging entry at `level` (4 = PML4E ... 1 = PTE);
 * `lm`: 4-level paging (else PAE). */
static uint64_t rsvd_bits64(const struct cpu *c, uint64_t e, int level, bool lm, bool nxe)
{
	uint64_t r = c->pg_phys_rsvd | (lm ? 0 : 0x7ffull << 52) | (nxe ? 0 : PTE_NX);
	if (level == 4)
		r |= PTE_PS;
	else if (level == 3 && (e & PTE_PS))
		r |= c->pg_gbpages ? 0x3fffe000ull : PTE_PS;
	else if (level == 2 && (e & PTE_PS))
		r |= 0x1fe000ull;
	return r;
}

/* Reserved bits of a present 32-bit paging PDE (4 MiB pages with PSE-36: bit 21 and bits
 * 20:13 that would name physical address bits at or above MAXPHYADDR). */
static uint32_t rsvd_bits32(const struct cpu *c, uint64_t e, int level)
{
	if (level != 2 || !(e & PTE_PS) || !(c->r.cr4 & CPU_CR4_PSE))
		return 0;
	uint64_t hi = (c->pg_phys_rsvd >> 32) & 0xff;   /* physical bits 39:32 -> PDE 20:13 */
	return (uint32_t)((1u << 21) | (hi << 13));
}

/* The starting table of a walk; -1 when a PAE PDPTE is not present. */
static int walk_root(struct cpu *c, uint64_t la, struct walk *w, uint64_t *table, int *level,
		     int *shift)
{
	if (!(c->r.cr4 & CPU_CR4_PAE)) {
		w->esz = 4;
		*table = c->r.cr3 & 0xfffff000ull;
		*level = 2;
		*shift = 22;
	} else if (!c->long_mode) {
		w->esz = 8;
		if ((!c->pdpte_valid || c->pdpte_cr3 != c->r.cr3) &&
		    !cpu_pae_load_pdptes(c, c->r.cr3)) {
			/* reloaded outside MOV CR3 (state restore): a bad entry is not present */
			memset(c->pdpte, 0, sizeof(c->pdpte));
			c->pdpte_cr3 = c->r.cr3;
			c->pdpte_valid = true;
		}
		uint64_t pdpte = c->pdpte[(la >> 30) & 3];
		if (!(pdpte & PTE_P))
			return -1;
		*table = pdpte & ADDR52;
		*level = 2;
		*shift = 21;
	} else {
		w->esz = 8;
		*table = c->r.cr3 & ADDR52;
		*level = 4;
		*shift = 39;
	}
	return 0;
}

/* Returns 0 with *gpa or -1 with *pferr.  acc: CPU_ACC_R/W/X. */
int cpu_walk(struct cpu *c, uint64_t la, int acc, bool user, uint64_t *gpa, bool *global,
	     bool *writable, uint32_t *pferr, bool set_ad)
{
	struct walk w = { .n = 0, .perm_u = 1, .perm_w = 1, .nx = 0 };
	bool pae = c->r.cr4 & CPU_CR4_PAE, lm = c->long_mode;
	bool nxe = c->r.efer & CPU_EFER_NXE;
	uint64_t table, e = 0, pa;
	int level, shift;
	uint32_t err = (acc == CPU_ACC_W ? 2 : 0) | (user ? 4 : 0) |
		       (acc == CPU_ACC_X && nxe && pae ? 0x10 : 0);

	if (CPU_UNLIKELY(!c->pg_model_ready))
		pg_model(c);
	if (walk_root(c, la, &w, &table, &level, &shift) < 0)
		goto fault;
	for (;; level--, shift -= 9 + (w.esz == 4 ? 1 : 0)) {
		int bits = w.esz == 4 ? 10 : 9;
		uint64_t eg = table + ((la >> shift) & ((1u << bits) - 1)) * w.esz;
		e = pte_read(c, eg, w.esz);
		if (!(e & PTE_P))
			goto fault;
		if (e & (w.esz == 8 ? rsvd_bits64(c, e, level, lm, nxe) : rsvd_bits32(c, e, level))) {
			err |= 1 | 8;   /* present, reserved bit */
			goto fault;
		}
		w.ent_gpa[w.n] = eg;
		w.ent[w.n++] = e;
		w.perm_u &= (e >> 2) & 1;
		w.perm_w &= (e >> 1) & 1;
		if (w.esz == 8 && nxe && (e & PTE_NX))
			w.nx = 1;
		bool large = (e & PTE_PS) && ((level == 2 && (pae || (c->r.cr4 & CPU_CR4_PSE))) ||
					      (level == 3 && lm));
		c->walk_large = large;
		if (level == 1 || large) {
			if (w.esz == 4 && large)
				pa = (e & 0xffc00000ull) | (((e >> 13) & 0xff) << 32);
			else
				pa = e & ADDR52 & ~((1ull << shift) - 1);
			pa |= la & ((1ull << shift) - 1);
			break;
		}
		table = e & (w.esz == 4 ? 0xfffff000ull : ADDR52);
	}
	err |= 1;   /* present: any fault from here is a protection fault */
	if (user && !w.perm_u)
		goto fault;
	if (acc == CPU_ACC_W && !w.perm_w && (user || (c->r.cr0 & CPU_CR0_WP)))
		goto fault;
	if (acc == CPU_ACC_X && w.nx)
		goto fault;
	if (set_ad) {
		for (int k = 0; k < w.n; k++)
			pte_set(c, w.ent_gpa[k], w.esz, PTE_A, w.ent[k]);
		if (acc == CPU_ACC_W)
			pte_set(c, w.ent_gpa[w.n - 1], w.esz, PTE_D, w.ent[w.n - 1]);
	}
	*gpa = pa;
	if (global)
		*global = (e & PTE_G) && (c->r.cr4 & CPU_CR4_PGE);
	if (writable)
		*writable = w.perm_w || (!user && !(c->r.cr0 & CPU_CR0_WP));
	return 0;
fault:
	*pferr = err;
	return -1;
}

CPU_NORETURN static void raise_pf(struct cpu *c, uint64_t la, uint32_t err)
{
	c->r.cr2 = la;
	cpu_raise(c, CPU_EXC_PF, true, err);
}

static uint64_t translate(struct cpu *c, uint64_t la, int acc, bool user, bool *global)
{
	uint64_t gpa;
	uint32_t err;
	c->walk_large = false;
	if (!c->paging) {
		*global = true;
		return la & 0xffffffffull;
	}
	if (cpu_walk(c, la, acc, user, &gpa, global, NULL, &err, true) < 0)
		raise_pf(c, la, err);
	return gpa;
}

/* ---- TLB ---- */

/* Flushes every entry (or every non-global one).  The fill log names the entries filled since
 * the last flush, so a flush normally touches only those instead of the whole TLB (CR3 writes
 * are frequent: every kernel entry and exit with page-table isolation). */
void cpu_tlb_flush(struct cpu *c, bool keep_global)
{
	struct cpu_tlb_entry *e = &c->tlb[0][0][0];
	size_t n = sizeof(c->tlb) / sizeof(c->tlb[0][0][0]);
	uint32_t kept = 0;
	cpu_xlat_bump(c, !keep_global);
	if (!keep_global) {
		c->tlb_has_large = false;
		c->dbg_on = CPU_DR7_ENABLED(c) != 0;   /* DR7 writes and state loads come here */
	}
	if (c->tlb_log_n <= CPU_TLB_LOG) {
		for (uint32_t k = 0; k < c->tlb_log_n; k++) {
			struct cpu_tlb_entry *x = &e[c->tlb_log[k]];
			if (x->tag == ~0ull)
				continue;
			if (keep_global && (x->gpa & 1))
				c->tlb_log[kept++] = c->tlb_log[k];
			else
				x->tag = ~0ull;
		}
		c->tlb_log_n = kept;
		return;
	}
	for (size_t k = 0; k < n; k++) {
		if (!keep_global || !(e[k].gpa & 1))
			e[k].tag = ~0ull;
		else if (e[k].tag != ~0ull && kept++ < CPU_TLB_LOG)
			c->tlb_log[kept - 1] = (uint16_t)k;
	}
	c->tlb_log_n = kept <= CPU_TLB_LOG ? kept : CPU_TLB_LOG + 1;
}

void cpu_tlb_flush_page(struct cpu *c, uint64_t la)
{
	/* INVLPG: the 4K entries of this page, plus (when large pages are cached) every entry
	 * that came from a large page in the same 1 GiB region, which covers 2M/4M/1G pages. */
	uint64_t pn = la >> 12;
	for (int a = 0; a < 3; a++)
		for (int u = 0; u < 2; u++) {
			struct cpu_tlb_entry *e = &c->tlb[a][u][pn & (CPU_TLB_SIZE - 1)];
			if (e->tag == pn)
				e->tag = ~0ull;
		}
	if (c->tlb_has_large) {
		struct cpu_tlb_entry *e = &c->tlb[0][0][0];
		size_t n = sizeof(c->tlb) / sizeof(c->tlb[0][0][0]);
		for (size_t k = 0; k < n; k++)
			if ((e[k].gpa & 2) && e[k].tag != ~0ull && (e[k].tag >> 18) == (pn >> 18))
				e[k].tag = ~0ull;
	}
	cpu_xlat_bump(c, true);   /* cached block lookups may have used the old mapping, even
				   * when its TLB entry was already evicted */
}

/* Translate and (if RAM) return the host pointer to la's page offset; NULL for MMIO, with
 * *gpa_out set.  Fills the TLB for RAM pages (never a write entry for a page holding code). */
static uint8_t *tlb_fill(struct cpu *c, uint64_t la, int acc, bool user, uint64_t *gpa_out)
{
	bool global;
	uint64_t gpa = translate(c, la, acc, user, &global);
	*gpa_out = gpa;
	uint8_t *h = acc == CPU_ACC_W ? phys_host(c, gpa & ~0xfffull) :
				       phys_host_ro(c, gpa & ~0xfffull);
	if (!h)
		return NULL;
	uint64_t pg = gpa >> 12;
	if (acc == CPU_ACC_W && pg < c->vm->npages && c->vm->page_code[pg]) {
		phys_note_write(c, gpa);
	}
	if (CPU_UNLIKELY(user && acc != CPU_ACC_X && cpu_ac_on(c)))
		return h + (la & 0xfff);   /* alignment checks: keep user accesses on the slow path */
	if (CPU_UNLIKELY(c->dbg_on) && acc != CPU_ACC_X && cpu_dbg_data_page(c, la))
		return h + (la & 0xfff);   /* a data breakpoint here: every access checks it */
	struct cpu_tlb_entry *e = &c->tlb[acc][user][(la >> 12) & (CPU_TLB_SIZE - 1)];
	if (c->tlb_log_n < CPU_TLB_LOG)
		c->tlb_log[c->tlb_log_n++] = (uint16_t)(e - &c->tlb[0][0][0]);
	else
		c->tlb_log_n = CPU_TLB_LOG + 1;    /* too many: the next flush scans everything */
	e->tag = la >> 12;
	e->addend = (uintptr_t)h - (la & ~0xfffull);
	e->gpa = (gpa & ~0xfffull) | (global ? 1 : 0) | (c->walk_large ? 2 : 0);
	if (c->walk_large)
		c->tlb_has_large = true;
	return h + (la & 0xfff);
}

static inline uint8_t *tlb_lookup(struct cpu *c, uint64_t la, int acc, bool user)
{
	struct cpu_tlb_entry *e = &c->tlb[acc][user][(la >> 12) & (CPU_TLB_SIZE - 1)];
	if (CPU_LIKELY(e->tag == la >> 12))
		return (uint8_t *)(uintptr_t)(la + e->addend);
	return NULL;
}

static uint64_t lin_read_page(struct cpu *c, uint64_t la, int size, bool user)
{
	uint64_t v = 0, gpa;
	uint8_t *h = tlb_lookup(c, la, CPU_ACC_R, user);
	if (!h)
		h = tlb_fill(c, la, CPU_ACC_R, user, &gpa);
	else
		gpa = 0;
	if (h) {
		if (size & (size - 1)) {       /* 3, 5, 6, 7: pieces of a page-crossing access */
			memcpy(&v, h, size);
			return v;
		}
		return cpu_ld_host(h, size);
	}
	return phys_read(c, gpa, size);
}

static void lin_write_page(struct cpu *c, uint64_t la, int size, uint64_t v, bool user)
{
	uint64_t gpa;
	uint8_t *h = tlb_lookup(c, la, CPU_ACC_W, user);
	if (!h)
		h = tlb_fill(c, la, CPU_ACC_W, user, &gpa);
	if (h) {
		if (size & (size - 1))
			memcpy(h, &v, size);
		else
			cpu_st_host(h, size, v);
		return;
	}
	phys_write(c, gpa, size, v);
}

uint64_t cpu_rd_lin(struct cpu *c, uint64_t la, int size, bool sys)
{
	bool user = sys ? 0 : c->user;
	if (CPU_LIKELY((la & 0xfff) <= 0x1000u - size))
		return lin_read_page(c, la, size, user);
	/* crossing a page: check both pages, then assemble */
	int n1 = 0x1000 - (int)(la & 0xfff);
	uint64_t lo = lin_read_page(c, la, n1, user);
	uint64_t hi = lin_read_page(c, la + n1, size - n1, user);
	return (lo | (hi << (8 * n1))) & cpu_size_mask(size);
}

void cpu_wr_lin(struct cpu *c, uint64_t la, int size, uint64_t v, bool sys)
{
	bool user = sys ? 0 : c->user;
	if (CPU_LIKELY((la & 0xfff) <= 0x1000u - size)) {
		lin_write_page(c, la, size, v, user);
		return;
	}
	int n1 = 0x1000 - (int)(la & 0xfff);
	uint64_t gpa;
	bool g;
	/* probe both pages for write permission before writing either */
	if (!tlb_lookup(c, la, CPU_ACC_W, user))
		(void)translate(c, la, CPU_ACC_W, user, &g);
	if (!tlb_lookup(c, la + n1, CPU_ACC_W, user))
		(void)translate(c, la + n1, CPU_ACC_W, user, &g);
	(void)gpa;
	lin_write_page(c, la, n1, v, user);
	lin_write_page(c, la + n1, size - n1, v >> (8 * n1), user);
}

/* ---- segmentation ---- */

CPU_NORETURN static void seg_fault(struct cpu *c, int seg)
{
	cpu_raise(c, seg == CPU_SS ? CPU_EXC_SS : CPU_EXC_GP, true, 0);
}

uint64_t cpu_seg_lin(struct cpu *c, int seg, uint64_t off, int size, int acc)
{
	const struct cpu_segment *s = &c->r.seg[seg];
	if (c->code_mode == 64) {
		uint64_t la = off + (seg >= CPU_FS ? s->base : 0);
		if ((uint64_t)((int64_t)(la << 16) >> 16) != la)
			seg_fault(c, seg);
		return la;
	}
	if ((c->r.cr0 & CPU_CR0_PE) && !(c->r.rflags & CPU_VM)) {
		if (!(s->attr & 0x80))
			seg_fault(c, seg);
		if (acc == CPU_ACC_W && (s->attr & 0xa) != 0x2)
			seg_fault(c, seg);       /* code segment or read-only data */
		if (acc == CPU_ACC_R && (s->attr & 0xa) == 0x8)
			seg_fault(c, seg);       /* execute-only code */
	}
	uint64_t last = off + size - 1;
	if ((s->attr & 0x1c) == 0x14) {  /* expand-down data */
		uint64_t top = (s->attr & 0x4000) ? 0xffffffffull : 0xffff;
		if (off <= s->limit || last > top)
			seg_fault(c, seg);
	} else if (last > s->limit) {
		seg_fault(c, seg);
	}
	return (s->base + off) & 0xffffffffull;
}

void cpu_ac_changed(struct cpu *c)
{
	if ((c->r.cr0 & CPU_CR0_AM) && (c->r.rflags & CPU_AC))
		cpu_tlb_flush(c, false);
}

/* #AC(0) for a misaligned 2/4/8-byte data access while alignment checking is on; data
 * breakpoints (checked here: their pages have no TLB entries). */
static inline void ac_check(struct cpu *c, uint64_t la, int size, bool write)
{
	if (CPU_UNLIKELY(cpu_ac_on(c)) && size <= 8 && (la & (size - 1)))
		cpu_raise(c, CPU_EXC_AC, true, 0);
	if (CPU_UNLIKELY(c->dbg_on))
		cpu_dbg_data(c, la, size, write);
}

uint64_t cpu_rd_slow(struct cpu *c, int seg, uint64_t off, int size)
{
	uint64_t la = cpu_seg_lin(c, seg, off, size, CPU_ACC_R);
	ac_check(c, la, size, false);
	return cpu_rd_lin(c, la, size, false);
}

void cpu_wr_slow(struct cpu *c, int seg, uint64_t off, int size, uint64_t val)
{
	uint64_t la = cpu_seg_lin(c, seg, off, size, CPU_ACC_W);
	ac_check(c, la, size, true);
	cpu_wr_lin(c, la, size, val, false);
}

void cpu_rd_buf(struct cpu *c, int seg, uint64_t off, void *dst, size_t n)
{
	uint8_t *d = dst;
	uint64_t la = cpu_seg_lin(c, seg, off, (int)n, CPU_ACC_R);
	if (CPU_UNLIKELY(c->dbg_on))
		cpu_dbg_data(c, la, (int)n, false);
	for (size_t k = 0; k < n;) {
		int chunk = n - k >= 8 ? 8 : (int)(n - k);
		uint64_t v = cpu_rd_lin(c, la + k, chunk, false);
		memcpy(d + k, &v, chunk);
		k += chunk;
	}
}

void cpu_wr_buf(struct cpu *c, int seg, uint64_t off, const void *src, size_t n)
{
	const uint8_t *s = src;
	uint64_t la = cpu_seg_lin(c, seg, off, (int)n, CPU_ACC_W);
	if (CPU_UNLIKELY(c->dbg_on))
		cpu_dbg_data(c, la, (int)n, true);
	bool g, user = c->user;
	/* probe every page first so a fault leaves memory untouched */
	for (uint64_t p = la & ~0xfffull; p < la + n; p += 0x1000)
		if (!tlb_lookup(c, p, CPU_ACC_W, user))
			(void)translate(c, p, CPU_ACC_W, user, &g);
	for (size_t k = 0; k < n;) {
		int chunk = n - k >= 8 ? 8 : (int)(n - k);
		uint64_t v = 0;
		memcpy(&v, s + k, chunk);
		cpu_wr_lin(c, la + k, chunk, v, false);
		k += chunk;
	}
}

void *cpu_ptr_rmw(struct cpu *c, int seg, uint64_t off, int size)
{
	uint64_t la = cpu_seg_lin(c, seg, off, size, CPU_ACC_W), gpa;
	ac_check(c, la, size, true);
	if ((la & 0xfff) > 0x1000u - size)
		return NULL;
	uint8_t *h = tlb_lookup(c, la, CPU_ACC_W, c->user);
	if (!h) {
		h = tlb_fill(c, la, CPU_ACC_W, c->user, &gpa);
		(void)gpa;
	}
	return h;
}

/* Host pointer to a linear range inside one page for a string fast path (NULL if MMIO or a
 * code page for writes, or crossing); faults like a normal access. */
void *cpu_lin_ptr(struct cpu *c, uint64_t la, int acc, bool user)
{
	uint64_t gpa;
	uint8_t *h = tlb_lookup(c, la, acc, user);
	if (!h)
		h = tlb_fill(c, la, acc, user, &gpa);
	if (CPU_UNLIKELY(c->dbg_on) && acc != CPU_ACC_X && cpu_dbg_data_page(c, la))
		return NULL;               /* element by element, through the checks */
	return h;
}

/* ---- instruction fetch ---- */

uint64_t cpu_translate_exec(struct cpu *c, uint64_t la, void **host)
{
	struct cpu_tlb_entry *e = &c->tlb[CPU_ACC_X][c->user][(la >> 12) & (CPU_TLB_SIZE - 1)];
	if (e->tag != la >> 12) {
		uint64_t gpa;
		uint8_t *h = tlb_fill(c, la, CPU_ACC_X, c->user, &gpa);
		if (!h) {
			*host = NULL;
			return gpa;
		}
	}
	*host = (void *)(uintptr_t)(la + e->addend);
	return (e->gpa & ~0xfffull) | (la & 0xfff);
}

uint64_t cpu_fetch_byte_slow(struct cpu *c, uint64_t la)
{
	void *h;
	uint64_t gpa = cpu_translate_exec(c, la, &h);
	if (h)
		return *(uint8_t *)h;
	return phys_read(c, gpa, 1);
}

int cpu_translate(struct cpu *c, uint64_t gla, uint64_t *gpa)
{
	uint32_t err;
	if (!c->paging) {
		*gpa = gla & 0xffffffffull;
		return 0;
	}
	return cpu_walk(c, gla, CPU_ACC_R, false, gpa, NULL, NULL, &err, false);
}

/* ---- the shared VM object ---- */

struct cpu_vm *cpu_vm_create(cpu_gpa_ptr_fn gpa_ptr, void *memctx, uint64_t max_gpa)
{
	struct cpu_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->gpa_ptr = gpa_ptr;
	vm->memctx = memctx;
	vm->max_gpa = max_gpa;
	vm->npages = (max_gpa + 0xfff) >> 12;
	if (vm->npages > (1ull << 28))
		vm->npages = 1ull << 28;
	vm->page_code = calloc(vm->npages ? vm->npages : 1, 1);
	vm->page_gen = calloc(vm->npages ? vm->npages : 1, sizeof(uint32_t));
	if (!vm->page_code || !vm->page_gen) {
		cpu_vm_destroy(vm);
		return NULL;
	}
	return vm;
}

void cpu_vm_destroy(struct cpu_vm *vm)
{
	if (!vm)
		return;
	free(vm->page_code);
	free(vm->page_gen);
	free(vm);
}

/* Called by another thread after it stored into guest RAM.  The full fence orders those
 * stores before the loads of page_code: a vCPU decoding the page at the same time marks it
 * (store page_code, locked add) before it reads the bytes, so either we see the mark and bump
 * the generation, or the decoder reads the new bytes (the two-sided store-then-load pattern,
 * which x86 reorders without a fence). */
void cpu_vm_notify_write(struct cpu_vm *vm, uint64_t gpa, uint64_t len)
{
	if (!len)
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint64_t first = gpa >> 12, last = (gpa + len - 1) >> 12;
	for (uint64_t p = first; p <= last && p < vm->npages; p++)
		cpu_code_invalidate(vm, p);
}

void cpu_vm_memmap_changed(struct cpu_vm *vm)
{
	__atomic_fetch_add(&vm->memmap_epoch, 1, __ATOMIC_RELEASE);
}

int cpu_vm_add_rom(struct cpu_vm *vm, uint64_t gpa, const void *host, uint64_t size)
{
	if (vm->nrom >= CPU_VM_MAX_ROMS || !size || ((gpa | size | (uintptr_t)host) & 0xfff) ||
	    gpa + size < gpa || (vm->max_gpa && gpa + size > vm->max_gpa))
		return -1;
	for (uint64_t p = gpa; p < gpa + size; p += 0x1000)
		if (vm->gpa_ptr(vm->memctx, p) || rom_host(vm, p))
			return -1;
	vm->rom[vm->nrom++] = (struct cpu_vm_rom){ gpa, size, host };
	cpu_vm_memmap_changed(vm);
	return 0;
}
