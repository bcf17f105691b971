/* Differential CPU test: expansion of form templates (sizes x register/memory x LOCK). */
#include "diff_forms.h"

void dfb_emit(struct dfb *b, const struct dproto *p, int size, int mem, int lock)
{
	if (b->n >= b->max)
		return;
	struct dform *f = &b->out[b->n++];
	memset(f, 0, sizeof(*f));
	int np = 0;
	if (lock)
		f->pfx[np++] = 0xf0;
	for (int i = 0; i < p->npfx; i++)
		f->pfx[np++] = p->pfx[i];
	if (size == 16)
		f->pfx[np++] = 0x66;
	f->npfx = (uint8_t)np;
	f->rexw = size == 64 && !p->d64;
	memcpy(f->op, p->op, 3);
	f->nop = p->nop;
	f->modrm = p->digit != -2 && !p->opreg;
	f->digit = p->digit >= 0 ? p->digit : -1;
	f->mem = (uint8_t)mem;
	f->rc_reg = p->rc_reg == RC_GPR && size == 8 ? RC_GPR8 : p->rc_reg;
	f->rc_rm = p->rc_rm == RC_GPR && size == 8 ? RC_GPR8 : p->rc_rm;
	if (p->opreg)
		f->rc_rm = size == 8 ? RC_GPR8 : RC_GPR;
	f->fixed_rm = (int8_t)(p->fixed_rm ? p->fixed_rm - 1 : -1);
	f->opreg = p->opreg;
	f->norex = p->norex;
	f->imm = p->imm == 0xff ? (uint8_t)(size == 8 ? 1 : size == 16 ? 2 : 4) : p->imm;
	f->align = p->align ? p->align : 1;
	f->misalign = p->misalign;
	f->osize = (uint8_t)size;
	f->kind = p->kind;
	f->sub = p->sub;
	f->fp = p->fp;
	f->undef = p->undef;
	f->implicit = p->implicit;
	f->fsw_undef = p->fsw_undef;
	f->memskip = p->memskip;
	f->known = p->known;
	char pf[32] = "";
	for (int i = 0; i < p->npfx; i++)
		snprintf(pf + strlen(pf), sizeof(pf) - strlen(pf), "%02x ", p->pfx[i]);
	snprintf(f->name, sizeof(f->name), "%s%s%s/%d%s", lock ? "lock " : "", pf, p->mn, size,
		 !f->modrm ? "" : mem ? " mem" : " reg");
}

void dfb_sizes(struct dfb *b, const struct dproto *p, int sizes)
{
	static const int sz[4] = { 8, 16, 32, 64 };
	for (int i = 0; i < 4; i++) {
		if (!(sizes & (1 << i)))
			continue;
		bool has_modrm = p->digit != -2 && !p->opreg;
		if (!has_modrm || p->where != 2)
			dfb_emit(b, p, sz[i], 0, 0);
		if (has_modrm && p->where != 1)
			dfb_emit(b, p, sz[i], 1, 0);
		if (has_modrm && p->lock)
			dfb_emit(b, p, sz[i], 1, 1);
	}
}
