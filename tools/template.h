/*
 * template - a request template with {{NAME}} placeholders, turned into
 * one batch request line per document or chunk (spoolctl build).
 *
 * A template is a JSON object: a request body ({"model", "messages", ...})
 * or a whole request line ({"method", "url", "body"} or Anthropic's
 * {"params"}) without custom_id, which build supplies.  Placeholders are
 * replaced inside JSON strings only, and the values go in through cJSON,
 * so any text gives valid JSON; a value is never scanned again, so a
 * document holding "{{text}}" stays as it is.  A NAME is letters,
 * digits, '_', '-' and '.', with optional spaces inside the braces; other
 * "{{" are plain text.
 */
#ifndef SPOOLD_TEMPLATE_H
#define SPOOLD_TEMPLATE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "task.h"
#include "util.h"

/* The value of a placeholder (borrowed), or NULL if it has none. */
typedef const char *template_lookup_fn(const char *name, void *arg);

/*
 * Parses a template file.  Returns owned (cJSON_Delete) or NULL with err
 * set: not JSON, not an object, or a custom_id of its own.
 */
cJSON	*template_parse(const char *text, size_t len, struct err *err);

/*
 * Appends s to out with its placeholders replaced.  -1 with err set if
 * one has no value (out then holds part of the text).
 */
int	template_subst(const char *s, template_lookup_fn *fn, void *arg,
	    struct buf *out, struct err *err);

/*
 * Formats the request line for custom_id (without a newline) into out,
 * replacing its contents: the template with its placeholders replaced,
 * a bare body wrapped as {custom_id, method, url, body} with the url
 * spoold gives such a body, and the line checked with task_parse_line
 * so that spoold will accept it.  -1 with err set otherwise.
 */
int	template_format(const cJSON *tmpl, const char *custom_id,
	    template_lookup_fn *fn, void *arg, const struct task_limits *lim,
	    struct buf *out, struct err *err);

#endif
