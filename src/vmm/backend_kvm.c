/*
 * The KVM backend: guest code runs on the host CPU through /dev/kvm.
 *
 * Guest RAM is the VM's shared-memory mapping, given to KVM as two memory slots (low RAM from
 * 0, high RAM from 4 GiB; the PCI hole between them stays unmapped, so accesses there exit as
 * MMIO).  The local APICs, the IOAPIC, the 8259 pair and the 8254 are KVM's in-kernel models
 * (KVM_CREATE_IRQCHIP + KVM_CREATE_PIT2): KVM delivers interrupts, handles HLT, INIT and SIPI
 * itself.  Everything else (UART, RTC, HPET, PM, PCI) is ours: port I/O, MMIO and the MSRs KVM
 * does not know exit to user space and go through vcpu_handle_exit(), as on the soft backend.
 *
 * Kicks: another thread sets run->immediate_exit and sends the vCPU thread KVM_KICK_SIGNAL,
 * which is blocked in the thread except while it is inside KVM_RUN (KVM_SET_SIGNAL_MASK), so
 * KVM_RUN returns EINTR and the run loop looks at its events.
 *
 * Halt: with the in-kernel LAPIC a HLT never reaches us.  bhyve ends a VM whose vCPUs are all
 * halted with interrupts disabled (exit status 2), so a ticker kicks every vCPU ten times a
 * second and each looks at its own state (KVM_GET_MP_STATE, RFLAGS.IF) when it comes out.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmm/kvm_int.h"
#include "vmm/kvm_irq.h"
#include "vmm/layout.h"

#define KVM_KICK_SIGNAL  (SIGRTMIN + 2)
#define KVM_TICK_NS      100000000L

int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int rc;

	do {
		rc = ioctl(fd, req, arg);
	} while (rc < 0 && errno == EINTR);
	return rc;
}

const char *kvm_device_path(void)
{
	const char *p = getenv("BHYVE_KVM_DEVICE");

	return p && *p ? p : KVM_DEVICE_DEFAULT;
}

static void kvm_kick_handler(int sig)
{
	(void)sig;   /* only there to interrupt KVM_RUN; never runs while the signal is blocked */
}

/* ---- The VM ---- */

static int kvm_open_vm(struct kvm_vmstate *s, char *err, size_t errlen)
{
	const char *dev = kvm_device_path();

	s->sys_fd = open(dev, O_RDWR | O_CLOEXEC);
	if (s->sys_fd < 0) {
		snprintf(err, errlen, "KVM is not available: %s: %s", dev, strerror(errno));
		return -1;
	}
	if (ioctl(s->sys_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		snprintf(err, errlen, "KVM is not available: %s: unexpected API version", dev);
		return -1;
	}
	s->run_size = ioctl(s->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	do {
		s->vm_fd = ioctl(s->sys_fd, KVM_CREATE_VM, 0);
	} while (s->vm_fd < 0 && errno == EINTR);
	if (s->vm_fd < 0 || s->run_size < (int)sizeof(struct kvm_run)) {
		snprintf(err, errlen, "KVM is not available: cannot create a VM: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

static bool kvm_has_cap(const struct kvm_vmstate *s, long cap)
{
	return ioctl(s->vm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

static int kvm_set_memory(struct kvm_vmstate *s, struct vm *vm, char *err, size_t errlen)
{
	uint64_t gpa[2], len[2];
	int i, n = vm_mem_ranges(vm, gpa, len);

	for (i = 0; i < n; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = (uint32_t)i,
			.guest_phys_addr = gpa[i],
			.memory_size = len[i],
			.userspace_addr = (uint64_t)(uintptr_t)vm_map_gpa(vm, gpa[i], len[i]),
		};
		if (r.userspace_addr == 0 ||
		    kvm_ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			snprintf(err, errlen, "KVM: cannot map guest RAM at 0x%llx: %s",
				 (unsigned long long)gpa[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* A boot ROM: guest code runs from it, which KVM cannot do from MMIO.  A read-only slot after
 * the RAM slots; writes to it exit as MMIO (KVM_MEM_READONLY) and reach the ROM's handler. */
static int kvm_map_rom(struct vm *vm, uint64_t gpa, void *host, uint64_t size)
{
	struct kvm_vmstate *s = kvm_vm_of(vm);
	struct kvm_userspace_memory_region r = {
		.slot = KVM_ROM_SLOT, .flags = KVM_MEM_READONLY, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)host,
	};

	if (s == NULL || s->rom_mapped || !kvm_has_cap(s, KVM_CAP_READONLY_MEM))
		return -1;
	if (kvm_ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -1;
	s->rom_mapped = true;
	return 0;
}

/* Device memory (a framebuffer): a writable slot per entry; size 0 deletes the slot. */
static int kvm_map_devmem(struct vm *vm, int idx, uint64_t gpa, void *host, uint64_t size)
{
	struct kvm_vmstate *s = kvm_vm_of(vm);
	struct kvm_userspace_memory_region r = {
		.slot = (uint32_t)(KVM_DEVMEM_SLOT0 + idx), .guest_phys_addr = gpa,
		.memory_size = 0, .userspace_addr = (uint64_t)(uintptr_t)host,
	};

	if (s == NULL)
		return -1;
	/* A slot moves by being deleted first. */
	if (kvm_ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 && size == 0)
		return -1;
	if (size == 0)
		return 0;
	r.memory_size = size;
	return kvm_ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -1 : 0;
}

/* Unknown MSRs exit to user space, where bhyve's -w policy applies (vm_exit.c). */
static void kvm_enable_user_msr(struct kvm_vmstate *s)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_USER_SPACE_MSR };

	if (!kvm_has_cap(s, KVM_CAP_X86_USER_SPACE_MSR))
		return;
	cap.args[0] = KVM_MSR_EXIT_REASON_UNKNOWN;
	s->user_msr = kvm_ioctl(s->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
}

/* bhyve without -P lets PAUSE run in the guest; with -P a spinning vCPU gives up its host CPU,
 * which is what KVM's pause-loop exiting does in the kernel.  So without -P turn PAUSE exits
 * off where KVM allows it (must happen before vCPUs exist). */
static void kvm_pause_policy(struct kvm_vmstate *s, const struct vm_options *o)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_DISABLE_EXITS };
	int allowed;

	if (o->vmexit_on_pause)
		return;
	allowed = ioctl(s->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_DISABLE_EXITS);
	if (allowed <= 0 || !(allowed & KVM_X86_DISABLE_EXITS_PAUSE))
		return;
	cap.args[0] = KVM_X86_DISABLE_EXITS_PAUSE;
	(void)kvm_ioctl(s->vm_fd, KVM_ENABLE_CAP, &cap);
}

static int kvm_make_irqchip(struct kvm_vmstate *s, char *err, size_t errlen)
{
	/* SPEAKER_DUMMY: port 0x61 (channel 2's gate and output) is served by the in-kernel PIT
	 * too.  Without it 0x61 exits to us, whose 8254 never saw the guest program channel 2,
	 * and Linux's TSC calibration (gate ch2, poll bit 5 with interrupts off) spins forever. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t idmap = KVM_IDENTITY_MAP_GPA;

	/* Intel only needs these (real mode under VMX); AMD accepts and ignores them. */
	(void)kvm_ioctl(s->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	(void)ioctl(s->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_GPA);
	if (kvm_ioctl(s->vm_fd, KVM_CREATE_IRQCHIP, NULL) < 0) {
		snprintf(err, errlen, "KVM: cannot create the in-kernel irqchip: %s",
			 strerror(errno));
		return -1;
	}
	if (kvm_ioctl(s->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		snprintf(err, errlen, "KVM: cannot create the in-kernel PIT: %s", strerror(errno));
		return -1;
	}
	return kvm_irq_setup(s->vm_fd, err, errlen);
}

static void *kvm_ticker(void *arg);
static void kvm_vm_fini(struct vm *vm);

static int kvm_vm_init(struct vm *vm, char *err, size_t errlen)
{
	struct kvm_vmstate *s = calloc(1, sizeof(*s));
	struct sigaction sa;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->sys_fd = s->vm_fd = -1;
	vm_set_backend_data(vm, s);
	if (kvm_open_vm(s, err, errlen) < 0 || kvm_set_memory(s, vm, err, errlen) < 0)
		goto fail;
	kvm_pause_policy(s, vm_get_options(vm));
	if (kvm_make_irqchip(s, err, errlen) < 0)
		goto fail;
	kvm_enable_user_msr(s);
	s->cpuid = kvm_cpuid_supported(s->sys_fd);
	if (s->cpuid == NULL) {
		snprintf(err, errlen, "KVM: cannot read the supported CPUID leaves");
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kvm_kick_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(KVM_KICK_SIGNAL, &sa, NULL);
	return 0;
fail:
	kvm_vm_fini(vm);
	return -1;
}

static void kvm_vm_fini(struct vm *vm)
{
	struct kvm_vmstate *s = kvm_vm_of(vm);

	if (s == NULL)
		return;
	if (s->ticker_started) {
		atomic_store(&s->ticker_stop, true);
		pthread_join(s->ticker, NULL);
	}
	kvm_ioevent_stop(vm);
	if (s->vm_fd >= 0)
		close(s->vm_fd);
	if (s->sys_fd >= 0)
		close(s->sys_fd);
	free(s->cpuid);
	free(s);
	vm_set_backend_data(vm, NULL);
}

/* ---- vCPUs ---- */

/* KVM builds its APIC-ID -> vCPU map while a vCPU is being created, before that vCPU counts as
 * online, so a new vCPU is missing from the map until some LAPIC state changes: IPIs to it
 * (INIT/SIPI) would go nowhere.  Writing the LAPIC state back rebuilds the map. */
static void kvm_lapic_refresh(struct kvm_vcpustate *k)
{
	struct kvm_lapic_state ls;

	if (kvm_ioctl(k->fd, KVM_GET_LAPIC, &ls) == 0)
		(void)kvm_ioctl(k->fd, KVM_SET_LAPIC, &ls);
}

static int kvm_vcpu_init(struct vcpu *vcpu, const struct cpu_model *model, char *err,
			 size_t errlen)
{
	struct vm *vm = vcpu_vm(vcpu);
	struct kvm_vmstate *s = kvm_vm_of(vm);
	struct kvm_vcpustate *k = calloc(1, sizeof(*k));
	const struct vm_options *o = vm_get_options(vm);
	bool dl = kvm_has_cap(s, KVM_CAP_TSC_DEADLINE_TIMER) && model->tsc_deadline;

	if (k == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	k->vcpu = vcpu;
	k->fd = ioctl(s->vm_fd, KVM_CREATE_VCPU, (unsigned long)vcpu_id(vcpu));
	if (k->fd < 0) {
		snprintf(err, errlen, "KVM: cannot create vCPU %d: %s", vcpu_id(vcpu),
			 strerror(errno));
		free(k);
		return -1;
	}
	k->run = mmap(NULL, (size_t)s->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->fd, 0);
	if (k->run == MAP_FAILED ||
	    kvm_cpuid_set(k, s->cpuid, model, o->sockets * o->cores * o->threads, dl) < 0) {
		snprintf(err, errlen, "KVM: cannot set up vCPU %d: %s", vcpu_id(vcpu),
			 strerror(errno));
		if (k->run != MAP_FAILED)
			munmap(k->run, (size_t)s->run_size);
		close(k->fd);
		free(k);
		return -1;
	}
	kvm_lapic_refresh(k);
	vcpu_set_backend_data(vcpu, k);
	return 0;
}

static void kvm_vcpu_fini(struct vcpu *vcpu)
{
	struct kvm_vcpustate *k = vcpu_backend_data(vcpu);
	struct kvm_vmstate *s = kvm_vm_of(vcpu_vm(vcpu));

	if (k == NULL)
		return;
	atomic_store(&k->thread_known, false);
	munmap(k->run, (size_t)s->run_size);
	close(k->fd);
	free(k);
	vcpu_set_backend_data(vcpu, NULL);
}

static pid_t kvm_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void kvm_signal_thread(struct kvm_vcpustate *k)
{
	if (atomic_load(&k->thread_known))
		syscall(SYS_tgkill, getpid(), (pid_t)k->thread, KVM_KICK_SIGNAL);
}

/* First run on the vCPU thread: remember it for kicks and let the kick signal through while
 * inside KVM_RUN only. */
static int kvm_thread_setup(struct kvm_vcpustate *k)
{
	/* struct kvm_signal_mask: a 4-byte length, then the kernel's 8-byte sigset_t. */
	uint8_t buf[sizeof(struct kvm_signal_mask) + 8];
	struct kvm_signal_mask *sm = (struct kvm_signal_mask *)buf;
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	sigdelset(&cur, KVM_KICK_SIGNAL);
	sm->len = 8;
	memcpy(buf + sizeof(*sm), &cur, 8);
	if (kvm_ioctl(k->fd, KVM_SET_SIGNAL_MASK, sm) < 0)
		return -1;
	k->thread = (pthread_t)kvm_gettid();
	atomic_store(&k->thread_known, true);
	return 0;
}

static void kvm_kick(struct vcpu *vcpu)
{
	struct kvm_vcpustate *k = vcpu_backend_data(vcpu);

	__atomic_store_n(&k->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	kvm_signal_thread(k);
}

/* Drop kick signals that arrived while the thread was outside KVM_RUN. */
static void kvm_drain_kicks(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, KVM_KICK_SIGNAL);
	while (sigtimedwait(&set, NULL, &zero) > 0)
		;
}

/* ---- Halt detection ---- */

static bool kvm_vcpu_stuck(struct kvm_vcpustate *k)
{
	struct kvm_mp_state mp;
	struct kvm_regs r;

	if (ioctl(k->fd, KVM_GET_MP_STATE, &mp) < 0)
		return false;
	if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED || mp.mp_state == KVM_MP_STATE_INIT_RECEIVED)
		return true;
	if (mp.mp_state != KVM_MP_STATE_HALTED || ioctl(k->fd, KVM_GET_REGS, &r) < 0)
		return false;
	return (r.rflags & 0x200) == 0;
}

/* After a tick: record this vCPU's state; when every vCPU has been halted with interrupts off
 * (or waiting for a SIPI) for two ticks in a row, nothing can wake the VM: it has halted. */
static void kvm_check_halt(struct kvm_vcpustate *k)
{
	struct vm *vm = vcpu_vm(k->vcpu);
	struct kvm_vmstate *s = kvm_vm_of(vm);
	uint32_t bit = 1u << vcpu_id(k->vcpu);
	uint32_t all = (vm_ncpus(vm) >= 32) ? ~0u : (1u << vm_ncpus(vm)) - 1;
	bool stuck = kvm_vcpu_stuck(k);

	if (stuck)
		atomic_fetch_or(&s->stuck, bit);
	else
		atomic_fetch_and(&s->stuck, ~bit);
	if (!stuck || (atomic_load(&s->stuck) & all) != all) {
		k->stuck_seen = false;
		return;
	}
	if (k->stuck_seen)
		vm_suspend(vm, VM_SUSPEND_HALT, "all vCPUs halted with interrupts disabled");
	k->stuck_seen = true;
}

static void *kvm_ticker(void *arg)
{
	struct vm *vm = arg;
	struct kvm_vmstate *s = kvm_vm_of(vm);
	struct timespec ts = { 0, KVM_TICK_NS };
	int i;

	while (!atomic_load(&s->ticker_stop)) {
		nanosleep(&ts, NULL);
		if (vm_suspended(vm) != VM_SUSPEND_NONE)
			continue;
		for (i = 0; i < vm_ncpus(vm); i++) {
			struct vcpu *v = vm_vcpu(vm, i);
			struct kvm_vcpustate *k = v ? vcpu_backend_data(v) : NULL;
			if (k)
				kvm_signal_thread(k);
		}
	}
	return NULL;
}

/* The BSP's thread starts the ticker when the VM first runs (all vCPUs exist by then, and
 * vm_fini, after the vCPUs are gone, stops it). */
static bool kvm_start_ticker(struct vm *vm)
{
	struct kvm_vmstate *s = kvm_vm_of(vm);

	if (s->ticker_started)
		return true;
	if (pthread_create(&s->ticker, NULL, kvm_ticker, vm) != 0)
		return false;
	s->ticker_started = true;
	return true;
}

/* ---- Exits handled while the guest keeps going ---- */

/* Dispatch one exit the guest waits on; false if the VM must stop. */
static bool kvm_dispatch(struct kvm_vcpustate *k, struct vm_exit *e)
{
	struct vm *vm = vcpu_vm(k->vcpu);

	if (vcpu_handle_exit(k->vcpu, e) == VMEXIT_ABORT)
		return false;
	return vm_suspended(vm) == VM_SUSPEND_NONE;
}

/* Port I/O, including string I/O (count > 1): KVM lays the data out in the run page. */
static bool kvm_exit_io(struct kvm_vcpustate *k)
{
	struct kvm_run *run = k->run;
	uint8_t size = run->io.size;
	uint32_t i;

	if (size != 1 && size != 2 && size != 4)
		return false;
	for (i = 0; i < run->io.count; i++) {
		uint8_t *data = (uint8_t *)run + run->io.data_offset + (size_t)i * size;
		struct vm_exit e = { .code = VM_EXITCODE_INOUT };
		e.u.inout.in = run->io.direction == KVM_EXIT_IO_IN;
		e.u.inout.port = run->io.port;
		e.u.inout.bytes = size;
		if (!e.u.inout.in)
			memcpy(&e.u.inout.eax, data, size);
		if (!kvm_dispatch(k, &e))
			return false;
		if (e.u.inout.in)
			memcpy(data, &e.u.inout.eax, size);
	}
	return true;
}

static bool kvm_exit_mmio(struct kvm_vcpustate *k)
{
	struct kvm_run *run = k->run;
	struct vm_exit e = { .code = VM_EXITCODE_MMIO };
	uint32_t len = run->mmio.len;

	if (len == 0 || len > 8 || (len & (len - 1)))
		return false;
	e.u.mmio.write = run->mmio.is_write;
	e.u.mmio.gpa = run->mmio.phys_addr;
	e.u.mmio.bytes = (uint8_t)len;
	if (e.u.mmio.write)
		memcpy(&e.u.mmio.val, run->mmio.data, len);
	if (!kvm_dispatch(k, &e))
		return false;
	if (!e.u.mmio.write)
		memcpy(run->mmio.data, &e.u.mmio.val, len);
	return true;
}

static bool kvm_exit_msr(struct kvm_vcpustate *k, bool wr)
{
	struct kvm_run *run = k->run;
	struct vm_exit e = { .code = wr ? VM_EXITCODE_WRMSR : VM_EXITCODE_RDMSR };

	e.u.msr.msr = run->msr.index;
	e.u.msr.val = run->msr.data;
	if (!kvm_dispatch(k, &e))
		return false;
	run->msr.error = e.u.msr.gp ? 1 : 0;
	if (!wr && !e.u.msr.gp)
		run->msr.data = e.u.msr.val;
	return true;
}

/* ---- Exits for the run loop ---- */

static void kvm_invalid(struct vm_exit *exit, const char *msg)
{
	exit->code = VM_EXITCODE_INVALID;
	exit->u.invalid.msg = msg;
}

static void kvm_exit_system_event(struct kvm_vcpustate *k, struct vm_exit *exit)
{
	struct vm *vm = vcpu_vm(k->vcpu);

	exit->code = VM_EXITCODE_NONE;
	switch (k->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_suspend(vm, VM_SUSPEND_POWEROFF, "system event: shutdown");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_suspend(vm, VM_SUSPEND_RESET, "system event: reset");
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		vm_suspend(vm, VM_SUSPEND_ERROR, "the guest crashed (KVM system event)");
		break;
	default:
		break;   /* wake-up and others: keep going */
	}
}

/* KVM could not go on (suberror 1: an instruction its emulator cannot do, e.g. a fetch from
 * memory that is not RAM; 3: an exit while delivering an event).  Say what and where. */
static void kvm_internal_error(struct kvm_vcpustate *k, struct vm_exit *exit)
{
	struct kvm_run *run = k->run;
	struct kvm_regs r;
	uint32_t i, n = run->internal.ndata;
	size_t o;

	if (kvm_ioctl(k->fd, KVM_GET_REGS, &r) < 0)
		r.rip = 0;
	o = (size_t)snprintf(k->why, sizeof(k->why),
			     "KVM internal error (suberror %u) at rip 0x%llx, data",
			     run->internal.suberror, (unsigned long long)r.rip);
	for (i = 0; i < n && i < 4 && o < sizeof(k->why); i++)
		o += (size_t)snprintf(k->why + o, sizeof(k->why) - o, " 0x%llx",
				      (unsigned long long)run->internal.data[i]);
	kvm_invalid(exit, k->why);
}

/* One KVM exit: true if it was handled here and the guest goes on, false with *exit filled
 * for the run loop. */
static bool kvm_exit_one(struct kvm_vcpustate *k, struct vm_exit *exit)
{
	struct kvm_run *run = k->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (kvm_exit_io(k))
			return true;
		break;
	case KVM_EXIT_MMIO:
		if (kvm_exit_mmio(k))
			return true;
		break;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		if (kvm_exit_msr(k, run->exit_reason == KVM_EXIT_X86_WRMSR))
			return true;
		break;
	case KVM_EXIT_HLT:
		exit->code = VM_EXITCODE_HLT;
		exit->u.hlt.intr_enabled = run->if_flag;
		return false;
	case KVM_EXIT_SHUTDOWN:
		exit->code = VM_EXITCODE_SHUTDOWN;
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		kvm_exit_system_event(k, exit);
		return false;
	case KVM_EXIT_DEBUG:
		exit->code = VM_EXITCODE_DEBUG;
		return false;
	case KVM_EXIT_INTR:
		exit->code = VM_EXITCODE_KICK;
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		kvm_invalid(exit, "KVM cannot enter the guest (invalid vCPU state)");
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		kvm_internal_error(k, exit);
		return false;
	default:
		kvm_invalid(exit, "unexpected KVM exit");
		return false;
	}
	/* A handler failed (VM already suspended) or the VM was stopped by the access. */
	exit->code = VM_EXITCODE_NONE;
	return false;
}

static int kvm_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct kvm_vcpustate *k = vcpu_backend_data(vcpu);

	if (!atomic_load(&k->thread_known) && kvm_thread_setup(k) < 0)
		return -1;
	if (vcpu_id(vcpu) == 0 && !kvm_start_ticker(vcpu_vm(vcpu)))
		return -1;
	for (;;) {
		int rc = ioctl(k->fd, KVM_RUN, 0);
		if (rc < 0) {
			if (errno != EINTR && errno != EAGAIN)
				return -1;
			__atomic_store_n(&k->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			kvm_drain_kicks();
			kvm_check_halt(k);
			exit->code = VM_EXITCODE_KICK;
			return 0;
		}
		if (!kvm_exit_one(k, exit)) {
			if (exit->code == VM_EXITCODE_INVALID)
				exit->rip = 0;
			return 0;
		}
		if (__atomic_load_n(&k->run->immediate_exit, __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&k->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			exit->code = VM_EXITCODE_KICK;
			return 0;
		}
	}
}

/* ---- The rest of the interface ---- */

static int kvm_get_regs(struct vcpu *vcpu, struct cpu_regs *regs)
{
	return kvm_regs_get(vcpu_backend_data(vcpu), regs);
}

static int kvm_set_regs(struct vcpu *vcpu, const struct cpu_regs *regs)
{
	return kvm_regs_set(vcpu_backend_data(vcpu), regs);
}

/* The in-kernel LAPIC delivers interrupts itself; a wake-up from HLT happens in the kernel. */
static void kvm_notify_intr(struct vcpu *vcpu)
{
	(void)vcpu;
}

static void kvm_inject_nmi(struct vcpu *vcpu)
{
	struct kvm_vcpustate *k = vcpu_backend_data(vcpu);

	/* A vCPU ioctl waits for KVM_RUN to return: kick first. */
	kvm_kick(vcpu);
	(void)ioctl(k->fd, KVM_NMI, 0);
}

const struct vm_backend_ops vm_backend_kvm = {
	.name = "kvm",
	.vm_init = kvm_vm_init,
	.vm_fini = kvm_vm_fini,
	.vcpu_init = kvm_vcpu_init,
	.vcpu_fini = kvm_vcpu_fini,
	.vcpu_run = kvm_vcpu_run,
	.get_regs = kvm_get_regs,
	.set_regs = kvm_set_regs,
	.kick = kvm_kick,
	.notify_intr = kvm_notify_intr,
	.inject_nmi = kvm_inject_nmi,
	.map_rom = kvm_map_rom,
	.map_devmem = kvm_map_devmem,
	.ioevent_add = kvm_ioevent_add,
	.ioevent_del = kvm_ioevent_del,
	.ioevent_stop = kvm_ioevent_stop,
	.lapic_in_kernel = true,
};

bool vm_irq_in_kernel(const struct vm *vm)
{
	return vm != NULL && vm->ops == &vm_backend_kvm;
}
