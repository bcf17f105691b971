/*
 * Emulator runner: the same instruction in the software CPU (src/cpu, through cpu.h).
 *
 * Guest layout: the test region (code + data) sits at the same guest-physical and guest-linear
 * address as in the host process; a small system area at gpa 0..0x10000 holds the page tables
 * (identity map of the first GiB with 2 MiB user pages), GDT, IDT, TSS and one HLT stub per
 * exception vector, so a fault in the guest ends at DIFF_SYS_HANDLERS + 16 * vector.
 * The CPU runs at CPL 3 like the native side.
 *
 * A watchdog bounds each emulator run: a per-thread CPU-time timer (this thread's time only)
 * that sends SIGPROF to this thread.  SIGPROF is blocked except while the emulator runs, and a
 * signal left pending when the timer is disarmed is discarded, so the native run can never see
 * it (on a loaded host a process-wide ITIMER_PROF could expire just after an emulator run).
 *
 * The cpu_* functions are weak references so that the suite links (and reports every case as
 * a mismatch) while the CPU is not there yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "diff.h"

#pragma weak cpu_vm_create
#pragma weak cpu_create
#pragma weak cpu_destroy
#pragma weak cpu_set_regs
#pragma weak cpu_get_regs
#pragma weak cpu_run
#pragma weak cpu_vm_notify_write

#define SYS_SIZE      0x10000
#define SYS_PML4      0x1000
#define SYS_PDPT      0x2000
#define SYS_PD        0x3000
#define SYS_GDT       0x4000
#define SYS_IDT       0x5000
#define SYS_TSS       0x6000
#define SYS_HANDLERS  0x7000   /* 256 x 16 bytes of HLT */
#define SYS_PT0       0xa000
#define SYS_PT1       0xb000
#define SYS_XSTACK    0xF000   /* exception stack top */

#define DIFF_EMU_WATCHDOG_S 5

static uint8_t *diff_emu_sys;
static timer_t diff_emu_timer;
static struct cpu_vm *diff_emu_vm;
static struct cpu *diff_emu_cpu;

static void *diff_emu_gpa(void *ctx, uint64_t gpa)
{
	(void)ctx;
	if (gpa < SYS_SIZE)
		return diff_emu_sys + gpa;
	if (gpa >= DIFF_REGION && gpa < DIFF_REGION + DIFF_REGION_SIZE)
		return (void *)(uintptr_t)gpa;
	return NULL;
}

static int diff_emu_stop_pio(void *ctx, uint16_t port, int bytes, uint32_t *val)
{
	(void)ctx; (void)port; (void)bytes; (void)val;
	return CPU_CB_ABORT;
}

static int diff_emu_stop_pio_out(void *ctx, uint16_t port, int bytes, uint32_t val)
{
	(void)ctx; (void)port; (void)bytes; (void)val;
	return CPU_CB_ABORT;
}

static int diff_emu_stop_mmio_rd(void *ctx, uint64_t gpa, int bytes, uint64_t *val)
{
	(void)ctx; (void)gpa; (void)bytes; (void)val;
	return CPU_CB_ABORT;
}

static int diff_emu_stop_mmio_wr(void *ctx, uint64_t gpa, int bytes, uint64_t val)
{
	(void)ctx; (void)gpa; (void)bytes; (void)val;
	return CPU_CB_ABORT;
}

static int diff_emu_msr_rd(void *ctx, uint32_t msr, uint64_t *val)
{
	(void)ctx; (void)msr; *val = 0;
	return CPU_CB_GP;
}

static int diff_emu_msr_wr(void *ctx, uint32_t msr, uint64_t val)
{
	(void)ctx; (void)msr; (void)val;
	return CPU_CB_GP;
}

static int diff_emu_intr(void *ctx) { (void)ctx; return -1; }
static uint64_t diff_emu_tsc(void *ctx) { (void)ctx; return 0; }

static const struct cpu_ops diff_emu_ops = {
	.pio_in = diff_emu_stop_pio, .pio_out = diff_emu_stop_pio_out,
	.mmio_read = diff_emu_stop_mmio_rd, .mmio_write = diff_emu_stop_mmio_wr,
	.rdmsr = diff_emu_msr_rd, .wrmsr = diff_emu_msr_wr,
	.intr_ack = diff_emu_intr, .rdtsc = diff_emu_tsc,
};

static void diff_emu_put64(uint64_t off, uint64_t v) { memcpy(diff_emu_sys + off, &v, 8); }

/* GDT: 0x08 kernel code64, 0x10 kernel data, 0x2B user data, 0x33 user code64, 0x40 TSS. */
static void diff_emu_build_sys(void)
{
	/* 4 KiB pages: the system area (supervisor only) and the test region (user); nothing
	 * else is mapped, so stray accesses fault with #PF as they do natively. */
	diff_emu_put64(SYS_PML4, SYS_PDPT | 7);
	diff_emu_put64(SYS_PDPT, SYS_PD | 7);
	diff_emu_put64(SYS_PD, SYS_PT0 | 7);
	diff_emu_put64(SYS_PD + 8 * (DIFF_REGION >> 21), SYS_PT1 | 7);
	for (uint64_t i = 0; i < SYS_SIZE / 4096; i++)
		diff_emu_put64(SYS_PT0 + 8 * i, (i << 12) | 3);
	for (uint64_t i = 0; i < DIFF_REGION_SIZE / 4096; i++)
		diff_emu_put64(SYS_PT1 + 8 * (((DIFF_REGION >> 12) & 511) + i), (DIFF_REGION + (i << 12)) | 7);
	diff_emu_put64(SYS_GDT + 0x08, 0x00209b0000000000ULL);
	diff_emu_put64(SYS_GDT + 0x10, 0x00cf93000000ffffULL);
	diff_emu_put64(SYS_GDT + 0x28, 0x00cff3000000ffffULL);
	diff_emu_put64(SYS_GDT + 0x30, 0x0020fb0000000000ULL);
	uint64_t tss = SYS_TSS;
	diff_emu_put64(SYS_GDT + 0x40, 0x67 | ((tss & 0xffffff) << 16) | (0x89ULL << 40) |
		       ((tss >> 24) << 56));
	diff_emu_put64(SYS_GDT + 0x48, tss >> 32);
	diff_emu_put64(SYS_TSS + 4, SYS_XSTACK);          /* RSP0 */
	diff_emu_put64(SYS_TSS + 0x24, SYS_XSTACK);       /* IST1 */
	memset(diff_emu_sys + SYS_HANDLERS, 0xF4, 256 * 16);
	for (uint64_t v = 0; v < 256; v++) {
		uint64_t h = SYS_HANDLERS + 16 * v;
		uint64_t lo = (h & 0xffff) | (0x08ULL << 16) | (1ULL << 32) | (0x8EULL << 40) |
			      ((h >> 16 & 0xffff) << 48);
		diff_emu_put64(SYS_IDT + 16 * v, lo);
		diff_emu_put64(SYS_IDT + 16 * v + 8, h >> 32);
	}
}

/* After a crash the CPU's state is suspect: start over with a fresh one. */
static void diff_emu_recreate(void)
{
	struct cpu_model model = { .threads_per_core = 1, .cores_per_pkg = 1, .tsc_hz = 1000000000 };
	diff_emu_cpu = cpu_create(diff_emu_vm, &diff_emu_ops, NULL, &model);
}

bool diff_emu_available(void)
{
	return cpu_vm_create && cpu_create && cpu_set_regs && cpu_get_regs && cpu_run;
}

/* SIGPROF blocked from now on; the timer counts this thread's CPU time and signals only it. */
static int diff_emu_watchdog_init(void)
{
	sigset_t prof;
	sigemptyset(&prof);
	sigaddset(&prof, SIGPROF);
	if (sigprocmask(SIG_BLOCK, &prof, NULL) != 0)
		return -1;
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGPROF;
	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &diff_emu_timer) != 0) {
		perror("diff: timer_create");
		return -1;
	}
	return 0;
}

/* Arm and unblock around an emulator run; block, disarm and discard a pending SIGPROF after. */
static void diff_emu_watchdog(bool on)
{
	sigset_t prof;
	sigemptyset(&prof);
	sigaddset(&prof, SIGPROF);
	struct itimerspec its = { .it_value = { .tv_sec = on ? DIFF_EMU_WATCHDOG_S : 0 } };
	if (on) {
		timer_settime(diff_emu_timer, 0, &its, NULL);
		sigprocmask(SIG_UNBLOCK, &prof, NULL);
		return;
	}
	sigprocmask(SIG_BLOCK, &prof, NULL);
	timer_settime(diff_emu_timer, 0, &its, NULL);
	struct timespec zero = { 0, 0 };
	while (sigtimedwait(&prof, NULL, &zero) == SIGPROF)
		;
}

int diff_emu_init(void)
{
	if (diff_emu_watchdog_init() != 0)
		return -1;
	diff_emu_sys = calloc(1, SYS_SIZE);
	if (!diff_emu_sys)
		return -1;
	diff_emu_build_sys();
	if (!diff_emu_available())
		return 0;
	diff_emu_vm = cpu_vm_create(diff_emu_gpa, NULL, 1ULL << 30);
	if (diff_emu_vm)
		diff_emu_recreate();
	return diff_emu_cpu ? 0 : -1;
}

static void diff_emu_seg(struct cpu_segment *s, uint16_t sel, uint16_t attr, uint32_t limit)
{
	s->sel = sel;
	s->attr = attr;
	s->limit = limit;
	s->base = 0;
}

static void diff_emu_load(struct cpu_regs *r, const struct dstate *in)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->gpr, in->gpr, sizeof(r->gpr));
	r->rip = in->rip;
	r->rflags = (in->rflags & 0xcd5) | 0x202;
	diff_emu_seg(&r->seg[CPU_CS], 0x33, 0xa0fb, 0xffffffff);
	diff_emu_seg(&r->seg[CPU_SS], 0x2b, 0xc0f3, 0xffffffff);
	diff_emu_seg(&r->seg[CPU_DS], 0x2b, 0xc0f3, 0xffffffff);
	diff_emu_seg(&r->seg[CPU_ES], 0x2b, 0xc0f3, 0xffffffff);
	diff_emu_seg(&r->seg[CPU_FS], 0x2b, 0xc0f3, 0xffffffff);
	diff_emu_seg(&r->seg[CPU_GS], 0x2b, 0xc0f3, 0xffffffff);
	diff_emu_seg(&r->seg[CPU_LDTR], 0, 0x82, 0);
	diff_emu_seg(&r->seg[CPU_TR], 0x40, 0x8b, 0x67);
	r->seg[CPU_TR].base = SYS_TSS;
	r->gdtr.base = SYS_GDT;
	r->gdtr.limit = 0x4f;
	r->idtr.base = SYS_IDT;
	r->idtr.limit = 0xfff;
	r->cr0 = 0x80050033;       /* PG WP NE ET MP PE */
	r->cr3 = SYS_PML4;
	r->cr4 = 0x620;            /* OSXMMEXCPT OSFXSR PAE */
	r->efer = 0xd01;           /* NXE LMA LME SCE */
	r->pat = 0x0007040600070406ULL;
	memcpy(r->fx.bytes, in->fx, 512);
}

static const char *diff_emu_reason(enum cpu_exit_reason why)
{
	switch (why) {
	case CPU_EXIT_SHUTDOWN: return "emulator: triple fault";
	case CPU_EXIT_ABORT: return "emulator: touched memory outside the test region or did I/O";
	case CPU_EXIT_INVALID: return "emulator: internal error (CPU_EXIT_INVALID)";
	default: return "emulator: unexpected exit";
	}
}

void diff_emu_run(const struct dstate *in, struct dresult *out)
{
	static struct cpu_regs r;
	struct cpu_exit ex;

	memset(out, 0, sizeof(*out));
	out->vector = -1;
	if (!diff_emu_cpu) {
		out->err = "emulator: not available (cpu_* not linked)";
		return;
	}
	if (cpu_vm_notify_write)
		cpu_vm_notify_write(diff_emu_vm, DIFF_CODE, 0x1000);
	diff_emu_load(&r, in);
	int sig = sigsetjmp(diff_emu_jb, 0);
	if (sig) {
		static char msg[128];
		diff_emu_watchdog(false);
		if (cpu_destroy)
			cpu_destroy(diff_emu_cpu);
		diff_emu_recreate();        /* the interrupted CPU's state is suspect */
		if (sig == SIGPROF)
			snprintf(msg, sizeof(msg), "emulator: hung (no exit within %d s of CPU time)",
				 DIFF_EMU_WATCHDOG_S);
		else
			snprintf(msg, sizeof(msg), "emulator: crashed with host signal %d at host rip %#lx"
				 " (addr %#lx)", sig, (unsigned long)diff_emu_crash_rip,
				 (unsigned long)diff_emu_crash_addr);
		out->err = msg;
		return;
	}
	diff_in_emu = 1;
	diff_emu_watchdog(true);
	cpu_set_regs(diff_emu_cpu, &r);
	/* One instruction; a REP string instruction may retire in pieces, so keep going while
	 * RIP stays on it. */
	for (int n = 0; n < 100000; n++) {
		ex.msg = NULL;
		enum cpu_exit_reason why = cpu_run(diff_emu_cpu, 1, &ex);
		cpu_get_regs(diff_emu_cpu, &r);
		if (why == CPU_EXIT_SHUTDOWN || why == CPU_EXIT_ABORT || why == CPU_EXIT_INVALID) {
			out->err = ex.msg && why == CPU_EXIT_INVALID ? ex.msg : diff_emu_reason(why);
			break;
		}
		if (r.rip >= SYS_HANDLERS && r.rip <= SYS_HANDLERS + 256 * 16) {
			out->vector = (int)((r.rip - SYS_HANDLERS) / 16);
			out->cr2 = r.cr2;
			break;
		}
		if (r.rip != in->rip || why != CPU_EXIT_BUDGET)
			break;
	}
	diff_emu_watchdog(false);
	diff_in_emu = 0;
	memcpy(out->st.gpr, r.gpr, sizeof(r.gpr));
	out->st.rip = r.rip;
	out->st.rflags = r.rflags;
	memcpy(out->st.fx, r.fx.bytes, 512);
}
