/*
 * x87/MMX/SSE control rules of the software CPU (fpu.c, sse*.c) that the differential suite
 * cannot reach from ring 3: CR0.EM/TS/MP and CR4.OSFXSR/OSXMMEXCPT (#UD/#NM/#XM), LDMXCSR
 * reserved bits and misaligned 16-byte operands (#GP), pending x87 exceptions (#MF), and that
 * results land in the FXSAVE-layout state.  A 64-bit ring-0 guest; each exception vector has
 * its own HLT stub, so the vector is read back from RIP.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "unit.h"

#define RAM     (1u << 20)
#define CODE    0x10000u
#define DATA    0x20000u
#define HANDLER 0x7000u

static uint8_t *ram;

static void *gpa(void *ctx, uint64_t a) { (void)ctx; return a < RAM ? ram + a : NULL; }
static int pin(void *c, uint16_t p, int b, uint32_t *v) { (void)c; (void)p; (void)b; *v = 0; return 0; }
static int pout(void *c, uint16_t p, int b, uint32_t v) { (void)c; (void)p; (void)b; (void)v; return 0; }
static int mrd(void *c, uint64_t g, int b, uint64_t *v) { (void)c; (void)g; (void)b; *v = 0; return 0; }
static int mwr(void *c, uint64_t g, int b, uint64_t v) { (void)c; (void)g; (void)b; (void)v; return 0; }
static int rdm(void *c, uint32_t m, uint64_t *v) { (void)c; (void)m; *v = 0; return CPU_CB_GP; }
static int wrm(void *c, uint32_t m, uint64_t v) { (void)c; (void)m; (void)v; return CPU_CB_GP; }
static int ack(void *c) { (void)c; return -1; }
static uint64_t tsc(void *c) { (void)c; return 0; }
static const struct cpu_ops ops = { pin, pout, mrd, mwr, rdm, wrm, ack, tsc };

static void put64(uint64_t a, uint64_t v) { memcpy(ram + a, &v, 8); }

static void build_tables(void)
{
	put64(0x1000, 0x2000 | 3);                       /* PML4 -> PDPT */
	put64(0x2000, 0x3000 | 3);                       /* PDPT -> PD */
	for (uint64_t i = 0; i < 512; i++)
		put64(0x3000 + 8 * i, (i << 21) | 0x83);
	put64(0x4008, 0x00209b0000000000ULL);            /* GDT: 0x08 code64 */
	put64(0x4010, 0x00cf93000000ffffULL);            /* 0x10 data */
	memset(ram + HANDLER, 0xf4, 32 * 16);
	for (uint64_t v = 0; v < 32; v++) {
		uint64_t h = HANDLER + 16 * v;
		put64(0x5000 + 16 * v, (h & 0xffff) | (0x08ULL << 16) | (0x8eULL << 40) |
		      ((h >> 16) << 48));
		put64(0x5008 + 16 * v, 0);
	}
}

/* Runs `code` with the given CR0/CR4, MXCSR and FSW/FCW; returns the exception vector or -1. */
static int run(struct cpu *cpu, struct cpu_regs *r, const uint8_t *code, size_t n,
	       uint64_t cr0, uint64_t cr4)
{
	memset(ram + CODE, 0xf4, 64);
	memcpy(ram + CODE, code, n);
	r->rip = CODE;
	r->cr0 = cr0;
	r->cr4 = cr4;
	r->gpr[4] = 0x9000;
	cpu_set_regs(cpu, r);
	struct cpu_exit ex;
	cpu_run(cpu, 100, &ex);
	cpu_get_regs(cpu, r);
	if (r->rip >= HANDLER && r->rip <= HANDLER + 32 * 16)
		return (int)((r->rip - HANDLER) / 16);
	return -1;
}

static void init_regs(struct cpu_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->rflags = 2;
	r->seg[CPU_CS] = (struct cpu_segment){ 0x08, 0xa09b, 0xffffffff, 0 };
	for (int s = 0; s < CPU_NSEG; s++)
		if (s != CPU_CS && s != CPU_LDTR && s != CPU_TR)
			r->seg[s] = (struct cpu_segment){ 0x10, 0xc093, 0xffffffff, 0 };
	r->seg[CPU_LDTR].attr = 0x82;
	r->seg[CPU_TR] = (struct cpu_segment){ 0, 0x8b, 0x67, 0 };
	r->gdtr = (struct cpu_dtable){ 0x4000, 0x17 };
	r->idtr = (struct cpu_dtable){ 0x5000, 32 * 16 - 1 };
	r->cr3 = 0x1000;
	r->efer = 0x500;
	uint16_t fcw = 0x37f;
	uint32_t mx = 0x1f80;
	memcpy(r->fx.bytes, &fcw, 2);
	memcpy(r->fx.bytes + 24, &mx, 4);
	r->gpr[CPU_RBX] = DATA;
}

#define CR0_BASE 0x80000033ULL   /* PG NE ET MP PE */
#define CR4_SSE  0x620ULL        /* OSXMMEXCPT OSFXSR PAE */

int main(void)
{
	ram = calloc(1, RAM);
	build_tables();
	struct cpu_vm *vm = cpu_vm_create(gpa, NULL, RAM);
	struct cpu_model model = { .threads_per_core = 1, .cores_per_pkg = 1, .tsc_hz = 1000000000 };
	struct cpu *cpu = cpu_create(vm, &ops, NULL, &model);
	CHECK(cpu != NULL);
	struct cpu_regs r;
	static const uint8_t addps[] = { 0x0f, 0x58, 0xc1 };             /* addps xmm0, xmm1 */
	static const uint8_t fld1[] = { 0xd9, 0xe8 };
	static const uint8_t fwait[] = { 0x9b };
	static const uint8_t paddb[] = { 0x0f, 0xfc, 0xc1 };             /* paddb mm0, mm1 */
	static const uint8_t ldmxcsr[] = { 0x0f, 0xae, 0x13 };           /* ldmxcsr [rbx] */
	static const uint8_t movaps[] = { 0x0f, 0x28, 0x43, 0x01 };      /* movaps xmm0, [rbx+1] */
	static const uint8_t divss[] = { 0xf3, 0x0f, 0x5e, 0xc1 };       /* divss xmm0, xmm1 */
	static const uint8_t fxsave[] = { 0x48, 0x0f, 0xae, 0x03 };      /* fxsave64 [rbx] */

	init_regs(&r);
	CHECK_EQ(run(cpu, &r, addps, sizeof(addps), CR0_BASE, CR4_SSE), -1);
	CHECK_EQ(run(cpu, &r, addps, sizeof(addps), CR0_BASE | 8, CR4_SSE), 7);      /* TS: #NM */
	CHECK_EQ(run(cpu, &r, addps, sizeof(addps), CR0_BASE | 4, CR4_SSE), 6);      /* EM: #UD */
	CHECK_EQ(run(cpu, &r, addps, sizeof(addps), CR0_BASE, 0x20), 6);             /* !OSFXSR */
	CHECK_EQ(run(cpu, &r, fld1, sizeof(fld1), CR0_BASE | 4, CR4_SSE), 7);        /* x87 EM: #NM */
	CHECK_EQ(run(cpu, &r, fld1, sizeof(fld1), CR0_BASE | 8, CR4_SSE), 7);
	CHECK_EQ(run(cpu, &r, fwait, sizeof(fwait), CR0_BASE | 8, CR4_SSE), 7);      /* TS+MP */
	CHECK_EQ(run(cpu, &r, fwait, sizeof(fwait), (CR0_BASE & ~2ULL) | 8, CR4_SSE), -1);
	CHECK_EQ(run(cpu, &r, paddb, sizeof(paddb), CR0_BASE | 4, CR4_SSE), 6);      /* MMX EM: #UD */
	CHECK_EQ(run(cpu, &r, paddb, sizeof(paddb), CR0_BASE, 0x20), -1);            /* no OSFXSR needed */

	/* FLD1 lands in ST0 (TOP 7) with tag valid. */
	init_regs(&r);
	CHECK_EQ(run(cpu, &r, fld1, sizeof(fld1), CR0_BASE, CR4_SSE), -1);
	uint16_t fsw;
	memcpy(&fsw, r.fx.bytes + 2, 2);
	CHECK_EQ((fsw >> 11) & 7, 7);
	CHECK_EQ(r.fx.bytes[4], 0x80);
	long double one;
	memcpy(&one, r.fx.bytes + 32, 10);
	CHECK(one == 1.0L);

	/* Pending unmasked x87 exception: #MF before a waiting instruction. */
	init_regs(&r);
	uint16_t fsw_pending = 0x0081, fcw_unmasked = 0x37e;
	memcpy(r.fx.bytes + 2, &fsw_pending, 2);
	memcpy(r.fx.bytes, &fcw_unmasked, 2);
	CHECK_EQ(run(cpu, &r, fld1, sizeof(fld1), CR0_BASE, CR4_SSE), 16);
	CHECK_EQ(run(cpu, &r, paddb, sizeof(paddb), CR0_BASE, CR4_SSE), 16);

	/* LDMXCSR: reserved bits #GP(0); a valid value is loaded. */
	init_regs(&r);
	uint32_t bad = 0x10000, good = 0x3f80;
	memcpy(ram + DATA, &bad, 4);
	CHECK_EQ(run(cpu, &r, ldmxcsr, sizeof(ldmxcsr), CR0_BASE, CR4_SSE), 13);
	memcpy(ram + DATA, &good, 4);
	CHECK_EQ(run(cpu, &r, ldmxcsr, sizeof(ldmxcsr), CR0_BASE, CR4_SSE), -1);
	uint32_t mx;
	memcpy(&mx, r.fx.bytes + 24, 4);
	CHECK_EQ(mx, good);

	/* MOVAPS from a misaligned address: #GP(0). */
	init_regs(&r);
	CHECK_EQ(run(cpu, &r, movaps, sizeof(movaps), CR0_BASE, CR4_SSE), 13);

	/* Unmasked divide-by-zero: #XM with OSXMMEXCPT, #UD without; ZE is set either way and
	 * the destination keeps its value. */
	init_regs(&r);
	float two = 2.0f;
	memcpy(r.fx.bytes + 160, &two, 4);
	uint32_t zm_unmasked = 0x1f80 & ~0x200u;
	memcpy(r.fx.bytes + 24, &zm_unmasked, 4);
	CHECK_EQ(run(cpu, &r, divss, sizeof(divss), CR0_BASE, CR4_SSE), 19);
	memcpy(&mx, r.fx.bytes + 24, 4);
	CHECK(mx & 4);
	float x0;
	memcpy(&x0, r.fx.bytes + 160, 4);
	CHECK(x0 == 2.0f);
	memcpy(r.fx.bytes + 24, &zm_unmasked, 4);
	CHECK_EQ(run(cpu, &r, divss, sizeof(divss), CR0_BASE, 0x220), 6);

	/* FXSAVE64 writes the image: FCW at 0, MXCSR at 24, XMM0 at 160. */
	init_regs(&r);
	memset(ram + DATA, 0xee, 512);
	memcpy(r.fx.bytes + 160, &two, 4);
	CHECK_EQ(run(cpu, &r, fxsave, sizeof(fxsave), CR0_BASE, CR4_SSE), -1);
	uint16_t fcw;
	memcpy(&fcw, ram + DATA, 2);
	CHECK_EQ(fcw, 0x37f);
	memcpy(&mx, ram + DATA + 24, 4);
	CHECK_EQ(mx, 0x1f80);
	CHECK(!memcmp(ram + DATA + 160, &two, 4));
	CHECK_EQ(ram[DATA + 500], 0xee);                 /* bytes 464-511 untouched */

	cpu_destroy(cpu);
	cpu_vm_destroy(vm);
	free(ram);
	return unit_report("test_sse_ctl");
}
