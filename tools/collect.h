/*
 * collect - `spoolctl collect`: the results of batches that spoolctl
 * build made, joined back into one file per document, its chunks in
 * order (spoolctl(1)).  The custom_ids say where each result belongs
 * (build.h); a chunk that failed or has no result yet is marked in the
 * file, so a document is never silently short.
 */
#ifndef SPOOLD_COLLECT_H
#define SPOOLD_COLLECT_H

#include <cjson/cJSON.h>

#include "buf.h"
#include "util.h"

/*
 * Runs the command (argv[0] is "collect") on the spool at spool_dir.
 * Returns a sysexits(3) code, or 1 when some document is incomplete.
 */
int	collect_main(int argc, char **argv, const char *spool_dir);

/*
 * Appends the text of a response body to out: choices[0].message.content
 * (chat completions), choices[0].text (completions), the text blocks of
 * content (Anthropic messages) or of output[].content (responses).
 * Returns -1 with err set when the body carries no text, or a refusal.
 */
int	collect_text(const cJSON *body, struct buf *out, struct err *err);

#endif
