/*
 * bhyvectl: control and inspect VMs (bhyvectl(8)).
 *
 *   bhyvectl --vm=NAME [--create [--memsize=SIZE]] [--destroy] [--get-lowmem]
 *            [--get-highmem] [--get-memmap] [--get-stats] [--cpu=N] [--get-all]
 *            [--get-rip] [--get-rsp] [--get-rax] ... [--get-cr0] [--get-cr3] [--get-cr4]
 *            [--get-efer] [--get-rflags] [--get-gdtr] [--get-idtr] [--get-cs] ...
 *            [--checkpoint=FILE] [--suspend=FILE]
 *
 * vCPU registers come from the running bhyve through its control socket (vm_ctl.c), or from
 * the boot state bhyveload stored while the VM is not running.  --checkpoint and --suspend
 * are not implemented yet.  Exit status: 0 success, 1 error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd_fail.h"
#include "common/parse.h"
#include "vmm/layout.h"
#include "vmm/vm_exit.h"
#include "vmm/vmm.h"

enum {
	OPT_VM = 1000, OPT_CPU, OPT_CREATE, OPT_DESTROY, OPT_MEMSIZE, OPT_LOWMEM, OPT_HIGHMEM,
	OPT_MEMMAP, OPT_STATS, OPT_ALL, OPT_CHECKPOINT, OPT_SUSPEND, OPT_HELP, OPT_REG_BASE
};

/* Registers --get-<name> can show, with how to print them. */
struct ctl_reg {
	const char *name;
	int kind;              /* 0: u64 at offset, 1: segment, 2: descriptor table */
	size_t off;
};

#define R(n, field) { n, 0, offsetof(struct cpu_regs, field) }
#define S(n, i)     { n, 1, offsetof(struct cpu_regs, seg) + (i) * sizeof(struct cpu_segment) }
static const struct ctl_reg ctl_regs[] = {
	R("rax", gpr[CPU_RAX]), R("rbx", gpr[CPU_RBX]), R("rcx", gpr[CPU_RCX]),
	R("rdx", gpr[CPU_RDX]), R("rsi", gpr[CPU_RSI]), R("rdi", gpr[CPU_RDI]),
	R("rbp", gpr[CPU_RBP]), R("rsp", gpr[CPU_RSP]), R("r8", gpr[CPU_R8]),
	R("r9", gpr[CPU_R9]), R("r10", gpr[CPU_R10]), R("r11", gpr[CPU_R11]),
	R("r12", gpr[CPU_R12]), R("r13", gpr[CPU_R13]), R("r14", gpr[CPU_R14]),
	R("r15", gpr[CPU_R15]), R("rip", rip), R("rflags", rflags), R("cr0", cr0),
	R("cr2", cr2), R("cr3", cr3), R("cr4", cr4), R("efer", efer),
	S("cs", CPU_CS), S("ds", CPU_DS), S("es", CPU_ES), S("fs", CPU_FS), S("gs", CPU_GS),
	S("ss", CPU_SS), S("tr", CPU_TR), S("ldtr", CPU_LDTR),
	{ "gdtr", 2, offsetof(struct cpu_regs, gdtr) },
	{ "idtr", 2, offsetof(struct cpu_regs, idtr) },
};
#define CTL_NREGS (sizeof(ctl_regs) / sizeof(ctl_regs[0]))

struct ctl {
	const char *vm, *checkpoint, *suspend;
	int cpu;
	uint64_t memsize;
	bool create, destroy, lowmem, highmem, memmap, stats, all;
	bool reg[CTL_NREGS];
	bool any_reg;
};

static void ctl_usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: bhyvectl --vm=NAME [--create [--memsize=SIZE]] [--destroy] "
		"[--get-lowmem] [--get-highmem] [--get-memmap] [--get-stats] [--cpu=N] "
		"[--get-all]\n                [--checkpoint=FILE] [--suspend=FILE]");
	for (i = 0; i < CTL_NREGS; i++)
		fprintf(out, "%s[--get-%s]", i % 8 ? " " : "\n                ", ctl_regs[i].name);
	fputc('\n', out);
}

static struct option *ctl_longopts(void)
{
	static struct option o[32 + CTL_NREGS];
	static char names[CTL_NREGS][16];
	static const struct option fixed[] = {
		{ "vm", required_argument, NULL, OPT_VM }, { "cpu", required_argument, NULL, OPT_CPU },
		{ "create", no_argument, NULL, OPT_CREATE },
		{ "destroy", no_argument, NULL, OPT_DESTROY },
		{ "memsize", required_argument, NULL, OPT_MEMSIZE },
		{ "get-lowmem", no_argument, NULL, OPT_LOWMEM },
		{ "get-highmem", no_argument, NULL, OPT_HIGHMEM },
		{ "get-memmap", no_argument, NULL, OPT_MEMMAP },
		{ "get-stats", no_argument, NULL, OPT_STATS },
		{ "get-all", no_argument, NULL, OPT_ALL },
		{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
		{ "suspend", required_argument, NULL, OPT_SUSPEND },
		{ "help", no_argument, NULL, OPT_HELP },
	};
	size_t i, n = sizeof(fixed) / sizeof(fixed[0]);

	memcpy(o, fixed, sizeof(fixed));
	for (i = 0; i < CTL_NREGS; i++) {
		snprintf(names[i], sizeof(names[i]), "get-%s", ctl_regs[i].name);
		o[n + i] = (struct option){ names[i], no_argument, NULL, OPT_REG_BASE + (int)i };
	}
	memset(&o[n + CTL_NREGS], 0, sizeof(o[0]));
	return o;
}

static int ctl_parse(struct ctl *c, int argc, char **argv)
{
	struct option *lo = ctl_longopts();
	uint64_t v;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case OPT_VM: c->vm = optarg; break;
		case OPT_CPU:
			if (parse_num(optarg, 10, 0, VM_MAXCPU - 1, &v) < 0)
				return cmd_fail(1, "--cpu=%s: not a vCPU number (0..%d)", optarg,
						VM_MAXCPU - 1);
			c->cpu = (int)v;
			break;
		case OPT_CREATE: c->create = true; break;
		case OPT_DESTROY: c->destroy = true; break;
		case OPT_MEMSIZE:
			if (parse_memsize(optarg, &c->memsize) < 0 || (c->memsize & 0xfff))
				return cmd_fail(1, "--memsize=%s: invalid memory size", optarg);
			break;
		case OPT_LOWMEM: c->lowmem = true; break;
		case OPT_HIGHMEM: c->highmem = true; break;
		case OPT_MEMMAP: c->memmap = true; break;
		case OPT_STATS: c->stats = true; break;
		case OPT_ALL: c->all = true; break;
		case OPT_CHECKPOINT: c->checkpoint = optarg; break;
		case OPT_SUSPEND: c->suspend = optarg; break;
		case OPT_HELP: ctl_usage(stdout); exit(0);
		default:
			if (ch >= OPT_REG_BASE && ch < OPT_REG_BASE + (int)CTL_NREGS) {
				c->reg[ch - OPT_REG_BASE] = c->any_reg = true;
				break;
			}
			cmd_fail(1, "unknown or malformed option '%s'", argv[optind - 1]);
			ctl_usage(stderr);
			return 1;
		}
	}
	if (optind < argc)
		return cmd_fail(1, "unexpected argument '%s'", argv[optind]);
	if (c->vm == NULL) {
		ctl_usage(stderr);
		return 1;
	}
	if (!vm_name_valid(c->vm))
		return cmd_fail(1, "--vm=%s: invalid VM name", c->vm);
	return 0;
}

static void ctl_print_mem(struct vm *vm, const struct ctl *c)
{
	if (c->lowmem || c->all)
		printf("lowmem\t\t0x%016llx/%llu\n", 0ULL,
		       (unsigned long long)vm_lowmem_size(vm));
	if (c->highmem || c->all) {
		if (vm_highmem_size(vm))
			printf("highmem\t\t0x%016llx/%llu\n", (unsigned long long)LAYOUT_HIGHMEM_BASE,
			       (unsigned long long)vm_highmem_size(vm));
		else
			printf("highmem\t\t0x%016llx/0\n", (unsigned long long)LAYOUT_HIGHMEM_BASE);
	}
	if (c->memmap) {
		uint64_t gpa[2], len[2];
		int i, n = vm_mem_ranges(vm, gpa, len);
		printf("%-20s%-20s%-12s%-20s%s\n", "Address", "Length", "Segment", "Offset", "Prot");
		for (i = 0; i < n; i++)
			printf("0x%016llx  0x%016llx  %-12s0x%016llx  RWX\n",
			       (unsigned long long)gpa[i], (unsigned long long)len[i], "sysmem",
			       (unsigned long long)(i ? len[0] : 0));
	}
}

static void ctl_print_stats(struct vm *vm, const struct ctl *c)
{
	struct vcpu_stats st;
	int code;

	vm_read_vcpu_stats(vm, c->cpu, &st);
	printf("vcpu%d stats:\n", c->cpu);
	printf("%-40s%llu\n", "instructions retired",
	       (unsigned long long)st.insns);
	for (code = 0; code < VM_EXITCODE_MAX; code++)
		printf("%-40s%llu\n", vm_exit_name((enum vm_exitcode)code),
		       (unsigned long long)st.exits[code]);
}

static void ctl_print_reg(const struct cpu_regs *r, size_t i, int cpu)
{
	const struct ctl_reg *cr = &ctl_regs[i];
	const uint8_t *p = (const uint8_t *)r + cr->off;

	if (cr->kind == 0) {
		uint64_t v;
		memcpy(&v, p, sizeof(v));
		printf("%s[%d]\t\t0x%016llx\n", cr->name, cpu, (unsigned long long)v);
	} else if (cr->kind == 1) {
		const struct cpu_segment *s = (const void *)p;
		printf("%s[%d]\t\t0x%04x/0x%016llx/0x%08x/0x%08x\n", cr->name, cpu, s->sel,
		       (unsigned long long)s->base, s->limit, s->attr);
	} else {
		const struct cpu_dtable *d = (const void *)p;
		printf("%s[%d]\t\t0x%016llx/0x%04x\n", cr->name, cpu, (unsigned long long)d->base,
		       d->limit);
	}
}

static int ctl_print_regs(struct vm *vm, const struct ctl *c)
{
	struct vm_boot_state bs;
	char err[256];
	size_t i;

	if (vm_running_pid(vm) > 0) {
		/* Live state, from the bhyve process through its control socket. */
		if (vm_ctl_get_regs(c->vm, c->cpu, &bs.regs, err, sizeof(err)) < 0)
			return cmd_fail(1, "%s", err);
		for (i = 0; i < CTL_NREGS; i++)
			if (c->all || c->reg[i])
				ctl_print_reg(&bs.regs, i, c->cpu);
		return 0;
	}
	vm_get_boot_state(vm, &bs);
	if (!bs.valid)
		return cmd_fail(1, "VM '%s' has no vCPU state: it has not been loaded (bhyveload)",
				c->vm);
	if (c->cpu != 0)
		return cmd_fail(1, "vCPU %d has no state before the VM runs (only the boot vCPU 0)",
				c->cpu);
	for (i = 0; i < CTL_NREGS; i++)
		if (c->all || c->reg[i])
			ctl_print_reg(&bs.regs, i, c->cpu);
	return 0;
}

static int ctl_create(struct ctl *c)
{
	if (vm_create(c->vm, c->memsize ? c->memsize : (256ULL << 20)) < 0)
		return cmd_fail(1, "cannot create VM '%s': %s", c->vm,
				errno == EEXIST ? "it already exists" : strerror(errno));
	return 0;
}

static int ctl_query(struct ctl *c)
{
	struct vm *vm = vm_open(c->vm);
	int rc = 0;

	if (vm == NULL)
		return cmd_fail(1, "VM '%s' could not be opened: it %s", c->vm,
				vm_open_strerror(errno));
	ctl_print_mem(vm, c);
	if (c->stats)
		ctl_print_stats(vm, c);
	if (c->all || c->any_reg)
		rc = ctl_print_regs(vm, c);
	vm_close(vm);
	return rc;
}

int main(int argc, char **argv)
{
	struct ctl c = { 0 };
	int rc = ctl_parse(&c, argc, argv);

	if (rc != 0)
		return rc;
	if (c.checkpoint || c.suspend)
		return cmd_fail(1, "--%s: not implemented yet", c.checkpoint ? "checkpoint" : "suspend");
	if (c.create && (rc = ctl_create(&c)) != 0)
		return rc;
	if (c.lowmem || c.highmem || c.memmap || c.stats || c.all || c.any_reg)
		rc = ctl_query(&c);
	if (rc == 0 && c.destroy && vm_destroy(c.vm) < 0)
		return cmd_fail(1, "cannot destroy VM '%s': %s", c.vm,
				errno == ENOENT ? "no such VM" : strerror(errno));
	return rc;
}
