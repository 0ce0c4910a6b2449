/*
 * docid - the custom_ids that tie a request to its document and chunk:
 * DOCUMENT#N/M, chunk N of M counted from 1.  spoolctl build makes them
 * and spoolctl collect reads them back, so both use this module.  A
 * DOCUMENT may itself hold '#': ids are split at the last one.
 */
#ifndef SPOOLD_DOCID_H
#define SPOOLD_DOCID_H

#include <stddef.h>

/* The longest document name: a custom_id and a file name must hold it. */
#define DOCID_NAME_MAX	200

/*
 * A document name from raw text (a file's stem, STEM-KEY for a row):
 * cut to DOCID_NAME_MAX bytes at a character boundary, then made a safe
 * file name by spool_name_sanitize.  out holds DOCID_NAME_MAX + 1 bytes.
 */
void	docid_name(const char *raw, char *out);

/* DOC#N/M into out (at most outlen bytes with the NUL). */
void	docid_format(const char *doc, size_t n, size_t m, char *out,
	    size_t outlen);
/*
 * The inverse: splits id at its last '#' into the document (into doc,
 * DOCID_NAME_MAX + 1 bytes) and 1 <= n <= m.  Returns -1 for an id that
 * build did not make.
 */
int	docid_parse(const char *id, char *doc, size_t *n, size_t *m);

#endif
