/*
 * String instructions (MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS) with REP/REPE/REPNE, and port
 * I/O (IN, OUT) with the IOPL / TSS I/O-permission-bitmap checks.  REP loops run in chunks and
 * restart the instruction so interrupts are taken between iterations; REP MOVS/STOS on RAM
 * copy page-sized runs with memmove/memset.
 */
#include "cpu/cpu_ops.h"

#define REP_CHUNK 16384

/* ---- port I/O ---- */

static void io_check(struct cpu *c, uint16_t port, int size)
{
	if (!(c->r.cr0 & CPU_CR0_PE))
		return;
	int iopl = (c->r.rflags >> 12) & 3;
	if (!(c->r.rflags & CPU_VM) && c->cpl <= iopl)
		return;
	struct cpu_segment *tr = &c->r.seg[CPU_TR];
	if ((tr->attr & 0xf) < 9 || tr->limit < 0x67)
		cpu_raise_gp(c, 0);
	uint16_t base = (uint16_t)cpu_rd_lin(c, tr->base + 0x66, 2, true);
	uint32_t byte = base + port / 8;
	if (byte + 1 > tr->limit)
		cpu_raise_gp(c, 0);
	uint16_t bits = (uint16_t)cpu_rd_lin(c, tr->base + byte, 2, true);
	if ((bits >> (port & 7)) & ((1u << size) - 1))
		cpu_raise_gp(c, 0);
}

static uint32_t port_in(struct cpu *c, uint16_t port, int size)
{
	uint32_t v = 0xffffffffu;
	if (c->ops->pio_in && c->ops->pio_in(c->ctx, port, size, &v) == CPU_CB_ABORT)
		cpu_abort_exit(c, CPU_EXIT_ABORT, "port input failed");
	cpu_check_events(c);
	return size == 4 ? v : v & ((1u << (size * 8)) - 1);
}

static void port_out(struct cpu *c, uint16_t port, int size, uint32_t v)
{
	if (c->ops->pio_out && c->ops->pio_out(c->ctx, port, size, v) == CPU_CB_ABORT)
		cpu_abort_exit(c, CPU_EXIT_ABORT, "port output failed");
	cpu_check_events(c);
}

static int io_size(const struct insn *i)
{
	return i->osz == 1 ? 1 : i->osz == 2 ? 2 : 4;
}

H(in_op) {
	int sz = io_size(i);
	uint16_t port = (i->op & 8) ? (uint16_t)c->r.gpr[CPU_RDX] : (uint8_t)i->imm;
	io_check(c, port, sz);
	cpu_set_reg(c, CPU_RAX, sz, port_in(c, port, sz));
	NEXT;
}

H(out_op) {
	int sz = io_size(i);
	uint16_t port = (i->op & 8) ? (uint16_t)c->r.gpr[CPU_RDX] : (uint8_t)i->imm;
	io_check(c, port, sz);
	port_out(c, port, sz, (uint32_t)cpu_get_reg(c, CPU_RAX, sz));
	NEXT;
}

/* ---- string helpers ---- */

static inline uint64_t sreg(struct cpu *c, const struct insn *i, int r)
{
	return cpu_get_reg(c, r, i->asz);
}

static inline void sadv(struct cpu *c, const struct insn *i, int r, int64_t delta)
{
	cpu_set_reg(c, r, i->asz, c->r.gpr[r] + (uint64_t)delta);
}

static inline int64_t sdelta(struct cpu *c, int size)
{
	return (c->r.rflags & CPU_DF) ? -size : size;
}

/* One iteration of the string op; returns true if a REPE/REPNE condition ends the loop. */
static bool str_step(struct cpu *c, const struct insn *i)
{
	int sz = i->osz;
	int64_t d = sdelta(c, sz);
	uint64_t a, b;
	switch (i->op) {
	case 0xa4: case 0xa5:
		a = cpu_rd(c, i->seg, sreg(c, i, CPU_RSI), sz);
		cpu_wr(c, CPU_ES, sreg(c, i, CPU_RDI), sz, a);
		sadv(c, i, CPU_RSI, d);
		sadv(c, i, CPU_RDI, d);
		return false;
	case 0xa6: case 0xa7:
		a = cpu_rd(c, i->seg, sreg(c, i, CPU_RSI), sz);
		b = cpu_rd(c, CPU_ES, sreg(c, i, CPU_RDI), sz);
		set_lf(c, CPU_LF_SUB, sz, a, b, a - b);
		sadv(c, i, CPU_RSI, d);
		sadv(c, i, CPU_RDI, d);
		return true;
	case 0xaa: case 0xab:
		cpu_wr(c, CPU_ES, sreg(c, i, CPU_RDI), sz, c->r.gpr[CPU_RAX]);
		sadv(c, i, CPU_RDI, d);
		return false;
	case 0xac: case 0xad:
		a = cpu_rd(c, i->seg, sreg(c, i, CPU_RSI), sz);
		cpu_set_reg(c, CPU_RAX, sz, a);
		sadv(c, i, CPU_RSI, d);
		return false;
	case 0xae: case 0xaf:
		a = cpu_get_reg(c, CPU_RAX, sz);
		b = cpu_rd(c, CPU_ES, sreg(c, i, CPU_RDI), sz);
		set_lf(c, CPU_LF_SUB, sz, a, b, a - b);
		sadv(c, i, CPU_RDI, d);
		return true;
	case 0x6c: case 0x6d: {
		uint16_t port = (uint16_t)c->r.gpr[CPU_RDX];
		int s = io_size(i);
		io_check(c, port, s);
		/* check the destination before the (side-effecting) port read */
		uint64_t off = sreg(c, i, CPU_RDI);
		cpu_wr(c, CPU_ES, off, s, cpu_rd(c, CPU_ES, off, s));
		cpu_wr(c, CPU_ES, off, s, port_in(c, port, s));
		sadv(c, i, CPU_RDI, sdelta(c, s));
		return false;
	}
	default: { /* 6E, 6F */
		uint16_t port = (uint16_t)c->r.gpr[CPU_RDX];
		int s = io_size(i);
		io_check(c, port, s);
		a = cpu_rd(c, i->seg, sreg(c, i, CPU_RSI), s);
		port_out(c, port, s, (uint32_t)a);
		sadv(c, i, CPU_RSI, sdelta(c, s));
		return false;
	}
	}
}

H(str_once) { str_step(c, i); NEXT; }

/* Fast bulk run of REP MOVS / REP STOS within pages; returns elements done (0 = use slow). */
static uint64_t rep_fast(struct cpu *c, const struct insn *i, uint64_t cnt)
{
	int sz = i->osz;
	if ((c->r.rflags & CPU_DF) || c->code_mode == 16)
		return 0;
	uint64_t di = sreg(c, i, CPU_RDI), si = sreg(c, i, CPU_RSI);
	uint64_t dla = cpu_seg_lin(c, CPU_ES, di, sz, CPU_ACC_W);
	uint64_t room = 0x1000 - (dla & 0xfff);
	bool movs = i->op == 0xa4 || i->op == 0xa5;
	uint64_t sla = 0;
	if (movs) {
		sla = cpu_seg_lin(c, i->seg, si, sz, CPU_ACC_R);
		uint64_t r2 = 0x1000 - (sla & 0xfff);
		room = r2 < room ? r2 : room;
	}
	uint64_t n = room / sz;
	if (n > cnt)
		n = cnt;
	if (n == 0)
		return 0;
	uint64_t bytes = n * sz;
	uint64_t am = cpu_size_mask(i->asz);
	if (di + bytes - 1 > am || (movs && si + bytes - 1 > am))
		return 0;   /* index register would wrap */
	if (c->code_mode != 64) {   /* segment limits for the whole run */
		cpu_seg_lin(c, CPU_ES, di, (int)bytes, CPU_ACC_W);
		if (movs)
			cpu_seg_lin(c, i->seg, si, (int)bytes, CPU_ACC_R);
	}
	uint8_t *s = NULL;
	if (movs) {
		s = cpu_lin_ptr(c, sla, CPU_ACC_R, c->user);
		if (!s)
			return 0;
	}
	uint8_t *d = cpu_lin_ptr(c, dla, CPU_ACC_W, c->user);
	if (!d)
		return 0;
	if (movs) {
		if (d > s && d < s + bytes)
			return 0;   /* forward overlap: element semantics differ from memmove */
		memmove(d, s, bytes);
		sadv(c, i, CPU_RSI, (int64_t)bytes);
	} else if (sz == 1) {
		memset(d, (uint8_t)c->r.gpr[CPU_RAX], bytes);
	} else {
		uint64_t v = c->r.gpr[CPU_RAX];
		for (uint64_t k = 0; k < n; k++)
			memcpy(d + k * sz, &v, sz);
	}
	sadv(c, i, CPU_RDI, (int64_t)bytes);
	return n;
}

H(str_rep) {
	uint64_t cnt = sreg(c, i, CPU_RCX);
	bool cond = i->op == 0xa6 || i->op == 0xa7 || i->op == 0xae || i->op == 0xaf;
	bool repne = i->pfx & CPU_PFX_REPNE;
	bool fast = i->op == 0xa4 || i->op == 0xa5 || i->op == 0xaa || i->op == 0xab;
	uint64_t done = 0;
	while (cnt && done < REP_CHUNK) {
		if (fast) {
			uint64_t n = rep_fast(c, i, cnt);
			if (n) {
				cnt -= n;
				done += n;
				cpu_set_reg(c, CPU_RCX, i->asz, cnt);
				continue;
			}
		}
		bool stop_cond = str_step(c, i);
		cnt--;
		done++;
		cpu_set_reg(c, CPU_RCX, i->asz, cnt);
		if (cond && stop_cond && (cpu_cond(c, 4) == repne))   /* ZF vs REPE/REPNE */
			break;
		if (c->stop)
			break;
	}
	if (cnt && done >= REP_CHUNK && !(cond && (cpu_cond(c, 4) == repne))) {
		c->r.rip = CPU_CUR_RIP(c, i);   /* restart: lets interrupts in */
		return CPU_H_BRANCH;
	}
	if (cnt && c->stop && !(cond && (cpu_cond(c, 4) == repne))) {
		c->stop = 0;
		c->r.rip = CPU_CUR_RIP(c, i);
		return CPU_H_BRANCH;
	}
	NEXT;
}

cpu_handler_fn cpu_str_select(struct insn *i)
{
	switch (i->op) {
	case 0x6c ... 0x6f: case 0xa4 ... 0xa7: case 0xaa ... 0xaf:
		if (i->op == 0x6d || i->op == 0x6f)
			i->osz = i->osz == 8 ? 4 : i->osz;
		return (i->pfx & (CPU_PFX_REP | CPU_PFX_REPNE)) ? str_rep : str_once;
	case 0xe4: case 0xe5: case 0xec: case 0xed:
		if (i->osz == 8)
			i->osz = 4;
		return in_op;
	case 0xe6: case 0xe7: case 0xee: case 0xef:
		if (i->osz == 8)
			i->osz = 4;
		return out_op;
	default: return NULL;
	}
}
