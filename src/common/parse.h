/*
 * Small parsers shared by bhyve, bhyveload, bhyvectl and the device emulations.  Each returns
 * 0 on success or -1 on malformed/out-of-range input (errno is left alone); none prints.
 */
#ifndef BHYVE_PARSE_H
#define BHYVE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* VM names: 1..31 characters of [A-Za-z0-9_.-], not starting with '-' or '.'. */
#define BHYVE_VMNAME_MAX 31
bool parse_vmname_valid(const char *name);

/* Unsigned number in `base` (10, 16, or 0 for C prefixes) within [min, max]; no sign, no
 * trailing characters, no empty string. */
int parse_num(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out);

/* Memory size: a decimal number with an optional K/k, M/m, G/g, T/t suffix (powers of 1024);
 * without a suffix the number is MiB (bhyve -m).  Zero and sizes that overflow are refused. */
int parse_memsize(const char *s, uint64_t *bytes);

/* TCP/UDP port 1..65535. */
int parse_port(const char *s, uint16_t *port);

/* UUID "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex, either case) into 16 bytes, in text order. */
int parse_uuid(const char *s, uint8_t uuid[16]);

/* MAC address "xx:xx:xx:xx:xx:xx" (ethers(5): 1 or 2 hex digits a byte, ':' or '-').  The
 * all-zero address and multicast addresses (bit 0 of the first byte) are refused because a
 * NIC cannot own them. */
int parse_mac(const char *s, uint8_t mac[6]);

/* A host CPU list as -p builds it: "N[,N...]" or ranges "A-B"; each CPU must be below
 * `limit`.  Bits go into `set` (an array of `limit` bits, may be NULL to only check). */
int parse_cpulist(const char *s, unsigned limit, uint64_t *set);

/* A power of two. */
bool parse_is_pow2(uint64_t v);

#endif
