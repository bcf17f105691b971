/*
 * Starting the VM described by the configuration tree (after bhyve.c has parsed and validated
 * the command line).  Placeholder until the VM core lands.
 */
#include <stdio.h>

#include "cmd/bhyve_run.h"

int bhyve_run(void)
{
	fprintf(stderr, "bhyve: running a VM is not implemented yet\n");
	return 4;
}
