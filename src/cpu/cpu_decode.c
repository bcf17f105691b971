/*
 * x86 instruction decoder: prefixes, one-byte / 0F / 0F38 / 0F3A maps, ModRM, SIB,
 * displacement and immediates in 16-, 32- and 64-bit code, into a struct insn whose handler is
 * chosen here once (cpu_select_handler) so that execution needs no further decoding.
 */
#include "cpu/cpu_internal.h"
#include "cpu/cpu_ext.h"

/* Opcode attributes. */
#define A_M     0x0001  /* ModRM follows */
#define A_I8    0x0002  /* imm8 */
#define A_IZ    0x0004  /* imm16/imm32 by operand size (imm32 sign-extended for 64-bit) */
#define A_IV    0x0008  /* imm16/32/64 by operand size (MOV r, imm) */
#define A_I16   0x0010  /* imm16 */
#define A_ENTER 0x0020  /* imm16 + imm8 */
#define A_FAR   0x0040  /* ptr16:16 / ptr16:32 */
#define A_MOFFS 0x0080  /* moffs by address size */
#define A_B     0x0100  /* byte operand size */
#define A_D64   0x0200  /* operand size defaults to 64 in 64-bit mode */
#define A_F64   0x0400  /* operand size forced to 64 in 64-bit mode */
#define A_NO64  0x0800  /* invalid in 64-bit mode */
#define A_INV   0x1000  /* undefined opcode */
#define A_GRP3  0x2000  /* F6/F7: imm only for /0 and /1 */
#define A_LOCK  0x4000  /* LOCK allowed (memory destination) */

static const uint16_t op1_attr[256] = {
	/* ALU: 00-05 add, 08 or, 10 adc, 18 sbb, 20 and, 28 sub, 30 xor, 38 cmp */
	[0x00] = A_M | A_B | A_LOCK, [0x01] = A_M | A_LOCK, [0x02] = A_M | A_B, [0x03] = A_M,
	[0x04] = A_I8 | A_B, [0x05] = A_IZ, [0x06] = A_NO64, [0x07] = A_NO64,
	[0x08] = A_M | A_B | A_LOCK, [0x09] = A_M | A_LOCK, [0x0a] = A_M | A_B, [0x0b] = A_M,
	[0x0c] = A_I8 | A_B, [0x0d] = A_IZ, [0x0e] = A_NO64,
	[0x10] = A_M | A_B | A_LOCK, [0x11] = A_M | A_LOCK, [0x12] = A_M | A_B, [0x13] = A_M,
	[0x14] = A_I8 | A_B, [0x15] = A_IZ, [0x16] = A_NO64, [0x17] = A_NO64,
	[0x18] = A_M | A_B | A_LOCK, [0x19] = A_M | A_LOCK, [0x1a] = A_M | A_B, [0x1b] = A_M,
	[0x1c] = A_I8 | A_B, [0x1d] = A_IZ, [0x1e] = A_NO64, [0x1f] = A_NO64,
	[0x20] = A_M | A_B | A_LOCK, [0x21] = A_M | A_LOCK, [0x22] = A_M | A_B, [0x23] = A_M,
	[0x24] = A_I8 | A_B, [0x25] = A_IZ, [0x27] = A_NO64,
	[0x28] = A_M | A_B | A_LOCK, [0x29] = A_M | A_LOCK, [0x2a] = A_M | A_B, [0x2b] = A_M,
	[0x2c] = A_I8 | A_B, [0x2d] = A_IZ, [0x2f] = A_NO64,
	[0x30] = A_M | A_B | A_LOCK, [0x31] = A_M | A_LOCK, [0x32] = A_M | A_B, [0x33] = A_M,
	[0x34] = A_I8 | A_B, [0x35] = A_IZ, [0x37] = A_NO64,
	[0x38] = A_M | A_B, [0x39] = A_M, [0x3a] = A_M | A_B, [0x3b] = A_M,
	[0x3c] = A_I8 | A_B, [0x3d] = A_IZ, [0x3f] = A_NO64,
	[0x50 ... 0x5f] = A_D64,
	[0x60] = A_NO64, [0x61] = A_NO64, [0x62] = A_M | A_NO64, [0x63] = A_M,
	[0x68] = A_IZ | A_D64, [0x69] = A_M | A_IZ, [0x6a] = A_I8 | A_D64, [0x6b] = A_M | A_I8,
	[0x6c] = A_B, [0x6e] = A_B,
	[0x70 ... 0x7f] = A_I8 | A_F64,
	[0x80] = A_M | A_B | A_I8 | A_LOCK, [0x81] = A_M | A_IZ | A_LOCK,
	[0x82] = A_M | A_B | A_I8 | A_NO64 | A_LOCK, [0x83] = A_M | A_I8 | A_LOCK,
	[0x84] = A_M | A_B, [0x85] = A_M, [0x86] = A_M | A_B | A_LOCK, [0x87] = A_M | A_LOCK,
	[0x88] = A_M | A_B, [0x89] = A_M, [0x8a] = A_M | A_B, [0x8b] = A_M,
	[0x8c] = A_M, [0x8d] = A_M, [0x8e] = A_M, [0x8f] = A_M | A_D64,
	[0x9a] = A_FAR | A_NO64, [0x9c] = A_D64, [0x9d] = A_D64,
	[0xa0] = A_MOFFS | A_B, [0xa1] = A_MOFFS, [0xa2] = A_MOFFS | A_B, [0xa3] = A_MOFFS,
	[0xa4] = A_B, [0xa6] = A_B, [0xa8] = A_I8 | A_B, [0xa9] = A_IZ,
	[0xaa] = A_B, [0xac] = A_B, [0xae] = A_B,
	[0xb0 ... 0xb7] = A_I8 | A_B, [0xb8 ... 0xbf] = A_IV,
	[0xc0] = A_M | A_B | A_I8, [0xc1] = A_M | A_I8, [0xc2] = A_I16 | A_F64, [0xc3] = A_F64,
	[0xc4] = A_M | A_NO64, [0xc5] = A_M | A_NO64, [0xc6] = A_M | A_B | A_I8, [0xc7] = A_M | A_IZ,
	[0xc8] = A_ENTER | A_D64, [0xc9] = A_D64, [0xca] = A_I16, [0xcd] = A_I8,
	[0xce] = A_NO64,
	[0xd0] = A_M | A_B, [0xd1] = A_M, [0xd2] = A_M | A_B, [0xd3] = A_M,
	[0xd4] = A_I8 | A_NO64, [0xd5] = A_I8 | A_NO64, [0xd6] = A_NO64,
	[0xd8 ... 0xdf] = A_M,
	[0xe0 ... 0xe3] = A_I8 | A_F64, [0xe4] = A_I8 | A_B, [0xe5] = A_I8,
	[0xe6] = A_I8 | A_B, [0xe7] = A_I8, [0xe8] = A_IZ | A_F64, [0xe9] = A_IZ | A_F64,
	[0xea] = A_FAR | A_NO64, [0xeb] = A_I8 | A_F64, [0xec] = A_B, [0xee] = A_B,
	[0xf6] = A_M | A_B | A_GRP3 | A_LOCK, [0xf7] = A_M | A_GRP3 | A_LOCK,
	[0xfe] = A_M | A_B | A_LOCK, [0xff] = A_M | A_LOCK,
};

static const uint16_t op2_attr[256] = {
	[0x00] = A_M, [0x01] = A_M, [0x02] = A_M, [0x03] = A_M, [0x04] = A_INV,
	[0x0a] = A_INV, [0x0c] = A_INV, [0x0d] = A_M, [0x0e] = A_INV, [0x0f] = A_INV,
	[0x10 ... 0x1f] = A_M,
	[0x20 ... 0x23] = A_M, [0x24 ... 0x27] = A_INV,
	[0x28 ... 0x2f] = A_M,
	[0x36] = A_INV, [0x38 ... 0x3f] = A_INV,
	[0x40 ... 0x4f] = A_M,
	[0x50 ... 0x6f] = A_M, [0x70 ... 0x73] = A_M | A_I8, [0x74 ... 0x76] = A_M,
	[0x78 ... 0x79] = A_M, [0x7a ... 0x7b] = A_INV, [0x7c ... 0x7f] = A_M,
	[0x80 ... 0x8f] = A_IZ | A_F64,
	[0x90 ... 0x9f] = A_M | A_B,
	[0xa0] = A_D64, [0xa1] = A_D64, [0xa3] = A_M, [0xa4] = A_M | A_I8, [0xa5] = A_M,
	[0xa6] = A_INV, [0xa7] = A_INV, [0xa8] = A_D64, [0xa9] = A_D64,
	[0xab] = A_M | A_LOCK, [0xac] = A_M | A_I8, [0xad] = A_M, [0xae] = A_M, [0xaf] = A_M,
	[0xb0] = A_M | A_B | A_LOCK, [0xb1] = A_M | A_LOCK, [0xb2] = A_M, [0xb3] = A_M | A_LOCK,
	[0xb4 ... 0xb5] = A_M, [0xb6 ... 0xb7] = A_M, [0xb8 ... 0xb9] = A_M,
	[0xba] = A_M | A_I8 | A_LOCK, [0xbb] = A_M | A_LOCK, [0xbc ... 0xbf] = A_M,
	[0xc0] = A_M | A_B | A_LOCK, [0xc1] = A_M | A_LOCK, [0xc2] = A_M | A_I8, [0xc3] = A_M,
	[0xc4 ... 0xc6] = A_M | A_I8, [0xc7] = A_M | A_LOCK,
	[0xd0 ... 0xff] = A_M,
};

/* 16-bit addressing: base/index pairs for rm 0..7 */
static const uint8_t rm16_base[8] = { CPU_RBX, CPU_RBX, CPU_RBP, CPU_RBP, CPU_RSI, CPU_RDI, CPU_RBP, CPU_RBX };
static const uint8_t rm16_index[8] = { CPU_RSI, CPU_RDI, CPU_RSI, CPU_RDI, CPU_NOREG, CPU_NOREG, CPU_NOREG, CPU_NOREG };

struct dec {
	const uint8_t *p;
	size_t n, pos;
	int err;  /* 0 ok, 1 need more bytes */
};

static uint64_t dec_bytes(struct dec *d, int cnt)
{
	uint64_t v = 0;
	if (d->pos + cnt > d->n || d->pos + cnt > 15) {
		d->err = 1;
		d->pos += cnt;
		return 0;
	}
	for (int k = 0; k < cnt; k++)
		v |= (uint64_t)d->p[d->pos + k] << (8 * k);
	d->pos += cnt;
	return v;
}

static int64_t sext(uint64_t v, int bytes)
{
	int sh = 64 - 8 * bytes;
	return (int64_t)(v << sh) >> sh;
}

static void dec_modrm16(struct dec *d, struct insn *i, int mod, int rm)
{
	if (mod == 0 && rm == 6) {
		i->disp = (int32_t)(uint16_t)dec_bytes(d, 2);
		i->disp = (int16_t)i->disp;
		return;
	}
	i->base = rm16_base[rm];
	i->index = rm16_index[rm];
	if (rm == 2 || rm == 3 || rm == 6)
		i->seg = CPU_SS;
	if (mod == 1)
		i->disp = (int8_t)dec_bytes(d, 1);
	else if (mod == 2)
		i->disp = (int16_t)dec_bytes(d, 2);
}

static void dec_modrm32(struct dec *d, struct insn *i, int mod, int rm, int mode)
{
	int rexb = (i->rex & 1) << 3, rexx = (i->rex & 2) << 2;
	if (rm == 4) {
		uint8_t sib = (uint8_t)dec_bytes(d, 1);
		int idx = ((sib >> 3) & 7) | rexx, base = sib & 7;
		i->scale = sib >> 6;
		if (idx != 4)
			i->index = idx;
		if (base == 5 && mod == 0) {
			i->disp = (int32_t)dec_bytes(d, 4);
		} else {
			i->base = base | rexb;
			if (base == 4 || base == 5)
				i->seg = CPU_SS;
		}
	} else if (rm == 5 && mod == 0) {
		i->disp = (int32_t)dec_bytes(d, 4);
		if (mode == 64)
			i->flags |= CPU_IF_RIPREL;
		return;
	} else {
		i->base = rm | rexb;
		if (rm == 5)
			i->seg = CPU_SS;
	}
	if (mod == 1)
		i->disp = (int8_t)dec_bytes(d, 1);
	else if (mod == 2)
		i->disp = (int32_t)dec_bytes(d, 4);
}

static void dec_modrm(struct dec *d, struct insn *i, int mode)
{
	uint8_t m = (uint8_t)dec_bytes(d, 1);
	int mod = m >> 6, rm = m & 7;
	i->modrm = m;
	i->flags |= CPU_IF_MODRM;
	i->reg = ((m >> 3) & 7) | ((i->rex & 4) << 1);
	i->rm = rm | ((i->rex & 1) << 3);
	/* MOV to/from CR/DR: mod is ignored (always register operands, no SIB/disp). */
	if (mod == 3 || (i->op >= 0x120 && i->op <= 0x123))
		return;
	i->flags |= CPU_IF_MEM;
	if (!(i->pfx & CPU_PFX_SEG))
		i->seg = CPU_DS;
	uint8_t defseg = i->seg;
	if (i->asz == 2)
		dec_modrm16(d, i, mod, rm);
	else
		dec_modrm32(d, i, mod, rm, mode);
	if (i->pfx & CPU_PFX_SEG)
		i->seg = defseg;
}

/* Returns 1 if the prefix byte b was consumed. */
static int dec_prefix(struct insn *i, uint8_t b, int mode)
{
	switch (b) {
	case 0xf0: i->pfx |= CPU_PFX_LOCK; break;
	case 0xf2: i->pfx = (i->pfx & ~CPU_PFX_REP) | CPU_PFX_REPNE; break;
	case 0xf3: i->pfx = (i->pfx & ~CPU_PFX_REPNE) | CPU_PFX_REP; break;
	case 0x66: i->pfx |= CPU_PFX_OPSZ; break;
	case 0x67: i->pfx |= CPU_PFX_ADSZ; break;
	/* ES/CS/SS/DS overrides are ignored in 64-bit mode (the default segment stays, which
	 * matters for #SS vs #GP on non-canonical stack references) */
	case 0x26: if (mode != 64) { i->seg = CPU_ES; i->pfx |= CPU_PFX_SEG; } break;
	case 0x2e: if (mode != 64) { i->seg = CPU_CS; i->pfx |= CPU_PFX_SEG; } break;
	case 0x36: if (mode != 64) { i->seg = CPU_SS; i->pfx |= CPU_PFX_SEG; } break;
	case 0x3e: if (mode != 64) { i->seg = CPU_DS; i->pfx |= CPU_PFX_SEG; } break;
	case 0x64: i->seg = CPU_FS; i->pfx |= CPU_PFX_SEG; break;
	case 0x65: i->seg = CPU_GS; i->pfx |= CPU_PFX_SEG; break;
	default: return 0;
	}
	return 1;
}

static void dec_sizes(struct insn *i, int mode, uint16_t attr)
{
	bool o16 = i->pfx & CPU_PFX_OPSZ, a16 = i->pfx & CPU_PFX_ADSZ;
	if (mode == 64) {
		i->asz = a16 ? 4 : 8;
		if (i->rex & 8)
			i->osz = 8;
		else if (attr & A_F64)
			i->osz = 8;
		else if (attr & A_D64)
			i->osz = o16 ? 2 : 8;
		else
			i->osz = o16 ? 2 : 4;
	} else {
		int def = mode == 32 ? 4 : 2;
		i->asz = a16 ? 6 - def : def;
		i->osz = o16 ? 6 - def : def;
	}
	if (attr & A_B)
		i->osz = 1;
}

static int dec_imm(struct dec *d, struct insn *i, uint16_t attr, int mode)
{
	if (attr & A_GRP3) {   /* F6/F7: TEST r/m, imm for /0 and /1 only */
		if (((i->modrm >> 3) & 7) > 1)
			return 0;
		attr |= i->osz == 1 ? A_I8 : A_IZ;
	}
	if (attr & A_I8) {
		i->imm = (uint64_t)(int8_t)dec_bytes(d, 1);
	} else if (attr & A_IZ) {
		int sz = i->osz == 2 ? 2 : 4;
		i->imm = (uint64_t)sext(dec_bytes(d, sz), sz);
	} else if (attr & A_IV) {
		i->imm = dec_bytes(d, i->osz);
	} else if (attr & A_I16) {
		i->imm = dec_bytes(d, 2);
	} else if (attr & A_ENTER) {
		i->imm = dec_bytes(d, 2);
		i->imm2 = (uint16_t)dec_bytes(d, 1);
	} else if (attr & A_FAR) {
		i->imm = dec_bytes(d, i->osz);
		i->imm2 = (uint16_t)dec_bytes(d, 2);
	} else if (attr & A_MOFFS) {
		i->imm = dec_bytes(d, i->asz);
	}
	(void)mode;
	return 0;
}

/* Group-level undefined encodings (length is still known). */
static bool dec_group_invalid(const struct insn *i, int mode)
{
	int reg = (i->modrm >> 3) & 7;
	bool mem = i->flags & CPU_IF_MEM;
	switch (i->op) {
	case 0x8f: case 0xc6: case 0xc7: return reg != 0;
	case 0xfe: return reg > 1;
	case 0xff: return reg == 7 || (!mem && (reg == 3 || reg == 5));
	case 0x8c: return reg > 5;
	case 0x8e: return reg > 5 || reg == 1;
	case 0x8d: case 0x62: case 0xc4: case 0xc5: return !mem;
	case 0x100: return reg > 5;
	case 0x1b2: case 0x1b4: case 0x1b5: return !mem;
	case 0x1ba: return reg < 4;
	case 0x1c7:
		if (mem)
			return reg != 1;
		return reg < 6;
	case 0x120: case 0x122: return reg == 1 || reg == 5 || reg == 6 || reg > 8;
	case 0x121: case 0x123: return reg > 7;
	case 0x101: return mem && reg == 5;
	case 0x178: case 0x179: return (i->pfx & (CPU_PFX_OPSZ | CPU_PFX_REP | CPU_PFX_REPNE)) != 0;
	default: return false;
	}
}

static bool dec_lock_ok(const struct insn *i)
{
	if (!(i->flags & CPU_IF_MEM))
		return false;
	int reg = (i->modrm >> 3) & 7;
	switch (i->op) {
	case 0x80: case 0x81: case 0x82: case 0x83: return reg != 7;
	case 0xf6: case 0xf7: return reg == 2 || reg == 3;
	case 0xfe: case 0xff: return reg <= 1;
	case 0x1ba: return reg >= 5;
	case 0x1c7: return reg == 1;
	default: return true;
	}
}

static int dec_escape(struct dec *d, struct insn *i, int *map)
{
	uint8_t b = (uint8_t)dec_bytes(d, 1);
	if (d->err)
		return 0;
	if (b == 0x38 || b == 0x3a) {
		*map = b == 0x38 ? 2 : 3;
		b = (uint8_t)dec_bytes(d, 1);
	} else {
		*map = 1;
	}
	return (*map << 8) | b;
}

/* "+r" opcodes and legacy byte registers (AH/CH/DH/BH are 16..19 without REX). */
static void dec_regs(struct insn *i, uint16_t attr)
{
	uint16_t op = i->op;
	if ((op >= 0x40 && op <= 0x5f) || (op >= 0x90 && op <= 0x97) || (op >= 0xb0 && op <= 0xbf) ||
	    (op >= 0x1c8 && op <= 0x1cf))
		i->reg = (op & 7) | ((i->rex & 1) << 3);
	if (i->pfx & CPU_PFX_REX)
		return;
	bool rmbyte = (attr & A_B) || op == 0x1b6 || op == 0x1be;
	if ((attr & A_B) && i->reg >= 4 && i->reg < 8)
		i->reg += 12;
	if (rmbyte && !(i->flags & CPU_IF_MEM) && (i->flags & CPU_IF_MODRM) && i->rm >= 4 && i->rm < 8)
		i->rm += 12;
}

static int dec_body(struct dec *d, struct insn *i, int mode)
{
	uint8_t b;
	for (;;) {
		if (d->pos >= d->n) {
			d->err = 1;
			return 0;
		}
		if (d->pos >= 15)
			return -1;
		b = d->p[d->pos++];
		if (dec_prefix(i, b, mode)) {
			i->rex = 0;          /* a REX not directly before the opcode is ignored */
			i->pfx &= ~CPU_PFX_REX;
			continue;
		}
		if (mode == 64 && (b & 0xf0) == 0x40) {
			i->rex = b;
			i->pfx |= CPU_PFX_REX;
			continue;
		}
		break;
	}
	int map = 0;
	uint16_t attr;
	if (b == 0x0f) {
		int op = dec_escape(d, i, &map);
		if (d->err)
			return 0;
		i->op = (uint16_t)op;
		if (map == 1)
			attr = op2_attr[op & 0xff];
		else
			attr = A_M | (map == 3 ? A_I8 : 0);
	} else {
		i->op = b;
		attr = op1_attr[b];
	}
	if ((attr & A_INV) || (mode == 64 && (attr & A_NO64)))
		return -1;
	dec_sizes(i, mode, attr);
	if (attr & A_M)
		dec_modrm(d, i, mode);
	if (i->op == 0x1ae && !(i->flags & CPU_IF_MEM) && ((i->modrm >> 3) & 7) < 5)
		return -1;
	dec_imm(d, i, attr, mode);
	if (d->err)
		return 0;
	dec_regs(i, attr);
	if (dec_group_invalid(i, mode))
		return -1;
	if ((i->pfx & CPU_PFX_LOCK) && (!(attr & A_LOCK) || !dec_lock_ok(i)))
		return -1;
	if ((mode != 64 && (i->op == 0xc4 || i->op == 0xc5)) && !(i->flags & CPU_IF_MEM))
		return -1;
	return (int)d->pos;
}

static int dec_prelen(const uint8_t *bytes, size_t n, int mode, struct insn *i)
{
	struct dec d = { bytes, n, 0, 0 };
	memset(i, 0, sizeof(*i));
	i->base = i->index = CPU_NOREG;
	i->seg = CPU_DS;
	i->mode = (uint8_t)mode;
	int r = dec_body(&d, i, mode);
	if (r < 0)
		return -1;
	if (d.err)
		return d.pos >= 15 ? -1 : 0;
	if (d.pos > 15)
		return -1;
	return r;
}

int cpu_decode(struct insn *i, const uint8_t *bytes, size_t n, int mode)
{
	int len = dec_prelen(bytes, n, mode, i);
	if (len <= 0)
		return len;
	i->len = (uint8_t)len;
	i->h = cpu_select_handler(i);
	return len;
}

int cpu_decode_length(const uint8_t *bytes, size_t n, int mode)
{
	struct insn i;
	if (mode != 16 && mode != 32 && mode != 64)
		return -1;
	int r = cpu_decode(&i, bytes, n, mode);
	return r <= 0 ? -1 : r;
}
