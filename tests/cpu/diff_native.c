/*
 * Native runner: executes the instruction at st->rip on the host CPU in ring 3 with the given
 * registers, stops at the INT3 trailer (or a fault) and reads the state back from the signal
 * context (GPRs, RFLAGS, the FXSAVE image of x87/SSE state).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "diff.h"

void diff_native_enter(const struct dstate *st) __attribute__((noreturn));

static sigjmp_buf diff_native_jb;
static struct dresult *diff_native_out;

/* Map ucontext's GPR order onto ours (RAX..R15). */
static const int diff_native_greg[16] = {
	REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
	REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

/* A signal during an emulator run (a crash, or the watchdog's SIGPROF): reported as the
 * emulator's, never taken as native. */
sigjmp_buf diff_emu_jb;
volatile int diff_in_emu;
uint64_t diff_emu_crash_rip, diff_emu_crash_addr;

static void diff_native_handler(int sig, siginfo_t *si, void *vuc)
{
	ucontext_t *uc = vuc;
	/* SIGPROF is only ever the emulator's watchdog timer (blocked outside its runs); one sent
	 * by anyone else, or arriving outside an emulator run, is no result of either side. */
	if (sig == SIGPROF && (si->si_code != SI_TIMER || !diff_in_emu))
		return;
	if (diff_in_emu) {
		diff_in_emu = 0;
		diff_emu_crash_rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
		diff_emu_crash_addr = (uint64_t)(uintptr_t)si->si_addr;
		if (diff_emu_crash_rip == 0)   /* called a NULL pointer: report the caller */
			diff_emu_crash_rip = *(uint64_t *)(uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
		siglongjmp(diff_emu_jb, sig);
	}
	struct dresult *r = diff_native_out;
	greg_t *g = uc->uc_mcontext.gregs;

	for (int i = 0; i < 16; i++)
		r->st.gpr[i] = (uint64_t)g[diff_native_greg[i]];
	r->st.rflags = (uint64_t)g[REG_EFL];
	r->st.rip = (uint64_t)g[REG_RIP];
	if (uc->uc_mcontext.fpregs)
		memcpy(r->st.fx, uc->uc_mcontext.fpregs, 512);
	int trap = (int)g[REG_TRAPNO];
	if (sig == SIGTRAP && trap == 3) {
		/* INT3 reports the address after itself: the instruction ended one byte earlier. */
		r->vector = -1;
		r->st.rip -= 1;
	} else if (trap == 14 && (uint64_t)(uintptr_t)si->si_addr == r->st.rip &&
		   r->st.rip != DIFF_INSN) {
		/* A branch to unmapped memory: the instruction retired, the fetch at its target
		 * faulted.  That is the end of our one instruction. */
		r->vector = -1;
	} else {
		r->vector = trap;
		r->cr2 = (uint64_t)(uintptr_t)si->si_addr;
	}
	siglongjmp(diff_native_jb, 1);
}

int diff_native_init(void)
{
	void *p = mmap((void *)(uintptr_t)DIFF_REGION, DIFF_REGION_SIZE,
		       PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (void *)(uintptr_t)DIFF_REGION) {
		perror("diff: mmap test region");
		return -1;
	}
	static uint8_t altstack[1 << 16] __attribute__((aligned(64)));
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0 };
	if (sigaltstack(&ss, NULL) != 0) {
		perror("diff: sigaltstack");
		return -1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = diff_native_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPROF };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) != 0)
			return -1;
	return 0;
}

void diff_native_run(const struct dstate *in, struct dresult *out)
{
	static struct dstate st;   /* static: the trampoline reads it after the stack is gone */

	memset(out, 0, sizeof(*out));
	st = *in;
	diff_native_out = out;
	if (sigsetjmp(diff_native_jb, 0) == 0)
		diff_native_enter(&st);
	/* The handler ran on the alternate stack with SA_NODEFER; nothing to unblock. */
}
