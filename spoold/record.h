/*
 * record - the lines of output.jsonl and errors.jsonl, in the OpenAI
 * Batch output shape (SPEC §4):
 *   {"id":"batch_req_...","custom_id":...,"response":{"status_code",
 *    "request_id","body"}|null,"error":{"code","message"}|null}
 */
#ifndef SPOOLD_RECORD_H
#define SPOOLD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * Appends one line (with its newline) to out.  body is the response body
 * as received (len bytes; NULL when there was no response); a body that
 * is not a JSON object is wrapped as {"error":{"message":TEXT}} so that
 * the line still has the schema's shape.  status 0 means no response.
 * code NULL means success (error null).
 */
void	record_format(struct buf *out, const char *custom_id, int status,
	    const char *request_id, const char *body, size_t len,
	    const char *code, const char *message);

/*
 * The same, for a caller that has parsed the body already: parsed is a
 * cJSON value (void * keeps cJSON out of this header) that is taken, or
 * NULL to parse body here.
 */
void	record_format_parsed(struct buf *out, const char *custom_id,
	    int status, const char *request_id, void *parsed, const char *body,
	    size_t len, const char *code, const char *message);

/* Token usage of a response body (OpenAI or Anthropic shape); 0 if none.
 * body is a cJSON object (void * keeps cJSON out of this header). */
void	record_usage(const void *body, uint64_t *in, uint64_t *out);

/* Returns owned: the model a response body names (a string of at most
 * SPOOL_MODEL_MAX bytes), or NULL. */
char	*record_model(const void *body);

/* Returns owned: the custom_id of a result line, or NULL. */
char	*record_custom_id(const char *line, size_t len);

#endif
