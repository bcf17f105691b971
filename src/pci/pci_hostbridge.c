/*
 * Host bridge (-s 0,hostbridge / amd_hostbridge): a PCI device of class "host bridge" that most
 * guests expect at 0:0:0.  bhyve's IDs: vendor/device 0x1275/0x1275; amd_hostbridge uses AMD's
 * vendor ID 0x1022 (device 0x7432).  Optional keys vendor= and devid= override them.
 *
 * With a boot ROM and QEMU's firmware interface (lpc_fwcfg_qemu) `hostbridge` is Intel's Q35
 * memory controller hub (8086:29C0), the one identity besides i440FX that QEMU's OVMF accepts
 * (it reads the device ID at 0:0.0 to pick its platform code).  OVMF then programs PCIEXBAR
 * (0x60-0x67: base bits 35:28, length 2:1 = 0 for 256 MiB, enable bit 0), which moves the ECAM
 * window; the other chipset registers it writes (PAM 0x90-0x96, SMRAM 0x9D...) keep the value
 * written and do nothing, as there is no shadow RAM or SMM here.
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
#define Q35_MCH_VENDOR         0x8086
#define Q35_MCH_DEVICE         0x29C0
#define Q35_PCIEXBAR           0x60
#define Q35_PCIEXBAR_EN        0x1

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
	bool q35 = !amd && lpc_fwcfg_qemu();
	uint64_t vendor = amd ? AMD_HOSTBRIDGE_VENDOR : q35 ? Q35_MCH_VENDOR : HOSTBRIDGE_VENDOR;
	uint64_t device = amd ? AMD_HOSTBRIDGE_DEVICE : q35 ? Q35_MCH_DEVICE : HOSTBRIDGE_DEVICE;
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
	if (q35) {
		uint64_t ecam = pci_ecam_base(pi->pi_vm);
		pci_set_cfgdata32(pi, Q35_PCIEXBAR, (uint32_t)ecam | (ecam ? Q35_PCIEXBAR_EN : 0));
		pci_set_cfgdata32(pi, Q35_PCIEXBAR + 4, (uint32_t)(ecam >> 32));
		pi->pi_arg = pi;     /* marks the Q35 register set for the config hooks */
	}
	return 0;
}

/* Q35: device-specific registers 0x40-0xFF keep what is written; PCIEXBAR moves ECAM. */
static int hostbridge_cfgwrite(struct pci_devinst *pi, int offset, int bytes, uint32_t val)
{
	if (!pi->pi_arg || offset < 0x40 || offset + bytes > 0x100)
		return 1;
	for (int k = 0; k < bytes; k++)
		pci_set_cfgdata8(pi, offset + k, (uint8_t)(val >> (8 * k)));
	if (offset < Q35_PCIEXBAR + 8 && offset + bytes > Q35_PCIEXBAR) {
		uint32_t lo = pci_get_cfgdata32(pi, Q35_PCIEXBAR);
		uint64_t hi = pci_get_cfgdata32(pi, Q35_PCIEXBAR + 4) & 0xF;
		/* only the 256 MiB size (length 0) is decoded, the size OVMF programs */
		uint64_t base = (lo & Q35_PCIEXBAR_EN) && !(lo & 6) ?
				(hi << 32 | (lo & 0xF0000000u)) : 0;
		static bool warned;   /* a guest can repeat this: say it once */
		if (pci_ecam_set_base(pi->pi_vm, base) < 0 && !warned) {
			warned = true;
			fprintf(stderr, "bhyve: hostbridge: cannot move ECAM to 0x%llx\n",
				(unsigned long long)base);
		}
	}
	return 0;
}

static const struct pci_devemu pci_de_hostbridge = {
	.pe_emu = "hostbridge",
	.pe_help = "host bridge (vendor 0x1275), usually at slot 0",
	.pe_legacy_config = pci_parse_legacy_kv,
	.pe_keys = (const char *const[]){ "vendor", "devid", NULL },
	.pe_validate = hostbridge_validate,
	.pe_init = hostbridge_init,
	.pe_cfgwrite = hostbridge_cfgwrite,
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
