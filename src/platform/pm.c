/*
 * ACPI fixed hardware and the PC's odd ports:
 *  - PM1a event block (status/enable: timer overflow, global lock, power button, RTC) and
 *    control block (SCI_EN, SLP_TYP/SLP_EN: S5 powers the VM off);
 *  - SMI_CMD: ACPI_ENABLE_VALUE / ACPI_DISABLE_VALUE switch SCI_EN (what firmware SMM would do);
 *  - the SCI, a level interrupt on IRQ_SCI while an enabled status bit is set and SCI_EN is on;
 *  - port 0x80 (POST codes, Linux's I/O delay): ignored;
 *  - 0xCF9 reset control: RST_CPU (bit 2) resets the VM;
 *  - 0x92 system control port A: bit 0 (fast reset) resets the VM as 0xCF9 does, bit 1 (the
 *    A20 gate, always on in a VM) and the other bits read back what was written;
 *  (the i8042 ports 0x60/0x64 are the keyboard controller, atkbdc.c).
 */
#include <pthread.h>
#include <stdlib.h>

#include "platform/platform_int.h"
#include "vmm/inout.h"
#include "vmm/irq.h"
#include "vmm/layout.h"
#include "vmm/vclock.h"

#define PM1_TMR_STS    0x0001
#define PM1_GBL_STS    0x0020
#define PM1_PWRBTN_STS 0x0100
#define PM1_RTC_STS    0x0400
#define PM1_WAK_STS    0x8000
#define PM1_STS_MASK   (PM1_TMR_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_RTC_STS | PM1_WAK_STS)
#define PM1_EN_MASK    (PM1_TMR_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_RTC_STS)

#define PM1_SCI_EN     0x0001
#define PM1_SLP_TYP(v) (((v) >> 10) & 7)
#define PM1_SLP_EN     0x2000
#define PM1_CNT_WMASK  0x1C07          /* SCI_EN, BM_RLD, GBL_RLS, SLP_TYP */

#define CF9_RST_CPU    0x04
#define PORTA_RESET    0x01

struct vpm {
	struct platform *p;
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	uint64_t tmr_epoch;            /* PM timer bit-23 period at the last TMR_STS clear */
	bool sci;                      /* the SCI line is asserted */
	uint8_t cf9;
	uint8_t porta;                 /* system control port A, as written (bit 0 reads 0) */
};

static uint64_t vpm_tmr_period(struct vpm *pm)
{
	return vclock_ns_to_ticks(vclock_ns(pm->p->vm), PM_TIMER_HZ) >> 23;
}

/* Lock held: recompute the SCI level; +1 assert, -1 deassert, 0 unchanged. */
static int vpm_sci_update(struct vpm *pm)
{
	bool on = (pm->cnt & PM1_SCI_EN) && (pm->sts & pm->en & PM1_EN_MASK);
	if (on == pm->sci)
		return 0;
	pm->sci = on;
	return on ? 1 : -1;
}

/* Lock held, so that SCI level changes land in the order the status changed. */
static void vpm_sci_apply(struct vpm *pm, int change)
{
	if (change > 0)
		vm_isa_assert_irq(pm->p->vm, IRQ_SCI, IRQ_SCI);
	else if (change < 0)
		vm_isa_deassert_irq(pm->p->vm, IRQ_SCI, IRQ_SCI);
}

/* ---- PM1 event block: 4 bytes, status then enable, any access width ---- */

static int vpm_evt_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		      void *arg)
{
	struct vpm *pm = arg;
	unsigned off = port - PORT_PM1A_EVT;
	pthread_mutex_lock(&pm->lock);
	if (vpm_tmr_period(pm) != pm->tmr_epoch)
		pm->sts |= PM1_TMR_STS;         /* bit 23 of the PM timer toggled */
	uint32_t reg = pm->sts | ((uint32_t)pm->en << 16);
	if (in) {
		*eax = reg >> (off * 8);
	} else {
		uint32_t mask = (bytes == 4 ? 0xFFFFFFFFu : (1u << (bytes * 8)) - 1) << (off * 8);
		uint32_t v = *eax << (off * 8);
		uint16_t clr = (uint16_t)(v & mask) & PM1_STS_MASK;
		pm->sts &= (uint16_t)~clr;
		if (clr & PM1_TMR_STS)
			pm->tmr_epoch = vpm_tmr_period(pm);
		if (mask >> 16)
			pm->en = (uint16_t)((pm->en & ~(mask >> 16)) | ((v & mask) >> 16)) & PM1_EN_MASK;
	}
	int change = vpm_sci_update(pm);
	vpm_sci_apply(pm, change);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

/* ---- PM1 control ---- */

static int vpm_cnt_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		      void *arg)
{
	struct vpm *pm = arg;
	unsigned off = port - PORT_PM1A_CNT;
	bool poweroff = false;
	pthread_mutex_lock(&pm->lock);
	if (in) {
		*eax = (uint32_t)pm->cnt >> (off * 8);
	} else {
		uint32_t mask = (bytes >= 2 ? 0xFFFFu : 0xFFu) << (off * 8);
		uint32_t v = (*eax << (off * 8)) & mask;
		pm->cnt = (uint16_t)((pm->cnt & ~mask) | (v & PM1_CNT_WMASK));
		if ((v & PM1_SLP_EN) && PM1_SLP_TYP(v) == ACPI_SLP_TYP_S5)
			poweroff = true;
		/* Other sleep states are not offered by the DSDT: SLP_EN for them is ignored. */
	}
	int change = vpm_sci_update(pm);
	vpm_sci_apply(pm, change);
	pthread_mutex_unlock(&pm->lock);
	if (poweroff)
		plat_suspend(pm->p, VM_SUSPEND_POWEROFF, "ACPI S5 (soft off)");
	return 0;
}

static int vpm_smi_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		      void *arg)
{
	struct vpm *pm = arg;
	if (in) {
		*eax = 0;
		return 0;
	}
	pthread_mutex_lock(&pm->lock);
	uint8_t v = (uint8_t)*eax;
	if (v == ACPI_ENABLE_VALUE)
		pm->cnt |= PM1_SCI_EN;
	else if (v == ACPI_DISABLE_VALUE)
		pm->cnt &= (uint16_t)~PM1_SCI_EN;
	int change = vpm_sci_update(pm);
	vpm_sci_apply(pm, change);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

void vpm_power_button(struct vpm *pm)
{
	if (!pm)
		return;
	pthread_mutex_lock(&pm->lock);
	pm->sts |= PM1_PWRBTN_STS;
	int change = vpm_sci_update(pm);
	vpm_sci_apply(pm, change);
	pthread_mutex_unlock(&pm->lock);
}

/* ---- reset paths and ignored ports ---- */

static int vpm_cf9_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		      void *arg)
{
	struct vpm *pm = arg;
	if (in) {
		*eax = pm->cf9;
		return 0;
	}
	pm->cf9 = (uint8_t)*eax & (uint8_t)~CF9_RST_CPU;
	if (*eax & CF9_RST_CPU)
		plat_suspend(pm->p, VM_SUSPEND_RESET, "reset through port 0xCF9");
	return 0;
}

static int vpm_porta_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
			void *arg)
{
	struct vpm *pm = arg;
	if (in) {
		*eax = pm->porta;
		return 0;
	}
	pm->porta = (uint8_t)*eax & (uint8_t)~PORTA_RESET;
	if (*eax & PORTA_RESET)
		plat_suspend(pm->p, VM_SUSPEND_RESET, "reset through port 0x92 (system control port A)");
	return 0;
}

static int vpm_post_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		       void *arg)
{
	if (in)
		*eax = 0xFF;
	return 0;
}

struct vpm_port {
	uint16_t port, size;
	inout_func_t fn;
	const char *name;
};

static const struct vpm_port vpm_ports[] = {
	{ PORT_PM1A_EVT, PM1_EVT_LEN, vpm_evt_io, "pm1a-evt" },
	{ PORT_PM1A_CNT, PM1_CNT_LEN, vpm_cnt_io, "pm1a-cnt" },
	{ PORT_SMI_CMD, 1, vpm_smi_io, "smi-cmd" },
	{ PORT_RESET_CF9, 1, vpm_cf9_io, "reset-cf9" },
	{ PORT_SYSCTL_A, 1, vpm_porta_io, "sysctl-port-a" },
	{ PORT_POST, 1, vpm_post_io, "post" },
};
#define VPM_NPORTS (sizeof(vpm_ports) / sizeof(vpm_ports[0]))

struct vpm *vpm_create(struct platform *p)
{
	struct vpm *pm = calloc(1, sizeof(*pm));
	if (!pm)
		return NULL;
	pm->p = p;
	pthread_mutex_init(&pm->lock, NULL);
	size_t i;
	for (i = 0; i < VPM_NPORTS; i++) {
		struct inout_port io = { vpm_ports[i].name, vpm_ports[i].port, vpm_ports[i].size,
					 IOPORT_F_INOUT, vpm_ports[i].fn, pm };
		if (register_inout(p->vm, &io) < 0)
			break;
	}
	if (i < VPM_NPORTS || vpmtmr_register(p) < 0) {
		while (i-- > 0) {
			struct inout_port io = { .port = vpm_ports[i].port, .size = vpm_ports[i].size };
			unregister_inout(p->vm, &io);
		}
		free(pm);
		return NULL;
	}
	/* The SCI is a shared, level-triggered, active-low ISA interrupt. */
	vatpic_set_trigger(p->atpic, IRQ_SCI, true);
	return pm;
}

void vpm_destroy(struct vpm *pm)
{
	if (!pm)
		return;
	for (size_t i = 0; i < VPM_NPORTS; i++) {
		struct inout_port io = { .port = vpm_ports[i].port, .size = vpm_ports[i].size };
		unregister_inout(pm->p->vm, &io);
	}
	struct inout_port tmr = { .port = PORT_PM_TMR, .size = PM_TMR_LEN };
	unregister_inout(pm->p->vm, &tmr);
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}
