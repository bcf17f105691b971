/*
 * The direct kernel loaders: the input is a kernel image (a Linux bzImage by the 64-bit boot
 * protocol, or a Multiboot v1 kernel, ELF or a.out kludge) loaded into a 64 MiB scratch VM
 * with an initrd and a command line.  Every header offset, size and load address comes from
 * the input; the loaders must refuse what does not fit, never write outside guest RAM.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/loader.h"

#define FZ_MEM (64ULL << 20)

static char fz_initrd[64];
static struct vm *fz_vm;

static void fz_cleanup(void)
{
	unlink(fz_initrd);
}

static void fz_init(void)
{
	snprintf(fz_initrd, sizeof(fz_initrd), "/tmp/bhyve-fuzz-initrd-%d", (int)getpid());
	int fd = open(fz_initrd, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "initrd-contents", 15) != 15)
		abort();
	close(fd);
	atexit(fz_cleanup);
	fz_vm = vm_create_anon(FZ_MEM);
	if (!fz_vm)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct vm_boot_state bs;
	if (!fz_vm)
		fz_init();
	struct loader_args a = { .kernel = "fuzz", .initrd = fz_initrd,
				 .cmdline = "console=ttyS0" };
	switch (loader_probe(data, size)) {
	case LOADER_LINUX:
		loader_linux(fz_vm, data, size, &a, &bs, err, sizeof(err));
		break;
	case LOADER_MULTIBOOT:
		loader_multiboot(fz_vm, data, size, &a, &bs, err, sizeof(err));
		break;
	default:
		/* Neither: both loaders must still refuse it cleanly. */
		loader_linux(fz_vm, data, size, &a, &bs, err, sizeof(err));
		loader_multiboot(fz_vm, data, size, &a, &bs, err, sizeof(err));
		break;
	}
	return 0;
}
