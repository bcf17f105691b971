/*
 * Guest writes that only signal something (a virtio queue notify) need not stop the vCPU: with
 * KVM they become ioeventfds, which the kernel completes at once and which a thread of ours
 * turns into the device's callback.  A backend without such a path (the software CPU, whose
 * port/MMIO callbacks are already in-process) refuses, and the write reaches the device's
 * registered port/MMIO handler as before: a device registers both and needs no other change.
 */
#ifndef BHYVE_IOEVENT_H
#define BHYVE_IOEVENT_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

typedef void (*vm_ioevent_fn)(void *arg, long id);

struct vm_ioevent_spec {
	bool pio;               /* port I/O, else MMIO */
	uint64_t addr;
	int len;                /* 1, 2, 4 or 8: only writes of this size match */
	bool datamatch;         /* only writes of `data` match */
	uint64_t data;
	vm_ioevent_fn fn;       /* called on the ioevent thread, never under the caller's locks */
	void *arg;
	long id;
};

/* A handle >= 0, or -1 when the backend has no in-kernel path (nothing else to do then). */
int vm_ioevent_add(struct vm *vm, const struct vm_ioevent_spec *s);
/* Stop matching the handle's writes (a callback already under way may still run once, which
 * a notify tolerates: it only makes the device look at its queue). */
void vm_ioevent_del(struct vm *vm, int handle);
/* Stop the ioevent thread (after the vCPUs, before the devices go away). */
void vm_ioevent_stop(struct vm *vm);

#endif
