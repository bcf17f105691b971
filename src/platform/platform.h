/*
 * The PC platform of one VM on the software backend: 8259 pair, 8254 PIT, IOAPIC, one local
 * APIC per vCPU, HPET, RTC/CMOS, ACPI PM timer and PM1 registers, port 0x80, the 0xCF9 and
 * keyboard-controller reset paths.  Created after vm_setup(), before the vCPUs run.
 */
#ifndef BHYVE_PLATFORM_H
#define BHYVE_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;

/* Create every platform device of `vm`, register its ports/MMIO and its interrupt-acknowledge
 * and MSR handlers (vm_set_platform_ops).  Reads config keys (x86.x2apic,
 * rtc.use_localtime, ...).  0, or -1 with a message in err. */
int platform_create(struct vm *vm, char *err, size_t errlen);
/* Destroys the devices: call it after every other device of the VM is gone. */
void platform_destroy(struct vm *vm);

/* Software backend, at an instruction boundary with IF=1: the vector to deliver to vcpuid
 * now (already moved to in-service, or ExtINT acknowledged at the 8259), or -1. */
int platform_intr_ack(struct vm *vm, int vcpuid);
/* MSRs that belong to the platform (IA32_APIC_BASE, x2APIC 0x800-0x8FF, TSC_DEADLINE):
 * 0 handled, 1 not ours (caller applies the unknown-MSR policy), -1 #GP. */
int platform_rdmsr(struct vm *vm, int vcpuid, uint32_t msr, uint64_t *val);
int platform_wrmsr(struct vm *vm, int vcpuid, uint32_t msr, uint64_t val);

/* CR8 (task priority) of the software CPU: MOV to/from CR8 reads and writes TPR[7:4]. */
uint8_t platform_get_cr8(struct vm *vm, int vcpuid);
void platform_set_cr8(struct vm *vm, int vcpuid, uint8_t cr8);

/* Tests: see every event the platform sends to the vCPUs and the VM (in addition to the VM
 * core's functions).  Any member may be NULL. */
struct platform_observer {
	void *arg;
	void (*intr)(void *arg, int vcpuid);
	void (*nmi)(void *arg, int vcpuid);
	void (*init)(void *arg, int vcpuid);
	void (*sipi)(void *arg, int vcpuid, uint8_t vector);
	void (*suspend)(void *arg, int how);
};
void platform_set_observer(struct vm *vm, const struct platform_observer *obs);

/* SIGTERM: press the ACPI power button (PM1 status PWRBTN_STS + SCI). */
void platform_power_button(struct vm *vm);

#endif
