/* Default NIC MAC addresses (see netmac.h). */
#include "common/netmac.h"

#include <md5.h>
#include <stdio.h>
#include <string.h>

void netmac_default(unsigned bus, unsigned slot, unsigned func, const char *vmname,
		    uint8_t mac[6])
{
	char key[128];
	uint8_t digest[MD5_DIGEST_LENGTH];
	MD5_CTX ctx;
	int n;

	if (bus == 0)
		n = snprintf(key, sizeof(key), "%u-%u-%s", slot, func, vmname ? vmname : "");
	else
		n = snprintf(key, sizeof(key), "%u-%u-%u-%s", bus, slot, func,
			     vmname ? vmname : "");
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(key))
		n = sizeof(key) - 1;
	MD5Init(&ctx);
	MD5Update(&ctx, (const uint8_t *)key, (size_t)n);
	MD5Final(digest, &ctx);
	mac[0] = NETMAC_OUI0;
	mac[1] = NETMAC_OUI1;
	mac[2] = NETMAC_OUI2;
	mac[3] = digest[0];
	mac[4] = digest[1];
	mac[5] = digest[2];
}
