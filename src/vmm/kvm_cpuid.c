/*
 * CPUID on KVM: what the host and KVM support (KVM_GET_SUPPORTED_CPUID), shaped into our CPU
 * model: the vCPU's APIC ID and topology (leaves 1, 4, 0xB, 0x80000008), x2APIC as the
 * configuration says, the TSC-deadline timer (the in-kernel LAPIC emulates it, but KVM leaves
 * the bit clear in its table), the hypervisor bit with bhyve's signature at 0x40000000, and
 * none of KVM's own paravirtual leaves (the guest sees bhyve, not KVM).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/kvm_int.h"

#define KVM_CPUID_MAX 256

struct kvm_cpuid2 *kvm_cpuid_supported(int sys_fd)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) + KVM_CPUID_MAX * sizeof(c->entries[0]));
	if (c == NULL)
		return NULL;
	c->nent = KVM_CPUID_MAX;
	if (kvm_ioctl(sys_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

/* Bits needed to number n things. */
static uint32_t kvm_bits(uint32_t n)
{
	uint32_t b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

static void kvm_cpuid_leaf1(struct kvm_cpuid_entry2 *e, const struct cpu_model *m,
			    uint32_t logical, bool tsc_deadline)
{
	e->ebx = (e->ebx & 0x0000ffffu) | (m->apic_id << 24) | ((logical & 0xff) << 16);
	if (logical > 1)
		e->edx |= 1u << 28;                     /* HTT: the count field is valid */
	else
		e->edx &= ~(1u << 28);
	if (m->x2apic)
		e->ecx |= 1u << 21;
	else
		e->ecx &= ~(1u << 21);
	if (tsc_deadline)
		e->ecx |= 1u << 24;
	e->ecx |= 1u << 31;                             /* running under a hypervisor */
}

/* Extended topology (0xB): level 0 SMT, level 1 core, then invalid. */
static void kvm_cpuid_leafb(struct kvm_cpuid_entry2 *e, const struct cpu_model *m)
{
	uint32_t t = m->threads_per_core ? m->threads_per_core : 1;
	uint32_t c = m->cores_per_pkg ? m->cores_per_pkg : 1;

	e->edx = m->apic_id;
	switch (e->index) {
	case 0:
		e->eax = kvm_bits(t);
		e->ebx = t;
		e->ecx = (1u << 8) | 0;
		break;
	case 1:
		e->eax = kvm_bits(t) + kvm_bits(c);
		e->ebx = t * c;
		e->ecx = (2u << 8) | 1;
		break;
	default:
		e->eax = e->ebx = 0;
		e->ecx = e->index & 0xff;
		break;
	}
}

static void kvm_cpuid_fix(struct kvm_cpuid_entry2 *e, const struct cpu_model *m,
			  uint32_t logical, bool tsc_deadline)
{
	uint32_t c = m->cores_per_pkg ? m->cores_per_pkg : 1;

	switch (e->function) {
	case 1:
		kvm_cpuid_leaf1(e, m, logical, tsc_deadline);
		break;
	case 4:
		if (e->eax & 0x1f)                      /* a cache: cores per package - 1 */
			e->eax = (e->eax & 0x03ffffffu) | ((c - 1) << 26);
		break;
	case 0xb:
		kvm_cpuid_leafb(e, m);
		break;
	case 0x80000008:
		e->ecx = (e->ecx & ~0xf0ffu) | (kvm_bits(logical) << 12) | ((logical - 1) & 0xff);
		break;
	default:
		break;
	}
}

int kvm_cpuid_set(struct kvm_vcpustate *k, const struct kvm_cpuid2 *sup,
		  const struct cpu_model *m, int ncpus_hint, bool tsc_deadline)
{
	struct kvm_cpuid2 *c;
	uint32_t i, n = 0, logical;
	int rc;

	logical = (m->threads_per_core ? m->threads_per_core : 1) *
		  (m->cores_per_pkg ? m->cores_per_pkg : 1);
	(void)ncpus_hint;
	c = calloc(1, sizeof(*c) + (sup->nent + 1) * sizeof(c->entries[0]));
	if (c == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < sup->nent; i++) {
		struct kvm_cpuid_entry2 e = sup->entries[i];
		if ((e.function & 0xffff0000u) == 0x40000000u)
			continue;                           /* KVM's paravirtual leaves */
		kvm_cpuid_fix(&e, m, logical, tsc_deadline);
		c->entries[n++] = e;
	}
	/* "bhyve bhyve " at 0x40000000, as FreeBSD's bhyve reports itself. */
	memset(&c->entries[n], 0, sizeof(c->entries[n]));
	c->entries[n].function = 0x40000000;
	c->entries[n].eax = 0x40000000;
	memcpy(&c->entries[n].ebx, "bhyv", 4);
	memcpy(&c->entries[n].ecx, "e bh", 4);
	memcpy(&c->entries[n].edx, "yve ", 4);
	n++;
	c->nent = n;
	rc = kvm_ioctl(k->fd, KVM_SET_CPUID2, c);
	free(c);
	return rc;
}
