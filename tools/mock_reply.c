/*
 * mock_reply - the bodies of spool-mockllm's answers (see mock_reply.h):
 * OpenAI chat, completions, embeddings and models, Anthropic messages,
 * and the error bodies of both APIs.  Each is derived from the request
 * alone, so that runs are reproducible.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "mock.h"
#include "mock_reply.h"
#include "mock_schema.h"

/* Byte length of the first maxcp UTF-8 code points of s. */
static size_t
utf8_prefix(const char *s, size_t maxcp)
{
	size_t i = 0, cp = 0;

	while (s[i] != '\0' && cp < maxcp) {
		i++;
		while (((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		cp++;
	}
	return i;
}

static cJSON *
error_body(enum api api, unsigned int status, const char *msg)
{
	/* OpenAI type and code, then Anthropic type, per status. */
	static const struct {
		unsigned int	 status;
		const char	*otype, *code, *atype;
	} tab[] = {
		{ 401, "invalid_request_error", "invalid_api_key",
		    "authentication_error" },
		{ 403, "invalid_request_error", NULL, "permission_error" },
		{ 404, "invalid_request_error", NULL, "not_found_error" },
		{ 413, "invalid_request_error", NULL, "request_too_large" },
		{ 429, "requests", "rate_limit_exceeded", "rate_limit_error" },
		{ 529, "server_error", NULL, "overloaded_error" },
	};
	const char *otype, *code = NULL, *atype;
	cJSON *root, *e;
	size_t i;

	otype = atype = status >= 500 ? "api_error" : "invalid_request_error";
	if (status >= 500)
		otype = "server_error";
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].status == status) {
			otype = tab[i].otype;
			code = tab[i].code;
			atype = tab[i].atype;
		}
	root = cJSON_CreateObject();
	if (api == API_MSG || status == 529) {
		cJSON_AddStringToObject(root, "type", "error");
		e = cJSON_AddObjectToObject(root, "error");
		cJSON_AddStringToObject(e, "type", atype);
		cJSON_AddStringToObject(e, "message", msg);
		return root;
	}
	e = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", otype);
	cJSON_AddNullToObject(e, "param");
	if (code != NULL)
		cJSON_AddStringToObject(e, "code", code);
	else
		cJSON_AddNullToObject(e, "code");
	return root;
}

void
reply_fail(struct out *o, unsigned int status, const char *msg)
{
	char buf[128];

	if (msg == NULL) {
		snprintf(buf, sizeof(buf), "mock error: HTTP %u", status);
		msg = buf;
	}
	cJSON_Delete(o->json);
	o->status = status;
	o->json = error_body(o->api, status, msg);
	if (status == 429 && o->retry_ms < 0)
		o->retry_ms = 200;
}

/* The text of a message content: a string, or a list of text parts. */
static const char *
content_text(const cJSON *c, size_t *chars)
{
	const cJSON *part, *t;
	const char *first = NULL;

	if (cJSON_IsString(c)) {
		*chars += strlen(c->valuestring);
		return c->valuestring;
	}
	cJSON_ArrayForEach(part, c) {
		t = cJSON_GetObjectItemCaseSensitive(part, "text");
		if (!cJSON_IsString(t))
			continue;
		*chars += strlen(t->valuestring);
		if (first == NULL)
			first = t->valuestring;
	}
	return first;
}

struct conv {
	const char	*last_user;
	uint64_t	 h_user;	/* FNV-1a of last_user: picks enums */
	uint64_t	 h_all;		/* FNV-1a of every role and text */
	size_t		 chars;
	size_t		 nmsg;
};

static bool
conv_scan(const cJSON *msgs, const cJSON *sys, struct conv *cv)
{
	const cJSON *m, *role;
	const char *txt;

	memset(cv, 0, sizeof(*cv));
	cv->last_user = "";
	cv->h_all = FNV_BASIS;
	if (sys != NULL && (txt = content_text(sys, &cv->chars)) != NULL)
		cv->h_all = fnv1a(cv->h_all, txt, strlen(txt) + 1);
	if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
		return false;
	cJSON_ArrayForEach(m, msgs) {
		if (!cJSON_IsObject(m))
			return false;
		role = cJSON_GetObjectItemCaseSensitive(m, "role");
		if (!cJSON_IsString(role))
			return false;
		txt = content_text(cJSON_GetObjectItemCaseSensitive(m,
		    "content"), &cv->chars);
		if (txt == NULL)
			txt = "";
		cv->nmsg++;
		cv->h_all = fnv1a(cv->h_all, role->valuestring,
		    strlen(role->valuestring) + 1);
		cv->h_all = fnv1a(cv->h_all, txt, strlen(txt) + 1);
		if (strcmp(role->valuestring, "user") == 0)
			cv->last_user = txt;
	}
	cv->h_user = fnv_str(cv->last_user);
	return true;
}

static void
make_reply(char *buf, size_t sz, const char *lead, const char *text,
    uint64_t h)
{
	snprintf(buf, sz, "%s%.*s [%08" PRIx32 "]", lead,
	    (int)utf8_prefix(text, 60), text, (uint32_t)(h ^ (h >> 32)));
}

static long
tokens(size_t chars)
{
	return chars / 4 > 0 ? (long)(chars / 4) : 1;
}

/* The assistant text for a chat, honouring response_format. */
static char *
chat_content(const cJSON *in, const struct conv *cv, const char *reply)
{
	const cJSON *rf, *ty, *js, *schema;
	cJSON *val;
	char *txt;

	rf = cJSON_GetObjectItemCaseSensitive(in, "response_format");
	ty = cJSON_GetObjectItemCaseSensitive(rf, "type");
	if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "text") == 0)
		return strdup(reply);
	js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
	schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
	if (strcmp(ty->valuestring, "json_schema") == 0 &&
	    cJSON_IsObject(schema))
		val = schema_fill(schema, schema, cv->h_user, NULL, 0);
	else {
		val = cJSON_CreateObject();
		cJSON_AddStringToObject(val, "reply", reply);
	}
	txt = cJSON_PrintUnformatted(val);
	cJSON_Delete(val);
	return txt;
}

const char *
req_model(const cJSON *in)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(in, "model");

	return cJSON_IsString(m) ? m->valuestring : "mock-1";
}

static cJSON *
resp_head(const char *prefix, uint64_t id, const char *object,
    const cJSON *in)
{
	cJSON *root = cJSON_CreateObject();
	char buf[64];

	snprintf(buf, sizeof(buf), "%s%016" PRIx64, prefix, id);
	cJSON_AddStringToObject(root, "id", buf);
	cJSON_AddStringToObject(root, "object", object);
	cJSON_AddNumberToObject(root, "created", (double)time(NULL));
	cJSON_AddStringToObject(root, "model", req_model(in));
	return root;
}

static void
add_usage(cJSON *root, const char *k1, long a, const char *k2, long b,
    bool total)
{
	cJSON *u = cJSON_AddObjectToObject(root, "usage");

	cJSON_AddNumberToObject(u, k1, a);
	if (k2 != NULL)
		cJSON_AddNumberToObject(u, k2, b);
	if (total)
		cJSON_AddNumberToObject(u, "total_tokens", a + b);
}

void
reply_chat(const cJSON *in, struct out *o)
{
	struct conv cv;
	char reply[512], *content;
	cJSON *ch, *msg;
	long pt;

	if (!conv_scan(cJSON_GetObjectItemCaseSensitive(in, "messages"), NULL,
	    &cv)) {
		reply_fail(o, 400, "'messages' must be a non-empty array of "
		    "objects with a 'role'");
		return;
	}
	make_reply(reply, sizeof(reply), "mock reply to: ", cv.last_user,
	    cv.h_all);
	if ((content = chat_content(in, &cv, reply)) == NULL) {
		reply_fail(o, 500, "out of memory");
		return;
	}
	o->json = resp_head("chatcmpl-", o->id, "chat.completion", in);
	ch = cJSON_CreateObject();
	cJSON_AddNumberToObject(ch, "index", 0);
	msg = cJSON_AddObjectToObject(ch, "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	cJSON_AddStringToObject(msg, "content", content);
	cJSON_AddNullToObject(ch, "logprobs");
	cJSON_AddStringToObject(ch, "finish_reason", "stop");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o->json, "choices"), ch);
	pt = (long)(cv.chars / 4 + 4 * cv.nmsg);
	add_usage(o->json, "prompt_tokens", pt > 0 ? pt : 1,
	    "completion_tokens", tokens(strlen(content)), true);
	free(content);
}

void
reply_compl(const cJSON *in, struct out *o)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "prompt"), *e;
	const char *text = NULL;
	size_t chars = 0;
	char reply[512];
	cJSON *ch;

	if (cJSON_IsString(p))
		text = p->valuestring;
	cJSON_ArrayForEach(e, p) {
		if (!cJSON_IsString(e))
			continue;
		if (text == NULL)
			text = e->valuestring;
		chars += strlen(e->valuestring);
	}
	if (text == NULL) {
		reply_fail(o, 400,
		    "'prompt' must be a string or array of strings");
		return;
	}
	if (cJSON_IsString(p))
		chars = strlen(text);
	make_reply(reply, sizeof(reply), "mock completion of: ", text,
	    fnv_str(text));
	o->json = resp_head("cmpl-", o->id, "text_completion", in);
	ch = cJSON_CreateObject();
	cJSON_AddStringToObject(ch, "text", reply);
	cJSON_AddNumberToObject(ch, "index", 0);
	cJSON_AddNullToObject(ch, "logprobs");
	cJSON_AddStringToObject(ch, "finish_reason", "stop");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o->json, "choices"), ch);
	add_usage(o->json, "prompt_tokens", tokens(chars), "completion_tokens",
	    tokens(strlen(reply)), true);
}

static cJSON *
embed_one(const cJSON *item, int idx, long *tok)
{
	double v[8], norm = 0;
	cJSON *e, *arr;
	uint64_t h;
	char *txt;
	int i;

	/* Token arrays are hashed in their printed form. */
	if (cJSON_IsString(item))
		txt = strdup(item->valuestring);
	else
		txt = cJSON_PrintUnformatted(item);
	if (txt == NULL)
		return NULL;
	h = fnv_str(txt);
	*tok += tokens(strlen(txt));
	free(txt);
	for (i = 0; i < 8; i++) {
		v[i] = (double)(splitmix64(h + (uint64_t)i) >> 11) *
		    0x1.0p-52 - 1.0;
		norm += v[i] * v[i];
	}
	norm = norm > 0 ? sqrt(norm) : 1;
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "object", "embedding");
	cJSON_AddNumberToObject(e, "index", idx);
	arr = cJSON_AddArrayToObject(e, "embedding");
	for (i = 0; i < 8; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber(
		    round(v[i] / norm * 1e6) / 1e6));
	return e;
}

void
reply_embed(const cJSON *in, struct out *o)
{
	const cJSON *inp = cJSON_GetObjectItemCaseSensitive(in, "input"), *e;
	cJSON *data;
	long tok = 0;
	int i = 0;

	if (!cJSON_IsString(inp) && (!cJSON_IsArray(inp) ||
	    cJSON_GetArraySize(inp) == 0)) {
		reply_fail(o, 400,
		    "'input' must be a string or a non-empty array");
		return;
	}
	o->json = cJSON_CreateObject();
	cJSON_AddStringToObject(o->json, "object", "list");
	data = cJSON_AddArrayToObject(o->json, "data");
	if (cJSON_IsString(inp) || cJSON_IsNumber(cJSON_GetArrayItem(inp, 0)))
		cJSON_AddItemToArray(data, embed_one(inp, 0, &tok));
	else
		cJSON_ArrayForEach(e, inp)
			cJSON_AddItemToArray(data, embed_one(e, i++, &tok));
	cJSON_AddStringToObject(o->json, "model", req_model(in));
	add_usage(o->json, "prompt_tokens", tok, NULL, 0, true);
}

void
reply_msg(const cJSON *in, struct out *o)
{
	struct conv cv;
	char reply[512], buf[64];
	cJSON *blk;
	long pt;

	if (!conv_scan(cJSON_GetObjectItemCaseSensitive(in, "messages"),
	    cJSON_GetObjectItemCaseSensitive(in, "system"), &cv)) {
		reply_fail(o, 400, "messages: must be a non-empty array of "
		    "objects with a role");
		return;
	}
	make_reply(reply, sizeof(reply), "mock reply to: ", cv.last_user,
	    cv.h_all);
	o->json = cJSON_CreateObject();
	snprintf(buf, sizeof(buf), "msg_%016" PRIx64, o->id);
	cJSON_AddStringToObject(o->json, "id", buf);
	cJSON_AddStringToObject(o->json, "type", "message");
	cJSON_AddStringToObject(o->json, "role", "assistant");
	cJSON_AddStringToObject(o->json, "model", req_model(in));
	blk = cJSON_CreateObject();
	cJSON_AddStringToObject(blk, "type", "text");
	cJSON_AddStringToObject(blk, "text", reply);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o->json, "content"), blk);
	cJSON_AddStringToObject(o->json, "stop_reason", "end_turn");
	cJSON_AddNullToObject(o->json, "stop_sequence");
	pt = (long)(cv.chars / 4 + 4 * cv.nmsg);
	add_usage(o->json, "input_tokens", pt > 0 ? pt : 1, "output_tokens",
	    tokens(strlen(reply)), false);
}

void
reply_models(struct out *o)
{
	o->json = cJSON_Parse("{\"object\":\"list\",\"data\":[{\"id\":"
	    "\"mock-1\",\"object\":\"model\",\"created\":0,"
	    "\"owned_by\":\"spool-mockllm\"}]}");
}
