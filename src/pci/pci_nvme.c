/*
 * NVM Express controller (-s N,nvme,devpath[,maxq=#][,qsz=#][,ioslots=#][,sectsz=#][,ser=S]
 * [,eui64=#][,dsm=auto|enable|disable]).
 *
 * devpath is a block device, an image file (key path, with the usual block options) or
 * ram=MiB (key ram: a RAM-backed namespace).  Defaults as in bhyve: maxq=16, qsz=2058,
 * ioslots=8; sectsz defaults to the backend's sector size.
 */
#include "pci/pci_emul.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/devconf.h"
#include "common/parse.h"

#define NVME_DEFAULT_MAXQ    16
#define NVME_DEFAULT_QSZ     2058
#define NVME_DEFAULT_IOSLOTS 8
#define NVME_MAX_QUEUES      16
#define NVME_MAX_QSZ         65536   /* CAP.MQES is 16 bits, 0-based */
#define NVME_MAX_IOSLOTS     4096
#define NVME_SER_MAX         20      /* Identify Controller SN field */
#define NVME_RAM_MAX_MIB     (1u << 20)

static int nvme_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	const char *rest;
	char *first;
	int rc = 0;

	if (!opts || !*opts)
		return 0;
	first = devconf_first_token(opts, &rest);
	if (strchr(first, '='))   /* ram=N or options only */
		rest = opts;
	else if (config_node_set(nvl, "path", first) < 0) {
		snprintf(err, errlen, "'%s': cannot set path", first);
		rc = -1;
	}
	free(first);
	if (rc == 0 && rest)
		rc = pci_parse_legacy_kv(nvl, rest, err, errlen);
	return rc;
}

static int nvme_check_backing(config_node_t *nvl, char *err, size_t errlen)
{
	const char *path = config_node_get(nvl, "path");
	const char *ram = config_node_get(nvl, "ram");

	if (path && ram) {
		snprintf(err, errlen, "ram=%s: give either a path or ram=, not both", ram);
		return -1;
	}
	if (!path && !ram) {
		snprintf(err, errlen, "a devpath is required (/dev/blockdev, /path/to/image or "
			 "ram=size_in_MiB)");
		return -1;
	}
	if (ram)
		return devconf_num(nvl, "ram", 1, NVME_RAM_MAX_MIB, NULL, err, errlen);
	return devconf_block_check(nvl, true, err, errlen);
}

static int nvme_check_strings(config_node_t *nvl, char *err, size_t errlen)
{
	const char *ser = config_node_get(nvl, "ser");
	const char *eui = config_node_get(nvl, "eui64");
	const char *dsm = config_node_get(nvl, "dsm");
	uint64_t v;

	if (ser) {
		bool ok = strlen(ser) <= NVME_SER_MAX;
		for (const char *c = ser; ok && *c; c++)
			ok = isprint((unsigned char)*c);
		if (!ok) {
			snprintf(err, errlen, "ser=%s: at most %d printable characters", ser,
				 NVME_SER_MAX);
			return -1;
		}
	}
	if (eui && parse_num(eui, 0, 0, UINT64_MAX, &v) < 0) {
		snprintf(err, errlen, "eui64=%s: must be a 64-bit number", eui);
		return -1;
	}
	if (dsm && strcmp(dsm, "auto") && strcmp(dsm, "enable") && strcmp(dsm, "disable")) {
		snprintf(err, errlen, "dsm=%s: expected auto, enable or disable", dsm);
		return -1;
	}
	return 0;
}

static int nvme_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "device", DEVCONF_BLOCK_KEYS, "ram", "maxq", "qsz",
					    "ioslots", "sectsz", "ser", "eui64", "dsm", NULL };
	uint64_t sectsz = 512;

	if (devconf_check_keys(nvl, keys, err, errlen) < 0 ||
	    nvme_check_backing(nvl, err, errlen) < 0 ||
	    devconf_num(nvl, "maxq", 1, NVME_MAX_QUEUES, NULL, err, errlen) < 0 ||
	    devconf_num(nvl, "qsz", 2, NVME_MAX_QSZ, NULL, err, errlen) < 0 ||
	    devconf_num(nvl, "ioslots", 1, NVME_MAX_IOSLOTS, NULL, err, errlen) < 0 ||
	    devconf_num(nvl, "sectsz", 512, 8192, &sectsz, err, errlen) < 0)
		return -1;
	if (sectsz != 512 && sectsz != 4096 && sectsz != 8192) {
		snprintf(err, errlen, "sectsz=%s: expected 512, 4096 or 8192",
			 config_node_get(nvl, "sectsz"));
		return -1;
	}
	return nvme_check_strings(nvl, err, errlen);
}

static const struct pci_devemu pci_de_nvme = {
	.pe_emu = "nvme",
	.pe_unimplemented = true,
	.pe_help = "NVMe: /dev/blockdev|/path/to/image|ram=MiB[,maxq=#][,qsz=#][,ioslots=#]"
		   "[,sectsz=512|4096|8192][,ser=A-Z]",
	.pe_legacy_config = nvme_legacy_config,
	.pe_validate = nvme_validate,
};
PCI_EMUL_SET(pci_de_nvme);
