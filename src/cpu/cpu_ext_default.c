/*
 * Weak default x87/SSE hooks: used until the real implementations (fpu*.c, sse*.c) provide
 * strong definitions.  Every routed opcode then faults as on a CPU without the unit: #NM when
 * CR0.EM/TS say so (x87), #UD otherwise.  FWAIT is a NOP unless CR0.TS and CR0.MP are set.
 */
#include "cpu/cpu_ext.h"

static int cpu_ext_x87_missing(struct cpu *c, const struct insn *i)
{
	(void)i;
	cpu_fpu_check(c);
	cpu_raise_ud(c);
}

static int cpu_ext_fwait(struct cpu *c, const struct insn *i)
{
	(void)i;
	if ((c->r.cr0 & (CPU_CR0_TS | CPU_CR0_MP)) == (CPU_CR0_TS | CPU_CR0_MP))
		cpu_raise_nm(c);
	return CPU_H_NEXT;
}

__attribute__((weak)) cpu_handler_fn cpu_x87_select(const struct insn *i)
{
	if (i->op == 0x9b)
		return cpu_ext_fwait;
	return cpu_ext_x87_missing;
}

__attribute__((weak)) cpu_handler_fn cpu_sse_select(const struct insn *i)
{
	(void)i;
	return NULL;
}

bool cpu_ext_is_sse_op(uint8_t op2, uint8_t modrm)
{
	if ((op2 >= 0x10 && op2 <= 0x17) || (op2 >= 0x28 && op2 <= 0x2f) ||
	    (op2 >= 0x50 && op2 <= 0x7f) || (op2 >= 0xc2 && op2 <= 0xc6) || op2 >= 0xd0)
		return true;
	if (op2 == 0xae)
		return (modrm >> 6) != 3 && ((modrm >> 3) & 7) <= 3;
	return false;
}
