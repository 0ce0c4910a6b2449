/*
 * task - parsing and validating requests.
 *
 * The JSON depth is counted on the raw text before cJSON sees it: cJSON
 * recurses per level, so a hostile line of nested brackets must never
 * reach it (its own limit is 1000 levels).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "spool_limits.h"
#include "task.h"
#include "util.h"

static const char *const allowed_urls[] = {
	"/v1/chat/completions",
	"/v1/completions",
	"/v1/embeddings",
	"/v1/responses",
	"/v1/messages",
};

void
task_limits_default(struct task_limits *lim)
{
	lim->max_line = SPOOL_DEF_MAX_LINE;
	lim->max_depth = SPOOL_DEF_JSON_DEPTH;
}

bool
task_url_allowed(const char *url)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(allowed_urls); i++)
		if (strcmp(url, allowed_urls[i]) == 0)
			return true;
	return false;
}

int
task_json_depth(const char *text, size_t len)
{
	int depth = 0, max = 0;
	bool in_str = false;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}

uint64_t
task_max_tokens(const struct task *t)
{
	const cJSON *v;

	v = cJSON_GetObjectItemCaseSensitive(t->body, "max_tokens");
	if (!cJSON_IsNumber(v))
		v = cJSON_GetObjectItemCaseSensitive(t->body,
		    "max_completion_tokens");
	if (cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1e7)
		return (uint64_t)v->valuedouble;
	return 0;
}

uint64_t
task_prompt_tokens(size_t body_len)
{
	return body_len / 4 + 1;
}

const char *
task_model(const struct task *t)
{
	const cJSON *v;

	v = cJSON_GetObjectItemCaseSensitive(t->body, "model");
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void
task_release(struct task *t)
{
	free(t->custom_id);
	free(t->url);
	free(t->endpoint);
	cJSON_Delete(t->body);
	memset(t, 0, sizeof(*t));
}

static cJSON *
parse_bounded(const char *text, size_t len, const struct task_limits *lim,
    struct err *err)
{
	cJSON *root;
	const char *end = NULL;

	if (len > lim->max_line) {
		err_set(err, "invalid_request",
		    "request is %zu bytes, over the limit of %zu", len,
		    lim->max_line);
		return NULL;
	}
	if (task_json_depth(text, len) > lim->max_depth) {
		err_set(err, "invalid_json",
		    "JSON nested deeper than %d levels", lim->max_depth);
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL) {
		err_set(err, "invalid_json", "NUL byte in request");
		return NULL;
	}
	/* JSON is UTF-8 (RFC 8259), and so must be every record that
	 * quotes a custom_id or carries a body on. */
	if (utf8_check(text, len) < len) {
		err_set(err, "invalid_json", "request is not valid UTF-8 "
		    "(byte %zu)", utf8_check(text, len));
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (root == NULL) {
		err_set(err, "invalid_json", "invalid JSON near byte %zu",
		    end != NULL && end >= text ? (size_t)(end - text) :
		    (size_t)0);
		return NULL;
	}
	/* Only whitespace may follow the value. */
	for (; end != NULL && end < text + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\r' &&
		    *end != '\n') {
			cJSON_Delete(root);
			err_set(err, "invalid_json",
			    "trailing data after the JSON value");
			return NULL;
		}
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		err_set(err, "invalid_request", "request is not a JSON object");
		return NULL;
	}
	return root;
}

/* "stream": true cannot be written to a batch result (SPEC §5). */
static int
check_body(const cJSON *body, struct err *err)
{
	const cJSON *stream;

	if (!cJSON_IsObject(body)) {
		err_set(err, "invalid_request", "body must be a JSON object");
		return -1;
	}
	stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
	if (stream != NULL && !cJSON_IsFalse(stream) && !cJSON_IsNull(stream)) {
		err_set(err, "invalid_request",
		    "\"stream\" is not supported in a batch");
		return -1;
	}
	return 0;
}

static int
check_custom_id(const cJSON *v, struct err *err)
{
	size_t n;
	const unsigned char *p;

	if (!cJSON_IsString(v)) {
		err_set(err, "invalid_request",
		    "custom_id is missing or not a string");
		return -1;
	}
	n = strlen(v->valuestring);
	if (n == 0 || n > SPOOL_CUSTOM_ID_MAX) {
		err_set(err, "invalid_request",
		    "custom_id must be 1 to %d bytes", SPOOL_CUSTOM_ID_MAX);
		return -1;
	}
	for (p = (const unsigned char *)v->valuestring; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			err_set(err, "invalid_request",
			    "custom_id contains a control character");
			return -1;
		}
	}
	return 0;
}

/* The keys a request line may have, found in one pass over its object. */
struct line_keys {
	cJSON		*custom_id;
	cJSON		*method;
	cJSON		*url;
	cJSON		*body;
	cJSON		*params;
	cJSON		*endpoint;
	cJSON		*max_attempts;
	cJSON		*timeout_s;
	const char	*unknown;	/* the first key of neither format */
	const char	*not_openai;	/* the first unknown or "params" */
};

/*
 * Every line is looked at twice (validated when claimed, parsed again
 * when sent): one walk with a switch replaces the fifty-odd strcmp()s
 * that a lookup per key and a check of every key against each format's
 * list cost.  The first of a repeated key wins, as with
 * cJSON_GetObjectItemCaseSensitive.
 */
static void
find_keys(cJSON *root, struct line_keys *k)
{
	cJSON *item, **slot;
	const char *n;

	memset(k, 0, sizeof(*k));
	cJSON_ArrayForEach(item, root) {
		n = item->string;
		slot = NULL;
		switch (n[0]) {
		case 'b':
			if (strcmp(n, "body") == 0)
				slot = &k->body;
			break;
		case 'c':
			if (strcmp(n, "custom_id") == 0)
				slot = &k->custom_id;
			break;
		case 'e':
			if (strcmp(n, "endpoint") == 0)
				slot = &k->endpoint;
			break;
		case 'm':
			if (strcmp(n, "method") == 0)
				slot = &k->method;
			else if (strcmp(n, "max_attempts") == 0)
				slot = &k->max_attempts;
			break;
		case 'p':
			if (strcmp(n, "params") == 0)
				slot = &k->params;
			break;
		case 't':
			if (strcmp(n, "timeout_s") == 0)
				slot = &k->timeout_s;
			break;
		case 'u':
			if (strcmp(n, "url") == 0)
				slot = &k->url;
			break;
		}
		if (slot == NULL && k->unknown == NULL)
			k->unknown = n;
		if ((slot == NULL || slot == &k->params) &&
		    k->not_openai == NULL)
			k->not_openai = n;
		if (slot != NULL && *slot == NULL)
			*slot = item;
	}
}

/* An optional member v, an integer from 1 to max: -1 (err) if not. */
static int
int_member(const cJSON *v, const char *name, int max, int *out,
    struct err *err)
{
	double d;

	if (v == NULL)
		return 0;
	d = cJSON_IsNumber(v) ? v->valuedouble : -1;
	if (d < 1 || d > max || d != (int)d) {
		err_set(err, "invalid_request",
		    "%s must be an integer from 1 to %d", name, max);
		return -1;
	}
	*out = (int)d;
	return 0;
}

/* The optional spoold extensions shared by both line formats. */
static int
parse_extensions(const struct line_keys *k, struct task *t, struct err *err)
{
	const cJSON *v;

	if ((v = k->endpoint) != NULL) {
		if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
		    strlen(v->valuestring) > SPOOL_ENDPOINT_NAME_MAX) {
			err_set(err, "invalid_request",
			    "endpoint must be a configured endpoint name");
			return -1;
		}
		t->endpoint = xstrdup(v->valuestring);
	}
	if (int_member(k->max_attempts, "max_attempts", SPOOL_MAX_ATTEMPTS,
	    &t->max_attempts, err) == -1 ||
	    int_member(k->timeout_s, "timeout_s", 86400, &t->timeout_s,
	    err) == -1)
		return -1;
	return 0;
}

static const char *const anthropic_keys[] = { "custom_id", "params",
    "endpoint", "max_attempts", "timeout_s" };

/* The first key of root not in keys, or NULL. */
static const char *
first_other_key(const cJSON *root, const char *const *keys, size_t nkeys)
{
	const cJSON *item;
	size_t i;

	cJSON_ArrayForEach(item, root) {
		for (i = 0; i < nkeys; i++)
			if (strcmp(item->string, keys[i]) == 0)
				break;
		if (i == nkeys)
			return item->string;
	}
	return NULL;
}

static int
parse_request(cJSON *root, struct task *t, struct err *err)
{
	struct line_keys k;
	const char *other;
	cJSON *body;

	find_keys(root, &k);
	if (check_custom_id(k.custom_id, err) == -1)
		return -1;
	if (k.params != NULL && k.body == NULL) {
		/* Anthropic Message Batches: {custom_id, params}. */
		other = first_other_key(root, anthropic_keys,
		    ARRAY_SIZE(anthropic_keys));
		if (other != NULL) {
			err_set(err, "invalid_request",
			    "unknown field \"%.64s\"", other);
			return -1;
		}
		body = cJSON_DetachItemViaPointer(root, k.params);
		if (check_body(body, err) == -1) {
			cJSON_Delete(body);
			return -1;
		}
		t->format = TASK_FORMAT_ANTHROPIC;
		t->url = xstrdup("/v1/messages");
		t->body = body;
	} else {
		if (k.not_openai != NULL) {
			err_set(err, "invalid_request",
			    "unknown field \"%.64s\"", k.not_openai);
			return -1;
		}
		if (!cJSON_IsString(k.method) ||
		    strcmp(k.method->valuestring, "POST") != 0) {
			err_set(err, "invalid_request",
			    "method must be \"POST\"");
			return -1;
		}
		if (!cJSON_IsString(k.url)) {
			err_set(err, "invalid_request",
			    "url is missing or not a string");
			return -1;
		}
		if (!task_url_allowed(k.url->valuestring)) {
			err_set(err, "invalid_request",
			    "url \"%.64s\" is not an allowed API path",
			    k.url->valuestring);
			return -1;
		}
		if (k.body == NULL) {
			err_set(err, "invalid_request", "body is missing");
			return -1;
		}
		if (check_body(k.body, err) == -1)
			return -1;
		t->format = TASK_FORMAT_OPENAI;
		t->url = xstrdup(k.url->valuestring);
		t->body = cJSON_DetachItemViaPointer(root, k.body);
	}
	t->custom_id = xstrdup(k.custom_id->valuestring);
	return parse_extensions(&k, t, err);
}

int
task_parse_line(const char *line, size_t len, const struct task_limits *lim,
    struct task *t, struct err *err)
{
	cJSON *root;

	memset(t, 0, sizeof(*t));
	if ((root = parse_bounded(line, len, lim, err)) == NULL)
		return -1;
	if (parse_request(root, t, err) == -1) {
		cJSON_Delete(root);
		task_release(t);
		return -1;
	}
	cJSON_Delete(root);
	return 0;
}

int
task_parse_file(const char *data, size_t len, const char *stem,
    const struct task_limits *lim, struct task *t, struct err *err)
{
	cJSON *root;
	const char *url;

	memset(t, 0, sizeof(*t));
	if ((root = parse_bounded(data, len, lim, err)) == NULL)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(root, "custom_id") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(root, "body") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(root, "params") != NULL) {
		if (parse_request(root, t, err) == -1)
			goto fail;
		cJSON_Delete(root);
		return 0;
	}
	if (cJSON_GetObjectItemCaseSensitive(root, "messages") != NULL)
		url = "/v1/chat/completions";
	else if (cJSON_GetObjectItemCaseSensitive(root, "prompt") != NULL)
		url = "/v1/completions";
	else if (cJSON_GetObjectItemCaseSensitive(root, "input") != NULL)
		url = "/v1/embeddings";
	else {
		err_set(err, "invalid_request", "neither a request line nor "
		    "a request body (messages, prompt or input)");
		goto fail;
	}
	if (check_body(root, err) == -1)
		goto fail;
	t->format = TASK_FORMAT_BARE;
	t->custom_id = xstrdup(stem);
	t->url = xstrdup(url);
	t->body = root;
	return 0;
fail:
	cJSON_Delete(root);
	task_release(t);
	return -1;
}

char *
task_guess_custom_id(const char *line, size_t len)
{
	static const char key[] = "\"custom_id\"";
	const char *p, *end = line + len, *q;

	p = memmem(line, len, key, sizeof(key) - 1);
	if (p == NULL)
		return NULL;
	p += sizeof(key) - 1;
	while (p < end && (*p == ' ' || *p == '\t' || *p == ':'))
		p++;
	if (p >= end || *p != '"')
		return NULL;
	p++;
	for (q = p; q < end && *q != '"' && *q != '\\'; q++)
		if ((unsigned char)*q < 0x20)
			return NULL;
	if (q >= end || *q != '"' || q == p || q - p > SPOOL_CUSTOM_ID_MAX ||
	    utf8_check(p, (size_t)(q - p)) < (size_t)(q - p))
		return NULL;
	return xstrndup(p, (size_t)(q - p));
}
