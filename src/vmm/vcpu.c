/*
 * vCPUs: set-up from the configuration tree, one host thread per vCPU, the run loop, the
 * halted and wait-for-SIPI states, and the events other threads send to a vCPU (interrupt,
 * NMI, INIT, SIPI, suspend).
 *
 * Locking: vm->lock guards every vCPU's state and event flags and the VM's halt bookkeeping.
 * It is never held while calling into a device or a backend's run, so devices may send events
 * with their own locks held.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/topology.h"
#include "vmm/vm_internal.h"

static void vcpu_free(struct vcpu *vcpu)
{
	pthread_cond_destroy(&vcpu->cond);
	free(vcpu);
}

static int vm_read_options(struct vm *vm, int *ncpus)
{
	struct vm_options *o = &vm->opts;
	struct bhyve_topology t;
	char err[200];

	o->vmexit_on_hlt = config_get_bool("x86.vmexit_on_hlt", false);
	o->vmexit_on_pause = config_get_bool("x86.vmexit_on_pause", false);
	o->strictmsr = config_get_bool("x86.strictmsr", true);
	if (bhyve_topology_get(&t, err, sizeof(err)) < 0) {
		snprintf(vm->err, sizeof(vm->err), "%s", err);
		return -1;
	}
	if (*ncpus <= 0)
		*ncpus = (int)t.cpus;
	if (*ncpus < 1 || *ncpus > VM_MAXCPU) {
		snprintf(vm->err, sizeof(vm->err), "invalid number of vCPUs (1..%d)", VM_MAXCPU);
		return -1;
	}
	if ((unsigned)*ncpus != t.cpus) {
		/* An explicit count that is not the configured one: one core per package. */
		t.sockets = (unsigned)*ncpus;
		t.cores = t.threads = 1;
	}
	o->sockets = (int)t.sockets;
	o->cores = (int)t.cores;
	o->threads = (int)t.threads;
	return 0;
}

/* Topology: APIC ID = vCPU id (as bhyve does); CPUID describes threads per core and cores per
 * package so the guest sees `sockets` packages. */
static void vcpu_make_model(struct vm *vm, int id, struct cpu_model *m)
{
	memset(m, 0, sizeof(*m));
	m->apic_id = (uint32_t)id;
	m->threads_per_core = (uint32_t)vm->opts.threads;
	m->cores_per_pkg = (uint32_t)vm->opts.cores;
	m->x2apic = config_get_bool("x86.x2apic", false);
	m->tsc_deadline = true;
}

int vm_setup_backend(struct vm *vm, const struct vm_backend_ops *ops, int ncpus, char *err,
		     size_t errlen)
{
	int i;

	if (vm->ops != NULL) {
		snprintf(err, errlen, "VM already set up");
		return -1;
	}
	if (vm_read_options(vm, &ncpus) < 0) {
		snprintf(err, errlen, "%s", vm->err);
		return -1;
	}
	if (ops->vm_init && ops->vm_init(vm, err, errlen) < 0)
		return -1;
	vm->ops = ops;
	vm->vcpus_fini = vm_teardown_vcpus;
	for (i = 0; i < ncpus; i++) {
		struct vcpu *v = calloc(1, sizeof(*v));
		if (v == NULL) {
			snprintf(err, errlen, "out of memory");
			vm_teardown_vcpus(vm);
			return -1;
		}
		v->vm = vm;
		v->id = i;
		v->state = VCPU_IDLE;
		pthread_cond_init(&v->cond, NULL);
		vcpu_make_model(vm, i, &v->model);
		if (ops->vcpu_init && ops->vcpu_init(v, &v->model, err, errlen) < 0) {
			vcpu_free(v);
			vm_teardown_vcpus(vm);
			return -1;
		}
		if (ops->set_exit_on_pause)
			ops->set_exit_on_pause(v, vm->opts.vmexit_on_pause);
		vm->vcpus[i] = v;
		vm->ncpus = i + 1;
	}
	return 0;
}

int vm_setup(struct vm *vm, enum vm_backend_kind backend, int ncpus)
{
	const struct vm_backend_ops *ops;

	/* vmm.backend: kvm / soft / auto (kvm_probe.c). */
	ops = vm_backend_select(backend, vm->err, sizeof(vm->err));
	if (ops == NULL) {
		errno = ENOTSUP;
		return -1;
	}
	return vm_setup_backend(vm, ops, ncpus, vm->err, sizeof(vm->err));
}

const char *vm_last_error(const struct vm *vm)
{
	return vm->err[0] ? vm->err : "unknown error";
}

void vm_teardown_vcpus(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (v == NULL)
			continue;
		if (vm->ops && vm->ops->vcpu_fini)
			vm->ops->vcpu_fini(v);
		vcpu_free(v);
		vm->vcpus[i] = NULL;
	}
	vm->ncpus = 0;
}

const struct vm_options *vm_get_options(const struct vm *vm)
{
	return &vm->opts;
}

int vm_ncpus(const struct vm *vm)
{
	return vm->ncpus;
}

struct vcpu *vm_vcpu(struct vm *vm, int id)
{
	if (id < 0 || id >= vm->ncpus)
		return NULL;
	return vm->vcpus[id];
}

void *vm_backend_data(const struct vm *vm)
{
	return vm->backend_data;
}

void vm_set_backend_data(struct vm *vm, void *p)
{
	vm->backend_data = p;
}

void *vcpu_backend_data(const struct vcpu *vcpu)
{
	return vcpu->backend_data;
}

void vcpu_set_backend_data(struct vcpu *vcpu, void *p)
{
	vcpu->backend_data = p;
}

int vcpu_get_regs(struct vcpu *vcpu, struct cpu_regs *regs)
{
	if (vcpu->vm->ops->get_regs == NULL)
		return -1;
	return vcpu->vm->ops->get_regs(vcpu, regs);
}

int vcpu_set_regs(struct vcpu *vcpu, const struct cpu_regs *regs)
{
	if (vcpu->vm->ops->set_regs == NULL)
		return -1;
	return vcpu->vm->ops->set_regs(vcpu, regs);
}

int vcpu_get_stats(struct vcpu *vcpu, struct vcpu_stats *st)
{
	*st = vcpu->stats;
	if (vcpu->vm->ops->insn_count)
		st->insns = vcpu->vm->ops->insn_count(vcpu);
	return 0;
}

/* ---- Suspend ---- */

enum vm_suspend_how vm_suspended(const struct vm *vm)
{
	return (enum vm_suspend_how)atomic_load(&vm->suspend_how);
}

const char *vm_suspend_name(enum vm_suspend_how how)
{
	switch (how) {
	case VM_SUSPEND_NONE: return "running";
	case VM_SUSPEND_RESET: return "reset";
	case VM_SUSPEND_POWEROFF: return "poweroff";
	case VM_SUSPEND_HALT: return "halt";
	case VM_SUSPEND_TRIPLEFAULT: return "triple fault";
	case VM_SUSPEND_ERROR: return "error";
	case VM_SUSPEND_DEBUG_EXIT: return "debug exit";
	}
	return "?";
}

/* Wake every vCPU: the sleeping ones through their condition, the running ones by a kick. */
static void vm_wake_all(struct vm *vm)
{
	int i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->ncpus; i++)
		pthread_cond_broadcast(&vm->vcpus[i]->cond);
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < vm->ncpus; i++)
		if (vm->ops->kick)
			vm->ops->kick(vm->vcpus[i]);
}

void vm_suspend(struct vm *vm, enum vm_suspend_how how, const char *why)
{
	int none = VM_SUSPEND_NONE;

	if (how == VM_SUSPEND_NONE)
		return;
	if (!atomic_compare_exchange_strong(&vm->suspend_how, &none, (int)how))
		return;   /* the first reason wins */
	if (why != NULL && how == VM_SUSPEND_ERROR)
		fprintf(stderr, "bhyve: VM stopped (%s): %s\n", vm_suspend_name(how), why);
	if (vm->ncpus > 0)
		vm_wake_all(vm);
}

void vm_suspend_debug_exit(struct vm *vm, int status)
{
	/* Stored first: whoever sees the suspend reason reads the status after it. */
	if (vm_suspended(vm) == VM_SUSPEND_NONE)
		atomic_store(&vm->debug_exit_status, status & 0xFF);
	vm_suspend(vm, VM_SUSPEND_DEBUG_EXIT, "debug exit port");
}

int vm_debug_exit_status(const struct vm *vm)
{
	return atomic_load(&vm->debug_exit_status);
}

static void vcpu_set_active(struct vcpu *v, bool on)
{
	uint32_t bit = 1u << v->id;

	v->active = on;
	if (on)
		v->vm->active_mask |= bit;
	else
		v->vm->active_mask &= ~bit;
	v->vm->halted_noint &= ~bit;
}

/* ---- Events from other threads ---- */

static struct vcpu *vm_event_vcpu(struct vm *vm, int vcpuid)
{
	if (vm == NULL || vcpuid < 0 || vcpuid >= vm->ncpus)
		return NULL;
	return vm->vcpus[vcpuid];
}

void vcpu_notify_intr(struct vm *vm, int vcpuid)
{
	struct vcpu *v = vm_event_vcpu(vm, vcpuid);

	if (v == NULL)
		return;
	if (vm->ops->notify_intr)
		vm->ops->notify_intr(v);
	pthread_mutex_lock(&vm->lock);
	v->intr_flag = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vcpu_inject_nmi(struct vm *vm, int vcpuid)
{
	struct vcpu *v = vm_event_vcpu(vm, vcpuid);

	if (v == NULL)
		return;
	if (vm->ops->inject_nmi)
		vm->ops->inject_nmi(v);
	pthread_mutex_lock(&vm->lock);
	v->nmi_flag = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vcpu_send_init(struct vm *vm, int vcpuid)
{
	struct vcpu *v = vm_event_vcpu(vm, vcpuid);

	if (v == NULL)
		return;
	pthread_mutex_lock(&vm->lock);
	v->init_flag = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&vm->lock);
	if (vm->ops->kick)
		vm->ops->kick(v);
}

void vcpu_send_sipi(struct vm *vm, int vcpuid, uint8_t vector)
{
	struct vcpu *v = vm_event_vcpu(vm, vcpuid);

	if (v == NULL)
		return;
	pthread_mutex_lock(&vm->lock);
	/* A SIPI only means something to a vCPU waiting for one (or about to, after INIT). */
	if (v->state == VCPU_WAIT_SIPI || v->init_flag || v->state == VCPU_IDLE) {
		v->sipi_flag = true;
		v->sipi_vector = vector;
		/* It runs from now on as far as halt detection is concerned. */
		vcpu_set_active(v, true);
		pthread_cond_broadcast(&v->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

/* ---- The run loop ---- */

static bool vm_is_suspended(const struct vm *vm)
{
	return atomic_load(&vm->suspend_how) != VM_SUSPEND_NONE;
}

/* With vm->lock held, on the vCPU's thread: answer a register snapshot request. */
static void vcpu_serve_regs_locked(struct vcpu *v)
{
	if (!v->regs_req)
		return;
	v->regs_req = false;
	if (v->vm->ops->get_regs == NULL || v->vm->ops->get_regs(v, &v->regs_snap) < 0)
		memset(&v->regs_snap, 0, sizeof(v->regs_snap));
	v->regs_done = true;
	pthread_cond_broadcast(&v->vm->done_cond);
}

/* Any thread while the VM runs: the vCPU's registers, taken by its own thread at its next
 * stop (a kick makes that soon).  0, or -1 if it did not answer within timeout_ms. */
int vcpu_snapshot_regs(struct vcpu *v, struct cpu_regs *regs, int timeout_ms)
{
	struct vm *vm = v->vm;
	struct timespec dl;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->lock);
	v->regs_req = true;
	v->regs_done = false;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&vm->lock);
	if (vm->ops->kick)
		vm->ops->kick(v);
	pthread_mutex_lock(&vm->lock);
	while (!v->regs_done && rc == 0)
		rc = pthread_cond_timedwait(&vm->done_cond, &vm->lock, &dl);
	if (v->regs_done)
		*regs = v->regs_snap;
	v->regs_req = false;
	rc = v->regs_done ? 0 : -1;
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

/* With vm->lock held: apply INIT and wait for a SIPI.  Returns false if the VM is done. */
static bool vcpu_events_locked(struct vcpu *v)
{
	struct vm *vm = v->vm;

	vcpu_serve_regs_locked(v);
	if (v->init_flag) {
		v->init_flag = false;
		pthread_mutex_unlock(&vm->lock);
		if (vm->ops->init_signal)
			vm->ops->init_signal(v);
		pthread_mutex_lock(&vm->lock);
		if (v->id != 0) {
			v->state = VCPU_WAIT_SIPI;
			vcpu_set_active(v, false);
		}
	}
	while (v->state == VCPU_WAIT_SIPI && !vm_is_suspended(vm)) {
		/* An INIT sent before the SIPI must be applied first: woken by INIT with the
		 * SIPIs already posted, starting on the SIPI and then applying the INIT would
		 * reset the AP back to wait-for-SIPI with the SIPIs used up (it never starts). */
		if (v->init_flag)
			return vcpu_events_locked(v);
		if (v->sipi_flag) {
			uint8_t vec = v->sipi_vector;
			v->sipi_flag = false;
			v->state = VCPU_RUNNING;
			vcpu_set_active(v, true);
			pthread_mutex_unlock(&vm->lock);
			if (vm->ops->sipi)
				vm->ops->sipi(v, vec);
			pthread_mutex_lock(&vm->lock);
			break;
		}
		pthread_cond_wait(&v->cond, &vm->lock);
		vcpu_serve_regs_locked(v);
	}
	return !vm_is_suspended(vm);
}

/* Count an exit in the vCPU's statistics (and the shm header for bhyvectl). */
static void vcpu_count_exit(struct vcpu *v, enum vm_exitcode code)
{
	struct vm_shm_header *h = vm_header(v->vm);

	v->stats.exits[code]++;
	if (h != NULL) {
		h->stats[v->id].exits[code] = v->stats.exits[code];
		if (v->vm->ops->insn_count)
			h->stats[v->id].insns = v->vm->ops->insn_count(v);
	}
}

int vcpu_handle_exit(struct vcpu *v, struct vm_exit *exit)
{
	if ((unsigned)exit->code < VM_EXITCODE_MAX)
		vcpu_count_exit(v, exit->code);
	if (vm_exit_dispatch(v, exit) == VMEXIT_ABORT) {
		vm_suspend(v->vm, VM_SUSPEND_ERROR, vm_exit_name(exit->code));
		return VMEXIT_ABORT;
	}
	return VMEXIT_CONTINUE;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char name[16];

	snprintf(name, sizeof(name), "vcpu %d", v->id);
	pthread_setname_np(pthread_self(), name);
	if (vcpu_pin(v) < 0)
		vm_suspend(vm, VM_SUSPEND_ERROR, "cannot pin a vCPU thread");
	for (;;) {
		struct vm_exit exit;
		bool go;

		pthread_mutex_lock(&vm->lock);
		go = vcpu_events_locked(v);
		pthread_mutex_unlock(&vm->lock);
		if (!go)
			break;
		memset(&exit, 0, sizeof(exit));
		if (vm->ops->vcpu_run(v, &exit) < 0) {
			vm_suspend(vm, VM_SUSPEND_ERROR, "vCPU backend failed");
			break;
		}
		if (vcpu_handle_exit(v, &exit) == VMEXIT_ABORT)
			break;
	}
	if (vm->ops->insn_count && vm_header(vm))
		vm_header(vm)->stats[v->id].insns = vm->ops->insn_count(v);
	pthread_mutex_lock(&vm->lock);
	vcpu_serve_regs_locked(v);
	v->state = VCPU_DONE;
	vm->running_threads--;
	pthread_cond_broadcast(&vm->done_cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

/* HLT: sleep (-H) or poll until an interrupt is due, or another event arrives.  All active
 * vCPUs halted with interrupts disabled can never wake up: the VM has halted. */
int vcpu_handle_hlt(struct vcpu *v, struct vm_exit *exit)
{
	struct vm *vm = v->vm;
	bool ie = exit->u.hlt.intr_enabled;
	uint32_t bit = 1u << v->id;

	pthread_mutex_lock(&vm->lock);
	if (!ie) {
		vm->halted_noint |= bit;
		if ((vm->halted_noint & vm->active_mask) == vm->active_mask) {
			pthread_mutex_unlock(&vm->lock);
			vm_suspend(vm, VM_SUSPEND_HALT, "all vCPUs halted with interrupts disabled");
			return VMEXIT_CONTINUE;
		}
	}
	v->state = VCPU_HALTED;
	while (!vm_is_suspended(vm) && !v->init_flag && !v->nmi_flag && !(ie && v->intr_flag)) {
		vcpu_serve_regs_locked(v);
		if (vm->opts.vmexit_on_hlt) {
			pthread_cond_wait(&v->cond, &vm->lock);
		} else {
			pthread_mutex_unlock(&vm->lock);
			sched_yield();
			pthread_mutex_lock(&vm->lock);
		}
	}
	if (ie)
		v->intr_flag = false;
	v->nmi_flag = false;
	vm->halted_noint &= ~bit;
	if (v->state == VCPU_HALTED)
		v->state = VCPU_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	return VMEXIT_CONTINUE;
}

/* The backend says the vCPU is in wait-for-SIPI (an INIT it processed itself). */
int vcpu_handle_wait_sipi(struct vcpu *v, struct vm_exit *exit)
{
	pthread_mutex_lock(&v->vm->lock);
	if (v->state != VCPU_WAIT_SIPI && !v->sipi_flag) {
		v->state = VCPU_WAIT_SIPI;
		vcpu_set_active(v, false);
	}
	pthread_mutex_unlock(&v->vm->lock);
	return VMEXIT_CONTINUE;
}

static int vm_start_threads(struct vm *vm)
{
	sigset_t all, old;
	int i, rc = 0;

	/* vCPU threads take no signals: bhyve_run's signal handling owns them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		pthread_mutex_lock(&vm->lock);
		vm->running_threads++;
		pthread_mutex_unlock(&vm->lock);
		if (pthread_create(&v->thread, NULL, vcpu_thread, v) != 0) {
			pthread_mutex_lock(&vm->lock);
			vm->running_threads--;
			pthread_mutex_unlock(&vm->lock);
			vm_suspend(vm, VM_SUSPEND_ERROR, "cannot create a vCPU thread");
			rc = -1;
			break;
		}
		v->thread_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

enum vm_suspend_how vm_run(struct vm *vm)
{
	struct vm_shm_header *h = vm_header(vm);
	int i, how;

	if (vm->ncpus < 1)
		return VM_SUSPEND_ERROR;
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		/* An in-kernel LAPIC (KVM) keeps APs in wait-for-SIPI inside KVM_RUN. */
		bool run = i == 0 || vm->ops->lapic_in_kernel;
		v->state = run ? VCPU_RUNNING : VCPU_WAIT_SIPI;
		vcpu_set_active(v, run);
	}
	pthread_mutex_unlock(&vm->lock);
	if (vm->hdr)
		h->running_pid = (int32_t)getpid();
	vm_start_threads(vm);
	pthread_mutex_lock(&vm->lock);
	while (vm->running_threads > 0)
		pthread_cond_wait(&vm->done_cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i]->thread_started) {
			pthread_join(vm->vcpus[i]->thread, NULL);
			vm->vcpus[i]->thread_started = false;
		}
	}
	if (vm->hdr)
		h->running_pid = 0;
	how = atomic_load(&vm->suspend_how);
	return how == VM_SUSPEND_NONE ? VM_SUSPEND_ERROR : (enum vm_suspend_how)how;
}
