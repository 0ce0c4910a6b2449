/*
 * fuzz_task - libFuzzer target for the request parser (spoold/task.c):
 * the input is one request line, then the same bytes as a loose .json
 * file, both with the default limits.  Besides the sanitizers, it
 * checks the contract of task.h: a failure leaves the task empty with
 * a code set, a success gives an allowed url and an owned custom_id.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int r, const struct task *t, const struct err *err)
{
	if (r == -1) {
		SPOOL_ASSERT(err->code[0] != '\0');
		SPOOL_ASSERT(t->custom_id == NULL && t->url == NULL &&
		    t->endpoint == NULL && t->body == NULL);
		return;
	}
	SPOOL_ASSERT(r == 0);
	SPOOL_ASSERT(t->custom_id != NULL && t->custom_id[0] != '\0');
	SPOOL_ASSERT(t->url != NULL && task_url_allowed(t->url));
	SPOOL_ASSERT(cJSON_IsObject(t->body));
	(void)task_max_tokens(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct task_limits lim;
	struct task t;
	struct err err;
	char *id;
	int r;

	task_limits_default(&lim);
	memset(&err, 0, sizeof(err));
	r = task_parse_line(text, size, &lim, &t, &err);
	check(r, &t, &err);
	task_release(&t);

	memset(&err, 0, sizeof(err));
	r = task_parse_file(text, size, "fuzz-stem", &lim, &t, &err);
	check(r, &t, &err);
	task_release(&t);

	/* What an error record says for a line that did not parse. */
	if ((id = task_guess_custom_id(text, size)) != NULL) {
		SPOOL_ASSERT(id[0] != '\0');
		free(id);
	}
	(void)task_json_depth(text, size);
	return 0;
}
