/*
 * High Definition Audio controller (-s N,hda[,play=DEV][,rec=DEV]).  FreeBSD's backends are
 * OSS devices such as /dev/dsp0; keys play and rec hold the host paths.
 */
#include "pci/pci_emul.h"

#include "common/devconf.h"

static int hda_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "play", "rec" };

	for (int i = 0; i < 2; i++) {
		const char *v = config_node_get(nvl, keys[i]);
		if (v && (!*v || v[0] != '/')) {
			snprintf(err, errlen, "%s=%s: expected an absolute device path (e.g. /dev/dsp0)",
				 keys[i], v);
			return -1;
		}
	}
	return 0;
}

static const struct pci_devemu pci_de_hda = {
	.pe_emu = "hda",
	.pe_unimplemented = true,
	.pe_help = "High Definition Audio: [play=/dev/dsp0][,rec=/dev/dsp0]",
	.pe_legacy_config = pci_parse_legacy_kv,
	.pe_keys = (const char *const[]){ "play", "rec", NULL },
	.pe_validate = hda_validate,
};
PCI_EMUL_SET(pci_de_hda);
