/*
 * Internals of the bhyve command (bhyve.c, bhyve_opts.c, bhyve_validate.c): option handlers
 * that turn one argument into configuration keys, and the check of the whole tree.
 * Each returns 0, or -1 with a one-line message in err naming the offending argument.
 */
#ifndef BHYVE_CMD_H
#define BHYVE_CMD_H

#include <stddef.h>

#define BHYVE_EXIT_ERROR 4
#define BHYVE_ERRLEN     512

int bhyve_opt_cpus(const char *arg, char *err, size_t errlen);       /* -c */
int bhyve_opt_gdb(const char *arg, char *err, size_t errlen);        /* -G */
int bhyve_opt_bvmdebug(const char *arg, char *err, size_t errlen);   /* -g */
int bhyve_opt_kfile(const char *arg, char *err, size_t errlen);      /* -k */
int bhyve_opt_lpc(const char *arg, char *err, size_t errlen);        /* -l */
int bhyve_opt_mem(const char *arg, char *err, size_t errlen);        /* -m */
int bhyve_opt_set(const char *arg, char *err, size_t errlen);        /* -o */
int bhyve_opt_pin(const char *arg, char *err, size_t errlen);        /* -p */
int bhyve_opt_restore(const char *arg, char *err, size_t errlen);    /* -r */
int bhyve_opt_slot(const char *arg, char *err, size_t errlen);       /* -s */
int bhyve_opt_uuid(const char *arg, char *err, size_t errlen);       /* -U */
int bhyve_opt_vmname(const char *arg, char *err, size_t errlen);     /* vmname */

/* config_set for option `opt`, with an error message when the key cannot be set. */
int bhyve_set_key(const char *opt, const char *key, const char *val, char *err, size_t errlen);

/* The defaults bhyve puts into the tree before reading options. */
void bhyve_set_defaults(void);
/* Check the whole tree as device set-up would (no files, sockets or VM); fills in computed
 * keys (cpus). */
int bhyve_validate(char *err, size_t errlen);

/* Memory sizes bhyve accepts: parse_memsize() and a whole number of 4 KiB pages. */
int bhyve_check_memsize(const char *s, char *err, size_t errlen);
/* Host CPUs that exist on this machine (for -p). */
unsigned bhyve_host_cpus(void);

#endif
