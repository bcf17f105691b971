/*
 * The VM's one virtual clock.  TSC, LAPIC timer, PIT, HPET, RTC and the ACPI PM timer all derive
 * from vclock_ns(), so a guest that calibrates one against another gets consistent answers.
 * Timers fire on the VM's timer thread; their callbacks take the owning device's lock.
 */
#ifndef BHYVE_VCLOCK_H
#define BHYVE_VCLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Nanoseconds of guest time since the VM's clock started (monotonic). */
uint64_t vclock_ns(struct vm *vm);
/* The TSC frequency the guest sees (CPUID 0x15/0x16 report it). */
uint64_t vclock_tsc_hz(struct vm *vm);
uint64_t vclock_tsc(struct vm *vm);

struct vtimer;
typedef void (*vtimer_fn)(void *arg);

/* A one-shot timer; re-arm from the callback for periodic behaviour. */
struct vtimer *vtimer_create(struct vm *vm, vtimer_fn fn, void *arg);
void vtimer_destroy(struct vtimer *t);
/* Fire at absolute vclock_ns() time `deadline_ns` (replaces a pending arm). */
void vtimer_arm(struct vtimer *t, uint64_t deadline_ns);
void vtimer_cancel(struct vtimer *t);
bool vtimer_pending(const struct vtimer *t);

#endif
