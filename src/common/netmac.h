/*
 * The default MAC address of an emulated NIC (virtio-net, e1000) that has no mac= option.
 *
 * As on FreeBSD: the fixed OUI 58:9c:fc followed by the first three bytes of the MD5 digest of
 * the string "<slot>-<func>-<vmname>" (decimal numbers, e.g. "2-0-vm1").  For a device on a bus
 * other than 0 the string is "<bus>-<slot>-<func>-<vmname>", so that 0:2:0 and 1:2:0 differ
 * while addresses on bus 0 stay the ones FreeBSD's bhyve gives.  The result is a unicast,
 * globally administered address, stable for one VM name and slot.
 */
#ifndef BHYVE_NETMAC_H
#define BHYVE_NETMAC_H

#include <stdint.h>

#define NETMAC_OUI0 0x58
#define NETMAC_OUI1 0x9c
#define NETMAC_OUI2 0xfc

void netmac_default(unsigned bus, unsigned slot, unsigned func, const char *vmname,
		    uint8_t mac[6]);

#endif
