/*
 * test_prices - the price table: parsing, matching, cost, and the
 * batch.prices / batch.budget configuration keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "prices.h"

static const char table[] =
	"# a comment\n"
	"\n"
	"currency = EUR\n"
	"gpt-4o*        = 2.50 10.00\n"
	"gpt-4o-mini*\t= 0.15\t0.60\r\n"
	"gpt-4o-mini-special = 1 2\n"
	"ft:gpt-4o-mini:acme:x = 0.30 1.20\n"
	"  text-embedding-3-small* = 0.02 0\n";

static struct prices *
parse(const char *text)
{
	struct err err;

	return prices_parse(text, strlen(text), "test", &err);
}

static void
test_prices_parse_and_currency(void **state)
{
	struct prices *p;

	(void)state;
	p = parse(table);
	assert_non_null(p);
	assert_string_equal(prices_currency(p), "EUR");
	prices_free(p);
	p = parse("m = 1 2\n");
	assert_non_null(p);
	assert_string_equal(prices_currency(p), "USD");
	prices_free(p);
	prices_free(NULL);
}

static void
test_prices_exact_beats_longest_prefix(void **state)
{
	struct prices *p = parse(table);
	const struct price *pr;

	(void)state;
	pr = prices_find(p, "gpt-4o-2024-08-06");
	assert_non_null(pr);
	assert_true(pr->input == 2.50 && pr->output == 10.00);
	/* The longer pattern wins over gpt-4o*. */
	pr = prices_find(p, "gpt-4o-mini-2024-07-18");
	assert_true(pr->input == 0.15 && pr->output == 0.60);
	pr = prices_find(p, "gpt-4o-mini-special");
	assert_true(pr->input == 1 && pr->output == 2);
	/* A name with colons (inih would split it). */
	pr = prices_find(p, "ft:gpt-4o-mini:acme:x");
	assert_true(pr->input == 0.30);
	assert_null(prices_find(p, "ft:gpt-4o-mini:acme:y"));
	assert_null(prices_find(p, "claude-3-haiku"));
	assert_null(prices_find(p, NULL));
	assert_null(prices_find(NULL, "gpt-4o"));
	prices_free(p);
}

static void
test_prices_star_matches_any(void **state)
{
	struct prices *p = parse("* = 1 1\nabc = 2 2\n");

	(void)state;
	assert_non_null(p);
	assert_true(prices_find(p, "whatever")->input == 1);
	assert_true(prices_find(p, "abc")->input == 2);
	/* Not a model name at all: still no price. */
	assert_null(prices_find(p, NULL));
	prices_free(p);
}

static void
test_prices_cost(void **state)
{
	struct price pr = { 0.15, 0.60 };

	(void)state;
	assert_true(fabs(price_cost(&pr, 1000000, 0) - 0.15) < 1e-12);
	assert_true(fabs(price_cost(&pr, 1000, 2000) -
	    (0.00015 + 0.0012)) < 1e-12);
	assert_true(price_cost(&pr, 0, 0) == 0);
}

static void
expect_fail(const char *text, const char *why)
{
	struct err err;
	struct prices *p;

	p = prices_parse(text, strlen(text), "t.conf", &err);
	assert_null(p);
	if (strstr(err.msg, why) == NULL)
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err.msg,
		    why);
}

static void
test_prices_rejects(void **state)
{
	(void)state;
	expect_fail("gpt-4o 2 3\n", "t.conf:1: want MODEL");
	expect_fail("\n\ngpt-4o = 2\n", "t.conf:3: want INPUT OUTPUT");
	expect_fail("gpt-4o = 2 3 4\n", "want INPUT OUTPUT");
	expect_fail("gpt-4o = -2 3\n", "want INPUT OUTPUT");
	expect_fail("gpt-4o = 2 lots\n", "want INPUT OUTPUT");
	expect_fail("gpt-4o = nan 1\n", "want INPUT OUTPUT");
	expect_fail("gpt-4o = 1e999 1\n", "want INPUT OUTPUT");
	expect_fail("gpt 4o = 1 1\n", "invalid model name");
	expect_fail("g*pt = 1 1\n", "invalid model name");
	expect_fail(" = 1 1\n", "invalid model name");
	expect_fail("a = 1 1\nb = 1 1\na = 2 2\n", "t.conf:3: model listed "
	    "twice");
	expect_fail("currency = U S\n", "invalid currency");
	expect_fail("currency =\n", "invalid currency");
}

static void
test_prices_load_file(void **state)
{
	char path[] = "/tmp/test_prices.XXXXXX";
	struct prices *p;
	struct err err;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, table, strlen(table)),
	    (ssize_t)strlen(table));
	close(fd);
	p = prices_load(path, &err);
	assert_non_null(p);
	assert_non_null(prices_find(p, "text-embedding-3-small"));
	prices_free(p);
	unlink(path);
	assert_null(prices_load(path, &err));
	assert_non_null(strstr(err.msg, path));
}

static void
test_prices_config_keys(void **state)
{
	char path[] = "/tmp/test_prices.XXXXXX", *text;
	struct config c;
	struct err err;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "m = 1 2\n", 8), 8);
	close(fd);
	/* A budget needs a table to measure spending against. */
	config_init(&c);
	assert_int_equal(config_load_string(&c, "[batch]\nbudget = 5\n",
	    &err), 0);
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "batch.prices"));
	config_release(&c);
	config_init(&c);
	text = NULL;
	assert_true(asprintf(&text, "[batch]\nbudget = 5\nprices = %s\n",
	    path) > 0);
	assert_int_equal(config_load_string(&c, text, &err), 0);
	assert_int_equal(config_validate(&c, &err), 0);
	assert_non_null(c.prices);
	assert_non_null(prices_find(c.prices, "m"));
	config_release(&c);
	free(text);
	/* A missing table is an invalid value, not an unknown key. */
	unlink(path);
	config_init(&c);
	assert_true(asprintf(&text, "[batch]\nprices = %s\n", path) > 0);
	assert_int_equal(config_load_string(&c, text, &err), -1);
	assert_non_null(strstr(err.msg, "invalid value"));
	config_release(&c);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prices_parse_and_currency),
		cmocka_unit_test(test_prices_exact_beats_longest_prefix),
		cmocka_unit_test(test_prices_star_matches_any),
		cmocka_unit_test(test_prices_cost),
		cmocka_unit_test(test_prices_rejects),
		cmocka_unit_test(test_prices_load_file),
		cmocka_unit_test(test_prices_config_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
