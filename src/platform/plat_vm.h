/*
 * Per-VM state of the device side (port and MMIO registries, the virtual clock, the platform
 * devices), found by the struct vm pointer.  The VM core keeps no slot for it, so a small
 * lock-free table keyed by the pointer holds it; an entry lives from the first use of a VM until
 * plat_vm_release() (platform_destroy()).
 */
#ifndef BHYVE_PLAT_VM_H
#define BHYVE_PLAT_VM_H

struct vm;
struct inout_table;
struct mmio_table;
struct vclock;
struct platform;

struct plat_vm {
	struct vm *vm;
	struct inout_table *io;
	struct mmio_table *mmio;
	struct vclock *clk;
	struct platform *plat;
};

/* The state of `vm`, created (zeroed, with registries and clock) on first use; NULL only when
 * out of memory or out of slots. */
struct plat_vm *plat_vm_get(struct vm *vm);
/* Free everything of `vm` (registries, clock thread); the VM must not run any more. */
void plat_vm_release(struct vm *vm);

/* Constructors/destructors of the parts (inout.c, mmio.c, vclock.c). */
struct inout_table *inout_table_create(void);
void inout_table_destroy(struct inout_table *t);
struct mmio_table *mmio_table_create(void);
void mmio_table_destroy(struct mmio_table *t);
struct vclock *vclock_create(struct vm *vm);
void vclock_destroy(struct vclock *c);

#endif
