/*
 * csv - reading RFC 4180 records from a file held in memory, for
 * spoolctl build.  Fields are separated by commas and records by CRLF or
 * LF; a field in double quotes may hold commas, line breaks and doubled
 * quotes.  A quote inside an unquoted field is kept as it is, as
 * spreadsheets write them; text after a closing quote and a quote left
 * open are errors.  Empty lines are skipped.
 */
#ifndef SPOOLD_CSV_H
#define SPOOLD_CSV_H

#include <stddef.h>

#include "util.h"

struct csv_reader {
	const char	*data;		/* borrowed */
	size_t		 len;
	size_t		 pos;
	size_t		 lineno;	/* of pos, 1-based */
	size_t		 errline;	/* where the last error is */
};

struct csv_record {
	char		**fields;	/* owned, each NUL-terminated */
	size_t		 n;
	size_t		 cap;
	size_t		 lineno;	/* where the record starts */
};

void	csv_init(struct csv_reader *r, const char *data, size_t len);
/*
 * Reads the next record into rec (replacing what it held).  Returns 1, 0
 * at the end of the data, or -1 with err set and r->errline the line of
 * the fault.  A NUL byte in a field is an error: fields are C strings.
 */
int	csv_next(struct csv_reader *r, struct csv_record *rec,
	    struct err *err);
void	csv_record_release(struct csv_record *rec);

#endif
