/*
 * Shared fixture for the software-CPU unit tests: 16 MiB of fake guest RAM, an MMIO window,
 * port I/O capture (port 0xE9 collects characters), a tiny interrupt source, helpers to
 * assemble snippets with nasm, and ready-made 64-bit / 32-bit / real-mode starting states.
 */
#ifndef TEST_CPU_COMMON_H
#define TEST_CPU_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "unit.h"

#define T_RAM_SIZE (16u << 20)
#define T_MMIO_BASE 0xfee00000ull
#define T_CODE 0x100000ull
#define T_STACK 0x80000ull

struct tenv {
	uint8_t *ram;
	struct cpu_vm *vm;
	struct cpu *cpu;
	char out[4096];
	int outn;
	uint32_t mmio_reg[1024];
	int mmio_reads, mmio_writes;
	int pending_vec;          /* vector intr_ack returns once, -1 none */
	int acks;
	uint64_t tsc;
};

static __attribute__((unused)) void *t_gpa_ptr(void *ctx, uint64_t gpa)
{
	struct tenv *t = ctx;
	return gpa < T_RAM_SIZE ? t->ram + gpa : NULL;
}

static __attribute__((unused)) int t_pio_in(void *ctx, uint16_t port, int bytes, uint32_t *val)
{
	(void)ctx;
	*val = port == 0x80 ? 0x12345678u & ((bytes == 4) ? ~0u : (1u << (8 * bytes)) - 1) : 0xff;
	return CPU_CB_OK;
}

static __attribute__((unused)) int t_pio_out(void *ctx, uint16_t port, int bytes, uint32_t val)
{
	struct tenv *t = ctx;
	(void)bytes;
	if (port == 0xe9 && t->outn < (int)sizeof(t->out) - 1)
		t->out[t->outn++] = (char)val;
	return CPU_CB_OK;
}

static __attribute__((unused)) int t_mmio_read(void *ctx, uint64_t gpa, int bytes, uint64_t *val)
{
	struct tenv *t = ctx;
	uint64_t off = gpa - T_MMIO_BASE;
	t->mmio_reads++;
	if (off >= 4096)
		*val = ~0ull;
	else
		*val = t->mmio_reg[off / 4] >> (8 * (off & 3));
	(void)bytes;
	return CPU_CB_OK;
}

static __attribute__((unused)) int t_mmio_write(void *ctx, uint64_t gpa, int bytes, uint64_t val)
{
	struct tenv *t = ctx;
	uint64_t off = gpa - T_MMIO_BASE;
	t->mmio_writes++;
	if (off < 4096 && bytes == 4)
		t->mmio_reg[off / 4] = (uint32_t)val;
	return CPU_CB_OK;
}

static __attribute__((unused)) int t_rdmsr(void *ctx, uint32_t msr, uint64_t *val)
{
	(void)ctx;
	if (msr == 0x1b) {
		*val = 0xfee00900;
		return CPU_CB_OK;
	}
	return CPU_CB_GP;
}

static __attribute__((unused)) int t_wrmsr(void *ctx, uint32_t msr, uint64_t val)
{
	(void)ctx;
	(void)val;
	return msr == 0x1b ? CPU_CB_OK : CPU_CB_GP;
}

static __attribute__((unused)) int t_intr_ack(void *ctx)
{
	struct tenv *t = ctx;
	int v = t->pending_vec;
	t->pending_vec = -1;
	if (v >= 0)
		t->acks++;
	return v;
}

static __attribute__((unused)) uint64_t t_rdtsc(void *ctx)
{
	struct tenv *t = ctx;
	return t->tsc += 1000;
}

static const struct cpu_ops t_ops = {
	.pio_in = t_pio_in, .pio_out = t_pio_out, .mmio_read = t_mmio_read,
	.mmio_write = t_mmio_write, .rdmsr = t_rdmsr, .wrmsr = t_wrmsr,
	.intr_ack = t_intr_ack, .rdtsc = t_rdtsc,
};

static __attribute__((unused)) struct tenv *t_create(void)
{
	struct tenv *t = calloc(1, sizeof(*t));
	t->ram = calloc(1, T_RAM_SIZE);
	t->vm = cpu_vm_create(t_gpa_ptr, t, 1ull << 32);
	struct cpu_model m = { .apic_id = 0, .threads_per_core = 1, .cores_per_pkg = 1,
			       .tsc_hz = 2000000000ull };
	t->cpu = cpu_create(t->vm, &t_ops, t, &m);
	t->pending_vec = -1;
	return t;
}

static __attribute__((unused)) void t_destroy(struct tenv *t)
{
	cpu_destroy(t->cpu);
	cpu_vm_destroy(t->vm);
	free(t->ram);
	free(t);
}

/* Assembles `src` (nasm syntax, no BITS line needed) into guest RAM at gpa; returns size. */
static __attribute__((unused)) size_t t_asm(struct tenv *t, uint64_t gpa, int bits, const char *src)
{
	char asmf[] = "/tmp/cputestXXXXXX";
	int fd = mkstemp(asmf);
	if (fd < 0)
		return 0;
	FILE *f = fdopen(fd, "w");
	fprintf(f, "bits %d\norg 0x%llx\n%s\n", bits, (unsigned long long)gpa, src);
	fclose(f);
	char binf[64], cmd[256];
	snprintf(binf, sizeof(binf), "%s.bin", asmf);
	snprintf(cmd, sizeof(cmd), "nasm -f bin -o %s %s", binf, asmf);
	int rc = system(cmd);
	unlink(asmf);
	if (rc != 0) {
		fprintf(stderr, "nasm failed for:\n%s\n", src);
		return 0;
	}
	f = fopen(binf, "rb");
	size_t n = f ? fread(t->ram + gpa, 1, T_RAM_SIZE - gpa, f) : 0;
	if (f)
		fclose(f);
	unlink(binf);
	cpu_vm_notify_write(t->vm, gpa, n ? n : 1);
	return n;
}

static __attribute__((unused)) void t_put64(struct tenv *t, uint64_t gpa, uint64_t v)
{
	memcpy(t->ram + gpa, &v, 8);
}

static __attribute__((unused)) uint64_t t_get64(struct tenv *t, uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, t->ram + gpa, 8);
	return v;
}

/* GDT at 0x500: 0 null, 0x08 code64, 0x10 data, 0x18 code32, 0x20 user data (DPL3),
 * 0x28 user code64 (DPL3), 0x30 user code32 (DPL3), 0x38/0x40 TSS (64-bit, 16 bytes), 0x48 code16 */
#define T_GDT 0x500ull
#define T_TSS 0x700ull
#define T_IDT 0x2000ull
static __attribute__((unused)) void t_setup_gdt(struct tenv *t)
{
	uint64_t g[10] = {
		0, 0x00af9b000000ffffull, 0x00cf93000000ffffull, 0x00cf9b000000ffffull,
		0x00cff3000000ffffull, 0x00affb000000ffffull, 0x00cffb000000ffffull,
		0, 0, 0x00009b000000ffffull,
	};
	/* 64-bit TSS descriptor: base T_TSS, limit 0x67, type 9 */
	g[7] = 0x0000890000000067ull | ((T_TSS & 0xffffff) << 16);
	g[8] = 0;
	for (int k = 0; k < 10; k++)
		t_put64(t, T_GDT + k * 8, g[k]);
}

static __attribute__((unused)) void t_seg(struct cpu_segment *s, uint16_t sel, uint16_t attr, uint32_t limit)
{
	s->sel = sel;
	s->attr = attr;
	s->base = 0;
	s->limit = limit;
}

/* Identity map of the first 1 GiB with 2 MiB pages: PML4 0x10000, PDPT 0x11000, PD 0x12000. */
static __attribute__((unused)) void t_setup_paging(struct tenv *t)
{
	t_put64(t, 0x10000, 0x11000 | 7);
	t_put64(t, 0x11000, 0x12000 | 7);
	for (int k = 0; k < 512; k++)
		t_put64(t, 0x12000 + k * 8, ((uint64_t)k << 21) | 0x87);
}

static __attribute__((unused)) void t_long_mode(struct tenv *t, uint64_t rip)
{
	struct cpu_regs r;
	t_setup_gdt(t);
	t_setup_paging(t);
	cpu_get_regs(t->cpu, &r);
	r.cr0 = 0x80050033ull;   /* PG WP NE ET MP PE */
	r.cr4 = 0x6a0;           /* OSXMMEXCPT OSFXSR PGE PAE */
	r.cr3 = 0x10000;
	r.efer = 0xd01;          /* NXE LMA LME SCE */
	t_seg(&r.seg[CPU_CS], 0x08, 0xa09b, 0xffffffff);
	for (int s = CPU_ES; s <= CPU_GS; s++)
		if (s != CPU_CS)
			t_seg(&r.seg[s], 0x10, 0xc093, 0xffffffff);
	t_seg(&r.seg[CPU_TR], 0x38, 0x008b, 0x67);
	r.seg[CPU_TR].base = T_TSS;
	r.gdtr.base = T_GDT;
	r.gdtr.limit = 10 * 8 - 1;
	r.idtr.base = T_IDT;
	r.idtr.limit = 256 * 16 - 1;
	r.rip = rip;
	r.rflags = 2;
	r.gpr[CPU_RSP] = T_STACK;
	cpu_set_regs(t->cpu, &r);
}

/* Flat 32-bit protected mode, paging off. */
static __attribute__((unused)) void t_prot32(struct tenv *t, uint64_t rip)
{
	struct cpu_regs r;
	t_setup_gdt(t);
	cpu_get_regs(t->cpu, &r);
	r.cr0 = 0x11;
	t_seg(&r.seg[CPU_CS], 0x18, 0xc09b, 0xffffffff);
	for (int s = CPU_ES; s <= CPU_GS; s++)
		if (s != CPU_CS)
			t_seg(&r.seg[s], 0x10, 0xc093, 0xffffffff);
	r.gdtr.base = T_GDT;
	r.gdtr.limit = 10 * 8 - 1;
	r.rip = rip;
	r.rflags = 2;
	r.gpr[CPU_RSP] = T_STACK;
	cpu_set_regs(t->cpu, &r);
}

/* 64-bit interrupt gate for vector v -> handler (code selector 0x08). */
static __attribute__((unused)) void t_idt64(struct tenv *t, int v, uint64_t handler, int dpl, int ist)
{
	uint64_t lo = (handler & 0xffff) | (0x08ull << 16) | ((uint64_t)ist << 32) |
		      ((uint64_t)(0x8e | (dpl << 5)) << 40) | ((handler >> 16) & 0xffff) << 48;
	t_put64(t, T_IDT + v * 16, lo);
	t_put64(t, T_IDT + v * 16 + 8, handler >> 32);
}

static __attribute__((unused)) uint64_t t_reg(struct tenv *t, int r)
{
	struct cpu_regs regs;
	cpu_get_regs(t->cpu, &regs);
	return r == -1 ? regs.rip : r == -2 ? regs.rflags : regs.gpr[r];
}

static __attribute__((unused)) enum cpu_exit_reason t_run(struct tenv *t, uint64_t max)
{
	struct cpu_exit ex;
	return cpu_run(t->cpu, max, &ex);
}

#endif
