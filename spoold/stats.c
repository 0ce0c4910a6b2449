/*
 * stats - the supervisor's metrics (SPEC §6): what the scheduler and
 * the journal count as it happens, and gauges read from the
 * supervisor's state and the spool when the text is rendered (for a
 * scrape or the textfile), never per event.
 *
 * Counters count this process's work only: results replayed from the
 * journal at start are not counted again, so that a restart reads as a
 * counter reset, not as a burst.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exporter.h"
#include "log.h"
#include "metrics.h"
#include "sup.h"
#include "util.h"

/* The spool's directories are read at most this often: done/ may hold
 * many thousands of entries. */
#define STATS_SCAN_MS		5000
/* How often the textfile is rewritten. */
#define STATS_TEXTFILE_MS	5000

/* Request durations, in seconds: LLM calls take from a fraction of a
 * second to minutes. */
static const double duration_bounds[] = {
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640
};

enum scan_dir { SCAN_NEW, SCAN_PROCESSING, SCAN_DONE, SCAN_FAILED, SCAN_N };

static const char *const scan_names[SCAN_N] = {
	"new", "processing", "done", "failed"
};
static const enum spool_dir scan_dirs[SCAN_N] = {
	SPOOL_NEW, SPOOL_PROCESSING, SPOOL_DONE, SPOOL_FAILED
};

struct stats {
	struct metrics		*m;
	struct exporter		*exp;
	double			 started;
	/* counted as it happens */
	struct metric_family	*tasks;
	struct metric_family	*retries;
	struct metric_family	*responses;
	struct metric_family	*no_response;
	struct metric_family	*tokens;
	struct metric_family	*cost;
	struct metric_family	*duration;
	struct metric_family	*batches_done;
	struct metric_family	*pauses;
	/* read when rendered */
	struct metric_family	*files;
	struct metric_family	*oldest;
	struct metric_family	*requests;
	struct metric_family	*batches;
	struct metric_family	*deadline;
	struct metric_family	*paused;
	struct metric_family	*ep_inflight;
	struct metric_family	*workers;
	struct metric_family	*restarts;
	struct metric_family	*start_time;
	/* the last scan of the spool */
	uint64_t		 scanned_ms;
	uint64_t		 nfiles[SCAN_N];
	time_t			 oldest_new;	/* 0: new/ holds no input */
};

static const char *const l_endpoint[] = { "endpoint", NULL };
static const char *const l_endpoint_code[] = { "endpoint", "code", NULL };
static const char *const l_endpoint_kind[] = { "endpoint", "kind", NULL };
static const char *const l_outcome[] = { "outcome", NULL };
static const char *const l_status[] = { "status", NULL };
static const char *const l_state[] = { "state", NULL };

static const char *
ep_name(const struct sup *s, int ep)
{
	return s->cfg->endpoints[ep].name;
}

static void
scan_spool(struct stats *st, const struct sup *s)
{
	long n;
	int i;

	st->oldest_new = 0;
	for (i = 0; i < SCAN_N; i++) {
		n = spool_count_inputs(s->sp, scan_dirs[i], i == SCAN_NEW ?
		    &st->oldest_new : NULL);
		if (n == -1)
			log_warn("metrics: read %s/", scan_names[i]);
		st->nfiles[i] = n > 0 ? (uint64_t)n : 0;
	}
	st->scanned_ms = now_ms();
}

static void
add_labeled(struct metric_family *f, const char *value, double v)
{
	const char *values[] = { value };

	metrics_add(metrics_get(f, values), v);
}

static void
set_labeled(struct metric_family *f, const char *value, double v)
{
	const char *values[] = { value };

	metrics_set(metrics_get(f, values), v);
}

/* The gauges, from the supervisor's state. */
static void
refresh(struct sup *s)
{
	struct stats *st = s->stats;
	const struct batch *b;
	uint64_t queued = 0, running = 0, finalizing = 0, now = now_ms();
	time_t t = time(NULL), oldest, due = 0, window;
	int i;

	if (st->scanned_ms == 0 || now - st->scanned_ms >= STATS_SCAN_MS)
		scan_spool(st, s);
	for (i = 0; i < SCAN_N; i++)
		set_labeled(st->files, scan_names[i], (double)st->nfiles[i]);
	oldest = st->oldest_new;
	window = (time_t)(s->cfg->completion_window_ms / 1000);
	for (b = s->batches; b != NULL; b = b->next) {
		uint64_t left = b->total - b->completed - b->failed;
		uint64_t busy = b->inflight + b->npending;

		if (b->state == BATCH_RUNNING) {
			running++;
			if (b->stop_code == NULL && (due == 0 ||
			    b->created_at + window < due))
				due = b->created_at + window;
		} else {
			finalizing++;
		}
		queued += left > busy ? left - busy : 0;
		if (b->created_at > 0 &&
		    (oldest == 0 || b->created_at < oldest))
			oldest = b->created_at;
	}
	metrics_clear(st->oldest);
	if (oldest != 0)
		metrics_set(metrics_get0(st->oldest),
		    oldest < t ? (double)(t - oldest) : 0);
	metrics_clear(st->deadline);
	if (due != 0)
		metrics_set(metrics_get0(st->deadline), (double)(due - t));
	set_labeled(st->requests, "queued", (double)queued);
	set_labeled(st->requests, "in_flight",
	    (double)(s->inflight));
	set_labeled(st->requests, "retrying", (double)s->nheap);
	set_labeled(st->batches, "running", (double)running);
	set_labeled(st->batches, "finalizing", (double)finalizing);
	for (i = 0; i < s->cfg->nendpoints; i++) {
		set_labeled(st->paused, ep_name(s, i),
		    s->ep[i].paused_until > now ? 1 : 0);
		set_labeled(st->ep_inflight, ep_name(s, i),
		    (double)s->ep_load[i]);
	}
	metrics_set(metrics_get0(st->workers), s->pool != NULL ?
	    (double)pool_running(s->pool) : 0);
	metrics_set(metrics_get0(st->restarts), s->pool != NULL ?
	    (double)pool_restarts(s->pool) : 0);
	metrics_set(metrics_get0(st->start_time), st->started);
}

static void
render(struct buf *out, void *arg)
{
	struct sup *s = arg;

	refresh(s);
	metrics_render(s->stats->m, out);
}

static void
declare(struct stats *st)
{
	struct metrics *m = st->m;

	/* Gauges of the queue first: what an operator looks at. */
	st->files = metrics_family(m, "spoold_spool_files", METRIC_GAUGE,
	    "Inputs in each spool directory: waiting in new/, claimed in "
	    "processing/, finished in done/, rejected in failed/.", l_state,
	    NULL, 0);
	st->requests = metrics_family(m, "spoold_requests", METRIC_GAUGE,
	    "Requests of claimed batches not finished yet: queued (not sent), "
	    "in_flight (at a worker), retrying (waiting for a retry or a "
	    "paused endpoint).", l_state, NULL, 0);
	st->oldest = metrics_family(m, "spoold_oldest_pending_age_seconds",
	    METRIC_GAUGE, "Age of the oldest unfinished input: a drop waiting "
	    "in new/ (by its mtime) or a claimed batch (since its claim).",
	    NULL, NULL, 0);
	st->batches = metrics_family(m, "spoold_batches", METRIC_GAUGE,
	    "Batches held by this instance, by state.", l_state, NULL, 0);
	st->deadline = metrics_family(m, "spoold_batch_deadline_seconds",
	    METRIC_GAUGE, "Seconds until the first running batch reaches its "
	    "completion window and expires (negative: overdue).", NULL,
	    NULL, 0);
	st->tasks = metrics_family(m, "spoold_tasks_total", METRIC_COUNTER,
	    "Requests finished and journaled, by outcome: succeeded "
	    "(output.jsonl) or failed (errors.jsonl).", l_outcome, NULL, 0);
	st->retries = metrics_family(m, "spoold_retries_total",
	    METRIC_COUNTER, "Failed attempts that were scheduled again.",
	    l_endpoint, NULL, 0);
	st->responses = metrics_family(m, "spoold_http_responses_total",
	    METRIC_COUNTER, "Responses to attempts by status code (exec "
	    "endpoints: 200 for a usable answer).", l_endpoint_code, NULL, 0);
	st->no_response = metrics_family(m, "spoold_request_errors_total",
	    METRIC_COUNTER, "Attempts that got no HTTP status: connection "
	    "refused or reset, timeout, a command that could not run.",
	    l_endpoint, NULL, 0);
	st->duration = metrics_family(m, "spoold_request_duration_seconds",
	    METRIC_HISTOGRAM, "Time from sending an attempt to a worker to "
	    "its result.", l_endpoint, duration_bounds,
	    sizeof(duration_bounds) / sizeof(duration_bounds[0]));
	st->tokens = metrics_family(m, "spoold_tokens_total", METRIC_COUNTER,
	    "Tokens reported by the endpoints' usage, by kind (input, "
	    "output).", l_endpoint_kind, NULL, 0);
	st->cost = metrics_family(m, "spoold_cost_total", METRIC_COUNTER,
	    "What the requests cost by the price table (batch.prices), in "
	    "its currency; nothing without a table.", l_endpoint, NULL, 0);
	st->batches_done = metrics_family(m, "spoold_batches_total",
	    METRIC_COUNTER, "Batches finished, by final status (completed, "
	    "cancelled, expired) or rejected whole into failed/.", l_status,
	    NULL, 0);
	st->paused = metrics_family(m, "spoold_endpoint_paused", METRIC_GAUGE,
	    "1 while an endpoint is paused as down, else 0.", l_endpoint,
	    NULL, 0);
	st->pauses = metrics_family(m, "spoold_endpoint_pauses_total",
	    METRIC_COUNTER, "Times an endpoint was paused as down.",
	    l_endpoint, NULL, 0);
	st->ep_inflight = metrics_family(m, "spoold_endpoint_in_flight",
	    METRIC_GAUGE, "Requests at the workers, by endpoint.", l_endpoint,
	    NULL, 0);
	st->workers = metrics_family(m, "spoold_workers", METRIC_GAUGE,
	    "Worker processes running.", NULL, NULL, 0);
	st->restarts = metrics_family(m, "spoold_worker_restarts_total",
	    METRIC_COUNTER, "Worker processes restarted after they died.",
	    NULL, NULL, 0);
	st->start_time = metrics_family(m, "spoold_start_time_seconds",
	    METRIC_GAUGE, "When the daemon started, in seconds since the "
	    "epoch.", NULL, NULL, 0);
}

void
stats_init(struct sup *s)
{
	struct stats *st = xcalloc(1, sizeof(*st));
	const struct config *cfg = s->cfg;
	const char *values[2];
	int i;

	s->stats = st;
	st->m = metrics_new();
	st->started = (double)time(NULL);
	declare(st);
	/* Every endpoint's series from the start: a rate needs a zero. */
	metrics_get(st->tasks, (const char *[]){ "succeeded" });
	metrics_get(st->tasks, (const char *[]){ "failed" });
	for (i = 0; i < cfg->nendpoints; i++) {
		values[0] = ep_name(s, i);
		metrics_get(st->retries, values);
		metrics_get(st->no_response, values);
		metrics_get(st->pauses, values);
		values[1] = "input";
		metrics_get(st->tokens, values);
		values[1] = "output";
		metrics_get(st->tokens, values);
	}
	if (cfg->metrics_listen == NULL && cfg->metrics_textfile == NULL)
		return;
	st->exp = exporter_new(s->loop, cfg->metrics_listen,
	    cfg->metrics_textfile, STATS_TEXTFILE_MS, render, s);
	if (st->exp == NULL)
		fatalx("cannot export metrics (see above)");
}

void
stats_free(struct sup *s)
{
	struct stats *st = s->stats;

	if (st == NULL)
		return;
	/* The last figures, for node_exporter to read after we exit. */
	if (exporter_write(st->exp) == -1)
		log_warn("metrics: write %s", s->cfg->metrics_textfile);
	exporter_free(st->exp);
	metrics_free(st->m);
	free(st);
	s->stats = NULL;
}

void
stats_result(struct sup *s, int ep, uint32_t status, uint64_t ms,
    uint64_t tin, uint64_t tout)
{
	struct stats *st = s->stats;
	const char *values[2] = { ep_name(s, ep), NULL };
	char code[16];

	metrics_observe(metrics_get(st->duration, values), (double)ms / 1000);
	if (status >= 100 && status <= 599) {
		/* Codes outside 100..599 are not HTTP: the label set stays
		 * bounded whatever a server sends. */
		snprintf(code, sizeof(code), "%u", status);
		values[1] = code;
		metrics_add(metrics_get(st->responses, values), 1);
	} else {
		metrics_add(metrics_get(st->no_response, values), 1);
	}
	values[1] = "input";
	metrics_add(metrics_get(st->tokens, values), (double)tin);
	values[1] = "output";
	metrics_add(metrics_get(st->tokens, values), (double)tout);
}

void
stats_cost(struct sup *s, int ep, double cost)
{
	const char *values[1] = { ep_name(s, ep) };

	metrics_add(metrics_get(s->stats->cost, values), cost);
}

void
stats_retry(struct sup *s, int ep)
{
	const char *values[1] = { ep_name(s, ep) };

	metrics_add(metrics_get(s->stats->retries, values), 1);
}

void
stats_pause(struct sup *s, int ep)
{
	const char *values[1] = { ep_name(s, ep) };

	metrics_add(metrics_get(s->stats->pauses, values), 1);
}

void
stats_committed(struct sup *s, uint64_t succeeded, uint64_t failed)
{
	if (succeeded > 0)
		add_labeled(s->stats->tasks, "succeeded", (double)succeeded);
	if (failed > 0)
		add_labeled(s->stats->tasks, "failed", (double)failed);
}

void
stats_batch_done(struct sup *s, const char *status)
{
	add_labeled(s->stats->batches_done, status, 1);
}
