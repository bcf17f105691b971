/*
 * AML byte-code writer (see acpi_aml.h).  Encodings follow ACPI 6.x chapter 20 (AML grammar) and
 * section 6.4 (resource data types).
 */
#include <string.h>

#include "platform/acpi_aml.h"

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	memset(a, 0, sizeof(*a));
	a->buf = buf;
	a->cap = cap;
}

bool aml_error(const struct aml *a)
{
	return a->err || a->depth != 0;
}

void aml_byte(struct aml *a, uint8_t b)
{
	if (a->len >= a->cap) {
		a->err = true;
		return;
	}
	a->buf[a->len++] = b;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (n > a->cap - a->len) {
		a->err = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void aml_le(struct aml *a, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/* ---- names ---- */

static bool aml_seg_char(char c, bool first)
{
	if (c == '_' || (c >= 'A' && c <= 'Z'))
		return true;
	return !first && c >= '0' && c <= '9';
}

/* One NameSeg of 1-4 characters, padded with '_'. */
static void aml_nameseg(struct aml *a, const char *s, size_t n)
{
	if (n == 0 || n > 4) {
		a->err = true;
		return;
	}
	for (size_t i = 0; i < 4; i++) {
		char c = i < n ? s[i] : '_';
		if (!aml_seg_char(c, i == 0))
			a->err = true;
		aml_byte(a, (uint8_t)c);
	}
}

void aml_namestring(struct aml *a, const char *path)
{
	const char *p = path;
	if (*p == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_byte(a, AML_PARENT_CHAR);
			p++;
		}
	}
	int nseg = 0;
	if (*p) {
		nseg = 1;
		for (const char *q = p; *q; q++)
			nseg += *q == '.';
	}
	if (nseg == 0) {
		aml_byte(a, 0x00);   /* NullName */
		return;
	}
	if (nseg == 2) {
		aml_byte(a, AML_DUAL_NAME);
	} else if (nseg > 2) {
		aml_byte(a, AML_MULTI_NAME);
		aml_byte(a, (uint8_t)nseg);
	}
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		aml_nameseg(a, p, n);
		p += n;
		if (*p == '.')
			p++;
	}
}

/* ---- data objects ---- */

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= 0xFF) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xFFFF) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xFFFFFFFFULL) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	for (; *s; s++) {
		if ((unsigned char)*s > 0x7F)   /* AML strings are ASCII 0x01-0x7F */
			a->err = true;
		aml_byte(a, (uint8_t)*s);
	}
	aml_byte(a, 0);
}

static int aml_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* EisaId("AAA####"): three letters as 5-bit values (A=1) in a big-endian word, then four
 * hex digits as two bytes; the result is that 4-byte sequence read little-endian.  0 if the
 * string is malformed. */
uint32_t aml_eisaid_value(const char *id)
{
	if (strlen(id) != 7)
		return 0;
	uint16_t comp = 0;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return 0;
		comp = (uint16_t)(comp << 5 | (id[i] - 0x40));
	}
	int d[4];
	for (int i = 0; i < 4; i++)
		if ((d[i] = aml_hexval(id[3 + i])) < 0)
			return 0;
	uint8_t b[4] = { (uint8_t)(comp >> 8), (uint8_t)comp, (uint8_t)(d[0] << 4 | d[1]),
			 (uint8_t)(d[2] << 4 | d[3]) };
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = aml_eisaid_value(id);
	if (v == 0)
		a->err = true;
	aml_byte(a, AML_DWORD_PREFIX);   /* EisaId() always compiles to a DWord */
	aml_le(a, v, 4);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_name(a, name);
	aml_integer(a, v);
}

void aml_name_string(struct aml *a, const char *name, const char *s)
{
	aml_name(a, name);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_name(a, name);
	aml_eisaid(a, id);
}

/* ---- objects with a PkgLength ---- */

static void aml_open(struct aml *a)
{
	if (a->depth >= AML_MAX_DEPTH) {
		a->err = true;
		return;
	}
	a->open[a->depth++] = a->len;
}

/* Insert `pre` (pre_len bytes) plus the PkgLength in front of the body that starts at `at`.
 * PkgLength counts itself, `pre` and the body: 1 byte up to 63, else 2-4 bytes with the low
 * nibble in the lead byte and the byte count in its top two bits. */
static void aml_insert_pkglength(struct aml *a, size_t at, const uint8_t *pre, size_t pre_len)
{
	size_t body = a->len - at + pre_len;
	size_t n;
	if (body + 1 <= 0x3F)
		n = 1;
	else if (body + 2 < (1u << 12))
		n = 2;
	else if (body + 3 < (1u << 20))
		n = 3;
	else if (body + 4 < (1u << 28))
		n = 4;
	else {
		a->err = true;
		return;
	}
	if (a->len + n + pre_len > a->cap) {
		a->err = true;
		return;
	}
	size_t total = body + n;
	memmove(a->buf + at + n + pre_len, a->buf + at, a->len - at);
	if (n == 1) {
		a->buf[at] = (uint8_t)total;
	} else {
		a->buf[at] = (uint8_t)((n - 1) << 6 | (total & 0xF));
		for (size_t i = 1; i < n; i++)
			a->buf[at + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	if (pre_len)
		memcpy(a->buf + at + n, pre, pre_len);
	a->len += n + pre_len;
}

void aml_end(struct aml *a)
{
	if (a->depth <= 0 || a->err) {
		a->err = true;
		return;
	}
	aml_insert_pkglength(a, a->open[--a->depth], NULL, 0);
}

void aml_scope_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_SCOPE_OP);
	aml_open(a);
	aml_namestring(a, name);
}

void aml_device_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_EXT_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	aml_open(a);
	aml_namestring(a, name);
}

void aml_package_begin(struct aml *a, uint8_t nelems)
{
	aml_byte(a, AML_PACKAGE_OP);
	aml_open(a);
	aml_byte(a, nelems);
}

void aml_method_begin(struct aml *a, const char *name, int nargs)
{
	aml_byte(a, AML_METHOD_OP);
	aml_open(a);
	aml_namestring(a, name);
	aml_byte(a, (uint8_t)(nargs & 7));   /* flags: ArgCount, NotSerialized, SyncLevel 0 */
}

void aml_return_integer(struct aml *a, uint64_t v)
{
	aml_byte(a, AML_RETURN_OP);
	aml_integer(a, v);
}

/* ---- resource templates ---- */

void aml_restemplate_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER_OP);
	aml_open(a);
}

void aml_restemplate_end(struct aml *a)
{
	if (a->depth <= 0 || a->err) {
		a->err = true;
		return;
	}
	/* End Tag: small item 0xF, length 1; checksum 0 means "treat as valid". */
	aml_byte(a, 0x79);
	aml_byte(a, 0x00);
	size_t at = a->open[--a->depth];
	/* The BufferSize integer comes between the PkgLength and the bytes. */
	struct aml tmp;
	uint8_t size_enc[16];
	aml_init(&tmp, size_enc, sizeof(size_enc));
	aml_integer(&tmp, a->len - at);
	if (a->err)
		return;
	aml_insert_pkglength(a, at, size_enc, tmp.len);
}

void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	/* Small item 0x08 (I/O port), 7 bytes: decode16, min, max, alignment, length. */
	aml_byte(a, 0x47);
	aml_byte(a, 0x01);
	aml_le(a, base, 2);
	aml_le(a, base, 2);
	aml_byte(a, 0x01);
	aml_byte(a, len);
}

void aml_res_irq_noflags(struct aml *a, int irq)
{
	/* Small item 0x04 (IRQ), 2 bytes: the mask; the default is edge, active high. */
	aml_byte(a, 0x22);
	aml_le(a, irq >= 0 && irq < 16 ? 1u << irq : 0, 2);
}

void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len, bool rw)
{
	/* Large item 0x06 (32-bit fixed memory), 9 bytes. */
	aml_byte(a, 0x86);
	aml_le(a, 9, 2);
	aml_byte(a, rw ? 1 : 0);
	aml_le(a, base, 4);
	aml_le(a, len, 4);
}

/* Address space descriptors (word 0x88, dword 0x87, qword 0x8A): resource type, general flags
 * (bit 3 max fixed, bit 2 min fixed, bit 0 clear = producer: a bridge window), type-specific
 * flags, then granularity, min, max, translation offset and length, each `w` bytes. */
static void aml_res_addr(struct aml *a, uint8_t tag, int w, uint8_t type, uint8_t tflags,
			 uint64_t min, uint64_t max)
{
	aml_byte(a, tag);
	aml_le(a, (uint64_t)(3 + 5 * w), 2);
	aml_byte(a, type);
	aml_byte(a, 0x0C);
	aml_byte(a, tflags);
	aml_le(a, 0, w);
	aml_le(a, min, w);
	aml_le(a, max, w);
	aml_le(a, 0, w);
	aml_le(a, max - min + 1, w);
}

void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_addr(a, 0x88, 2, 2, 0x00, min, max);
}

void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_addr(a, 0x88, 2, 1, 0x03, min, max);    /* ISA and non-ISA ranges */
}

void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max)
{
	aml_res_addr(a, 0x87, 4, 0, 0x01, min, max);    /* read-write, non-cacheable */
}

void aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max)
{
	aml_res_addr(a, 0x8A, 8, 0, 0x01, min, max);
}
