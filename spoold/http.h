/*
 * http - what an HTTP exchange with an LLM API means for a request:
 * parsing the interesting response headers, classifying the outcome
 * (success, retryable, permanent; SPEC §5) and reading token usage.
 * Pure functions over bytes: no curl handles, no I/O.
 */
#ifndef SPOOLD_HTTP_H
#define SPOOLD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct http_response {
	long		 status;	/* 0: no HTTP response */
	int		 curl_code;	/* CURLcode; 0 = OK */
	const char	*curl_error;	/* borrowed; may be NULL */
	const char	*body;		/* borrowed */
	size_t		 len;
	int		 too_large;	/* body over the limit, cut off */
	char		 request_id[128];
	int64_t		 retry_after_ms;	/* -1: none given */
	int64_t		 reset_ms;	/* x-ratelimit-reset-*: -1 none */
	int64_t		 remaining;	/* requests or tokens left: -1 none */
	int		 should_retry;	/* -1 unknown, 0 no, 1 yes */
};

struct http_verdict {
	enum proto_outcome outcome;
	char		 code[32];	/* error code for errors.jsonl */
	char		 message[256];
	int64_t		 retry_after_ms;	/* -1: use backoff */
};

void	http_response_init(struct http_response *r);
/* Feeds one raw header line ("Name: value\r\n"). */
void	http_parse_header(struct http_response *r, const char *line,
	    size_t len);
void	http_classify(const struct http_response *r, struct http_verdict *v);

#endif
