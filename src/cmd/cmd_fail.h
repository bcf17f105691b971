/*
 * The one error helper of the programs (bhyve, bhyvectl, bhyveload): prints
 * "<program>: <message>" as one line on stderr and returns the exit status to use.
 */
#ifndef BHYVE_CMD_FAIL_H
#define BHYVE_CMD_FAIL_H

int cmd_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
