/*
 * docid - the custom_ids of spoolctl build (see docid.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "docid.h"
#include "spool.h"
#include "util.h"

void
docid_name(const char *raw, char *out)
{
	char cut[DOCID_NAME_MAX + 1];
	size_t n = strlen(raw);

	if (n > DOCID_NAME_MAX) {
		/* Back to the start of the character that does not fit. */
		n = DOCID_NAME_MAX;
		while (n > 0 && ((unsigned char)raw[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(cut, raw, n);
	cut[n] = '\0';
	spool_name_sanitize(cut, out, DOCID_NAME_MAX + 1);
}

void
docid_format(const char *doc, size_t n, size_t m, char *out,
    size_t outlen)
{
	snprintf(out, outlen, "%s#%zu/%zu", doc, n, m);
}

int
docid_parse(const char *id, char *doc, size_t *n, size_t *m)
{
	const char *hash, *slash;
	char num[24];
	uint64_t a, b;
	size_t dlen;

	if ((hash = strrchr(id, '#')) == NULL ||
	    (slash = strchr(hash, '/')) == NULL)
		return -1;
	dlen = (size_t)(hash - id);
	if (dlen == 0 || dlen > DOCID_NAME_MAX ||
	    (size_t)(slash - hash - 1) >= sizeof(num))
		return -1;
	memcpy(num, hash + 1, (size_t)(slash - hash - 1));
	num[slash - hash - 1] = '\0';
	if (parse_uint(num, SIZE_MAX, &a) == -1 ||
	    parse_uint(slash + 1, SIZE_MAX, &b) == -1 || a < 1 || a > b)
		return -1;
	memcpy(doc, id, dlen);
	doc[dlen] = '\0';
	*n = (size_t)a;
	*m = (size_t)b;
	return 0;
}
