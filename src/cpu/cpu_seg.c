/*
 * Segmentation: descriptor-table reads, segment register loads with the protected-mode checks,
 * far JMP/CALL/RET and IRET in real, protected, compatibility and 64-bit modes.
 */
#include "cpu/cpu_internal.h"
#include "cpu/cpu_seg.h"

/* ---- descriptors ---- */

void cpu_desc_to_seg(uint64_t d, uint64_t dhi, uint16_t sel, struct cpu_segment *s)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	s->sel = sel;
	s->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	if (!((d >> 44) & 1))   /* system descriptor: 16-byte in long mode */
		s->base |= dhi << 32;
	s->attr = (uint16_t)(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 12));
	s->limit = (d & (1ull << 55)) ? (limit << 12) | 0xfff : limit;
}

/* Reads the 8-byte descriptor for sel; raises #GP(sel) (or `vec`) if outside the table. */
uint64_t cpu_read_desc(struct cpu *c, uint16_t sel, int vec, uint64_t *addr)
{
	uint64_t base;
	uint32_t limit;
	if (sel & 4) {
		if (!(c->r.seg[CPU_LDTR].attr & 0x80))
			cpu_raise(c, vec, true, sel & 0xfffc);
		base = c->r.seg[CPU_LDTR].base;
		limit = c->r.seg[CPU_LDTR].limit;
	} else {
		base = c->r.gdtr.base;
		limit = c->r.gdtr.limit;
	}
	if ((uint32_t)(sel & ~7u) + 7 > limit)
		cpu_raise(c, vec, true, sel & 0xfffc);
	*addr = base + (sel & ~7u);
	if (!c->long_mode)
		*addr &= 0xffffffffull;
	return cpu_rd_lin(c, *addr, 8, true);
}

void cpu_desc_set_accessed(struct cpu *c, uint64_t addr, uint64_t d)
{
	if (!(d & (1ull << 40)))
		cpu_wr_lin(c, addr + 5, 1, (uint8_t)((d >> 40) | 1), true);
}

/* ---- data segment loads ---- */

void cpu_set_seg_real(struct cpu *c, int seg, uint16_t sel)
{
	struct cpu_segment *s = &c->r.seg[seg];
	s->sel = sel;
	s->base = (uint64_t)sel << 4;
	if (c->r.rflags & CPU_VM) {
		s->limit = 0xffff;
		s->attr = 0xf3 | (seg == CPU_CS ? 0x8 : 0);
	} else {
		s->attr |= 0x80;   /* real mode keeps limit/attributes ("unreal mode") */
		if (seg == CPU_SS)
			s->attr &= ~0x60;
	}
}

void cpu_load_seg(struct cpu *c, int seg, uint16_t sel)
{
	if (!(c->r.cr0 & CPU_CR0_PE) || (c->r.rflags & CPU_VM)) {
		cpu_set_seg_real(c, seg, sel);
		if (seg == CPU_SS)
			cpu_update_mode(c);
		return;
	}
	struct cpu_segment *s = &c->r.seg[seg];
	int rpl = sel & 3, cpl = c->cpl;
	if ((sel & 0xfffc) == 0) {
		if (seg == CPU_SS && (c->code_mode != 64 || rpl != cpl))
			cpu_raise_gp(c, 0);
		s->sel = sel;
		s->base = 0;
		s->limit = 0;
		s->attr = seg == CPU_SS ? (uint16_t)(0x4000 | (cpl << 5)) : 0;   /* unusable */
		if (seg == CPU_SS)
			cpu_update_mode(c);
		return;
	}
	uint64_t addr, d = cpu_read_desc(c, sel, CPU_EXC_GP, &addr);
	int type = (d >> 40) & 0xf, dpl = (d >> 45) & 3;
	bool sbit = (d >> 44) & 1, present = (d >> 47) & 1;
	if (seg == CPU_SS) {
		if (!sbit || rpl != cpl || dpl != cpl || (type & 0xa) != 0x2)
			cpu_raise_gp(c, sel & 0xfffc);
		if (!present)
			cpu_raise(c, CPU_EXC_SS, true, sel & 0xfffc);
	} else {
		if (!sbit || (type & 0xa) == 0x8)
			cpu_raise_gp(c, sel & 0xfffc);
		bool conforming_code = (type & 0xc) == 0xc;
		if (!conforming_code && (dpl < cpl || dpl < rpl))
			cpu_raise_gp(c, sel & 0xfffc);
		if (!present)
			cpu_raise(c, CPU_EXC_NP, true, sel & 0xfffc);
	}
	cpu_desc_set_accessed(c, addr, d);
	cpu_desc_to_seg(d | (1ull << 40), 0, sel, s);
	if (seg == CPU_SS)
		cpu_update_mode(c);
}

/* ---- code segment loads ---- */

/* Checks a code-segment descriptor for a direct far JMP/CALL/RET target; returns it. */
static uint64_t code_desc(struct cpu *c, uint16_t sel, int new_cpl, bool ret, uint64_t *addr)
{
	if ((sel & 0xfffc) == 0)
		cpu_raise_gp(c, 0);
	uint64_t d = cpu_read_desc(c, sel, CPU_EXC_GP, addr);
	int type = (d >> 40) & 0xf, dpl = (d >> 45) & 3;
	if (!((d >> 44) & 1) || !(type & 8))
		cpu_raise_gp(c, sel & 0xfffc);
	if (type & 4) {            /* conforming */
		if (dpl > new_cpl)
			cpu_raise_gp(c, sel & 0xfffc);
	} else if (ret ? dpl != (sel & 3) : dpl != new_cpl) {
		cpu_raise_gp(c, sel & 0xfffc);
	}
	if (!((d >> 47) & 1))
		cpu_raise(c, CPU_EXC_NP, true, sel & 0xfffc);
	if (c->long_mode && (d & (1ull << 53)) && (d & (1ull << 54)))
		cpu_raise_gp(c, sel & 0xfffc);
	return d;
}

void cpu_set_cs(struct cpu *c, uint64_t d, uint64_t addr, uint16_t sel, int cpl)
{
	cpu_desc_set_accessed(c, addr, d);
	cpu_desc_to_seg(d | (1ull << 40), 0, (uint16_t)((sel & ~3) | cpl), &c->r.seg[CPU_CS]);
}

static uint64_t mask_ip(struct cpu *c, uint64_t ip, int osz)
{
	(void)c;
	return osz == 8 ? ip : ip & cpu_size_mask(osz);
}

/* #GP(0) unless ip lies within the limit of the code descriptor d (64-bit code: no limit).
 * Checked before anything changes, so a fault leaves CS, RSP and the stack as they were. */
void cpu_check_code_limit(struct cpu *c, uint64_t d, uint64_t ip)
{
	struct cpu_segment s;
	if (c->long_mode && (d & (1ull << 53)))
		return;
	cpu_desc_to_seg(d, 0, 0, &s);
	if (ip > s.limit)
		cpu_raise_gp(c, 0);
}

/* Far CALL: push CS then the return IP; RSP changes only when both writes succeeded. */
static void far_push(struct cpu *c, int osz, uint16_t cs, uint64_t ip)
{
	uint64_t sp = c->r.gpr[CPU_RSP], m = cpu_stack_mask(c);
	uint64_t s1 = (sp - osz) & m, s2 = (sp - 2 * osz) & m;
	cpu_wr(c, CPU_SS, s1, osz, cs);
	cpu_wr(c, CPU_SS, s2, osz, ip);
	c->r.gpr[CPU_RSP] = (sp & ~m) | s2;
}

/* Far JMP or CALL (direct or indirect) to sel:off; osz = operand size. */
void cpu_far_transfer(struct cpu *c, uint16_t sel, uint64_t off, int osz, bool call,
		      uint64_t ret_ip)
{
	if (!(c->r.cr0 & CPU_CR0_PE) || (c->r.rflags & CPU_VM)) {
		if (call)
			far_push(c, osz, c->r.seg[CPU_CS].sel, ret_ip);
		cpu_set_seg_real(c, CPU_CS, sel);
		c->r.rip = mask_ip(c, off, osz);
		cpu_update_mode(c);
		return;
	}
	uint64_t addr, d;
	if ((sel & 0xfffc) == 0)
		cpu_raise_gp(c, 0);
	d = cpu_read_desc(c, sel, CPU_EXC_GP, &addr);
	if (!((d >> 44) & 1)) {
		/* call gates / task gates: not implemented (Linux does not use them) */
		cpu_abort_exit(c, CPU_EXIT_INVALID, "far transfer through a gate/TSS");
	}
	d = code_desc(c, sel, c->cpl, false, &addr);
	uint64_t ip = (d & (1ull << 53)) && c->long_mode ? off : mask_ip(c, off, osz);
	cpu_check_code_limit(c, d, ip);
	if (call)
		far_push(c, osz, c->r.seg[CPU_CS].sel, ret_ip);
	cpu_set_cs(c, d, addr, sel, c->cpl);
	cpu_update_mode(c);
	c->r.rip = ip;
}

/* Far RET (imm = bytes to release). */
void cpu_far_ret(struct cpu *c, int osz, uint16_t imm)
{
	uint64_t sp = c->r.gpr[CPU_RSP];
	uint64_t smask = cpu_stack_mask(c);
	uint64_t ip = cpu_rd(c, CPU_SS, sp & smask, osz);
	uint16_t sel = (uint16_t)cpu_rd(c, CPU_SS, (sp + osz) & smask, osz);
	if (!(c->r.cr0 & CPU_CR0_PE) || (c->r.rflags & CPU_VM)) {
		cpu_set_seg_real(c, CPU_CS, sel);
		c->r.gpr[CPU_RSP] = (sp & ~smask) | ((sp + 2 * osz + imm) & smask);
		c->r.rip = mask_ip(c, ip, osz);
		cpu_update_mode(c);
		return;
	}
	int rpl = sel & 3;
	if (rpl < c->cpl)
		cpu_raise_gp(c, sel & 0xfffc);
	uint64_t addr, d = code_desc(c, sel, rpl, true, &addr);
	cpu_check_code_limit(c, d, (d & (1ull << 53)) && c->long_mode ? ip : mask_ip(c, ip, osz));
	if (rpl == c->cpl) {
		cpu_set_cs(c, d, addr, sel, rpl);
		c->r.gpr[CPU_RSP] = (sp & ~smask) | ((sp + 2 * osz + imm) & smask);
	} else {
		uint64_t nsp = cpu_rd(c, CPU_SS, (sp + 2 * osz + imm) & smask, osz);
		uint16_t nss = (uint16_t)cpu_rd(c, CPU_SS, (sp + 3 * osz + imm) & smask, osz);
		cpu_set_cs(c, d, addr, sel, rpl);
		c->r.seg[CPU_SS].attr = (c->r.seg[CPU_SS].attr & ~0x60) | (rpl << 5);
		cpu_update_mode(c);
		cpu_load_seg(c, CPU_SS, nss);
		c->r.gpr[CPU_RSP] = nsp + imm;
		cpu_seg_fix_dpl(c);
	}
	cpu_update_mode(c);
	c->r.rip = (d & (1ull << 53)) && c->long_mode ? ip : mask_ip(c, ip, osz);
}

/* After a return to an outer level: data segments the new CPL may not use become null. */
void cpu_seg_fix_dpl(struct cpu *c)
{
	static const int segs[] = { CPU_ES, CPU_DS, CPU_FS, CPU_GS };
	for (int k = 0; k < 4; k++) {
		struct cpu_segment *s = &c->r.seg[segs[k]];
		int dpl = (s->attr >> 5) & 3;
		bool conf_code = (s->attr & 0xc) == 0xc;
		if ((s->attr & 0x10) && !conf_code && dpl < c->cpl) {
			s->sel = 0;
			s->attr = 0;
		}
	}
}

/* ---- IRET ---- */

static void iret_real(struct cpu *c, int osz)
{
	uint64_t smask = cpu_stack_mask(c), sp = c->r.gpr[CPU_RSP];
	uint64_t ip = cpu_rd(c, CPU_SS, sp & smask, osz);
	uint16_t cs = (uint16_t)cpu_rd(c, CPU_SS, (sp + osz) & smask, osz);
	uint64_t fl = cpu_rd(c, CPU_SS, (sp + 2 * osz) & smask, osz);
	uint64_t mask = osz == 2 ? 0xffff : 0x257fd5;
	if (c->r.rflags & CPU_VM) {
		if (((c->r.rflags >> 12) & 3) != 3)
			cpu_raise_gp(c, 0);
		mask &= ~(uint64_t)CPU_IOPL;
	}
	c->r.gpr[CPU_RSP] = (sp & ~smask) | ((sp + 3 * osz) & smask);
	cpu_set_seg_real(c, CPU_CS, cs);
	c->r.rip = ip & cpu_size_mask(osz);
	cpu_set_rflags(c, fl, mask);
	cpu_update_mode(c);
	c->nmi_blocked = false;
}

static void iret_to_v86(struct cpu *c, uint64_t sp, uint64_t ip, uint16_t cs, uint64_t fl)
{
	uint64_t smask = cpu_stack_mask(c);
	uint32_t v[6];
	for (int k = 0; k < 6; k++)
		v[k] = (uint32_t)cpu_rd(c, CPU_SS, (sp + 12 + 4 * k) & smask, 4);
	cpu_set_rflags(c, fl, 0x3f7fd5);
	cpu_update_mode(c);
	cpu_set_seg_real(c, CPU_CS, cs);
	cpu_set_seg_real(c, CPU_SS, (uint16_t)v[1]);
	cpu_set_seg_real(c, CPU_ES, (uint16_t)v[2]);
	cpu_set_seg_real(c, CPU_DS, (uint16_t)v[3]);
	cpu_set_seg_real(c, CPU_FS, (uint16_t)v[4]);
	cpu_set_seg_real(c, CPU_GS, (uint16_t)v[5]);
	c->r.gpr[CPU_RSP] = v[0];
	c->r.rip = ip & 0xffff;
	cpu_update_mode(c);
}

void cpu_iret(struct cpu *c, int osz)
{
	if (!(c->r.cr0 & CPU_CR0_PE) || (c->r.rflags & CPU_VM)) {
		iret_real(c, osz);
		return;
	}
	if ((c->r.rflags & CPU_NT) && !c->long_mode)
		cpu_abort_exit(c, CPU_EXIT_INVALID, "IRET with NT (task return) not implemented");
	uint64_t smask = cpu_stack_mask(c), sp = c->r.gpr[CPU_RSP];
	uint64_t ip = cpu_rd(c, CPU_SS, sp & smask, osz);
	uint16_t sel = (uint16_t)cpu_rd(c, CPU_SS, (sp + osz) & smask, osz);
	uint64_t fl = cpu_rd(c, CPU_SS, (sp + 2 * osz) & smask, osz);
	if (osz == 2)
		fl = (cpu_get_rflags(c) & ~0xffffull) | (fl & 0xffff);
	if ((fl & CPU_VM) && c->cpl == 0 && osz == 4 && !c->long_mode) {
		iret_to_v86(c, sp, ip, sel, fl);
		return;
	}
	int rpl = sel & 3;
	if (rpl < c->cpl)
		cpu_raise_gp(c, sel & 0xfffc);
	uint64_t addr, d = code_desc(c, sel, rpl, true, &addr);
	bool to64 = c->long_mode && (d & (1ull << 53));
	cpu_check_code_limit(c, d, to64 ? ip : ip & cpu_size_mask(osz == 8 ? 4 : osz));
	uint64_t nsp = 0;
	uint16_t nss = 0;
	bool pop_ss = rpl > c->cpl || c->code_mode == 64;
	if (pop_ss) {
		nsp = cpu_rd(c, CPU_SS, (sp + 3 * osz) & smask, osz);
		nss = (uint16_t)cpu_rd(c, CPU_SS, (sp + 4 * osz) & smask, osz);
	}
	/* flags: IOPL only at CPL 0, IF only when CPL <= IOPL */
	uint64_t fmask = 0x257fd5 & ~(uint64_t)CPU_VM;
	int iopl = (c->r.rflags >> 12) & 3;
	if (c->cpl > 0)
		fmask &= ~(uint64_t)CPU_IOPL;
	if (c->cpl > iopl)
		fmask &= ~(uint64_t)CPU_IF;
	if (osz == 2)
		fmask &= 0xffff;
	int old_cpl = c->cpl;
	cpu_set_cs(c, d, addr, sel, rpl);
	cpu_set_rflags(c, fl, fmask);
	if (pop_ss) {
		c->r.seg[CPU_SS].attr = (c->r.seg[CPU_SS].attr & ~0x60) | (rpl << 5);
		cpu_update_mode(c);
		if ((nss & 0xfffc) == 0 && c->long_mode && rpl < 3) {
			c->r.seg[CPU_SS].sel = nss;
			c->r.seg[CPU_SS].attr = (uint16_t)(0x4000 | 0x93 | (rpl << 5));
			c->r.seg[CPU_SS].base = 0;
			c->r.seg[CPU_SS].limit = 0xffffffff;
		} else {
			cpu_load_seg(c, CPU_SS, nss);
		}
		c->r.gpr[CPU_RSP] = osz == 4 && !to64 ? (uint32_t)nsp : nsp;
		if (osz == 2)
			c->r.gpr[CPU_RSP] = (c->r.gpr[CPU_RSP] & ~0xffffull) | (nsp & 0xffff);
	} else {
		c->r.gpr[CPU_RSP] = (sp & ~smask) | ((sp + 3 * osz) & smask);
	}
	cpu_update_mode(c);
	if (rpl > old_cpl)
		cpu_seg_fix_dpl(c);
	c->r.rip = to64 ? ip : ip & cpu_size_mask(osz == 8 ? 4 : osz);
	c->nmi_blocked = false;
}
