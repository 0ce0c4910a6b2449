/*
 * estimate - an up-front token and cost estimate (see estimate.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "estimate.h"
#include "input.h"
#include "prices.h"
#include "spool.h"
#include "spool_limits.h"
#include "task.h"

struct estimate {
	const struct prices	*prices;
	struct task_limits	 lim;
	uint64_t		 requests;
	uint64_t		 invalid;
	uint64_t		 tokens_in;
	uint64_t		 tokens_out_max;
	uint64_t		 unbounded;	/* no max_tokens */
	uint64_t		 unpriced;
	bool			 open_ended;	/* priced, no max_tokens */
	double			 cost_min;	/* prompts only */
	double			 cost_max;	/* with max completions */
	char			 missing[256];	/* unpriced models */
};

static void
note_missing(struct estimate *e, const char *model)
{
	size_t len = strlen(e->missing);

	if (model == NULL)
		model = "(none)";
	if (strstr(e->missing, model) != NULL)
		return;
	snprintf(e->missing + len, sizeof(e->missing) - len, "%s%s",
	    len > 0 ? " " : "", model);
}

static void
add_task(struct estimate *e, const struct task *t)
{
	const struct price *pr;
	uint64_t tin, tout;
	char *body;

	body = cJSON_PrintUnformatted(t->body);
	tin = task_prompt_tokens(body != NULL ? strlen(body) : 0);
	cJSON_free(body);
	tout = task_max_tokens(t);
	e->requests++;
	e->tokens_in += tin;
	e->tokens_out_max += tout;
	if (tout == 0)
		e->unbounded++;
	if (e->prices == NULL)
		return;
	if ((pr = prices_find(e->prices, task_model(t))) == NULL) {
		e->unpriced++;
		note_missing(e, task_model(t));
		return;
	}
	e->cost_min += price_cost(pr, tin, 0);
	e->cost_max += price_cost(pr, tin, tout);
	if (tout == 0)
		e->open_ended = true;
}

static int
on_line(const struct input_line *l, void *arg)
{
	struct estimate *e = arg;
	struct task t;
	struct err err;

	if (l->too_long || task_parse_line(l->data, l->len, &e->lim, &t,
	    &err) == -1) {
		e->invalid++;
		return 0;
	}
	add_task(e, &t);
	task_release(&t);
	return 0;
}

static int
estimate_file(struct estimate *e, const char *path)
{
	struct buf data = BUF_INIT;
	const char *base = strrchr(path, '/') != NULL ?
	    strrchr(path, '/') + 1 : path;
	char stem[SPOOL_NAME_MAX + 1];
	struct task t;
	struct err err;
	int fd, r = EX_OK;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "spoolctl: %s: %s\n", path, strerror(errno));
		return EX_NOINPUT;
	}
	switch (spool_name_kind(base)) {
	case SPOOL_KIND_JSONL:
		if (input_scan_lines(fd, e->lim.max_line, on_line, e) == -1) {
			fprintf(stderr, "spoolctl: %s: %s\n", path,
			    strerror(errno));
			r = EX_IOERR;
		}
		break;
	case SPOOL_KIND_JSON:
		if (input_read_file(fd, e->lim.max_line, &data) == -1) {
			fprintf(stderr, "spoolctl: %s: %s\n", path,
			    strerror(errno));
			r = EX_IOERR;
			break;
		}
		spool_name_stem(base, stem, sizeof(stem));
		if (task_parse_file(data.data, data.len, stem, &e->lim, &t,
		    &err) == -1) {
			e->invalid++;
			break;
		}
		add_task(e, &t);
		task_release(&t);
		break;
	default:
		fprintf(stderr, "spoolctl: %s: only .jsonl and .json files "
		    "can be estimated\n", path);
		r = EX_DATAERR;
		break;
	}
	buf_release(&data);
	close(fd);
	return r;
}

static void
print_text(const struct estimate *e)
{
	const char *cur = e->prices != NULL ? prices_currency(e->prices) : "";

	printf("requests       %llu", (unsigned long long)e->requests);
	if (e->invalid > 0)
		printf(" (and %llu invalid, never sent)",
		    (unsigned long long)e->invalid);
	printf("\ninput tokens   about %llu\n",
	    (unsigned long long)e->tokens_in);
	printf("output tokens  at most %llu", (unsigned long long)
	    e->tokens_out_max);
	if (e->unbounded > 0)
		printf(", and %llu requests without max_tokens",
		    (unsigned long long)e->unbounded);
	printf("\n");
	if (e->prices == NULL) {
		printf("cost           no price table (--prices FILE)\n");
		return;
	}
	if (e->open_ended)
		printf("cost           at least %.6f %s, no upper bound "
		    "(requests without max_tokens)\n", e->cost_min, cur);
	else
		printf("cost           %.6f to %.6f %s\n", e->cost_min,
		    e->cost_max, cur);
	if (e->unpriced > 0)
		printf("unpriced       %llu requests (no price for: %s)\n",
		    (unsigned long long)e->unpriced, e->missing);
}

static void
print_json(const struct estimate *e)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddNumberToObject(o, "requests", (double)e->requests);
	cJSON_AddNumberToObject(o, "invalid", (double)e->invalid);
	cJSON_AddNumberToObject(o, "input_tokens", (double)e->tokens_in);
	cJSON_AddNumberToObject(o, "output_tokens_max",
	    (double)e->tokens_out_max);
	cJSON_AddNumberToObject(o, "unbounded_requests", (double)e->unbounded);
	if (e->prices != NULL) {
		cJSON_AddStringToObject(o, "currency",
		    prices_currency(e->prices));
		cJSON_AddNumberToObject(o, "cost_min", e->cost_min);
		if (e->open_ended)
			cJSON_AddNullToObject(o, "cost_max");
		else
			cJSON_AddNumberToObject(o, "cost_max", e->cost_max);
		cJSON_AddNumberToObject(o, "unpriced_requests",
		    (double)e->unpriced);
	} else {
		cJSON_AddNullToObject(o, "currency");
		cJSON_AddNullToObject(o, "cost_min");
		cJSON_AddNullToObject(o, "cost_max");
		cJSON_AddNullToObject(o, "unpriced_requests");
	}
	text = cJSON_Print(o);
	printf("%s\n", text);
	cJSON_free(text);
	cJSON_Delete(o);
}

int
estimate_files(char **files, int n, const struct prices *prices, bool json)
{
	struct estimate e;
	int i, r = EX_OK, r1;

	memset(&e, 0, sizeof(e));
	e.prices = prices;
	task_limits_default(&e.lim);
	for (i = 0; i < n; i++)
		if ((r1 = estimate_file(&e, files[i])) != EX_OK)
			r = r1;
	if (r != EX_OK)
		return r;
	if (json)
		print_json(&e);
	else
		print_text(&e);
	return EX_OK;
}
