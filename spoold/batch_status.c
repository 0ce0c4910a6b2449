/*
 * batch_status - what a batch tells the outside while it runs: its
 * status word, its cost so far and results/BATCH/status.json (the
 * OpenAI batch object), and the slices of a stopped batch's report.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "idset.h"
#include "log.h"
#include "prices.h"
#include "record.h"
#include "util.h"

void
batch_add_counts(const struct batch *b, void *obj)
{
	cJSON *c = cJSON_AddObjectToObject(obj, "request_counts");

	cJSON_AddNumberToObject(c, "total", (double)b->total);
	cJSON_AddNumberToObject(c, "completed", (double)b->completed);
	cJSON_AddNumberToObject(c, "failed", (double)b->failed);
}

double
batch_spent(const struct batch *b)
{
	double spent = b->cost;
	size_t i;

	for (i = 0; i < b->npending; i++)
		spent += b->pending[i].usage.cost;
	return spent;
}

void
batch_add_cost(const struct batch *b, const struct config *cfg, void *obj,
    bool stopped)
{
	cJSON *c, *st;

	if (cfg->prices == NULL) {
		cJSON_AddNullToObject(obj, "cost");
	} else {
		c = cJSON_AddObjectToObject(obj, "cost");
		cJSON_AddStringToObject(c, "currency",
		    prices_currency(cfg->prices));
		cJSON_AddNumberToObject(c, "total", b->cost);
		cJSON_AddNumberToObject(c, "unpriced_requests",
		    (double)b->unpriced);
		if (cfg->budget > 0)
			cJSON_AddNumberToObject(c, "budget", cfg->budget);
		else
			cJSON_AddNullToObject(c, "budget");
	}
	if (!stopped)
		return;
	if (b->stop_reason == NULL) {
		cJSON_AddNullToObject(obj, "stopped");
		return;
	}
	st = cJSON_AddObjectToObject(obj, "stopped");
	cJSON_AddStringToObject(st, "reason", b->stop_reason);
	if (strcmp(b->stop_reason, "budget") == 0) {
		cJSON_AddNumberToObject(st, "budget", cfg->budget);
		cJSON_AddNumberToObject(st, "spent", b->cost);
	}
}

bool
batch_complete(const struct batch *b)
{
	return b->sealed && b->inflight == 0 && b->npending == 0 &&
	    b->completed + b->failed >= b->total;
}

const char *
batch_status_word(const struct batch *b)
{
	bool cancel = b->stop_code != NULL &&
	    strcmp(b->stop_code, "batch_cancelled") == 0;

	switch (b->state) {
	case BATCH_RUNNING:
		return cancel ? "cancelling" : "in_progress";
	case BATCH_FINALIZING:
		return cancel ? "cancelling" : "finalizing";
	case BATCH_DONE:
		return b->final_status;
	}
	return "in_progress";
}

bool
batch_stop_step(struct batch *b, const struct task_limits *lim, size_t max)
{
	struct req_ref ref;
	struct task t;
	struct err err;
	struct buf line = BUF_INIT;
	const char *msg;
	char *id;

	msg = strcmp(b->stop_code, "batch_expired") == 0 ?
	    "This request could not be executed before the completion window "
	    "expired." : "This request was not executed: the batch was "
	    "cancelled.";
	for (; max > 0; max--) {
		if (!batch_next(b, lim->max_line, &ref)) {
			buf_release(&line);
			return true;
		}
		id = NULL;
		if (batch_read_task(b, &ref, lim, &t, &err) == 0) {
			id = xstrdup(t.custom_id);
			task_release(&t);
		}
		buf_reset(&line);
		record_format(&line, id != NULL ? id : "unknown", 0, NULL, NULL,
		    0, b->stop_code, msg);
		batch_record(b, ref.ordinal, false, line.data, line.len, NULL,
		    id);
		free(id);
	}
	buf_release(&line);
	return false;
}

int
batch_write_status(struct batch *b, const struct config *cfg,
    const char *status)
{
	cJSON *o, *usage, *d, *errs, *data, *e;
	char *text, input_file[SPOOL_NAME_MAX + 16];
	int i, r;

	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", b->id);
	cJSON_AddStringToObject(o, "object", "batch");
	cJSON_AddStringToObject(o, "endpoint", "/v1/chat/completions");
	snprintf(input_file, sizeof(input_file), "%s", b->input_name);
	cJSON_AddStringToObject(o, "input_file_id", input_file);
	cJSON_AddStringToObject(o, "completion_window", "24h");
	if (cfg->completion_window_ms != 24 * 3600000ULL) {
		char w[32];

		snprintf(w, sizeof(w), "%llus", (unsigned long long)
		    (cfg->completion_window_ms / 1000));
		cJSON_ReplaceItemInObject(o, "completion_window",
		    cJSON_CreateString(w));
	}
	cJSON_AddStringToObject(o, "status", status);
	cJSON_AddStringToObject(o, "output_file_id", "output.jsonl");
	cJSON_AddStringToObject(o, "error_file_id", "errors.jsonl");
	cJSON_AddNumberToObject(o, "created_at", (double)b->created_at);
	cJSON_AddNumberToObject(o, "in_progress_at", (double)b->started_at);
	cJSON_AddNumberToObject(o, "expires_at", (double)(b->created_at +
	    (time_t)(cfg->completion_window_ms / 1000)));
	if (b->state != BATCH_RUNNING)
		cJSON_AddNumberToObject(o, "finalizing_at",
		    (double)time(NULL));
	if (b->state == BATCH_DONE)
		cJSON_AddNumberToObject(o, "completed_at",
		    (double)b->finished_at);
	batch_add_counts(b, o);
	usage = cJSON_AddObjectToObject(o, "usage");
	cJSON_AddNumberToObject(usage, "input_tokens", (double)b->tokens_in);
	d = cJSON_AddObjectToObject(usage, "input_tokens_details");
	cJSON_AddNumberToObject(d, "cached_tokens", 0);
	cJSON_AddNumberToObject(usage, "output_tokens", (double)b->tokens_out);
	d = cJSON_AddObjectToObject(usage, "output_tokens_details");
	cJSON_AddNumberToObject(d, "reasoning_tokens", 0);
	cJSON_AddNumberToObject(usage, "total_tokens",
	    (double)(b->tokens_in + b->tokens_out));
	if (b->nerrors > 0) {
		errs = cJSON_AddObjectToObject(o, "errors");
		cJSON_AddStringToObject(errs, "object", "list");
		data = cJSON_AddArrayToObject(errs, "data");
		for (i = 0; i < b->nerrors; i++) {
			e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "code",
			    b->errors[i].err.code);
			cJSON_AddStringToObject(e, "message",
			    b->errors[i].err.msg);
			cJSON_AddNullToObject(e, "param");
			cJSON_AddNumberToObject(e, "line",
			    (double)b->errors[i].line);
			cJSON_AddItemToArray(data, e);
		}
	} else {
		cJSON_AddNullToObject(o, "errors");
	}
	cJSON_AddNullToObject(o, "metadata");
	/* Not OpenAI's: the schema allows more members. */
	batch_add_cost(b, cfg, o, false);
	text = cJSON_Print(o);
	cJSON_Delete(o);
	r = spool_write_at(b->results_fd, "status.json", text, strlen(text));
	cJSON_free(text);
	if (r == 0)
		b->status_dirty = false;
	return r;
}

