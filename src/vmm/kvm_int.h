/*
 * The KVM backend's private state, shared by its files: backend_kvm.c (VM, vCPUs, the run
 * loop and exits), kvm_regs.c (register file <-> KVM), kvm_cpuid.c (the CPUID table),
 * kvm_irq.c (interrupt routing to the in-kernel irqchip) and kvm_probe.c (availability).
 */
#ifndef BHYVE_KVM_INT_H
#define BHYVE_KVM_INT_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/ioevent.h"
#include "vmm/vm_internal.h"

/* /dev/kvm, or what BHYVE_KVM_DEVICE names (tests point it elsewhere to simulate a host
 * without KVM). */
#define KVM_DEVICE_DEFAULT "/dev/kvm"
const char *kvm_device_path(void);

/* Where KVM keeps the pages it needs for real mode on Intel (TSS: 3 pages, EPT identity map:
 * 1 page): an unused gap of the PCI hole just below the IOAPIC, away from RAM, BARs, ECAM and
 * the boot ROM. */
#define KVM_IDENTITY_MAP_GPA 0xFEBFC000ULL
#define KVM_TSS_GPA          0xFEBFD000ULL

/* Memory slots: 0 and 1 are RAM below and above the PCI hole; the boot ROM follows. */
#define KVM_ROM_SLOT 2
#define KVM_DEVMEM_SLOT0 3   /* device memory (vm_map_devmem): slots 3.. */

struct kvm_vmstate {
	int sys_fd;
	int vm_fd;
	int run_size;               /* mmap size of struct kvm_run */
	bool user_msr;              /* unknown MSRs exit to us */
	struct kvm_cpuid2 *cpuid;   /* KVM_GET_SUPPORTED_CPUID */
	pthread_t ticker;           /* periodic kicks for halt detection */
	bool ticker_started;
	_Atomic bool ticker_stop;
	_Atomic uint32_t stuck;     /* vCPUs halted with IF=0 or waiting for SIPI (bit per vCPU) */
	struct kvm_ioevents *ioev;  /* kvm_ioevent.c, made on first use */
	bool rom_mapped;            /* the boot ROM's read-only slot (KVM_ROM_SLOT) exists */
};

struct kvm_vcpustate {
	struct vcpu *vcpu;
	int fd;
	struct kvm_run *run;
	_Atomic bool thread_known;
	pthread_t thread;
	bool stuck_seen;            /* the whole VM looked stuck at the previous tick */
	char why[160];              /* the message of the last VM_EXITCODE_INVALID */
};

static inline struct kvm_vmstate *kvm_vm_of(const struct vm *vm)
{
	return vm_backend_data(vm);
}

/* kvm_regs.c */
int kvm_regs_get(struct kvm_vcpustate *k, struct cpu_regs *regs);
int kvm_regs_set(struct kvm_vcpustate *k, const struct cpu_regs *regs);

/* kvm_cpuid.c: the supported table (once per VM) and one vCPU's CPUID from it. */
struct kvm_cpuid2 *kvm_cpuid_supported(int sys_fd);
int kvm_cpuid_set(struct kvm_vcpustate *k, const struct kvm_cpuid2 *sup,
		  const struct cpu_model *model, int ncpus_hint, bool tsc_deadline);

/* kvm_irq.c: GSI routing for the in-kernel PIC/IOAPIC/PIT. */
int kvm_irq_setup(int vm_fd, char *err, size_t errlen);

/* kvm_probe.c: can this host run guests on KVM?  `auto` asks this. */
bool kvm_probe(char *why, size_t whylen);

/* kvm_ioevent.c: ioevent.h on KVM (ioeventfds and the thread that serves them). */
struct vm_ioevent_spec;
int kvm_ioevent_add(struct vm *vm, const struct vm_ioevent_spec *spec);
void kvm_ioevent_del(struct vm *vm, int handle);
void kvm_ioevent_stop(struct vm *vm);
/* The slot bookkeeping behind them, kept apart from KVM so that it can be tested alone:
 * `passes` is the number of event batches the ioevent thread has finished. */
#define KVM_IOEVENT_MAX 512
enum { KVM_IOEV_UNUSED, KVM_IOEV_LIVE, KVM_IOEV_RETIRED };
struct kvm_ioev_slots {
	int n;                              /* slots ever handed out */
	uint8_t state[KVM_IOEVENT_MAX];
	uint64_t tag[KVM_IOEVENT_MAX];      /* `passes` when retired */
};
void kvm_ioev_slots_init(struct kvm_ioev_slots *b);
int kvm_ioev_slot_get(struct kvm_ioev_slots *b, uint64_t passes);   /* -1 if none free */
void kvm_ioev_slot_put(struct kvm_ioev_slots *b, int h, uint64_t passes);

/* ioctl that retries when a signal interrupted it. */
int kvm_ioctl(int fd, unsigned long req, void *arg);

#endif
