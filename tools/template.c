/*
 * template - placeholders in a request template (see template.h).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "template.h"

cJSON *
template_parse(const char *text, size_t len, struct err *err)
{
	cJSON *root;

	if ((root = cJSON_ParseWithLength(text, len)) == NULL) {
		err_set(err, "invalid_template", "not valid JSON");
		return NULL;
	}
	if (!cJSON_IsObject(root)) {
		err_set(err, "invalid_template", "not a JSON object (a request "
		    "body or a request line)");
		cJSON_Delete(root);
		return NULL;
	}
	/* The ids are build's: collect reads documents and chunks in them. */
	if (cJSON_GetObjectItemCaseSensitive(root, "custom_id") != NULL) {
		err_set(err, "invalid_template", "sets custom_id, which build "
		    "makes itself (DOCUMENT#CHUNK/CHUNKS)");
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

int
template_subst(const char *s, template_lookup_fn *fn, void *arg,
    struct buf *out, struct err *err)
{
	const char *p = s, *open, *q, *nb, *ne, *v;
	char *name;

	while ((open = strstr(p, "{{")) != NULL) {
		buf_add(out, p, (size_t)(open - p));
		q = open + 2;
		while (*q == ' ')
			q++;
		nb = q;
		while (name_char(*q))
			q++;
		ne = q;
		while (*q == ' ')
			q++;
		if (ne == nb || q[0] != '}' || q[1] != '}') {
			/* Not a placeholder: plain text, scan on. */
			buf_addc(out, '{');
			p = open + 1;
			continue;
		}
		name = xstrndup(nb, (size_t)(ne - nb));
		if ((v = fn(name, arg)) == NULL) {
			err_set(err, "unknown_placeholder", "no value for "
			    "{{%.64s}}", name);
			free(name);
			return -1;
		}
		free(name);
		buf_adds(out, v);
		p = q + 2;
	}
	buf_adds(out, p);
	return 0;
}

/* Replaces the placeholders in every string of the tree, in place. */
static int
apply(cJSON *node, template_lookup_fn *fn, void *arg, struct buf *tmp,
    struct err *err)
{
	cJSON *c;

	if (cJSON_IsString(node) && strstr(node->valuestring, "{{") != NULL) {
		buf_reset(tmp);
		if (template_subst(node->valuestring, fn, arg, tmp, err) == -1)
			return -1;
		if (cJSON_SetValuestring(node, tmp->data ? tmp->data : "") ==
		    NULL)
			util_assert_fail(__FILE__, __LINE__, "out of memory");
	}
	cJSON_ArrayForEach(c, node)
		if (apply(c, fn, arg, tmp, err) == -1)
			return -1;
	return 0;
}

/* {custom_id, method, url, body} for a bare body, as spoold sends it. */
static cJSON *
wrap_body(cJSON *body, const char *custom_id,
    const struct task_limits *lim, struct err *err)
{
	struct task t;
	cJSON *line;
	char *text;
	int r;

	text = cJSON_PrintUnformatted(body);
	SPOOL_ASSERT(text != NULL);
	/* The url spoold itself picks for a loose body: one rule. */
	r = task_parse_file(text, strlen(text), custom_id, lim, &t, err);
	cJSON_free(text);
	if (r == -1) {
		cJSON_Delete(body);
		return NULL;
	}
	line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "custom_id", custom_id);
	cJSON_AddStringToObject(line, "method", "POST");
	cJSON_AddStringToObject(line, "url", t.url);
	cJSON_AddItemToObject(line, "body", body);
	task_release(&t);
	return line;
}

/* custom_id first, then the template's fields in their order. */
static cJSON *
name_line(cJSON *root, const char *custom_id)
{
	cJSON *line, *item;

	line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "custom_id", custom_id);
	while ((item = root->child) != NULL) {
		cJSON_DetachItemViaPointer(root, item);
		cJSON_AddItemToObject(line, item->string, item);
	}
	cJSON_Delete(root);
	return line;
}

int
template_format(const cJSON *tmpl, const char *custom_id,
    template_lookup_fn *fn, void *arg, const struct task_limits *lim,
    struct buf *out, struct err *err)
{
	struct buf tmp = BUF_INIT;
	struct task t;
	cJSON *root, *line;
	char *text;
	int r;

	buf_reset(out);
	root = cJSON_Duplicate(tmpl, 1);
	SPOOL_ASSERT(root != NULL);
	r = apply(root, fn, arg, &tmp, err);
	buf_release(&tmp);
	if (r == -1) {
		cJSON_Delete(root);
		return -1;
	}
	if (cJSON_GetObjectItemCaseSensitive(root, "body") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(root, "params") != NULL)
		line = name_line(root, custom_id);
	else if ((line = wrap_body(root, custom_id, lim, err)) == NULL)
		return -1;
	text = cJSON_PrintUnformatted(line);
	cJSON_Delete(line);
	SPOOL_ASSERT(text != NULL);
	buf_adds(out, text);
	cJSON_free(text);
	/* What spoold would refuse is refused here, before any spend. */
	if (task_parse_line(out->data, out->len, lim, &t, err) == -1)
		return -1;
	task_release(&t);
	return 0;
}
