/*
 * fuzz_http - libFuzzer target for the response classifier
 * (spoold/http.c) and the result line made of a response
 * (spoold/record.c), as worker.c uses them.  The input is a response:
 *
 *   STATUS CURLCODE\n          two decimal numbers, the first line
 *   Name: value\r\n            header lines, up to an empty line
 *   \r\n
 *   BODY                       the rest
 *
 * A first line that does not parse gives status 200 and curl code 0
 * and is fed as a header, so that any bytes still reach the parsers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "http.h"
#include "record.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The line at p (with its newline, if any), at most end - p bytes. */
static size_t
line_len(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct http_response resp;
	struct http_verdict v;
	struct buf line = BUF_INIT;
	char first[64], *hdr;
	long status = 200;
	int curl_code = 0;
	uint64_t tin, tout;
	size_t n;

	http_response_init(&resp);
	n = line_len(p, end);
	if (n < sizeof(first)) {
		memcpy(first, p, n);
		first[n] = '\0';
		if (sscanf(first, "%ld %d", &status, &curl_code) == 2 &&
		    status >= 0 && status < 1000 && curl_code >= 0 &&
		    curl_code < 100)
			p += n;
		else {
			status = 200;
			curl_code = 0;
		}
	}
	/* Headers as curl hands them over: one line, not NUL-ended. */
	while (p < end) {
		n = line_len(p, end);
		if ((n == 2 && p[0] == '\r') || (n == 1 && p[0] == '\n')) {
			p += n;
			break;
		}
		/* A copy of exactly n bytes lets ASan see an overread. */
		hdr = xmalloc(n);
		memcpy(hdr, p, n);
		http_parse_header(&resp, hdr, n);
		free(hdr);
		p += n;
	}
	SPOOL_ASSERT(strlen(resp.request_id) < sizeof(resp.request_id));
	/* A wait is unknown (-1) or at most a day (http.c). */
	SPOOL_ASSERT(resp.retry_after_ms >= -1 &&
	    resp.retry_after_ms <= 86400000);
	SPOOL_ASSERT(resp.reset_ms >= -1 && resp.reset_ms <= 86400000);
	resp.status = status;
	resp.curl_code = curl_code;
	resp.curl_error = "";
	resp.body = p;
	resp.len = (size_t)(end - p);
	http_classify(&resp, &v);
	SPOOL_ASSERT(v.outcome != OUTCOME_OK || (status >= 200 &&
	    status < 300 && curl_code == 0));
	SPOOL_ASSERT(v.outcome == OUTCOME_OK || v.code[0] != '\0');

	/* The result line, as send_result makes it. */
	if (v.outcome == OUTCOME_OK) {
		cJSON *parsed = cJSON_ParseWithLength(resp.body, resp.len);

		tin = tout = 0;
		record_usage(parsed, &tin, &tout);
		record_format_parsed(&line, "fuzz-1", (int)status,
		    resp.request_id, parsed, resp.body, resp.len, NULL, NULL);
	} else {
		record_format(&line, "fuzz-1", (int)status, resp.request_id,
		    resp.body, resp.len, v.code, v.message);
	}
	/* A result line is one JSON object that names its custom_id. */
	SPOOL_ASSERT(line.len > 0 && line.data[line.len - 1] == '\n');
	SPOOL_ASSERT(memchr(line.data, '\n', line.len) ==
	    line.data + line.len - 1);
	hdr = record_custom_id(line.data, line.len - 1);
	SPOOL_ASSERT(hdr != NULL && strcmp(hdr, "fuzz-1") == 0);
	free(hdr);
	buf_release(&line);
	return 0;
}
