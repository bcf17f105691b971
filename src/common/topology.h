/*
 * The guest CPU topology from the configuration tree (-c): keys cpus, sockets, cores, threads.
 * Unset sockets/cores/threads default to 1, except that a lone cpus=N means N sockets of one
 * core and one thread (bhyve's -c N); unset cpus is the product of the others.  The product
 * must equal cpus and lie in 1..TOPOLOGY_MAXCPU.
 */
#ifndef BHYVE_TOPOLOGY_H
#define BHYVE_TOPOLOGY_H

#include <stddef.h>

/* bhyve(8): "The current maximum number of guest virtual CPUs is 16" (vmm.h's VM_MAXCPU). */
#define TOPOLOGY_MAXCPU 16

struct bhyve_topology {
	unsigned cpus, sockets, cores, threads;
};

/* 0, or -1 with a one-line message naming the offending key(s). */
int bhyve_topology_get(struct bhyve_topology *t, char *err, size_t errlen);

#endif
