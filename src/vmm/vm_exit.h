/*
 * vCPU exits and the table that dispatches them.
 *
 * Both backends describe every reason a vCPU stopped running guest code as a struct vm_exit
 * and hand it to vcpu_handle_exit() (vm_backend.h), which counts it and calls
 * vm_exit_dispatch(), which calls the handler registered for its code.  On KVM
 * the exits come from KVM_RUN; on the software backend the CPU's synchronous callbacks (port
 * I/O, MMIO, MSRs) become exits too, so the handling is the same on both.
 */
#ifndef BHYVE_VM_EXIT_H
#define BHYVE_VM_EXIT_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vcpu;

enum vm_exitcode {
	VM_EXITCODE_NONE = 0,     /* nothing to do (budget expired, spurious return) */
	VM_EXITCODE_INOUT,        /* port I/O: u.inout */
	VM_EXITCODE_MMIO,         /* access to a non-RAM guest-physical address: u.mmio */
	VM_EXITCODE_HLT,          /* HLT: u.hlt.intr_enabled says whether RFLAGS.IF was set */
	VM_EXITCODE_PAUSE,        /* PAUSE with exit-on-pause (-P) */
	VM_EXITCODE_RDMSR,        /* u.msr: handler sets val, or gp=true for #GP */
	VM_EXITCODE_WRMSR,        /* u.msr */
	VM_EXITCODE_SHUTDOWN,     /* triple fault */
	VM_EXITCODE_WAIT_SIPI,    /* vCPU in wait-for-SIPI after INIT */
	VM_EXITCODE_DEBUG,        /* single step / breakpoint */
	VM_EXITCODE_KICK,         /* another thread asked the vCPU to look at its events */
	VM_EXITCODE_INTR_ACK,     /* soft backend: which vector to deliver now (u.intr.vector) */
	VM_EXITCODE_INVALID,      /* the backend cannot go on (u.invalid.msg) */
	VM_EXITCODE_MAX
};

struct vm_exit {
	enum vm_exitcode code;
	uint64_t rip;             /* where it happened, when the backend knows it cheaply (else 0) */
	union {
		struct {
			bool in;
			uint16_t port;
			uint8_t bytes;    /* 1, 2 or 4 */
			uint32_t eax;     /* value out / value read in */
		} inout;
		struct {
			bool write;
			uint64_t gpa;
			uint8_t bytes;    /* 1, 2, 4 or 8 */
			uint64_t val;
		} mmio;
		struct {
			uint32_t msr;
			uint64_t val;
			bool gp;          /* set by the handler: raise #GP(0) in the guest */
		} msr;
		struct {
			bool intr_enabled;
		} hlt;
		struct {
			int vector;       /* set by the handler: vector or -1 */
		} intr;
		struct {
			const char *msg;
		} invalid;
	} u;
};

/* Handlers return VMEXIT_CONTINUE or VMEXIT_ABORT (the VM stops with an error). */
#define VMEXIT_CONTINUE 0
#define VMEXIT_ABORT    (-1)

typedef int (*vm_exit_handler_t)(struct vcpu *vcpu, struct vm_exit *exit);

/* Dispatch one exit through the table. */
int vm_exit_dispatch(struct vcpu *vcpu, struct vm_exit *exit);
/* Replace the handler of one code in `vm`'s table (a debugger stub, tests); returns the
 * previous one. */
vm_exit_handler_t vm_exit_set_handler(struct vm *vm, enum vm_exitcode code,
				      vm_exit_handler_t fn);
const char *vm_exit_name(enum vm_exitcode code);

#endif
