/*
 * The sandbox bhyve enters once the VM is set up (files, sockets, taps and devices opened),
 * just before the vCPUs run: no new privileges (PR_SET_NO_NEW_PRIVS), and a seccomp filter
 * (libseccomp) on every thread that allows only the system calls the run loop, the devices and
 * the backends make.  A guest that takes over bhyve through a device bug can then not start
 * programs, fork, trace or mount, whatever user bhyve runs as.
 *
 * A forbidden call raises SIGSYS (SCMP_ACT_TRAP); the handler writes one line naming the
 * call's number and ends bhyve with status 4.  -o security.seccomp=off leaves the filter out
 * (for debugging, e.g. under strace or gdb).  Root keeps its capabilities: slirp's ICMP needs
 * CAP_NET_RAW while the guest runs.
 *
 * The list comes from strace of the test suites (virtio-blk/net/console/rnd/scsi, AHCI, NVMe,
 * xHCI, fbuf + VNC), checked by the network (TAP, slirp, e1000), UEFI and KVM suites running
 * under the filter.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cmd/bhyve_sandbox.h"
#include "common/config.h"

/* Calls allowed with any arguments. */
static const int sandbox_allowed[] = {
	/* I/O on descriptors opened during set-up, and the event loops around it */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
	SCMP_SYS(preadv2), SCMP_SYS(pwritev2), SCMP_SYS(lseek), SCMP_SYS(close),
	SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(msync), SCMP_SYS(fallocate),
	SCMP_SYS(fadvise64), SCMP_SYS(ioctl),
	SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(dup3), SCMP_SYS(pipe2), SCMP_SYS(eventfd2),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(lstat),
	SCMP_SYS(stat), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6),
	SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait), SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime),
	SCMP_SYS(timerfd_gettime), SCMP_SYS(io_uring_enter),
	/* sockets: console and VNC clients, the control socket, slirp's connections */
	SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(accept), SCMP_SYS(accept4),
	SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(getsockname), SCMP_SYS(getpeername),
	SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(sendto), SCMP_SYS(recvfrom),
	SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(sendmmsg), SCMP_SYS(recvmmsg),
	SCMP_SYS(shutdown),
	/* memory, threads, time, signals */
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(mremap),
	SCMP_SYS(madvise), SCMP_SYS(brk), SCMP_SYS(futex), SCMP_SYS(set_robust_list),
	SCMP_SYS(get_robust_list), SCMP_SYS(rseq), SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(sched_setaffinity), SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(getrandom), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigtimedwait), SCMP_SYS(sigaltstack),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(prctl),
	SCMP_SYS(membarrier), SCMP_SYS(uname), SCMP_SYS(sysinfo), SCMP_SYS(set_tid_address),
	SCMP_SYS(times), SCMP_SYS(getrusage),
	/* files named after set-up: thread names in /proc, the end of the run (sockets and
	 * the VM object removed) */
	SCMP_SYS(openat), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(access),
	SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(readlink), SCMP_SYS(getcwd),
	SCMP_SYS(statfs), SCMP_SYS(fstatfs),
};

static void sandbox_sigsys(int sig, siginfo_t *si, void *ctx)
{
	char msg[160];
	int nr = si->si_syscall;
	int n = snprintf(msg, sizeof(msg), "bhyve: the seccomp sandbox stopped bhyve: forbidden "
			 "system call %d (-o security.seccomp=off disables the sandbox)\n", nr);
	(void)sig;
	(void)ctx;
	if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
		_exit(BHYVE_SANDBOX_EXIT);
	_exit(BHYVE_SANDBOX_EXIT);
}

/* Rules for calls allowed only with some arguments. */
static int sandbox_rules_args(scmp_filter_ctx ctx)
{
	pid_t self = getpid();

	/* Threads only: a clone without CLONE_THREAD (fork) is refused.  clone3 passes its
	 * flags in memory a filter cannot read: it fails with ENOSYS and glibc falls back to
	 * clone. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0)
		return -1;
	/* Signals to this process's own threads, and kill(pid, 0) probes of whether a pid
	 * runs (bhyvectl's running-VM check is shared code). */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
			     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
			     SCMP_A1(SCMP_CMP_EQ, 0)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
			     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self)) < 0)
		return -1;
	/* Resource limits of this process only (glibc reads RLIMIT_STACK for new threads). */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
				SCMP_A0(SCMP_CMP_EQ, 0));
}

static int sandbox_filter(char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int rc = ctx ? 0 : -ENOMEM;

	for (size_t i = 0; rc == 0 && i < sizeof(sandbox_allowed) / sizeof(sandbox_allowed[0]); i++)
		if (sandbox_allowed[i] >= 0)   /* a call this architecture lacks is negative */
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_allowed[i], 0);
	if (rc == 0 && sandbox_rules_args(ctx) < 0)
		rc = -EINVAL;
	/* Every thread, also those the devices started during set-up. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = seccomp_load(ctx);
	if (ctx)
		seccomp_release(ctx);
	if (rc < 0)
		snprintf(err, errlen, "security.seccomp: cannot install the filter: %s",
			 strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* security.test_forbidden_call (test-only, see README "Security"): a thread started before
 * the filter makes a forbidden call (execve) once it is on, as an exploited device would. */
static int sandbox_test_pipe[2] = { -1, -1 };

static void *sandbox_test_thread(void *arg)
{
	char c;
	char *const argv[] = { "true", NULL };
	(void)arg;
	if (read(sandbox_test_pipe[0], &c, 1) == 1)
		execve("/bin/true", argv, argv + 1);
	return NULL;
}

int bhyve_sandbox_enter(char *err, size_t errlen)
{
	struct sigaction sa = { .sa_sigaction = sandbox_sigsys, .sa_flags = SA_SIGINFO };
	bool test = config_get_bool("security.test_forbidden_call", false);
	pthread_t t;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "security: cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	if (!config_get_bool("security.seccomp", true))
		return 0;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		snprintf(err, errlen, "security.seccomp: SIGSYS handler: %s", strerror(errno));
		return -1;
	}
	if (test && (pipe(sandbox_test_pipe) < 0 ||
		     pthread_create(&t, NULL, sandbox_test_thread, NULL) != 0)) {
		snprintf(err, errlen, "security.test_forbidden_call: %s", strerror(errno));
		return -1;
	}
	if (sandbox_filter(err, errlen) < 0)
		return -1;
	if (test && write(sandbox_test_pipe[1], "x", 1) != 1) {
		snprintf(err, errlen, "security.test_forbidden_call: %s", strerror(errno));
		return -1;
	}
	return 0;
}
