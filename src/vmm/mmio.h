/*
 * MMIO dispatch: devices register guest-physical ranges that are not RAM.  Per-vCPU ranges
 * (the local APIC page) are registered with MEM_F_PERCPU and receive the accessing vCPU.
 */
#ifndef BHYVE_MMIO_H
#define BHYVE_MMIO_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;

#define MEM_F_READ   0x1
#define MEM_F_WRITE  0x2
#define MEM_F_RW     0x3
/* The range looks different to each vCPU (local APIC): the handler uses the vcpu argument. */
#define MEM_F_PERCPU 0x4

/* dir: MEM_F_READ or MEM_F_WRITE; size 1, 2, 4 or 8. Returns 0, or -1 to stop with an error. */
typedef int (*mem_func_t)(struct vcpu *vcpu, int dir, uint64_t addr, int size, uint64_t *val,
			  void *arg1, long arg2);

struct mem_range {
	const char *name;
	int flags;
	mem_func_t handler;
	void *arg1;
	long arg2;
	uint64_t base;
	uint64_t size;
};

int register_mem(struct vm *vm, const struct mem_range *mr);    /* -1, EEXIST on overlap */
int unregister_mem(struct vm *vm, const struct mem_range *mr);
/* Replaced range arrays not yet freed (bounded while vCPUs keep leaving their dispatches). */
size_t mmio_retired_count(struct vm *vm);
/* Dispatch; an access to nothing reads all ones and drops writes. */
int mmio_dispatch(struct vcpu *vcpu, int dir, uint64_t gpa, int size, uint64_t *val);

#endif
