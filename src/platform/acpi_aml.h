/*
 * A small AML (ACPI Machine Language) byte-code writer for the DSDT, after the grammar in the
 * ACPI specification, chapter 20 "ACPI Machine Language Specification".
 *
 * Objects with a PkgLength (Scope, Device, Package, Buffer) are opened, filled and closed; the
 * PkgLength is inserted when the object is closed, so nesting needs no size precomputation.
 * Errors (overflow, bad name, unbalanced close) are sticky: check aml_error() once at the end.
 */
#ifndef BHYVE_ACPI_AML_H
#define BHYVE_ACPI_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16

struct aml {
	uint8_t *buf;
	size_t cap, len;
	size_t open[AML_MAX_DEPTH];   /* where each open object's PkgLength goes */
	int depth;
	bool err;
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
bool aml_error(const struct aml *a);   /* true if anything went wrong, incl. unclosed objects */

/* Raw bytes, and the encodings the grammar is built from. */
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);
/* NameString: "\\_SB.PC00", "^FOO", "COM1", "_HID"; segments shorter than 4 are '_'-padded. */
void aml_namestring(struct aml *a, const char *path);
/* Integer in the shortest form (ZeroOp, OneOp, BytePrefix, ..., QWordPrefix). */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* EISA ID "PNP0A03" compressed into the DWord the AML EisaId() macro makes. */
uint32_t aml_eisaid_value(const char *id);
void aml_eisaid(struct aml *a, const char *id);

/* Name(NAME, ...): emits NameOp and the name; the caller then emits one data object. */
void aml_name(struct aml *a, const char *name);
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_string(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/* Objects with a PkgLength; each aml_*_begin is matched by aml_end. */
void aml_scope_begin(struct aml *a, const char *name);
void aml_device_begin(struct aml *a, const char *name);
void aml_package_begin(struct aml *a, uint8_t nelems);
/* Method(NAME, nargs, NotSerialized): the body follows. */
void aml_method_begin(struct aml *a, const char *name, int nargs);
/* Return(integer) inside a method. */
void aml_return_integer(struct aml *a, uint64_t v);
void aml_end(struct aml *a);

/* Buffer holding a resource template (ACPI 6.x section 6.4): begin, descriptors, end (which
 * appends the End Tag). */
void aml_restemplate_begin(struct aml *a);
void aml_restemplate_end(struct aml *a);
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);             /* IO(Decode16, b, b, 1, len) */
void aml_res_irq_noflags(struct aml *a, int irq);                      /* IRQNoFlags(){irq} */
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len, bool rw);
void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max);      /* WordBusNumber producer */
void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max);       /* WordIO producer window */
void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max);     /* DWordMemory window */
void aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max);     /* QWordMemory window */

/* Opcodes used by the writer and by tests that decode its output. */
#define AML_ZERO_OP      0x00
#define AML_ONE_OP       0x01
#define AML_NAME_OP      0x08
#define AML_BYTE_PREFIX  0x0A
#define AML_WORD_PREFIX  0x0B
#define AML_DWORD_PREFIX 0x0C
#define AML_STRING_PREFIX 0x0D
#define AML_QWORD_PREFIX 0x0E
#define AML_SCOPE_OP     0x10
#define AML_BUFFER_OP    0x11
#define AML_PACKAGE_OP   0x12
#define AML_METHOD_OP    0x14
#define AML_DUAL_NAME    0x2E
#define AML_MULTI_NAME   0x2F
#define AML_EXT_PREFIX   0x5B
#define AML_DEVICE_OP    0x82    /* after AML_EXT_PREFIX */
#define AML_ROOT_CHAR    0x5C
#define AML_PARENT_CHAR  0x5E
#define AML_RETURN_OP    0xA4
#define AML_ONES_OP      0xFF

#endif
