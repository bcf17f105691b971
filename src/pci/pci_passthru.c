/*
 * PCI pass-through (-s N,passthru,bus/slot/function): hands a host PCI device to the guest.
 *
 * The legacy form is "bus/slot/function" as FreeBSD's bhyve reads it (the 2020 manual's
 * wording "slot/bus/function" does not match the order its code has always used); keys bus,
 * slot, func.  Guest memory must be wired (-S), as the manual requires.
 *
 * Linux has no vmm(4) pptdevs reservation, and this implementation has no VFIO back end, so a
 * configuration with passthru is refused at validation (exit 4) with a message that says so,
 * after its syntax and -S have been checked: no VM is created for a device that cannot exist.
 */
#include "pci/pci_emul.h"

#include <stdlib.h>

#include "common/devconf.h"
#include "common/parse.h"

static int passthru_legacy_config(config_node_t *nvl, const char *opts, char *err,
				  size_t errlen)
{
	unsigned b, s, f;
	char tail, buf[16];

	if (!opts || sscanf(opts, "%u/%u/%u%c", &b, &s, &f, &tail) != 3) {
		snprintf(err, errlen, "'%s': expected bus/slot/function", opts ? opts : "");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%u", b);
	config_node_set(nvl, "bus", buf);
	snprintf(buf, sizeof(buf), "%u", s);
	config_node_set(nvl, "slot", buf);
	snprintf(buf, sizeof(buf), "%u", f);
	config_node_set(nvl, "func", buf);
	return 0;
}

static int passthru_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "bus", "slot", "func" };
	static const uint64_t max[3] = { PCI_MAXBUS - 1, PCI_MAXSLOT - 1, PCI_MAXFUNC - 1 };

	for (int i = 0; i < 3; i++) {
		if (!config_node_get(nvl, keys[i])) {
			snprintf(err, errlen, "%s= is required (host bus/slot/function)", keys[i]);
			return -1;
		}
		if (devconf_num(nvl, keys[i], 0, max[i], NULL, err, errlen) < 0)
			return -1;
	}
	if (!config_get_bool("memory.wired", false)) {
		snprintf(err, errlen, "pass-through requires wired guest memory (-S)");
		return -1;
	}
	snprintf(err, errlen, "PCI pass-through is not supported on Linux hosts "
		 "(no vmm(4) pptdevs; VFIO is not implemented)");
	return -1;
}

static const struct pci_devemu pci_de_passthru = {
	.pe_emu = "passthru",
	.pe_help = "PCI pass-through: bus/slot/function (needs -S; not supported on Linux)",
	.pe_legacy_config = passthru_legacy_config,
	.pe_keys = (const char *const[]){ "bus", "slot", "func", NULL },
	.pe_validate = passthru_validate,
};
PCI_EMUL_SET(pci_de_passthru);
