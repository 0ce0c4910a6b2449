/*
 * record - formatting result lines.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "record.h"
#include "spool_limits.h"
#include "util.h"

/*
 * The response body as an object: obj if the caller parsed one (taken),
 * else parsed here, else the text wrapped.
 */
static cJSON *
body_object(cJSON *obj, const char *body, size_t len)
{
	cJSON *wrap, *err;
	size_t n;
	char *text;

	if (obj == NULL && len > 0)
		obj = cJSON_ParseWithLength(body, len);
	if (cJSON_IsObject(obj))
		return obj;
	cJSON_Delete(obj);
	/* Keep the start of a non-JSON body (an HTML 502 page, say). */
	n = len > 1024 ? 1024 : len;
	text = xstrndup(body != NULL ? body : "", n);
	wrap = cJSON_CreateObject();
	err = cJSON_AddObjectToObject(wrap, "error");
	cJSON_AddStringToObject(err, "message", text);
	cJSON_AddStringToObject(err, "type", "invalid_response");
	free(text);
	return wrap;
}

void
record_format(struct buf *out, const char *custom_id, int status,
    const char *request_id, const char *body, size_t len, const char *code,
    const char *message)
{
	record_format_parsed(out, custom_id, status, request_id, NULL, body,
	    len, code, message);
}

void
record_format_parsed(struct buf *out, const char *custom_id, int status,
    const char *request_id, void *parsed, const char *body, size_t len,
    const char *code, const char *message)
{
	cJSON *line, *resp, *err;
	char rid[25], *id, *text;

	line = cJSON_CreateObject();
	random_id(rid);
	id = xasprintf("batch_req_%s", rid);
	cJSON_AddStringToObject(line, "id", id);
	free(id);
	cJSON_AddStringToObject(line, "custom_id", custom_id);
	if (status > 0) {
		resp = cJSON_AddObjectToObject(line, "response");
		cJSON_AddNumberToObject(resp, "status_code", status);
		cJSON_AddStringToObject(resp, "request_id",
		    request_id != NULL ? request_id : "");
		cJSON_AddItemToObject(resp, "body", body_object(parsed, body,
		    len));
		parsed = NULL;
	} else {
		cJSON_AddNullToObject(line, "response");
	}
	cJSON_Delete(parsed);	/* not used: no response to carry it */
	if (code != NULL) {
		err = cJSON_AddObjectToObject(line, "error");
		cJSON_AddStringToObject(err, "code", code);
		cJSON_AddStringToObject(err, "message",
		    message != NULL ? message : "");
	} else {
		cJSON_AddNullToObject(line, "error");
	}
	text = cJSON_PrintUnformatted(line);
	SPOOL_ASSERT(text != NULL);
	buf_adds(out, text);
	buf_addc(out, '\n');
	cJSON_free(text);
	cJSON_Delete(line);
}

char *
record_custom_id(const char *line, size_t len)
{
	cJSON *root, *v;
	char *id = NULL;

	if ((root = cJSON_ParseWithLength(line, len)) == NULL)
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(root, "custom_id");
	if (cJSON_IsString(v))
		id = xstrdup(v->valuestring);
	cJSON_Delete(root);
	return id;
}

/*
 * Counts past USAGE_MAX are not token counts: they count as none.  The
 * bound also keeps the cast defined: a double over 2^64 ("1e30", found
 * by fuzzing) is undefined behaviour when converted (C11 6.3.1.4).
 */
#define USAGE_MAX	1e15

static uint64_t
usage_num(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsNumber(v) && v->valuedouble > 0 &&
	    v->valuedouble <= USAGE_MAX ? (uint64_t)v->valuedouble : 0;
}

void
record_usage(const void *body, uint64_t *in, uint64_t *out)
{
	const cJSON *usage;

	*in = *out = 0;
	usage = cJSON_GetObjectItemCaseSensitive((const cJSON *)body, "usage");
	if (!cJSON_IsObject(usage))
		return;
	/* OpenAI chat/completions name them prompt/completion; Anthropic
	 * and /v1/responses input/output. */
	*in = usage_num(usage, "prompt_tokens") +
	    usage_num(usage, "input_tokens");
	*out = usage_num(usage, "completion_tokens") +
	    usage_num(usage, "output_tokens");
}

char *
record_model(const void *body)
{
	const cJSON *v;

	v = cJSON_GetObjectItemCaseSensitive((const cJSON *)body, "model");
	if (!cJSON_IsString(v) || strlen(v->valuestring) > SPOOL_MODEL_MAX)
		return NULL;
	return xstrdup(v->valuestring);
}
