/*
 * ACPI PM timer (FADT PM_TMR_BLK): a free-running 24-bit counter at 3.579545 MHz, computed
 * from the virtual clock, read as a 32-bit port (bits 24-31 read as zero).
 */
#include "platform/platform_int.h"
#include "vmm/inout.h"
#include "vmm/layout.h"
#include "vmm/vclock.h"

static int vpmtmr_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		     void *arg)
{
	struct platform *p = arg;
	if (!in)
		return 0;                        /* read-only */
	uint64_t ticks = vclock_ns_to_ticks(vclock_ns(p->vm), PM_TIMER_HZ);
	*eax = (uint32_t)(ticks & 0xFFFFFF) >> ((port - PORT_PM_TMR) * 8);
	return 0;
}

int vpmtmr_register(struct platform *p)
{
	struct inout_port io = { "pmtmr", PORT_PM_TMR, PM_TMR_LEN, IOPORT_F_INOUT, vpmtmr_io, p };
	return register_inout(p->vm, &io);
}
