/* Guest CPU topology from the configuration tree (see topology.h). */
#include "common/topology.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "common/parse.h"

/* One key: 0 if absent (*v untouched), 1 if present and valid, -1 if malformed. */
static int topo_key(const char *key, unsigned *v, char *err, size_t errlen)
{
	const char *s = config_get(key);
	uint64_t x;

	if (!s)
		return 0;
	if (parse_num(s, 10, 1, TOPOLOGY_MAXCPU, &x) < 0) {
		snprintf(err, errlen, "-c: %s=%s: must be a number from 1 to %d", key, s, TOPOLOGY_MAXCPU);
		return -1;
	}
	*v = (unsigned)x;
	return 1;
}

int bhyve_topology_get(struct bhyve_topology *t, char *err, size_t errlen)
{
	int hc, hs, hco, ht;
	unsigned long prod;

	t->cpus = t->sockets = t->cores = t->threads = 1;
	if ((hc = topo_key("cpus", &t->cpus, err, errlen)) < 0 ||
	    (hs = topo_key("sockets", &t->sockets, err, errlen)) < 0 ||
	    (hco = topo_key("cores", &t->cores, err, errlen)) < 0 ||
	    (ht = topo_key("threads", &t->threads, err, errlen)) < 0)
		return -1;
	if (hc && !hs && !hco && !ht)
		t->sockets = t->cpus;
	prod = (unsigned long)t->sockets * t->cores * t->threads;
	if (!hc) {
		if (prod > TOPOLOGY_MAXCPU) {
			snprintf(err, errlen, "-c: %u sockets x %u cores x %u threads = %lu vCPUs, "
				 "more than the maximum of %d", t->sockets, t->cores, t->threads, prod,
				 TOPOLOGY_MAXCPU);
			return -1;
		}
		t->cpus = (unsigned)prod;
	}
	if (prod != t->cpus) {
		snprintf(err, errlen, "-c: topology %u sockets x %u cores x %u threads = %lu does "
			 "not match cpus=%u", t->sockets, t->cores, t->threads, prod, t->cpus);
		return -1;
	}
	return 0;
}
