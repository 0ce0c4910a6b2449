/*
 * task - parsing and validating one request (a JSONL line or a loose
 * .json file) before anything is spent on it (SPEC §3, §5).  Bounded:
 * line length and JSON depth are checked before the tree is used.
 * Does not log; errors carry a code and a message for errors.jsonl.
 */
#ifndef SPOOLD_TASK_H
#define SPOOLD_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "util.h"

struct task_limits {
	size_t		 max_line;	/* bytes of one request */
	int		 max_depth;	/* JSON nesting */
};

/* The request formats a line may be in. */
enum task_format {
	TASK_FORMAT_OPENAI,	/* {custom_id, method, url, body} */
	TASK_FORMAT_ANTHROPIC,	/* {custom_id, params} */
	TASK_FORMAT_BARE	/* a loose .json holding just a body */
};

struct task {
	enum task_format format;
	char		*custom_id;	/* owned */
	char		*url;		/* owned; a path, never a full URL */
	char		*endpoint;	/* owned; NULL: the default endpoint */
	cJSON		*body;		/* owned */
	int		 max_attempts;	/* 0: the configured default */
	int		 timeout_s;	/* 0: the endpoint's */
};

void	task_limits_default(struct task_limits *lim);

/*
 * Parses one JSONL request line (without its newline).  On success fills
 * t (release with task_release) and returns 0; on failure returns -1 with
 * err set (code "invalid_request" or "invalid_json") and t empty.
 */
int	task_parse_line(const char *line, size_t len,
	    const struct task_limits *lim, struct task *t, struct err *err);
/*
 * Parses a loose .json file: a request line, or a bare body (an object
 * with "messages", "prompt" or "input"), which gets custom_id stem and
 * url /v1/chat/completions (or /v1/embeddings for "input").
 */
int	task_parse_file(const char *data, size_t len, const char *stem,
	    const struct task_limits *lim, struct task *t, struct err *err);
void	task_release(struct task *t);

/* The completion a request allows (max_tokens or max_completion_tokens
 * of its body), 0 if it sets none. */
uint64_t task_max_tokens(const struct task *t);
/* An estimate of the prompt tokens of a request body of body_len bytes
 * (about a token per four bytes; the response tells the truth). */
uint64_t task_prompt_tokens(size_t body_len);
/* Returns borrowed: the model the request names, or NULL. */
const char *task_model(const struct task *t);
/* True if url is a path spoold may call (SPEC §3). */
bool	task_url_allowed(const char *url);
/* Depth of JSON nesting in text, counted outside strings. */
int	task_json_depth(const char *text, size_t len);
/*
 * Best effort: the custom_id of a line that failed to parse, for its
 * error record.  Returns owned, or NULL.
 */
char	*task_guess_custom_id(const char *line, size_t len);

#endif
