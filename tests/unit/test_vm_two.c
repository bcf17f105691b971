/*
 * Two VMs in one process, both running at once on the software CPU: each has its own port
 * registry, MMIO registry, clock, exit table, platform and PCI bus.  Each guest writes its own
 * byte to a port that a device registered on its VM only, then powers off through its own
 * platform's PM1a control register; each device sees only its guest's byte.
 */
#include <pthread.h>
#include <string.h>

#include "common/config.h"
#include "loader/loader.h"
#include "pci/pci_devinst.h"
#include "platform/platform.h"
#include "unit.h"
#include "vmm/inout.h"
#include "vmm/layout.h"
#include "vmm/vm_exit.h"
#include "vmm/vmm.h"

#define TWO_PORT 0x510

struct two_dev {
	struct inout_port iop;
	char seen[16];
	int n;
};

static int two_out(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		   void *arg)
{
	struct two_dev *d = arg;
	if (in)
		*eax = 0;
	else if (d->n < (int)sizeof(d->seen) - 1)
		d->seen[d->n++] = (char)*eax;
	return 0;
}

/* A Multiboot a.out-kludge image whose code at 0x100020 writes `c` to TWO_PORT three
 * times, then sets S5 in PM1a control and halts. */
static size_t two_image(uint8_t *img, char c)
{
	const uint8_t code[] = {
		0x66, 0xba, TWO_PORT & 0xff, TWO_PORT >> 8,   /* mov dx, TWO_PORT */
		0xb0, (uint8_t)c, 0xee, 0xee, 0xee,           /* mov al, c; out dx, al (x3) */
		0x66, 0xba, 0x04, 0x04,                       /* mov dx, 0x404 */
		0x66, 0xb8, 0x00, 0x34,                       /* mov ax, 0x3400: S5 | SLP_EN */
		0x66, 0xef,                                   /* out dx, ax */
		0xfa, 0xf4, 0xeb, 0xfc,                       /* cli; hlt; jmp $-2 */
	};
	uint32_t h[8] = { 0x1badb002, 0x10000, (uint32_t)-(0x1badb002 + 0x10000), 0x100000,
			  0x100000, 0, 0, 0x100020 };
	memset(img, 0, 4096);
	memcpy(img, h, sizeof(h));
	memcpy(img + 32, code, sizeof(code));
	return 32 + sizeof(code) + 64;
}

struct two_vm {
	struct vm *vm;
	struct two_dev dev;
	enum vm_suspend_how how;
	pthread_t thread;
};

static int two_setup(struct two_vm *t, char c)
{
	uint8_t img[4096];
	size_t len = two_image(img, c);
	struct loader_args a = { .kernel = "t" };
	struct vm_boot_state bs;
	char err[256];

	t->how = VM_SUSPEND_NONE;
	t->vm = vm_create_anon(16ULL << 20);
	if (!t->vm)
		return -1;
	if (loader_multiboot(t->vm, img, len, &a, &bs, err, sizeof(err)) < 0 ||
	    vm_setup(t->vm, VM_BACKEND_SOFT, 1) < 0 ||
	    platform_create(t->vm, err, sizeof(err)) < 0 ||
	    pci_bus_init(t->vm, err, sizeof(err)) < 0) {
		fprintf(stderr, "set-up: %s\n", err);
		return -1;
	}
	t->dev.iop = (struct inout_port){ "two", TWO_PORT, 1, IOPORT_F_INOUT, two_out, &t->dev };
	if (register_inout(t->vm, &t->dev.iop) < 0)
		return -1;
	return vcpu_set_regs(vm_vcpu(t->vm, 0), &bs.regs);
}

static void *two_run(void *arg)
{
	struct two_vm *t = arg;
	t->how = vm_run(t->vm);
	return NULL;
}

static void two_free(struct two_vm *t)
{
	if (!t->vm)
		return;
	pci_bus_fini(t->vm);
	platform_destroy(t->vm);
	vm_close(t->vm);
}

/* The per-VM parts are distinct objects, and the PCI buses answer independently. */
static void test_parts(struct two_vm *a, struct two_vm *b)
{
	CHECK(vm_platform(a->vm) != NULL && vm_platform(b->vm) != NULL);
	CHECK(vm_platform(a->vm) != vm_platform(b->vm));
	CHECK(vm_pci_bus(a->vm) != NULL && vm_pci_bus(b->vm) != NULL);
	CHECK(vm_pci_bus(a->vm) != vm_pci_bus(b->vm));
	struct pci_devinst *pa = pci_bus_find(a->vm, 0, 0, 0), *pb = pci_bus_find(b->vm, 0, 0, 0);
	CHECK(pa != NULL && pb != NULL && pa != pb);
	uint32_t id = 0;
	pci_cfg_access(a->vm, 0, 0, 0, 0, 4, &id, false);
	CHECK(id != 0xFFFFFFFFu);
	/* The port belongs to one VM: registering it again on that VM fails, not on the other. */
	struct inout_port dup = a->dev.iop;
	CHECK(register_inout(a->vm, &dup) < 0);
}

int main(void)
{
	struct two_vm a = { 0 }, b = { 0 };

	config_reset();
	config_set("x86.vmexit_on_hlt", "true");
	config_set("pci.0.0.0.device", "hostbridge");
	CHECK_EQ(two_setup(&a, 'a'), 0);
	CHECK_EQ(two_setup(&b, 'b'), 0);
	if (a.vm && b.vm && !unit_failures) {
		test_parts(&a, &b);
		CHECK_EQ(pthread_create(&a.thread, NULL, two_run, &a), 0);
		CHECK_EQ(pthread_create(&b.thread, NULL, two_run, &b), 0);
		pthread_join(a.thread, NULL);
		pthread_join(b.thread, NULL);
		CHECK_EQ(a.how, VM_SUSPEND_POWEROFF);
		CHECK_EQ(b.how, VM_SUSPEND_POWEROFF);
		CHECK_STR(a.dev.seen, "aaa");
		CHECK_STR(b.dev.seen, "bbb");
		struct vcpu_stats sa, sb;
		CHECK_EQ(vcpu_get_stats(vm_vcpu(a.vm, 0), &sa), 0);
		CHECK_EQ(vcpu_get_stats(vm_vcpu(b.vm, 0), &sb), 0);
		CHECK(sa.exits[VM_EXITCODE_INOUT] >= 4 && sb.exits[VM_EXITCODE_INOUT] >= 4);
	}
	two_free(&a);
	two_free(&b);
	return unit_report("vm_two");
}
