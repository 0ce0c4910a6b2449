/*
 * batch - a claimed batch: making one, validating a JSONL batch as it
 * is opened (invalid lines are journaled, never sent), and reading its
 * requests for dispatch, of file and loose batches alike.
 *
 * The rest of the module: the journal in batch_journal.c, loose
 * batches' members and result files in batch_loose.c, status.json in
 * batch_status.c, dead letters in deadletter.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "batch_internal.h"
#include "idset.h"
#include "prices.h"
#include "record.h"
#include "util.h"

static void	validate_free(struct validate *v);

struct batch *
batch_alloc(const char *id, enum batch_kind kind)
{
	struct batch *b;

	b = xcalloc(1, sizeof(*b));
	snprintf(b->id, sizeof(b->id), "%s", id);
	b->kind = kind;
	b->input_fd = b->results_fd = b->out_fd = b->err_fd = -1;
	b->att_fd = -1;
	buf_init(&b->att_pending);
	buf_init(&b->ahead);
	buf_init(&b->out_pending);
	buf_init(&b->err_pending);
	b->created_at = time(NULL);
	b->opened_ms = now_ms();
	b->status_dirty = true;
	b->final_status = "completed";
	return b;
}

void
batch_free(struct batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	if (b->input_fd != -1)
		close(b->input_fd);
	if (b->results_fd != -1)
		close(b->results_fd);
	if (b->out_fd != -1)
		close(b->out_fd);
	if (b->err_fd != -1)
		close(b->err_fd);
	if (b->att_fd != -1)
		close(b->att_fd);
	free(b->att_keys);
	free(b->att_vals);
	buf_release(&b->att_pending);
	for (i = 0; i < b->nmembers; i++)
		free(b->members[i]);
	free(b->members);
	for (i = 0; i < b->npending; i++) {
		free(b->pending[i].line);
		free(b->pending[i].custom_id);
	}
	free(b->pending);
	free(b->done);
	validate_free(b->validating);
	buf_release(&b->ahead);
	buf_release(&b->out_pending);
	buf_release(&b->err_pending);
	free(b);
}

static void
note_error(struct batch *b, uint64_t line, const struct err *err)
{
	if (b->nerrors < SPOOL_MAX_ERRORS_LISTED) {
		b->errors[b->nerrors].line = line;
		b->errors[b->nerrors].err = *err;
		b->nerrors++;
	}
}

/* Journals an invalid request: it is reported, never sent. */
static void
record_invalid(struct batch *b, uint64_t ordinal, uint64_t lineno,
    const char *custom_id, const struct err *err)
{
	struct buf line = BUF_INIT;
	char fallback[40], msg[320];

	if (custom_id == NULL) {
		snprintf(fallback, sizeof(fallback), "line-%llu",
		    (unsigned long long)lineno);
		custom_id = fallback;
	}
	snprintf(msg, sizeof(msg), "line %llu: %s",
	    (unsigned long long)lineno, err->msg);
	record_format(&line, custom_id, 0, NULL, NULL, 0, err->code, msg);
	batch_record(b, ordinal, false, line.data, line.len, NULL, NULL);
	buf_release(&line);
	note_error(b, lineno, err);
}

/*
 * Lines validated in one step once a batch is open, between turns of
 * the loop (about 1 ms): dispatch starts after the first step, not
 * after the whole file, and the results that come in meanwhile wait no
 * longer than a step.
 */
#define VALIDATE_STEP	1024

/* A file batch's validation, kept in the batch until its end. */
struct validate {
	struct batch		*b;
	const struct config	*cfg;
	struct task_limits	 lim;
	struct idset		 seen;
	struct idset		 done_ids;	/* replayed: done before */
	struct idset		*done;		/* &done_ids, or NULL */
	uint64_t		 valid;
	struct input_pos	 pos;
};

static void
validate_free(struct validate *v)
{
	if (v == NULL)
		return;
	idset_free(&v->seen);
	idset_free(&v->done_ids);
	free(v);
}

/* One request: valid, known endpoint, custom_id not seen before. */
static int
check_task(struct validate *v, struct task *t, struct err *err)
{
	if (t->endpoint != NULL &&
	    config_endpoint_index(v->cfg, t->endpoint) == -1) {
		err_set(err, "invalid_request", "unknown endpoint \"%.64s\"",
		    t->endpoint);
		return -1;
	}
	if (idset_add(&v->seen, t->custom_id)) {
		err_set(err, "duplicate_custom_id",
		    "custom_id \"%.64s\" appears more than once in the batch",
		    t->custom_id);
		return -1;
	}
	return 0;
}

static int
validate_line(const struct input_line *l, void *arg)
{
	struct validate *v = arg;
	struct batch *b = v->b;
	struct task t;
	struct err err;
	uint64_t ord = b->total++;
	char *guess;

	if (ord >= v->cfg->max_requests) {
		err_set(&err, "too_many_requests", "more than %llu requests",
		    (unsigned long long)v->cfg->max_requests);
		note_error(b, l->lineno, &err);
		return -1;
	}
	if (l->too_long) {
		err_set(&err, "invalid_request", "line is over %zu bytes",
		    v->lim.max_line);
		if (!bit_get(b, ord))
			record_invalid(b, ord, l->lineno, NULL, &err);
		return 0;
	}
	if (task_parse_line(l->data, l->len, &v->lim, &t, &err) == 0) {
		if (v->done != NULL && idset_has(v->done, t.custom_id)) {
			/* Finished in an earlier run: counted by replay. */
			bit_set(b, ord);
			idset_add(&v->seen, t.custom_id);
			v->valid++;
			task_release(&t);
			return 0;
		}
		if (check_task(v, &t, &err) == 0) {
			v->valid++;
			task_release(&t);
			return 0;
		}
		record_invalid(b, ord, l->lineno, t.custom_id, &err);
		task_release(&t);
		return 0;
	}
	guess = task_guess_custom_id(l->data, l->len);
	if (guess != NULL && v->done != NULL && idset_has(v->done, guess)) {
		bit_set(b, ord);	/* its error line is already written */
	} else {
		record_invalid(b, ord, l->lineno, guess, &err);
	}
	free(guess);
	return 0;
}

void
batch_limits_from(const struct config *cfg, struct task_limits *lim)
{
	lim->max_line = (size_t)cfg->max_line_bytes;
	lim->max_depth = (int)cfg->max_json_depth;
}

/*
 * Could the file hold more than max_requests lines?  Then it is counted
 * up front: too many requests refuse the whole batch, which must be
 * known before the first is sent.  (Under 2 bytes a line it cannot.)
 */
static int
too_many_lines(int fd, const struct stat *st, uint64_t max, bool *over)
{
	uint64_t n;

	*over = false;
	if ((uint64_t)st->st_size / 2 < max)
		return 0;
	if (input_count_lines(fd, &n) == -1)
		return -1;
	*over = n > max;
	return 0;
}

struct batch *
batch_open_file(struct spool *sp, const struct config *cfg, const char *id,
    const char *input_name, const char *sha256, struct err *err)
{
	struct batch *b;
	struct validate *v;
	struct stat st;
	bool had_results, whole;

	b = batch_alloc(id, BATCH_FILE);
	snprintf(b->input_name, sizeof(b->input_name), "%s", input_name);
	v = xcalloc(1, sizeof(*v));
	v->pos = (struct input_pos)INPUT_POS_START;
	b->input_fd = openat(spool_dirfd(sp, SPOOL_PROCESSING), input_name,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (b->input_fd == -1 && errno == ELOOP) {
		/* Swapped for a symlink after intake looked: a bad input,
		 * not a disk error to try again forever. */
		err_set(err, "invalid_file", "%s is a symlink", input_name);
		goto fail;
	}
	if (b->input_fd == -1 || fstat(b->input_fd, &st) == -1) {
		err_set(err, "io_error", "open %s: %s", input_name,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(err, "invalid_file", "not a regular file");
		goto fail;
	}
	if ((uint64_t)st.st_size > cfg->max_file_bytes) {
		err_set(err, "file_too_large", "%lld bytes, over the limit "
		    "of %llu", (long long)st.st_size,
		    (unsigned long long)cfg->max_file_bytes);
		goto fail;
	}
	if (sha256 != NULL)
		snprintf(b->sha256, sizeof(b->sha256), "%s", sha256);
	if ((sha256 == NULL && input_sha256_fd(b->input_fd, b->sha256) ==
	    -1) || too_many_lines(b->input_fd, &st, cfg->max_requests,
	    &whole) == -1) {
		err_set(err, "io_error", "read %s: %s", input_name,
		    strerror(errno));
		goto fail;
	}
	had_results = faccessat(spool_dirfd(sp, SPOOL_RESULTS), id, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0;
	v->b = b;
	v->cfg = cfg;
	batch_limits_from(cfg, &v->lim);
	if (had_results) {
		if ((b->results_fd = spool_results_open(sp, id, false)) == -1 ||
		    batch_open_journal(b, cfg, &v->done_ids) == -1) {
			err_set(err, "io_error", "replay results/%s: %s", id,
			    strerror(errno));
			goto fail;
		}
		v->done = &v->done_ids;
	}
	/*
	 * Up to the first valid request (or the end), and one step: the
	 * rest is validated by batch_validate_more() while the first are
	 * out.  A file of too many lines is read whole now, to be refused.
	 */
	do {
		if (input_scan_some(b->input_fd, v->lim.max_line,
		    validate_line, v, &v->pos, whole ? 0 : VALIDATE_STEP) ==
		    -1) {
			if (errno != 0)
				err_set(err, "io_error", "read %s: %s",
				    input_name, strerror(errno));
			else
				err_set(err, b->errors[b->nerrors - 1].err.code,
				    "%s", b->errors[b->nerrors - 1].err.msg);
			goto fail;
		}
	} while (!v->pos.eof && v->valid == 0 && !had_results);
	if (v->valid == 0 && !had_results) {
		if (b->total == 0)
			err_set(err, "empty_batch", "no request in the file");
		else
			err_set(err, b->errors[0].err.code, "no valid request "
			    "(line %llu: %s)",
			    (unsigned long long)b->errors[0].line,
			    b->errors[0].err.msg);
		goto fail;
	}
	if (b->results_fd == -1 && ((b->results_fd = spool_results_open(sp,
	    id, true)) == -1 || batch_open_journal(b, cfg, &v->done_ids) ==
	    -1)) {
		err_set(err, "io_error", "create results/%s: %s", id,
		    strerror(errno));
		goto fail;
	}
	b->started_at = time(NULL);
	/* Not complete before every line is validated. */
	b->sealed = v->pos.eof;
	if (b->sealed)
		validate_free(v);
	else
		b->validating = v;
	if (batch_commit(b) == -1) {
		err_set(err, "io_error", "write results/%s: %s", id,
		    strerror(errno));
		batch_free(b);
		return NULL;
	}
	return b;
fail:
	validate_free(v);
	batch_free(b);
	return NULL;
}

int
batch_validate_more(struct batch *b, bool to_end)
{
	struct validate *v = b->validating;

	if (v == NULL)
		return 1;
	if (input_scan_some(b->input_fd, v->lim.max_line, validate_line, v,
	    &v->pos, to_end ? 0 : VALIDATE_STEP) == -1)
		return -1;
	if (!v->pos.eof)
		return 0;
	validate_free(v);
	b->validating = NULL;
	b->sealed = true;
	b->status_dirty = true;
	return 1;
}

/*
 * The next line at the cursor, from the read-ahead buffer.  Returns 1
 * with the line, 0 at the end; a line over max_line is skipped and
 * returned with *p NULL (validation already reported it).
 */
static int
next_line(struct batch *b, size_t max_line, const char **p, size_t *len,
    uint64_t *off)
{
	size_t rel;
	const char *nl;
	ssize_t n;
	bool eof = false;

	for (;;) {
		rel = (size_t)(b->cursor_off - b->ahead_off);
		if (rel < b->ahead.len) {
			nl = memchr(b->ahead.data + rel, '\n',
			    b->ahead.len - rel);
			if (nl != NULL || eof) {
				*p = b->ahead.data + rel;
				*len = nl != NULL ? (size_t)(nl - *p) :
				    b->ahead.len - rel;
				*off = b->cursor_off;
				b->cursor_off += *len + (nl != NULL ? 1 : 0);
				if (*len > max_line)
					*p = NULL;
				return 1;
			}
		} else if (eof) {
			return 0;
		}
		/* Refill: keep the unread tail, read the next chunk. */
		buf_consume(&b->ahead, rel);
		b->ahead_off = b->cursor_off;
		buf_grow(&b->ahead, 256 * 1024);
		n = pread(b->input_fd, b->ahead.data + b->ahead.len,
		    b->ahead.cap - b->ahead.len - 1,
		    (off_t)(b->ahead_off + b->ahead.len));
		if (n == -1)
			return -1;
		if (n == 0)
			eof = true;
		b->ahead.len += (size_t)n;
		b->ahead.data[b->ahead.len] = '\0';
	}
}

bool
batch_next(struct batch *b, size_t max_line, struct req_ref *ref)
{
	const char *p;
	size_t len, i;
	uint64_t off;
	bool blank;

	if (b->kind == BATCH_LOOSE) {
		while (b->cursor_ord < b->nmembers) {
			ref->ordinal = b->cursor_ord++;
			ref->offset = 0;
			ref->len = 0;
			ref->attempt = 0;
			if (!bit_get(b, ref->ordinal))
				return true;
		}
		return false;
	}
	while (b->cursor_ord < b->total) {
		if (next_line(b, max_line, &p, &len, &off) != 1)
			return false;
		if (p != NULL) {
			/* Blank lines have no ordinal (as in the scan). */
			blank = true;
			for (i = 0; i < len && blank; i++)
				if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
					blank = false;
			if (blank)
				continue;
			if (len > 0 && p[len - 1] == '\r')
				len--;
		}
		ref->ordinal = b->cursor_ord++;
		ref->offset = off;
		ref->len = (uint32_t)len;
		ref->attempt = 0;
		if (p != NULL && !bit_get(b, ref->ordinal))
			return true;
	}
	return false;
}

int
batch_read_task(struct batch *b, const struct req_ref *ref,
    const struct task_limits *lim, struct task *t, struct err *err)
{
	struct buf data = BUF_INIT;
	char stem[SPOOL_NAME_MAX + 1];
	int fd, r = -1;

	if (b->kind == BATCH_FILE) {
		/* Just found by batch_next(): still in the read-ahead. */
		if (ref->offset >= b->ahead_off && ref->offset + ref->len <=
		    b->ahead_off + b->ahead.len) {
			r = task_parse_line(b->ahead.data + (ref->offset -
			    b->ahead_off), ref->len, lim, t, err);
			goto out;
		}
		if (input_read_at(b->input_fd, ref->offset, ref->len,
		    &data) == -1) {
			err_set(err, "io_error", "read request: %s",
			    strerror(errno));
			goto out;
		}
		r = task_parse_line(data.data, data.len, lim, t, err);
		goto out;
	}
	SPOOL_ASSERT(ref->ordinal < b->nmembers);
	fd = openat(b->input_fd, b->members[ref->ordinal], O_RDONLY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || input_read_file(fd, lim->max_line, &data) == -1) {
		err_set(err, errno == EFBIG ? "invalid_request" : "io_error",
		    "read %s: %s", b->members[ref->ordinal], strerror(errno));
		if (fd != -1)
			close(fd);
		goto out;
	}
	close(fd);
	/* Not spool_name_stem: a custom_id may be longer than a batch id
	 * (it left stem unset for a name of 201 to 255 bytes). */
	spool_name_strip(b->members[ref->ordinal], stem, sizeof(stem));
	r = task_parse_file(data.data, data.len, stem, lim, t, err);
out:
	buf_release(&data);
	return r;
}

void
batch_price(const struct config *cfg, const char *model,
    struct req_usage *u)
{
	const struct price *pr;

	u->cost = 0;
	u->unpriced = false;
	if (cfg->prices == NULL || u->tokens_in + u->tokens_out == 0)
		return;
	if ((pr = prices_find(cfg->prices, model)) == NULL)
		u->unpriced = true;
	else
		u->cost = price_cost(pr, u->tokens_in, u->tokens_out);
}
