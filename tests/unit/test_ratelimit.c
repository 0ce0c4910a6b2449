/*
 * test_ratelimit - token buckets (rpm, tpm) and the AIMD window.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

/* Requests admitted over a span of simulated time, asking every ms. */
static uint64_t
admitted(struct ratelimit *r, uint64_t tokens, uint64_t from, uint64_t to)
{
	uint64_t t, n = 0, wait;

	for (t = from; t < to; t++)
		while (ratelimit_take(r, tokens, 0, t, &wait))
			n++;
	return n;
}

static void
test_ratelimit_unlimited(void **state)
{
	struct ratelimit r;
	uint64_t wait, i;

	(void)state;
	ratelimit_init(&r, 0, 0, 0, 0);
	for (i = 0; i < 100000; i++)
		assert_true(ratelimit_take(&r, 1000, i, 0, &wait));
}

static void
test_ratelimit_rpm_never_exceeded(void **state)
{
	struct ratelimit r;
	uint64_t n;

	(void)state;
	/* 600 rpm: over any minute at most 600, and at least 90 % of it. */
	ratelimit_init(&r, 600, 0, 0, 0);
	n = admitted(&r, 1, 0, 60000);
	assert_true(n <= 600);
	assert_true(n >= 540);
	n = admitted(&r, 1, 60000, 120000);
	assert_true(n <= 600);
	assert_true(n >= 540);
}

static void
test_ratelimit_rpm_wait_hint(void **state)
{
	struct ratelimit r;
	uint64_t wait;

	(void)state;
	ratelimit_init(&r, 60, 0, 0, 1000);
	assert_true(ratelimit_take(&r, 1, 0, 1000, &wait));
	assert_false(ratelimit_take(&r, 1, 0, 1000, &wait));
	/* One request a second (at 98 %): about a second to wait. */
	assert_true(wait >= 900 && wait <= 1100);
	assert_true(ratelimit_take(&r, 1, 0, 1000 + wait, &wait));
}

static void
test_ratelimit_tpm(void **state)
{
	struct ratelimit r;
	uint64_t n;

	(void)state;
	/* 60,000 tpm with 100-token requests: at most 600 a minute. */
	ratelimit_init(&r, 0, 60000, 0, 0);
	n = admitted(&r, 100, 0, 60000);
	assert_true(n <= 610);
	assert_true(n >= 540);
}

static void
test_ratelimit_tpm_correction(void **state)
{
	struct ratelimit r;
	uint64_t wait;

	(void)state;
	ratelimit_init(&r, 0, 6000, 0, 0);	/* 100 tokens a second */
	assert_true(ratelimit_take(&r, 10, 0, 0, &wait));
	/* The response said it cost 500 more than estimated. */
	ratelimit_correct(&r, 500);
	assert_false(ratelimit_take(&r, 10, 0, 0, &wait));
	assert_true(wait > 4000);
}

static void
test_ratelimit_huge_request_passes(void **state)
{
	struct ratelimit r;
	uint64_t wait;

	(void)state;
	/* Bigger than a second's budget: goes once the bucket is full. */
	ratelimit_init(&r, 0, 600, 0, 0);
	assert_true(ratelimit_take(&r, 5000, 0, 0, &wait));
	assert_false(ratelimit_take(&r, 5000, 0, 1000, &wait));
}

static void
test_ratelimit_aimd(void **state)
{
	struct ratelimit r;
	uint64_t wait;
	int i;

	(void)state;
	ratelimit_init(&r, 0, 0, 100, 0);
	assert_true(ratelimit_take(&r, 1, 99, 0, &wait));
	assert_false(ratelimit_take(&r, 1, 100, 0, &wait));
	/* A burst of 429s is one cut, not one per response. */
	for (i = 0; i < 50; i++)
		ratelimit_on_429(&r, 100, 10);
	assert_true(r.window >= 49.0 && r.window <= 51.0);
	assert_false(ratelimit_take(&r, 1, 60, 20, &wait));
	ratelimit_on_429(&r, 50, 2000);
	assert_true(r.window >= 24.0 && r.window <= 26.0);
	/* Recovery: about one more per window of successes. */
	for (i = 0; i < 5000; i++)
		ratelimit_on_success(&r);
	assert_true(r.window > 90.0);
	assert_true(r.window <= 100.0);
	/* Never below one. */
	for (i = 0; i < 20; i++)
		ratelimit_on_429(&r, 0, 10000 + 2000 * (uint64_t)i);
	assert_true(r.window >= 1.0);
}

static void
test_ratelimit_aimd_echoes(void **state)
{
	struct ratelimit r;
	double w;
	int i;

	(void)state;
	/* A limit of 8 that answers 429 at once: 63 out, 55 refused. */
	ratelimit_init(&r, 0, 0, 64, 0);
	ratelimit_on_429(&r, 63, 0);
	assert_true(r.window > 31.9 && r.window < 32.1);
	/* The other answers to the burst are one signal with it... */
	for (i = 0; i < 63; i++)
		ratelimit_on_429(&r, 62 - (uint64_t)i, 1);
	assert_true(r.window > 31.9 && r.window < 32.1);
	/* ...but each 429 to a request sent since, within the same
	 * second, closes the place it took: 24 too many, 24 429s. */
	for (i = 0; i < 24; i++)
		ratelimit_on_429(&r, 31 - (uint64_t)i, 5);
	assert_true(r.window > 7.9 && r.window < 8.1);
	/* A second later, a cut again; successes are answers too. */
	ratelimit_on_429(&r, 8, 1005);
	assert_true(r.window > 3.9 && r.window < 4.1);
	for (i = 0; i < 7; i++)
		ratelimit_on_success(&r);
	w = r.window;
	ratelimit_on_429(&r, 5, 1010);
	assert_true(r.window == w);
	ratelimit_on_429(&r, 5, 1020);
	assert_true(r.window > w - 1.01 && r.window < w - 0.99);
	/* Never below one. */
	for (i = 0; i < 20; i++)
		ratelimit_on_429(&r, 1, 1030);
	assert_true(r.window == 1.0);
}

static void
test_ratelimit_can_narrow(void **state)
{
	struct ratelimit r;
	int i;

	(void)state;
	/* Even with no max_inflight: a 429 makes a window of what is out. */
	ratelimit_init(&r, 0, 0, 0, 0);
	assert_true(ratelimit_can_narrow(&r));
	ratelimit_on_429(&r, 3, 0);
	assert_true(ratelimit_can_narrow(&r));
	ratelimit_on_429(&r, 1, 2000);
	assert_false(ratelimit_can_narrow(&r));
	/* Then 429s are the endpoint's failures, until it recovers. */
	for (i = 0; i < 3; i++)
		ratelimit_on_success(&r);
	assert_true(ratelimit_can_narrow(&r));
}

static void
test_ratelimit_hold(void **state)
{
	struct ratelimit r;
	uint64_t wait;

	(void)state;
	ratelimit_init(&r, 0, 0, 0, 1000);
	assert_true(ratelimit_take(&r, 1, 0, 1000, &wait));
	/* The provider said: nothing left for 2 s. */
	ratelimit_hold(&r, 3000);
	assert_false(ratelimit_take(&r, 1, 0, 1500, &wait));
	assert_int_equal(wait, 1500);
	assert_true(ratelimit_take(&r, 1, 0, 3000, &wait));
	/* A bogus reset far away is capped at a minute. */
	ratelimit_hold(&r, 10000000);
	assert_false(ratelimit_take(&r, 1, 0, 3001, &wait));
	assert_true(wait <= 60000);
}

static void
test_ratelimit_estimate(void **state)
{
	const char *b1 = "{\"model\":\"m\",\"messages\":[]}";
	const char *b2 = "{\"model\":\"m\",\"max_tokens\":500}";

	(void)state;
	assert_int_equal(ratelimit_estimate(strlen(b1), 0),
	    strlen(b1) / 4 + 1);
	assert_int_equal(ratelimit_estimate(strlen(b2), 500),
	    strlen(b2) / 4 + 1 + 500);
	assert_true(ratelimit_estimate(8, 0) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ratelimit_unlimited),
		cmocka_unit_test(test_ratelimit_rpm_never_exceeded),
		cmocka_unit_test(test_ratelimit_rpm_wait_hint),
		cmocka_unit_test(test_ratelimit_tpm),
		cmocka_unit_test(test_ratelimit_tpm_correction),
		cmocka_unit_test(test_ratelimit_huge_request_passes),
		cmocka_unit_test(test_ratelimit_aimd),
		cmocka_unit_test(test_ratelimit_aimd_echoes),
		cmocka_unit_test(test_ratelimit_can_narrow),
		cmocka_unit_test(test_ratelimit_hold),
		cmocka_unit_test(test_ratelimit_estimate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
