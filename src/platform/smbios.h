/* Constants of the SMBIOS 2.x tables (DMTF DSP0134). */
#ifndef BHYVE_SMBIOS_H
#define BHYVE_SMBIOS_H

#define SMBIOS_EP_LEN     0x1F  /* 32-bit entry point structure */
#define SMBIOS_TABLE_OFF  0x20  /* the structure table follows it */

#endif
