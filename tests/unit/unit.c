#include "unit.h"

int unit_failures, unit_checks;

int unit_report(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_checks - unit_failures, unit_failures);
	return unit_failures ? 1 : 0;
}
