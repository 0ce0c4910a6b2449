/*
 * deadletter - failed/BATCH.failed.jsonl: the input lines of the
 * requests that were sent and failed, were cancelled or expired, in the
 * input format, so that moving the file back into new/ (or spoolctl
 * retry) runs exactly those again (SPEC §4).
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

struct dead {
	struct batch		*b;
	const struct task_limits *lim;
	struct idset		 failed;
	struct idset		 ok;
	struct spool_tmp	*t;
	long			 n;
	int			 io_error;
};

static int
collect_ids(const struct input_line *l, void *arg)
{
	struct idset *set = arg;
	char *id;

	if (!l->too_long && (id = record_custom_id(l->data, l->len)) != NULL) {
		idset_add(set, id);
		free(id);
	}
	return 0;
}

/* Keeps a request if it failed and never succeeded. */
static bool
dead_wanted(struct dead *d, const char *custom_id)
{
	return idset_has(&d->failed, custom_id) &&
	    !idset_has(&d->ok, custom_id);
}

static void
dead_put(struct dead *d, const char *line, size_t len)
{
	if (spool_tmp_write(d->t, line, len) == -1 ||
	    spool_tmp_write(d->t, "\n", 1) == -1)
		d->io_error = 1;
	d->n++;
}

static int
dead_line(const struct input_line *l, void *arg)
{
	struct dead *d = arg;
	struct task t;
	struct err err;

	if (l->too_long ||
	    task_parse_line(l->data, l->len, d->lim, &t, &err) == -1)
		return 0;	/* invalid lines would fail again */
	if (dead_wanted(d, t.custom_id))
		dead_put(d, l->data, l->len);
	task_release(&t);
	return 0;
}

/* A loose request as a JSONL line of the input format. */
static void
dead_member(struct dead *d, struct task *t)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddStringToObject(o, "custom_id", t->custom_id);
	if (t->format == TASK_FORMAT_ANTHROPIC) {
		cJSON_AddItemToObject(o, "params", t->body);
	} else {
		cJSON_AddStringToObject(o, "method", "POST");
		cJSON_AddStringToObject(o, "url", t->url);
		cJSON_AddItemToObject(o, "body", t->body);
	}
	t->body = NULL;
	if (t->endpoint != NULL)
		cJSON_AddStringToObject(o, "endpoint", t->endpoint);
	text = cJSON_PrintUnformatted(o);
	dead_put(d, text, strlen(text));
	cJSON_free(text);
	cJSON_Delete(o);
}

long
batch_write_dead_letters(struct batch *b, struct spool *sp,
    const struct task_limits *lim)
{
	struct dead d;
	struct req_ref ref;
	struct task t;
	struct err err;
	char name[SPOOL_NAME_MAX + 1], sidecar[SPOOL_NAME_MAX + 16];
	char *text;
	cJSON *o;
	uint64_t i;
	int ffd = spool_dirfd(sp, SPOOL_FAILED);

	memset(&d, 0, sizeof(d));
	d.b = b;
	d.lim = lim;
	if (input_scan_lines(b->err_fd, SIZE_MAX / 2, collect_ids,
	    &d.failed) == -1 ||
	    input_scan_lines(b->out_fd, SIZE_MAX / 2, collect_ids,
	    &d.ok) == -1)
		goto fail;
	if ((d.t = spool_tmp_open(ffd)) == NULL)
		goto fail;
	if (b->kind == BATCH_FILE) {
		if (input_scan_lines(b->input_fd, lim->max_line, dead_line,
		    &d) == -1)
			goto fail;
	} else {
		for (i = 0; i < b->nmembers; i++) {
			ref.ordinal = i;
			if (batch_read_task(b, &ref, lim, &t, &err) == -1)
				continue;
			if (dead_wanted(&d, t.custom_id))
				dead_member(&d, &t);
			task_release(&t);
		}
	}
	if (d.io_error)
		goto fail;
	if (d.n == 0) {
		spool_tmp_abort(&d.t);
		goto out;
	}
	snprintf(name, sizeof(name), "%.200s.failed.jsonl", b->id);
	snprintf(sidecar, sizeof(sidecar), "%s.error.json", name);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "input", b->input_name);
	cJSON_AddStringToObject(o, "file", name);
	cJSON_AddStringToObject(o, "batch", b->id);
	cJSON_AddStringToObject(o, "code", "requests_failed");
	text = xasprintf("%ld requests of batch %s failed; see results/%s/"
	    "errors.jsonl.  Move this file into new/ (or run spoolctl retry "
	    "%s) to run exactly those again", d.n, b->id, b->id, b->id);
	cJSON_AddStringToObject(o, "message", text);
	free(text);
	cJSON_AddNumberToObject(o, "requests", (double)d.n);
	cJSON_AddNumberToObject(o, "failed_at", (double)time(NULL));
	text = cJSON_Print(o);
	cJSON_Delete(o);
	/* The sidecar first: the file it explains must never lack it. */
	if (spool_write_at(ffd, sidecar, text, strlen(text)) == -1 ||
	    spool_tmp_commit(&d.t, name) == -1) {
		cJSON_free(text);
		goto fail;
	}
	cJSON_free(text);
out:
	idset_free(&d.failed);
	idset_free(&d.ok);
	return d.n;
fail:
	spool_tmp_abort(&d.t);
	idset_free(&d.failed);
	idset_free(&d.ok);
	return -1;
}
