/*
 * bhyve's sandbox after set-up (bhyve_sandbox.c): no_new_privs and the seccomp filter
 * (config security.seccomp, default on).
 */
#ifndef BHYVE_SANDBOX_H
#define BHYVE_SANDBOX_H

#include <stddef.h>

/* The exit status after a forbidden system call: bhyve's "error". */
#define BHYVE_SANDBOX_EXIT 4

/* Enter the sandbox: 0, or -1 with a one-line message in err. */
int bhyve_sandbox_enter(char *err, size_t errlen);

#endif
