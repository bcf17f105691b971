/* The software backend end to end: tiny Multiboot guests loaded by the loader run on the
 * software CPU; their port I/O reaches the exit table (COM1 output, an ACPI S5 write that
 * powers off), `cli; hlt` ends as a halt, and a fault with an empty IDT as a triple fault.
 * Code rewritten in guest RAM by the host (as device DMA does) and reported with
 * vm_notify_write runs as the new code. */
#include <string.h>

#include "common/config.h"
#include "loader/loader.h"
#include "unit.h"
#include "vmm/layout.h"
#include "vmm/vm_exit.h"
#include "vmm/vmm.h"

static char out[64];
static int nout;

#define PORT_PATCH 0x99             /* test port: the host rewrites guest code */
#define PATCH_GPA  0x100051         /* the immediate of "mov eax, 1" in the guest below */

/* COM1 data register: collect; PM1a control with SLP_EN and SLP_TYP=5: power off. */
static int test_inout(struct vcpu *vcpu, struct vm_exit *e)
{
	if (e->u.inout.in) {
		e->u.inout.eax = e->u.inout.port == PORT_COM1 + 5 ? 0x60 : 0xffffffffu;
		return VMEXIT_CONTINUE;
	}
	if (e->u.inout.port == PORT_COM1 && nout < (int)sizeof(out) - 1)
		out[nout++] = (char)e->u.inout.eax;
	if (e->u.inout.port == PORT_PATCH) {
		struct vm *vm = vcpu_vm(vcpu);
		uint8_t *p = vm_map_gpa(vm, PATCH_GPA, 1);
		CHECK(vm_tracks_dma_writes(vm));
		if (p) {
			*p = 2;
			vm_notify_write(vm, PATCH_GPA, 1);
		}
	}
	if (e->u.inout.port == PORT_PM1A_CNT && (e->u.inout.eax & 0x3c00) == 0x3400)
		vm_suspend(vcpu_vm(vcpu), VM_SUSPEND_POWEROFF, "S5");
	return VMEXIT_CONTINUE;
}

/* An a.out-kludge Multiboot image: the header, then `code` at 0x100020. */
static size_t make_image(uint8_t *img, const uint8_t *code, size_t n)
{
	uint32_t h[8] = { 0x1badb002, 0x10000, (uint32_t)-(0x1badb002 + 0x10000), 0x100000,
			  0x100000, 0, 0, 0x100020 };
	memset(img, 0, 4096);
	memcpy(img, h, sizeof(h));
	memcpy(img + 32, code, n);
	return 32 + n + 64;
}

static enum vm_suspend_how run_guest(const uint8_t *code, size_t n)
{
	uint8_t img[4096];
	size_t len = make_image(img, code, n);
	struct loader_args a = { .kernel = "t" };
	struct vm_boot_state bs;
	char err[256];
	struct vm *vm = vm_create_anon(16ULL << 20);
	enum vm_suspend_how how = VM_SUSPEND_ERROR;

	nout = 0;
	memset(out, 0, sizeof(out));
	if (vm == NULL)
		return how;
	vm_exit_set_handler(vm, VM_EXITCODE_INOUT, test_inout);
	if (loader_multiboot(vm, img, len, &a, &bs, err, sizeof(err)) < 0) {
		fprintf(stderr, "load: %s\n", err);
	} else if (vm_setup(vm, VM_BACKEND_SOFT, 1) < 0) {
		fprintf(stderr, "setup: %s\n", vm_last_error(vm));
	} else {
		vcpu_set_regs(vm_vcpu(vm, 0), &bs.regs);
		how = vm_run(vm);
	}
	vm_close(vm);
	return how;
}

int main(void)
{
	static const uint8_t hello_off[] = {
		0x66, 0xba, 0xf8, 0x03,         /* mov dx, 0x3f8 */
		0xb0, 'O', 0xee,                /* mov al, 'O'; out dx, al */
		0xb0, 'K', 0xee,                /* mov al, 'K'; out dx, al */
		0x66, 0xba, 0x04, 0x04,         /* mov dx, 0x404 */
		0x66, 0xb8, 0x00, 0x34,         /* mov ax, 0x3400: SLP_TYP 5 | SLP_EN */
		0x66, 0xef,                     /* out dx, ax */
		0xfa, 0xf4, 0xeb, 0xfc,         /* cli; hlt; jmp $-2 */
	};
	/* calls f (mov eax, 1; ret) and prints '0' + eax, has the host patch f's immediate to 2
	 * through PORT_PATCH, calls f again and prints, powers off: "12" */
	static const uint8_t patched[] = {
		0xbc, 0x00, 0x00, 0x09, 0x00,   /* mov esp, 0x90000 */
		0xe8, 0x26, 0x00, 0x00, 0x00,   /* call f */
		0x66, 0xba, 0xf8, 0x03,         /* mov dx, 0x3f8 */
		0x04, 0x30, 0xee,               /* add al, '0'; out dx, al */
		0x66, 0xba, PORT_PATCH, 0x00,   /* mov dx, PORT_PATCH */
		0xee,                           /* out dx, al */
		0xe8, 0x15, 0x00, 0x00, 0x00,   /* call f */
		0x66, 0xba, 0xf8, 0x03,         /* mov dx, 0x3f8 */
		0x04, 0x30, 0xee,               /* add al, '0'; out dx, al */
		0x66, 0xba, 0x04, 0x04,         /* mov dx, 0x404 */
		0x66, 0xb8, 0x00, 0x34,         /* mov ax, 0x3400 */
		0x66, 0xef,                     /* out dx, ax */
		0xfa, 0xf4, 0xeb, 0xfc,         /* cli; hlt; jmp $-2 */
		0xb8, 0x01, 0x00, 0x00, 0x00,   /* f (0x100050): mov eax, 1 */
		0xc3,                           /* ret */
	};
	static const uint8_t halt[] = { 0xfa, 0xf4, 0xeb, 0xfc };
	static const uint8_t ud2[] = { 0x0f, 0x0b };

	config_reset();
	config_set("x86.vmexit_on_hlt", "true");
	CHECK_EQ(run_guest(hello_off, sizeof(hello_off)), VM_SUSPEND_POWEROFF);
	CHECK_STR(out, "OK");
	CHECK_EQ(run_guest(patched, sizeof(patched)), VM_SUSPEND_POWEROFF);
	CHECK_STR(out, "12");
	CHECK_EQ(run_guest(halt, sizeof(halt)), VM_SUSPEND_HALT);
	CHECK_EQ(run_guest(ud2, sizeof(ud2)), VM_SUSPEND_TRIPLEFAULT);
	return unit_report("test_vmm_soft");
}
