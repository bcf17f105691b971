/*
 * bhyve: parse the command line into the configuration tree, validate it, then either print it
 * (config.dump=true) or run the VM (bhyve_run()).
 *
 * Options are applied in command-line order, so a later option or -o overrides an earlier
 * one.  Bad input prints one line "bhyve: <argument>: <why>" and exits 4 before anything is
 * created.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd_fail.h"
#include "cmd/bhyve_cmd.h"
#include "cmd/bhyve_run.h"
#include "common/config.h"

/* Options without an argument: each sets one key. */
struct bhyve_flag {
	char ch;
	const char *key;
	const char *value;
};

static const struct bhyve_flag bhyve_flags[] = {
	{ 'a', "x86.x2apic", "false" },
	{ 'A', "acpi_tables", "true" },
	{ 'b', "bvmconsole", "true" },
	{ 'C', "memory.guest_in_core", "true" },
	{ 'e', "x86.strictio", "true" },
	{ 'H', "x86.vmexit_on_hlt", "true" },
	{ 'P', "x86.vmexit_on_pause", "true" },
	{ 'S', "memory.wired", "true" },
	{ 'u', "rtc.use_localtime", "false" },
	{ 'w', "x86.strictmsr", "false" },
	{ 'W', "virtio_msix", "false" },
	{ 'x', "x86.x2apic", "true" },
	{ 'Y', "x86.mptable", "false" },
};

/* Options with an argument: each has a handler in bhyve_opts.c. */
struct bhyve_argopt {
	char ch;
	int (*fn)(const char *arg, char *err, size_t errlen);
};

static const struct bhyve_argopt bhyve_argopts[] = {
	{ 'c', bhyve_opt_cpus },    { 'G', bhyve_opt_gdb },     { 'g', bhyve_opt_bvmdebug },
	{ 'k', bhyve_opt_kfile },   { 'l', bhyve_opt_lpc },     { 'm', bhyve_opt_mem },
	{ 'o', bhyve_opt_set },     { 'p', bhyve_opt_pin },     { 'r', bhyve_opt_restore },
	{ 's', bhyve_opt_slot },    { 'U', bhyve_opt_uuid },
};

#define BHYVE_OPTSTRING "+aAbCeHhPSuWwxYc:G:g:k:l:m:o:p:r:s:U:"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void bhyve_usage(FILE *out)
{
	fprintf(out,
		"Usage: bhyve [-AabCeHhPSuWwxY]\n"
		"       [-c [[cpus=]numcpus][,sockets=n][,cores=n][,threads=n]]\n"
		"       [-G [w][address:]port] [-g gdbport] [-k config_file]\n"
		"       [-l help|lpcdev[,conf]] [-m memsize[K|k|M|m|G|g|T|t]]\n"
		"       [-o var=value] [-p vcpu:hostcpu] [-r file]\n"
		"       [-s help|slot,emulation[,conf]] [-U uuid] [vmname]\n"
		"  -a: local APIC in xAPIC mode (default)\n"
		"  -A: create ACPI tables\n"
		"  -b: enable the bvmconsole\n"
		"  -c: number of vCPUs and/or topology (at most 16)\n"
		"  -C: include guest memory in core files\n"
		"  -e: exit on unhandled I/O port accesses\n"
		"  -g: bvmdebug gdb port\n"
		"  -G: GDB server port ('w' prefix: wait for the debugger)\n"
		"  -h: print this help and exit\n"
		"  -H: vmexit on HLT (yield the host CPU)\n"
		"  -k: read configuration variables from a file\n"
		"  -l: LPC device configuration (-l help lists them)\n"
		"  -m: guest memory size (default 256M; no suffix means MiB)\n"
		"  -o: set a configuration variable\n"
		"  -p: pin vcpu to host cpu\n"
		"  -P: vmexit on PAUSE\n"
		"  -r: restore the guest from a snapshot file\n"
		"  -s: PCI slot configuration (-s help lists the emulations)\n"
		"  -S: wire guest memory\n"
		"  -u: RTC keeps UTC time\n"
		"  -U: UUID for the SMBIOS system information\n"
		"  -w: ignore unimplemented MSRs\n"
		"  -W: force virtio devices to use MSI instead of MSI-X\n"
		"  -x: local APIC in x2APIC mode\n"
		"  -Y: do not create an MP table\n");
}

/* Apply one getopt result; exits on an error. */
static void bhyve_apply(int ch, const char *arg)
{
	char err[BHYVE_ERRLEN];

	for (size_t i = 0; i < ARRAY_LEN(bhyve_flags); i++) {
		if (bhyve_flags[i].ch == ch) {
			char opt[3] = { '-', ch, '\0' };
			if (bhyve_set_key(opt, bhyve_flags[i].key, bhyve_flags[i].value, err,
					  sizeof(err)) < 0)
				exit(cmd_fail(BHYVE_EXIT_ERROR, "%s", err));
			return;
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(bhyve_argopts); i++) {
		if (bhyve_argopts[i].ch == ch) {
			if (bhyve_argopts[i].fn(arg, err, sizeof(err)) < 0)
				exit(cmd_fail(BHYVE_EXIT_ERROR, "%s", err));
			return;
		}
	}
	if (ch == 'h') {
		bhyve_usage(stdout);
		exit(0);
	}
	if (optopt && optopt != ':' && optopt != '+' && strchr(BHYVE_OPTSTRING, optopt))
		fprintf(stderr, "bhyve: option -%c requires an argument\n", optopt);
	else
		fprintf(stderr, "bhyve: unknown option -%c\n", optopt ? optopt : '?');
	bhyve_usage(stderr);
	exit(BHYVE_EXIT_ERROR);
}

static void bhyve_parse(int argc, char **argv)
{
	char err[BHYVE_ERRLEN];
	int ch;

	opterr = 0;
	while ((ch = getopt(argc, argv, BHYVE_OPTSTRING)) != -1)
		bhyve_apply(ch, optarg);
	if (optind < argc && bhyve_opt_vmname(argv[optind], err, sizeof(err)) < 0)
		exit(cmd_fail(BHYVE_EXIT_ERROR, "%s", err));
	if (optind + 1 < argc) {
		snprintf(err, sizeof(err), "%s: unexpected argument after the VM name '%s' "
			 "(options must come before vmname)", argv[optind + 1], argv[optind]);
		exit(cmd_fail(BHYVE_EXIT_ERROR, "%s", err));
	}
}

int main(int argc, char **argv)
{
	char err[BHYVE_ERRLEN];

	bhyve_set_defaults();
	bhyve_parse(argc, argv);
	if (bhyve_validate(err, sizeof(err)) < 0)
		exit(cmd_fail(BHYVE_EXIT_ERROR, "%s", err));
	if (config_get_bool("config.dump", false)) {
		config_dump(stdout);
		return fflush(stdout) == 0 ? 0 : BHYVE_EXIT_ERROR;
	}
	return bhyve_run();
}
