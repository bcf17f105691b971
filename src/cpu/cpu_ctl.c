/*
 * Data movement and control flow: MOV/MOVZX/MOVSX/MOVSXD/LEA/CMOVcc/SETcc/BSWAP, PUSH/POP in
 * all forms, PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE, Jcc/JMP/CALL/RET (near and far), LOOP/JCXZ,
 * INT n/INT3/INTO/INT1/IRET, flag instructions, CBW family, LAHF/SAHF, XLAT, NOPs.
 */
#include "cpu/cpu_ops.h"
#include "cpu/cpu_seg.h"

/* ---- moves ---- */
H(mov_rm_r_reg) { cpu_set_reg(c, i->rm, i->osz, cpu_get_reg(c, i->reg, i->osz)); NEXT; }
H(mov_rm_r_mem) { cpu_wr(c, i->seg, cpu_ea(c, i), i->osz, cpu_get_reg(c, i->reg, i->osz)); NEXT; }
H(mov_r_rm_mem) { cpu_set_reg(c, i->reg, i->osz, cpu_rd(c, i->seg, cpu_ea(c, i), i->osz)); NEXT; }
__attribute__((noinline)) H(mov_r64_m) { c->r.gpr[i->reg] = cpu_rd(c, i->seg, cpu_ea(c, i), 8); NEXT; }
__attribute__((noinline)) H(mov_r32_m) { c->r.gpr[i->reg] = cpu_rd(c, i->seg, cpu_ea(c, i), 4); NEXT; }
__attribute__((noinline)) H(mov_m_r64) { cpu_wr(c, i->seg, cpu_ea(c, i), 8, c->r.gpr[i->reg]); NEXT; }
__attribute__((noinline)) H(mov_m_r32) { cpu_wr(c, i->seg, cpu_ea(c, i), 4, c->r.gpr[i->reg]); NEXT; }
H(mov_r64_r) { c->r.gpr[i->rm] = c->r.gpr[i->reg]; NEXT; }
H(mov_r32_r) { c->r.gpr[i->rm] = (uint32_t)c->r.gpr[i->reg]; NEXT; }
/* 64/32-bit loads and stores, one handler per address form */
/* (a TLB miss tail-calls the generic handler, so the fast path needs no stack frame) */
#define MOV_LD(NAME, K, SZ, SLOW) H(NAME) {                                                  \
	void *p = cpu_tlb_hit(c, i->seg, cpu_ea_k(c, i, K), SZ, CPU_ACC_R);                 \
	if (CPU_UNLIKELY(!p))                                                                \
		return SLOW(c, i);                                                           \
	c->r.gpr[i->reg] = cpu_ld_host(p, SZ);                                               \
	NEXT;                                                                                \
}
#define MOV_ST(NAME, K, SZ, SLOW) H(NAME) {                                                  \
	void *p = cpu_tlb_hit(c, i->seg, cpu_ea_k(c, i, K), SZ, CPU_ACC_W);                 \
	if (CPU_UNLIKELY(!p))                                                                \
		return SLOW(c, i);                                                           \
	cpu_st_host(p, SZ, c->r.gpr[i->reg]);                                                \
	NEXT;                                                                                \
}
#define MOV_EA(K)                                                                             \
MOV_LD(mov_r64_m_##K, K, 8, mov_r64_m) MOV_LD(mov_r32_m_##K, K, 4, mov_r32_m)                  \
MOV_ST(mov_m_r64_##K, K, 8, mov_m_r64) MOV_ST(mov_m_r32_##K, K, 4, mov_m_r32)
MOV_EA(1) MOV_EA(2) MOV_EA(3)
static const cpu_handler_fn mov_ea_tab[4][4] = {
	{ mov_r64_m, mov_r32_m, mov_m_r64, mov_m_r32 },
	{ mov_r64_m_1, mov_r32_m_1, mov_m_r64_1, mov_m_r32_1 },
	{ mov_r64_m_2, mov_r32_m_2, mov_m_r64_2, mov_m_r32_2 },
	{ mov_r64_m_3, mov_r32_m_3, mov_m_r64_3, mov_m_r32_3 },
};
H(mov_rm_imm) { wr_rm(c, i, i->osz, i->imm); NEXT; }
H(mov_r_imm) { cpu_set_reg(c, i->reg, i->osz, i->imm); NEXT; }
H(mov_moffs) {
	bool load = !(i->op & 2);
	uint64_t off = i->imm & cpu_size_mask(i->asz);
	if (load)
		cpu_set_reg(c, CPU_RAX, i->osz, cpu_rd(c, i->seg, off, i->osz));
	else
		cpu_wr(c, i->seg, off, i->osz, cpu_get_reg(c, CPU_RAX, i->osz));
	NEXT;
}
H(lea) { cpu_set_reg(c, i->reg, i->osz, cpu_ea(c, i)); NEXT; }
H(movzx) {
	int ssz = (i->op & 1) ? 2 : 1;
	cpu_set_reg(c, i->reg, i->osz, rd_rm(c, i, ssz));
	NEXT;
}
/* MOVZX into a 32/64-bit register (the zero-extended value is the whole register) */
H(movzx_rb) { c->r.gpr[i->reg] = cpu_get_reg(c, i->rm, 1); NEXT; }
H(movzx_rw) { c->r.gpr[i->reg] = (uint16_t)c->r.gpr[i->rm]; NEXT; }
H(movzx_mb) { c->r.gpr[i->reg] = cpu_rd(c, i->seg, cpu_ea(c, i), 1); NEXT; }
H(movzx_mw) { c->r.gpr[i->reg] = cpu_rd(c, i->seg, cpu_ea(c, i), 2); NEXT; }
static cpu_handler_fn sel_movzx(const struct insn *i)
{
	if (i->osz < 4)
		return movzx;
	if (i->flags & CPU_IF_MEM)
		return (i->op & 1) ? movzx_mw : movzx_mb;
	return (i->op & 1) ? movzx_rw : movzx_rb;
}
/* LEA with 64-bit operand and address size, per address form */
H(lea64_1) { c->r.gpr[i->reg] = cpu_ea_k(c, i, CPU_EA_B); NEXT; }
H(lea64_2) { c->r.gpr[i->reg] = cpu_ea_k(c, i, CPU_EA_BI); NEXT; }
H(lea64_3) { c->r.gpr[i->reg] = cpu_ea_k(c, i, CPU_EA_RIP); NEXT; }
static cpu_handler_fn sel_lea(const struct insn *i)
{
	static const cpu_handler_fn tab[4] = { lea, lea64_1, lea64_2, lea64_3 };
	return i->osz == 8 ? tab[cpu_ea_kind(i)] : lea;
}
H(movsx) {
	int ssz = (i->op & 1) ? 2 : 1;
	cpu_set_reg(c, i->reg, i->osz, sx(rd_rm(c, i, ssz), ssz));
	NEXT;
}
H(movsxd) { cpu_set_reg(c, i->reg, i->osz, sx(rd_rm(c, i, 4), 4)); NEXT; }
H(cmov) {
	uint64_t v = rd_rm(c, i, i->osz);   /* the source is always read (may fault) */
	if (cpu_cond(c, i->op & 15))
		cpu_set_reg(c, i->reg, i->osz, v);
	else if (i->osz == 4)
		c->r.gpr[i->reg] = (uint32_t)c->r.gpr[i->reg];
	NEXT;
}
/* CMOVcc r32/r64, r/m and SETcc r8, one handler per condition */
#define CMOV_CC(cc)                                                                          \
H(cmov8_##cc) { uint64_t v = rd_rm(c, i, 8);                                                 \
	c->r.gpr[i->reg] = cond_fast(c, cc) ? v : c->r.gpr[i->reg]; NEXT; }                      \
H(cmov4_##cc) { uint64_t v = rd_rm(c, i, 4);                                                 \
	c->r.gpr[i->reg] = cond_fast(c, cc) ? (uint32_t)v : (uint32_t)c->r.gpr[i->reg]; NEXT; }   \
H(setr_##cc) { cpu_set_reg(c, i->rm, 1, cond_fast(c, cc)); NEXT; }
CMOV_CC(0) CMOV_CC(1) CMOV_CC(2) CMOV_CC(3) CMOV_CC(4) CMOV_CC(5) CMOV_CC(6) CMOV_CC(7)
CMOV_CC(8) CMOV_CC(9) CMOV_CC(10) CMOV_CC(11) CMOV_CC(12) CMOV_CC(13) CMOV_CC(14) CMOV_CC(15)
#define CC_TAB(p) { p##0, p##1, p##2, p##3, p##4, p##5, p##6, p##7, p##8, p##9, p##10, p##11, \
	p##12, p##13, p##14, p##15 }
static const cpu_handler_fn cmov8_tab[16] = CC_TAB(cmov8_);
static const cpu_handler_fn cmov4_tab[16] = CC_TAB(cmov4_);
static const cpu_handler_fn setr_tab[16] = CC_TAB(setr_);
H(setcc) { wr_rm(c, i, 1, cpu_cond(c, i->op & 15)); NEXT; }
H(bswap) {
	uint64_t v = c->r.gpr[i->reg];
	if (i->osz == 8)
		c->r.gpr[i->reg] = __builtin_bswap64(v);
	else if (i->osz == 4)
		c->r.gpr[i->reg] = __builtin_bswap32((uint32_t)v);
	else
		cpu_set_reg(c, i->reg, 2, 0);   /* undefined; hardware gives 0 */
	NEXT;
}
H(mov_rm_sreg) {
	uint16_t v = c->r.seg[(i->modrm >> 3) & 7].sel;
	if (i->flags & CPU_IF_MEM)
		cpu_wr(c, i->seg, cpu_ea(c, i), 2, v);
	else
		cpu_set_reg(c, i->rm, i->osz, v);
	NEXT;
}
H(mov_sreg_rm) {
	int s = (i->modrm >> 3) & 7;
	cpu_load_seg(c, s, (uint16_t)rd_rm(c, i, 2));
	if (s == CPU_SS) {
		c->shadow |= CPU_SHADOW_SS;
		c->r.rip = CPU_NEXT_RIP(c, i);
		return CPU_H_BRANCH;
	}
	NEXT;
}
H(load_far_ptr) {
	static const int segs[] = { CPU_ES, CPU_DS, CPU_SS, CPU_FS, CPU_GS };
	int s;
	switch (i->op) {
	case 0xc4: s = 0; break;
	case 0xc5: s = 1; break;
	case 0x1b2: s = 2; break;
	case 0x1b4: s = 3; break;
	default: s = 4; break;
	}
	uint64_t off = cpu_ea(c, i);
	uint64_t v = cpu_rd(c, i->seg, off, i->osz);
	uint16_t sel = (uint16_t)cpu_rd(c, i->seg, (off + i->osz) & cpu_size_mask(i->asz), 2);
	cpu_load_seg(c, segs[s], sel);
	cpu_set_reg(c, i->reg, i->osz, v);
	NEXT;
}

/* ---- conversions, flags ---- */
H(cbw) {
	int half = i->osz / 2;
	cpu_set_reg(c, CPU_RAX, i->osz, sx(cpu_get_reg(c, CPU_RAX, half), half));
	NEXT;
}
H(cwd) {
	uint64_t a = cpu_get_reg(c, CPU_RAX, i->osz);
	cpu_set_reg(c, CPU_RDX, i->osz, msb(a, i->osz) ? ~0ull : 0);
	NEXT;
}
H(lahf) {
	uint64_t f = cpu_get_rflags(c);
	cpu_set_reg(c, 16, 1, (f & 0xd5) | 2);
	NEXT;
}
H(sahf) {
	uint64_t ah = cpu_get_reg(c, 16, 1);
	set_flags(c, (uint32_t)ah & (CPU_SF | CPU_ZF | CPU_AF | CPU_PF | CPU_CF),
		  CPU_SF | CPU_ZF | CPU_AF | CPU_PF | CPU_CF);
	NEXT;
}
H(flag_op) {
	switch (i->op) {
	case 0xf5: set_flags(c, get_cf(c) ^ 1, CPU_CF); break;
	case 0xf8: set_flags(c, 0, CPU_CF); break;
	case 0xf9: set_flags(c, CPU_CF, CPU_CF); break;
	case 0xfc: c->r.rflags &= ~(uint64_t)CPU_DF; break;
	default: c->r.rflags |= CPU_DF; break;
	}
	NEXT;
}
H(salc) { cpu_set_reg(c, CPU_RAX, 1, get_cf(c) ? 0xff : 0); NEXT; }
H(xlat) {
	uint64_t off = (cpu_get_reg(c, CPU_RBX, i->asz) + (uint8_t)c->r.gpr[CPU_RAX]) &
		       cpu_size_mask(i->asz);
	cpu_set_reg(c, CPU_RAX, 1, cpu_rd(c, i->seg, off, 1));
	NEXT;
}
H(nop) { (void)c; (void)i; NEXT; }

/* ---- stack ---- */
__attribute__((noinline)) H(push_r64_slow) {
	uint64_t sp = c->r.gpr[CPU_RSP] - 8;
	cpu_wr(c, CPU_SS, sp, 8, c->r.gpr[i->reg]);
	c->r.gpr[CPU_RSP] = sp;
	NEXT;
}
__attribute__((noinline)) H(pop_r64_slow) {
	uint64_t sp = c->r.gpr[CPU_RSP];
	uint64_t v = cpu_rd(c, CPU_SS, sp, 8);
	c->r.gpr[CPU_RSP] = sp + 8;
	c->r.gpr[i->reg] = v;
	NEXT;
}
H(push_r64) {
	uint64_t sp = c->r.gpr[CPU_RSP] - 8;
	void *p = cpu_tlb_hit(c, CPU_SS, sp, 8, CPU_ACC_W);
	if (CPU_UNLIKELY(!p))
		return push_r64_slow(c, i);
	cpu_st_host(p, 8, c->r.gpr[i->reg]);
	c->r.gpr[CPU_RSP] = sp;
	NEXT;
}
H(pop_r64) {
	uint64_t sp = c->r.gpr[CPU_RSP];
	void *p = cpu_tlb_hit(c, CPU_SS, sp, 8, CPU_ACC_R);
	if (CPU_UNLIKELY(!p))
		return pop_r64_slow(c, i);
	uint64_t v = cpu_ld_host(p, 8);
	c->r.gpr[CPU_RSP] = sp + 8;
	c->r.gpr[i->reg] = v;
	NEXT;
}
H(push_r) { cpu_push(c, i->osz, cpu_get_reg(c, i->reg, i->osz)); NEXT; }
H(pop_r) {
	uint64_t v = cpu_pop(c, i->osz);
	cpu_set_reg(c, i->reg, i->osz, v);
	NEXT;
}
H(push_imm) { cpu_push(c, i->osz, i->imm); NEXT; }
H(push_rm) { cpu_push(c, i->osz, rd_rm(c, i, i->osz)); NEXT; }
H(pop_rm) {
	uint64_t sp = c->r.gpr[CPU_RSP];
	uint64_t v = cpu_pop(c, i->osz);
	if (i->flags & CPU_IF_MEM) {
		/* the address is computed with the incremented RSP */
		uint64_t off = cpu_ea(c, i);
		uint64_t nsp = c->r.gpr[CPU_RSP];
		c->r.gpr[CPU_RSP] = sp;
		cpu_wr(c, i->seg, off, i->osz, v);   /* fault: RSP unchanged */
		c->r.gpr[CPU_RSP] = nsp;
	} else {
		cpu_set_reg(c, i->rm, i->osz, v);
	}
	NEXT;
}
static int seg_of_pushpop(uint16_t op)
{
	switch (op) {
	case 0x06: case 0x07: return CPU_ES;
	case 0x0e: return CPU_CS;
	case 0x16: case 0x17: return CPU_SS;
	case 0x1e: case 0x1f: return CPU_DS;
	case 0x1a0: case 0x1a1: return CPU_FS;
	default: return CPU_GS;
	}
}
H(push_seg) { cpu_push(c, i->osz, c->r.seg[seg_of_pushpop(i->op)].sel); NEXT; }
H(pop_seg) {
	int s = seg_of_pushpop(i->op);
	uint64_t sp = c->r.gpr[CPU_RSP];
	uint16_t v = (uint16_t)cpu_pop(c, i->osz);
	uint64_t nsp = c->r.gpr[CPU_RSP];
	c->r.gpr[CPU_RSP] = sp;
	cpu_load_seg(c, s, v);
	c->r.gpr[CPU_RSP] = nsp;
	if (s == CPU_SS) {
		c->shadow |= CPU_SHADOW_SS;
		c->r.rip = CPU_NEXT_RIP(c, i);
		return CPU_H_BRANCH;
	}
	NEXT;
}
H(pusha) {
	uint64_t sp = c->r.gpr[CPU_RSP];
	for (int r = 0; r < 8; r++)
		cpu_push(c, i->osz, r == CPU_RSP ? sp : c->r.gpr[r]);
	NEXT;
}
H(popa) {
	for (int r = 7; r >= 0; r--) {
		uint64_t v = cpu_pop(c, i->osz);
		if (r != CPU_RSP)
			cpu_set_reg(c, r, i->osz, v);
	}
	NEXT;
}
H(pushf) {
	uint64_t f = cpu_get_rflags(c) & ~(uint64_t)(CPU_VM | CPU_RF);
	if ((c->r.rflags & CPU_VM) && ((c->r.rflags >> 12) & 3) != 3)
		cpu_raise_gp(c, 0);
	cpu_push(c, i->osz, f);
	NEXT;
}
H(popf) {
	int iopl = (c->r.rflags >> 12) & 3;
	if ((c->r.rflags & CPU_VM) && iopl != 3)
		cpu_raise_gp(c, 0);
	uint64_t v = cpu_pop(c, i->osz);
	uint64_t mask = 0x254fd5 | CPU_IOPL | CPU_IF;   /* CF..OF, TF, IF, DF, NT, AC, ID */
	if (c->cpl > 0)
		mask &= ~(uint64_t)CPU_IOPL;
	if (c->cpl > iopl)
		mask &= ~(uint64_t)CPU_IF;
	if (i->osz == 2)
		mask &= 0xffff;
	cpu_set_rflags(c, v, mask);
	c->r.rip = CPU_NEXT_RIP(c, i);   /* IF may have changed: end the block */
	return CPU_H_BRANCH;
}
H(enter) {
	int sz = i->osz, level = i->imm2 & 31;
	uint64_t m = cpu_stack_mask(c);
	cpu_push(c, sz, cpu_get_reg(c, CPU_RBP, sz));
	uint64_t frame = c->r.gpr[CPU_RSP] & m;
	if (level > 0) {
		uint64_t bp = c->r.gpr[CPU_RBP];
		for (int k = 1; k < level; k++) {
			bp = (bp & ~m) | ((bp - sz) & m);
			cpu_push(c, sz, cpu_rd(c, CPU_SS, bp & m, sz));
		}
		cpu_push(c, sz, frame);
	}
	uint64_t nsp = (c->r.gpr[CPU_RSP] - i->imm) & m;
	cpu_rd(c, CPU_SS, nsp, 1);   /* probe: #SS/#PF before committing */
	cpu_set_reg(c, CPU_RBP, sz, frame);
	c->r.gpr[CPU_RSP] = (c->r.gpr[CPU_RSP] & ~m) | nsp;
	NEXT;
}
H(leave) {
	uint64_t m = cpu_stack_mask(c);
	uint64_t bp = c->r.gpr[CPU_RBP] & m;
	uint64_t v = cpu_rd(c, CPU_SS, bp, i->osz);
	c->r.gpr[CPU_RSP] = (c->r.gpr[CPU_RSP] & ~m) | ((bp + i->osz) & m);
	cpu_set_reg(c, CPU_RBP, i->osz, v);
	NEXT;
}

/* ---- near branches ---- */
H(jcc) {
	uint64_t next = CPU_NEXT_RIP(c, i);
	if (cpu_cond(c, i->op & 15))
		next = ip_mask(i, next + i->imm);
	return branch_to(c, next);
}
/* 64-bit mode Jcc (operand size 64), one handler per condition.  Not taken, it falls through
 * to the next insn of the block (blocks go on past these, see cpu_exec.c); a block that ends
 * right after one has a terminator that sets RIP. */
#define JCC64(cc) H(jcc64_##cc) {                                                          \
	if (cond_fast(c, cc))                                                                \
		return branch_to(c, CPU_NEXT_RIP(c, i) + i->imm);                            \
	NEXT;                                                                                \
}
JCC64(0) JCC64(1) JCC64(2) JCC64(3) JCC64(4) JCC64(5) JCC64(6) JCC64(7)
JCC64(8) JCC64(9) JCC64(10) JCC64(11) JCC64(12) JCC64(13) JCC64(14) JCC64(15)
static const cpu_handler_fn jcc64_tab[16] = {
	jcc64_0, jcc64_1, jcc64_2, jcc64_3, jcc64_4, jcc64_5, jcc64_6, jcc64_7,
	jcc64_8, jcc64_9, jcc64_10, jcc64_11, jcc64_12, jcc64_13, jcc64_14, jcc64_15,
};
H(jmp_rel) { return branch_to(c, ip_mask(i, CPU_NEXT_RIP(c, i) + i->imm)); }
H(call_rel) {
	uint64_t next = CPU_NEXT_RIP(c, i);
	check_target(c, ip_mask(i, next + i->imm));
	cpu_push(c, i->osz, next);
	return branch_to(c, ip_mask(i, next + i->imm));
}
__attribute__((noinline)) H(call_rel64_slow) {
	uint64_t next = CPU_NEXT_RIP(c, i), sp = c->r.gpr[CPU_RSP] - 8;
	cpu_seg_lin(c, CPU_SS, sp, 8, CPU_ACC_W);
	check_target(c, next + i->imm);
	cpu_wr(c, CPU_SS, sp, 8, next);
	c->r.gpr[CPU_RSP] = sp;
	return branch_to(c, next + i->imm);
}
H(call_rel64) {
	uint64_t next = CPU_NEXT_RIP(c, i), sp = c->r.gpr[CPU_RSP] - 8;
	void *p = cpu_tlb_hit(c, CPU_SS, sp, 8, CPU_ACC_W);
	uint64_t t = next + i->imm;
	if (CPU_UNLIKELY(!p || (uint64_t)((int64_t)(t << 16) >> 16) != t))
		return call_rel64_slow(c, i);
	cpu_st_host(p, 8, next);
	c->r.gpr[CPU_RSP] = sp;
	c->r.rip = t;
	return CPU_H_BRANCH;
}
H(ret_near) {
	uint64_t m = cpu_stack_mask(c), sp = c->r.gpr[CPU_RSP];
	uint64_t t = ip_mask(i, cpu_rd(c, CPU_SS, sp & m, i->osz));
	check_target(c, t);
	c->r.gpr[CPU_RSP] = (sp & ~m) | ((sp + i->osz + i->imm) & m);
	return branch_to(c, t);
}
__attribute__((noinline)) H(ret64_slow) {
	uint64_t sp = c->r.gpr[CPU_RSP];
	uint64_t t = cpu_rd(c, CPU_SS, sp, 8);
	check_target(c, t);
	c->r.gpr[CPU_RSP] = sp + 8;
	return branch_to(c, t);
}
H(ret64) {
	uint64_t sp = c->r.gpr[CPU_RSP];
	void *p = cpu_tlb_hit(c, CPU_SS, sp, 8, CPU_ACC_R);
	if (CPU_UNLIKELY(!p))
		return ret64_slow(c, i);
	uint64_t t = cpu_ld_host(p, 8);
	if (CPU_UNLIKELY((uint64_t)((int64_t)(t << 16) >> 16) != t))
		return ret64_slow(c, i);
	c->r.gpr[CPU_RSP] = sp + 8;
	c->r.rip = t;
	return CPU_H_BRANCH;
}
H(jmp_rm) { return branch_to(c, ip_mask(i, rd_rm(c, i, i->osz))); }
H(call_rm) {
	uint64_t t = ip_mask(i, rd_rm(c, i, i->osz));
	/* a bad stack (#SS) is reported before a non-canonical target (#GP) */
	cpu_seg_lin(c, CPU_SS, (c->r.gpr[CPU_RSP] - i->osz) & cpu_stack_mask(c), i->osz, CPU_ACC_W);
	check_target(c, t);
	cpu_push(c, i->osz, CPU_NEXT_RIP(c, i));
	return branch_to(c, ip_mask(i, t));
}
H(loop) {
	int op = i->op, as = i->asz;
	uint64_t cx = cpu_get_reg(c, CPU_RCX, as);
	bool take;
	if (op != 0xe3) {
		cx = (cx - 1) & cpu_size_mask(as);
		cpu_set_reg(c, CPU_RCX, as, cx);
		take = cx != 0;
		if (op == 0xe0)
			take = take && !cpu_cond(c, 4);
		else if (op == 0xe1)
			take = take && cpu_cond(c, 4);
	} else {
		take = cx == 0;
	}
	uint64_t next = CPU_NEXT_RIP(c, i);
	return branch_to(c, take ? ip_mask(i, next + i->imm) : next);
}

/* ---- far transfers ---- */
H(jmp_far_ptr) {
	cpu_far_transfer(c, i->imm2, i->imm, i->osz, false, 0);
	return CPU_H_BRANCH;
}
H(call_far_ptr) {
	cpu_far_transfer(c, i->imm2, i->imm, i->osz, true, CPU_NEXT_RIP(c, i));
	return CPU_H_BRANCH;
}
H(far_rm) {
	uint64_t off = cpu_ea(c, i);
	uint64_t ip = cpu_rd(c, i->seg, off, i->osz);
	uint16_t sel = (uint16_t)cpu_rd(c, i->seg, (off + i->osz) & cpu_size_mask(i->asz), 2);
	bool call = ((i->modrm >> 3) & 7) == 3;
	cpu_far_transfer(c, sel, ip, i->osz, call, CPU_NEXT_RIP(c, i));
	return CPU_H_BRANCH;
}
H(ret_far) {
	cpu_far_ret(c, i->osz, i->op == 0xca ? (uint16_t)i->imm : 0);
	return CPU_H_BRANCH;
}
H(iret) {
	if ((c->r.rflags & CPU_VM) && ((c->r.rflags >> 12) & 3) != 3)
		cpu_raise_gp(c, 0);
	cpu_iret(c, i->osz);
	return CPU_H_BRANCH;
}

/* ---- software interrupts ---- */
static int soft_int(struct cpu *c, const struct insn *i, int vec, int kind)
{
	if (kind == CPU_INT_SOFT && (c->r.rflags & CPU_VM) && ((c->r.rflags >> 12) & 3) != 3)
		cpu_raise_gp(c, 0);
	c->r.rip = CPU_NEXT_RIP(c, i);
	cpu_interrupt(c, vec, kind, false, 0);
	return CPU_H_BRANCH;
}
H(int_n) { return soft_int(c, i, (uint8_t)i->imm, CPU_INT_SOFT); }
H(int3) { return soft_int(c, i, CPU_EXC_BP, CPU_INT_SOFT); }
H(int1) { return soft_int(c, i, CPU_EXC_DB, CPU_INT_ICEBP); }
H(into) {
	if (!cpu_cond(c, 0))
		NEXT;
	return soft_int(c, i, CPU_EXC_OF, CPU_INT_SOFT);
}
H(bound) {
	uint64_t off = cpu_ea(c, i);
	int64_t lo = (int64_t)sx(cpu_rd(c, i->seg, off, i->osz), i->osz);
	int64_t hi = (int64_t)sx(cpu_rd(c, i->seg, (off + i->osz) & cpu_size_mask(i->asz), i->osz), i->osz);
	int64_t v = (int64_t)sx(cpu_get_reg(c, i->reg, i->osz), i->osz);
	if (v < lo || v > hi)
		cpu_raise(c, CPU_EXC_BR, false, 0);
	NEXT;
}
H(arpl) {
	if (!(c->r.cr0 & CPU_CR0_PE) || (c->r.rflags & CPU_VM))
		cpu_raise_ud(c);
	uint16_t d = (uint16_t)rd_rm(c, i, 2), s = (uint16_t)cpu_get_reg(c, i->reg, 2);
	if ((d & 3) < (s & 3)) {
		wr_rm(c, i, 2, (d & ~3) | (s & 3));
		set_flags(c, CPU_ZF, CPU_ZF);
	} else {
		set_flags(c, 0, CPU_ZF);
	}
	NEXT;
}

/* ---- selection ---- */

static cpu_handler_fn sel_mov(struct insn *i)
{
	bool mem = i->flags & CPU_IF_MEM;
	const cpu_handler_fn *ea = mov_ea_tab[cpu_ea_kind(i)];
	switch (i->op) {
	case 0x88: case 0x89:
		if (mem)
			return i->osz == 8 ? ea[2] : i->osz == 4 ? ea[3] : mov_rm_r_mem;
		return i->osz == 8 ? mov_r64_r : i->osz == 4 ? mov_r32_r : mov_rm_r_reg;
	default:   /* 8A, 8B */
		if (mem)
			return i->osz == 8 ? ea[0] : i->osz == 4 ? ea[1] : mov_r_rm_mem;
		{
			uint8_t t = i->reg;
			i->reg = i->rm;
			i->rm = t;
		}
		return i->osz == 8 ? mov_r64_r : i->osz == 4 ? mov_r32_r : mov_rm_r_reg;
	}
}

static cpu_handler_fn sel_grp5(struct insn *i)
{
	switch ((i->modrm >> 3) & 7) {
	case 2: if (i->mode == 64) i->osz = 8; return call_rm;
	case 3: case 5: return far_rm;
	case 4: if (i->mode == 64) i->osz = 8; return jmp_rm;
	case 6: if (i->mode == 64 && i->osz == 4) i->osz = 8; return push_rm;
	default: return NULL;
	}
}

cpu_handler_fn cpu_ctl_select(struct insn *i)
{
	bool m64 = i->mode == 64;
	switch (i->op) {
	case 0x88 ... 0x8b: return sel_mov(i);
	case 0x8c: return mov_rm_sreg;
	case 0x8e: return ((i->modrm >> 3) & 7) == CPU_CS ? NULL : mov_sreg_rm;
	case 0x8d: return sel_lea(i);
	case 0xc6: case 0xc7: i->imm &= cpu_size_mask(i->osz); return mov_rm_imm;
	case 0xb0 ... 0xbf: return mov_r_imm;
	case 0xa0 ... 0xa3: return mov_moffs;
	case 0x1b6: case 0x1b7: return sel_movzx(i);
	case 0x1be: case 0x1bf: return movsx;
	case 0x63: return m64 ? movsxd : arpl;
	case 0x62: return bound;
	case 0x140 ... 0x14f:
		return i->osz == 8 ? cmov8_tab[i->op & 15] : i->osz == 4 ? cmov4_tab[i->op & 15] : cmov;
	case 0x190 ... 0x19f:
		return (i->flags & CPU_IF_MEM) ? setcc : setr_tab[i->op & 15];
	case 0x1c8 ... 0x1cf: return bswap;
	case 0xc4: case 0xc5: case 0x1b2: case 0x1b4: case 0x1b5: return load_far_ptr;
	case 0x98: return cbw;
	case 0x99: return cwd;
	case 0x9e: return sahf;
	case 0x9f: return lahf;
	case 0xf5: case 0xf8: case 0xf9: case 0xfc: case 0xfd: return flag_op;
	case 0xd6: return salc;
	case 0xd7: return xlat;
	case 0x90: return (i->pfx & CPU_PFX_REP) ? NULL : nop;   /* F3 90 = PAUSE (cpu_sys) */
	case 0x118 ... 0x11f: case 0x10d: return nop;
	case 0x50 ... 0x57: return m64 && i->osz == 8 ? push_r64 : push_r;
	case 0x58 ... 0x5f: return m64 && i->osz == 8 ? pop_r64 : pop_r;
	case 0x68: case 0x6a: return push_imm;
	case 0x8f: return pop_rm;
	case 0x06: case 0x0e: case 0x16: case 0x1e: case 0x1a0: case 0x1a8: return push_seg;
	case 0x07: case 0x17: case 0x1f: case 0x1a1: case 0x1a9: return pop_seg;
	case 0x60: return pusha;
	case 0x61: return popa;
	case 0x9c: return pushf;
	case 0x9d: return popf;
	case 0xc8: return enter;
	case 0xc9: return leave;
	case 0x70 ... 0x7f: case 0x180 ... 0x18f: return m64 && i->osz == 8 ? jcc64_tab[i->op & 15] : jcc;
	case 0xe9: case 0xeb: return jmp_rel;
	case 0xe8: return m64 ? call_rel64 : call_rel;
	case 0xc2: return ret_near;
	case 0xc3: return m64 && i->osz == 8 ? ret64 : ret_near;
	case 0xe0 ... 0xe3: return loop;
	case 0xff: return sel_grp5(i);
	case 0xea: return jmp_far_ptr;
	case 0x9a: return call_far_ptr;
	case 0xca: case 0xcb: return ret_far;
	case 0xcf: return iret;
	case 0xcd: return int_n;
	case 0xcc: return int3;
	case 0xf1: return int1;
	case 0xce: return into;
	default: return NULL;
	}
}
