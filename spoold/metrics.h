/*
 * metrics - a small registry of counters, gauges and fixed-bucket
 * histograms, rendered in the Prometheus text exposition format 0.0.4.
 *
 * A family has a name, a type, a help text and fixed label names; a
 * series is one set of label values in a family, created on first use.
 * Label values must come from bounded sets (endpoint names from the
 * configuration, HTTP status codes, fixed states): the registry never
 * forgets a series, except on metrics_clear.
 *
 * Single-threaded: the owner updates and renders from one thread.
 */
#ifndef SPOOLD_METRICS_H
#define SPOOLD_METRICS_H

#include <stddef.h>

#include "buf.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRICS_MAX_LABELS	3

struct metrics;
struct metric_family;
struct metric;

/* Returns owned (free with metrics_free). */
struct metrics	*metrics_new(void);
void		 metrics_free(struct metrics *m);

/*
 * Declares a family.  labels is a NULL-terminated list of label names
 * (at most METRICS_MAX_LABELS; NULL for none).  A histogram takes
 * nbounds increasing upper bounds (+Inf is implicit); other types take
 * none.  Names and help are the caller's constants, kept borrowed.
 * Returns borrowed (owned by m).
 */
struct metric_family *metrics_family(struct metrics *m, const char *name,
		    enum metric_type type, const char *help,
		    const char *const *labels, const double *bounds,
		    size_t nbounds);

/*
 * The series of f with these label values (as many as f has label
 * names; any bytes: they are escaped on output).  Created at zero on
 * first use.  Returns borrowed (owned by the registry).
 */
struct metric	*metrics_get(struct metric_family *f,
		    const char *const *values);
/* The series of a family without labels. */
struct metric	*metrics_get0(struct metric_family *f);

/* Counters and gauges: add v (a counter must not go down). */
void		 metrics_add(struct metric *s, double v);
/* Counters and gauges: set to v (a counter copied from a source that
 * counts on its own, such as the worker pool's restarts). */
void		 metrics_set(struct metric *s, double v);
/* Histograms: count one observation. */
void		 metrics_observe(struct metric *s, double v);
/* Forgets every series of f (a gauge recomputed from scratch). */
void		 metrics_clear(struct metric_family *f);

/* Appends the exposition text of every family, in declaration order;
 * a family without series gets its HELP and TYPE lines only. */
void		 metrics_render(const struct metrics *m, struct buf *out);

#endif
