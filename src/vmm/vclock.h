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

/* The guest's TSC runs at VCLOCK_TSC_HZ.  CPUID 0x15 reports the crystal as VCLOCK_CRYSTAL_HZ
 * (ECX) with ratio VCLOCK_TSC_HZ / VCLOCK_CRYSTAL_HZ (EBX/EAX); Linux then takes the local
 * APIC timer's input clock to be the crystal, so the LAPIC timer counts at VCLOCK_CRYSTAL_HZ.
 * They are equal (ratio 1/1), which is also what the CPU reports when its model leaves
 * crystal_hz at 0. */
#define VCLOCK_TSC_HZ     2000000000ULL
#define VCLOCK_CRYSTAL_HZ VCLOCK_TSC_HZ

/* Nanoseconds of guest time since the VM's clock started (monotonic). */
uint64_t vclock_ns(struct vm *vm);
/* Unit tests: freeze guest time at its current value; from then on it moves only by
 * vclock_advance(), which returns once every timer due by the new time has fired. */
void vclock_set_manual(struct vm *vm);
void vclock_advance(struct vm *vm, uint64_t ns);
/* The TSC frequency the guest sees (CPUID 0x15/0x16 report it). */
uint64_t vclock_tsc_hz(struct vm *vm);
uint64_t vclock_tsc(struct vm *vm);
/* The crystal (LAPIC timer input) frequency: VCLOCK_CRYSTAL_HZ. */
uint64_t vclock_crystal_hz(struct vm *vm);
/* Convert between vclock nanoseconds and TSC ticks (TSC 0 = vclock 0). */
uint64_t vclock_tsc_to_ns(struct vm *vm, uint64_t tsc);
uint64_t vclock_ns_to_tsc(struct vm *vm, uint64_t ns);
/* ticks * 1e9 / hz rounded up and ns * hz / 1e9 rounded down, without overflow. */
uint64_t vclock_ticks_to_ns(uint64_t ticks, uint64_t hz);
uint64_t vclock_ns_to_ticks(uint64_t ns, uint64_t hz);

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
