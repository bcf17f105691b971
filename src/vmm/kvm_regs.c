/*
 * The register file (struct cpu_regs, cpu/cpu.h) to and from KVM: general registers
 * (KVM_GET/SET_REGS), segments, descriptor tables, control registers and EFER (SREGS), debug
 * registers, x87/SSE state (KVM_GET/SET_FPU, converted from and to the FXSAVE layout) and the
 * MSRs the CPU keeps itself (KVM_GET/SET_MSRS).
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/kvm_int.h"

/* ---- General registers: KVM orders them rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8-r15 ---- */

static void kvm_gpr_get(const struct kvm_regs *k, struct cpu_regs *r)
{
	const uint64_t src[CPU_NGPR] = {
		k->rax, k->rcx, k->rdx, k->rbx, k->rsp, k->rbp, k->rsi, k->rdi,
		k->r8, k->r9, k->r10, k->r11, k->r12, k->r13, k->r14, k->r15,
	};

	memcpy(r->gpr, src, sizeof(src));
	r->rip = k->rip;
	r->rflags = k->rflags;
}

static void kvm_gpr_set(struct kvm_regs *k, const struct cpu_regs *r)
{
	const uint64_t *g = r->gpr;

	k->rax = g[CPU_RAX]; k->rcx = g[CPU_RCX]; k->rdx = g[CPU_RDX]; k->rbx = g[CPU_RBX];
	k->rsp = g[CPU_RSP]; k->rbp = g[CPU_RBP]; k->rsi = g[CPU_RSI]; k->rdi = g[CPU_RDI];
	k->r8 = g[CPU_R8]; k->r9 = g[CPU_R9]; k->r10 = g[CPU_R10]; k->r11 = g[CPU_R11];
	k->r12 = g[CPU_R12]; k->r13 = g[CPU_R13]; k->r14 = g[CPU_R14]; k->r15 = g[CPU_R15];
	k->rip = r->rip;
	k->rflags = r->rflags | 0x2;   /* bit 1 always reads 1 */
}

/* ---- Segments: cpu_segment.attr is the VMX access-rights layout ---- */

static void kvm_seg_get(const struct kvm_segment *k, struct cpu_segment *s)
{
	s->sel = k->selector;
	s->base = k->base;
	s->limit = k->limit;
	s->attr = (uint16_t)((k->type & 0xf) | (k->s & 1) << 4 | (k->dpl & 3) << 5 |
			     (k->present && !k->unusable) << 7 | (k->avl & 1) << 12 |
			     (k->l & 1) << 13 | (k->db & 1) << 14 | (k->g & 1) << 15);
}

static void kvm_seg_set(struct kvm_segment *k, const struct cpu_segment *s)
{
	memset(k, 0, sizeof(*k));
	k->selector = s->sel;
	k->base = s->base;
	k->limit = s->limit;
	k->type = s->attr & 0xf;
	k->s = (s->attr >> 4) & 1;
	k->dpl = (s->attr >> 5) & 3;
	k->present = (s->attr >> 7) & 1;
	k->avl = (s->attr >> 12) & 1;
	k->l = (s->attr >> 13) & 1;
	k->db = (s->attr >> 14) & 1;
	k->g = (s->attr >> 15) & 1;
	k->unusable = !k->present;
}

static struct kvm_segment *kvm_sreg(struct kvm_sregs *sr, int i)
{
	switch (i) {
	case CPU_ES: return &sr->es;
	case CPU_CS: return &sr->cs;
	case CPU_SS: return &sr->ss;
	case CPU_DS: return &sr->ds;
	case CPU_FS: return &sr->fs;
	case CPU_GS: return &sr->gs;
	case CPU_LDTR: return &sr->ldt;
	default: return &sr->tr;
	}
}

static void kvm_sregs_get(struct kvm_sregs *sr, struct cpu_regs *r)
{
	int i;

	for (i = 0; i < CPU_NSEG; i++)
		kvm_seg_get(kvm_sreg(sr, i), &r->seg[i]);
	r->gdtr.base = sr->gdt.base;
	r->gdtr.limit = sr->gdt.limit;
	r->idtr.base = sr->idt.base;
	r->idtr.limit = sr->idt.limit;
	r->cr0 = sr->cr0;
	r->cr2 = sr->cr2;
	r->cr3 = sr->cr3;
	r->cr4 = sr->cr4;
	r->cr8 = sr->cr8;
	r->efer = sr->efer;
}

/* Keeps apic_base and the pending-interrupt bitmap KVM reported. */
static void kvm_sregs_set(struct kvm_sregs *sr, const struct cpu_regs *r)
{
	int i;

	for (i = 0; i < CPU_NSEG; i++)
		kvm_seg_set(kvm_sreg(sr, i), &r->seg[i]);
	/* A present TR is a busy TSS as far as VMX/SVM entry checks go. */
	if (sr->tr.present && (sr->tr.type & 0xd) == 0x1)
		sr->tr.type |= 0x2;
	sr->gdt.base = r->gdtr.base;
	sr->gdt.limit = r->gdtr.limit;
	sr->idt.base = r->idtr.base;
	sr->idt.limit = r->idtr.limit;
	sr->cr0 = r->cr0;
	sr->cr2 = r->cr2;
	sr->cr3 = r->cr3;
	sr->cr4 = r->cr4;
	sr->cr8 = r->cr8;
	sr->efer = r->efer;
}

/* ---- x87/SSE: struct kvm_fpu <-> FXSAVE image ---- */

static void kvm_fpu_get(const struct kvm_fpu *f, struct cpu_fxstate *fx)
{
	uint8_t *b = fx->bytes;

	memset(b, 0, sizeof(fx->bytes));
	memcpy(b + 0, &f->fcw, 2);
	memcpy(b + 2, &f->fsw, 2);
	b[4] = f->ftwx;
	memcpy(b + 6, &f->last_opcode, 2);
	memcpy(b + 8, &f->last_ip, 8);
	memcpy(b + 16, &f->last_dp, 8);
	memcpy(b + 24, &f->mxcsr, 4);
	memcpy(b + 32, f->fpr, sizeof(f->fpr));
	memcpy(b + 160, f->xmm, sizeof(f->xmm));
}

static void kvm_fpu_set(struct kvm_fpu *f, const struct cpu_fxstate *fx)
{
	const uint8_t *b = fx->bytes;

	memset(f, 0, sizeof(*f));
	memcpy(&f->fcw, b + 0, 2);
	memcpy(&f->fsw, b + 2, 2);
	f->ftwx = b[4];
	memcpy(&f->last_opcode, b + 6, 2);
	memcpy(&f->last_ip, b + 8, 8);
	memcpy(&f->last_dp, b + 16, 8);
	memcpy(&f->mxcsr, b + 24, 4);
	memcpy(f->fpr, b + 32, sizeof(f->fpr));
	memcpy(f->xmm, b + 160, sizeof(f->xmm));
}

/* ---- MSRs kept in struct cpu_regs ---- */

#define KVM_NREG_MSRS 11

static const uint32_t kvm_reg_msr_index[KVM_NREG_MSRS] = {
	0xC0000081, 0xC0000082, 0xC0000083, 0xC0000084, 0xC0000102,   /* STAR..KERNEL_GS_BASE */
	0x174, 0x175, 0x176,                                          /* SYSENTER_CS/ESP/EIP */
	0xC0000103, 0x277, 0x1A0,                                     /* TSC_AUX, PAT, MISC */
};

static uint64_t *kvm_reg_msr_field(struct cpu_regs *r, int i)
{
	uint64_t *f[KVM_NREG_MSRS] = {
		&r->star, &r->lstar, &r->cstar, &r->sfmask, &r->kernel_gs_base,
		&r->sysenter_cs, &r->sysenter_esp, &r->sysenter_eip,
		&r->tsc_aux, &r->pat, &r->misc_enable,
	};
	return f[i];
}

struct kvm_msr_buf {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[KVM_NREG_MSRS];
};

static void kvm_msrs_get(struct kvm_vcpustate *k, struct cpu_regs *r)
{
	struct kvm_msr_buf b;
	int i, n;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < KVM_NREG_MSRS; i++)
		b.e[i].index = kvm_reg_msr_index[i];
	b.hdr.nmsrs = KVM_NREG_MSRS;
	n = ioctl(k->fd, KVM_GET_MSRS, &b);
	for (i = 0; i < n && i < KVM_NREG_MSRS; i++)
		*kvm_reg_msr_field(r, i) = b.e[i].data;
}

/* A zero PAT or MISC_ENABLE is a loader that did not set them: keep KVM's reset values. */
static void kvm_msrs_set(struct kvm_vcpustate *k, const struct cpu_regs *r)
{
	struct cpu_regs tmp = *r;
	struct kvm_msr_buf b;
	int i, n = 0;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < KVM_NREG_MSRS; i++) {
		uint64_t v = *kvm_reg_msr_field(&tmp, i);
		if (v == 0 && (kvm_reg_msr_index[i] == 0x277 || kvm_reg_msr_index[i] == 0x1A0))
			continue;
		b.e[n].index = kvm_reg_msr_index[i];
		b.e[n].data = v;
		n++;
	}
	b.hdr.nmsrs = (uint32_t)n;
	(void)ioctl(k->fd, KVM_SET_MSRS, &b);
}

/* ---- The whole file ---- */

int kvm_regs_get(struct kvm_vcpustate *k, struct cpu_regs *regs)
{
	struct kvm_regs kr;
	struct kvm_sregs sr;
	struct kvm_fpu f;
	struct kvm_debugregs dr;

	memset(regs, 0, sizeof(*regs));
	if (kvm_ioctl(k->fd, KVM_GET_REGS, &kr) < 0 || kvm_ioctl(k->fd, KVM_GET_SREGS, &sr) < 0)
		return -1;
	kvm_gpr_get(&kr, regs);
	kvm_sregs_get(&sr, regs);
	if (kvm_ioctl(k->fd, KVM_GET_FPU, &f) == 0)
		kvm_fpu_get(&f, &regs->fx);
	if (kvm_ioctl(k->fd, KVM_GET_DEBUGREGS, &dr) == 0) {
		memcpy(regs->dr, dr.db, sizeof(dr.db));
		regs->dr[6] = dr.dr6;
		regs->dr[7] = dr.dr7;
	}
	kvm_msrs_get(k, regs);
	return 0;
}

int kvm_regs_set(struct kvm_vcpustate *k, const struct cpu_regs *regs)
{
	struct kvm_regs kr;
	struct kvm_sregs sr;
	struct kvm_fpu f;
	uint16_t fcw;
	uint32_t mxcsr;

	memset(&kr, 0, sizeof(kr));
	kvm_gpr_set(&kr, regs);
	if (kvm_ioctl(k->fd, KVM_GET_SREGS, &sr) < 0)
		return -1;
	kvm_sregs_set(&sr, regs);
	if (kvm_ioctl(k->fd, KVM_SET_SREGS, &sr) < 0 || kvm_ioctl(k->fd, KVM_SET_REGS, &kr) < 0)
		return -1;
	/* An all-zero FPU image is a loader that left it alone: keep the reset state. */
	memcpy(&fcw, regs->fx.bytes, 2);
	memcpy(&mxcsr, regs->fx.bytes + 24, 4);
	if (fcw != 0 || mxcsr != 0) {
		kvm_fpu_set(&f, &regs->fx);
		if (kvm_ioctl(k->fd, KVM_SET_FPU, &f) < 0)
			return -1;
	}
	kvm_msrs_set(k, regs);
	return 0;
}
