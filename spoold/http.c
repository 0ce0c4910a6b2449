/*
 * http - classifying responses.
 *
 * Retryable: network errors and timeouts, 408, 409, 429 (unless the
 * body says insufficient_quota), 500, 502, 503, 504, 529.  The server's
 * x-should-retry header overrides the status.  Everything else 4xx is
 * permanent and never retried: retrying it would spend money for the
 * same answer.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "http.h"
#include "util.h"

/* The longest wait a response may ask for; longer ones are ignored. */
#define DAY_MS	86400000.0

void
http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	r->retry_after_ms = -1;
	r->reset_ms = -1;
	r->remaining = -1;
	r->should_retry = -1;
}

/*
 * OpenAI's x-ratelimit-reset-* values are Go durations ("1s", "6m0s",
 * "250ms", "1.5s").  Returns milliseconds or -1.
 */
static int64_t
parse_go_duration(const char *v, size_t len)
{
	char tmp[64], *p, *end;
	double total = 0, d;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	for (p = tmp; *p != '\0'; p = end) {
		d = strtod(p, &end);
		/* !(d >= 0) refuses "nan" too: strtod takes it, and casting
		 * a NaN total is undefined (found by fuzz_http). */
		if (end == p || !(d >= 0))
			return -1;
		if (strncmp(end, "ms", 2) == 0) {
			end += 2;
		} else if (*end == 'h') {
			d *= 3600000;
			end++;
		} else if (*end == 'm') {
			d *= 60000;
			end++;
		} else if (*end == 's') {
			d *= 1000;
			end++;
		} else {
			return -1;
		}
		total += d;
	}
	return !(total <= DAY_MS) ? -1 : (int64_t)total;
}

/* The value of header name in line, trimmed; NULL if another header. */
static const char *
header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
	size_t n = strlen(name);
	const char *v, *end = line + len;

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	v = line + n + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	*vlen = (size_t)(end - v);
	return v;
}

static int64_t
parse_ms(const char *v, size_t len, double scale)
{
	char tmp[32], *end;
	double d;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	d = strtod(tmp, &end) * scale;
	/*
	 * An HTTP-date Retry-After is rare from LLM APIs: use backoff.
	 * Past a day (or 86.4 million, for a count) is not believable;
	 * "nan" fails the range test as written, where d < 0 let it
	 * through to an undefined cast (found by fuzz_http).
	 */
	if (*end != '\0' || !(d >= 0 && d <= DAY_MS))
		return -1;
	return (int64_t)d;
}

/*
 * Anthropic's *-reset headers are RFC 3339 times ("2026-11-27T07:30:00Z"):
 * milliseconds from now until then, or -1.  A reset more than a day
 * ahead (a skewed clock, "9999-...") is -1, as for the Go durations: it
 * would hold the endpoint for years.
 */
static int64_t
parse_rfc3339_in_ms(const char *v, size_t len)
{
	char tmp[64];
	struct tm tm;
	const char *end;
	time_t t, now;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(tmp, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	now = time(NULL);
	if (t <= now)
		return 0;
	return t - now > DAY_MS / 1000 ? -1 : (int64_t)(t - now) * 1000;
}

void
http_parse_header(struct http_response *r, const char *line, size_t len)
{
	const char *v;
	size_t vlen;
	int64_t ms;

	if ((v = header_value(line, len, "x-request-id", &vlen)) != NULL ||
	    (v = header_value(line, len, "request-id", &vlen)) != NULL) {
		if (vlen >= sizeof(r->request_id))
			vlen = sizeof(r->request_id) - 1;
		memcpy(r->request_id, v, vlen);
		r->request_id[vlen] = '\0';
	} else if ((v = header_value(line, len, "retry-after-ms", &vlen)) !=
	    NULL) {
		/* The more precise header wins over Retry-After. */
		if ((ms = parse_ms(v, vlen, 1)) >= 0)
			r->retry_after_ms = ms;
	} else if ((v = header_value(line, len, "retry-after", &vlen)) !=
	    NULL) {
		if (r->retry_after_ms < 0 &&
		    (ms = parse_ms(v, vlen, 1000)) >= 0)
			r->retry_after_ms = ms;
	} else if ((v = header_value(line, len, "x-ratelimit-reset-requests",
	    &vlen)) != NULL ||
	    (v = header_value(line, len, "x-ratelimit-reset-tokens", &vlen)) !=
	    NULL) {
		/* The later of the two resets is when a retry can pass. */
		if ((ms = parse_go_duration(v, vlen)) > r->reset_ms)
			r->reset_ms = ms;
	} else if ((v = header_value(line, len,
	    "x-ratelimit-remaining-requests", &vlen)) != NULL ||
	    (v = header_value(line, len, "x-ratelimit-remaining-tokens",
	    &vlen)) != NULL ||
	    (v = header_value(line, len,
	    "anthropic-ratelimit-requests-remaining", &vlen)) != NULL ||
	    (v = header_value(line, len,
	    "anthropic-ratelimit-tokens-remaining", &vlen)) != NULL) {
		/* The scarcest budget is the one that matters. */
		if ((ms = parse_ms(v, vlen, 1)) >= 0 &&
		    (r->remaining < 0 || ms < r->remaining))
			r->remaining = ms;
	} else if ((v = header_value(line, len,
	    "anthropic-ratelimit-requests-reset", &vlen)) != NULL ||
	    (v = header_value(line, len, "anthropic-ratelimit-tokens-reset",
	    &vlen)) != NULL) {
		if ((ms = parse_rfc3339_in_ms(v, vlen)) > r->reset_ms)
			r->reset_ms = ms;
	} else if ((v = header_value(line, len, "x-should-retry", &vlen)) !=
	    NULL) {
		if (vlen == 4 && strncasecmp(v, "true", 4) == 0)
			r->should_retry = 1;
		else if (vlen == 5 && strncasecmp(v, "false", 5) == 0)
			r->should_retry = 0;
	}
}

static int
retryable_status(long s)
{
	return s == 408 || s == 409 || s == 429 || s == 500 || s == 502 ||
	    s == 503 || s == 504 || s == 529;
}

/* The provider's error code or type, if the body has one. */
static void
body_error(const char *body, size_t len, char *code, size_t codelen,
    char *msg, size_t msglen)
{
	cJSON *root, *err, *v;

	code[0] = msg[0] = '\0';
	if (body == NULL || len == 0 ||
	    (root = cJSON_ParseWithLength(body, len)) == NULL)
		return;
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsObject(err)) {
		v = cJSON_GetObjectItemCaseSensitive(err, "code");
		if (!cJSON_IsString(v))
			v = cJSON_GetObjectItemCaseSensitive(err, "type");
		if (cJSON_IsString(v))
			snprintf(code, codelen, "%s", v->valuestring);
		v = cJSON_GetObjectItemCaseSensitive(err, "message");
		if (cJSON_IsString(v))
			snprintf(msg, msglen, "%s", v->valuestring);
	}
	cJSON_Delete(root);
}

/*
 * Transport failures that no other request to the same endpoint would
 * escape: spending attempts on them would dead-letter the whole queue
 * over a down host or a certificate that cannot be trusted (expired,
 * wrong name, an intercepting proxy, our ca_file unreadable).
 */
static bool
endpoint_unreachable(int curl_code)
{
	switch (curl_code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return true;
	default:
		return false;
	}
}

void
http_classify(const struct http_response *r, struct http_verdict *v)
{
	char pcode[32], pmsg[200];

	memset(v, 0, sizeof(*v));
	v->retry_after_ms = r->retry_after_ms;
	if (r->too_large) {
		v->outcome = OUTCOME_FAIL;
		snprintf(v->code, sizeof(v->code), "response_too_large");
		snprintf(v->message, sizeof(v->message),
		    "response body exceeds the configured limit");
		return;
	}
	if (r->curl_code != CURLE_OK || r->status == 0) {
		/* Nobody listening, no such host, or no TLS session we can
		 * trust: the endpoint is down, not this request. */
		v->outcome = endpoint_unreachable(r->curl_code) ?
		    OUTCOME_ENDPOINT_DOWN : OUTCOME_RETRY;
		if (r->curl_code == CURLE_OPERATION_TIMEDOUT)
			snprintf(v->code, sizeof(v->code), "request_timeout");
		else
			snprintf(v->code, sizeof(v->code), "network_error");
		snprintf(v->message, sizeof(v->message), "%s",
		    r->curl_error != NULL && r->curl_error[0] != '\0' ?
		    r->curl_error : curl_easy_strerror(r->curl_code));
		return;
	}
	if (r->status >= 200 && r->status < 300) {
		v->outcome = OUTCOME_OK;
		return;
	}
	body_error(r->body, r->len, pcode, sizeof(pcode), pmsg, sizeof(pmsg));
	if (pcode[0] != '\0')
		snprintf(v->code, sizeof(v->code), "%s", pcode);
	else
		snprintf(v->code, sizeof(v->code), "http_%ld", r->status);
	snprintf(v->message, sizeof(v->message), "HTTP %ld%s%s", r->status,
	    pmsg[0] != '\0' ? ": " : "", pmsg);
	if (r->status == 429 && v->retry_after_ms < 0)
		v->retry_after_ms = r->reset_ms;
	if (r->status == 401 || r->status == 403)
		v->outcome = OUTCOME_ENDPOINT_DOWN;	/* our credentials */
	else if (r->should_retry == 1)
		v->outcome = OUTCOME_RETRY;
	else if (r->should_retry == 0)
		v->outcome = OUTCOME_FAIL;
	else if (r->status == 429 && strcmp(pcode, "insufficient_quota") == 0)
		v->outcome = OUTCOME_FAIL;	/* more tries will not pay */
	else
		v->outcome = retryable_status(r->status) ? OUTCOME_RETRY :
		    OUTCOME_FAIL;
}
