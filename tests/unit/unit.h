/* Minimal assertion helpers for the C unit tests: each check counts; main returns the verdict. */
#ifndef BHYVE_UNIT_H
#define BHYVE_UNIT_H

#include <stdio.h>
#include <string.h>

extern int unit_failures, unit_checks;

#define CHECK(cond) do { unit_checks++; if (!(cond)) { unit_failures++; \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ(a, b) do { unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
	unit_checks++; if (_a != _b) { unit_failures++; \
	fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (0x%llx != 0x%llx)\n", __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); unit_checks++; \
	if (!_a || !_b || strcmp(_a, _b)) { unit_failures++; \
	fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__, __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); } } while (0)

/* Prints "N passed, N failed" and returns the exit status. */
int unit_report(const char *name);

#endif
