/*
 * Decode-time handler selection: routes x87/SSE opcodes to the extension hooks and every other
 * opcode to the handler tables of the integer/system files.
 */
#include "cpu/cpu_ops.h"
#include "cpu/cpu_ext.h"

cpu_handler_fn cpu_select_handler(struct insn *i)
{
	cpu_handler_fn h;
	if ((i->op >= 0xd8 && i->op <= 0xdf) || i->op == 0x9b) {
		h = cpu_x87_select(i);
		return h ? h : cpu_h_ud;
	}
	if ((i->op >> 8) == 1 && cpu_ext_is_sse_op((uint8_t)i->op, i->modrm)) {
		h = cpu_sse_select(i);
		return h ? h : cpu_h_ud;
	}
	if ((i->op >> 8) >= 2)
		return cpu_h_ud;
	if ((h = cpu_alu_select(i)) || (h = cpu_ctl_select(i)) || (h = cpu_str_select(i)) ||
	    (h = cpu_sys_select(i)))
		return h;
	return cpu_h_ud;
}

/* Instructions after which decoding a block stops (they always transfer control or change
 * state that decoding depends on). */
bool cpu_insn_ends_block(const struct insn *i)
{
	switch (i->op) {
	case 0x70 ... 0x7f: case 0x180 ... 0x18f: case 0xe0 ... 0xe3:
	case 0xe8: case 0xe9: case 0xea: case 0xeb: case 0x9a:
	case 0xc2: case 0xc3: case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf:
	case 0xf1: case 0xf4: case 0xfb: case 0x9d: case 0x17:
	case 0x105: case 0x107: case 0x134: case 0x135: case 0x10b: case 0x130:
	case 0x122: case 0x106:
		return true;
	case 0x8e: return ((i->modrm >> 3) & 7) == CPU_SS;
	case 0xff: { int r = (i->modrm >> 3) & 7; return r >= 2 && r <= 5; }
	case 0x101: return ((i->modrm >> 3) & 7) == 6;
	default: return false;
	}
}
