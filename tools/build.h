/*
 * build - `spoolctl build`: a batch from documents and a request template
 * (SPEC §6, spoolctl(1)).  A text document is one request per chunk, a
 * CSV row or a JSONL record one request each.  Every request's custom_id
 * names its document and chunk, DOCUMENT#N/M (chunk N of M, from 1), so
 * that `spoolctl collect` can join the results back; the functions for
 * that id live here, beside the code that makes it.
 */
#ifndef SPOOLD_BUILD_H
#define SPOOLD_BUILD_H

#include <stddef.h>

/* The longest document name: a custom_id and a file name must hold it. */
#define BUILD_DOC_NAME_MAX	200

/*
 * Runs the command (argv[0] is "build"); spool_dir is the spool for
 * --submit.  Returns a sysexits(3) code.
 */
int	build_main(int argc, char **argv, const char *spool_dir);

/*
 * A document name from raw text (a file's stem, STEM-KEY for a row):
 * cut to BUILD_DOC_NAME_MAX bytes at a character boundary, then made a
 * safe file name by spool_name_sanitize.  out holds
 * BUILD_DOC_NAME_MAX + 1 bytes.
 */
void	build_doc_name(const char *raw, char *out);

/* DOC#N/M into out (at most outlen bytes with the NUL). */
void	build_custom_id(const char *doc, size_t n, size_t m, char *out,
	    size_t outlen);
/*
 * The inverse: splits a custom_id at its last '#' into the document
 * (into doc, BUILD_DOC_NAME_MAX + 1 bytes) and 1 <= n <= m.  Returns -1
 * for an id build did not make.
 */
int	build_parse_custom_id(const char *id, char *doc, size_t *n,
	    size_t *m);

#endif
