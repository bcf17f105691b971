/*
 * CPUID model and the MSRs the CPU implements itself.  Only implemented features are
 * advertised: the Linux-required set (FPU MSR PAE CX8 PGE CMOV FXSR SSE SSE2, LM) plus TSC,
 * APIC, PSE, PSE36, SEP, CLFSH, MMX, HYPERVISOR, SYSCALL, NX, RDTSCP, LAHF_LM, and the
 * machine-check architecture with no reporting banks (MCE, MCA: CR4.MCE may be set, and
 * IA32_MCG_CAP says zero banks, so no machine check is ever raised).
 *
 * The vendor is GenuineIntel so that Linux trusts CPUID 0x15 for the TSC/crystal frequency
 * (native_calibrate_tsc() only does so on Intel) and skips PIT calibration; family 6 with a
 * model number no Linux quirk table names.
 *
 * This CPU does not speculate, so it says so: CPUID.7.EDX[29] and IA32_ARCH_CAPABILITIES with
 * the "not affected" bits.  Otherwise Linux treats an unknown Intel model as vulnerable to
 * Meltdown, MDS & co. and turns on page-table isolation (a CR3 write, so a TLB and decoded-
 * block look-up flush, on every kernel entry and exit) and buffer clearing on every return to
 * user mode.  Spectre v1/v2 need no MSR and stay as Linux decides.
 */
#include "cpu/cpu_internal.h"

#define CPUID_FAMILY 6
#define CPUID_MODEL  0xfd
#define CPUID_STEP   1

/* IA32_ARCH_CAPABILITIES: RDCL_NO, SKIP_L1DFL_VMENTRY, SSB_NO, MDS_NO, PSCHANGE_MC_NO, TAA_NO,
 * SBDR_SSDP_NO, FBSDP_NO, PSDP_NO, BHI_NO, PBRSB_NO, GDS_NO, RFDS_NO, ITS_NO. */
#define MSR_ARCH_CAP     0x10a
#define ARCH_CAP_VALUE   ((1ULL << 0) | (1ULL << 3) | (1ULL << 4) | (1ULL << 5) | (1ULL << 6) | \
			  (1ULL << 8) | (1ULL << 13) | (1ULL << 14) | (1ULL << 15) | (1ULL << 20) | \
			  (1ULL << 24) | (1ULL << 26) | (1ULL << 27) | (1ULL << 62))

static void put_str(uint32_t *dst, const char *s, int words)
{
	for (int k = 0; k < words; k++) {
		uint32_t v = 0;
		for (int b = 0; b < 4; b++)
			v |= (uint32_t)(uint8_t)s[k * 4 + b] << (8 * b);
		dst[k] = v;
	}
}

static int log2_up(uint32_t n)
{
	int r = 0;
	while ((1u << r) < n)
		r++;
	return r;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static void leaf_topology(struct cpu *c, uint32_t sub, uint32_t *o)
{
	uint32_t tpc = c->model.threads_per_core ? c->model.threads_per_core : 1;
	uint32_t cpp = c->model.cores_per_pkg ? c->model.cores_per_pkg : 1;
	o[3] = c->model.apic_id;
	if (sub == 0) {
		o[0] = (uint32_t)log2_up(tpc);
		o[1] = tpc;
		o[2] = (1u << 8) | sub;
	} else if (sub == 1) {
		o[0] = (uint32_t)log2_up(tpc * cpp);
		o[1] = tpc * cpp;
		o[2] = (2u << 8) | sub;
	} else {
		o[2] = sub;
	}
}

static void leaf_1(struct cpu *c, uint32_t *o)
{
	uint32_t n = (c->model.threads_per_core ? c->model.threads_per_core : 1) *
		     (c->model.cores_per_pkg ? c->model.cores_per_pkg : 1);
	o[0] = ((CPUID_MODEL >> 4) << 16) | (CPUID_FAMILY << 8) | ((CPUID_MODEL & 0xf) << 4) | CPUID_STEP;
	o[1] = (c->model.apic_id << 24) | ((n > 255 ? 255 : n) << 16) | (8 << 8);
	o[2] = (1u << 31) | (c->model.x2apic ? 1u << 21 : 0) | (c->model.tsc_deadline ? 1u << 24 : 0);
	o[3] = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8) |
	       (1u << 9) | (1u << 11) | (1u << 13) | (1u << 14) | (1u << 15) | (1u << 17) |
	       (1u << 19) | (1u << 23) |
	       (1u << 24) | (1u << 25) | (1u << 26) | (n > 1 ? 1u << 28 : 0);
	/* APIC follows IA32_APIC_BASE.EN (SDM Vol. 3A 11.4.3): clear while the APIC is globally
	 * disabled.  The platform owns that MSR. */
	uint64_t ab;
	if (c->ops && c->ops->rdmsr && c->ops->rdmsr(c->ctx, 0x1b, &ab) == CPU_CB_OK &&
	    !(ab & (1ull << 11)))
		o[3] &= ~(1u << 9);
}

static void leaf_15_16(struct cpu *c, uint32_t leaf, uint32_t *o)
{
	uint64_t tsc = c->model.tsc_hz;
	uint64_t xtal = c->model.crystal_hz ? c->model.crystal_hz : tsc;
	if (!tsc || !xtal)
		return;
	if (leaf == 0x15) {
		uint64_t g = gcd64(tsc, xtal), num = tsc / g, den = xtal / g;
		while (num > 0xffffffffull || den > 0xffffffffull) {
			num >>= 1;
			den >>= 1;
		}
		o[0] = (uint32_t)(den ? den : 1);
		o[1] = (uint32_t)num;
		o[2] = (uint32_t)(xtal > 0xffffffffull ? 0 : xtal);
	} else {
		o[0] = (uint32_t)(tsc / 1000000);
		o[1] = (uint32_t)(tsc / 1000000);
		o[2] = 100;
	}
}

void cpu_cpuid(struct cpu *c, uint32_t leaf, uint32_t sub, uint32_t o[4])
{
	static const char brand[48] = "bhyve software x86-64 CPU";
	o[0] = o[1] = o[2] = o[3] = 0;
	if (leaf > 0x16 && leaf < 0x40000000)
		leaf = 0x16;   /* out-of-range basic leaves return the highest basic leaf */
	switch (leaf) {
	case 0:
		o[0] = 0x16;
		put_str(&o[1], "Genu", 1);
		put_str(&o[3], "ineI", 1);
		put_str(&o[2], "ntel", 1);
		break;
	case 1: leaf_1(c, o); break;
	case 7:
		if (sub == 0) {
			/* TSC_ADJUST: with the invariant TSC (0x80000007) it tells Linux the TSC
			 * needs no clocksource watchdog.  All vCPUs read one virtual clock, so the
			 * watchdog could only mistake a starved vCPU's late timer ticks for TSC
			 * drift (with jiffies as the reference, when there is no HPET). */
			o[1] = 1u << 1;
			o[3] = 1u << 29;            /* IA32_ARCH_CAPABILITIES */
		}
		break;
	case 0xb: leaf_topology(c, sub, o); break;
	case 0x15: case 0x16: leaf_15_16(c, leaf, o); break;
	case 0x40000000:
		o[0] = 0x40000000;
		put_str(&o[1], "bhyve bhyve ", 3);
		break;
	case 0x80000000: o[0] = 0x80000008; break;
	case 0x80000001:
		o[2] = 1u << 0;
		o[3] = (1u << 11) | (1u << 20) | (1u << 27) | (1u << 29);
		break;
	case 0x80000002: case 0x80000003: case 0x80000004:
		put_str(o, brand + (leaf - 0x80000002) * 16, 4);
		break;
	case 0x80000006: o[2] = (512u << 16) | (6u << 12) | 64; break;
	case 0x80000007: o[3] = 1u << 8; break;
	case 0x80000008: o[0] = 40 | (48 << 8); break;
	default: break;
	}
}

/* ---- MSRs ---- */

#define MSR_TSC          0x10
#define MSR_TSC_ADJUST   0x3b
#define MSR_PLATFORM_ID  0x17   /* read-only; bits 52:50 name the platform type, 0 here */
#define MSR_MCG_CAP      0x179  /* read-only: bank count 7:0 = 0, no MCG_CTL, no extensions */
#define MSR_MCG_STATUS   0x17a  /* RIPV/EIPV/MCIP; only zero may be written */
#define MSR_APIC_BASE    0x1b
#define MSR_UCODE_REV    0x8b
#define MSR_SYSENTER_CS  0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_MISC_ENABLE  0x1a0
#define MSR_PAT          0x277
#define MSR_EFER         0xc0000080
#define MSR_STAR         0xc0000081
#define MSR_LSTAR        0xc0000082
#define MSR_CSTAR        0xc0000083
#define MSR_SFMASK       0xc0000084
#define MSR_FS_BASE      0xc0000100
#define MSR_GS_BASE      0xc0000101
#define MSR_KGS_BASE     0xc0000102
#define MSR_TSC_AUX      0xc0000103

static uint64_t guest_tsc(struct cpu *c)
{
	return (c->ops->rdtsc ? c->ops->rdtsc(c->ctx) : c->icount) + c->tsc_offset;
}

/* Returns 0, or 1 for #GP. */
int cpu_msr_read(struct cpu *c, uint32_t msr, uint64_t *v)
{
	struct cpu_regs *r = &c->r;
	switch (msr) {
	case MSR_TSC: *v = guest_tsc(c); return 0;
	case MSR_TSC_ADJUST: *v = (uint64_t)c->tsc_adjust; return 0;
	case MSR_UCODE_REV: *v = 0; return 0;
	case MSR_PLATFORM_ID: *v = 0; return 0;
	case MSR_MCG_CAP: *v = 0; return 0;
	case MSR_MCG_STATUS: *v = 0; return 0;   /* no machine check ever in progress */
	case MSR_ARCH_CAP: *v = ARCH_CAP_VALUE; return 0;
	case MSR_SYSENTER_CS: *v = r->sysenter_cs; return 0;
	case MSR_SYSENTER_ESP: *v = r->sysenter_esp; return 0;
	case MSR_SYSENTER_EIP: *v = r->sysenter_eip; return 0;
	case MSR_MISC_ENABLE: *v = r->misc_enable | 1; return 0;   /* fast strings */
	case MSR_PAT: *v = r->pat; return 0;
	case MSR_EFER: *v = r->efer; return 0;
	case MSR_STAR: *v = r->star; return 0;
	case MSR_LSTAR: *v = r->lstar; return 0;
	case MSR_CSTAR: *v = r->cstar; return 0;
	case MSR_SFMASK: *v = r->sfmask; return 0;
	case MSR_FS_BASE: *v = r->seg[CPU_FS].base; return 0;
	case MSR_GS_BASE: *v = r->seg[CPU_GS].base; return 0;
	case MSR_KGS_BASE: *v = r->kernel_gs_base; return 0;
	case MSR_TSC_AUX: *v = r->tsc_aux; return 0;
	default: break;
	}
	if (!c->ops->rdmsr)
		return 1;
	int rc = c->ops->rdmsr(c->ctx, msr, v);
	if (rc == CPU_CB_ABORT)
		cpu_abort_exit(c, CPU_EXIT_ABORT, "rdmsr callback failed");
	return rc != CPU_CB_OK;
}

static bool canon(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

static int write_efer(struct cpu *c, uint64_t v)
{
	uint64_t ok = CPU_EFER_SCE | CPU_EFER_LME | CPU_EFER_LMA | CPU_EFER_NXE;
	if (v & ~ok)
		return 1;
	if ((c->r.cr0 & CPU_CR0_PG) && ((v ^ c->r.efer) & CPU_EFER_LME))
		return 1;
	uint64_t old = c->r.efer;
	c->r.efer = (v & ~CPU_EFER_LMA) | (old & CPU_EFER_LMA);
	if ((old ^ c->r.efer) & CPU_EFER_NXE)
		cpu_tlb_flush(c, false);
	return 0;
}

int cpu_msr_write(struct cpu *c, uint32_t msr, uint64_t v)
{
	struct cpu_regs *r = &c->r;
	switch (msr) {
	case MSR_TSC: {
		/* SDM: a WRMSR that moves the TSC by X moves IA32_TSC_ADJUST by X too (modulo
		 * 2^64: unsigned arithmetic) */
		uint64_t d = v - guest_tsc(c);
		c->tsc_offset = (int64_t)((uint64_t)c->tsc_offset + d);
		c->tsc_adjust = (int64_t)((uint64_t)c->tsc_adjust + d);
		return 0;
	}
	case MSR_TSC_ADJUST:
		c->tsc_offset = (int64_t)((uint64_t)c->tsc_offset + v - (uint64_t)c->tsc_adjust);
		c->tsc_adjust = (int64_t)v;
		return 0;
	case MSR_UCODE_REV: return 0;
	case MSR_PLATFORM_ID: case MSR_MCG_CAP: return 1;   /* read-only: #GP */
	case MSR_MCG_STATUS: return v != 0;   /* software may write only zero (SDM 3B 16.3.1.2) */
	case MSR_SYSENTER_CS: r->sysenter_cs = v & 0xffff; return 0;
	case MSR_SYSENTER_ESP: if (!canon(v)) return 1; r->sysenter_esp = v; return 0;
	case MSR_SYSENTER_EIP: if (!canon(v)) return 1; r->sysenter_eip = v; return 0;
	case MSR_MISC_ENABLE: r->misc_enable = v; return 0;
	case MSR_PAT:
		for (int k = 0; k < 8; k++) {
			uint8_t t = (uint8_t)(v >> (8 * k));
			if (t > 7 || t == 2 || t == 3)
				return 1;
		}
		r->pat = v;
		return 0;
	case MSR_EFER: return write_efer(c, v);
	case MSR_STAR: r->star = v; return 0;
	case MSR_LSTAR: if (!canon(v)) return 1; r->lstar = v; return 0;
	case MSR_CSTAR: if (!canon(v)) return 1; r->cstar = v; return 0;
	case MSR_SFMASK: r->sfmask = v & 0xffffffffull; return 0;
	case MSR_FS_BASE: if (!canon(v)) return 1; r->seg[CPU_FS].base = v; return 0;
	case MSR_GS_BASE: if (!canon(v)) return 1; r->seg[CPU_GS].base = v; return 0;
	case MSR_KGS_BASE: if (!canon(v)) return 1; r->kernel_gs_base = v; return 0;
	case MSR_TSC_AUX: if (v >> 32) return 1; r->tsc_aux = v; return 0;
	default: break;
	}
	if (!c->ops->wrmsr)
		return 1;
	int rc = c->ops->wrmsr(c->ctx, msr, v);
	if (rc == CPU_CB_ABORT)
		cpu_abort_exit(c, CPU_EXIT_ABORT, "wrmsr callback failed");
	return rc != CPU_CB_OK;
}
