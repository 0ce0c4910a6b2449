/*
 * test_schedule - schedule.active_hours: parsing, windows across
 * midnight, and when the answer next changes (in UTC).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "schedule.h"

/* 2026-11-27 at hh:mm:ss UTC. */
static time_t
at(int hh, int mm, int ss)
{
	return (time_t)1795737600 + hh * 3600 + mm * 60 + ss;
}

static int
setup(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static void
test_schedule_parse(void **state)
{
	struct schedule s;
	struct err err;

	(void)state;
	assert_int_equal(schedule_parse(NULL, &s, &err), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(schedule_parse("22:00-06:00, 12:00-13:30", &s,
	    &err), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.start[0], 22 * 60);
	assert_int_equal(s.end[1], 13 * 60 + 30);
	assert_int_equal(schedule_parse("00:00-24:00", &s, &err), 0);
	assert_int_equal(schedule_parse("25:00-06:00", &s, &err), -1);
	assert_int_equal(schedule_parse("22:00", &s, &err), -1);
	assert_int_equal(schedule_parse("10:00-10:00", &s, &err), -1);
	assert_int_equal(schedule_parse("1:00-2:00", &s, &err), -1);
	assert_int_equal(schedule_parse("01:00-02:00;", &s, &err), -1);
	assert_int_equal(schedule_parse("24:00-02:00", &s, &err), -1);
	assert_non_null(strstr(err.msg, "HH:MM"));
}

static void
test_schedule_open(void **state)
{
	struct schedule s;
	struct err err;
	time_t next;

	(void)state;
	assert_true(schedule_open(&(struct schedule){ 0 }, at(3, 0, 0),
	    &next));
	assert_int_equal(next, 0);
	assert_int_equal(schedule_parse("22:00-06:00", &s, &err), 0);
	assert_true(schedule_open(&s, at(23, 59, 59), &next));
	assert_true(schedule_open(&s, at(5, 59, 30), &next));
	assert_int_equal(next, at(6, 0, 0));
	assert_false(schedule_open(&s, at(6, 0, 0), &next));
	assert_int_equal(next, at(22, 0, 0));
	assert_false(schedule_open(&s, at(12, 34, 56), &next));
	assert_int_equal(next, at(22, 0, 0));
	assert_int_equal(schedule_parse("00:00-24:00", &s, &err), 0);
	assert_true(schedule_open(&s, at(12, 0, 0), &next));
	assert_int_equal(next, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule_parse),
		cmocka_unit_test(test_schedule_open),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
