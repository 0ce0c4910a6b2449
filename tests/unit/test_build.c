/*
 * test_build - the pure parts of spoolctl build and collect: template
 * placeholders, paragraph chunking, CSV records, the DOCUMENT#N/M ids
 * and the text of a response body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "chunk.h"
#include "collect.h"
#include "csv.h"
#include "docid.h"
#include "task.h"
#include "template.h"
#include "util.h"

/* name=value pairs for the placeholders, NULL-terminated. */
static const char *
pairs(const char *name, void *arg)
{
	const char *const *kv = arg;

	for (; kv[0] != NULL; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static char *
subst(const char *s, const char *const *kv, int *rc)
{
	struct buf out = BUF_INIT;
	struct err err;

	*rc = template_subst(s, pairs, (void *)kv, &out, &err);
	buf_addc(&out, '\0');
	return buf_detach(&out, NULL);
}

static void
test_build_subst_placeholders(void **state)
{
	static const char *const kv[] = { "text", "T", "document", "doc",
	    "a.b-c_1", "X", NULL };
	char *s;
	int rc;

	(void)state;
	s = subst("[{{text}}|{{ document }}|{{a.b-c_1}}]", kv, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(s, "[T|doc|X]");
	free(s);
	/* Not placeholders: kept as text. */
	s = subst("{{ not one }} {{}} {{x y}} {{open {single} }}", kv, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(s, "{{ not one }} {{}} {{x y}} {{open {single} }}");
	free(s);
	s = subst("{{{text}}}", kv, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(s, "{T}");
	free(s);
}

static void
test_build_subst_values_not_rescanned(void **state)
{
	static const char *const kv[] = { "text", "{{document}}", "document",
	    "oops", NULL };
	char *s;
	int rc;

	(void)state;
	s = subst("<{{text}}>", kv, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(s, "<{{document}}>");
	free(s);
}

static void
test_build_subst_unknown(void **state)
{
	static const char *const kv[] = { "text", "T", NULL };
	struct buf out = BUF_INIT;
	struct err err;

	(void)state;
	assert_int_equal(template_subst("a {{missing}} b", pairs, (void *)kv,
	    &out, &err), -1);
	assert_non_null(strstr(err.msg, "{{missing}}"));
	buf_release(&out);
}

static cJSON *
tmpl(const char *text)
{
	struct err err;
	cJSON *t = template_parse(text, strlen(text), &err);

	assert_non_null(t);
	return t;
}

static void
test_build_template_parse_rejects(void **state)
{
	struct err err;

	(void)state;
	assert_null(template_parse("{\"model\":", 9, &err));
	assert_null(template_parse("[1,2]", 5, &err));
	assert_null(template_parse("{\"custom_id\":\"x\",\"body\":{}}", 27,
	    &err));
	assert_non_null(strstr(err.msg, "custom_id"));
}

/* Formats one line and parses it back. */
static cJSON *
format(const cJSON *t, const char *id, const char *const *kv)
{
	struct task_limits lim;
	struct buf out = BUF_INIT;
	struct err err;
	cJSON *line;

	task_limits_default(&lim);
	if (template_format(t, id, pairs, (void *)kv, &lim, &out, &err) ==
	    -1) {
		buf_release(&out);
		return NULL;
	}
	assert_null(memchr(out.data, '\n', out.len));
	line = cJSON_ParseWithLength(out.data, out.len);
	assert_non_null(line);
	buf_release(&out);
	return line;
}

static const char *
str_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static void
test_build_format_bare_body(void **state)
{
	static const char hostile[] = "quote \" backslash \\ newline \n tab "
	    "\t bell \a caf\xc3\xa9 \xe6\x97\xa5 {{text}}";
	const char *kv[] = { "text", hostile, NULL };
	cJSON *t, *line, *msg;
	char *first;

	(void)state;
	t = tmpl("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"Say: {{text}}\"}],\"temperature\":0}");
	line = format(t, "doc#1/2", kv);
	assert_non_null(line);
	/* custom_id first, then method, url, body. */
	assert_string_equal(line->child->string, "custom_id");
	assert_string_equal(str_at(line, "custom_id", NULL), "doc#1/2");
	assert_string_equal(str_at(line, "method", NULL), "POST");
	assert_string_equal(str_at(line, "url", NULL),
	    "/v1/chat/completions");
	msg = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(line, "body"), "messages"), 0);
	first = xasprintf("Say: %s", hostile);
	assert_string_equal(str_at(msg, "content", NULL), first);
	free(first);
	cJSON_Delete(line);
	cJSON_Delete(t);
	/* A prompt goes to /v1/completions, as for a loose .json. */
	t = tmpl("{\"model\":\"m\",\"prompt\":\"{{text}}\"}");
	line = format(t, "d#1/1", kv);
	assert_string_equal(str_at(line, "url", NULL), "/v1/completions");
	cJSON_Delete(line);
	cJSON_Delete(t);
}

static void
test_build_format_request_line(void **state)
{
	const char *kv[] = { "text", "hi", "model", "claude-x", NULL };
	cJSON *t, *line;

	(void)state;
	t = tmpl("{\"params\":{\"model\":\"{{model}}\",\"max_tokens\":10,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"{{text}}\"}]}}");
	line = format(t, "a#1/1", kv);
	assert_non_null(line);
	assert_string_equal(line->child->string, "custom_id");
	assert_string_equal(str_at(line, "params", "model"), "claude-x");
	cJSON_Delete(line);
	cJSON_Delete(t);
	t = tmpl("{\"method\":\"POST\",\"url\":\"/v1/responses\","
	    "\"body\":{\"model\":\"m\",\"input\":\"{{text}}\"},"
	    "\"max_attempts\":3}");
	line = format(t, "b#1/1", kv);
	assert_non_null(line);
	assert_string_equal(str_at(line, "url", NULL), "/v1/responses");
	assert_string_equal(str_at(line, "body", "input"), "hi");
	cJSON_Delete(line);
	cJSON_Delete(t);
}

static void
test_build_format_refuses(void **state)
{
	const char *kv[] = { "text", "hi", NULL };
	cJSON *t;

	(void)state;
	/* What spoold would refuse: an unknown url, streaming, no body. */
	t = tmpl("{\"method\":\"POST\",\"url\":\"https://x/v1\","
	    "\"body\":{\"messages\":[]}}");
	assert_null(format(t, "a#1/1", kv));
	cJSON_Delete(t);
	t = tmpl("{\"messages\":[],\"stream\":true}");
	assert_null(format(t, "a#1/1", kv));
	cJSON_Delete(t);
	t = tmpl("{\"model\":\"{{nope}}\",\"messages\":[]}");
	assert_null(format(t, "a#1/1", kv));
	cJSON_Delete(t);
	t = tmpl("{\"temperature\":1}");
	assert_null(format(t, "a#1/1", kv));
	cJSON_Delete(t);
}

#define MAX_PIECES	32

/* The pieces of text at max, as NUL-terminated copies. */
static size_t
pieces(const char *text, size_t max, char **out)
{
	struct chunk_iter it;
	size_t off, len, n = 0;

	chunk_init(&it, text, strlen(text), max);
	while (chunk_next(&it, &off, &len)) {
		assert_true(n < MAX_PIECES);
		assert_true(len > 0);
		/* Over max only when max cannot hold one character. */
		if (max >= 4)
			assert_true(len <= max);
		out[n++] = xstrndup(text + off, len);
	}
	return n;
}

static void
free_pieces(char **p, size_t n)
{
	while (n > 0)
		free(p[--n]);
}

static void
test_build_chunk_paragraphs(void **state)
{
	const char *doc = "\n\nAaaa aaa.\n\nBbbb\nbbb.\n \t\nCccc ccc.\n\n";
	char *p[MAX_PIECES];
	size_t n;

	(void)state;
	/* No limit: the whole text, blank lines around it dropped. */
	n = pieces(doc, 0, p);
	assert_int_equal(n, 1);
	assert_string_equal(p[0], "Aaaa aaa.\n\nBbbb\nbbb.\n \t\nCccc ccc.");
	free_pieces(p, n);
	/* Room for two paragraphs, not three: packed greedily. */
	n = pieces(doc, 22, p);
	assert_int_equal(n, 2);
	assert_string_equal(p[0], "Aaaa aaa.\n\nBbbb\nbbb.");
	assert_string_equal(p[1], "Cccc ccc.");
	free_pieces(p, n);
	/* One paragraph each. */
	n = pieces(doc, 10, p);
	assert_int_equal(n, 3);
	assert_string_equal(p[0], "Aaaa aaa.");
	assert_string_equal(p[1], "Bbbb\nbbb.");
	assert_string_equal(p[2], "Cccc ccc.");
	free_pieces(p, n);
}

static void
test_build_chunk_oversize_paragraph(void **state)
{
	char *p[MAX_PIECES];
	size_t n;

	(void)state;
	/* At line ends first. */
	n = pieces("one two\nthree four\nfive", 12, p);
	assert_int_equal(n, 3);
	assert_string_equal(p[0], "one two");
	assert_string_equal(p[1], "three four");
	assert_string_equal(p[2], "five");
	free_pieces(p, n);
	/* Then between words. */
	n = pieces("alpha beta gamma delta", 11, p);
	assert_int_equal(n, 2);
	assert_string_equal(p[0], "alpha beta");
	assert_string_equal(p[1], "gamma delta");
	free_pieces(p, n);
	/* A word longer than max: cut, never inside a character. */
	n = pieces("\xc3\xa9\xc3\xa9\xc3\xa9", 3, p);
	assert_int_equal(n, 3);
	assert_string_equal(p[0], "\xc3\xa9");
	free_pieces(p, n);
	/* max below one character: the character whole. */
	n = pieces("\xe6\x97\xa5\xe6\x9c\xac", 1, p);
	assert_int_equal(n, 2);
	assert_string_equal(p[1], "\xe6\x9c\xac");
	free_pieces(p, n);
}

static void
test_build_chunk_empty(void **state)
{
	char *p[MAX_PIECES];

	(void)state;
	assert_int_equal(pieces("", 0, p), 0);
	assert_int_equal(pieces("\n \n\t\n", 10, p), 0);
}

/* Reads all records of data; returns how many, or -1. */
static int
csv_all(const char *data, struct csv_record *recs, size_t max,
    size_t *errline)
{
	struct csv_reader r;
	struct err err;
	int n = 0, rc;

	csv_init(&r, data, strlen(data));
	for (;;) {
		assert_true((size_t)n < max);
		memset(&recs[n], 0, sizeof(recs[n]));
		rc = csv_next(&r, &recs[n], &err);
		if (rc != 1) {
			csv_record_release(&recs[n]);
			if (rc == -1) {
				*errline = r.errline;
				while (n > 0)
					csv_record_release(&recs[--n]);
				return -1;
			}
			return n;
		}
		n++;
	}
}

static void
test_build_csv_quoting(void **state)
{
	struct csv_record r[8];
	size_t errline = 0;
	int n, i;

	(void)state;
	n = csv_all("id,text\r\n"
	    "1,\"a, \"\"quoted\"\"\r\nsecond line\"\r\n"
	    "\r\n"
	    "2,5\" screen\n"
	    "3,\n"
	    "\"\",\"\"", r, 8, &errline);
	assert_int_equal(n, 5);
	assert_int_equal(r[0].n, 2);
	assert_string_equal(r[0].fields[1], "text");
	assert_int_equal(r[1].lineno, 2);
	assert_string_equal(r[1].fields[1],
	    "a, \"quoted\"\r\nsecond line");
	/* The empty line is skipped; lines still count. */
	assert_int_equal(r[2].lineno, 5);
	assert_string_equal(r[2].fields[1], "5\" screen");
	assert_int_equal(r[3].n, 2);
	assert_string_equal(r[3].fields[1], "");
	assert_int_equal(r[4].n, 2);
	assert_string_equal(r[4].fields[0], "");
	for (i = 0; i < n; i++)
		csv_record_release(&r[i]);
	/* A comma at the very end is one more, empty, field. */
	n = csv_all("a,b,", r, 8, &errline);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].n, 3);
	csv_record_release(&r[0]);
}

static void
test_build_csv_errors(void **state)
{
	struct csv_record r[8];
	size_t errline = 0;

	(void)state;
	assert_int_equal(csv_all("a,b\n1,\"open\nstill open\n", r, 8,
	    &errline), -1);
	assert_int_equal(errline, 2);
	assert_int_equal(csv_all("a,b\n\n1,\"x\"y\n", r, 8, &errline), -1);
	assert_int_equal(errline, 3);
}

static void
test_docid_format_round_trip(void **state)
{
	char id[600], doc[DOCID_NAME_MAX + 1];
	size_t n, m;

	(void)state;
	docid_format("notes#v2 caf\xc3\xa9", 3, 12, id, sizeof(id));
	assert_string_equal(id, "notes#v2 caf\xc3\xa9#3/12");
	assert_int_equal(docid_parse(id, doc, &n, &m), 0);
	assert_string_equal(doc, "notes#v2 caf\xc3\xa9");
	assert_int_equal(n, 3);
	assert_int_equal(m, 12);
	/* Not build's. */
	assert_int_equal(docid_parse("req-1", doc, &n, &m), -1);
	assert_int_equal(docid_parse("#1/1", doc, &n, &m), -1);
	assert_int_equal(docid_parse("a#0/1", doc, &n, &m), -1);
	assert_int_equal(docid_parse("a#2/1", doc, &n, &m), -1);
	assert_int_equal(docid_parse("a#1/x", doc, &n, &m), -1);
	assert_int_equal(docid_parse("a#-1/2", doc, &n, &m), -1);
	assert_int_equal(docid_parse("a#1", doc, &n, &m), -1);
}

static void
test_docid_name(void **state)
{
	char raw[300], out[DOCID_NAME_MAX + 1];

	(void)state;
	docid_name("../etc/passwd", out);
	assert_string_equal(out, "_._etc_passwd");
	docid_name("line\nbreak", out);
	assert_string_equal(out, "line_break");
	/* 199 ASCII bytes then a 2-byte character: it does not fit. */
	memset(raw, 'a', 199);
	memcpy(raw + 199, "\xc3\xa9zz", 5);
	docid_name(raw, out);
	assert_int_equal(strlen(out), 199);
}

static void
text_of(const char *json, int want_rc, const char *want)
{
	struct buf out = BUF_INIT;
	struct err err;
	cJSON *body = cJSON_Parse(json);

	assert_non_null(body);
	assert_int_equal(collect_text(body, &out, &err), want_rc);
	if (want_rc == 0)
		assert_string_equal(out.data != NULL ? out.data : "", want);
	else
		assert_non_null(strstr(err.msg, want));
	cJSON_Delete(body);
	buf_release(&out);
}

static void
test_build_collect_text(void **state)
{
	(void)state;
	text_of("{\"choices\":[{\"message\":{\"role\":\"assistant\","
	    "\"content\":\"hello\"}}]}", 0, "hello");
	text_of("{\"choices\":[{\"message\":{\"content\":null,"
	    "\"refusal\":\"no way\"}}]}", -1, "no way");
	text_of("{\"choices\":[{\"text\":\"done\"}]}", 0, "done");
	text_of("{\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
	    "{\"type\":\"tool_use\",\"text\":\"x\"},"
	    "{\"type\":\"text\",\"text\":\"b\"}]}", 0, "ab");
	text_of("{\"output\":[{\"type\":\"message\",\"content\":"
	    "[{\"type\":\"output_text\",\"text\":\"r\"}]}]}", 0, "r");
	text_of("{\"data\":[{\"embedding\":[0.1]}]}", -1, "no text");
	text_of("{\"choices\":[{\"message\":{\"content\":null}}]}", -1,
	    "no text");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_subst_placeholders),
		cmocka_unit_test(test_build_subst_values_not_rescanned),
		cmocka_unit_test(test_build_subst_unknown),
		cmocka_unit_test(test_build_template_parse_rejects),
		cmocka_unit_test(test_build_format_bare_body),
		cmocka_unit_test(test_build_format_request_line),
		cmocka_unit_test(test_build_format_refuses),
		cmocka_unit_test(test_build_chunk_paragraphs),
		cmocka_unit_test(test_build_chunk_oversize_paragraph),
		cmocka_unit_test(test_build_chunk_empty),
		cmocka_unit_test(test_build_csv_quoting),
		cmocka_unit_test(test_build_csv_errors),
		cmocka_unit_test(test_docid_format_round_trip),
		cmocka_unit_test(test_docid_name),
		cmocka_unit_test(test_build_collect_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
