/* One-line error messages of the programs, prefixed by the program's name as err(3) does. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "cmd/cmd_fail.h"

int cmd_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}
