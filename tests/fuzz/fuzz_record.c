/*
 * fuzz_record - libFuzzer target for the result lines (spoold/record.c):
 * the input is read back as a result line (record_custom_id, as
 * collect and the finisher do), and used as a response body for a
 * success and for an error line, whose custom_id must read back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "record.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_line(const struct buf *line, const char *id)
{
	char *got;

	SPOOL_ASSERT(line->len > 0 && line->data[line->len - 1] == '\n');
	got = record_custom_id(line->data, line->len - 1);
	SPOOL_ASSERT(got != NULL && strcmp(got, id) == 0);
	free(got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct buf line = BUF_INIT;
	uint64_t tin = 0, tout = 0;
	cJSON *parsed;
	char *id;

	free(record_custom_id(text, size));

	parsed = cJSON_ParseWithLength(text, size);
	record_usage(parsed, &tin, &tout);
	record_format_parsed(&line, "id \"1\"\n", 200, "req_1", parsed,
	    text, size, NULL, NULL);
	check_line(&line, "id \"1\"\n");
	buf_reset(&line);

	/* The input as custom_id and message too, when it is a C string. */
	id = xstrndup(text, size);
	if (id[0] != '\0') {
		record_format(&line, id, 400, "", text, size, "http_400", id);
		check_line(&line, id);
	}
	free(id);
	buf_release(&line);
	return 0;
}
