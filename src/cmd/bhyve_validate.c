/*
 * The check of the whole configuration tree after every option was applied: what no single
 * option can know (topology against -p, a VM name from -k) and every key that -o/-k may have
 * set directly, then each device's own pe_validate.  Opens nothing and creates nothing.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/bhyve_cmd.h"
#include "common/config.h"
#include "common/devconf.h"
#include "common/parse.h"
#include "common/topology.h"
#include "pci/pci_emul.h"

void bhyve_set_defaults(void)
{
	config_set("memory.size", "256M");
	config_set("x86.strictmsr", "true");
}

static const char *const bhyve_bool_keys[] = {
	"acpi_tables", "bvmconsole", "config.dump", "destroy_on_poweroff", "gdb.wait",
	"memory.guest_in_core",
	"memory.wired", "rtc.use_localtime", "security.seccomp", "security.test_forbidden_call",
	"virtio_msix", "x86.mptable", "x86.strictio",
	"x86.strictmsr", "x86.vmexit_on_hlt", "x86.vmexit_on_pause", "x86.x2apic",
};

static int check_bools(char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(bhyve_bool_keys) / sizeof(bhyve_bool_keys[0]); i++) {
		const char *v = config_get(bhyve_bool_keys[i]);
		bool b;
		if (v && config_parse_bool(v, &b) < 0) {
			snprintf(err, errlen, "%s=%s: not a boolean (true/false, on/off, yes/no, 1/0)",
				 bhyve_bool_keys[i], v);
			return -1;
		}
	}
	return 0;
}

static int check_name(char *err, size_t errlen)
{
	const char *name = config_get("name");

	if (!name) {
		snprintf(err, errlen, "missing vmname (give it as the last argument, or name= "
			 "with -o/-k)");
		return -1;
	}
	if (!parse_vmname_valid(name)) {
		snprintf(err, errlen, "vmname '%s': must be 1-%d characters of A-Z a-z 0-9 _ . -, "
			 "not starting with '-' or '.'", name, BHYVE_VMNAME_MAX);
		return -1;
	}
	return 0;
}

static int check_topology(char *err, size_t errlen)
{
	struct bhyve_topology t;
	char buf[16];

	if (bhyve_topology_get(&t, err, errlen) < 0)
		return -1;
	snprintf(buf, sizeof(buf), "%u", t.cpus);
	return config_set_default("cpus", buf);
}

/* Keys that bhyve_run() reads besides the options': the CPU backend and a kernel to load
 * directly (the one-command boot, -o loader.kernel=...). */
static int check_run_keys(char *err, size_t errlen)
{
	static const char *const backends[] = { "auto", "soft", "kvm" };
	static const char *const paths[] = { "loader.kernel", "loader.initrd" };
	const char *v = config_get("vmm.backend");
	size_t i;

	for (i = 0; v && i < 3 && strcmp(v, backends[i]); i++)
		;
	if (v && i == 3) {
		snprintf(err, errlen, "vmm.backend=%s: expected auto, soft or kvm", v);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		v = config_get(paths[i]);
		if (v && !*v) {
			snprintf(err, errlen, "%s=: empty file name", paths[i]);
			return -1;
		}
	}
	if (config_get("loader.initrd") && !config_get("loader.kernel")) {
		snprintf(err, errlen, "loader.initrd=%s: needs loader.kernel",
			 config_get("loader.initrd"));
		return -1;
	}
	return 0;
}

/* Keys that hold ports, the UUID, the GDB address, the snapshot file. */
static int check_scalars(char *err, size_t errlen)
{
	static const char *const ports[] = { "gdb.port", "bvmdebug.port" };
	const char *v;
	uint16_t port;
	uint8_t uuid[16];
	char sub[BHYVE_ERRLEN];

	if (bhyve_check_memsize(config_get("memory.size"), sub, sizeof(sub)) < 0) {
		snprintf(err, errlen, "memory.size=%s", sub);
		return -1;
	}
	for (size_t i = 0; i < 2; i++) {
		v = config_get(ports[i]);
		if (v && parse_port(v, &port) < 0) {
			snprintf(err, errlen, "%s=%s: port must be a number from 1 to 65535", ports[i], v);
			return -1;
		}
	}
	v = config_get("uuid");
	if (v && parse_uuid(v, uuid) < 0) {
		snprintf(err, errlen, "uuid=%s: malformed UUID", v);
		return -1;
	}
	v = config_get("restore.file");
	if (v && !*v) {
		snprintf(err, errlen, "restore.file=: empty snapshot file name");
		return -1;
	}
	return check_run_keys(err, errlen);
}

struct vcpu_check {
	unsigned ncpus;
	char *err;
	size_t errlen;
};

static int check_one_vcpu(const char *name, config_node_t *child, const char *value, void *arg)
{
	static const char *const keys[] = { "cpuset", NULL };
	struct vcpu_check *vc = arg;
	uint64_t id;
	const char *set;

	if (!child || parse_num(name, 10, 0, vc->ncpus - 1, &id) < 0) {
		snprintf(vc->err, vc->errlen, "vcpu.%s: -p vcpu %s does not exist (the VM has %u "
			 "vCPUs: 0-%u)", name, name, vc->ncpus, vc->ncpus - 1);
		return -1;
	}
	if (devconf_check_keys(child, keys, vc->err, vc->errlen) < 0)
		return -1;
	set = config_node_get(child, "cpuset");
	if (set && parse_cpulist(set, bhyve_host_cpus(), NULL) < 0) {
		snprintf(vc->err, vc->errlen, "vcpu.%s.cpuset=%s: not a list of host CPUs (0-%u)",
			 name, set, bhyve_host_cpus() - 1);
		return -1;
	}
	(void)value;
	return 0;
}

static int check_vcpus(char *err, size_t errlen)
{
	struct vcpu_check vc = { 1, err, errlen };
	config_node_t *n = config_find_node("vcpu");
	uint64_t ncpus;

	if (!n)
		return 0;
	if (parse_num(config_get("cpus"), 10, 1, 0xffff, &ncpus) == 0)
		vc.ncpus = (unsigned)ncpus;
	return config_node_foreach(n, check_one_vcpu, &vc) ? -1 : 0;
}

int bhyve_validate(char *err, size_t errlen)
{
	if (check_name(err, errlen) < 0 || check_bools(err, errlen) < 0 ||
	    check_topology(err, errlen) < 0 || check_scalars(err, errlen) < 0 ||
	    check_vcpus(err, errlen) < 0)
		return -1;
	if (pci_validate_all(err, errlen) < 0 || lpc_validate_all(err, errlen) < 0)
		return -1;
	return 0;
}
