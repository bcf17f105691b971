/* The control channel of a running VM: register snapshots taken by the vCPU's own thread
 * (running, halted, waiting for SIPI) and served over the VM's control socket. */
#include <pthread.h>
#include <stdlib.h>
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
