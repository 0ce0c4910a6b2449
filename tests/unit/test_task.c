/*
 * test_task - request line and loose file parsing and validation.
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
#include "task.h"
#include "util.h"

#define OPENAI_LINE \
	"{\"custom_id\":\"req-1\",\"method\":\"POST\"," \
	"\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o-mini\"," \
	"\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}"

/* Parses line with default limits, expecting failure with code. */
static void
expect_invalid(const char *line, const char *code)
{
	struct task_limits lim;
	struct task t;
	struct err err;

	task_limits_default(&lim);
	memset(&err, 0, sizeof(err));
	memset(&t, 0xa5, sizeof(t));
	if (task_parse_line(line, strlen(line), &lim, &t, &err) != -1)
		fail_msg("accepted: %s", line);
	assert_string_equal(err.code, code);
	assert_true(err.msg[0] != '\0');
	/* The task is left empty: nothing to release, nothing leaked. */
	assert_null(t.custom_id);
	assert_null(t.url);
	assert_null(t.endpoint);
	assert_null(t.body);
}

static void
test_task_openai_line(void **state)
{
	struct task_limits lim;
	struct task t;
	struct err err;
	const cJSON *model;

	(void)state;
	task_limits_default(&lim);
	assert_int_equal(task_parse_line(OPENAI_LINE, strlen(OPENAI_LINE),
	    &lim, &t, &err), 0);
	assert_int_equal(t.format, TASK_FORMAT_OPENAI);
	assert_string_equal(t.custom_id, "req-1");
	assert_string_equal(t.url, "/v1/chat/completions");
	assert_null(t.endpoint);
	assert_int_equal(t.max_attempts, 0);
	assert_int_equal(t.timeout_s, 0);
	assert_true(cJSON_IsObject(t.body));
	model = cJSON_GetObjectItemCaseSensitive(t.body, "model");
	assert_true(cJSON_IsString(model));
	assert_string_equal(model->valuestring, "gpt-4o-mini");
	assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(t.body,
	    "messages")));
	task_release(&t);
	assert_null(t.custom_id);
	assert_null(t.body);
}

static void
test_task_openai_line_with_newline_and_stream_false(void **state)
{
	static const char line[] = "{\"custom_id\":\"e\",\"method\":\"POST\","
	    "\"url\":\"/v1/embeddings\",\"body\":{\"input\":\"x\","
	    "\"stream\":false}}\r\n";
	struct task_limits lim;
	struct task t;
	struct err err;

	(void)state;
	task_limits_default(&lim);
	assert_int_equal(task_parse_line(line, sizeof(line) - 1, &lim, &t,
	    &err), 0);
	assert_string_equal(t.url, "/v1/embeddings");
	task_release(&t);
}

static void
test_task_anthropic_line(void **state)
{
	static const char line[] = "{\"custom_id\":\"a-1\",\"params\":{"
	    "\"model\":\"claude-3-5-haiku\",\"max_tokens\":64,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}";
	struct task_limits lim;
	struct task t;
	struct err err;

	(void)state;
	task_limits_default(&lim);
	assert_int_equal(task_parse_line(line, strlen(line), &lim, &t, &err),
	    0);
	assert_int_equal(t.format, TASK_FORMAT_ANTHROPIC);
	assert_string_equal(t.custom_id, "a-1");
	assert_string_equal(t.url, "/v1/messages");
	assert_true(cJSON_IsObject(t.body));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(t.body,
	    "max_tokens")->valueint, 64);
	task_release(&t);
}

static void
test_task_invalid_json(void **state)
{
	(void)state;
	expect_invalid("{\"custom_id\":", "invalid_json");
	expect_invalid("not json", "invalid_json");
	/* JSON is UTF-8: a custom_id or body that is not never gets in. */
	expect_invalid("{\"custom_id\":\"x\xff\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{}}", "invalid_json");
	expect_invalid("", "invalid_json");
	expect_invalid(OPENAI_LINE " {}", "invalid_json");
}

static void
test_task_not_an_object(void **state)
{
	(void)state;
	expect_invalid("[1,2,3]", "invalid_request");
	expect_invalid("\"custom_id\"", "invalid_request");
	expect_invalid("42", "invalid_request");
	expect_invalid("null", "invalid_request");
}

static void
test_task_custom_id_checks(void **state)
{
	struct buf b = BUF_INIT;
	char *longid;

	(void)state;
	/* missing */
	expect_invalid("{\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
	    "\"body\":{}}", "invalid_request");
	/* empty */
	expect_invalid("{\"custom_id\":\"\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{}}", "invalid_request");
	/* not a string */
	expect_invalid("{\"custom_id\":7,\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{}}", "invalid_request");
	expect_invalid("{\"custom_id\":null,\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{}}", "invalid_request");
	/* a control character */
	expect_invalid("{\"custom_id\":\"a\\nb\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{}}", "invalid_request");
	/* over 512 bytes */
	longid = xcalloc(1, 514);
	memset(longid, 'i', 513);
	buf_addf(&b, "{\"custom_id\":\"%s\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{}}", longid);
	expect_invalid(b.data, "invalid_request");
	free(longid);
	buf_release(&b);
}

static void
test_task_method_not_post(void **state)
{
	(void)state;
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"GET\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{}}", "invalid_request");
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"post\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{}}", "invalid_request");
	expect_invalid("{\"custom_id\":\"x\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{}}", "invalid_request");
}

static void
test_task_url_not_allowed(void **state)
{
	(void)state;
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"url\":\"https://evil/v1/chat/completions\",\"body\":{}}",
	    "invalid_request");
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"url\":\"/v1/files\",\"body\":{}}", "invalid_request");
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions/../files\",\"body\":{}}",
	    "invalid_request");
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"body\":{}}", "invalid_request");
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"url\":5,\"body\":{}}", "invalid_request");
	assert_true(task_url_allowed("/v1/chat/completions"));
	assert_true(task_url_allowed("/v1/completions"));
	assert_true(task_url_allowed("/v1/embeddings"));
	assert_true(task_url_allowed("/v1/responses"));
	assert_true(task_url_allowed("/v1/messages"));
	assert_false(task_url_allowed("/v1/files"));
	assert_false(task_url_allowed("/v1/chat/completions?x=1"));
	assert_false(task_url_allowed(""));
}

static void
test_task_body_checks(void **state)
{
	(void)state;
	/* missing body */
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\"}", "invalid_request");
	/* body not an object */
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":\"hi\"}",
	    "invalid_request");
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":[]}", "invalid_request");
	/* Anthropic params not an object */
	expect_invalid("{\"custom_id\":\"x\",\"params\":[1]}",
	    "invalid_request");
}

static void
test_task_stream_rejected(void **state)
{
	(void)state;
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{\"stream\":true}}",
	    "invalid_request");
	expect_invalid("{\"custom_id\":\"x\",\"params\":{\"stream\":true}}",
	    "invalid_request");
	expect_invalid("{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{\"stream\":1}}",
	    "invalid_request");
}

static void
test_task_unknown_field(void **state)
{
	struct task_limits lim;
	struct task t;
	struct err err;
	static const char line[] = "{\"custom_id\":\"x\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{},\"bogus\":1}";

	(void)state;
	expect_invalid(line, "invalid_request");
	task_limits_default(&lim);
	assert_int_equal(task_parse_line(line, strlen(line), &lim, &t, &err),
	    -1);
	assert_non_null(strstr(err.msg, "bogus"));
	expect_invalid("{\"custom_id\":\"x\",\"params\":{},\"method\":\"POST\"}",
	    "invalid_request");
}

/* The keys are found in one pass: the same answers as a lookup each. */
static void
test_task_key_pass(void **state)
{
	struct task_limits lim;
	struct task t;
	struct err err;
	static const char two_unknown[] = "{\"zz\":1,\"custom_id\":\"x\","
	    "\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
	    "\"body\":{},\"aa\":2}";
	static const char params_too[] = "{\"custom_id\":\"x\","
	    "\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
	    "\"params\":{},\"body\":{}}";
	static const char repeated[] = "{\"custom_id\":\"first\","
	    "\"custom_id\":\"second\",\"method\":\"POST\","
	    "\"url\":\"/v1/embeddings\",\"url\":\"/v1/files\","
	    "\"body\":{\"input\":\"a\"}}";
	static const char anthropic[] = "{\"params\":{\"model\":\"m\"},"
	    "\"custom_id\":\"a\",\"timeout_s\":30,\"endpoint\":\"e\"}";

	(void)state;
	task_limits_default(&lim);
	/* The first unknown key in the line's order is the one named. */
	assert_int_equal(task_parse_line(two_unknown, strlen(two_unknown),
	    &lim, &t, &err), -1);
	assert_non_null(strstr(err.msg, "\"zz\""));
	/* params beside body: an OpenAI line with an unknown field. */
	assert_int_equal(task_parse_line(params_too, strlen(params_too),
	    &lim, &t, &err), -1);
	assert_non_null(strstr(err.msg, "\"params\""));
	/* A repeated key: the first one counts. */
	assert_int_equal(task_parse_line(repeated, strlen(repeated), &lim,
	    &t, &err), 0);
	assert_string_equal(t.custom_id, "first");
	assert_string_equal(t.url, "/v1/embeddings");
	task_release(&t);
	/* Anthropic, with the extensions, keys in any order. */
	assert_int_equal(task_parse_line(anthropic, strlen(anthropic), &lim,
	    &t, &err), 0);
	assert_int_equal(t.format, TASK_FORMAT_ANTHROPIC);
	assert_string_equal(t.custom_id, "a");
	assert_string_equal(t.endpoint, "e");
	assert_int_equal(t.timeout_s, 30);
	task_release(&t);
}

static void
test_task_too_deep(void **state)
{
	struct task_limits lim;
	struct task t;
	struct err err;
	struct buf b = BUF_INIT;
	int i;

	(void)state;
	task_limits_default(&lim);
	lim.max_depth = 8;
	/* body at depth 2, then 6 more arrays: depth 8 is fine. */
	buf_adds(&b, "{\"custom_id\":\"d\",\"method\":\"POST\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{\"x\":");
	for (i = 0; i < 6; i++)
		buf_addc(&b, '[');
	for (i = 0; i < 6; i++)
		buf_addc(&b, ']');
	buf_adds(&b, "}}");
	assert_int_equal(task_json_depth(b.data, b.len), 8);
	assert_int_equal(task_parse_line(b.data, b.len, &lim, &t, &err), 0);
	task_release(&t);

	lim.max_depth = 7;
	memset(&err, 0, sizeof(err));
	assert_int_equal(task_parse_line(b.data, b.len, &lim, &t, &err), -1);
	assert_string_equal(err.code, "invalid_json");
	assert_null(t.body);

	/* A hostile nest far beyond cJSON's own limit never reaches it. */
	buf_reset(&b);
	for (i = 0; i < 100000; i++)
		buf_addc(&b, '[');
	task_limits_default(&lim);
	assert_int_equal(task_parse_line(b.data, b.len, &lim, &t, &err), -1);
	assert_string_equal(err.code, "invalid_json");
	buf_release(&b);
}

static void
test_task_too_long(void **state)
{
	struct task_limits lim;
	struct task t;
	struct err err;
	size_t len = strlen(OPENAI_LINE);

	(void)state;
	task_limits_default(&lim);
	lim.max_line = len;
	assert_int_equal(task_parse_line(OPENAI_LINE, len, &lim, &t, &err), 0);
	task_release(&t);
	lim.max_line = len - 1;
	memset(&err, 0, sizeof(err));
	assert_int_equal(task_parse_line(OPENAI_LINE, len, &lim, &t, &err),
	    -1);
	assert_string_equal(err.code, "invalid_request");
	assert_null(t.custom_id);
}

static void
test_task_nul_byte(void **state)
{
	static const char line[] = "{\"custom_id\":\"x\0\"}";
	struct task_limits lim;
	struct task t;
	struct err err;

	(void)state;
	task_limits_default(&lim);
	assert_int_equal(task_parse_line(line, sizeof(line) - 1, &lim, &t,
	    &err), -1);
	assert_string_equal(err.code, "invalid_json");
}

#define EXT_LINE(ext) \
	"{\"custom_id\":\"x\",\"method\":\"POST\"," \
	"\"url\":\"/v1/chat/completions\",\"body\":{}," ext "}"

static void
test_task_extensions(void **state)
{
	static const char line[] = EXT_LINE("\"endpoint\":\"local\","
	    "\"max_attempts\":3,\"timeout_s\":90");
	static const char aline[] = "{\"custom_id\":\"x\",\"params\":{},"
	    "\"endpoint\":\"claude\",\"max_attempts\":100,\"timeout_s\":1}";
	struct task_limits lim;
	struct task t;
	struct err err;

	(void)state;
	task_limits_default(&lim);
	assert_int_equal(task_parse_line(line, strlen(line), &lim, &t, &err),
	    0);
	assert_string_equal(t.endpoint, "local");
	assert_int_equal(t.max_attempts, 3);
	assert_int_equal(t.timeout_s, 90);
	task_release(&t);

	assert_int_equal(task_parse_line(aline, strlen(aline), &lim, &t,
	    &err), 0);
	assert_int_equal(t.format, TASK_FORMAT_ANTHROPIC);
	assert_string_equal(t.endpoint, "claude");
	assert_int_equal(t.max_attempts, 100);
	assert_int_equal(t.timeout_s, 1);
	task_release(&t);
}

static void
test_task_extensions_invalid(void **state)
{
	(void)state;
	expect_invalid(EXT_LINE("\"max_attempts\":0"), "invalid_request");
	expect_invalid(EXT_LINE("\"max_attempts\":101"), "invalid_request");
	expect_invalid(EXT_LINE("\"max_attempts\":-1"), "invalid_request");
	expect_invalid(EXT_LINE("\"max_attempts\":2.5"), "invalid_request");
	expect_invalid(EXT_LINE("\"max_attempts\":\"3\""), "invalid_request");
	expect_invalid(EXT_LINE("\"timeout_s\":0"), "invalid_request");
	expect_invalid(EXT_LINE("\"timeout_s\":86401"), "invalid_request");
	expect_invalid(EXT_LINE("\"timeout_s\":1.5"), "invalid_request");
	expect_invalid(EXT_LINE("\"timeout_s\":\"60\""), "invalid_request");
	expect_invalid(EXT_LINE("\"timeout_s\":1e300"), "invalid_request");
	expect_invalid(EXT_LINE("\"endpoint\":\"\""), "invalid_request");
	expect_invalid(EXT_LINE("\"endpoint\":3"), "invalid_request");
}

static void
test_task_file_bare_messages(void **state)
{
	static const char data[] = "{\"model\":\"m\",\"messages\":"
	    "[{\"role\":\"user\",\"content\":\"hi\"}]}\n";
	struct task_limits lim;
	struct task t;
	struct err err;

	(void)state;
	task_limits_default(&lim);
	assert_int_equal(task_parse_file(data, sizeof(data) - 1, "question",
	    &lim, &t, &err), 0);
	assert_int_equal(t.format, TASK_FORMAT_BARE);
	assert_string_equal(t.custom_id, "question");
	assert_string_equal(t.url, "/v1/chat/completions");
	assert_true(cJSON_IsObject(t.body));
	assert_non_null(cJSON_GetObjectItemCaseSensitive(t.body, "messages"));
	task_release(&t);
}

static void
test_task_file_bare_input(void **state)
{
	static const char data[] = "{\"model\":\"e\",\"input\":\"text\"}";
	static const char prompt[] = "{\"model\":\"c\",\"prompt\":\"p\"}";
	struct task_limits lim;
	struct task t;
	struct err err;

	(void)state;
	task_limits_default(&lim);
	assert_int_equal(task_parse_file(data, sizeof(data) - 1, "emb", &lim,
	    &t, &err), 0);
	assert_string_equal(t.url, "/v1/embeddings");
	assert_string_equal(t.custom_id, "emb");
	task_release(&t);
	assert_int_equal(task_parse_file(prompt, sizeof(prompt) - 1, "c",
	    &lim, &t, &err), 0);
	assert_string_equal(t.url, "/v1/completions");
	task_release(&t);
}

static void
test_task_file_full_request(void **state)
{
	struct task_limits lim;
	struct task t;
	struct err err;

	(void)state;
	task_limits_default(&lim);
	assert_int_equal(task_parse_file(OPENAI_LINE, strlen(OPENAI_LINE),
	    "stem", &lim, &t, &err), 0);
	assert_int_equal(t.format, TASK_FORMAT_OPENAI);
	assert_string_equal(t.custom_id, "req-1");
	assert_string_equal(t.url, "/v1/chat/completions");
	task_release(&t);
}

static void
test_task_file_invalid(void **state)
{
	static const char neither[] = "{\"model\":\"m\",\"hello\":1}";
	static const char badreq[] = "{\"custom_id\":\"x\",\"method\":\"GET\","
	    "\"url\":\"/v1/chat/completions\",\"body\":{}}";
	static const char stream[] = "{\"messages\":[],\"stream\":true}";
	struct task_limits lim;
	struct task t;
	struct err err;

	(void)state;
	task_limits_default(&lim);
	memset(&err, 0, sizeof(err));
	assert_int_equal(task_parse_file(neither, sizeof(neither) - 1, "s",
	    &lim, &t, &err), -1);
	assert_string_equal(err.code, "invalid_request");
	assert_null(t.custom_id);
	assert_null(t.body);
	assert_int_equal(task_parse_file(badreq, sizeof(badreq) - 1, "s",
	    &lim, &t, &err), -1);
	assert_string_equal(err.code, "invalid_request");
	assert_null(t.body);
	assert_int_equal(task_parse_file(stream, sizeof(stream) - 1, "s",
	    &lim, &t, &err), -1);
	assert_string_equal(err.code, "invalid_request");
	assert_int_equal(task_parse_file("{\"messages\":", 12, "s", &lim, &t,
	    &err), -1);
	assert_string_equal(err.code, "invalid_json");
	assert_int_equal(task_parse_file("[]", 2, "s", &lim, &t, &err), -1);
	assert_string_equal(err.code, "invalid_request");
}

static void
test_task_max_tokens(void **state)
{
	static const char *const lines[] = {
		"{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
		    "\"/v1/chat/completions\",\"body\":{\"max_tokens\":500}}",
		"{\"custom_id\":\"b\",\"method\":\"POST\",\"url\":"
		    "\"/v1/responses\",\"body\":{\"max_completion_tokens\":7}}",
		"{\"custom_id\":\"c\",\"method\":\"POST\",\"url\":"
		    "\"/v1/chat/completions\",\"body\":{\"max_tokens\":-3}}",
	};
	static const uint64_t want[] = { 500, 7, 0 };
	struct task_limits lim;
	struct task t;
	struct err err;
	size_t i;

	(void)state;
	task_limits_default(&lim);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(task_parse_line(lines[i], strlen(lines[i]),
		    &lim, &t, &err), 0);
		assert_int_equal(task_max_tokens(&t), want[i]);
		task_release(&t);
	}
}

static void
test_task_json_depth(void **state)
{
	static const char s1[] = "{\"a\":\"[[[{{{\"}";
	static const char s2[] = "{\"a\":\"\\\"[[[\"}";
	static const char s3[] = "[[{}],[[[]]]]";
	static const char s4[] = "\"\\\\\"[[]]";

	(void)state;
	assert_int_equal(task_json_depth("", 0), 0);
	assert_int_equal(task_json_depth("42", 2), 0);
	assert_int_equal(task_json_depth("{}", 2), 1);
	assert_int_equal(task_json_depth(s1, sizeof(s1) - 1), 1);
	/* An escaped quote does not end the string. */
	assert_int_equal(task_json_depth(s2, sizeof(s2) - 1), 1);
	assert_int_equal(task_json_depth(s3, sizeof(s3) - 1), 4);
	/* An escaped backslash does end it. */
	assert_int_equal(task_json_depth(s4, sizeof(s4) - 1), 2);
	/* Only len bytes count. */
	assert_int_equal(task_json_depth("[[[[", 2), 2);
}

static void
test_task_guess_custom_id(void **state)
{
	static const char ok[] = "{\"custom_id\": \"req-9\", \"body\":";
	static const char late[] = "{\"method\":\"POST\",\"custom_id\":\"z\"";
	static const char num[] = "{\"custom_id\":12}";
	static const char esc[] = "{\"custom_id\":\"a\\\"b\"}";
	static const char open[] = "{\"custom_id\":\"unterminated";
	static const char empty[] = "{\"custom_id\":\"\"}";
	char *id;

	(void)state;
	id = task_guess_custom_id(ok, sizeof(ok) - 1);
	assert_non_null(id);
	assert_string_equal(id, "req-9");
	free(id);
	id = task_guess_custom_id(late, sizeof(late) - 1);
	assert_non_null(id);
	assert_string_equal(id, "z");
	free(id);
	assert_null(task_guess_custom_id(num, sizeof(num) - 1));
	assert_null(task_guess_custom_id(esc, sizeof(esc) - 1));
	assert_null(task_guess_custom_id(open, sizeof(open) - 1));
	assert_null(task_guess_custom_id(empty, sizeof(empty) - 1));
	assert_null(task_guess_custom_id("garbage", 7));
	assert_null(task_guess_custom_id("{\"custom_id\":\"a\xff\"}", 17));
	/* len bounds the search. */
	assert_null(task_guess_custom_id(ok, 5));
	assert_null(task_guess_custom_id(ok, 20));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_task_openai_line),
		cmocka_unit_test(
		    test_task_openai_line_with_newline_and_stream_false),
		cmocka_unit_test(test_task_anthropic_line),
		cmocka_unit_test(test_task_invalid_json),
		cmocka_unit_test(test_task_not_an_object),
		cmocka_unit_test(test_task_custom_id_checks),
		cmocka_unit_test(test_task_method_not_post),
		cmocka_unit_test(test_task_url_not_allowed),
		cmocka_unit_test(test_task_body_checks),
		cmocka_unit_test(test_task_stream_rejected),
		cmocka_unit_test(test_task_unknown_field),
		cmocka_unit_test(test_task_key_pass),
		cmocka_unit_test(test_task_too_deep),
		cmocka_unit_test(test_task_too_long),
		cmocka_unit_test(test_task_nul_byte),
		cmocka_unit_test(test_task_extensions),
		cmocka_unit_test(test_task_extensions_invalid),
		cmocka_unit_test(test_task_file_bare_messages),
		cmocka_unit_test(test_task_file_bare_input),
		cmocka_unit_test(test_task_file_full_request),
		cmocka_unit_test(test_task_file_invalid),
		cmocka_unit_test(test_task_max_tokens),
		cmocka_unit_test(test_task_json_depth),
		cmocka_unit_test(test_task_guess_custom_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
