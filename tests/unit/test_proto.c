/*
 * test_proto - supervisor/worker framing over a socketpair, and the
 * classification of HTTP outcomes (http.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "http.h"
#include "record.h"
#include "proto.h"
#include "util.h"

struct pair {
	struct chan	 a;	/* the writer */
	struct chan	 b;	/* the reader */
};

static int
setup_pair(void **state)
{
	struct pair *p = xcalloc(1, sizeof(*p));
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		free(p);
		return -1;
	}
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1) {
		close(sv[0]);
		close(sv[1]);
		free(p);
		return -1;
	}
	chan_init(&p->a, sv[0]);
	chan_init(&p->b, sv[1]);
	*state = p;
	return 0;
}

static int
teardown_pair(void **state)
{
	struct pair *p = *state;

	chan_close(&p->a);
	chan_close(&p->b);
	free(p);
	return 0;
}

static void
put_task(struct buf *out, uint32_t id, const char *name)
{
	size_t mark;

	proto_begin(out, PROTO_TASK, &mark);
	proto_put_u32(out, id);
	proto_put_str(out, name);
	proto_end(out, mark);
}

static void
test_proto_roundtrip(void **state)
{
	struct pair *p = *state;
	static const char bytes[] = { 'a', '\0', 'b', '\xff' };
	struct proto_msg m;
	const char *bp;
	size_t mark, blen;
	uint32_t u32;
	uint64_t u64;
	char *s;

	proto_begin(&p->a.out, PROTO_RESULT, &mark);
	proto_put_u32(&p->a.out, 0xdeadbeefU);
	proto_put_u64(&p->a.out, 0x0123456789abcdefULL);
	proto_put_str(&p->a.out, "hello");
	proto_put_str(&p->a.out, NULL);
	proto_put_bytes(&p->a.out, bytes, sizeof(bytes));
	proto_put_u32(&p->a.out, 7);
	proto_end(&p->a.out, mark);
	assert_true(chan_pending(&p->a));
	assert_int_equal(chan_flush(&p->a), 0);
	assert_false(chan_pending(&p->a));

	assert_int_equal(chan_read(&p->b), 1);
	assert_int_equal(chan_next(&p->b, &m), 1);
	assert_int_equal(m.type, PROTO_RESULT);
	assert_int_equal(proto_get_u32(&m, &u32), 0);
	assert_int_equal(u32, 0xdeadbeefU);
	assert_int_equal(proto_get_u64(&m, &u64), 0);
	assert_int_equal(u64, 0x0123456789abcdefULL);
	assert_int_equal(proto_get_str(&m, &s), 0);
	assert_string_equal(s, "hello");
	free(s);
	assert_int_equal(proto_get_str(&m, &s), 0);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(proto_get_bytes(&m, &bp, &blen), 0);
	assert_int_equal(blen, sizeof(bytes));
	assert_memory_equal(bp, bytes, sizeof(bytes));
	assert_int_equal(proto_done(&m), -1);	/* the last u32 is left */
	assert_int_equal(proto_get_u32(&m, &u32), 0);
	assert_int_equal(u32, 7);
	assert_int_equal(proto_done(&m), 0);
	/* Nothing more. */
	assert_int_equal(chan_next(&p->b, &m), 0);
	assert_int_equal(chan_read(&p->b), 1);	/* EAGAIN counts as 1 */
	assert_int_equal(chan_next(&p->b, &m), 0);
}

static void
test_proto_get_past_end(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	const char *bp;
	size_t mark, blen;
	uint32_t u32;
	uint64_t u64;
	char *s = NULL;

	proto_begin(&p->a.out, PROTO_ENDPOINT, &mark);
	proto_put_u32(&p->a.out, 1);
	proto_end(&p->a.out, mark);
	/* An empty message is valid too. */
	proto_begin(&p->a.out, PROTO_TASK, &mark);
	proto_end(&p->a.out, mark);
	assert_int_equal(chan_flush(&p->a), 0);
	assert_int_equal(chan_read(&p->b), 1);

	assert_int_equal(chan_next(&p->b, &m), 1);
	assert_int_equal(m.type, PROTO_ENDPOINT);
	assert_int_equal(proto_get_u64(&m, &u64), -1);	/* 4 < 8 */
	assert_int_equal(proto_get_u32(&m, &u32), 0);
	assert_int_equal(proto_done(&m), 0);
	assert_int_equal(proto_get_u32(&m, &u32), -1);
	assert_int_equal(proto_get_str(&m, &s), -1);
	assert_null(s);
	assert_int_equal(proto_get_bytes(&m, &bp, &blen), -1);

	assert_int_equal(chan_next(&p->b, &m), 1);
	assert_int_equal(m.type, PROTO_TASK);
	assert_int_equal(m.left, 0);
	assert_int_equal(proto_done(&m), 0);
	assert_int_equal(proto_get_u32(&m, &u32), -1);
}

static void
test_proto_bytes_length_checked(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	const char *bp;
	size_t mark, blen;
	char *s = NULL;

	/* A byte string claiming more than the message holds. */
	proto_begin(&p->a.out, PROTO_TASK, &mark);
	proto_put_u32(&p->a.out, 100);
	buf_add(&p->a.out, "short", 5);
	proto_end(&p->a.out, mark);
	/* A string with a NUL inside. */
	proto_begin(&p->a.out, PROTO_TASK, &mark);
	proto_put_bytes(&p->a.out, "a\0b", 3);
	proto_end(&p->a.out, mark);
	assert_int_equal(chan_flush(&p->a), 0);
	assert_int_equal(chan_read(&p->b), 1);

	assert_int_equal(chan_next(&p->b, &m), 1);
	assert_int_equal(proto_get_bytes(&m, &bp, &blen), -1);
	assert_int_equal(chan_next(&p->b, &m), 1);
	assert_int_equal(proto_get_str(&m, &s), -1);
	assert_null(s);
}

static void
test_proto_two_messages_one_read(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	uint32_t id;
	char *name;

	put_task(&p->a.out, 1, "first");
	put_task(&p->a.out, 2, "second");
	assert_int_equal(chan_flush(&p->a), 0);
	assert_int_equal(chan_read(&p->b), 1);

	assert_int_equal(chan_next(&p->b, &m), 1);
	assert_int_equal(m.type, PROTO_TASK);
	assert_int_equal(proto_get_u32(&m, &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(proto_get_str(&m, &name), 0);
	assert_string_equal(name, "first");
	free(name);
	assert_int_equal(proto_done(&m), 0);

	assert_int_equal(chan_next(&p->b, &m), 1);
	assert_int_equal(proto_get_u32(&m, &id), 0);
	assert_int_equal(id, 2);
	assert_int_equal(proto_get_str(&m, &name), 0);
	assert_string_equal(name, "second");
	free(name);
	assert_int_equal(proto_done(&m), 0);

	assert_int_equal(chan_next(&p->b, &m), 0);

	/* The consumed bytes are dropped on the next read. */
	put_task(&p->a.out, 3, "third");
	assert_int_equal(chan_flush(&p->a), 0);
	assert_int_equal(chan_read(&p->b), 1);
	assert_int_equal(chan_next(&p->b, &m), 1);
	assert_int_equal(proto_get_u32(&m, &id), 0);
	assert_int_equal(id, 3);
}

static void
test_proto_partial_message(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	struct buf msg = BUF_INIT;
	uint32_t id;

	put_task(&msg, 42, "split");
	/* The header and a bit: not a message yet. */
	assert_int_equal(write_full(p->a.fd, msg.data, 10), 0);
	assert_int_equal(chan_read(&p->b), 1);
	assert_int_equal(chan_next(&p->b, &m), 0);
	assert_int_equal(write_full(p->a.fd, msg.data + 10, msg.len - 10), 0);
	assert_int_equal(chan_read(&p->b), 1);
	assert_int_equal(chan_next(&p->b, &m), 1);
	assert_int_equal(proto_get_u32(&m, &id), 0);
	assert_int_equal(id, 42);
	buf_release(&msg);
}

static void
test_proto_eof(void **state)
{
	struct pair *p = *state;

	close(p->a.fd);
	p->a.fd = -1;
	assert_int_equal(chan_read(&p->b), 0);
}

static void
test_proto_large_message(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	const char *bp;
	char *big;
	size_t mark, blen, want = 200000;
	int r, got = 0, i;

	big = xmalloc(want);
	memset(big, 'B', want);
	proto_begin(&p->a.out, PROTO_RESULT, &mark);
	proto_put_bytes(&p->a.out, big, want);
	proto_end(&p->a.out, mark);
	/* Interleave flushes and reads: the socket buffer is smaller. */
	for (i = 0; i < 1000 && !got; i++) {
		assert_int_equal(chan_flush(&p->a), 0);
		assert_int_equal(chan_read(&p->b), 1);
		r = chan_next(&p->b, &m);
		assert_true(r >= 0);
		got = r;
	}
	assert_int_equal(got, 1);
	assert_int_equal(proto_get_bytes(&m, &bp, &blen), 0);
	assert_int_equal(blen, want);
	assert_memory_equal(bp, big, want);
	assert_int_equal(proto_done(&m), 0);
	free(big);
}

/* Feeds a raw 8-byte header into a channel without a socket. */
static int
next_for_header(uint32_t len, uint32_t type)
{
	struct chan c;
	struct proto_msg m;
	int r;

	chan_init(&c, -1);
	buf_add(&c.in, &len, 4);
	buf_add(&c.in, &type, 4);
	errno = 0;
	r = chan_next(&c, &m);
	if (r == -1)
		assert_int_equal(errno, EPROTO);
	chan_close(&c);
	return r;
}

static void
test_proto_bad_frames(void **state)
{
	(void)state;
	assert_int_equal(next_for_header(0, 0), -1);
	assert_int_equal(next_for_header(0, 4), -1);
	assert_int_equal(next_for_header(0, 0xffffffffU), -1);
	assert_int_equal(next_for_header(PROTO_MAX_MSG, PROTO_TASK), -1);
	assert_int_equal(next_for_header(0xffffffffU, PROTO_TASK), -1);
	/* Valid headers: a message, or not yet. */
	assert_int_equal(next_for_header(0, PROTO_ENDPOINT), 1);
	assert_int_equal(next_for_header(0, PROTO_RESULT), 1);
	assert_int_equal(next_for_header(4, PROTO_TASK), 0);
	assert_int_equal(next_for_header(PROTO_MAX_MSG - 1, PROTO_TASK), 0);
}

static void
test_proto_bad_frame_over_socket(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	uint32_t hdr[2] = { 0, 77 };

	assert_int_equal(write_full(p->a.fd, hdr, sizeof(hdr)), 0);
	assert_int_equal(chan_read(&p->b), 1);
	assert_int_equal(chan_next(&p->b, &m), -1);
}

/* http.h */

static void
classify(long status, const char *body, struct http_verdict *v)
{
	struct http_response r;

	http_response_init(&r);
	r.status = status;
	r.body = body;
	r.len = body != NULL ? strlen(body) : 0;
	http_classify(&r, v);
}

static void
test_proto_http_ok(void **state)
{
	struct http_verdict v;

	(void)state;
	classify(200, "{\"id\":\"x\"}", &v);
	assert_int_equal(v.outcome, OUTCOME_OK);
	assert_string_equal(v.code, "");
	assert_int_equal(v.retry_after_ms, -1);
	classify(201, "", &v);
	assert_int_equal(v.outcome, OUTCOME_OK);
}

static void
test_proto_http_retryable(void **state)
{
	static const long codes[] = { 500, 502, 503, 504, 529, 408, 409,
	    429 };
	struct http_verdict v;
	char want[16];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(codes); i++) {
		classify(codes[i], NULL, &v);
		assert_int_equal(v.outcome, OUTCOME_RETRY);
		snprintf(want, sizeof(want), "http_%ld", codes[i]);
		assert_string_equal(v.code, want);
	}
	classify(429, "{\"error\":{\"code\":\"rate_limit_exceeded\","
	    "\"message\":\"slow down\"}}", &v);
	assert_int_equal(v.outcome, OUTCOME_RETRY);
	assert_string_equal(v.code, "rate_limit_exceeded");
	assert_non_null(strstr(v.message, "slow down"));
	/* Anthropic's overloaded_error is a type, not a code. */
	classify(529, "{\"type\":\"error\",\"error\":{\"type\":"
	    "\"overloaded_error\",\"message\":\"Overloaded\"}}", &v);
	assert_int_equal(v.outcome, OUTCOME_RETRY);
	assert_string_equal(v.code, "overloaded_error");
}

static void
test_proto_http_quota_is_permanent(void **state)
{
	struct http_verdict v;

	(void)state;
	classify(429, "{\"error\":{\"code\":\"insufficient_quota\","
	    "\"message\":\"You exceeded your current quota\"}}", &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);
	assert_string_equal(v.code, "insufficient_quota");
}

static void
test_proto_http_permanent(void **state)
{
	struct http_verdict v;

	(void)state;
	classify(400, "{\"error\":{\"code\":\"invalid_model\","
	    "\"message\":\"no such model\"}}", &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);
	assert_string_equal(v.code, "invalid_model");
	assert_non_null(strstr(v.message, "400"));
	assert_non_null(strstr(v.message, "no such model"));
	classify(400, "not json", &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);
	assert_string_equal(v.code, "http_400");
	/* Our credentials, not the request: the endpoint is paused. */
	classify(401, NULL, &v);
	assert_int_equal(v.outcome, OUTCOME_ENDPOINT_DOWN);
	assert_string_equal(v.code, "http_401");
	classify(403, NULL, &v);
	assert_int_equal(v.outcome, OUTCOME_ENDPOINT_DOWN);
	classify(404, "{\"error\":{\"code\":null,\"message\":\"gone\"}}", &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);
	assert_string_equal(v.code, "http_404");
	classify(404, "{\"error\":\"flat string\"}", &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);
	assert_string_equal(v.code, "http_404");
	classify(418, "", &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);
}

static void
test_proto_http_transport_errors(void **state)
{
	struct http_response r;
	struct http_verdict v;

	(void)state;
	http_response_init(&r);
	r.curl_code = CURLE_OPERATION_TIMEDOUT;
	assert_int_equal(r.curl_code, 28);
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_RETRY);
	assert_string_equal(v.code, "request_timeout");
	assert_true(v.message[0] != '\0');

	http_response_init(&r);
	r.curl_code = CURLE_COULDNT_CONNECT;
	r.curl_error = "Failed to connect to 127.0.0.1 port 9";
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_ENDPOINT_DOWN);
	assert_string_equal(v.code, "network_error");
	assert_string_equal(v.message, r.curl_error);

	/* A certificate we cannot trust fails every request alike. */
	http_response_init(&r);
	r.curl_code = CURLE_PEER_FAILED_VERIFICATION;
	r.curl_error = "SSL certificate problem: self-signed certificate";
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_ENDPOINT_DOWN);
	assert_string_equal(v.message, r.curl_error);
	http_response_init(&r);
	r.curl_code = CURLE_SSL_CONNECT_ERROR;
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_ENDPOINT_DOWN);

	http_response_init(&r);
	r.curl_code = CURLE_RECV_ERROR;	/* a reset mid-response */
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_RETRY);

	http_response_init(&r);
	r.status = 200;
	r.too_large = 1;
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);
	assert_string_equal(v.code, "response_too_large");
}

static void
test_proto_http_should_retry_header(void **state)
{
	static const char no[] = "x-should-retry: false\r\n";
	static const char yes[] = "X-Should-Retry: true\r\n";
	struct http_response r;
	struct http_verdict v;

	(void)state;
	http_response_init(&r);
	assert_int_equal(r.should_retry, -1);
	r.status = 500;
	http_parse_header(&r, no, sizeof(no) - 1);
	assert_int_equal(r.should_retry, 0);
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);

	http_response_init(&r);
	r.status = 400;
	http_parse_header(&r, yes, sizeof(yes) - 1);
	assert_int_equal(r.should_retry, 1);
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_RETRY);
}

static void
feed(struct http_response *r, const char *line)
{
	http_parse_header(r, line, strlen(line));
}

/* Feeds "name: TIME" with TIME secs from now in RFC 3339. */
static void
rfc3339_in(struct http_response *r, const char *name, time_t secs)
{
	char line[128], when[32];
	time_t t = time(NULL) + secs;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(line, sizeof(line), "%s: %s\r\n", name, when);
	feed(r, line);
}

static void
test_proto_http_ratelimit_reset(void **state)
{
	struct http_response r;
	struct http_verdict v;

	(void)state;
	http_response_init(&r);
	feed(&r, "x-ratelimit-reset-requests: 1.5s\r\n");
	feed(&r, "x-ratelimit-reset-tokens: 6m0s\r\n");
	assert_int_equal(r.reset_ms, 360000);
	r.status = 429;
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_RETRY);
	assert_int_equal(v.retry_after_ms, 360000);
	http_response_init(&r);
	feed(&r, "x-ratelimit-reset-requests: 250ms\r\n");
	assert_int_equal(r.reset_ms, 250);
	feed(&r, "x-ratelimit-reset-tokens: bogus\r\n");
	assert_int_equal(r.reset_ms, 250);
	/* An explicit Retry-After wins over the reset. */
	feed(&r, "retry-after-ms: 40\r\n");
	r.status = 429;
	http_classify(&r, &v);
	assert_int_equal(v.retry_after_ms, 40);
	/* The scarcest of the remaining budgets, OpenAI or Anthropic. */
	http_response_init(&r);
	feed(&r, "x-ratelimit-remaining-requests: 59\r\n");
	feed(&r, "x-ratelimit-remaining-tokens: 3\r\n");
	assert_int_equal(r.remaining, 3);
	http_response_init(&r);
	feed(&r, "anthropic-ratelimit-requests-remaining: 0\r\n");
	rfc3339_in(&r, "anthropic-ratelimit-requests-reset", 3600);
	assert_int_equal(r.remaining, 0);
	assert_true(r.reset_ms > 3590000 && r.reset_ms <= 3600000);
	/* More than a day ahead is a skewed clock, not a wait. */
	http_response_init(&r);
	feed(&r, "anthropic-ratelimit-tokens-reset: 2999-01-01T00:00:00Z\r\n");
	assert_int_equal(r.reset_ms, -1);
	feed(&r, "anthropic-ratelimit-tokens-reset: 2001-01-01T00:00:00Z\r\n");
	assert_int_equal(r.reset_ms, 0);
	/* Connection refused: the endpoint, not the request. */
	http_response_init(&r);
	r.curl_code = 7;
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_ENDPOINT_DOWN);
}

static void
test_proto_http_parse_header(void **state)
{
	struct http_response r;
	struct http_verdict v;
	char longid[300];

	(void)state;
	http_response_init(&r);
	assert_int_equal(r.retry_after_ms, -1);
	feed(&r, "retry-after-ms: 250\r\n");
	assert_int_equal(r.retry_after_ms, 250);
	/* The precise header wins whatever the order. */
	feed(&r, "Retry-After: 2\r\n");
	assert_int_equal(r.retry_after_ms, 250);

	http_response_init(&r);
	feed(&r, "Retry-After: 2\r\n");
	assert_int_equal(r.retry_after_ms, 2000);
	feed(&r, "Retry-After-Ms: 10\r\n");
	assert_int_equal(r.retry_after_ms, 10);
	r.status = 429;
	http_classify(&r, &v);
	assert_int_equal(v.outcome, OUTCOME_RETRY);
	assert_int_equal(v.retry_after_ms, 10);

	http_response_init(&r);
	feed(&r, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n");
	assert_int_equal(r.retry_after_ms, -1);
	feed(&r, "Retry-After: -5\r\n");
	assert_int_equal(r.retry_after_ms, -1);
	feed(&r, "Retry-After:\r\n");
	assert_int_equal(r.retry_after_ms, -1);
	/* Found by fuzz_http: strtod takes "nan", and its cast to an
	 * integer is undefined.  Waits past a day are ignored too. */
	feed(&r, "Retry-After: nan\r\n");
	feed(&r, "retry-after-ms: NAN\r\n");
	feed(&r, "Retry-After: 86401\r\n");
	feed(&r, "x-ratelimit-reset-tokens: nans\r\n");
	feed(&r, "x-ratelimit-reset-requests: 1ms-nanms\r\n");
	feed(&r, "x-ratelimit-reset-requests: 24h1ms\r\n");
	assert_int_equal(r.retry_after_ms, -1);
	assert_int_equal(r.reset_ms, -1);
	feed(&r, "Retry-After: 86400\r\n");
	assert_int_equal(r.retry_after_ms, 86400000);
	feed(&r, "x-ratelimit-reset-requests: 24h\r\n");
	assert_int_equal(r.reset_ms, 86400000);

	http_response_init(&r);
	feed(&r, "x-request-id: abc\r\n");
	assert_string_equal(r.request_id, "abc");
	feed(&r, "request-id: req_011\r\n");
	assert_string_equal(r.request_id, "req_011");
	/* Other headers leave everything alone. */
	feed(&r, "content-type: application/json\r\n");
	feed(&r, "x-request-idx: nope\r\n");
	feed(&r, "HTTP/1.1 200 OK\r\n");
	feed(&r, "\r\n");
	assert_string_equal(r.request_id, "req_011");
	assert_int_equal(r.retry_after_ms, -1);
	assert_int_equal(r.should_retry, -1);

	/* An over-long id is cut to fit. */
	memcpy(longid, "x-request-id: ", 14);
	memset(longid + 14, 'r', 250);
	strcpy(longid + 264, "\r\n");
	feed(&r, longid);
	assert_int_equal(strlen(r.request_id), sizeof(r.request_id) - 1);
}

/* Usage as the worker reads it: one parse, then record_usage. */
static void
usage_of(const char *body, size_t len, uint64_t *in, uint64_t *out)
{
	cJSON *parsed = cJSON_ParseWithLength(body, len);

	record_usage(parsed, in, out);
	cJSON_Delete(parsed);
}

static void
test_proto_http_usage(void **state)
{
	static const char openai[] = "{\"usage\":{\"prompt_tokens\":10,"
	    "\"completion_tokens\":20}}";
	static const char anthropic[] = "{\"usage\":{\"input_tokens\":3,"
	    "\"output_tokens\":4}}";
	uint64_t in, out;

	(void)state;
	usage_of(openai, sizeof(openai) - 1, &in, &out);
	assert_int_equal(in, 10);
	assert_int_equal(out, 20);
	usage_of(anthropic, sizeof(anthropic) - 1, &in, &out);
	assert_int_equal(in, 3);
	assert_int_equal(out, 4);
	usage_of("<html>", 6, &in, &out);
	assert_int_equal(in, 0);
	assert_int_equal(out, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_proto_roundtrip,
		    setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_proto_get_past_end,
		    setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_proto_bytes_length_checked,
		    setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(
		    test_proto_two_messages_one_read, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_proto_partial_message,
		    setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_proto_eof,
		    setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_proto_large_message,
		    setup_pair, teardown_pair),
		cmocka_unit_test(test_proto_bad_frames),
		cmocka_unit_test_setup_teardown(
		    test_proto_bad_frame_over_socket, setup_pair,
		    teardown_pair),
		cmocka_unit_test(test_proto_http_ok),
		cmocka_unit_test(test_proto_http_retryable),
		cmocka_unit_test(test_proto_http_quota_is_permanent),
		cmocka_unit_test(test_proto_http_permanent),
		cmocka_unit_test(test_proto_http_transport_errors),
		cmocka_unit_test(test_proto_http_should_retry_header),
		cmocka_unit_test(test_proto_http_parse_header),
		cmocka_unit_test(test_proto_http_ratelimit_reset),
		cmocka_unit_test(test_proto_http_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
