/*
 * fuzz_build - libFuzzer target for spoolctl build's parsers
 * (tools/csv.c, tools/template.c).  The first byte picks one:
 *
 *   even: the rest is a CSV file, read record by record;
 *   odd:  the rest is a template, formatted into a request line with
 *         every placeholder given a value that holds JSON specials and
 *         a placeholder of its own (which must stay as it is).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "csv.h"
#include "task.h"
#include "template.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_csv(const char *text, size_t len)
{
	struct csv_reader r;
	struct csv_record rec;
	struct err err;
	size_t i;
	int k;

	memset(&rec, 0, sizeof(rec));
	csv_init(&r, text, len);
	while ((k = csv_next(&r, &rec, &err)) == 1) {
		SPOOL_ASSERT(rec.n > 0 && rec.lineno >= 1);
		for (i = 0; i < rec.n; i++)
			SPOOL_ASSERT(rec.fields[i] != NULL);
	}
	SPOOL_ASSERT(k == 0 || (k == -1 && err.code[0] != '\0'));
	csv_record_release(&rec);
}

static const char *
lookup(const char *name, void *arg)
{
	(void)arg;
	/* One name has no value: the error path. */
	if (strcmp(name, "missing") == 0)
		return NULL;
	return "v \"q\" \\ {{text}} \n\t\x01 \xc3\xa9";
}

static void
fuzz_template(const char *text, size_t len)
{
	struct task_limits lim;
	struct task t;
	struct buf out = BUF_INIT;
	struct err err;
	cJSON *tmpl;

	memset(&err, 0, sizeof(err));
	if ((tmpl = template_parse(text, len, &err)) == NULL) {
		SPOOL_ASSERT(err.code[0] != '\0');
		return;
	}
	task_limits_default(&lim);
	if (template_format(tmpl, "doc-1#1/1", lookup, NULL, &lim, &out,
	    &err) == 0) {
		/* What build writes, spoold must take. */
		SPOOL_ASSERT(task_parse_line(out.data, out.len, &lim, &t,
		    &err) == 0);
		SPOOL_ASSERT(strcmp(t.custom_id, "doc-1#1/1") == 0);
		task_release(&t);
	} else
		SPOOL_ASSERT(err.code[0] != '\0');
	buf_release(&out);
	cJSON_Delete(tmpl);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_csv((const char *)data + 1, size - 1);
	else
		fuzz_template((const char *)data + 1, size - 1);
	return 0;
}
