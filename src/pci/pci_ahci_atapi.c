/*
 * ATAPI (SCSI MMC over the PACKET command) for AHCI cd: ports.
 */
#include <string.h>

#include "pci/pci_ahci.h"

void ahci_atapi_identify_init(struct ahci_port *p, const char *ser, const char *model,
			      const char *rev)
{
	memset(p->ident, 0, sizeof(p->ident));
	(void)ser; (void)model; (void)rev;
}

void ahci_atapi_start(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *acmd,
		      const uint8_t *prdt, unsigned prdtl)
{
	(void)cfis; (void)acmd; (void)prdt; (void)prdtl;
	ahci_complete(p, slot, ATA_S_DRDY | ATA_S_ERR, ATA_E_ABRT, 0);
}
