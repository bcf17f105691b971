/*
 * System instructions: control/debug registers, descriptor tables, LLDT/LTR, MSRs, SYSCALL/
 * SYSRET, SYSENTER/SYSEXIT, SWAPGS, HLT, CLI/STI, PAUSE, RDTSC(P), INVLPG, cache control,
 * fences, LAR/LSL/VERR/VERW, UD2.
 */
#include "cpu/cpu_ops.h"
#include "cpu/cpu_seg.h"


int cpu_h_ud(struct cpu *c, const struct insn *i)
{
	(void)i;
	cpu_raise_ud(c);
}

static void need_cpl0(struct cpu *c)
{
	if (c->cpl != 0)
		cpu_raise_gp(c, 0);
}

static bool canonical(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

static int end_block(struct cpu *c, const struct insn *i)
{
	c->r.rip = CPU_NEXT_RIP(c, i);
	return CPU_H_BRANCH;
}

/* ---- CR8: the local APIC's task priority (TPR bits 7:4) ---- */

#define MSR_APIC_BASE 0x1b
#define MSR_X2APIC_TPR 0x808
#define LAPIC_TPR_OFF 0x80

/* Where the TPR is: 0 = no enabled local APIC (CR8 is kept here), 1 = xAPIC page at *base,
 * 2 = x2APIC MSR. */
static int tpr_where(struct cpu *c, uint64_t *base)
{
	uint64_t ab;
	if (!c->ops || !c->ops->rdmsr || c->ops->rdmsr(c->ctx, MSR_APIC_BASE, &ab) != CPU_CB_OK)
		return 0;
	if (!(ab & (1ull << 11)))
		return 0;
	if (ab & (1ull << 10))
		return 2;
	*base = ab & 0x000ffffffffff000ull;
	return c->ops->mmio_write && c->ops->mmio_read ? 1 : 0;
}

static uint64_t read_cr8(struct cpu *c)
{
	uint64_t base = 0, v = 0;
	switch (tpr_where(c, &base)) {
	case 1:
		if (c->ops->mmio_read(c->ctx, base + LAPIC_TPR_OFF, 4, &v) == CPU_CB_ABORT)
			cpu_abort_exit(c, CPU_EXIT_ABORT, "TPR read failed");
		c->r.cr8 = (v >> 4) & 0xf;
		break;
	case 2:
		if (c->ops->rdmsr(c->ctx, MSR_X2APIC_TPR, &v) == CPU_CB_OK)
			c->r.cr8 = (v >> 4) & 0xf;
		break;
	default: break;
	}
	return c->r.cr8;
}

static void write_cr8(struct cpu *c, uint64_t v)
{
	uint64_t base = 0;
	c->r.cr8 = v;
	switch (tpr_where(c, &base)) {
	case 1:
		if (c->ops->mmio_write(c->ctx, base + LAPIC_TPR_OFF, 4, v << 4) == CPU_CB_ABORT)
			cpu_abort_exit(c, CPU_EXIT_ABORT, "TPR write failed");
		break;
	case 2:
		if (c->ops->wrmsr)
			(void)c->ops->wrmsr(c->ctx, MSR_X2APIC_TPR, v << 4);
		break;
	default: break;
	}
}

/* ---- control registers ---- */

#define CR4_OK (CPU_CR4_VME | CPU_CR4_PVI | CPU_CR4_TSD | CPU_CR4_DE | CPU_CR4_PSE | \
		CPU_CR4_PAE | CPU_CR4_MCE | CPU_CR4_PGE | CPU_CR4_PCE | CPU_CR4_OSFXSR | CPU_CR4_OSXMMEXCPT)

static void write_cr0(struct cpu *c, uint64_t v)
{
	uint64_t old = c->r.cr0;
	if (v >> 32)
		cpu_raise_gp(c, 0);
	v |= CPU_CR0_ET;
	if (((v & CPU_CR0_PG) && !(v & CPU_CR0_PE)) || ((v & CPU_CR0_NW) && !(v & CPU_CR0_CD)))
		cpu_raise_gp(c, 0);
	if ((v & CPU_CR0_PG) && !(old & CPU_CR0_PG) && (c->r.efer & CPU_EFER_LME)) {
		if (!(c->r.cr4 & CPU_CR4_PAE) || (c->r.seg[CPU_CS].attr & 0x2000))
			cpu_raise_gp(c, 0);
		c->r.efer |= CPU_EFER_LMA;
	}
	if (!(v & CPU_CR0_PG) && (old & CPU_CR0_PG) && c->long_mode) {
		if (c->code_mode == 64)
			cpu_raise_gp(c, 0);
		c->r.efer &= ~CPU_EFER_LMA;
	}
	/* entering PAE paging (or changing CD/NW/PG in it) loads the PDPTE registers */
	if (cpu_pae_legacy(v, c->r.cr4, c->r.efer) &&
	    ((old ^ v) & (CPU_CR0_PG | CPU_CR0_CD | CPU_CR0_NW)) &&
	    !cpu_pae_load_pdptes(c, c->r.cr3))
		cpu_raise_gp(c, 0);
	c->r.cr0 = v;
	if ((old ^ v) & (CPU_CR0_PG | CPU_CR0_WP | CPU_CR0_PE | CPU_CR0_AM))
		cpu_tlb_flush(c, false);
	cpu_update_mode(c);
}

int cpu_write_cr(struct cpu *c, int n, uint64_t v)
{
	switch (n) {
	case 0: write_cr0(c, v); break;
	case 2: c->r.cr2 = v; break;
	case 3:
		if (c->long_mode && (v >> 52))
			cpu_raise_gp(c, 0);
		if (!c->long_mode)
			v &= 0xffffffffull;
		if (cpu_pae_legacy(c->r.cr0, c->r.cr4, c->r.efer) && !cpu_pae_load_pdptes(c, v))
			cpu_raise_gp(c, 0);
		c->r.cr3 = v;
		cpu_tlb_flush(c, true);
		break;
	case 4:
		if ((v & ~CR4_OK) || (c->long_mode && !(v & CPU_CR4_PAE)))
			cpu_raise_gp(c, 0);
		if (cpu_pae_legacy(c->r.cr0, v, c->r.efer) &&
		    ((c->r.cr4 ^ v) & (CPU_CR4_PAE | CPU_CR4_PGE | CPU_CR4_PSE)) &&
		    !cpu_pae_load_pdptes(c, c->r.cr3))
			cpu_raise_gp(c, 0);
		if ((c->r.cr4 ^ v) & (CPU_CR4_PAE | CPU_CR4_PGE | CPU_CR4_PSE))
			cpu_tlb_flush(c, false);
		c->r.cr4 = v;
		break;
	case 8:
		if (v >> 4)
			cpu_raise_gp(c, 0);
		write_cr8(c, v);
		break;
	default: cpu_raise_ud(c);
	}
	return 0;
}

H(mov_cr) {
	int n = i->reg;
	need_cpl0(c);
	if (n == 1 || (n >= 5 && n != 8))
		cpu_raise_ud(c);
	int sz = i->mode == 64 ? 8 : 4;
	if (i->op == 0x120) {
		uint64_t v = n == 0 ? c->r.cr0 : n == 2 ? c->r.cr2 : n == 3 ? c->r.cr3 :
			     n == 4 ? c->r.cr4 : read_cr8(c);
		cpu_set_reg(c, i->rm, sz, v);
		NEXT;
	}
	cpu_write_cr(c, n, cpu_get_reg(c, i->rm, sz));
	return end_block(c, i);
}

H(mov_dr) {
	int n = i->reg;
	need_cpl0(c);
	if (n >= 8)
		cpu_raise_ud(c);
	if (n == 4 || n == 5) {
		if (c->r.cr4 & CPU_CR4_DE)
			cpu_raise_ud(c);
		n += 2;
	}
	if (c->r.dr[7] & 0x2000) {   /* DR7.GD: general detect, a #DB fault; GD clears for the handler */
		c->r.dr[7] &= ~0x2000ull;
		c->r.dr[6] |= CPU_DR6_BD;
		cpu_raise(c, CPU_EXC_DB, false, 0);
	}
	int sz = i->mode == 64 ? 8 : 4;
	if (i->op == 0x121) {
		cpu_set_reg(c, i->rm, sz, c->r.dr[n]);
		NEXT;
	}
	uint64_t v = cpu_get_reg(c, i->rm, sz);
	if ((n == 6 || n == 7) && (v >> 32))
		cpu_raise_gp(c, 0);
	if (n == 6)
		v = (v & 0xe00f) | 0xffff0ff0;
	if (n == 7)
		v = (v & 0xffff2bff) | 0x400;
	c->r.dr[n] = v;
	if (n != 6)
		cpu_tlb_flush(c, false);   /* pages with data breakpoints lose their entries */
	return end_block(c, i);        /* DR7 may switch breakpoint checks on */
}

H(clts) { need_cpl0(c); c->r.cr0 &= ~CPU_CR0_TS; NEXT; }

/* ---- descriptor tables ---- */

static void dtable_load(struct cpu *c, const struct insn *i, struct cpu_dtable *t)
{
	need_cpl0(c);
	uint64_t off = cpu_ea(c, i);
	uint16_t limit = (uint16_t)cpu_rd(c, i->seg, off, 2);
	uint64_t base = cpu_rd(c, i->seg, (off + 2) & cpu_size_mask(i->asz), i->mode == 64 ? 8 : 4);
	if (i->mode == 64 && !canonical(base))
		cpu_raise_gp(c, 0);
	if (i->mode != 64 && i->osz == 2)
		base &= 0xffffff;
	t->base = base;
	t->limit = limit;
}

static void dtable_store(struct cpu *c, const struct insn *i, const struct cpu_dtable *t)
{
	uint64_t off = cpu_ea(c, i);
	cpu_wr(c, i->seg, off, 2, t->limit);
	cpu_wr(c, i->seg, (off + 2) & cpu_size_mask(i->asz), i->mode == 64 ? 8 : 4, t->base);
}

static void load_ldt(struct cpu *c, uint16_t sel)
{
	struct cpu_segment *s = &c->r.seg[CPU_LDTR];
	if ((sel & 0xfffc) == 0) {
		s->sel = sel;
		s->attr = 0;
		s->base = 0;
		s->limit = 0;
		return;
	}
	if (sel & 4)
		cpu_raise_gp(c, sel & 0xfffc);
	uint64_t addr, d = cpu_read_desc(c, sel, CPU_EXC_GP, &addr), hi = 0;
	if (((d >> 44) & 1) || ((d >> 40) & 0xf) != 2)
		cpu_raise_gp(c, sel & 0xfffc);
	if (!((d >> 47) & 1))
		cpu_raise(c, CPU_EXC_NP, true, sel & 0xfffc);
	if (c->long_mode)
		hi = cpu_rd_lin(c, addr + 8, 8, true) & 0xffffffffull;
	cpu_desc_to_seg(d, hi, sel, s);
}

static void load_tr(struct cpu *c, uint16_t sel)
{
	if ((sel & 0xfffc) == 0 || (sel & 4))
		cpu_raise_gp(c, sel & 0xfffc);
	uint64_t addr, d = cpu_read_desc(c, sel, CPU_EXC_GP, &addr), hi = 0;
	int type = (d >> 40) & 0xf;
	if (((d >> 44) & 1) || (type != 9 && (type != 1 || c->long_mode)))
		cpu_raise_gp(c, sel & 0xfffc);
	if (!((d >> 47) & 1))
		cpu_raise(c, CPU_EXC_NP, true, sel & 0xfffc);
	if (c->long_mode)
		hi = cpu_rd_lin(c, addr + 8, 8, true) & 0xffffffffull;
	cpu_wr_lin(c, addr + 5, 1, (uint8_t)((d >> 40) | 2), true);   /* busy */
	cpu_desc_to_seg(d | (2ull << 40), hi, sel, &c->r.seg[CPU_TR]);
}

static void prot_only(struct cpu *c)
{
	if (!(c->r.cr0 & CPU_CR0_PE) || (c->r.rflags & CPU_VM))
		cpu_raise_ud(c);
}

/* LAR / LSL / VERR / VERW helper: returns the descriptor or 0 when not accessible. */
static uint64_t desc_visible(struct cpu *c, uint16_t sel, bool lar)
{
	if ((sel & 0xfffc) == 0)
		return 0;
	uint64_t base = (sel & 4) ? c->r.seg[CPU_LDTR].base : c->r.gdtr.base;
	uint32_t limit = (sel & 4) ? c->r.seg[CPU_LDTR].limit : c->r.gdtr.limit;
	if ((sel & 4) && !(c->r.seg[CPU_LDTR].attr & 0x80))
		return 0;
	if ((uint32_t)(sel & ~7u) + 7 > limit)
		return 0;
	uint64_t d = cpu_rd_lin(c, base + (sel & ~7u), 8, true);
	int type = (d >> 40) & 0xf, dpl = (d >> 45) & 3;
	bool s = (d >> 44) & 1;
	if (!s) {
		static const uint8_t ok_lar[16] = { 0,1,1,1,1,1,0,0,0,1,0,1,1,0,0,0 };
		static const uint8_t ok_lsl[16] = { 0,1,1,1,0,0,0,0,0,1,0,1,0,0,0,0 };
		if (!(lar ? ok_lar : ok_lsl)[type])
			return 0;
		if (c->long_mode && type != 2 && type != 9 && type != 0xb && !(lar && type == 0xc))
			return 0;
	}
	bool conf = s && (type & 0xc) == 0xc;
	if (!conf && (dpl < c->cpl || dpl < (sel & 3)))
		return 0;
	return d;
}

H(grp6) {
	int op = (i->modrm >> 3) & 7;
	prot_only(c);
	switch (op) {
	case 0: case 1: {   /* SLDT / STR */
		uint16_t v = c->r.seg[op == 0 ? CPU_LDTR : CPU_TR].sel;
		if (i->flags & CPU_IF_MEM)
			cpu_wr(c, i->seg, cpu_ea(c, i), 2, v);
		else
			cpu_set_reg(c, i->rm, i->osz, v);
		NEXT;
	}
	case 2: need_cpl0(c); load_ldt(c, (uint16_t)rd_rm(c, i, 2)); NEXT;
	case 3: need_cpl0(c); load_tr(c, (uint16_t)rd_rm(c, i, 2)); NEXT;
	default: {          /* VERR / VERW */
		uint16_t sel = (uint16_t)rd_rm(c, i, 2);
		uint64_t d = desc_visible(c, sel, true);
		bool ok = false;
		if (d && ((d >> 44) & 1)) {
			int type = (d >> 40) & 0xf;
			ok = op == 4 ? (!(type & 8) || (type & 2)) : (!(type & 8) && (type & 2));
			if ((type & 0xc) == 0xc && op == 4)
				ok = true;
		}
		set_flags(c, ok ? CPU_ZF : 0, CPU_ZF);
		NEXT;
	}
	}
}

H(lar_lsl) {
	prot_only(c);
	uint16_t sel = (uint16_t)rd_rm(c, i, 2);
	bool lar = i->op == 0x102;
	uint64_t d = desc_visible(c, sel, lar);
	if (!d) {
		set_flags(c, 0, CPU_ZF);
		NEXT;
	}
	uint64_t v;
	if (lar) {
		v = d >> 32 & 0x00f0ff00;
	} else {
		struct cpu_segment s;
		cpu_desc_to_seg(d, 0, sel, &s);
		v = s.limit;
	}
	cpu_set_reg(c, i->reg, i->osz == 2 ? 2 : 4, v);
	if (i->osz == 8)
		c->r.gpr[i->reg] = (uint32_t)v;
	set_flags(c, CPU_ZF, CPU_ZF);
	NEXT;
}

/* ---- group 7 (0F 01) ---- */

static int grp7_reg(struct cpu *c, const struct insn *i)
{
	int reg = (i->modrm >> 3) & 7, rm = i->modrm & 7;
	if (reg == 7 && rm == 0) {   /* SWAPGS */
		if (i->mode != 64)
			cpu_raise_ud(c);
		need_cpl0(c);
		uint64_t t = c->r.seg[CPU_GS].base;
		c->r.seg[CPU_GS].base = c->r.kernel_gs_base;
		c->r.kernel_gs_base = t;
		NEXT;
	}
	if (reg == 7 && rm == 1) {   /* RDTSCP */
		if ((c->r.cr4 & CPU_CR4_TSD) && c->cpl)
			cpu_raise_gp(c, 0);
		/* the same TSC as RDTSC: Linux reads it through RDTSCP (rdtsc_ordered) */
		uint64_t t = (c->ops->rdtsc ? c->ops->rdtsc(c->ctx) : c->icount) + c->tsc_offset;
		c->r.gpr[CPU_RAX] = (uint32_t)t;
		c->r.gpr[CPU_RDX] = t >> 32;
		c->r.gpr[CPU_RCX] = (uint32_t)c->r.tsc_aux;
		NEXT;
	}
	cpu_raise_ud(c);
}

H(grp7) {
	int reg = (i->modrm >> 3) & 7;
	if (reg == 4) {   /* SMSW */
		if (i->flags & CPU_IF_MEM)
			cpu_wr(c, i->seg, cpu_ea(c, i), 2, c->r.cr0);
		else
			cpu_set_reg(c, i->rm, i->osz, c->r.cr0);
		NEXT;
	}
	if (reg == 6) {   /* LMSW */
		need_cpl0(c);
		uint64_t v = rd_rm(c, i, 2) & 0xf;
		uint64_t cr0 = (c->r.cr0 & ~0xeull) | v | (c->r.cr0 & CPU_CR0_PE);
		write_cr0(c, cr0);
		return end_block(c, i);
	}
	if (!(i->flags & CPU_IF_MEM))
		return grp7_reg(c, i);
	switch (reg) {
	case 0: dtable_store(c, i, &c->r.gdtr); NEXT;
	case 1: dtable_store(c, i, &c->r.idtr); NEXT;
	case 2: dtable_load(c, i, &c->r.gdtr); NEXT;
	case 3: dtable_load(c, i, &c->r.idtr); NEXT;
	case 7:           /* INVLPG */
		need_cpl0(c);
		cpu_tlb_flush_page(c, cpu_seg_lin(c, i->seg, cpu_ea(c, i), 1, CPU_ACC_R));
		NEXT;
	default: cpu_raise_ud(c);
	}
}

/* ---- MSR, TSC, CPUID ---- */

H(rdmsr) {
	need_cpl0(c);
	uint64_t v;
	if (cpu_msr_read(c, (uint32_t)c->r.gpr[CPU_RCX], &v))
		cpu_raise_gp(c, 0);
	c->r.gpr[CPU_RAX] = (uint32_t)v;
	c->r.gpr[CPU_RDX] = v >> 32;
	NEXT;
}

H(wrmsr) {
	need_cpl0(c);
	uint64_t v = ((uint64_t)(uint32_t)c->r.gpr[CPU_RDX] << 32) | (uint32_t)c->r.gpr[CPU_RAX];
	if (cpu_msr_write(c, (uint32_t)c->r.gpr[CPU_RCX], v))
		cpu_raise_gp(c, 0);
	return end_block(c, i);
}

H(rdtsc) {
	if ((c->r.cr4 & CPU_CR4_TSD) && c->cpl)
		cpu_raise_gp(c, 0);
	uint64_t t = (c->ops->rdtsc ? c->ops->rdtsc(c->ctx) : c->icount) + c->tsc_offset;
	c->r.gpr[CPU_RAX] = (uint32_t)t;
	c->r.gpr[CPU_RDX] = t >> 32;
	NEXT;
}

H(rdpmc) { cpu_raise_gp(c, 0); }

H(cpuid) {
	uint32_t out[4];
	cpu_cpuid(c, (uint32_t)c->r.gpr[CPU_RAX], (uint32_t)c->r.gpr[CPU_RCX], out);
	c->r.gpr[CPU_RAX] = out[0];
	c->r.gpr[CPU_RBX] = out[1];
	c->r.gpr[CPU_RCX] = out[2];
	c->r.gpr[CPU_RDX] = out[3];
	NEXT;
}

/* ---- fast system calls ---- */

static void flat_seg(struct cpu_segment *s, uint16_t sel, uint16_t attr)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->attr = attr;
}

H(syscall) {
	if (!(c->r.efer & CPU_EFER_SCE) || !(c->r.cr0 & CPU_CR0_PE))
		cpu_raise_ud(c);
	uint64_t next = CPU_NEXT_RIP(c, i);
	uint16_t sel = (uint16_t)(c->r.star >> 32) & 0xfffc;
	uint64_t fl = cpu_get_rflags(c);
	if (c->long_mode) {
		c->r.gpr[CPU_RCX] = next;
		c->r.gpr[CPU_R11] = fl & ~(uint64_t)CPU_RF;
		flat_seg(&c->r.seg[CPU_CS], sel, 0xa09b);
		flat_seg(&c->r.seg[CPU_SS], (uint16_t)(sel + 8), 0xc093);
		c->r.rflags = (fl & ~c->r.sfmask & ~(uint64_t)CPU_RF) | 2;
		c->r.rip = i->mode == 64 ? c->r.lstar : c->r.cstar;
	} else {
		c->r.gpr[CPU_RCX] = (uint32_t)next;
		flat_seg(&c->r.seg[CPU_CS], sel, 0xc09b);
		flat_seg(&c->r.seg[CPU_SS], (uint16_t)(sel + 8), 0xc093);
		c->r.rflags = (fl & ~(uint64_t)(CPU_VM | CPU_IF | CPU_RF)) | 2;
		c->r.rip = (uint32_t)c->r.star;
	}
	cpu_update_mode(c);
	return CPU_H_BRANCH;
}

H(sysret) {
	if (!(c->r.efer & CPU_EFER_SCE) || !(c->r.cr0 & CPU_CR0_PE))
		cpu_raise_ud(c);
	need_cpl0(c);
	uint16_t sel = (uint16_t)(c->r.star >> 48);
	uint64_t target;
	if (i->osz == 8) {
		if (!canonical(c->r.gpr[CPU_RCX]))
			cpu_raise_gp(c, 0);
		flat_seg(&c->r.seg[CPU_CS], (uint16_t)((sel + 16) | 3), 0xa0fb);
		target = c->r.gpr[CPU_RCX];
	} else {
		flat_seg(&c->r.seg[CPU_CS], (uint16_t)(sel | 3), 0xc0fb);
		target = (uint32_t)c->r.gpr[CPU_RCX];
	}
	if (c->long_mode) {
		c->r.rflags = (c->r.gpr[CPU_R11] & 0x3c7fd7) | 2;
		c->lf_op = CPU_LF_NONE;
		cpu_ac_changed(c);
		if (c->r.rflags & CPU_TF) {   /* the single-step trap comes right after SYSRET */
			c->db_pending |= CPU_DR6_BS;
			c->shadow |= CPU_SHADOW_DB;
		}
	} else {
		c->r.rflags |= CPU_IF;
	}
	c->r.seg[CPU_SS].sel = (uint16_t)((sel + 8) | 3);
	c->r.seg[CPU_SS].attr = (c->r.seg[CPU_SS].attr & ~0x60) | 0x60 | 0x93;
	cpu_update_mode(c);
	return branch_to(c, target);
}

H(sysenter) {
	uint16_t cs = (uint16_t)c->r.sysenter_cs;
	if (!(c->r.cr0 & CPU_CR0_PE) || (cs & 0xfffc) == 0)
		cpu_raise_gp(c, 0);
	cpu_get_rflags(c);
	c->r.rflags &= ~(uint64_t)(CPU_VM | CPU_IF | CPU_RF);
	flat_seg(&c->r.seg[CPU_CS], cs & 0xfffc, c->long_mode ? 0xa09b : 0xc09b);
	flat_seg(&c->r.seg[CPU_SS], (uint16_t)((cs & 0xfffc) + 8), 0xc093);
	c->r.gpr[CPU_RSP] = c->long_mode ? c->r.sysenter_esp : (uint32_t)c->r.sysenter_esp;
	cpu_update_mode(c);
	return branch_to(c, c->long_mode ? c->r.sysenter_eip : (uint32_t)c->r.sysenter_eip);
}

H(sysexit) {
	uint16_t cs = (uint16_t)c->r.sysenter_cs;
	if (!(c->r.cr0 & CPU_CR0_PE) || (cs & 0xfffc) == 0)
		cpu_raise_gp(c, 0);
	need_cpl0(c);
	uint64_t target;
	if (i->osz == 8) {
		flat_seg(&c->r.seg[CPU_CS], (uint16_t)((cs + 32) | 3), 0xa0fb);
		flat_seg(&c->r.seg[CPU_SS], (uint16_t)((cs + 40) | 3), 0xc0f3);
		c->r.gpr[CPU_RSP] = c->r.gpr[CPU_RCX];
		target = c->r.gpr[CPU_RDX];
	} else {
		flat_seg(&c->r.seg[CPU_CS], (uint16_t)((cs + 16) | 3), 0xc0fb);
		flat_seg(&c->r.seg[CPU_SS], (uint16_t)((cs + 24) | 3), 0xc0f3);
		c->r.gpr[CPU_RSP] = (uint32_t)c->r.gpr[CPU_RCX];
		target = (uint32_t)c->r.gpr[CPU_RDX];
	}
	cpu_update_mode(c);
	return branch_to(c, target);
}

/* ---- interrupt flag, halt, pause ---- */

static bool if_allowed(struct cpu *c)
{
	if (!(c->r.cr0 & CPU_CR0_PE))
		return true;
	int iopl = (c->r.rflags >> 12) & 3;
	if (c->r.rflags & CPU_VM)
		return iopl == 3;
	return c->cpl <= iopl;
}

H(cli) {
	if (!if_allowed(c))
		cpu_raise_gp(c, 0);
	c->r.rflags &= ~(uint64_t)CPU_IF;
	NEXT;
}

H(sti) {
	if (!if_allowed(c))
		cpu_raise_gp(c, 0);
	if (!(c->r.rflags & CPU_IF)) {
		c->r.rflags |= CPU_IF;
		c->shadow |= CPU_SHADOW_STI;
	}
	return end_block(c, i);
}

H(hlt) {
	need_cpl0(c);
	c->halted = true;
	return end_block(c, i);
}

H(pause) {
	if (c->exit_on_pause) {
		c->r.rip = CPU_NEXT_RIP(c, i);
		c->exit_reason = CPU_EXIT_PAUSE;
		return CPU_H_EXIT;
	}
	NEXT;
}

H(cache_priv) { need_cpl0(c); NEXT; }            /* INVD, WBINVD */

H(grp15) {
	int reg = (i->modrm >> 3) & 7;
	if (!(i->flags & CPU_IF_MEM)) {
		if (reg >= 5) {   /* LFENCE, MFENCE, SFENCE */
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			NEXT;
		}
		cpu_raise_ud(c);
	}
	if (reg == 7) {       /* CLFLUSH: checked like a read (segment, #PF), nothing accessed */
		uint64_t la = cpu_seg_lin(c, i->seg, cpu_ea(c, i), 1, CPU_ACC_R);
		cpu_lin_ptr(c, la, CPU_ACC_R, c->user);
		NEXT;
	}
	cpu_raise_ud(c);
}

cpu_handler_fn cpu_sys_select(struct insn *i)
{
	switch (i->op) {
	case 0x120: case 0x122: return mov_cr;
	case 0x121: case 0x123: return mov_dr;
	case 0x106: return clts;
	case 0x100: return grp6;
	case 0x101: return grp7;
	case 0x102: case 0x103: return lar_lsl;
	case 0x130: return wrmsr;
	case 0x131: return rdtsc;
	case 0x132: return rdmsr;
	case 0x133: return rdpmc;
	case 0x1a2: return cpuid;
	case 0x105: return syscall;
	case 0x107: return sysret;
	case 0x134: return sysenter;
	case 0x135: return sysexit;
	case 0xfa: return cli;
	case 0xfb: return sti;
	case 0xf4: return hlt;
	case 0x90: return pause;   /* only reached for F3 90 */
	case 0x108: case 0x109: return cache_priv;
	case 0x1ae: return grp15;
	case 0x10b: case 0x1b9: case 0x1ff: return cpu_h_ud;
	default: return NULL;
	}
}
