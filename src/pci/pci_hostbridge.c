/*
 * Host bridge (-s 0,hostbridge / amd_hostbridge): a PCI device of class "host bridge" that most
 * guests expect at 0:0:0.  bhyve's IDs: vendor/device 0x1275/0x1275; amd_hostbridge uses AMD's
 * vendor ID 0x1022 (device 0x7432).  Optional keys vendor= and devid= override them.
 */
#include "pci/pci_emul.h"

#include "common/devconf.h"
#include "common/parse.h"

#define HOSTBRIDGE_VENDOR      0x1275
#define HOSTBRIDGE_DEVICE      0x1275
#define AMD_HOSTBRIDGE_VENDOR  0x1022
#define AMD_HOSTBRIDGE_DEVICE  0x7432

static int hostbridge_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "device", "vendor", "devid", NULL };
	const char *v;
	uint64_t x;

	if (devconf_check_keys(nvl, keys, err, errlen) < 0)
		return -1;
	for (int i = 1; i <= 2; i++) {
		v = config_node_get(nvl, keys[i]);
		if (v && parse_num(v, 0, 0, 0xffff, &x) < 0) {
			snprintf(err, errlen, "%s=%s: must be a 16-bit number", keys[i], v);
			return -1;
		}
	}
	return 0;
}

static const struct pci_devemu pci_de_hostbridge = {
	.pe_emu = "hostbridge",
	.pe_help = "host bridge (vendor 0x1275), usually at slot 0",
	.pe_legacy_config = pci_parse_legacy_kv,
	.pe_validate = hostbridge_validate,
};
PCI_EMUL_SET(pci_de_hostbridge);

static const struct pci_devemu pci_de_amd_hostbridge = {
	.pe_emu = "amd_hostbridge",
	.pe_help = "host bridge with AMD's vendor ID (0x1022)",
	.pe_legacy_config = pci_parse_legacy_kv,
	.pe_validate = hostbridge_validate,
};
PCI_EMUL_SET(pci_de_amd_hostbridge);
