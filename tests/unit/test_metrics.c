/*
 * test_metrics - the registry and its Prometheus text rendering.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static const char *const l_ep[] = { "endpoint", NULL };
static const char *const l_ep_code[] = { "endpoint", "code", NULL };

static char *
render(const struct metrics *m, struct buf *out)
{
	buf_reset(out);
	metrics_render(m, out);
	return out->data;
}

static void
test_metrics_counter_and_gauge(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *c, *g;
	struct buf out = BUF_INIT;
	const char *a[] = { "default", "200" }, *b[] = { "default", "429" };

	(void)state;
	c = metrics_family(m, "spoold_x_total", METRIC_COUNTER, "Things.",
	    l_ep_code, NULL, 0);
	g = metrics_family(m, "spoold_up", METRIC_GAUGE, "Up.", NULL, NULL,
	    0);
	metrics_add(metrics_get(c, a), 2);
	metrics_add(metrics_get(c, b), 1);
	/* The same label values find the same series. */
	metrics_add(metrics_get(c, a), 3);
	metrics_set(metrics_get0(g), 1);
	assert_string_equal(render(m, &out),
	    "# HELP spoold_x_total Things.\n"
	    "# TYPE spoold_x_total counter\n"
	    "spoold_x_total{endpoint=\"default\",code=\"200\"} 5\n"
	    "spoold_x_total{endpoint=\"default\",code=\"429\"} 1\n"
	    "# HELP spoold_up Up.\n"
	    "# TYPE spoold_up gauge\n"
	    "spoold_up 1\n");
	buf_release(&out);
	metrics_free(m);
}

static void
test_metrics_escaping(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f;
	struct buf out = BUF_INIT;
	const char *v[] = { "a\"b\\c\nd" };

	(void)state;
	f = metrics_family(m, "spoold_e", METRIC_GAUGE, "Back\\slash\nand "
	    "\"quotes\".", l_ep, NULL, 0);
	metrics_set(metrics_get(f, v), -2.5);
	assert_string_equal(render(m, &out),
	    "# HELP spoold_e Back\\\\slash\\nand \"quotes\".\n"
	    "# TYPE spoold_e gauge\n"
	    "spoold_e{endpoint=\"a\\\"b\\\\c\\nd\"} -2.5\n");
	buf_release(&out);
	metrics_free(m);
}

static void
test_metrics_histogram(void **state)
{
	static const double bounds[] = { 0.1, 1, 2.5 };
	struct metrics *m = metrics_new();
	struct metric_family *f;
	struct metric *s;
	struct buf out = BUF_INIT;
	const char *v[] = { "x" };

	(void)state;
	f = metrics_family(m, "spoold_d_seconds", METRIC_HISTOGRAM, "D.",
	    l_ep, bounds, 3);
	s = metrics_get(f, v);
	metrics_observe(s, 0.05);
	metrics_observe(s, 1);		/* le is inclusive */
	metrics_observe(s, 2);
	metrics_observe(s, 100);
	assert_string_equal(render(m, &out),
	    "# HELP spoold_d_seconds D.\n"
	    "# TYPE spoold_d_seconds histogram\n"
	    "spoold_d_seconds_bucket{endpoint=\"x\",le=\"0.1\"} 1\n"
	    "spoold_d_seconds_bucket{endpoint=\"x\",le=\"1\"} 2\n"
	    "spoold_d_seconds_bucket{endpoint=\"x\",le=\"2.5\"} 3\n"
	    "spoold_d_seconds_bucket{endpoint=\"x\",le=\"+Inf\"} 4\n"
	    "spoold_d_seconds_sum{endpoint=\"x\"} 103.05\n"
	    "spoold_d_seconds_count{endpoint=\"x\"} 4\n");
	buf_release(&out);
	metrics_free(m);
}

static void
test_metrics_histogram_no_labels(void **state)
{
	static const double bounds[] = { 1 };
	struct metrics *m = metrics_new();
	struct metric_family *f;
	struct buf out = BUF_INIT;

	(void)state;
	f = metrics_family(m, "spoold_h", METRIC_HISTOGRAM, "H.", NULL,
	    bounds, 1);
	metrics_observe(metrics_get0(f), 3);
	assert_string_equal(render(m, &out),
	    "# HELP spoold_h H.\n"
	    "# TYPE spoold_h histogram\n"
	    "spoold_h_bucket{le=\"1\"} 0\n"
	    "spoold_h_bucket{le=\"+Inf\"} 1\n"
	    "spoold_h_sum 3\n"
	    "spoold_h_count 1\n");
	buf_release(&out);
	metrics_free(m);
}

/* A gauge recomputed from scratch: a cleared family keeps its HELP and
 * TYPE lines and loses its samples. */
static void
test_metrics_clear(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f;
	struct buf out = BUF_INIT;

	(void)state;
	f = metrics_family(m, "spoold_age_seconds", METRIC_GAUGE, "Age.",
	    NULL, NULL, 0);
	metrics_set(metrics_get0(f), 7);
	metrics_clear(f);
	assert_string_equal(render(m, &out),
	    "# HELP spoold_age_seconds Age.\n"
	    "# TYPE spoold_age_seconds gauge\n");
	metrics_set(metrics_get0(f), 8);
	assert_non_null(strstr(render(m, &out), "\nspoold_age_seconds 8\n"));
	buf_release(&out);
	metrics_free(m);
}

/* Integers print whole up to 1e15 (no exponent); fractions in full. */
static void
test_metrics_numbers(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f;
	struct buf out = BUF_INIT;
	const char *a[] = { "a" }, *b[] = { "b" }, *c[] = { "c" };

	(void)state;
	f = metrics_family(m, "spoold_n", METRIC_COUNTER, "N.", l_ep, NULL,
	    0);
	metrics_add(metrics_get(f, a), 123456789012345.0);
	metrics_add(metrics_get(f, b), 0.1);
	metrics_add(metrics_get(f, c), 1e20);
	assert_non_null(strstr(render(m, &out),
	    "spoold_n{endpoint=\"a\"} 123456789012345\n"
	    "spoold_n{endpoint=\"b\"} 0.10000000000000001\n"
	    "spoold_n{endpoint=\"c\"} 1e+20\n"));
	buf_release(&out);
	metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_counter_and_gauge),
		cmocka_unit_test(test_metrics_escaping),
		cmocka_unit_test(test_metrics_histogram),
		cmocka_unit_test(test_metrics_histogram_no_labels),
		cmocka_unit_test(test_metrics_clear),
		cmocka_unit_test(test_metrics_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
