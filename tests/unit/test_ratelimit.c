/* The log rate limiter: a burst, then one message per interval, a "suppressed" count before
 * the next message that gets through, and a bounded line count however hard it is hit. */
#include <stdio.h>
#include <stdlib.h>

#include "common/ratelimit.h"
#include "unit.h"

#define MS 1000000ULL

static void test_bucket(void)
{
	struct ratelimit rl = RATELIMIT_INIT(3, 1000);
	uint64_t sup = 99, t = 5000 * MS;
	for (int i = 0; i < 3; i++) {
		CHECK(ratelimit_take(&rl, t, &sup));      /* the burst */
		CHECK_EQ(sup, 0);
	}
	for (int i = 0; i < 1000; i++)
		CHECK(!ratelimit_take(&rl, t + (uint64_t)i * MS / 2, &sup));   /* 0.5 s: no token */
	CHECK(ratelimit_take(&rl, t + 1000 * MS, &sup));                /* one token back */
	CHECK_EQ(sup, 1000);                                            /* and the count */
	CHECK(!ratelimit_take(&rl, t + 1500 * MS, &sup));
	/* A long quiet time refills the bucket, never beyond the burst. */
	t += 3600000 * MS;
	for (int i = 0; i < 3; i++)
		CHECK(ratelimit_take(&rl, t, &sup));
	CHECK(!ratelimit_take(&rl, t, &sup));
	/* Time going backwards (another thread's older clock read) gives nothing. */
	CHECK(!ratelimit_take(&rl, t - 5000 * MS, &sup));
	CHECK(ratelimit_take(&rl, t + 1000 * MS, &sup));
	CHECK_EQ(sup, 2);
}

static void test_log_lines(void)
{
	FILE *f = tmpfile();
	CHECK(f != NULL);
	if (!f)
		return;
	ratelimit_set_stream(f);
	static struct ratelimit rl = RATELIMIT_DEFAULT;
	for (int i = 0; i < 1000000; i++)
		ratelimit_log(&rl, "hostile %d\n", i);
	ratelimit_set_stream(NULL);
	rewind(f);
	char line[256];
	int n = 0, first = -1;
	while (fgets(line, sizeof(line), f)) {
		if (n++ == 0)
			sscanf(line, "hostile %d", &first);
	}
	fclose(f);
	CHECK_EQ(first, 0);                  /* the first message is said */
	CHECK(n >= 5 && n <= 5 + 2 * 60);    /* the burst, then 1/s (+ suppressed lines) */
}

int main(void)
{
	test_bucket();
	test_log_lines();
	return unit_report("ratelimit");
}
