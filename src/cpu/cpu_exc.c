/*
 * Exceptions and interrupts: raising (longjmp to the run loop), the double-fault / triple-fault
 * rules, and delivery through the real-mode IVT, protected-mode IDT (with TSS stack switch and
 * virtual-8086 exits) and the long-mode IDT (RSP0-2 / IST stacks).
 */
#include <stdio.h>
#include "cpu/cpu_internal.h"
#include "cpu/cpu_seg.h"

CPU_NORETURN void cpu_raise(struct cpu *c, int vec, bool has_err, uint32_t err)
{
	c->exc_vec = vec;
	c->exc_has_err = has_err;
	c->exc_err = err;
	__builtin_longjmp(c->jb, 1);
}

CPU_NORETURN void cpu_raise_ud(struct cpu *c)
{
	cpu_raise(c, CPU_EXC_UD, false, 0);
}

CPU_NORETURN void cpu_raise_gp(struct cpu *c, uint32_t err)
{
	cpu_raise(c, CPU_EXC_GP, true, err);
}

CPU_NORETURN void cpu_raise_nm(struct cpu *c)
{
	cpu_raise(c, CPU_EXC_NM, false, 0);
}

static bool exc_contributory(int v)
{
	return v == CPU_EXC_DE || (v >= CPU_EXC_TS && v <= CPU_EXC_GP);
}

/* Debug aid: the bytes at CS:RIP (no faults: translation failures print nothing). */
static void exc_dump_bytes(struct cpu *c)
{
	uint64_t la = c->r.rip + (c->code_mode == 64 ? 0 : c->r.seg[CPU_CS].base), gpa;
	if (cpu_translate(c, la, &gpa) < 0)
		return;
	const uint8_t *h = cpu_phys_peek(c->vm, gpa);
	if (!h)
		return;
	fprintf(stderr, "cpu:   bytes");
	for (int k = 0; k < 16 && ((gpa + k) & 0xfff) >= (gpa & 0xfff); k++)
		fprintf(stderr, " %02x", h[k]);
	fprintf(stderr, "\n");
}

/* Called by the run loop after a fault unwound to it; RIP points at the faulting insn. */
void cpu_deliver_pending_exception(struct cpu *c)
{
	int vec = c->exc_vec, prev = c->deliver_vec;
	bool has_err = c->exc_has_err;
	uint32_t err = c->exc_err;
	c->exc_vec = -1;
	if (c->trace)
		fprintf(stderr, "cpu: exception %d err %#x at %#llx:%#llx cr2 %#llx (cpl %d, mode %d)\n",
			vec, has_err ? err : 0, (unsigned long long)c->r.seg[CPU_CS].sel,
			(unsigned long long)c->r.rip, (unsigned long long)c->r.cr2, c->cpl,
			c->code_mode);
	if (c->trace && vec == CPU_EXC_UD)
		exc_dump_bytes(c);
	if (prev >= 0) {
		bool serious = exc_contributory(vec) || vec == CPU_EXC_PF;
		if (prev == CPU_EXC_DF && serious) {
			c->deliver_vec = -1;
			c->exit_reason = CPU_EXIT_SHUTDOWN;
			c->exit_msg = "triple fault";
			return;
		}
		if ((exc_contributory(prev) && exc_contributory(vec)) ||
		    (prev == CPU_EXC_PF && serious)) {
			vec = CPU_EXC_DF;
			has_err = true;
			err = 0;
		}
	}
	if (vec == CPU_EXC_DB) {     /* general detect: traps held by MOV SS come with it */
		c->r.dr[6] |= c->db_pending;
		c->db_pending = 0;
	}
	/* every fault pushes RF=1 so that IRET back to the instruction passes its instruction
	 * breakpoint (SDM Vol. 3B 18.3.1.1); #DF is an abort */
	c->int_rf = vec != CPU_EXC_DF;
	cpu_interrupt(c, vec, CPU_INT_EXC, has_err, err);
}

/* ---- stack helpers ---- */

uint64_t cpu_stack_mask(const struct cpu *c)
{
	if (c->code_mode == 64)
		return ~0ull;
	return c->stack32 ? 0xffffffffull : 0xffff;
}

void cpu_push(struct cpu *c, int size, uint64_t v)
{
	uint64_t sp = c->r.gpr[CPU_RSP], m = cpu_stack_mask(c);
	uint64_t nsp = (sp - size) & m;
	cpu_wr(c, CPU_SS, nsp, size, v);
	c->r.gpr[CPU_RSP] = (sp & ~m) | nsp;
}

uint64_t cpu_pop(struct cpu *c, int size)
{
	uint64_t sp = c->r.gpr[CPU_RSP], m = cpu_stack_mask(c);
	uint64_t v = cpu_rd(c, CPU_SS, sp & m, size);
	c->r.gpr[CPU_RSP] = (sp & ~m) | ((sp + size) & m);
	return v;
}

/* Writes a frame of n values (pushed in array order) below sp; returns the new sp.  Writes are
 * done before any register changes so a fault leaves the CPU state intact. */
static uint64_t push_frame(struct cpu *c, uint64_t ss_base, uint64_t sp, uint64_t smask,
			   int size, const uint64_t *v, int n, bool sys)
{
	uint64_t lmask = c->long_mode ? ~0ull : 0xffffffffull;
	for (int k = 0; k < n; k++) {
		sp = (sp - size) & smask;
		cpu_wr_lin(c, (ss_base + sp) & lmask, size, v[k], sys);
	}
	return sp;
}

/* ---- real mode ---- */

static void int_real(struct cpu *c, int vec)
{
	if ((uint32_t)vec * 4 + 3 > c->r.idtr.limit)
		cpu_raise_gp(c, 0);
	uint32_t ent = (uint32_t)cpu_rd_lin(c, (c->r.idtr.base + vec * 4) & 0xffffffffull, 4, true);
	uint64_t fl = cpu_get_rflags(c);
	uint64_t v[3] = { fl & 0xffff, c->r.seg[CPU_CS].sel, c->r.rip & 0xffff };
	struct cpu_segment *ss = &c->r.seg[CPU_SS];
	uint64_t smask = cpu_stack_mask(c);
	uint64_t sp = push_frame(c, ss->base, c->r.gpr[CPU_RSP], smask, 2, v, 3, true);
	c->r.gpr[CPU_RSP] = (c->r.gpr[CPU_RSP] & ~smask) | sp;
	cpu_set_seg_real(c, CPU_CS, (uint16_t)(ent >> 16));
	c->r.rip = ent & 0xffff;
	c->r.rflags &= ~(uint64_t)(CPU_IF | CPU_TF | CPU_AC | CPU_RF);
	cpu_update_mode(c);
}

/* ---- gates ---- */

static uint32_t idt_err(int vec, int kind)
{
	return (uint32_t)vec * 8 + 2 + (kind != CPU_INT_SOFT);
}

/* Reads and checks the target code segment of a gate; returns the descriptor. */
static uint64_t gate_code(struct cpu *c, uint16_t sel, int kind, uint64_t *addr)
{
	int ext = kind != CPU_INT_SOFT;
	if ((sel & 0xfffc) == 0)
		cpu_raise_gp(c, ext);
	uint64_t d = cpu_read_desc(c, sel, CPU_EXC_GP, addr);
	int dpl = (d >> 45) & 3;
	if (!((d >> 44) & 1) || !((d >> 43) & 1) || dpl > c->cpl)
		cpu_raise_gp(c, (sel & 0xfffc) + ext);
	if (!((d >> 47) & 1))
		cpu_raise(c, CPU_EXC_NP, true, (sel & 0xfffc) + ext);
	return d;
}

static uint64_t tss_read(struct cpu *c, uint32_t off, int size)
{
	struct cpu_segment *tr = &c->r.seg[CPU_TR];
	if (off + size - 1 > tr->limit)
		cpu_raise(c, CPU_EXC_TS, true, tr->sel & 0xfffc);
	return cpu_rd_lin(c, tr->base + off, size, true);
}

static void int_long(struct cpu *c, int vec, int kind, bool has_err, uint32_t err, uint64_t rf)
{
	if ((uint32_t)vec * 16 + 15 > c->r.idtr.limit)
		cpu_raise_gp(c, idt_err(vec, kind));
	uint64_t ga = c->r.idtr.base + vec * 16;
	uint64_t lo = cpu_rd_lin(c, ga, 8, true), hi = cpu_rd_lin(c, ga + 8, 8, true);
	int type = (lo >> 40) & 0xf, gdpl = (lo >> 45) & 3;
	if (type != 0xe && type != 0xf)
		cpu_raise_gp(c, idt_err(vec, kind));
	if (kind == CPU_INT_SOFT && gdpl < c->cpl)
		cpu_raise_gp(c, idt_err(vec, kind));
	if (!((lo >> 47) & 1))
		cpu_raise(c, CPU_EXC_NP, true, idt_err(vec, kind));
	uint16_t sel = (uint16_t)(lo >> 16);
	uint64_t off = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ull) | (hi << 32);
	uint64_t addr, d = gate_code(c, sel, kind, &addr);
	if (!((d >> 53) & 1) || ((d >> 54) & 1))
		cpu_raise_gp(c, (sel & 0xfffc) + (kind != CPU_INT_SOFT));
	int dpl = (d >> 45) & 3, ncpl = ((d >> 42) & 1) ? c->cpl : dpl;
	int ist = (lo >> 32) & 7;
	uint64_t rsp = c->r.gpr[CPU_RSP];
	if (ist)
		rsp = tss_read(c, 0x24 + (ist - 1) * 8, 8);
	else if (ncpl < c->cpl)
		rsp = tss_read(c, 4 + ncpl * 8, 8);
	rsp &= ~15ull;
	uint64_t fl = cpu_get_rflags(c) | rf;
	uint64_t v[6] = { c->r.seg[CPU_SS].sel, c->r.gpr[CPU_RSP], fl, c->r.seg[CPU_CS].sel,
			  c->r.rip, err };
	uint64_t nsp = push_frame(c, 0, rsp, ~0ull, 8, v, has_err ? 6 : 5, ncpl < 3);
	if (ncpl < c->cpl) {
		struct cpu_segment *ss = &c->r.seg[CPU_SS];
		ss->sel = (uint16_t)ncpl;
		ss->base = 0;
		ss->limit = 0xffffffff;
		ss->attr = (uint16_t)(0x4093 | (ncpl << 5));
	}
	cpu_set_cs(c, d, addr, sel, ncpl);
	c->r.gpr[CPU_RSP] = nsp;
	c->r.rip = off;
	c->r.rflags &= ~(uint64_t)(CPU_TF | CPU_NT | CPU_RF | CPU_VM | (type == 0xe ? CPU_IF : 0));
	cpu_update_mode(c);
}

static void int_prot(struct cpu *c, int vec, int kind, bool has_err, uint32_t err, uint64_t rf)
{
	if ((uint32_t)vec * 8 + 7 > c->r.idtr.limit)
		cpu_raise_gp(c, idt_err(vec, kind));
	uint64_t lo = cpu_rd_lin(c, (c->r.idtr.base + vec * 8) & 0xffffffffull, 8, true);
	int type = (lo >> 40) & 0xf, gdpl = (lo >> 45) & 3;
	if (type == 5)
		cpu_abort_exit(c, CPU_EXIT_INVALID, "task gate in IDT not implemented");
	if ((type & 7) != 6 && (type & 7) != 7)
		cpu_raise_gp(c, idt_err(vec, kind));
	bool vm86 = c->r.rflags & CPU_VM;
	if (kind == CPU_INT_SOFT && gdpl < (vm86 ? 3 : c->cpl))
		cpu_raise_gp(c, idt_err(vec, kind));
	if (!((lo >> 47) & 1))
		cpu_raise(c, CPU_EXC_NP, true, idt_err(vec, kind));
	int gsz = (type & 8) ? 4 : 2;
	uint16_t sel = (uint16_t)(lo >> 16);
	uint64_t off = (lo & 0xffff) | (gsz == 4 ? ((lo >> 32) & 0xffff0000ull) : 0);
	int old_cpl = vm86 ? 3 : c->cpl;
	if (vm86)
		c->cpl = 3;
	uint64_t addr, d = gate_code(c, sel, kind, &addr);
	int dpl = (d >> 45) & 3, ncpl = ((d >> 42) & 1) ? old_cpl : dpl;
	if (vm86 && ncpl != 0)
		cpu_raise_gp(c, sel & 0xfffc);
	cpu_check_code_limit(c, d, off);
	uint64_t fl = cpu_get_rflags(c) | rf;
	uint64_t v[12];
	int n = 0;
	struct cpu_segment nss = c->r.seg[CPU_SS];
	uint64_t sp = c->r.gpr[CPU_RSP];
	if (ncpl < old_cpl) {
		bool t32 = (c->r.seg[CPU_TR].attr & 0xf) >= 9;
		uint64_t nesp = t32 ? tss_read(c, 4 + ncpl * 8, 4) : tss_read(c, 2 + ncpl * 4, 2);
		uint16_t nsel = (uint16_t)(t32 ? tss_read(c, 8 + ncpl * 8, 2) : tss_read(c, 4 + ncpl * 4, 2));
		uint64_t sa, sd = cpu_read_desc(c, nsel, CPU_EXC_TS, &sa);
		if ((nsel & 3) != ncpl || ((sd >> 45) & 3) != (uint64_t)ncpl || ((sd >> 40) & 0x1a) != 0x12)
			cpu_raise(c, CPU_EXC_TS, true, nsel & 0xfffc);
		if (!((sd >> 47) & 1))
			cpu_raise(c, CPU_EXC_SS, true, nsel & 0xfffc);
		cpu_desc_to_seg(sd, 0, nsel, &nss);
		if (vm86) {
			v[n++] = c->r.seg[CPU_GS].sel;
			v[n++] = c->r.seg[CPU_FS].sel;
			v[n++] = c->r.seg[CPU_DS].sel;
			v[n++] = c->r.seg[CPU_ES].sel;
		}
		v[n++] = c->r.seg[CPU_SS].sel;
		v[n++] = sp;
		sp = nesp;
	}
	v[n++] = fl;
	v[n++] = c->r.seg[CPU_CS].sel;
	v[n++] = c->r.rip;
	if (has_err)
		v[n++] = err;
	uint64_t smask = (nss.attr & 0x4000) ? 0xffffffffull : 0xffff;
	uint64_t nsp = push_frame(c, nss.base, sp, smask, gsz, v, n, ncpl < 3);
	if (ncpl < old_cpl) {
		c->r.seg[CPU_SS] = nss;
		c->r.gpr[CPU_RSP] = nsp;
		if (vm86) {
			static const int z[] = { CPU_ES, CPU_DS, CPU_FS, CPU_GS };
			for (int k = 0; k < 4; k++)
				memset(&c->r.seg[z[k]], 0, sizeof(struct cpu_segment));
		}
	} else {
		c->r.gpr[CPU_RSP] = (c->r.gpr[CPU_RSP] & ~smask) | nsp;
	}
	cpu_set_cs(c, d, addr, sel, ncpl);
	c->r.rip = off;
	c->r.rflags &= ~(uint64_t)(CPU_TF | CPU_NT | CPU_RF | CPU_VM | ((type & 1) ? 0 : CPU_IF));
	cpu_update_mode(c);
}

/* Deliver vector `vec` now.  c->r.rip is the return address (faults: the faulting insn;
 * traps/INT n: the next one).  c->int_rf: a fault, whose frame gets RF=1 (16-bit frames have
 * no room for it). */
void cpu_interrupt(struct cpu *c, int vec, int kind, bool has_err, uint32_t err)
{
	uint64_t rf = c->int_rf ? CPU_RF : 0;
	c->int_rf = false;
	c->deliver_vec = kind == CPU_INT_EXC ? vec : -1;
	c->halted = false;
	c->shadow &= CPU_SHADOW_DB;   /* an event ends an STI / MOV SS shadow */
	c->int_count++;
	if (!(c->r.cr0 & CPU_CR0_PE))
		int_real(c, vec);
	else if (c->long_mode)
		int_long(c, vec, kind, has_err, err, rf);
	else
		int_prot(c, vec, kind, has_err, err, rf);
	c->deliver_vec = -1;
}
