/*
 * metrics - counters, gauges and histograms in the Prometheus text
 * format.  Series are found by a linear search over their label values:
 * the label sets are small and bounded (a few endpoints times a few
 * status codes), and an update costs less than the result it counts.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

struct metric {
	const struct metric_family *f;
	char		*values[METRICS_MAX_LABELS];
	double		 value;		/* counter, gauge; histogram: sum */
	uint64_t	 count;		/* histogram */
	uint64_t	*buckets;	/* histogram: per bound, not summed */
};

struct metric_family {
	const char	*name;
	const char	*help;
	enum metric_type type;
	const char	*labels[METRICS_MAX_LABELS];
	size_t		 nlabels;
	double		*bounds;
	size_t		 nbounds;
	struct metric	**series;
	size_t		 nseries;
	struct metric_family *next;
};

struct metrics {
	struct metric_family *first;
	struct metric_family *last;
};

struct metrics *
metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

static void
series_free(const struct metric_family *f, struct metric *s)
{
	size_t i;

	for (i = 0; i < f->nlabels; i++)
		free(s->values[i]);
	free(s->buckets);
	free(s);
}

void
metrics_clear(struct metric_family *f)
{
	size_t i;

	for (i = 0; i < f->nseries; i++)
		series_free(f, f->series[i]);
	free(f->series);
	f->series = NULL;
	f->nseries = 0;
}

void
metrics_free(struct metrics *m)
{
	struct metric_family *f, *next;

	if (m == NULL)
		return;
	for (f = m->first; f != NULL; f = next) {
		next = f->next;
		metrics_clear(f);
		free(f->bounds);
		free(f);
	}
	free(m);
}

struct metric_family *
metrics_family(struct metrics *m, const char *name, enum metric_type type,
    const char *help, const char *const *labels, const double *bounds,
    size_t nbounds)
{
	struct metric_family *f = xcalloc(1, sizeof(*f));

	f->name = name;
	f->help = help;
	f->type = type;
	while (labels != NULL && labels[f->nlabels] != NULL) {
		SPOOL_ASSERT(f->nlabels < METRICS_MAX_LABELS);
		f->labels[f->nlabels] = labels[f->nlabels];
		f->nlabels++;
	}
	SPOOL_ASSERT(type == METRIC_HISTOGRAM || nbounds == 0);
	if (nbounds > 0) {
		f->bounds = xreallocarray(NULL, nbounds, sizeof(double));
		memcpy(f->bounds, bounds, nbounds * sizeof(double));
		f->nbounds = nbounds;
	}
	if (m->last != NULL)
		m->last->next = f;
	else
		m->first = f;
	m->last = f;
	return f;
}

struct metric *
metrics_get(struct metric_family *f, const char *const *values)
{
	struct metric *s;
	size_t i, j;

	for (i = 0; i < f->nseries; i++) {
		for (j = 0; j < f->nlabels; j++)
			if (strcmp(f->series[i]->values[j], values[j]) != 0)
				break;
		if (j == f->nlabels)
			return f->series[i];
	}
	s = xcalloc(1, sizeof(*s));
	s->f = f;
	for (j = 0; j < f->nlabels; j++)
		s->values[j] = xstrdup(values[j]);
	if (f->type == METRIC_HISTOGRAM)
		s->buckets = xcalloc(f->nbounds + 1, sizeof(uint64_t));
	f->series = xreallocarray(f->series, f->nseries + 1,
	    sizeof(*f->series));
	f->series[f->nseries++] = s;
	return s;
}

struct metric *
metrics_get0(struct metric_family *f)
{
	SPOOL_ASSERT(f->nlabels == 0);
	return metrics_get(f, NULL);
}

void
metrics_add(struct metric *s, double v)
{
	s->value += v;
}

void
metrics_set(struct metric *s, double v)
{
	s->value = v;
}

/* Bucket bounds are few (a dozen): a linear search.  buckets[nbounds]
 * counts what is above every bound. */
void
metrics_observe(struct metric *s, double v)
{
	const struct metric_family *f = s->f;
	size_t i;

	SPOOL_ASSERT(f->type == METRIC_HISTOGRAM);
	for (i = 0; i < f->nbounds && v > f->bounds[i]; i++)
		;
	s->buckets[i]++;
	s->value += v;
	s->count++;
}

/* --- the text format ------------------------------------------------ */

/* Go's ParseFloat reads this; integers print without an exponent. */
static void
add_number(struct buf *out, double v)
{
	if (isnan(v))
		buf_adds(out, "NaN");
	else if (isinf(v))
		buf_adds(out, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		buf_addf(out, "%.0f", v);
	else
		buf_addf(out, "%.17g", v);
}

/* HELP text escapes backslash and newline; label values the double
 * quote too. */
static void
add_escaped(struct buf *out, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_adds(out, "\\\\");
		else if (*s == '\n')
			buf_adds(out, "\\n");
		else if (*s == '"' && quote)
			buf_adds(out, "\\\"");
		else
			buf_addc(out, *s);
	}
}

/* name{labels,le="bound"} value: le is NULL outside histograms. */
static void
add_sample(struct buf *out, const struct metric_family *f,
    const struct metric *s, const char *suffix, const char *le, double v)
{
	size_t i;

	buf_adds(out, f->name);
	buf_adds(out, suffix);
	if (f->nlabels > 0 || le != NULL) {
		buf_addc(out, '{');
		for (i = 0; i < f->nlabels; i++) {
			if (i > 0)
				buf_addc(out, ',');
			buf_addf(out, "%s=\"", f->labels[i]);
			add_escaped(out, s->values[i], true);
			buf_addc(out, '"');
		}
		if (le != NULL)
			buf_addf(out, "%sle=\"%s\"", f->nlabels > 0 ? "," : "",
			    le);
		buf_addc(out, '}');
	}
	buf_addc(out, ' ');
	add_number(out, v);
	buf_addc(out, '\n');
}

static void
add_histogram(struct buf *out, const struct metric_family *f,
    const struct metric *s)
{
	char le[64];
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < f->nbounds; i++) {
		cum += s->buckets[i];
		snprintf(le, sizeof(le), "%.15g", f->bounds[i]);
		add_sample(out, f, s, "_bucket", le, (double)cum);
	}
	add_sample(out, f, s, "_bucket", "+Inf", (double)s->count);
	add_sample(out, f, s, "_sum", NULL, s->value);
	add_sample(out, f, s, "_count", NULL, (double)s->count);
}

void
metrics_render(const struct metrics *m, struct buf *out)
{
	static const char *const types[] = {
		[METRIC_COUNTER] = "counter",
		[METRIC_GAUGE] = "gauge",
		[METRIC_HISTOGRAM] = "histogram",
	};
	const struct metric_family *f;
	size_t i;

	for (f = m->first; f != NULL; f = f->next) {
		buf_addf(out, "# HELP %s ", f->name);
		add_escaped(out, f->help, false);
		buf_addf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
		for (i = 0; i < f->nseries; i++) {
			if (f->type == METRIC_HISTOGRAM)
				add_histogram(out, f, f->series[i]);
			else
				add_sample(out, f, f->series[i], "", NULL,
				    f->series[i]->value);
		}
	}
}
