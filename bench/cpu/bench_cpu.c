/*
 * bench-cpu: MIPS of our software CPU against QEMU TCG on the same guest (bench.asm, a
 * Multiboot kernel with a known instruction count).  Both are timed in the same run; the
 * startup cost of QEMU is removed by timing two iteration counts and using the difference.
 *
 * usage: bench-cpu bench.bin [ours_iters] [qemu_iters]
 * Last line: "bench-cpu: ours_mips=X qemu_mips=Y ratio=Z"
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu.h"

#pragma weak cpu_vm_create
#pragma weak cpu_create
#pragma weak cpu_set_regs
#pragma weak cpu_run
#pragma weak cpu_insn_count

#define LOAD_ADDR   0x100000u
#define RAM_SIZE    (4u << 20)
#define ITERS_OFF   32            /* offset of `iters` in the image */
#define SETUP_INSNS 25
#define EXIT_INSNS  2

static uint8_t *bench_ram;
static int bench_done;

static uint64_t bench_expected(uint64_t iters) { return SETUP_INSNS + 27 * iters / 2 + EXIT_INSNS; }

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *bench_gpa(void *ctx, uint64_t gpa)
{
	(void)ctx;
	return gpa < RAM_SIZE ? bench_ram + gpa : NULL;
}

static int bench_in(void *c, uint16_t p, int b, uint32_t *v) { (void)c; (void)p; (void)b; *v = ~0u; return CPU_CB_OK; }
static int bench_out(void *c, uint16_t p, int b, uint32_t v)
{
	(void)c; (void)b; (void)v;
	if (p == 0xf4)
		bench_done = 1;
	return CPU_CB_OK;
}
static int bench_mr(void *c, uint64_t g, int b, uint64_t *v) { (void)c; (void)g; (void)b; *v = ~0ull; return CPU_CB_OK; }
static int bench_mw(void *c, uint64_t g, int b, uint64_t v) { (void)c; (void)g; (void)b; (void)v; return CPU_CB_OK; }
static int bench_rdmsr(void *c, uint32_t m, uint64_t *v) { (void)c; (void)m; *v = 0; return CPU_CB_GP; }
static int bench_wrmsr(void *c, uint32_t m, uint64_t v) { (void)c; (void)m; (void)v; return CPU_CB_GP; }
static int bench_ack(void *c) { (void)c; return -1; }
static uint64_t bench_tsc(void *c) { (void)c; return 0; }

static const struct cpu_ops bench_ops = {
	.pio_in = bench_in, .pio_out = bench_out, .mmio_read = bench_mr, .mmio_write = bench_mw,
	.rdmsr = bench_rdmsr, .wrmsr = bench_wrmsr, .intr_ack = bench_ack, .rdtsc = bench_tsc,
};

static void bench_seg(struct cpu_segment *s, uint16_t sel, uint16_t attr)
{
	s->sel = sel;
	s->attr = attr;
	s->limit = 0xffffffff;
	s->base = 0;
}

/* Multiboot entry state: 32-bit flat protected mode, paging off. */
static void bench_entry_regs(struct cpu_regs *r, uint32_t entry)
{
	memset(r, 0, sizeof(*r));
	r->gpr[CPU_RAX] = 0x2badb002;
	r->rip = entry;
	r->rflags = 2;
	bench_seg(&r->seg[CPU_CS], 0x08, 0xc09b);
	for (int s = 0; s < CPU_NSEG; s++)
		if (s != CPU_CS && s != CPU_LDTR && s != CPU_TR)
			bench_seg(&r->seg[s], 0x10, 0xc093);
	r->seg[CPU_LDTR].attr = 0x82;
	r->seg[CPU_TR].attr = 0x8b;
	r->seg[CPU_TR].limit = 0x67;
	r->cr0 = 0x11;
	uint16_t fcw = 0x37f;
	uint32_t mxcsr = 0x1f80;
	memcpy(r->fx.bytes, &fcw, 2);
	memcpy(r->fx.bytes + 24, &mxcsr, 4);
}

/* Returns MIPS, 0 if the CPU is not available or failed. */
static double bench_ours(const uint8_t *img, size_t len, uint64_t iters)
{
	if (!cpu_vm_create || !cpu_create || !cpu_set_regs || !cpu_run) {
		printf("bench-cpu: our CPU is not linked in\n");
		return 0;
	}
	bench_ram = calloc(1, RAM_SIZE);
	memcpy(bench_ram + LOAD_ADDR, img, len);
	uint32_t it = (uint32_t)iters, entry;
	memcpy(bench_ram + LOAD_ADDR + ITERS_OFF, &it, 4);
	memcpy(&entry, img + 28, 4);
	struct cpu_vm *vm = cpu_vm_create(bench_gpa, NULL, RAM_SIZE);
	struct cpu_model model = { .threads_per_core = 1, .cores_per_pkg = 1, .tsc_hz = 1000000000 };
	struct cpu *cpu = vm ? cpu_create(vm, &bench_ops, NULL, &model) : NULL;
	if (!cpu)
		return 0;
	struct cpu_regs r;
	bench_entry_regs(&r, entry);
	cpu_set_regs(cpu, &r);
	struct cpu_exit ex = { 0 };
	double t0 = bench_now();
	enum cpu_exit_reason why;
	do {
		why = cpu_run(cpu, 0, &ex);
	} while (!bench_done && why != CPU_EXIT_SHUTDOWN && why != CPU_EXIT_INVALID &&
		 why != CPU_EXIT_ABORT && why != CPU_EXIT_HLT);
	double t = bench_now() - t0;
	uint64_t n = cpu_insn_count ? cpu_insn_count(cpu) : 0;
	uint64_t want = bench_expected(iters);
	printf("bench-cpu: ours: exit %d%s%s, %.3f s, retired %" PRIu64 " (expected %" PRIu64
	       " up to the OUT, +1 with the HLT)\n", why, ex.msg ? ": " : "", ex.msg ? ex.msg : "",
	       t, n, want);
	if (!bench_done)
		return 0;
	return (double)want / t / 1e6;
}

static double bench_qemu_once(const char *qemu, const uint8_t *img, size_t len, uint64_t iters)
{
	char path[] = "/tmp/bench-cpu-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	uint8_t *copy = malloc(len);
	memcpy(copy, img, len);
	uint32_t it = (uint32_t)iters;
	memcpy(copy + ITERS_OFF, &it, 4);
	ssize_t w = write(fd, copy, len);
	close(fd);
	free(copy);
	if (w != (ssize_t)len)
		return -1;
	double t0 = bench_now();
	pid_t pid = fork();
	if (pid == 0) {
		execlp(qemu, qemu, "-accel", "tcg", "-m", "64", "-display", "none", "-nodefaults",
		       "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", path,
		       (char *)NULL);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	double t = bench_now() - t0;
	unlink(path);
	/* isa-debug-exit: status (0 << 1) | 1. */
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1) {
		printf("bench-cpu: qemu failed (status %#x)\n", st);
		return -1;
	}
	return t;
}

static double bench_qemu(const uint8_t *img, size_t len, uint64_t iters)
{
	const char *qemu = getenv("QEMU") ? getenv("QEMU") : "qemu-system-x86_64";
	uint64_t small = 2;
	double ts = bench_qemu_once(qemu, img, len, small);
	double tb = bench_qemu_once(qemu, img, len, iters);
	if (ts < 0 || tb < 0)
		return 0;
	double dt = tb - ts;
	printf("bench-cpu: qemu: %.3f s for %" PRIu64 " iterations, %.3f s for %" PRIu64 " (start-up)\n",
	       tb, iters, ts, small);
	if (dt <= 0)
		return 0;
	return (double)(bench_expected(iters) - bench_expected(small)) / dt / 1e6;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s bench.bin [ours_iters] [qemu_iters]\n", argv[0]);
		return 2;
	}
	uint64_t ours_iters = argc > 2 ? strtoull(argv[2], NULL, 0) : 20000000;
	uint64_t qemu_iters = argc > 3 ? strtoull(argv[3], NULL, 0) : 100000000;
	ours_iters &= ~1ULL;
	qemu_iters &= ~1ULL;
	FILE *fp = fopen(argv[1], "rb");
	if (!fp) {
		perror(argv[1]);
		return 2;
	}
	static uint8_t img[1 << 20];
	size_t len = fread(img, 1, sizeof(img), fp);
	fclose(fp);
	setvbuf(stdout, NULL, _IOLBF, 0);
	double ours = bench_ours(img, len, ours_iters);
	double qemu = bench_qemu(img, len, qemu_iters);
	printf("bench-cpu: ours_mips=%.1f qemu_mips=%.1f ratio=%.3f\n", ours, qemu,
	       qemu > 0 ? ours / qemu : 0.0);
	return qemu > 0 ? 0 : 1;
}
