/*
 * Starting the VM described by the configuration tree, after bhyve.c has parsed and validated
 * the command line.
 *
 * Normal use, as on FreeBSD: bhyveload created the VM `name` and loaded a kernel; bhyve opens
 * it, checks -m against it, builds the vCPUs and devices, and runs it.
 *
 * With a boot ROM (-l bootrom,FILE) bhyve creates the VM itself if it does not exist (and
 * leaves it, as FreeBSD's bhyve does) and starts the boot vCPU at the reset vector.
 *
 * One-command boot (keys of ours, set with -o):
 *   loader.kernel=PATH    Linux bzImage or Multiboot kernel: bhyve creates the VM itself and
 *                         loads it (as bhyveload -k would); the VM exists only for this run.
 *   loader.initrd=PATH    initrd / Multiboot module (bhyveload -i)
 *   loader.cmdline=TEXT   kernel command line (bhyveload -a)
 * Other keys of ours: vmm.backend=soft|kvm (default soft; KVM is not available yet).
 * bhyve's own destroy_on_poweroff=true removes the VM when the guest powers off.
 *
 * Exit status (bhyve(8)): 0 reset, 1 powered off, 2 halted, 3 triple fault, 4 error.
 */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmd/cmd_fail.h"
#include "cmd/bhyve_run.h"
#include "cmd/bhyve_sandbox.h"
#include "common/config.h"
#include "common/parse.h"
#include "loader/loader.h"
#include "platform/firmware.h"
#include "platform/platform.h"
#include "vmm/vm_init_step.h"
#include "vmm/ioevent.h"
#include "vmm/vmm.h"

#define RUN_ERRLEN 512
#define RUN_EXIT_ERROR 4

/* ---- The set-up sequence after vm_setup (vmm/vm_init_step.h).  Parts register their
 * steps from their own files with VM_INIT_STEP(); the steps below are bhyve's own (guest
 * memory) and the platform's and firmware tables', which src/platform/ leaves to the program
 * that assembles the VM. ---- */

static int step_platform(struct vm *vm, char *err, size_t errlen)
{
	return platform_create(vm, err, errlen);
}

static void step_platform_fini(struct vm *vm)
{
	platform_destroy(vm);
}

/* -S (memory.wired): lock guest RAM in host memory.  Without -C (memory.guest_in_core) guest
 * RAM is left out of bhyve's core dumps, as FreeBSD's bhyve does. */
static int step_memory(struct vm *vm, char *err, size_t errlen)
{
	bool wired = config_get_bool("memory.wired", false);
	bool in_core = config_get_bool("memory.guest_in_core", false);
	uint64_t gpa[2], len[2];
	int i, n = vm_mem_ranges(vm, gpa, len);

	for (i = 0; i < n; i++) {
		void *p = vm_map_gpa(vm, gpa[i], len[i]);
		if (p == NULL)
			continue;
		if (!in_core)
			madvise(p, len[i], MADV_DONTDUMP);
		if (wired && mlock(p, len[i]) < 0) {
			snprintf(err, errlen, "-S: cannot wire %llu MiB of guest memory: %s (see "
				 "ulimit -l)", (unsigned long long)(len[i] >> 20), strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int step_firmware(struct vm *vm, char *err, size_t errlen)
{
	return firmware_build(vm, vm_ncpus(vm), err, errlen);
}

static const struct vm_init_step run_step_memory = {
	"guest memory", VM_STEP_MEMORY, step_memory, NULL };
static const struct vm_init_step run_step_platform = {
	"platform devices", VM_STEP_PLATFORM, step_platform, step_platform_fini };
static const struct vm_init_step run_step_firmware = {
	"firmware tables", VM_STEP_FIRMWARE, step_firmware, NULL };
VM_INIT_STEP(run_step_memory);
VM_INIT_STEP(run_step_platform);
VM_INIT_STEP(run_step_firmware);

#define RUN_MAXSTEPS 64

/* Every registered step, sorted by order (insertion sort keeps equal orders stable). */
static size_t run_steps_collect(const struct vm_init_step **out)
{
	const struct vm_init_step **p;
	size_t n = 0, i;

	SET_FOREACH(p, vm_init_step_set) {
		if (n == RUN_MAXSTEPS)
			break;
		for (i = n; i > 0 && out[i - 1]->order > (*p)->order; i--)
			out[i] = out[i - 1];
		out[i] = *p;
		n++;
	}
	return n;
}

static void run_steps_fini(struct vm *vm, const struct vm_init_step **steps, size_t done)
{
	while (done-- > 0)
		if (steps[done]->fini)
			steps[done]->fini(vm);
}

static int run_steps_init(struct vm *vm, const struct vm_init_step **steps, size_t n,
			  size_t *done)
{
	char err[RUN_ERRLEN];

	for (*done = 0; *done < n; (*done)++) {
		err[0] = '\0';
		if (steps[*done]->init(vm, err, sizeof(err)) < 0)
			return cmd_fail(RUN_EXIT_ERROR, "%s: %s", steps[*done]->what,
					err[0] ? err : "set-up failed");
	}
	return 0;
}

/* ---- SIGTERM: the ACPI power button, from a thread (not from a signal handler) ---- */

static void *run_signal_thread(void *arg)
{
	struct vm *vm = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		platform_power_button(vm);
	}
	return NULL;
}

/* A guest page that tmpfs cannot back (it filled up after the VM was created) raises SIGBUS
 * in whichever thread touched it: end with a message instead of a core dump. */
static void run_sigbus(int sig)
{
	static const char msg[] = "bhyve: guest memory could not be backed "
				  "(/dev/shm is full?)\n";
	ssize_t r = write(2, msg, sizeof(msg) - 1);

	(void)r;
	(void)sig;
	_exit(RUN_EXIT_ERROR);
}

/* SIGTERM is blocked before any thread exists (devices start threads too), so that every
 * thread inherits the mask and only the signal thread's sigwait takes it. */
static void run_block_sigterm(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int run_signals(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = run_sigbus };
	pthread_t t;

	sigaction(SIGBUS, &sa, NULL);
	if (pthread_create(&t, NULL, run_signal_thread, vm) != 0)
		return -1;
	pthread_detach(t);
	return 0;
}

/* ---- Opening the VM ---- */

static int run_memsize(uint64_t *size)
{
	const char *s = config_get("memory.size");

	if (s == NULL)
		s = "256M";
	if (parse_memsize(s, size) < 0)
		return cmd_fail(RUN_EXIT_ERROR, "memory.size=%s: invalid memory size", s);
	return 0;
}

/* One-command boot: create the VM, unlink its name at once (nothing is left behind however
 * bhyve ends), load the kernel. */
static int run_create_and_load(const char *name, uint64_t memsize, struct vm **out)
{
	struct loader_args a = {
		.kernel = config_get("loader.kernel"),
		.initrd = config_get("loader.initrd"),
		.cmdline = config_get("loader.cmdline"),
	};
	struct vm_boot_state bs;
	char err[RUN_ERRLEN];
	struct vm *vm;

	if (vm_create(name, memsize) < 0)
		return cmd_fail(RUN_EXIT_ERROR, "cannot create VM '%s': %s", name, errno == ENOSPC ?
				"not enough free space in /dev/shm for its memory" : errno == EEXIST ?
				"a VM of that name exists (remove it with bhyvectl --destroy, or "
				"run it without loader.kernel)" : strerror(errno));
	vm = vm_open(name);
	vm_destroy(name);
	if (vm == NULL)
		return cmd_fail(RUN_EXIT_ERROR, "VM '%s' %s", name, vm_open_strerror(errno));
	if (loader_load(vm, &a, &bs, NULL, err, sizeof(err)) < 0 ||
	    vm_set_boot_state(vm, &bs) < 0) {
		vm_close(vm);
		return cmd_fail(RUN_EXIT_ERROR, "loader.kernel: %s", err);
	}
	*out = vm;
	return 0;
}

/* Open the VM; with a boot ROM (-l bootrom) create it first if it does not exist, as bhyve
 * does (*created says so, for clean-up on a set-up error). */
static int run_open(const char *name, uint64_t memsize, bool create, bool *created,
		    struct vm **out)
{
	struct vm *vm;
	int pid;

	*created = false;
	if (create && vm_create(name, memsize) == 0)
		*created = true;
	else if (create && errno != EEXIST)
		return cmd_fail(RUN_EXIT_ERROR, "cannot create VM '%s': %s", name, errno == ENOSPC ?
				"not enough free space in /dev/shm for its memory" : strerror(errno));
	vm = vm_open(name);
	if (vm == NULL && *created)
		vm_destroy(name);
	if (vm == NULL)
		return cmd_fail(RUN_EXIT_ERROR, "VM '%s' %s", name, errno == ENOENT ?
				"does not exist: create and load it with bhyveload first" :
				vm_open_strerror(errno));
	if (vm_mem_size(vm) != memsize) {
		cmd_fail(RUN_EXIT_ERROR, "-m %llu MiB does not match the VM's memory (%llu MiB, "
			 "given to bhyveload)", (unsigned long long)(memsize >> 20),
			 (unsigned long long)(vm_mem_size(vm) >> 20));
		vm_close(vm);
		return RUN_EXIT_ERROR;
	}
	pid = vm_running_pid(vm);
	if (pid > 0) {
		cmd_fail(RUN_EXIT_ERROR, "VM '%s' is already running (pid %d)", name, pid);
		vm_close(vm);
		return RUN_EXIT_ERROR;
	}
	*out = vm;
	return 0;
}

static enum vm_backend_kind run_backend(void)
{
	const char *b = config_get("vmm.backend");

	if (b == NULL || strcmp(b, "auto") == 0)
		return VM_BACKEND_AUTO;
	return strcmp(b, "kvm") == 0 ? VM_BACKEND_KVM : VM_BACKEND_SOFT;
}

/* vCPUs, devices, the BSP's registers from the boot state (or, with a boot ROM, the
 * architectural reset state: the ROM's reset vector at 0xFFFFFFF0); then run. */
static int run_vm(struct vm *vm, bool bootrom, bool *ran, int *debug_status)
{
	const struct vm_init_step *steps[RUN_MAXSTEPS];
	size_t nsteps = run_steps_collect(steps), done = 0;
	struct vm_boot_state bs;
	char err[RUN_ERRLEN];
	bool started;
	int rc;

	vm_get_boot_state(vm, &bs);
	if (!bs.valid && !bootrom)
		return cmd_fail(RUN_EXIT_ERROR, "VM '%s' has no kernel loaded (run bhyveload first, "
				"or give a boot ROM with -l bootrom)", vm_name(vm));
	if (vm_setup(vm, run_backend(), 0) < 0)
		return cmd_fail(RUN_EXIT_ERROR, "%s", vm_last_error(vm));
	if (!bootrom && vcpu_set_regs(vm_vcpu(vm, 0), &bs.regs) < 0)
		return cmd_fail(RUN_EXIT_ERROR, "cannot set the boot vCPU's registers");
	rc = run_steps_init(vm, steps, nsteps, &done);
	if (rc == 0 && run_signals(vm) < 0)
		rc = cmd_fail(RUN_EXIT_ERROR, "cannot start the signal thread");
	/* bhyvectl reads a running VM's vCPUs through it; bhyve runs on without it. */
	started = rc == 0;
	if (started && vm_ctl_start(vm) < 0)
		fprintf(stderr, "bhyve: no control socket for bhyvectl: %s\n", strerror(errno));
	/* Everything is open: from here on the sandbox holds (bhyve_sandbox.c). */
	if (started && bhyve_sandbox_enter(err, sizeof(err)) < 0)
		rc = cmd_fail(RUN_EXIT_ERROR, "%s", err);
	if (started && rc == 0) {
		rc = (int)vm_run(vm);
		if (rc == VM_SUSPEND_DEBUG_EXIT)
			*debug_status = vm_debug_exit_status(vm);
		*ran = true;
	}
	if (started) {
		vm_ctl_stop(vm);
		vm_ioevent_stop(vm);   /* its callbacks reach devices: stop it before they go */
	}
	run_steps_fini(vm, steps, done);
	return rc;
}

int bhyve_run(void)
{
	const char *name = config_get("name");
	bool bootrom = config_get("lpc.bootrom") != NULL, created = false, ran = false;
	struct vm *vm = NULL;
	uint64_t memsize;
	int rc, debug_status = 0;

	if (name == NULL || !vm_name_valid(name))
		return cmd_fail(RUN_EXIT_ERROR, "missing or invalid VM name");
	run_block_sigterm();
	rc = run_memsize(&memsize);
	if (rc != 0)
		return rc;
	if (config_get("loader.kernel") != NULL)
		rc = run_create_and_load(name, memsize, &vm);
	else
		rc = run_open(name, memsize, bootrom, &created, &vm);
	if (rc != 0)
		return rc;
	rc = run_vm(vm, bootrom && config_get("loader.kernel") == NULL, &ran, &debug_status);
	vm_close(vm);
	if (!ran && created)
		vm_destroy(name);   /* set-up failed: leave nothing we made behind */
	/* bhyve_config(5): destroy_on_poweroff removes the VM when the guest powers off. */
	if (rc == VM_SUSPEND_POWEROFF && config_get_bool("destroy_on_poweroff", false))
		vm_destroy(name);
	return rc == VM_SUSPEND_DEBUG_EXIT ? debug_status : rc;
}
