/*
 * Which backend runs a VM: vmm.backend=kvm|soft|auto.
 *
 * `kvm` insists on KVM (vm_setup fails with a clear message where it cannot be used), `soft`
 * is the software CPU.  `auto` must not pick a KVM that opens but cannot run guests: on some
 * nested set-ups (a Firecracker VM with nested "PVM", where this project is developed) tiny
 * guests run but a Linux kernel crawls or stops early.  PVM is KVM without hardware
 * virtualization, so `auto` picks KVM when
 *   - the host CPU has hardware virtualization (the vmx or svm flag in /proc/cpuinfo), or
 *     BHYVE_AUTO_KVM=1 is in the environment (the host is known to run guests on KVM); and
 *     BHYVE_AUTO_KVM is not 0 (which keeps `auto` on the software CPU), and
 *   - a probe passes: a 64-bit guest with 4-level paging and a 2 MiB page reads a value from
 *     memory through its page tables and writes it to a port, then halts.
 * Otherwise `auto` is the software CPU.  BHYVE_VERBOSE=1 makes bhyve say which one it uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/kvm_int.h"

#define PROBE_MEM    0x200000u
#define PROBE_PML4   0x1000u
#define PROBE_PDPT   0x2000u
#define PROBE_PD     0x3000u
#define PROBE_DATA   0x4000u
#define PROBE_CODE   0x8000u
#define PROBE_PORT   0x510
#define PROBE_VALUE  0x6b766d21u   /* "kvm!" */

/* mov eax, [PROBE_DATA]; mov dx, PROBE_PORT; out dx, eax; hlt */
static const uint8_t probe_code[] = {
	0x8b, 0x04, 0x25, 0x00, 0x40, 0x00, 0x00,
	0x66, 0xba, 0x10, 0x05,
	0xef,
	0xf4,
};

static void probe_memory(uint8_t *mem)
{
	uint64_t e;
	uint32_t v = PROBE_VALUE;

	e = PROBE_PDPT | 3;
	memcpy(mem + PROBE_PML4, &e, 8);
	e = PROBE_PD | 3;
	memcpy(mem + PROBE_PDPT, &e, 8);
	e = 0x83;                                   /* 2 MiB page at 0, present, writable */
	memcpy(mem + PROBE_PD, &e, 8);
	memcpy(mem + PROBE_DATA, &v, 4);
	memcpy(mem + PROBE_CODE, probe_code, sizeof(probe_code));
}

static int probe_long_mode(int vcpu)
{
	struct kvm_sregs sr;
	struct kvm_regs r;
	struct kvm_segment cs = { .base = 0, .limit = 0xffffffff, .selector = 8, .type = 11,
				  .present = 1, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment ds = { .base = 0, .limit = 0xffffffff, .selector = 16, .type = 3,
				  .present = 1, .s = 1, .db = 1, .g = 1 };

	if (kvm_ioctl(vcpu, KVM_GET_SREGS, &sr) < 0)
		return -1;
	sr.cs = cs;
	sr.ds = sr.es = sr.ss = sr.fs = sr.gs = ds;
	sr.cr3 = PROBE_PML4;
	sr.cr4 = 1u << 5;                           /* PAE */
	sr.cr0 = 0x80000001u | (1u << 16);          /* PG, PE, WP */
	sr.efer = (1u << 8) | (1u << 10);           /* LME, LMA */
	if (kvm_ioctl(vcpu, KVM_SET_SREGS, &sr) < 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.rip = PROBE_CODE;
	r.rflags = 2;
	r.rsp = PROBE_CODE;
	return kvm_ioctl(vcpu, KVM_SET_REGS, &r);
}

/* Run until HLT; true if the guest wrote PROBE_VALUE to PROBE_PORT first. */
static bool probe_run(int vcpu, struct kvm_run *run)
{
	bool seen = false;
	int i;

	for (i = 0; i < 16; i++) {
		if (kvm_ioctl(vcpu, KVM_RUN, NULL) < 0)
			return false;
		if (run->exit_reason == KVM_EXIT_HLT)
			return seen;
		if (run->exit_reason != KVM_EXIT_IO || run->io.port != PROBE_PORT ||
		    run->io.size != 4)
			return false;
		uint32_t v;
		memcpy(&v, (uint8_t *)run + run->io.data_offset, 4);
		seen = v == PROBE_VALUE;
	}
	return false;
}

static bool probe_vm(int sys, int vm, char *why, size_t whylen)
{
	int size = ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0), vcpu = -1;
	uint8_t *mem = mmap(NULL, PROBE_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	struct kvm_userspace_memory_region reg = { .slot = 0, .memory_size = PROBE_MEM };
	struct kvm_run *run = MAP_FAILED;
	bool ok = false;

	if (mem == MAP_FAILED)
		return false;
	probe_memory(mem);
	reg.userspace_addr = (uint64_t)(uintptr_t)mem;
	(void)ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	if (kvm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg) == 0)
		vcpu = ioctl(vm, KVM_CREATE_VCPU, 0ul);
	if (vcpu >= 0 && size > 0)
		run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run != MAP_FAILED && probe_long_mode(vcpu) == 0)
		ok = probe_run(vcpu, run);
	if (!ok)
		snprintf(why, whylen, "a 64-bit test guest did not run");
	if (run != MAP_FAILED)
		munmap(run, (size_t)size);
	if (vcpu >= 0)
		close(vcpu);
	munmap(mem, PROBE_MEM);
	return ok;
}

bool kvm_probe(char *why, size_t whylen)
{
	const char *dev = kvm_device_path();
	int sys = open(dev, O_RDWR | O_CLOEXEC), vm = -1;
	bool ok = false;

	if (sys < 0) {
		snprintf(why, whylen, "%s: %s", dev, strerror(errno));
		return false;
	}
	if (ioctl(sys, KVM_GET_API_VERSION, 0) == KVM_API_VERSION)
		vm = ioctl(sys, KVM_CREATE_VM, 0ul);
	if (vm < 0)
		snprintf(why, whylen, "%s: cannot create a VM", dev);
	else
		ok = probe_vm(sys, vm, why, whylen);
	if (vm >= 0)
		close(vm);
	close(sys);
	return ok;
}

static bool env_on(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && strcmp(v, "1") == 0;
}

/* Hardware virtualization, as the host kernel reports it in the CPU flags. */
static bool host_has_hw_virt(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool yes = false;

	if (f == NULL)
		return false;
	while (!yes && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "flags", 5) == 0)
			yes = strstr(line, " vmx") != NULL || strstr(line, " svm") != NULL;
	fclose(f);
	return yes;
}

static bool auto_may_use_kvm(void)
{
	const char *v = getenv("BHYVE_AUTO_KVM");

	if (v != NULL && strcmp(v, "0") == 0)
		return false;
	return env_on("BHYVE_AUTO_KVM") || host_has_hw_virt();
}

/* The backend for `kind`: NULL with a message in err if KVM was asked for and cannot run. */
const struct vm_backend_ops *vm_backend_select(enum vm_backend_kind kind, char *err,
					       size_t errlen)
{
	const struct vm_backend_ops *ops = &vm_backend_soft;
	char why[200] = "";

	if (kind == VM_BACKEND_KVM) {
		if (!kvm_probe(why, sizeof(why))) {
			snprintf(err, errlen, "vmm.backend=kvm: KVM is not available (%s)", why);
			return NULL;
		}
		ops = &vm_backend_kvm;
	} else if (kind == VM_BACKEND_AUTO && auto_may_use_kvm()) {
		if (kvm_probe(why, sizeof(why)))
			ops = &vm_backend_kvm;
	}
	if (env_on("BHYVE_VERBOSE"))
		fprintf(stderr, "bhyve: backend %s%s%s%s\n", ops->name,
			why[0] ? " (KVM: " : "", why, why[0] ? ")" : "");
	return ops;
}
