/*
 * execresult - what a run of an exec endpoint's command means for its
 * request, in the vocabulary of http.c: success, retry, failure or
 * endpoint down, an error code and message, and the response body.
 *
 * Exit 0 succeeds; 75 (EX_TEMPFAIL), a timeout and a failure to fork
 * are retried; a command that cannot be executed makes the endpoint
 * down; any other exit, a signal or output over the limit fails.  Error
 * messages end with the tail of stderr.  Text put into JSON is made
 * valid UTF-8 first: bytes that are not become U+FFFD.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "execresult.h"
#include "util.h"

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t len)
{
	uint32_t cp, min;
	size_t n, k;

	if (p[0] >= 0x01 && p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 1;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 2;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 3;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;	/* NUL, a stray continuation, a bad lead */
	}
	if (n >= len)
		return 0;
	for (k = 1; k <= n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n + 1;
}

/* Appends p as text fit for a JSON string: bad bytes become U+FFFD. */
static void
add_text(struct buf *out, const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0, n;

	while (i < len) {
		if ((n = utf8_seq(u + i, len - i)) == 0) {
			buf_adds(out, "\xef\xbf\xbd");
			i++;
		} else {
			buf_add(out, p + i, n);
			i += n;
		}
	}
}

static bool
utf8_valid(const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0, n;

	while (i < len) {
		if ((n = utf8_seq(u + i, len - i)) == 0)
			return false;
		i += n;
	}
	return true;
}

/* True if p is exactly one JSON object, white space around allowed. */
static bool
is_json_object(const char *p, size_t len)
{
	const char *end = NULL;
	cJSON *v;
	bool ok;

	if (!utf8_valid(p, len))
		return false;
	v = cJSON_ParseWithLengthOpts(p, len, &end, 0);
	ok = cJSON_IsObject(v);
	cJSON_Delete(v);
	if (!ok || end == NULL)
		return false;
	for (; end < p + len; end++)
		if (*end != ' ' && *end != '\t' && *end != '\n' &&
		    *end != '\r')
			return false;
	return true;
}

void
execresult_format_body(struct buf *out, const char *p, size_t len)
{
	struct buf text = BUF_INIT;
	cJSON *obj;
	char *s;

	if (len > 0 && is_json_object(p, len)) {
		buf_add(out, p, len);
		return;
	}
	add_text(&text, p, len);
	obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "output", text.data != NULL ?
	    text.data : "");
	s = cJSON_PrintUnformatted(obj);
	SPOOL_ASSERT(s != NULL);
	buf_adds(out, s);
	cJSON_free(s);
	cJSON_Delete(obj);
	buf_release(&text);
}

/* ": [...]TAIL" of stderr, trimmed, if there is any. */
static void
add_stderr(struct buf *m, const struct execrun_status *st)
{
	const char *p = st->err, *nl;
	size_t len = st->err_len;
	bool cut = st->err_cut;

	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r' ||
	    p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len > EXECRUN_STDERR_TAIL) {
		p += len - EXECRUN_STDERR_TAIL;
		len = EXECRUN_STDERR_TAIL;
		cut = true;
	}
	/* Do not start in the middle of a character, nor of a line if
	 * a whole one follows. */
	while (cut && len > 0 && ((unsigned char)*p & 0xc0) == 0x80) {
		p++;
		len--;
	}
	if (cut && (nl = memchr(p, '\n', len)) != NULL &&
	    nl + 1 < p + len) {
		len -= (size_t)(nl - p);
		p = nl;
	}
	if (len == 0)
		return;
	buf_adds(m, cut ? ": ..." : ": ");
	add_text(m, p, len);
}

static void
add_duration(struct buf *m, uint64_t ms)
{
	if (ms % 1000 == 0)
		buf_addf(m, "%llu s", (unsigned long long)(ms / 1000));
	else
		buf_addf(m, "%llu ms", (unsigned long long)ms);
}

void
execresult_judge(const struct execrun_status *st, struct execresult *v)
{
	struct buf m = BUF_INIT;
	const char *code;

	memset(v, 0, sizeof(*v));
	if (st->start_errno != 0) {
		/* Out of processes or descriptors: ours, and passing. */
		v->outcome = OUTCOME_RETRY;
		code = "exec_start";
		buf_addf(&m, "exec: cannot start %s: %s", st->command,
		    strerror(st->start_errno));
	} else if (st->exec_errno != 0) {
		/* No request can succeed: the endpoint waits, like one
		 * that refuses connections. */
		v->outcome = OUTCOME_ENDPOINT_DOWN;
		code = "exec_unavailable";
		buf_addf(&m, "exec: cannot run %s: %s: %s", st->command,
		    st->exec_step, strerror(st->exec_errno));
	} else if (st->timed_out) {
		v->outcome = OUTCOME_RETRY;
		code = "request_timeout";
		buf_adds(&m, "exec: timed out after ");
		add_duration(&m, st->timeout_ms);
	} else if (st->too_large) {
		v->outcome = OUTCOME_FAIL;
		code = "response_too_large";
		buf_adds(&m, "exec: output exceeds the configured limit");
	} else if (st->exited && st->exit_code == 0) {
		v->outcome = OUTCOME_OK;
		v->status = 200;
		return;
	} else if (st->exited && st->exit_code == EX_TEMPFAIL) {
		v->outcome = OUTCOME_RETRY;
		code = "exec_tempfail";
		buf_addf(&m, "exec: exit %d (temporary failure)",
		    st->exit_code);
	} else if (st->exited) {
		v->outcome = OUTCOME_FAIL;
		code = "exec_exit";
		buf_addf(&m, "exec: exit %d", st->exit_code);
	} else if (st->signal != 0) {
		v->outcome = OUTCOME_FAIL;
		code = "exec_signal";
		buf_addf(&m, "exec: killed by signal %d (%s)", st->signal,
		    strsignal(st->signal));
	} else {
		v->outcome = OUTCOME_FAIL;
		code = "exec_error";
		buf_adds(&m, "exec: the command's exit status was lost");
	}
	if (st->exec_errno == 0 && st->start_errno == 0)
		add_stderr(&m, st);
	snprintf(v->code, sizeof(v->code), "%s", code);
	v->message = buf_detach(&m, NULL);
}

void
execresult_release(struct execresult *v)
{
	free(v->message);
	v->message = NULL;
}
