/*
 * Console input hub (console.h): a small table of sinks per VM, made on first use and freed
 * with the VM (console_free, which it registers for vm_close).
 */
#include "vmm/console.h"

#include <pthread.h>
#include <stdlib.h>

#include "vmm/vm_internal.h"

#define CONSOLE_MAX_SINKS 4

struct console_sink {
	void *arg;
	int priority;
	console_kbd_fn kbd;
	console_ptr_fn ptr;
};

struct console {
	pthread_mutex_t lock;
	int n;
	struct console_sink sinks[CONSOLE_MAX_SINKS];
};

static pthread_mutex_t console_create_lock = PTHREAD_MUTEX_INITIALIZER;

static void console_free(struct vm *vm);

static struct console *console_of(struct vm *vm)
{
	struct console *c;

	pthread_mutex_lock(&console_create_lock);
	c = vm->console;
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			abort();
		pthread_mutex_init(&c->lock, NULL);
		vm->console_fini = console_free;
		vm->console = c;
	}
	pthread_mutex_unlock(&console_create_lock);
	return c;
}

static int console_add(struct vm *vm, const struct console_sink *s)
{
	struct console *c = console_of(vm);
	int rc = -1;

	pthread_mutex_lock(&c->lock);
	if (c->n < CONSOLE_MAX_SINKS) {
		c->sinks[c->n++] = *s;
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int console_kbd_register(struct vm *vm, console_kbd_fn fn, void *arg, int priority)
{
	struct console_sink s = { .arg = arg, .priority = priority, .kbd = fn };

	return console_add(vm, &s);
}

int console_ptr_register(struct vm *vm, console_ptr_fn fn, void *arg, int priority)
{
	struct console_sink s = { .arg = arg, .priority = priority, .ptr = fn };

	return console_add(vm, &s);
}

void console_unregister(struct vm *vm, void *arg)
{
	struct console *c = console_of(vm);

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->n;) {
		if (c->sinks[i].arg == arg)
			c->sinks[i] = c->sinks[--c->n];
		else
			i++;
	}
	pthread_mutex_unlock(&c->lock);
}

/* The sink of the kind wanted with the highest priority (NULL if none), under c->lock. */
static const struct console_sink *console_best(struct console *c, bool kbd)
{
	const struct console_sink *best = NULL;

	for (int i = 0; i < c->n; i++) {
		const struct console_sink *s = &c->sinks[i];
		if ((kbd ? s->kbd == NULL : s->ptr == NULL) ||
		    (best && best->priority >= s->priority))
			continue;
		best = s;
	}
	return best;
}

void console_key_event(struct vm *vm, bool down, uint32_t keysym)
{
	struct console *c = console_of(vm);
	const struct console_sink *s;

	pthread_mutex_lock(&c->lock);
	s = console_best(c, true);
	if (s)
		s->kbd(s->arg, down, keysym);
	pthread_mutex_unlock(&c->lock);
}

void console_ptr_event(struct vm *vm, int buttons, int x, int y, int width, int height)
{
	struct console *c = console_of(vm);
	const struct console_sink *s;

	pthread_mutex_lock(&c->lock);
	s = console_best(c, false);
	if (s)
		s->ptr(s->arg, buttons, x, y, width, height);
	pthread_mutex_unlock(&c->lock);
}

static void console_free(struct vm *vm)
{
	struct console *c = vm->console;

	vm->console = NULL;
	if (c) {
		pthread_mutex_destroy(&c->lock);
		free(c);
	}
}
