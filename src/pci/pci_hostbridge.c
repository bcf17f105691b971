/*
 * Host bridge (-s 0,hostbridge / amd_hostbridge): a PCI device of class "host bridge" that most
 * guests expect at 0:0:0.  bhyve's IDs: vendor/device 0x1275/0x1275; amd_hostbridge uses AMD's
 * vendor ID 0x1022 (device 0x7432).  Optional keys vendor= and devid= override them.
 */
#include "pci/pci_emul.h"

#include <string.h>

#include "common/devconf.h"
#include "common/parse.h"
#include "pci/pci_devinst.h"

#define HOSTBRIDGE_VENDOR      0x1275
#define HOSTBRIDGE_DEVICE      0x1275
#define AMD_HOSTBRIDGE_VENDOR  0x1022
#define AMD_HOSTBRIDGE_DEVICE  0x7432

static int hostbridge_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "vendor", "devid", NULL };
	const char *v;
	uint64_t x;

	for (int i = 0; i < 2; i++) {
		v = config_node_get(nvl, keys[i]);
		if (v && parse_num(v, 0, 0, 0xffff, &x) < 0) {
			snprintf(err, errlen, "%s=%s: must be a 16-bit number", keys[i], v);
			return -1;
		}
	}
	return 0;
}

/* IDs (overridable with vendor=/devid=) and class "host bridge"; it has no BARs and no
 * interrupt. */
static int hostbridge_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	bool amd = strcmp(pi->pi_d->pe_emu, "amd_hostbridge") == 0;
	uint64_t vendor = amd ? AMD_HOSTBRIDGE_VENDOR : HOSTBRIDGE_VENDOR;
	uint64_t device = amd ? AMD_HOSTBRIDGE_DEVICE : HOSTBRIDGE_DEVICE;
	const char *v;

	if ((v = config_node_get(nvl, "vendor")) && parse_num(v, 0, 0, 0xffff, &vendor) < 0) {
		snprintf(err, errlen, "vendor=%s: must be a 16-bit number", v);
		return -1;
	}
	if ((v = config_node_get(nvl, "devid")) && parse_num(v, 0, 0, 0xffff, &device) < 0) {
		snprintf(err, errlen, "devid=%s: must be a 16-bit number", v);
		return -1;
	}
	pci_set_cfgdata16(pi, PCIR_VENDOR, (uint16_t)vendor);
	pci_set_cfgdata16(pi, PCIR_DEVICE, (uint16_t)device);
	pci_set_cfgdata8(pi, PCIR_HDRTYPE, 0);
	pci_set_cfgdata8(pi, PCIR_CLASS, PCIC_BRIDGE);
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, PCIS_BRIDGE_HOST);
	return 0;
}

static const struct pci_devemu pci_de_hostbridge = {
	.pe_emu = "hostbridge",
	.pe_help = "host bridge (vendor 0x1275), usually at slot 0",
	.pe_legacy_config = pci_parse_legacy_kv,
	.pe_keys = (const char *const[]){ "vendor", "devid", NULL },
	.pe_validate = hostbridge_validate,
	.pe_init = hostbridge_init,
};
PCI_EMUL_SET(pci_de_hostbridge);

static const struct pci_devemu pci_de_amd_hostbridge = {
	.pe_emu = "amd_hostbridge",
	.pe_help = "host bridge with AMD's vendor ID (0x1022)",
	.pe_legacy_config = pci_parse_legacy_kv,
	.pe_keys = (const char *const[]){ "vendor", "devid", NULL },
	.pe_validate = hostbridge_validate,
	.pe_init = hostbridge_init,
};
PCI_EMUL_SET(pci_de_amd_hostbridge);
