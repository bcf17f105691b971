/*
 * bhyveload: create a VM and load a guest kernel into it, for bhyve to run (bhyveload(8)).
 *
 * FreeBSD's bhyveload runs FreeBSD's loader (userboot) from a disk image.  Here the loaders are
 * direct kernel loaders: a Linux bzImage (64-bit boot protocol) or a Multiboot kernel given
 * with -k, an initrd with -i, the command line with -a and -e.  -d and -l (disk images and
 * userboot) are refused with a clear message.
 *
 *   bhyveload [-S] [-c cons-dev] [-d disk-path] [-e name=value] [-h host-path] [-l os-loader]
 *             [-m mem-size] [-k kernel] [-i initrd] [-a "kernel args"] [-C] vmname
 *
 * Exit status: 0 loaded, 1 error (one line on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd_fail.h"
#include "common/parse.h"
#include "loader/loader.h"
#include "vmm/vmm.h"

#define BL_ERRLEN 512
#define BL_DEFAULT_MEM (256ULL << 20)

struct bl_opts {
	const char *cons, *host, *kernel, *initrd, *args, *name;
	char *cmdline;
	size_t cmdlen;
	uint64_t memsize;
	FILE *log;
	char kpath[4096], ipath[4096];
};

static void bl_usage(FILE *out)
{
	fprintf(out, "usage: bhyveload [-S] [-c cons-dev] [-d disk-path] [-e name=value] "
		"[-h host-path] [-l os-loader] [-m mem-size] [-k kernel] [-i initrd] "
		"[-a \"kernel args\"] [-C] vmname\n");
}

/* Append " word" to the command line being built. */
static int bl_cmdline_add(struct bl_opts *o, const char *word)
{
	size_t n = strlen(word);
	char *p = realloc(o->cmdline, o->cmdlen + n + 2);

	if (p == NULL)
		return -1;
	o->cmdline = p;
	if (o->cmdlen)
		p[o->cmdlen++] = ' ';
	memcpy(p + o->cmdlen, word, n + 1);
	o->cmdlen += n;
	return 0;
}

static int bl_getopt(struct bl_opts *o, int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "a:c:Cd:e:h:i:k:l:m:S")) != -1) {
		switch (c) {
		case 'a': o->args = optarg; break;
		case 'c': o->cons = optarg; break;
		case 'h': o->host = optarg; break;
		case 'i': o->initrd = optarg; break;
		case 'k': o->kernel = optarg; break;
		case 'C': case 'S': break;   /* core dumps / wired memory: nothing to do here */
		case 'd':
			return cmd_fail(1, "-d %s: booting from a disk image (FreeBSD's userboot) is not "
				       "supported; give a kernel with -k", optarg);
		case 'l':
			return cmd_fail(1, "-l %s: OS loaders (userboot) are not supported; give a "
				       "kernel with -k", optarg);
		case 'e':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				return cmd_fail(1, "-e %s: expected name=value", optarg);
			if (bl_cmdline_add(o, optarg) < 0)
				return cmd_fail(1, "out of memory");
			break;
		case 'm':
			if (parse_memsize(optarg, &o->memsize) < 0 || (o->memsize & 0xfff))
				return cmd_fail(1, "-m %s: invalid memory size (a number with an optional "
					       "K, M, G or T suffix, a multiple of 4 KiB)", optarg);
			break;
		default:
			bl_usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		bl_usage(stderr);
		return 1;
	}
	o->name = argv[optind];
	return 0;
}

/* A relative -k/-i path is taken from the -h host directory. */
static const char *bl_path(const struct bl_opts *o, const char *p, char *buf, size_t len)
{
	if (p == NULL || p[0] == '/' || o->host == NULL)
		return p;
	if ((size_t)snprintf(buf, len, "%s/%s", o->host, p) >= len)
		return NULL;
	return buf;
}

static int bl_check_args(struct bl_opts *o)
{
	char err[BL_ERRLEN];
	const char *given;

	if (!vm_name_valid(o->name))
		return cmd_fail(1, "vmname '%s': must be 1-31 characters of A-Z a-z 0-9 _ . -, not "
			       "starting with '-' or '.'", o->name);
	if (o->kernel == NULL)
		return cmd_fail(1, "no kernel given: use -k kernel (Linux bzImage or Multiboot)");
	given = o->kernel;
	o->kernel = bl_path(o, o->kernel, o->kpath, sizeof(o->kpath));
	if (o->kernel == NULL || loader_file_size(o->kernel, err, sizeof(err)) < 0)
		return cmd_fail(1, "-k %s%s", o->kernel ? err : given,
			       o->kernel ? "" : ": path too long");
	if (o->initrd) {
		given = o->initrd;
		o->initrd = bl_path(o, o->initrd, o->ipath, sizeof(o->ipath));
		if (o->initrd == NULL || loader_file_size(o->initrd, err, sizeof(err)) < 0)
			return cmd_fail(1, "-i %s%s", o->initrd ? err : given,
				       o->initrd ? "" : ": path too long");
	}
	return 0;
}

/* -c: loader messages go to this device or file (default: standard output). */
static int bl_open_console(struct bl_opts *o)
{
	int fd;

	o->log = stdout;
	if (o->cons == NULL || strcmp(o->cons, "stdio") == 0)
		return 0;
	fd = open(o->cons, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC, 0644);
	if (fd < 0 || (o->log = fdopen(fd, "a")) == NULL) {
		if (fd >= 0)
			close(fd);
		return cmd_fail(1, "-c %s: %s", o->cons, strerror(errno));
	}
	return 0;
}

/* Reloading an existing VM re-initializes it, unless a bhyve is running it. */
static int bl_replace_vm(struct bl_opts *o)
{
	struct vm *old = vm_open(o->name);

	if (old == NULL && (errno == EPERM || errno == EACCES))
		return cmd_fail(1, "VM '%s' %s", o->name, vm_open_strerror(errno));
	if (old != NULL) {
		int pid = vm_running_pid(old);
		vm_close(old);
		if (pid > 0)
			return cmd_fail(1, "VM '%s' is running (bhyve pid %d); stop it first", o->name,
				       pid);
	}
	if (vm_destroy(o->name) < 0 && errno != ENOENT)
		return cmd_fail(1, "cannot remove the old VM '%s': %s", o->name, strerror(errno));
	if (vm_create(o->name, o->memsize) < 0)
		return cmd_fail(1, "cannot create VM '%s': %s", o->name, errno == ENOSPC ?
			       "not enough free space in /dev/shm for its memory" : strerror(errno));
	return 0;
}

static int bl_load(struct bl_opts *o)
{
	struct loader_args a = { .kernel = o->kernel, .initrd = o->initrd, .log = o->log };
	struct vm_boot_state bs;
	char err[BL_ERRLEN];
	struct vm *vm;

	if (o->args && bl_cmdline_add(o, o->args) < 0)
		return cmd_fail(1, "out of memory");
	a.cmdline = o->cmdline;
	if (bl_replace_vm(o) != 0)
		return 1;
	vm = vm_open(o->name);
	if (vm == NULL) {
		vm_destroy(o->name);
		return cmd_fail(1, "VM '%s' %s", o->name, vm_open_strerror(errno));
	}
	if (loader_load(vm, &a, &bs, NULL, err, sizeof(err)) < 0 ||
	    vm_set_boot_state(vm, &bs) < 0) {
		vm_close(vm);
		vm_destroy(o->name);   /* nothing half-loaded stays behind */
		return cmd_fail(1, "%s", err);
	}
	vm_close(vm);
	return 0;
}

int main(int argc, char **argv)
{
	struct bl_opts o = { .memsize = BL_DEFAULT_MEM };
	int rc;

	rc = bl_getopt(&o, argc, argv);
	if (rc == 0)
		rc = bl_check_args(&o);
	if (rc == 0)
		rc = bl_open_console(&o);
	if (rc == 0)
		rc = bl_load(&o);
	if (o.log && o.log != stdout)
		fclose(o.log);
	free(o.cmdline);
	return rc;
}
