/* Token-bucket limiter for guest-triggerable log messages (see ratelimit.h). */
#include <stdarg.h>
#include <time.h>

#include "common/ratelimit.h"

static FILE *ratelimit_stream;

void ratelimit_set_stream(FILE *f)
{
	__atomic_store_n(&ratelimit_stream, f, __ATOMIC_RELEASE);
}

bool ratelimit_take(struct ratelimit *rl, uint64_t now_ns, uint64_t *suppressed)
{
	uint64_t iv = (uint64_t)(rl->interval_ms ? rl->interval_ms : 1) * 1000000ULL;
	pthread_mutex_lock(&rl->lock);
	if (!rl->started) {
		rl->started = true;
		rl->tokens = rl->burst;
		rl->last_ns = now_ns;
	} else if (now_ns > rl->last_ns) {
		uint64_t add = (now_ns - rl->last_ns) / iv;
		if (add >= rl->burst - rl->tokens) {
			rl->tokens = rl->burst;
			rl->last_ns = now_ns;
		} else if (add) {
			rl->tokens += (uint32_t)add;
			rl->last_ns += add * iv;
		}
	}
	bool ok = rl->tokens > 0;
	if (ok) {
		rl->tokens--;
		*suppressed = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

void ratelimit_log(struct ratelimit *rl, const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec, dropped = 0;
	if (!ratelimit_take(rl, now, &dropped))
		return;
	FILE *f = __atomic_load_n(&ratelimit_stream, __ATOMIC_ACQUIRE);
	if (!f)
		f = stderr;
	if (dropped)
		fprintf(f, "bhyve: %llu similar messages suppressed\n", (unsigned long long)dropped);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
}
