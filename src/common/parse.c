/* Small parsers shared by the programs and the device emulations (see parse.h). */
#include "common/parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool parse_vmname_valid(const char *name)
{
	size_t n;

	if (!name || !*name || name[0] == '-' || name[0] == '.')
		return false;
	for (n = 0; name[n]; n++) {
		unsigned char c = (unsigned char)name[n];
		if (n >= BHYVE_VMNAME_MAX)
			return false;
		if (!isalnum(c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

int parse_num(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isxdigit((unsigned char)s[0]))
		return -1;   /* strtoull would accept spaces, signs */
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end != '\0' || end == s || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Multiplier for a size suffix; 0 if the character is not one. */
static uint64_t memsize_unit(char c)
{
	switch (c) {
	case 'K': case 'k': return 1ULL << 10;
	case 'M': case 'm': return 1ULL << 20;
	case 'G': case 'g': return 1ULL << 30;
	case 'T': case 't': return 1ULL << 40;
	default: return 0;
	}
}

int parse_memsize(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long v;
	uint64_t unit = 1ULL << 20;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end) {
		unit = memsize_unit(*end);
		if (!unit || end[1] != '\0')
			return -1;
	}
	if (v == 0 || v > UINT64_MAX / unit)
		return -1;
	*bytes = v * unit;
	return 0;
}

int parse_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (parse_num(s, 10, 1, 65535, &v) < 0)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int parse_uuid(const char *s, uint8_t uuid[16])
{
	size_t i, b = 0;

	if (!s || strlen(s) != 36)
		return -1;
	for (i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -1;
			continue;
		}
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		uuid[b++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

int parse_mac(const char *s, uint8_t mac[6])
{
	const char *p = s;
	int i;

	if (!s)
		return -1;
	for (i = 0; i < 6; i++) {
		int d0 = hexval(p[0]), d1 = d0 >= 0 ? hexval(p[1]) : -1;
		if (d0 < 0)
			return -1;
		mac[i] = (uint8_t)(d1 >= 0 ? d0 << 4 | d1 : d0);
		p += d1 >= 0 ? 2 : 1;
		if (i < 5 && *p != ':' && *p != '-')
			return -1;
		if (i < 5)
			p++;
	}
	if (*p)
		return -1;
	if (mac[0] & 1)
		return -1;   /* multicast / broadcast */
	for (i = 0; i < 6; i++)
		if (mac[i])
			return 0;
	return -1;           /* 00:00:00:00:00:00 */
}

/* One "N" or "A-B" element of a CPU list. */
static int cpulist_elem(const char *e, unsigned limit, uint64_t *set)
{
	uint64_t a, b;
	char *dash = strchr(e, '-');

	if (dash) {
		*dash = '\0';
		if (parse_num(e, 10, 0, limit - 1, &a) < 0 ||
		    parse_num(dash + 1, 10, 0, limit - 1, &b) < 0 || b < a)
			return -1;
	} else {
		if (parse_num(e, 10, 0, limit - 1, &a) < 0)
			return -1;
		b = a;
	}
	for (; set && a <= b; a++)
		set[a / 64] |= 1ULL << (a % 64);
	return 0;
}

int parse_cpulist(const char *s, unsigned limit, uint64_t *set)
{
	char *copy, *tok, *save = NULL;
	int rc = 0;

	if (!s || !*s || limit == 0)
		return -1;
	copy = strdup(s);
	if (!copy)
		return -1;
	if (s[strlen(s) - 1] == ',' || s[0] == ',' || strstr(s, ",,"))
		rc = -1;
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save))
		rc = cpulist_elem(tok, limit, set);
	free(copy);
	return rc;
}

bool parse_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}
