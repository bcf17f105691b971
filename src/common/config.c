/*
 * Configuration tree.  Small and read far more than written: a node keeps its children in a
 * sorted array, so lookups are a binary search per path component and dumps come out sorted.
 */
#include "common/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct config_node {
	char *name;
	char *path;               /* full dotted path, "" for the root */
	char *value;              /* non-NULL for a leaf */
	char *expanded;           /* cache of the %()-expanded value */
	config_node_t **kids;
	size_t nkids, cap;
	config_node_t *parent;
};

static config_node_t *config_root;

static void node_free(config_node_t *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n->path);
	free(n->value);
	free(n->expanded);
	free(n);
}

void config_reset(void)
{
	if (config_root)
		node_free(config_root);
	config_root = NULL;
}

static config_node_t *node_new(config_node_t *parent, const char *name, size_t len)
{
	config_node_t *n = calloc(1, sizeof(*n));
	if (!n)
		abort();
	n->name = strndup(name, len);
	n->parent = parent;
	if (!parent || !parent->path[0])
		n->path = strdup(n->name);
	else if (asprintf(&n->path, "%s.%s", parent->path, n->name) < 0)
		abort();
	if (!n->name || !n->path)
		abort();
	return n;
}

static config_node_t *root(void)
{
	if (!config_root) {
		config_root = node_new(NULL, "", 0);
	}
	return config_root;
}

/* Binary search for a child; *pos gets the insertion point when absent. */
static config_node_t *kid_find(config_node_t *n, const char *name, size_t len, size_t *pos)
{
	size_t lo = 0, hi = n->nkids;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strncmp(n->kids[mid]->name, name, len);
		if (c == 0 && n->kids[mid]->name[len] != '\0')
			c = 1;
		if (c == 0)
			return n->kids[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return NULL;
}

static config_node_t *kid_get(config_node_t *n, const char *name, size_t len, bool create)
{
	size_t pos;
	config_node_t *k = kid_find(n, name, len, &pos);
	if (k || !create)
		return k;
	if (n->nkids == n->cap) {
		n->cap = n->cap ? n->cap * 2 : 4;
		n->kids = realloc(n->kids, n->cap * sizeof(*n->kids));
		if (!n->kids)
			abort();
	}
	memmove(&n->kids[pos + 1], &n->kids[pos], (n->nkids - pos) * sizeof(*n->kids));
	n->kids[pos] = node_new(n, name, len);
	n->nkids++;
	return n->kids[pos];
}

/* Walk a dotted path from `from`; creating nodes when asked.  Refuses to pass through a leaf
 * and refuses empty components. */
static config_node_t *walk(config_node_t *from, const char *path, bool create)
{
	config_node_t *n = from;
	const char *p = path;
	if (!*p)
		return NULL;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (len == 0 || n->value) {
			errno = EEXIST;
			return NULL;
		}
		n = kid_get(n, p, len, create);
		if (!n) {
			errno = ENOENT;
			return NULL;
		}
		if (!dot)
			return n;
		p = dot + 1;
	}
}

config_node_t *config_node(const char *path)
{
	config_node_t *n = walk(root(), path, true);
	if (n && n->value) {
		errno = EEXIST;
		return NULL;
	}
	return n;
}

config_node_t *config_find_node(const char *path)
{
	config_node_t *n = walk(root(), path, false);
	return (n && !n->value) ? n : NULL;
}

config_node_t *config_node_child(config_node_t *parent, const char *name)
{
	config_node_t *n = walk(parent ? parent : root(), name, true);
	return (n && !n->value) ? n : NULL;
}

const char *config_node_path(const config_node_t *n)
{
	return n->path;
}

static int leaf_set(config_node_t *n, const char *value)
{
	if (!n)
		return -1;
	if (!n->value && n->nkids) {
		errno = EEXIST;
		return -1;
	}
	char *v = strdup(value);
	if (!v)
		abort();
	free(n->value);
	free(n->expanded);
	n->expanded = NULL;
	n->value = v;
	return 0;
}

int config_set(const char *path, const char *value)
{
	return leaf_set(walk(root(), path, true), value);
}

int config_node_set(config_node_t *n, const char *name, const char *value)
{
	return leaf_set(walk(n ? n : root(), name, true), value);
}

int config_set_default(const char *path, const char *value)
{
	if (config_get_raw(path))
		return 0;
	return config_set(path, value);
}

static void kid_remove(config_node_t *parent, config_node_t *k)
{
	for (size_t i = 0; i < parent->nkids; i++) {
		if (parent->kids[i] == k) {
			memmove(&parent->kids[i], &parent->kids[i + 1],
				(parent->nkids - i - 1) * sizeof(*parent->kids));
			parent->nkids--;
			node_free(k);
			return;
		}
	}
}

int config_unset(const char *path)
{
	config_node_t *n = walk(root(), path, false);
	if (!n || !n->value)
		return -1;
	kid_remove(n->parent, n);
	return 0;
}

const char *config_get_raw(const char *path)
{
	config_node_t *n = walk(root(), path, false);
	return n ? n->value : NULL;
}

/* Expand %(key) references, to a bounded depth so that a cycle cannot recurse forever; an
 * unknown key expands to nothing. */
static char *expand(const char *v, int depth)
{
	size_t cap = strlen(v) + 1, len = 0;
	char *out = malloc(cap);
	if (!out)
		abort();
	for (const char *p = v; *p;) {
		const char *end;
		if (p[0] == '%' && p[1] == '(' && depth < 16 && (end = strchr(p + 2, ')'))) {
			char *key = strndup(p + 2, (size_t)(end - p - 2));
			const char *raw = key ? config_get_raw(key) : NULL;
			char *sub = expand(raw ? raw : "", depth + 1);
			size_t sl = strlen(sub);
			cap += sl;
			out = realloc(out, cap);
			if (!out)
				abort();
			memcpy(out + len, sub, sl);
			len += sl;
			free(sub);
			free(key);
			p = end + 1;
			continue;
		}
		out[len++] = *p++;
	}
	out[len] = '\0';
	return out;
}

static const char *leaf_get(config_node_t *n)
{
	if (!n || !n->value)
		return NULL;
	if (!strstr(n->value, "%("))
		return n->value;
	free(n->expanded);
	n->expanded = expand(n->value, 0);
	return n->expanded;
}

const char *config_get(const char *path)
{
	return leaf_get(walk(root(), path, false));
}

const char *config_node_get(const config_node_t *n, const char *name)
{
	return leaf_get(walk(n ? (config_node_t *)n : root(), name, false));
}

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "on", "yes", "1"};
	static const char *const no[] = {"false", "off", "no", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

bool config_get_bool(const char *path, bool dflt)
{
	const char *v = config_get(path);
	bool b;
	return (v && config_parse_bool(v, &b) == 0) ? b : dflt;
}

bool config_node_get_bool(const config_node_t *n, const char *name, bool dflt)
{
	const char *v = config_node_get(n, name);
	bool b;
	return (v && config_parse_bool(v, &b) == 0) ? b : dflt;
}

int config_node_foreach(config_node_t *n, config_walk_fn fn, void *arg)
{
	n = n ? n : root();
	for (size_t i = 0; i < n->nkids; i++) {
		config_node_t *k = n->kids[i];
		int r = fn(k->name, k->value ? NULL : k, k->value ? leaf_get(k) : NULL, arg);
		if (r)
			return r;
	}
	return 0;
}

int config_parse_assignment(const char *kv, char *err, size_t errlen)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv) {
		snprintf(err, errlen, "'%s': expected key=value", kv);
		return -1;
	}
	char *key = strndup(kv, (size_t)(eq - kv));
	if (!key)
		abort();
	int r = config_set(key, eq + 1);
	if (r < 0)
		snprintf(err, errlen, "'%s': '%s' conflicts with an existing key", kv, key);
	free(key);
	return r;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int config_read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "-k %s: %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		/* "key = value": blanks around '=' belong to neither side. */
		char *eq = strchr(s, '=');
		if (eq) {
			char *k_end = eq;
			while (k_end > s && (k_end[-1] == ' ' || k_end[-1] == '\t'))
				k_end--;
			char *v = eq + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			memmove(k_end + 1, v, strlen(v) + 1);
			*k_end = '=';
		}
		char sub[256];
		if (config_parse_assignment(s, sub, sizeof(sub)) < 0) {
			snprintf(err, errlen, "-k %s: line %d: %s", path, lineno, sub);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "-k %s: %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

static void dump_node(config_node_t *n, FILE *out)
{
	if (n->value) {
		fprintf(out, "%s=%s\n", n->path, leaf_get(n));
		return;
	}
	for (size_t i = 0; i < n->nkids; i++)
		dump_node(n->kids[i], out);
}

void config_dump(FILE *out)
{
	dump_node(root(), out);
}
