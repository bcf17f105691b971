/*
 * x87 FPU (D8-DF escapes, FWAIT).
 *
 * Validity, CR0.EM/TS (#NM), pending unmasked exceptions (#MF before a waiting instruction),
 * guest memory operands and the x87 pointer registers (FIP/FDP/FOP) are handled here; the
 * arithmetic itself (80-bit extended precision, rounding and precision control, stack
 * faults, condition codes, transcendentals) runs on the host x87 unit with the guest's state
 * loaded (sse_host.h), so results are those of real hardware.
 */
#include "cpu/sse_host.h"
#include "cpu/sse_int.h"

/* Memory forms: operand size and direction per (escape, ModRM.reg). */
#define FM_R  0x100   /* read */
#define FM_W  0x200   /* write */
#define FM_NW 0x400   /* non-waiting (no #MF check) */
#define FM_CTL 0x800  /* control instruction: leaves FIP/FDP/FOP alone */
#define FM_ENV 0x1000 /* environment image (14/28 bytes; +80 for FNSAVE/FRSTOR) */

static const uint16_t fpu_mem[8][8] = {
	/* D8 m32fp */ { FM_R | 4, FM_R | 4, FM_R | 4, FM_R | 4, FM_R | 4, FM_R | 4, FM_R | 4, FM_R | 4 },
	/* D9 */ { FM_R | 4, 0, FM_W | 4, FM_W | 4, FM_R | FM_ENV | FM_CTL, FM_R | 2 | FM_CTL,
		   FM_W | FM_ENV | FM_NW | FM_CTL, FM_W | 2 | FM_NW | FM_CTL },
	/* DA m32int */ { FM_R | 4, FM_R | 4, FM_R | 4, FM_R | 4, FM_R | 4, FM_R | 4, FM_R | 4, FM_R | 4 },
	/* DB */ { FM_R | 4, 0, FM_W | 4, FM_W | 4, 0, FM_R | 10, 0, FM_W | 10 },
	/* DC m64fp */ { FM_R | 8, FM_R | 8, FM_R | 8, FM_R | 8, FM_R | 8, FM_R | 8, FM_R | 8, FM_R | 8 },
	/* DD */ { FM_R | 8, 0, FM_W | 8, FM_W | 8, FM_R | FM_ENV | 80 | FM_CTL, 0,
		   FM_W | FM_ENV | 80 | FM_NW | FM_CTL, FM_W | 2 | FM_NW | FM_CTL },
	/* DE m16int */ { FM_R | 2, FM_R | 2, FM_R | 2, FM_R | 2, FM_R | 2, FM_R | 2, FM_R | 2, FM_R | 2 },
	/* DF */ { FM_R | 2, 0, FM_W | 2, FM_W | 2, FM_R | 10, FM_R | 8, FM_W | 10, FM_W | 8 },
};

/* Register forms (ModRM C0-FF) that exist, one bit per ModRM low 6 bits, per escape. */
static bool fpu_reg_valid(int esc, int m)
{
	switch (esc) {
	case 1: return m < 0x11 || (m >= 0x18 && m < 0x20) || m == 0x20 || m == 0x21 ||
		       m == 0x24 || m == 0x25 || (m >= 0x28 && m <= 0x2e) || m >= 0x30;
	case 2: return m < 0x20 || m == 0x29;
	case 3: return m < 0x20 || m == 0x22 || m == 0x23 || (m >= 0x28 && m < 0x38);
	case 4: return true;
	case 5: return m < 0x30;
	case 6: return m < 0x18 || m == 0x19 || m >= 0x20;
	case 7: return m < 0x20 || m == 0x20 || (m >= 0x28 && m < 0x38);
	default: return true;   /* D8 */
	}
}

static __thread struct sse_hctx fpu_ctx;

static bool fpu_nonwaiting_reg(int esc, int m)
{
	return (esc == 3 && (m == 0x22 || m == 0x23)) || (esc == 7 && m == 0x20);
}

/* Environment image fields that hold pointers: put the guest's values there, not the host's. */
static void fpu_patch_env(struct cpu *c, uint8_t *env, bool small, uint64_t fip, uint64_t fdp,
			  uint16_t fop)
{
	if (small) {
		uint16_t ip = (uint16_t)fip, dp = (uint16_t)fdp, cs = c->r.seg[CPU_CS].sel;
		uint16_t ds = c->r.seg[CPU_DS].sel;
		memcpy(env + 6, &ip, 2);
		memcpy(env + 8, &cs, 2);
		memcpy(env + 10, &dp, 2);
		memcpy(env + 12, &ds, 2);
	} else {
		uint32_t ip = (uint32_t)fip, dp = (uint32_t)fdp;
		uint32_t csop = c->r.seg[CPU_CS].sel | (uint32_t)(fop & 0x7ff) << 16;
		uint32_t ds = c->r.seg[CPU_DS].sel;
		memcpy(env + 12, &ip, 4);
		memcpy(env + 16, &csop, 4);
		memcpy(env + 20, &dp, 4);
		memcpy(env + 24, &ds, 4);
	}
}

/* Did the instruction raise an unmasked exception that suppresses a memory store? */
static bool fpu_store_suppressed(const uint8_t *fx)
{
	uint16_t fcw, fsw;
	memcpy(&fcw, fx, 2);
	memcpy(&fsw, fx + 2, 2);
	return (fsw & ~fcw & 0x1f) != 0;   /* IE DE ZE OE UE; a precision exception still stores */
}

static int fpu_exec(struct cpu *c, const struct insn *i)
{
	int esc = i->op & 7, m = i->modrm & 0x3f;
	bool mem = i->flags & CPU_IF_MEM;
	uint16_t fm = mem ? fpu_mem[esc][(i->modrm >> 3) & 7] : 0;
	bool nonwait = mem ? (fm & FM_NW) : fpu_nonwaiting_reg(esc, m);
	bool ctl = mem ? (fm & FM_CTL) : nonwait;
	struct sse_hctx *h = &fpu_ctx;

	cpu_fpu_check(c);
	if (!nonwait && sse_x87_pending(c))
		cpu_raise(c, CPU_EXC_MF, false, 0);
	int size = fm & 0xff;
	bool small = i->osz == 2;
	if (fm & FM_ENV)
		size += small ? 14 : 28;
	uint64_t off = 0;
	if (mem) {
		off = cpu_ea(c, i);
		if (fm & FM_R)
			cpu_rd_buf(c, i->seg, off, h->mem, (size_t)size);
	}
	uint64_t fip_old, fdp_old;
	memcpy(&fip_old, c->r.fx.bytes + SSE_FX_FIP, 8);
	memcpy(&fdp_old, c->r.fx.bytes + SSE_FX_FDP, 8);
	uint16_t fop_old = sse_get16(c, SSE_FX_FOP);

	memcpy(h->fx, c->r.fx.bytes, 512);
	uint32_t mx = sse_mxcsr(c) & SSE_MXCSR_MASK;
	memcpy(h->fx + SSE_FX_MXCSR, &mx, 4);
	h->rax = c->r.gpr[CPU_RAX];
	h->rflags = (cpu_get_rflags(c) & CPU_STATUS_FLAGS) | 0x202;

	uint8_t code[4];
	int n = 0;
	if (mem && small && (fm & FM_ENV))
		code[n++] = 0x66;
	code[n++] = (uint8_t)(0xd8 | esc);
	code[n++] = mem ? (uint8_t)((i->modrm & 0x38) | 2) : i->modrm;
	uint32_t key = 0x80000000u | (uint32_t)esc << 9 | (uint32_t)code[n - 1] << 1 | (n == 3);
	sse_stub_fn fn = sse_stub_get(key, SSE_STUB_X87, code, n);
	if (!fn)
		cpu_abort_exit(c, CPU_EXIT_INVALID, "fpu: out of stub memory");
	fn(h);

	uint64_t fip = CPU_CUR_RIP(c, i), fdp = mem ? off : fdp_old;
	uint16_t fop = (uint16_t)((esc << 8) | i->modrm);
	if (mem && (fm & FM_W) && !fpu_store_suppressed(h->fx)) {
		if (fm & FM_ENV)
			fpu_patch_env(c, h->mem, small, fip_old, fdp_old, fop_old);
		cpu_wr_buf(c, i->seg, off, h->mem, (size_t)size);
	}
	memcpy(c->r.fx.bytes, h->fx, SSE_FX_MXCSR);           /* FCW .. FDP */
	memcpy(c->r.fx.bytes + SSE_FX_ST, h->fx + SSE_FX_ST, 128);
	if (!ctl) {
		memcpy(c->r.fx.bytes + SSE_FX_FIP, &fip, 8);
		memcpy(c->r.fx.bytes + SSE_FX_FDP, &fdp, 8);
		sse_put16(c, SSE_FX_FOP, fop);
	} else if (!(esc == 3 && m == 0x23) && !(esc == 5 && mem && ((i->modrm >> 3) & 7) == 6)) {
		memcpy(c->r.fx.bytes + SSE_FX_FIP, &fip_old, 8);
		memcpy(c->r.fx.bytes + SSE_FX_FDP, &fdp_old, 8);
		sse_put16(c, SSE_FX_FOP, fop_old);
	} else {                                               /* FNINIT, FNSAVE: cleared */
		memset(c->r.fx.bytes + SSE_FX_FOP, 0, 18);
	}
	if (!mem && (esc == 3 || esc == 7) && m >= 0x28 && m < 0x38)   /* F(U)COMI(P) */
		cpu_set_status(c, (uint32_t)h->rflags & (CPU_ZF | CPU_PF | CPU_CF));
	if (!mem && esc == 7 && m == 0x20)                             /* FNSTSW AX */
		c->r.gpr[CPU_RAX] = h->rax;
	return CPU_H_NEXT;
}

static int fpu_fwait(struct cpu *c, const struct insn *i)
{
	(void)i;
	if ((c->r.cr0 & (CPU_CR0_TS | CPU_CR0_MP)) == (CPU_CR0_TS | CPU_CR0_MP))
		cpu_raise_nm(c);
	if (sse_x87_pending(c))
		cpu_raise(c, CPU_EXC_MF, false, 0);
	return CPU_H_NEXT;
}

static int fpu_missing(struct cpu *c, const struct insn *i)
{
	(void)i;
	cpu_fpu_check(c);
	cpu_raise_ud(c);
}

cpu_handler_fn cpu_x87_select(const struct insn *i)
{
	if (i->op == 0x9b)
		return fpu_fwait;
	if (i->op < 0xd8 || i->op > 0xdf)
		return NULL;
	int esc = i->op & 7;
	if (i->flags & CPU_IF_MEM) {
		if (!fpu_mem[esc][(i->modrm >> 3) & 7] || (i->pfx & CPU_PFX_LOCK))
			return fpu_missing;
		return fpu_exec;
	}
	return fpu_reg_valid(esc, i->modrm & 0x3f) ? fpu_exec : fpu_missing;
}
