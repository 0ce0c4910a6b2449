/*
 * test_loop - the event loop's timers and its before-sleep hook.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <string.h>

#include <cmocka.h>

#include "loop.h"
#include "util.h"

struct run {
	struct loop	*loop;
	struct loop_timer *soon;
	int		 hooks;
	uint64_t	 fired_ms;
};

static void
on_late(void *arg)
{
	struct run *r = arg;

	loop_stop(r->loop);	/* a failure: the soon timer was missed */
}

static void
on_soon(void *arg)
{
	struct run *r = arg;

	r->fired_ms = now_ms();
	loop_stop(r->loop);
}

/* A loop with hook before it sleeps and a timer 2 s off (returned). */
static struct loop_timer *
setup(struct run *r, loop_hook_cb *hook)
{
	struct loop_timer *late;

	memset(r, 0, sizeof(*r));
	r->loop = loop_new();
	assert_non_null(r->loop);
	late = loop_timer_new(r->loop, on_late, r);
	loop_timer_arm(late, 2000);
	loop_set_before_sleep(r->loop, hook, r);
	return late;
}

/* Arms the soon timer from the hook, as the daemon's hooks do. */
static void
hook_arms(void *arg)
{
	struct run *r = arg;

	if (r->hooks++ == 0)
		loop_timer_arm(r->soon, 10);
}

/*
 * A timer armed by the before-sleep hook counts for that very sleep: the
 * loop used to take its timeout before the hook ran, and slept until
 * the next event (here the 2 s timer) instead of 10 ms.  A worker handed
 * its tasks in the hook waited like that for curl's "now" timer.
 */
static void
test_loop_hook_timer(void **state)
{
	struct run r;
	struct loop_timer *late;
	uint64_t t0;

	(void)state;
	late = setup(&r, hook_arms);
	r.soon = loop_timer_new(r.loop, on_soon, &r);
	t0 = now_ms();
	assert_int_equal(loop_run(r.loop), 0);
	assert_true(r.fired_ms != 0);
	assert_true(r.fired_ms - t0 < 1000);
	loop_timer_free(late);
	loop_timer_free(r.soon);
	loop_free(r.loop);
}

static void
hook_again(void *arg)
{
	struct run *r = arg;

	/* More to do: the next turn must not block. */
	if (++r->hooks < 5)
		loop_again(r->loop);
	else
		loop_stop(r->loop);
}

/* loop_again: turns without sleeping, though a timer is far off. */
static void
test_loop_again(void **state)
{
	struct run r;
	struct loop_timer *late;
	uint64_t t0;

	(void)state;
	late = setup(&r, hook_again);
	t0 = now_ms();
	assert_int_equal(loop_run(r.loop), 0);
	assert_int_equal(r.hooks, 5);
	assert_true(now_ms() - t0 < 1000);
	loop_timer_free(late);
	loop_free(r.loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop_hook_timer),
		cmocka_unit_test(test_loop_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
