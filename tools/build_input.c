/*
 * build_input - spoolctl build's documents into requests: one reader
 * per kind (a text document in chunks, CSV rows, JSONL records), each
 * unit made into a line of the batch through the template, with a
 * custom_id naming its document and chunk (docid.h).
 *
 * Documents are read whole (at most BUILD_MAX_DOC bytes each).  Every
 * line is checked with spoold's own parser (template_format), under the
 * default limits.
 *
 * Failure policy: the first bad document, row or record stops the build
 * with FILE:LINE and the reason on stderr, and EX_DATAERR.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "build_internal.h"
#include "chunk.h"
#include "csv.h"
#include "docid.h"
#include "input.h"
#include "spool_limits.h"
#include "task.h"
#include "template.h"
#include "util.h"

#define BUILD_MAX_DOC	(256U << 20)	/* one input file */

/* One request's placeholders. */
struct unit {
	const char	*file;		/* the input's base name */
	const char	*doc;
	const char	*custom_id;
	const char	*text;		/* NULL: the record as JSON */
	char		*record;	/* owned; made when text is NULL */
	char		 chunk[24];
	char		 chunks[24];
	char * const	*names;		/* the record's fields, or none */
	char * const	*values;
	size_t		 nfields;
};

static const char *
lookup(const char *name, void *arg)
{
	struct unit *u = arg;
	size_t i;

	/* A column or field of that name wins over a built-in one. */
	for (i = 0; i < u->nfields; i++)
		if (strcmp(u->names[i], name) == 0)
			return u->values[i];
	if (strcmp(name, "text") == 0)
		return u->text != NULL ? u->text : u->record;
	if (strcmp(name, "document") == 0)
		return u->doc;
	if (strcmp(name, "chunk") == 0)
		return u->chunk;
	if (strcmp(name, "chunks") == 0)
		return u->chunks;
	if (strcmp(name, "custom_id") == 0)
		return u->custom_id;
	if (strcmp(name, "file") == 0)
		return u->file;
	return NULL;
}

int
build_data_error(const char *file, size_t line, const char *msg)
{
	if (line > 0)
		fprintf(stderr, "spoolctl: %s:%zu: %s\n", file, line, msg);
	else
		fprintf(stderr, "spoolctl: %s: %s\n", file, msg);
	return EX_DATAERR;
}

/* Remembers a document name; EX_DATAERR if it was taken. */
static int
claim_name(struct build *b, const char *name, const char *file,
    size_t line)
{
	size_t i, lo = 0, hi = b->nseen;
	char *where;
	int c;

	/* A sorted array and a binary search: a CSV may hold many rows. */
	while (lo < hi) {
		i = lo + (hi - lo) / 2;
		c = strcmp(b->seen[i].name, name);
		if (c == 0) {
			where = xasprintf("document name \"%s\" is also that "
			    "of %s; names must be unique (see --key)", name,
			    b->seen[i].where);
			build_data_error(file, line, where);
			free(where);
			return EX_DATAERR;
		}
		if (c < 0)
			lo = i + 1;
		else
			hi = i;
	}
	if (b->nseen == b->capseen) {
		b->capseen = b->capseen ? b->capseen * 2 : 64;
		b->seen = xreallocarray(b->seen, b->capseen,
		    sizeof(*b->seen));
	}
	memmove(&b->seen[lo + 1], &b->seen[lo],
	    (b->nseen - lo) * sizeof(*b->seen));
	b->seen[lo].name = xstrdup(name);
	b->seen[lo].where = xasprintf("%s:%zu", file, line);
	b->nseen++;
	return EX_OK;
}

/* Formats the request of u and appends it to the batch. */
static int
emit(struct build *b, struct unit *u, size_t n, size_t m,
    const char *file, size_t line)
{
	char id[SPOOL_CUSTOM_ID_MAX + 1], *msg;
	struct err err;

	docid_format(u->doc, n, m, id, sizeof(id));
	snprintf(u->chunk, sizeof(u->chunk), "%zu", n);
	snprintf(u->chunks, sizeof(u->chunks), "%zu", m);
	u->custom_id = id;
	if (template_format(b->tmpl, id, lookup, u, &b->lim, &b->line,
	    &err) == -1) {
		msg = xasprintf("%s: %s", id, err.msg);
		build_data_error(file, line, msg);
		free(msg);
		return EX_DATAERR;
	}
	u->custom_id = NULL;
	buf_addc(&b->line, '\n');
	if (fwrite(b->line.data, 1, b->line.len, b->out) != b->line.len) {
		fprintf(stderr, "spoolctl: writing the batch: %s\n",
		    strerror(errno));
		return EX_IOERR;
	}
	b->nreq++;
	return EX_OK;
}

static size_t
count_lines(const char *p, size_t from, size_t to)
{
	size_t n = 0;

	for (; from < to; from++)
		if (p[from] == '\n')
			n++;
	return n;
}

/* Text a request may carry: UTF-8 without NUL bytes. */
static int
check_text(const char *file, const char *data, size_t len)
{
	size_t bad;

	if ((bad = utf8_check(data, len)) < len)
		return build_data_error(file, 1 + count_lines(data, 0, bad),
		    "not UTF-8 text (convert it, e.g. with iconv)");
	if (memchr(data, '\0', len) != NULL)
		return build_data_error(file, 1 + count_lines(data, 0,
		    (size_t)((const char *)memchr(data, '\0', len) - data)),
		    "NUL byte: not a text file");
	return EX_OK;
}

/* The base name of path without its last suffix. */
char *
build_stem_of(const char *base)
{
	const char *dot = strrchr(base, '.');

	if (dot == NULL || dot == base)
		return xstrdup(base);
	return xstrndup(base, (size_t)(dot - base));
}

static bool
has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && strcasecmp(name + n - s, suffix) == 0;
}

/* A text document: one request per chunk. */
static int
build_text(struct build *b, const char *file, const char *base,
    const char *data, size_t len)
{
	struct chunk_iter it;
	struct unit u;
	char doc[DOCID_NAME_MAX + 1], *stem;
	size_t *offs = NULL, *lens = NULL, n = 0, cap = 0, i, line, at;
	int r;

	if ((r = check_text(file, data, len)) != EX_OK)
		return r;
	stem = build_stem_of(base);
	docid_name(stem, doc);
	free(stem);
	chunk_init(&it, data, len, b->chunk);
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			offs = xreallocarray(offs, cap, sizeof(*offs));
			lens = xreallocarray(lens, cap, sizeof(*lens));
		}
		if (!chunk_next(&it, &offs[n], &lens[n]))
			break;
		n++;
	}
	if (n == 0) {
		r = build_data_error(file, 0, "no text in the document");
		goto out;
	}
	if ((r = claim_name(b, doc, file, 1)) != EX_OK)
		goto out;
	memset(&u, 0, sizeof(u));
	u.file = base;
	u.doc = doc;
	line = 1;
	at = 0;
	for (i = 0; i < n && r == EX_OK; i++) {
		line += count_lines(data, at, offs[i]);
		at = offs[i];
		u.text = xstrndup(data + offs[i], lens[i]);
		r = emit(b, &u, i + 1, n, file, line);
		free((char *)u.text);
	}
out:
	free(offs);
	free(lens);
	return r;
}

/* {{text}} of a row or record without a "text" field: all of it. */
static char *
record_json(char * const *names, char * const *values, size_t n)
{
	cJSON *o = cJSON_CreateObject();
	char *s, *r;
	size_t i;

	for (i = 0; i < n; i++)
		cJSON_AddStringToObject(o, names[i], values[i]);
	s = cJSON_PrintUnformatted(o);
	SPOOL_ASSERT(s != NULL);
	cJSON_Delete(o);
	r = xstrdup(s);
	cJSON_free(s);
	return r;
}

/* A row's or record's document: STEM-KEY, or STEM-N without --key. */
static int
record_doc(struct build *b, const char *stem, char * const *names,
    char * const *values, size_t n, size_t number, const char *file,
    size_t line, char *doc)
{
	char *raw, *msg;
	size_t i;

	if (b->key == NULL) {
		raw = xasprintf("%s-%zu", stem, number);
	} else {
		for (i = 0; i < n; i++)
			if (strcmp(names[i], b->key) == 0)
				break;
		if (i == n || values[i][0] == '\0') {
			msg = xasprintf("no value for the key field \"%s\"",
			    b->key);
			build_data_error(file, line, msg);
			free(msg);
			return EX_DATAERR;
		}
		raw = xasprintf("%s-%s", stem, values[i]);
	}
	docid_name(raw, doc);
	free(raw);
	return claim_name(b, doc, file, line);
}

/* One request per row; the header names the placeholders. */
static int
build_csv(struct build *b, const char *file, const char *base,
    const char *data, size_t len)
{
	struct csv_reader rd;
	struct csv_record head, rec;
	struct unit u;
	struct err err;
	char doc[DOCID_NAME_MAX + 1], *stem, *msg;
	size_t i, j, rows = 0;
	int r;

	if ((r = check_text(file, data, len)) != EX_OK)
		return r;
	memset(&head, 0, sizeof(head));
	memset(&rec, 0, sizeof(rec));
	stem = build_stem_of(base);
	csv_init(&rd, data, len);
	if ((r = csv_next(&rd, &head, &err)) != 1) {
		r = build_data_error(file, r == 0 ? 0 : rd.errline,
		    r == 0 ? "no header row" : err.msg);
		goto out;
	}
	for (i = 0; i < head.n; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(head.fields[i], head.fields[j]) == 0)
				break;
		if (head.fields[i][0] == '\0' || j < i) {
			r = build_data_error(file, head.lineno, "the header "
			    "has an empty or repeated column name");
			goto out;
		}
	}
	if (b->key != NULL) {
		for (i = 0; i < head.n; i++)
			if (strcmp(head.fields[i], b->key) == 0)
				break;
		if (i == head.n) {
			msg = xasprintf("no column \"%s\" for --key", b->key);
			r = build_data_error(file, head.lineno, msg);
			free(msg);
			goto out;
		}
	}
	r = EX_OK;
	while (r == EX_OK) {
		if ((r = csv_next(&rd, &rec, &err)) == 0) {
			r = EX_OK;
			break;
		}
		if (r == -1) {
			r = build_data_error(file, rd.errline, err.msg);
			break;
		}
		if (rec.n != head.n) {
			msg = xasprintf("%zu fields, but the header has %zu",
			    rec.n, head.n);
			r = build_data_error(file, rec.lineno, msg);
			free(msg);
			break;
		}
		rows++;
		if ((r = record_doc(b, stem, head.fields, rec.fields, rec.n,
		    rows, file, rec.lineno, doc)) != EX_OK)
			break;
		memset(&u, 0, sizeof(u));
		u.file = base;
		u.doc = doc;
		u.names = head.fields;
		u.values = rec.fields;
		u.nfields = rec.n;
		u.record = record_json(head.fields, rec.fields, rec.n);
		r = emit(b, &u, 1, 1, file, rec.lineno);
		free(u.record);
	}
	if (r == EX_OK && rows == 0)
		r = build_data_error(file, 0, "no rows under the header");
out:
	csv_record_release(&head);
	csv_record_release(&rec);
	free(stem);
	return r;
}

struct jsonl {
	struct build	*b;
	const char	*file;
	const char	*base;
	char		*stem;
	size_t		 records;
	int		 r;
};

/*
 * A NUL byte, or a \u0000 escape in a JSON string: cJSON's strings end
 * at the first NUL, so the rest of the text would be lost unseen.
 */
static bool
has_nul(const char *p, size_t len)
{
	size_t i;

	if (memchr(p, '\0', len) != NULL)
		return true;
	for (i = 0; i + 1 < len; i++) {
		if (p[i] != '\\')
			continue;
		if (p[i + 1] == 'u' && i + 6 <= len &&
		    memcmp(p + i + 2, "0000", 4) == 0)
			return true;
		i++;	/* the escaped character */
	}
	return false;
}

/* A field's value as placeholder text: strings as they are. */
static char *
field_text(const cJSON *v)
{
	char *s, *r;

	if (cJSON_IsString(v))
		return xstrdup(v->valuestring);
	if (cJSON_IsNull(v))
		return xstrdup("");
	s = cJSON_PrintUnformatted(v);
	SPOOL_ASSERT(s != NULL);
	r = xstrdup(s);
	cJSON_free(s);
	return r;
}

static int
jsonl_record(const struct input_line *l, void *arg)
{
	struct jsonl *j = arg;
	struct build *b = j->b;
	struct unit u;
	char doc[DOCID_NAME_MAX + 1], **names = NULL, **values = NULL;
	const char *data = l->data;
	size_t len = l->len, n = 0, i;
	cJSON *rec = NULL, *v;

	if (l->too_long) {
		j->r = build_data_error(j->file, l->lineno, "line too long");
		return -1;
	}
	/* A UTF-8 byte order mark, as some exporters write. */
	if (l->lineno == 1 && len >= 3 &&
	    memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		len -= 3;
	}
	if (utf8_check(data, len) < len) {
		j->r = build_data_error(j->file, l->lineno, "not UTF-8 text");
		return -1;
	}
	if (has_nul(data, len)) {
		j->r = build_data_error(j->file, l->lineno, "a NUL character, "
		    "which a request cannot carry");
		return -1;
	}
	if (task_json_depth(data, len) > b->lim.max_depth ||
	    (rec = cJSON_ParseWithLength(data, len)) == NULL ||
	    !cJSON_IsObject(rec)) {
		j->r = build_data_error(j->file, l->lineno,
		    "not a JSON object");
		cJSON_Delete(rec);
		return -1;
	}
	cJSON_ArrayForEach(v, rec)
		n++;
	names = xcalloc(n + 1, sizeof(*names));
	values = xcalloc(n + 1, sizeof(*values));
	i = 0;
	cJSON_ArrayForEach(v, rec) {
		names[i] = xstrdup(v->string);
		values[i] = field_text(v);
		i++;
	}
	j->records++;
	if ((j->r = record_doc(b, j->stem, names, values, n, j->records,
	    j->file, l->lineno, doc)) == EX_OK) {
		memset(&u, 0, sizeof(u));
		u.file = j->base;
		u.doc = doc;
		u.names = names;
		u.values = values;
		u.nfields = n;
		u.record = cJSON_PrintUnformatted(rec);
		SPOOL_ASSERT(u.record != NULL);
		j->r = emit(b, &u, 1, 1, j->file, l->lineno);
		cJSON_free(u.record);
	}
	for (i = 0; i < n; i++) {
		free(names[i]);
		free(values[i]);
	}
	free(names);
	free(values);
	cJSON_Delete(rec);
	return j->r == EX_OK ? 0 : -1;
}

/* One request per record; its fields are the placeholders. */
static int
build_jsonl(struct build *b, const char *file, const char *base, int fd)
{
	struct jsonl j;

	memset(&j, 0, sizeof(j));
	j.b = b;
	j.file = file;
	j.base = base;
	j.stem = build_stem_of(base);
	j.r = EX_OK;
	if (input_scan_lines(fd, b->lim.max_line, jsonl_record, &j) == -1 &&
	    j.r == EX_OK) {
		fprintf(stderr, "spoolctl: %s: %s\n", file, strerror(errno));
		j.r = EX_IOERR;
	}
	if (j.r == EX_OK && j.records == 0)
		j.r = build_data_error(file, 0, "no records");
	free(j.stem);
	return j.r;
}

int
build_one(struct build *b, const char *file)
{
	struct buf data = BUF_INIT;
	struct stat st;
	const char *base, *p;
	size_t len;
	int fd, r;

	base = strrchr(file, '/');
	base = base != NULL && base[1] != '\0' ? base + 1 : file;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "spoolctl: %s: %s\n", file, strerror(errno));
		return EX_NOINPUT;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "spoolctl: %s: not a regular file\n", file);
		close(fd);
		return EX_NOINPUT;
	}
	if (has_suffix(base, ".jsonl") || has_suffix(base, ".ndjson")) {
		r = build_jsonl(b, file, base, fd);
		close(fd);
		return r;
	}
	if (input_read_file(fd, BUILD_MAX_DOC, &data) == -1) {
		r = errno == EFBIG ? build_data_error(file, 0, "over the 256 "
		    "MiB a document may have") : EX_IOERR;
		if (r == EX_IOERR)
			fprintf(stderr, "spoolctl: %s: %s\n", file,
			    strerror(errno));
		close(fd);
		buf_release(&data);
		return r;
	}
	close(fd);
	p = data.data != NULL ? data.data : "";
	len = data.len;
	/* A UTF-8 byte order mark, as spreadsheets and editors write. */
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		len -= 3;
	}
	if (has_suffix(base, ".csv"))
		r = build_csv(b, file, base, p, len);
	else
		r = build_text(b, file, base, p, len);
	buf_release(&data);
	return r;
}
