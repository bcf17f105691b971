/*
 * Pinning vCPU threads to host CPUs (bhyve -p vcpu:hostcpu, config vcpu.N.cpuset).  The value
 * is a host CPU list as in cpuset(1): "3", "0,2", "4-7".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "vmm/vm_internal.h"

static int vcpu_parse_num(const char **p, long *out)
{
	char *end;

	if (**p < '0' || **p > '9')
		return -1;
	*out = strtol(*p, &end, 10);
	if (*out < 0 || *out >= CPU_SETSIZE)
		return -1;
	*p = end;
	return 0;
}

int vcpu_parse_cpuset(const char *s, cpu_set_t *set)
{
	const char *p = s;

	CPU_ZERO(set);
	if (s == NULL || *s == '\0')
		return -1;
	for (;;) {
		long lo, hi, c;
		if (vcpu_parse_num(&p, &lo) < 0)
			return -1;
		hi = lo;
		if (*p == '-') {
			p++;
			if (vcpu_parse_num(&p, &hi) < 0 || hi < lo)
				return -1;
		}
		for (c = lo; c <= hi; c++)
			CPU_SET((int)c, set);
		if (*p == '\0')
			return 0;
		if (*p != ',')
			return -1;
		p++;
	}
}

int vcpu_pin(struct vcpu *v)
{
	char key[32];
	const char *val;
	cpu_set_t set;
	int rc;

	snprintf(key, sizeof(key), "vcpu.%d.cpuset", v->id);
	val = config_get(key);
	if (val == NULL)
		return 0;
	if (vcpu_parse_cpuset(val, &set) < 0) {
		fprintf(stderr, "bhyve: invalid %s '%s'\n", key, val);
		return -1;
	}
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc != 0) {
		fprintf(stderr, "bhyve: cannot pin vCPU %d to host CPUs %s: %s\n", v->id, val,
			strerror(rc));
		return -1;
	}
	return 0;
}
