/*
 * The configuration tree: every command-line option becomes string keys here, and devices read
 * the tree, never argv.  Names are dotted paths ("pci.0.2.0.path"); an inner name is a node and
 * a leaf holds a string value.  Values may reference other keys as %(key), expanded on read.
 * Booleans accept true/on/yes/1 and false/off/no/0 (bhyve_config(5)).
 */
#ifndef BHYVE_CONFIG_H
#define BHYVE_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

typedef struct config_node config_node_t;

/* Drop the whole tree (tests; each program starts with an empty one). */
void config_reset(void);

/* Find a node, creating it and its parents; NULL if a path component is already a value. */
config_node_t *config_node(const char *path);
/* Find an existing node, or NULL. */
config_node_t *config_find_node(const char *path);
/* Find or create a child node of `parent`. */
config_node_t *config_node_child(config_node_t *parent, const char *name);
const char *config_node_path(const config_node_t *n);   /* "" for the root */

/* Set a value (creating nodes); -1 with errno=EEXIST if the path names a node, or a parent
 * is a value. */
int config_set(const char *path, const char *value);
int config_node_set(config_node_t *n, const char *name, const char *value);
/* Set only if not already set. */
int config_set_default(const char *path, const char *value);
int config_unset(const char *path);

/* Value with %(key) references expanded, or NULL if absent.  The string lives until the next
 * config_set of that key or config_reset. */
const char *config_get(const char *path);
const char *config_node_get(const config_node_t *n, const char *name);
/* Raw (unexpanded) value. */
const char *config_get_raw(const char *path);

/* Parse a boolean word: 0 on success, -1 if it is not one. */
int config_parse_bool(const char *s, bool *out);
/* Boolean with default; a malformed value counts as the default (validate first). */
bool config_get_bool(const char *path, bool dflt);
bool config_node_get_bool(const config_node_t *n, const char *name, bool dflt);

/* Children of a node in sorted order: calls fn(child-name, child-node or NULL, value or NULL).
 * Stops and returns fn's result when it is non-zero. */
typedef int (*config_walk_fn)(const char *name, config_node_t *child, const char *value,
			      void *arg);
int config_node_foreach(config_node_t *n, config_walk_fn fn, void *arg);

/* "key=value" (as -o takes it): 0, or -1 and a message in err. */
int config_parse_assignment(const char *kv, char *err, size_t errlen);
/* -k file: key=value lines, '#' comments, blank lines. 0, or -1 and a message in err. */
int config_read_file(const char *path, char *err, size_t errlen);

/* Print every leaf as key=value, sorted, one a line (config.dump=true). */
void config_dump(FILE *out);

#endif
