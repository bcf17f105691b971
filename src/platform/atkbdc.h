/*
 * i8042 keyboard controller with PS/2 keyboard and mouse (atkbdc.c): ports 0x60/0x64,
 * IRQ 1 and 12, fed by the console hub (vmm/console.h).
 */
#ifndef BHYVE_ATKBDC_H
#define BHYVE_ATKBDC_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct atkbdc;

/* Registers the ports and the console sinks; `reset` is called for the controller's CPU
 * reset line (command 0xFE, output port bit 0).  NULL on failure. */
struct atkbdc *atkbdc_create(struct vm *vm, void (*reset)(void *arg), void *reset_arg);
void atkbdc_destroy(struct atkbdc *k);
/* Events as the console hub delivers them (tests). */
void atkbdc_key(struct atkbdc *k, bool down, uint32_t keysym);
void atkbdc_pointer(struct atkbdc *k, int buttons, int x, int y);

#endif
