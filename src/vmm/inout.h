/*
 * Port I/O dispatch: devices register port ranges with a handler; the vCPU's I/O exits land
 * here.  An unclaimed read returns all ones and an unclaimed write is dropped, unless strict I/O
 * (bhyve -e, config x86.strictio) asks the VM to stop with an error.
 */
#ifndef BHYVE_INOUT_H
#define BHYVE_INOUT_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;

/* Handler: `in` is 1 for IN; bytes 1, 2 or 4; *eax holds the value (zero-extended on IN).
 * Returns 0, or -1 to stop the VM with an error. */
typedef int (*inout_func_t)(struct vcpu *vcpu, int in, uint16_t port, int bytes,
			    uint32_t *eax, void *arg);

#define IOPORT_F_IN    0x1
#define IOPORT_F_OUT   0x2
#define IOPORT_F_INOUT (IOPORT_F_IN | IOPORT_F_OUT)

struct inout_port {
	const char *name;
	uint16_t port;
	uint16_t size;        /* number of consecutive ports */
	int flags;
	inout_func_t handler;
	void *arg;
};

int register_inout(struct vm *vm, const struct inout_port *iop);   /* -1, EEXIST on overlap */
int unregister_inout(struct vm *vm, const struct inout_port *iop);
/* Unregistered entries not yet freed (bounded while vCPUs keep leaving their dispatches). */
size_t inout_retired_count(struct vm *vm);
/* Dispatch one access (called by the backends). */
int inout_dispatch(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax);

#endif
