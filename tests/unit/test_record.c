/*
 * test_record - output.jsonl / errors.jsonl lines and token usage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "record.h"
#include "util.h"

/* Checks the line framing and returns it parsed (caller deletes). */
static cJSON *
parse_line(const struct buf *b)
{
	cJSON *root;

	assert_true(b->len > 1);
	assert_int_equal(b->data[b->len - 1], '\n');
	assert_null(memchr(b->data, '\n', b->len - 1));
	assert_int_equal(strlen(b->data), b->len);
	root = cJSON_ParseWithLength(b->data, b->len);
	assert_non_null(root);
	assert_true(cJSON_IsObject(root));
	return root;
}

/* The top-level keys are exactly id, custom_id, response, error. */
static void
check_keys(const cJSON *root)
{
	static const char *const keys[] = { "id", "custom_id", "response",
	    "error" };
	const cJSON *item;
	size_t i, n = 0;

	cJSON_ArrayForEach(item, root) {
		for (i = 0; i < ARRAY_SIZE(keys); i++)
			if (strcmp(item->string, keys[i]) == 0)
				break;
		if (i == ARRAY_SIZE(keys))
			fail_msg("unexpected key %s", item->string);
		n++;
	}
	assert_int_equal(n, ARRAY_SIZE(keys));
}

static void
check_id(const cJSON *root)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
	size_t i;

	assert_true(cJSON_IsString(id));
	assert_int_equal(strncmp(id->valuestring, "batch_req_", 10), 0);
	assert_int_equal(strlen(id->valuestring), 10 + 24);
	for (i = 10; id->valuestring[i] != '\0'; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789",
		    id->valuestring[i]));
}

static void
test_record_success_line(void **state)
{
	static const char body[] = "{\"id\":\"chatcmpl-1\",\"choices\":[],"
	    "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}";
	struct buf b = BUF_INIT;
	cJSON *root, *resp, *rbody, *v;

	(void)state;
	record_format(&b, "req-1", 200, "req_abc", body, sizeof(body) - 1,
	    NULL, NULL);
	root = parse_line(&b);
	check_keys(root);
	check_id(root);
	v = cJSON_GetObjectItemCaseSensitive(root, "custom_id");
	assert_true(cJSON_IsString(v));
	assert_string_equal(v->valuestring, "req-1");
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root,
	    "error")));
	resp = cJSON_GetObjectItemCaseSensitive(root, "response");
	assert_true(cJSON_IsObject(resp));
	v = cJSON_GetObjectItemCaseSensitive(resp, "status_code");
	assert_true(cJSON_IsNumber(v));
	assert_int_equal(v->valueint, 200);
	v = cJSON_GetObjectItemCaseSensitive(resp, "request_id");
	assert_true(cJSON_IsString(v));
	assert_string_equal(v->valuestring, "req_abc");
	rbody = cJSON_GetObjectItemCaseSensitive(resp, "body");
	assert_true(cJSON_IsObject(rbody));
	v = cJSON_GetObjectItemCaseSensitive(rbody, "id");
	assert_string_equal(v->valuestring, "chatcmpl-1");
	assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(rbody,
	    "choices")));
	cJSON_Delete(root);
	buf_release(&b);
}

static void
test_record_ids_unique(void **state)
{
	struct buf b = BUF_INIT;
	cJSON *r1, *r2;

	(void)state;
	record_format(&b, "x", 200, NULL, "{}", 2, NULL, NULL);
	r1 = parse_line(&b);
	buf_reset(&b);
	record_format(&b, "x", 200, NULL, "{}", 2, NULL, NULL);
	r2 = parse_line(&b);
	assert_string_not_equal(
	    cJSON_GetObjectItemCaseSensitive(r1, "id")->valuestring,
	    cJSON_GetObjectItemCaseSensitive(r2, "id")->valuestring);
	/* A NULL request id becomes "". */
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(r1, "response"),
	    "request_id")->valuestring, "");
	cJSON_Delete(r1);
	cJSON_Delete(r2);
	buf_release(&b);
}

static void
test_record_error_no_response(void **state)
{
	struct buf b = BUF_INIT;
	cJSON *root, *err, *v;

	(void)state;
	record_format(&b, "bad-1", 0, NULL, NULL, 0, "invalid_request",
	    "url is not allowed");
	root = parse_line(&b);
	check_keys(root);
	check_id(root);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root,
	    "response")));
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	assert_true(cJSON_IsObject(err));
	v = cJSON_GetObjectItemCaseSensitive(err, "code");
	assert_true(cJSON_IsString(v));
	assert_string_equal(v->valuestring, "invalid_request");
	v = cJSON_GetObjectItemCaseSensitive(err, "message");
	assert_true(cJSON_IsString(v));
	assert_string_equal(v->valuestring, "url is not allowed");
	cJSON_Delete(root);

	/* A NULL message becomes "". */
	buf_reset(&b);
	record_format(&b, "bad-2", 0, NULL, NULL, 0, "x", NULL);
	root = parse_line(&b);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "error"),
	    "message")->valuestring, "");
	cJSON_Delete(root);
	buf_release(&b);
}

static void
test_record_error_with_response(void **state)
{
	static const char body[] = "{\"error\":{\"code\":\"bad\","
	    "\"message\":\"nope\"}}";
	struct buf b = BUF_INIT;
	cJSON *root, *resp;

	(void)state;
	record_format(&b, "r", 400, "rid", body, sizeof(body) - 1, "bad",
	    "HTTP 400: nope");
	root = parse_line(&b);
	check_keys(root);
	resp = cJSON_GetObjectItemCaseSensitive(root, "response");
	assert_true(cJSON_IsObject(resp));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(resp,
	    "status_code")->valueint, 400);
	assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root,
	    "error")));
	cJSON_Delete(root);
	buf_release(&b);
}

static void
test_record_non_json_body_wrapped(void **state)
{
	static const char html[] = "<html>502</html>";
	struct buf b = BUF_INIT;
	cJSON *root, *rbody, *err, *v;
	char *big;

	(void)state;
	record_format(&b, "r", 502, "", html, sizeof(html) - 1, "http_502",
	    "HTTP 502");
	root = parse_line(&b);
	rbody = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "response"), "body");
	assert_true(cJSON_IsObject(rbody));
	err = cJSON_GetObjectItemCaseSensitive(rbody, "error");
	assert_true(cJSON_IsObject(err));
	v = cJSON_GetObjectItemCaseSensitive(err, "message");
	assert_true(cJSON_IsString(v));
	assert_string_equal(v->valuestring, html);
	cJSON_Delete(root);

	/* A JSON value that is not an object is wrapped too. */
	buf_reset(&b);
	record_format(&b, "r", 200, "", "[1,2]", 5, NULL, NULL);
	root = parse_line(&b);
	rbody = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "response"), "body");
	assert_true(cJSON_IsObject(rbody));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(rbody, "error"),
	    "message")->valuestring, "[1,2]");
	cJSON_Delete(root);

	/* An empty body, and a huge one (kept only in part). */
	buf_reset(&b);
	record_format(&b, "r", 503, "", "", 0, "http_503", "");
	root = parse_line(&b);
	rbody = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "response"), "body");
	assert_true(cJSON_IsObject(rbody));
	cJSON_Delete(root);

	big = xmalloc(10000);
	memset(big, 'h', 10000);
	buf_reset(&b);
	record_format(&b, "r", 502, "", big, 10000, "http_502", "");
	root = parse_line(&b);
	rbody = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "response"), "body");
	v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(rbody, "error"), "message");
	assert_true(cJSON_IsString(v));
	assert_true(strlen(v->valuestring) > 0);
	assert_true(strlen(v->valuestring) < 10000);
	cJSON_Delete(root);
	free(big);
	buf_release(&b);
}

static void
test_record_appends_one_newline(void **state)
{
	struct buf b = BUF_INIT;
	const char *nl;

	(void)state;
	buf_adds(&b, "prefix\n");
	record_format(&b, "a", 200, "", "{}", 2, NULL, NULL);
	record_format(&b, "b", 0, NULL, NULL, 0, "c", "m");
	assert_int_equal(strncmp(b.data, "prefix\n{", 8), 0);
	nl = strchr(b.data + 7, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '{');
	nl = strchr(nl + 1, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
	assert_ptr_equal(nl, b.data + b.len - 1);
	buf_release(&b);
}

static void
test_record_custom_id_escaped(void **state)
{
	static const char *const ids[] = {
		"quote\"inside",
		"back\\slash",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"</script>",
		"tab\tand\nnewline",
	};
	struct buf b = BUF_INIT;
	cJSON *root;
	char *id;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		buf_reset(&b);
		record_format(&b, ids[i], 200, "", "{}", 2, NULL, NULL);
		root = parse_line(&b);
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(root,
		    "custom_id")->valuestring, ids[i]);
		cJSON_Delete(root);
		id = record_custom_id(b.data, b.len);
		assert_non_null(id);
		assert_string_equal(id, ids[i]);
		free(id);
	}
	buf_release(&b);
}

static void
test_record_usage(void **state)
{
	static const char openai[] = "{\"usage\":{\"prompt_tokens\":12,"
	    "\"completion_tokens\":34,\"total_tokens\":46}}";
	static const char anthropic[] = "{\"type\":\"message\",\"usage\":"
	    "{\"input_tokens\":5,\"output_tokens\":7}}";
	static const char none[] = "{\"id\":\"x\"}";
	static const char bad[] = "{\"usage\":{\"prompt_tokens\":-4,"
	    "\"completion_tokens\":\"9\"}}";
	static const char notobj[] = "{\"usage\":17}";
	/* Found by fuzzing: casting 1e30 to uint64_t is undefined. */
	static const char huge[] = "{\"usage\":{\"prompt_tokens\":1e30,"
	    "\"completion_tokens\":2e15,\"input_tokens\":3,"
	    "\"output_tokens\":1e15}}";
	cJSON *body;
	uint64_t in = 99, out = 99;

	(void)state;
	body = cJSON_Parse(openai);
	record_usage(body, &in, &out);
	assert_int_equal(in, 12);
	assert_int_equal(out, 34);
	cJSON_Delete(body);

	body = cJSON_Parse(anthropic);
	record_usage(body, &in, &out);
	assert_int_equal(in, 5);
	assert_int_equal(out, 7);
	cJSON_Delete(body);

	body = cJSON_Parse(none);
	record_usage(body, &in, &out);
	assert_int_equal(in, 0);
	assert_int_equal(out, 0);
	cJSON_Delete(body);

	in = out = 99;
	body = cJSON_Parse(bad);
	record_usage(body, &in, &out);
	assert_int_equal(in, 0);
	assert_int_equal(out, 0);
	cJSON_Delete(body);

	in = out = 99;
	body = cJSON_Parse(notobj);
	record_usage(body, &in, &out);
	assert_int_equal(in, 0);
	assert_int_equal(out, 0);
	cJSON_Delete(body);

	/* Counts no server sends are ignored, the others kept. */
	body = cJSON_Parse(huge);
	record_usage(body, &in, &out);
	assert_int_equal(in, 3);
	assert_int_equal(out, 1000000000000000ULL);
	cJSON_Delete(body);
}

static void
test_record_custom_id(void **state)
{
	static const char line[] = "{\"id\":\"batch_req_x\",\"custom_id\":"
	    "\"abc\",\"response\":null,\"error\":null}\n";
	static const char num[] = "{\"custom_id\":5}";
	char *id;

	(void)state;
	id = record_custom_id(line, sizeof(line) - 1);
	assert_non_null(id);
	assert_string_equal(id, "abc");
	free(id);
	assert_null(record_custom_id(num, sizeof(num) - 1));
	assert_null(record_custom_id("{\"id\":1}", 8));
	assert_null(record_custom_id("not json", 8));
	assert_null(record_custom_id("", 0));
	/* Only len bytes are read. */
	assert_null(record_custom_id(line, 20));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_success_line),
		cmocka_unit_test(test_record_ids_unique),
		cmocka_unit_test(test_record_error_no_response),
		cmocka_unit_test(test_record_error_with_response),
		cmocka_unit_test(test_record_non_json_body_wrapped),
		cmocka_unit_test(test_record_appends_one_newline),
		cmocka_unit_test(test_record_custom_id_escaped),
		cmocka_unit_test(test_record_usage),
		cmocka_unit_test(test_record_custom_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
