/*
 * mock_reply - builds the JSON bodies of spool-mockllm's answers, into
 * struct out (see mock.h): the successes of each API from the request
 * alone, and errors shaped as OpenAI's or, for /v1/messages and 529,
 * Anthropic's.
 */
#ifndef SPOOLD_MOCK_REPLY_H
#define SPOOLD_MOCK_REPLY_H

#include <cjson/cJSON.h>

#include "mock.h"

/* Replaces o's body by an error of that status; msg NULL says "mock
 * error: HTTP <status>".  A 429 gets a Retry-After if it has none. */
void		 reply_fail(struct out *o, unsigned int status,
		    const char *msg);
/* The request's "model", or "mock-1"; owned by in. */
const char	*req_model(const cJSON *in);

/* The answer to each API's request in, into o (o->json on success, or
 * an error by reply_fail() when in is invalid). */
void		 reply_chat(const cJSON *in, struct out *o);
void		 reply_compl(const cJSON *in, struct out *o);
void		 reply_embed(const cJSON *in, struct out *o);
void		 reply_msg(const cJSON *in, struct out *o);
void		 reply_models(struct out *o);

#endif
