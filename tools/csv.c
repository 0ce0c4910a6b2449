/*
 * csv - RFC 4180 records (see csv.h).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "csv.h"

void
csv_init(struct csv_reader *r, const char *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
	r->lineno = 1;
	r->errline = 0;
}

static void
record_clear(struct csv_record *rec)
{
	size_t i;

	for (i = 0; i < rec->n; i++)
		free(rec->fields[i]);
	rec->n = 0;
}

void
csv_record_release(struct csv_record *rec)
{
	record_clear(rec);
	free(rec->fields);
	memset(rec, 0, sizeof(*rec));
}

static void
record_add(struct csv_record *rec, struct buf *field)
{
	size_t len;

	if (rec->n == rec->cap) {
		rec->cap = rec->cap ? rec->cap * 2 : 8;
		rec->fields = xreallocarray(rec->fields, rec->cap,
		    sizeof(*rec->fields));
	}
	rec->fields[rec->n++] = buf_detach(field, &len);
}

/* At a record's end: LF, CRLF, or the end of the data. */
static bool
at_eol(const struct csv_reader *r)
{
	const char *d = r->data;

	return r->pos >= r->len || d[r->pos] == '\n' ||
	    (d[r->pos] == '\r' && (r->pos + 1 == r->len ||
	    d[r->pos + 1] == '\n'));
}

static void
skip_eol(struct csv_reader *r)
{
	if (r->pos < r->len && r->data[r->pos] == '\r')
		r->pos++;
	if (r->pos < r->len && r->data[r->pos] == '\n') {
		r->pos++;
		r->lineno++;
	}
}

/* A quoted field, from its opening quote to just past the closing one. */
static int
quoted(struct csv_reader *r, struct buf *field, struct err *err)
{
	const char *d = r->data;
	size_t start = r->lineno;

	r->pos++;
	for (;;) {
		if (r->pos >= r->len) {
			r->errline = start;
			err_set(err, "invalid_csv", "quoted field never "
			    "closed");
			return -1;
		}
		if (d[r->pos] == '"') {
			if (r->pos + 1 < r->len && d[r->pos + 1] == '"') {
				buf_addc(field, '"');
				r->pos += 2;
				continue;
			}
			r->pos++;
			break;
		}
		if (d[r->pos] == '\n')
			r->lineno++;
		buf_addc(field, d[r->pos++]);
	}
	if (r->pos < r->len && d[r->pos] != ',' && !at_eol(r)) {
		r->errline = r->lineno;
		err_set(err, "invalid_csv", "text after the closing quote "
		    "of a field");
		return -1;
	}
	return 0;
}

int
csv_next(struct csv_reader *r, struct csv_record *rec, struct err *err)
{
	struct buf field = BUF_INIT;
	const char *d = r->data;

	record_clear(rec);
	/* Empty lines hold no record. */
	while (r->pos < r->len && at_eol(r))
		skip_eol(r);
	if (r->pos >= r->len)
		return 0;
	rec->lineno = r->lineno;
	for (;;) {
		buf_reset(&field);
		if (d[r->pos] == '"') {
			if (quoted(r, &field, err) == -1)
				goto fail;
		} else {
			while (r->pos < r->len && d[r->pos] != ',' &&
			    !at_eol(r))
				buf_addc(&field, d[r->pos++]);
		}
		if (field.data != NULL && memchr(field.data, '\0',
		    field.len) != NULL) {
			r->errline = r->lineno;
			err_set(err, "invalid_csv", "NUL byte in a field");
			goto fail;
		}
		record_add(rec, &field);
		if (r->pos < r->len && d[r->pos] == ',') {
			r->pos++;
			/* A comma at the end of the data: one more field. */
			if (r->pos >= r->len) {
				buf_reset(&field);
				record_add(rec, &field);
				break;
			}
			continue;
		}
		skip_eol(r);
		break;
	}
	buf_release(&field);
	return 1;
fail:
	buf_release(&field);
	record_clear(rec);
	return -1;
}
