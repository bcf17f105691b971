/*
 * Debug registers: instruction breakpoints (a fault before the instruction at DRn executes,
 * unless RFLAGS.RF is set) and data breakpoints (a trap after an instruction that wrote, or
 * read or wrote, the 1/2/4/8 bytes at DRn), reported in DR6.B0-B3.
 *
 * While any breakpoint is enabled in DR7 the run loop executes one instruction at a time
 * (cpu_dbg_before / cpu_dbg_after around it, as for RFLAGS.TF; see step_one in cpu_exec.c),
 * and pages holding a data
 * breakpoint get no TLB entries for reads and writes, so every access to them reaches the
 * checking slow path (cpu_dbg_data).  The fast paths see no change.
 */
#include "cpu/cpu_internal.h"

/* DR7 fields of breakpoint n */
static int bp_rw(uint64_t dr7, int n)
{
	return (int)(dr7 >> (16 + 4 * n)) & 3;
}

static uint64_t bp_len(uint64_t dr7, int n)
{
	static const uint8_t len[4] = { 1, 2, 8, 4 };
	return len[(dr7 >> (18 + 4 * n)) & 3];
}

static bool bp_on(uint64_t dr7, int n)
{
	return (dr7 >> (2 * n)) & 3;
}

bool cpu_dbg_data_page(const struct cpu *c, uint64_t la)
{
	uint64_t dr7 = c->r.dr[7];
	for (int n = 0; n < 4; n++) {
		if (!bp_on(dr7, n) || bp_rw(dr7, n) == 0 || bp_rw(dr7, n) == 2)
			continue;
		uint64_t a = c->r.dr[n] & ~(bp_len(dr7, n) - 1);
		if ((a >> 12) == (la >> 12))
			return true;
	}
	return false;
}

void cpu_dbg_data(struct cpu *c, uint64_t la, int size, bool write)
{
	uint64_t dr7 = c->r.dr[7];
	for (int n = 0; n < 4; n++) {
		int rw = bp_rw(dr7, n);
		if (!bp_on(dr7, n) || rw == 0 || rw == 2 || (rw == 1 && !write))
			continue;
		uint64_t len = bp_len(dr7, n), a = c->r.dr[n] & ~(len - 1);
		if (la < a + len && a < la + (uint64_t)size)
			c->dbg_hits |= 1u << n;
	}
}

/* Before one instruction: true when an instruction breakpoint fired (#DB delivered).  RF set
 * suppresses it (the run loop clears RF as the instruction starts). */
bool cpu_dbg_before(struct cpu *c)
{
	uint64_t dr7 = c->r.dr[7];
	c->dbg_hits = 0;
	if (c->r.rflags & CPU_RF)
		return false;
	uint64_t la = c->r.rip + (c->code_mode == 64 ? 0 : c->r.seg[CPU_CS].base);
	if (c->code_mode != 64)
		la &= 0xffffffffull;
	uint32_t hit = 0;
	for (int n = 0; n < 4; n++)
		if (bp_on(dr7, n) && bp_rw(dr7, n) == 0 && c->r.dr[n] == la)
			hit |= 1u << n;
	if (!hit)
		return false;
	c->r.dr[6] = (c->r.dr[6] & ~0xfull) | hit;
	cpu_interrupt(c, CPU_EXC_DB, CPU_INT_EXC, false, 0);
	return true;
}

/* After an instruction that completed: the data breakpoints it hit (DR6 bits). */
uint32_t cpu_dbg_after(struct cpu *c)
{
	uint32_t hits = c->dbg_hits;
	c->dbg_hits = 0;
	return hits;
}
