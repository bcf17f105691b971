/*
 * Little- and big-endian loads and stores of 16/32/64-bit values at any alignment, for the
 * byte layouts of tables, boot headers and device structures (ACPI, SMBIOS, MP table, Linux
 * and Multiboot headers, virtio and SCSI fields).  Names as FreeBSD's sys/endian.h:
 * le32enc stores, le32dec loads.
 */
#ifndef BHYVE_BYTES_H
#define BHYVE_BYTES_H

#include <stdint.h>

static inline void le16enc(void *pp, uint16_t v)
{
	uint8_t *p = pp;
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le32enc(void *pp, uint32_t v)
{
	le16enc(pp, (uint16_t)v);
	le16enc((uint8_t *)pp + 2, (uint16_t)(v >> 16));
}

static inline void le64enc(void *pp, uint64_t v)
{
	le32enc(pp, (uint32_t)v);
	le32enc((uint8_t *)pp + 4, (uint32_t)(v >> 32));
}

static inline uint16_t le16dec(const void *pp)
{
	const uint8_t *p = pp;
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le32dec(const void *pp)
{
	return le16dec(pp) | (uint32_t)le16dec((const uint8_t *)pp + 2) << 16;
}

static inline uint64_t le64dec(const void *pp)
{
	return le32dec(pp) | (uint64_t)le32dec((const uint8_t *)pp + 4) << 32;
}

static inline void be16enc(void *pp, uint16_t v)
{
	uint8_t *p = pp;
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void be32enc(void *pp, uint32_t v)
{
	be16enc(pp, (uint16_t)(v >> 16));
	be16enc((uint8_t *)pp + 2, (uint16_t)v);
}

static inline void be64enc(void *pp, uint64_t v)
{
	be32enc(pp, (uint32_t)(v >> 32));
	be32enc((uint8_t *)pp + 4, (uint32_t)v);
}

static inline uint16_t be16dec(const void *pp)
{
	const uint8_t *p = pp;
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32dec(const void *pp)
{
	return (uint32_t)be16dec(pp) << 16 | be16dec((const uint8_t *)pp + 2);
}

static inline uint64_t be64dec(const void *pp)
{
	return (uint64_t)be32dec(pp) << 32 | be32dec((const uint8_t *)pp + 4);
}

#endif
