/*
 * Rate limit for log messages a guest can trigger.  Each call site owns a token bucket: up to
 * `burst` messages at once, then one per `interval_ms`; what is dropped in between is counted
 * and reported as one "N similar messages suppressed" line before the next message that gets
 * through.  However a guest loops, the log grows by a bounded number of lines per second.
 *
 *     static struct ratelimit rl = RATELIMIT_INIT(5, 1000);
 *     ratelimit_log(&rl, "%s: queue %u: bad ring\n", name, q);
 */
#ifndef BHYVE_RATELIMIT_H
#define BHYVE_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct ratelimit {
	pthread_mutex_t lock;
	uint32_t burst;              /* bucket size: messages that may come at once */
	uint32_t interval_ms;        /* one token back per interval */
	uint32_t tokens;
	bool started;
	uint64_t last_ns;            /* when the last token was credited */
	uint64_t suppressed;         /* dropped since the last message that got through */
};

#define RATELIMIT_INIT(burst_, interval_ms_) \
	{ PTHREAD_MUTEX_INITIALIZER, (burst_), (interval_ms_), 0, false, 0, 0 }
/* The default for guest-triggerable messages: 5 at once, then one a second. */
#define RATELIMIT_DEFAULT RATELIMIT_INIT(5, 1000)

/* May a message be logged at host monotonic time `now_ns`?  *suppressed gets the count of
 * messages dropped since the last allowed one (when allowed; then the count restarts). */
bool ratelimit_take(struct ratelimit *rl, uint64_t now_ns, uint64_t *suppressed);

/* fprintf(stderr, ...) through the limiter (with the suppressed count before it). */
void ratelimit_log(struct ratelimit *rl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Where ratelimit_log() writes (stderr when NULL): unit tests count the lines. */
void ratelimit_set_stream(FILE *f);

#endif
