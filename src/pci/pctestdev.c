/*
 * pc-testdev (-l pc-testdev): the debug and test device of FreeBSD's bhyve, which offers the
 * interface of QEMU's `pc-testdev` so that test kernels written for QEMU (kvm-unit-tests) run
 * unchanged:
 *  - 0xE0-0xE3: a 32-bit scratch register; an access of any width at any of the four ports
 *    reads or writes the bytes it covers (byte lane = port - 0xE0);
 *  - 0xE4-0xE7: page flush: a 32-bit write names a guest-physical address whose page is
 *    dropped from every cached translation (on QEMU/KVM the page is unmapped and faulted back
 *    in; here the software CPU forgets what it cached of it); reads return 0;
 *  - 0xE8-0xEB: the scratch register again, as QEMU's byte-wise view of it;
 *  - 0x2000-0x2017: one port per interrupt line: a byte write of non-zero raises line N, of
 *    zero lowers it; lines 0-15 are ISA IRQs (8259 input N and its IOAPIC pin, IRQ 0 on pin 2
 *    as the MADT says), 16-23 IOAPIC pins.  The line is a level: an edge-triggered input sees
 *    its edge when the line goes from low to high, a level-triggered one interrupts while it
 *    is high.  Reads return 0; accesses wider than a byte are ignored;
 *  - 0xFF000000-0xFF00FFFF: 64 KiB of memory-mapped scratch space read back as written, with
 *    accesses of 1, 2, 4 or 8 bytes;
 *  - 0xF4-0xF7: QEMU's isa-debug-exit, which FreeBSD's pc-testdev includes: writing V ends
 *    bhyve with exit status (V << 1) | 1 (as a process status: its low 8 bits); reads 0.
 * Key: lpc.pc-testdev=true.  The device is created by a VM set-up step and needs no LPC bridge
 * (like com1-com4 here).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "pci/pci_emul.h"
#include "vmm/inout.h"
#include "vmm/irq.h"
#include "vmm/layout.h"
#include "vmm/mmio.h"
#include "vmm/vm_init_step.h"
#include "vmm/vmm.h"

#define PCTESTDEV_KEY   "lpc.pc-testdev"
#define PCTESTDEV_LINES 24             /* as many as the IOAPIC has pins */

struct pctestdev {
	struct vm *vm;
	struct pctestdev *next;
	pthread_mutex_t lock;
	uint32_t data;                     /* the scratch register at 0xE0 / 0xE8 */
	uint8_t iomem[PCTESTDEV_IOMEM_SIZE];
};

/* The devices of the VMs of this process (one per VM at most), for the step's fini. */
static pthread_mutex_t pctestdev_list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pctestdev *pctestdev_list;

/* ---- I/O ports ---- */

/* 0xE0-0xE3 and 0xE8-0xEB: the bytes of the register the access covers. */
static int pctestdev_data_io(struct vcpu *vcpu, int in, uint16_t port, int bytes,
			     uint32_t *eax, void *arg)
{
	struct pctestdev *d = arg;
	unsigned shift = (port & 3) * 8;
	uint64_t mask = (bytes == 4 ? 0xFFFFFFFFull : (1ull << (bytes * 8)) - 1) << shift;

	(void)vcpu;
	mask &= 0xFFFFFFFFull;             /* bytes past the register's end do not exist */
	pthread_mutex_lock(&d->lock);
	if (in)
		*eax = (uint32_t)((d->data & mask) >> shift);
	else
		d->data = (uint32_t)((d->data & ~mask) | (((uint64_t)*eax << shift) & mask));
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* 0xE4: flush the page of the guest-physical address written (32-bit writes only). */
static int pctestdev_flush_io(struct vcpu *vcpu, int in, uint16_t port, int bytes,
			      uint32_t *eax, void *arg)
{
	struct pctestdev *d = arg;
	uint64_t page = *eax & ~0xFFFull;

	(void)vcpu;
	if (in) {
		*eax = 0;
		return 0;
	}
	if (port != PORT_PCTESTDEV_FLUSH || bytes != 4)
		return 0;
	if (vm_map_gpa(d->vm, page, 0x1000))
		vm_notify_write(d->vm, page, 0x1000);
	return 0;
}

/* 0xF4: the guest ends the VM with an exit status of its choice. */
static int pctestdev_exit_io(struct vcpu *vcpu, int in, uint16_t port, int bytes,
			     uint32_t *eax, void *arg)
{
	struct pctestdev *d = arg;

	(void)vcpu;
	if (in) {
		*eax = 0;
		return 0;
	}
	vm_suspend_debug_exit(d->vm, (int)(((*eax << 1) | 1) & 0xFF));
	return 0;
}

/* 0x2000 + N: interrupt line N follows the byte written. */
static int pctestdev_irq_io(struct vcpu *vcpu, int in, uint16_t port, int bytes,
			    uint32_t *eax, void *arg)
{
	struct pctestdev *d = arg;
	int line = port - PORT_PCTESTDEV_IRQ;

	(void)vcpu;
	if (in) {
		*eax = 0;
		return 0;
	}
	if (bytes != 1 || line < 0 || line >= PCTESTDEV_LINES)
		return 0;
	bool high = (*eax & 0xFF) != 0;
	if (line < 16) {
		int pin = line == 0 ? 2 : line;
		if (high)
			vm_isa_assert_irq(d->vm, line, pin);
		else
			vm_isa_deassert_irq(d->vm, line, pin);
	} else if (high) {
		vm_ioapic_assert_irq(d->vm, line);
	} else {
		vm_ioapic_deassert_irq(d->vm, line);
	}
	return 0;
}

/* ---- memory ---- */

static int pctestdev_iomem(struct vcpu *vcpu, int dir, uint64_t addr, int size, uint64_t *val,
			   void *arg1, long arg2)
{
	struct pctestdev *d = arg1;
	uint64_t off = addr - LAYOUT_PCTESTDEV_IOMEM;
	size_t n = (size_t)size;

	(void)vcpu;
	(void)arg2;
	if (off >= PCTESTDEV_IOMEM_SIZE)
		return 0;
	if (n > PCTESTDEV_IOMEM_SIZE - off)
		n = PCTESTDEV_IOMEM_SIZE - off;  /* an access across the end: the rest is nothing */
	pthread_mutex_lock(&d->lock);
	if (dir == MEM_F_READ) {
		uint64_t v = 0;
		memcpy(&v, d->iomem + off, n);   /* little-endian host, as the guest */
		*val = v;
	} else {
		memcpy(d->iomem + off, val, n);
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* ---- registration ---- */

struct pctestdev_ports {
	uint16_t port, size;
	inout_func_t fn;
	const char *name;
};

static const struct pctestdev_ports pctestdev_ports[] = {
	{ PORT_PCTESTDEV_DATA, 4, pctestdev_data_io, "pc-testdev-ioport" },
	{ PORT_PCTESTDEV_FLUSH, 4, pctestdev_flush_io, "pc-testdev-flush-page" },
	{ PORT_PCTESTDEV_BYTE, 4, pctestdev_data_io, "pc-testdev-ioport-byte" },
	{ PORT_PCTESTDEV_IRQ, PCTESTDEV_LINES, pctestdev_irq_io, "pc-testdev-irq-line" },
	{ PORT_DEBUG_EXIT, 4, pctestdev_exit_io, "isa-debug-exit" },
};
#define PCTESTDEV_NPORTS (sizeof(pctestdev_ports) / sizeof(pctestdev_ports[0]))

static const struct mem_range pctestdev_range = {
	.name = "pc-testdev-iomem", .flags = MEM_F_RW, .handler = pctestdev_iomem,
	.base = LAYOUT_PCTESTDEV_IOMEM, .size = PCTESTDEV_IOMEM_SIZE,
};

static void pctestdev_unregister(struct pctestdev *d, size_t nports, bool mem)
{
	while (nports-- > 0) {
		struct inout_port io = { .port = pctestdev_ports[nports].port,
					 .size = pctestdev_ports[nports].size };
		unregister_inout(d->vm, &io);
	}
	if (mem)
		unregister_mem(d->vm, &pctestdev_range);
}

static int pctestdev_register(struct pctestdev *d, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < PCTESTDEV_NPORTS; i++) {
		const struct pctestdev_ports *p = &pctestdev_ports[i];
		struct inout_port io = { p->name, p->port, p->size, IOPORT_F_INOUT, p->fn, d };
		if (register_inout(d->vm, &io) < 0) {
			snprintf(err, errlen, "pc-testdev: ports 0x%x-0x%x: %s", p->port,
				 p->port + p->size - 1, errno == EEXIST ? "already in use" :
				 strerror(errno));
			pctestdev_unregister(d, i, false);
			return -1;
		}
	}
	struct mem_range mr = pctestdev_range;
	mr.arg1 = d;
	if (register_mem(d->vm, &mr) < 0) {
		snprintf(err, errlen, "pc-testdev: memory 0x%llx-0x%llx: %s",
			 (unsigned long long)LAYOUT_PCTESTDEV_IOMEM,
			 (unsigned long long)(LAYOUT_PCTESTDEV_IOMEM + PCTESTDEV_IOMEM_SIZE - 1),
			 errno == EEXIST ? "already in use (a boot ROM larger than 16 MiB - 64 KiB?)"
					 : strerror(errno));
		pctestdev_unregister(d, PCTESTDEV_NPORTS, false);
		return -1;
	}
	return 0;
}

static int pctestdev_init(struct vm *vm, char *err, size_t errlen)
{
	if (!config_get_bool(PCTESTDEV_KEY, false))
		return 0;
	struct pctestdev *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "pc-testdev: out of memory");
		return -1;
	}
	d->vm = vm;
	pthread_mutex_init(&d->lock, NULL);
	if (pctestdev_register(d, err, errlen) < 0) {
		pthread_mutex_destroy(&d->lock);
		free(d);
		return -1;
	}
	pthread_mutex_lock(&pctestdev_list_lock);
	d->next = pctestdev_list;
	pctestdev_list = d;
	pthread_mutex_unlock(&pctestdev_list_lock);
	return 0;
}

static void pctestdev_fini(struct vm *vm)
{
	struct pctestdev **pp, *d = NULL;

	pthread_mutex_lock(&pctestdev_list_lock);
	for (pp = &pctestdev_list; *pp; pp = &(*pp)->next) {
		if ((*pp)->vm == vm) {
			d = *pp;
			*pp = d->next;
			break;
		}
	}
	pthread_mutex_unlock(&pctestdev_list_lock);
	if (!d)
		return;
	pctestdev_unregister(d, PCTESTDEV_NPORTS, true);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* After the PCI devices (the LPC bridge maps a boot ROM that the memory range must not
 * overlap), before the firmware tables. */
static const struct vm_init_step pctestdev_step = {
	"pc-testdev", VM_STEP_PCI + 50, pctestdev_init, pctestdev_fini };
VM_INIT_STEP(pctestdev_step);

/* ---- -l pc-testdev ---- */

static int pctestdev_legacy(const char *name, const char *conf, char *err, size_t errlen)
{
	(void)name;
	if (conf && *conf) {
		snprintf(err, errlen, "'%s': pc-testdev takes no options", conf);
		return -1;
	}
	if (config_get_raw(PCTESTDEV_KEY)) {
		snprintf(err, errlen, "pc-testdev is configured twice");
		return -1;
	}
	return config_set(PCTESTDEV_KEY, "true");
}

static int pctestdev_validate(char *err, size_t errlen)
{
	const char *v = config_get_raw(PCTESTDEV_KEY);
	bool b;

	if (config_find_node(PCTESTDEV_KEY)) {
		snprintf(err, errlen, "%s must be true or false, not a node", PCTESTDEV_KEY);
		return -1;
	}
	if (v && config_parse_bool(v, &b) < 0) {
		snprintf(err, errlen, "%s=%s: expected true or false", PCTESTDEV_KEY, v);
		return -1;
	}
	return 0;
}

static const struct lpc_devemu lpc_de_pctestdev = {
	.le_name = "pc-testdev",
	.le_help = "test device of QEMU/kvm-unit-tests: ports 0xe0-0xeb, IRQ lines at 0x2000, "
		   "scratch memory at 0xff000000, exit port 0xf4",
	.le_legacy_config = pctestdev_legacy,
	.le_validate = pctestdev_validate,
};
LPC_EMUL_SET(lpc_de_pctestdev);
