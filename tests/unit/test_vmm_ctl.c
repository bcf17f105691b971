/* The control channel of a running VM: register snapshots taken by the vCPU's own thread
 * (running, halted, waiting for SIPI) and served over the VM's control socket. */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "unit.h"
#include "vmm/layout.h"
#include "vmm/vm_internal.h"

static int fake_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	exit->code = VM_EXITCODE_HLT;
	exit->u.hlt.intr_enabled = true;     /* sleeps until the test ends it */
	return 0;
}

static int fake_get_regs(struct vcpu *vcpu, struct cpu_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->rip = 0x1000 + (uint64_t)vcpu_id(vcpu);
	r->gpr[CPU_RAX] = (uint64_t)pthread_self();   /* which thread took it */
	return 0;
}

static const struct vm_backend_ops fake_ops = {
	.name = "fake", .vcpu_run = fake_run, .get_regs = fake_get_regs,
};

static void *run_thread(void *a)
{
	vm_run(a);
	return NULL;
}

static void msleep(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

/* Wait (a generous last guard) until vCPU `id`'s thread reaches state `st`. */
static bool wait_state(struct vm *vm, int id, enum vcpu_state st)
{
	for (int i = 0; i < 60000; i++) {
		pthread_mutex_lock(&vm->lock);
		bool ok = vm->vcpus[id] && vm->vcpus[id]->state == st;
		pthread_mutex_unlock(&vm->lock);
		if (ok)
			return true;
		msleep(1);
	}
	return false;
}

#define NOBODY 65534

static socklen_t abstract_addr(const char *name, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "bhyve.%s.ctl", name);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* Another user binds a VM's control name first and answers like a bhyve would: the client
 * must not believe it. */
static void test_client_distrusts_other_user(void)
{
	char name[40], err[256];
	struct cpu_regs r;
	int ready[2];

	snprintf(name, sizeof(name), "unit-ctl-fake-%d", (int)getpid());
	CHECK_EQ(pipe(ready), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct sockaddr_un sa;
		socklen_t len = abstract_addr(name, &sa);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0 || fd < 0 ||
		    bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 1) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			char hdr[32], buf[sizeof(struct cpu_regs)] = { 0 };
			int n = snprintf(hdr, sizeof(hdr), "ok %zu\n", sizeof(buf));
			if (c >= 0 && write(c, hdr, (size_t)n) == n && write(c, buf, sizeof(buf)) > 0)
				close(c);
		}
	}
	char x;
	CHECK(pid > 0 && read(ready[0], &x, 1) == 1);
	CHECK(vm_ctl_get_regs(name, 0, &r, err, sizeof(err)) < 0);
	CHECK(strstr(err, "another user") != NULL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
}

/* A client of another user gets "permission denied" from a running VM's server, before it
 * has sent anything. */
static void test_server_refuses_other_user(const char *name)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct sockaddr_un sa;
		socklen_t len = abstract_addr(name, &sa);
		char ans[64] = { 0 };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0 || fd < 0 ||
		    connect(fd, (struct sockaddr *)&sa, len) < 0 || read(fd, ans, sizeof(ans) - 1) <= 0)
			_exit(2);
		_exit(strncmp(ans, "err permission denied", 21) == 0 ? 0 : 1);
	}
	int st = -1;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	char name[32], err[256];
	struct cpu_regs r;
	struct vm *vm;
	pthread_t t;

	snprintf(name, sizeof(name), "unit-ctl-%d", (int)getpid());
	config_reset();
	config_set("x86.vmexit_on_hlt", "true");
	vm_destroy(name);
	CHECK_EQ(vm_create(name, GPA_MiB(2)), 0);
	vm = vm_open(name);
	CHECK(vm != NULL);
	if (vm == NULL)
		return unit_report("test_vmm_ctl");
	CHECK_EQ(vm_setup_backend(vm, &fake_ops, 2, err, sizeof(err)), 0);
	/* Nobody serves yet. */
	CHECK(vm_ctl_get_regs(name, 0, &r, err, sizeof(err)) < 0);
	CHECK(strstr(err, name) != NULL);
	CHECK_EQ(vm_ctl_start(vm), 0);
	CHECK(vm_ctl_start(vm) < 0);   /* a second server for the same name cannot bind */
	pthread_create(&t, NULL, run_thread, vm);
	CHECK(wait_state(vm, 0, VCPU_HALTED));
	CHECK(wait_state(vm, 1, VCPU_WAIT_SIPI));
	/* vCPU 0 is halted (sleeping), vCPU 1 waits for SIPI: both answer from their thread. */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(vm_ctl_get_regs(name, 0, &r, err, sizeof(err)), 0);
	CHECK_EQ(r.rip, 0x1000);
	CHECK(r.gpr[CPU_RAX] == (uint64_t)vm->vcpus[0]->thread);
	CHECK_EQ(vm_ctl_get_regs(name, 1, &r, err, sizeof(err)), 0);
	CHECK_EQ(r.rip, 0x1001);
	CHECK(vm_ctl_get_regs(name, 2, &r, err, sizeof(err)) < 0);
	CHECK(strstr(err, "no such vCPU") != NULL);
	CHECK(vm_ctl_get_regs(name, -1, &r, err, sizeof(err)) < 0);
	if (geteuid() == 0) {
		test_server_refuses_other_user(name);
		test_client_distrusts_other_user();
	} else {
		printf("test_vmm_ctl: not root, the other-user checks are skipped\n");
	}
	CHECK_EQ(vcpu_snapshot_regs(vm_vcpu(vm, 1), &r, 1000), 0);
	CHECK_EQ(r.rip, 0x1001);
	vm_suspend(vm, VM_SUSPEND_POWEROFF, NULL);
	pthread_join(t, NULL);
	/* After the run no vCPU thread answers: a bounded wait, not a hang. */
	CHECK(vcpu_snapshot_regs(vm_vcpu(vm, 0), &r, 100) < 0);
	vm_ctl_stop(vm);
	CHECK(vm_ctl_get_regs(name, 0, &r, err, sizeof(err)) < 0);
	vm_close(vm);
	vm_destroy(name);
	config_reset();
	return unit_report("test_vmm_ctl");
}
