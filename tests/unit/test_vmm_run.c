/* The run loop with a scripted fake backend: exit dispatch through the table, the MSR policy,
 * halted vCPUs sleeping (-H) or polling until vcpu_notify_intr, halt with interrupts off,
 * vm_suspend from another thread, INIT/SIPI start of an AP. */
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "unit.h"
#include "vmm/layout.h"
#include "vmm/vm_internal.h"

struct fake_vcpu {
	const struct vm_exit *script;
	int n, pos;
	int inits, sipis, sipi_vector;
	atomic_int kicks, intrs;
	bool saw_notified;       /* step after the HLT ran only once the test had notified */
};

static atomic_bool notified;

static int fake_vcpu_init(struct vcpu *vcpu, const struct cpu_model *m, char *err, size_t n)
{
	vcpu_set_backend_data(vcpu, calloc(1, sizeof(struct fake_vcpu)));
	return 0;
}

static void fake_vcpu_fini(struct vcpu *vcpu)
{
	free(vcpu_backend_data(vcpu));
}

/* The next scripted exit; after the script, halt with interrupts off forever. */
static int fake_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct fake_vcpu *f = vcpu_backend_data(vcpu);

	if (f->pos >= f->n) {
		exit->code = VM_EXITCODE_HLT;
		exit->u.hlt.intr_enabled = false;
		return 0;
	}
	*exit = f->script[f->pos++];
	if (f->pos >= 2 && f->script[f->pos - 2].code == VM_EXITCODE_HLT &&
	    f->script[f->pos - 2].u.hlt.intr_enabled)
		f->saw_notified = atomic_load(&notified);
	return 0;
}

static void fake_kick(struct vcpu *v) { atomic_fetch_add(&((struct fake_vcpu *)vcpu_backend_data(v))->kicks, 1); }
static void fake_intr(struct vcpu *v) { atomic_fetch_add(&((struct fake_vcpu *)vcpu_backend_data(v))->intrs, 1); }
static void fake_init(struct vcpu *v) { ((struct fake_vcpu *)vcpu_backend_data(v))->inits++; }
static void fake_sipi(struct vcpu *v, uint8_t vec)
{
	struct fake_vcpu *f = vcpu_backend_data(v);
	f->sipis++;
	f->sipi_vector = vec;
}

static const struct vm_backend_ops fake_ops = {
	.name = "fake", .vcpu_init = fake_vcpu_init, .vcpu_fini = fake_vcpu_fini,
	.vcpu_run = fake_run, .kick = fake_kick, .notify_intr = fake_intr,
	.init_signal = fake_init, .sipi = fake_sipi,
};

static struct vm *make_vm(int ncpus)
{
	struct vm *vm = vm_create_anon(GPA_MiB(1));
	char err[128];

	if (vm && vm_setup_backend(vm, &fake_ops, ncpus, err, sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		vm_close(vm);
		return NULL;
	}
	return vm;
}

static struct fake_vcpu *fake(struct vm *vm, int id, const struct vm_exit *s, int n)
{
	struct fake_vcpu *f = vcpu_backend_data(vm_vcpu(vm, id));
	f->script = s;
	f->n = n;
	return f;
}

/* vm_run on a thread, so the test can poke the VM while it runs. */
struct runner { pthread_t t; struct vm *vm; enum vm_suspend_how how; atomic_bool done; };
static void *run_thread(void *a)
{
	struct runner *r = a;
	r->how = vm_run(r->vm);
	atomic_store(&r->done, true);
	return NULL;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static bool wait_state(struct vm *vm, int id, enum vcpu_state st)
{
	int i;
	for (i = 0; i < 60000; i++) {
		pthread_mutex_lock(&vm->lock);
		bool ok = vm->vcpus[id]->state == st;
		pthread_mutex_unlock(&vm->lock);
		if (ok)
			return true;
		msleep(1);
	}
	return false;
}

static int seen_port, seen_val, seen_count;
static int rec_inout(struct vcpu *v, struct vm_exit *e)
{
	seen_port = e->u.inout.port;
	seen_val = (int)e->u.inout.eax;
	seen_count++;
	return VMEXIT_CONTINUE;
}

static void test_dispatch(void)
{
	static const struct vm_exit s[] = {
		{ .code = VM_EXITCODE_INOUT, .u.inout = { .in = false, .port = 0x3f8, .bytes = 1, .eax = 'A' } },
		{ .code = VM_EXITCODE_KICK },
		{ .code = VM_EXITCODE_SHUTDOWN },
	};
	struct vm *vm = make_vm(1);
	vm_exit_handler_t old;

	CHECK(vm != NULL);
	if (!vm)
		return;
	fake(vm, 0, s, 3);
	old = vm_exit_set_handler(vm, VM_EXITCODE_INOUT, rec_inout);
	CHECK_EQ(vm_run(vm), VM_SUSPEND_TRIPLEFAULT);
	vm_exit_set_handler(vm, VM_EXITCODE_INOUT, old);
	CHECK_EQ(seen_count, 1);
	CHECK_EQ(seen_port, 0x3f8);
	CHECK_EQ(seen_val, 'A');
	CHECK_EQ(vm->vcpus[0]->stats.exits[VM_EXITCODE_INOUT], 1);
	CHECK_EQ(vm_suspended(vm), VM_SUSPEND_TRIPLEFAULT);
	vm_close(vm);
}

static void test_default_handlers(void)
{
	struct vm *vm;
	struct vm_exit e;

	config_reset();
	vm = make_vm(1);
	CHECK(vm != NULL);
	if (!vm)
		return;
	/* Unknown MSR: #GP by default (x86.strictmsr=true). */
	memset(&e, 0, sizeof(e));
	e.code = VM_EXITCODE_RDMSR;
	e.u.msr.msr = 0x4b564dff;
	e.u.msr.val = 77;
	CHECK_EQ(vm_exit_dispatch(vm_vcpu(vm, 0), &e), VMEXIT_CONTINUE);
	CHECK(e.u.msr.gp);
	vm_close(vm);

	/* -w: reads return 0, writes are ignored. */
	config_set("x86.strictmsr", "false");
	vm = make_vm(1);
	CHECK(vm != NULL);
	if (!vm)
		return;
	memset(&e, 0, sizeof(e));
	e.code = VM_EXITCODE_RDMSR;
	e.u.msr.msr = 0x4b564dff;
	e.u.msr.val = 77;
	vm_exit_dispatch(vm_vcpu(vm, 0), &e);
	CHECK(!e.u.msr.gp);
	CHECK_EQ(e.u.msr.val, 0);
	e.code = VM_EXITCODE_WRMSR;
	vm_exit_dispatch(vm_vcpu(vm, 0), &e);
	CHECK(!e.u.msr.gp);
	/* A port nobody claims reads as all ones. */
	memset(&e, 0, sizeof(e));
	e.code = VM_EXITCODE_INOUT;
	e.u.inout.in = true;
	e.u.inout.port = 0x5a5;
	e.u.inout.bytes = 2;
	CHECK_EQ(vm_exit_dispatch(vm_vcpu(vm, 0), &e), VMEXIT_CONTINUE);
	CHECK_EQ(e.u.inout.eax, 0xffff);
	/* Access sizes no x86 instruction makes are refused, not shifted by. */
	e.u.inout.bytes = 3;
	CHECK_EQ(vm_exit_dispatch(vm_vcpu(vm, 0), &e), VMEXIT_ABORT);
	memset(&e, 0, sizeof(e));
	e.code = VM_EXITCODE_MMIO;
	e.u.mmio.gpa = 0xfeb00000;
	e.u.mmio.bytes = 8;
	CHECK_EQ(vm_exit_dispatch(vm_vcpu(vm, 0), &e), VMEXIT_CONTINUE);
	CHECK_EQ(e.u.mmio.val, ~0ULL);                   /* nothing there: all ones */
	e.u.mmio.bytes = 0;
	CHECK_EQ(vm_exit_dispatch(vm_vcpu(vm, 0), &e), VMEXIT_ABORT);
	/* An out-of-range code is refused, not indexed. */
	e.code = (enum vm_exitcode)1000;
	CHECK_EQ(vm_exit_dispatch(vm_vcpu(vm, 0), &e), VMEXIT_ABORT);
	vm_close(vm);
	config_reset();
}

/* A vCPU halted with IF=1 stays halted until vcpu_notify_intr. */
static void test_hlt_wakeup(bool sleep_on_hlt)
{
	static const struct vm_exit s[] = {
		{ .code = VM_EXITCODE_HLT, .u.hlt.intr_enabled = true },
		{ .code = VM_EXITCODE_NONE },
		{ .code = VM_EXITCODE_SHUTDOWN },
	};
	struct runner r = { 0 };
	struct fake_vcpu *f;

	config_reset();
	config_set("x86.vmexit_on_hlt", sleep_on_hlt ? "true" : "false");
	r.vm = make_vm(1);
	CHECK(r.vm != NULL);
	if (!r.vm)
		return;
	f = fake(r.vm, 0, s, 3);
	atomic_store(&notified, false);
	pthread_create(&r.t, NULL, run_thread, &r);
	CHECK(wait_state(r.vm, 0, VCPU_HALTED));
	msleep(30);
	CHECK(!atomic_load(&r.done));
	CHECK_EQ(f->pos, 1);      /* still halted: nothing ran past the HLT */
	atomic_store(&notified, true);
	vcpu_notify_intr(r.vm, 0);
	vcpu_notify_intr(r.vm, 7);   /* no such vCPU: ignored */
	pthread_join(r.t, NULL);
	CHECK_EQ(r.how, VM_SUSPEND_TRIPLEFAULT);
	CHECK(f->saw_notified);
	CHECK(atomic_load(&f->intrs) >= 1);
	vm_close(r.vm);
	config_reset();
}

static void test_halt_noint(void)
{
	struct vm *vm = make_vm(1);

	CHECK(vm != NULL);
	if (!vm)
		return;
	fake(vm, 0, NULL, 0);     /* halts with IF=0 at once */
	CHECK_EQ(vm_run(vm), VM_SUSPEND_HALT);
	vm_close(vm);
}

static void test_suspend_from_device(void)
{
	static const struct vm_exit s[] = { { .code = VM_EXITCODE_HLT, .u.hlt.intr_enabled = true } };
	struct runner r = { 0 };

	config_set("x86.vmexit_on_hlt", "true");
	r.vm = make_vm(1);
	CHECK(r.vm != NULL);
	if (!r.vm)
		return;
	fake(r.vm, 0, s, 1);
	pthread_create(&r.t, NULL, run_thread, &r);
	CHECK(wait_state(r.vm, 0, VCPU_HALTED));
	vm_suspend(r.vm, VM_SUSPEND_POWEROFF, "ACPI S5");
	vm_suspend(r.vm, VM_SUSPEND_RESET, "late");   /* first reason wins */
	pthread_join(r.t, NULL);
	CHECK_EQ(r.how, VM_SUSPEND_POWEROFF);
	vm_close(r.vm);
	config_reset();
}

static struct vm *sipi_vm;
static int send_init_sipi(struct vcpu *v, struct vm_exit *e)
{
	vcpu_send_init(sipi_vm, 1);
	vcpu_send_sipi(sipi_vm, 1, 0x9a);
	return VMEXIT_CONTINUE;
}

/* The AP waits for INIT/SIPI; the BSP (through the LAPIC's ICR, here a handler) starts it. */
static void test_init_sipi(void)
{
	static const struct vm_exit s0[] = { { .code = VM_EXITCODE_DEBUG } };
	static const struct vm_exit s1[] = { { .code = VM_EXITCODE_PAUSE } };
	struct vm *vm = make_vm(2);
	struct fake_vcpu *f1;
	vm_exit_handler_t old;

	CHECK(vm != NULL);
	if (!vm)
		return;
	sipi_vm = vm;
	fake(vm, 0, s0, 1);
	f1 = fake(vm, 1, s1, 1);
	old = vm_exit_set_handler(vm, VM_EXITCODE_DEBUG, send_init_sipi);
	CHECK_EQ(vm_run(vm), VM_SUSPEND_HALT);   /* both end halted with IF=0 */
	vm_exit_set_handler(vm, VM_EXITCODE_DEBUG, old);
	CHECK_EQ(f1->inits, 1);
	CHECK_EQ(f1->sipis, 1);
	CHECK_EQ(f1->sipi_vector, 0x9a);
	CHECK_EQ(f1->pos, 1);                    /* the AP ran after the SIPI */
	vm_close(vm);
}

/* An AP that never gets a SIPI does not keep the VM from halting, nor from ending. */
static void test_ap_never_started(void)
{
	struct vm *vm = make_vm(3);

	CHECK(vm != NULL);
	if (!vm)
		return;
	fake(vm, 0, NULL, 0);
	CHECK_EQ(vm_run(vm), VM_SUSPEND_HALT);
	CHECK_EQ(((struct fake_vcpu *)vcpu_backend_data(vm_vcpu(vm, 2)))->pos, 0);
	vm_close(vm);
}

static void test_setup_errors(void)
{
	struct vm *vm = vm_create_anon(GPA_MiB(1));
	char err[128];

	CHECK(vm_setup_backend(vm, &fake_ops, 0, err, sizeof(err)) < 0 ||
	      vm_ncpus(vm) == 1);   /* 0 means "from the config": cpus defaults to 1 */
	vm_close(vm);
	vm = vm_create_anon(GPA_MiB(1));
	CHECK(vm_setup_backend(vm, &fake_ops, VM_MAXCPU + 1, err, sizeof(err)) < 0);
	CHECK(vm_vcpu(vm, 0) == NULL);
	vm_close(vm);
	vm = vm_create_anon(GPA_MiB(1));
	/* A forced KVM backend where KVM cannot be used (helper kvm: simulated unavailability). */
	setenv("BHYVE_KVM_DEVICE", "/nonexistent", 1);
	CHECK(vm_setup(vm, VM_BACKEND_KVM, 1) < 0);
	unsetenv("BHYVE_KVM_DEVICE");
	vm_close(vm);
}

static void test_cpuset(void)
{
	cpu_set_t set;

	CHECK_EQ(vcpu_parse_cpuset("3", &set), 0);
	CHECK(CPU_ISSET(3, &set) && CPU_COUNT(&set) == 1);
	CHECK_EQ(vcpu_parse_cpuset("0,2-4", &set), 0);
	CHECK_EQ(CPU_COUNT(&set), 4);
	CHECK(vcpu_parse_cpuset("", &set) < 0);
	CHECK(vcpu_parse_cpuset("4-2", &set) < 0);
	CHECK(vcpu_parse_cpuset("1,", &set) < 0);
	CHECK(vcpu_parse_cpuset("-1", &set) < 0);
	CHECK(vcpu_parse_cpuset("99999", &set) < 0);
	CHECK(vcpu_parse_cpuset("1x", &set) < 0);
}

/* -p: the vCPU thread runs only on the host CPUs it is pinned to. */
static int pin_seen = -2;
static int rec_cpu(struct vcpu *v, struct vm_exit *e)
{
	pin_seen = sched_getcpu();
	return VMEXIT_CONTINUE;
}

static void test_pinning(void)
{
	static const struct vm_exit s[] = { { .code = VM_EXITCODE_DEBUG } };
	struct vm *vm;
	vm_exit_handler_t old;

	config_reset();
	config_set("vcpu.0.cpuset", "0");
	vm = make_vm(1);
	CHECK(vm != NULL);
	if (!vm)
		return;
	fake(vm, 0, s, 1);
	old = vm_exit_set_handler(vm, VM_EXITCODE_DEBUG, rec_cpu);
	CHECK_EQ(vm_run(vm), VM_SUSPEND_HALT);
	vm_exit_set_handler(vm, VM_EXITCODE_DEBUG, old);
	CHECK_EQ(pin_seen, 0);
	vm_close(vm);
	config_reset();
}

int main(void)
{
	test_cpuset();
	test_pinning();
	test_dispatch();
	test_default_handlers();
	test_hlt_wakeup(true);
	test_hlt_wakeup(false);
	test_halt_noint();
	test_suspend_from_device();
	test_init_sipi();
	test_ap_never_started();
	test_setup_errors();
	return unit_report("test_vmm_run");
}
