/*
 * batch - a claimed batch, its validation, journal and status.
 *
 * The journal is results/BATCH/output.jsonl and errors.jsonl
 * themselves: lines are buffered by batch_record() and written with one
 * write + fdatasync per file by batch_commit() (group commit, called by
 * the supervisor before it sleeps).  Only after that are the requests
 * counted done.  On a restart the same files are replayed: a torn last
 * line is cut off, and every custom_id found there is not sent again.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "idset.h"
#include "log.h"
#include "prices.h"
#include "record.h"
#include "util.h"

static void
bit_grow(struct batch *b, uint64_t nbits)
{
	uint64_t cap = b->done_cap ? b->done_cap : 1024;

	if (nbits <= b->done_cap)
		return;
	while (cap < nbits)
		cap *= 2;
	b->done = xrealloc(b->done, (size_t)(cap / 8));
	memset(b->done + b->done_cap / 8, 0, (size_t)((cap - b->done_cap) / 8));
	b->done_cap = cap;
}

static void
bit_set(struct batch *b, uint64_t i)
{
	bit_grow(b, i + 1);
	b->done[i / 8] |= (uint8_t)(1U << (i % 8));
}

static bool
bit_get(const struct batch *b, uint64_t i)
{
	return i < b->done_cap && (b->done[i / 8] & (1U << (i % 8))) != 0;
}

static struct batch *
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

/* Cuts a torn last line (a crash in the middle of an append). */
static int
repair_tail(int fd)
{
	struct stat st;
	char c;
	off_t end;
	char chunk[4096];
	ssize_t n, i;

	if (fstat(fd, &st) == -1)
		return -1;
	if (st.st_size == 0)
		return 0;
	if (pread_full(fd, &c, 1, st.st_size - 1) != 1)
		return -1;
	if (c == '\n')
		return 0;
	end = st.st_size;
	while (end > 0) {
		off_t start = end > (off_t)sizeof(chunk) ?
		    end - (off_t)sizeof(chunk) : 0;

		n = pread_full(fd, chunk, (size_t)(end - start), start);
		if (n <= 0)
			return -1;
		for (i = n - 1; i >= 0; i--) {
			if (chunk[i] == '\n') {
				if (ftruncate(fd, start + i + 1) == -1)
					return -1;
				return fsync(fd);
			}
		}
		end = start;
	}
	if (ftruncate(fd, 0) == -1)
		return -1;
	return fsync(fd);
}

struct replay {
	struct batch		*b;
	const struct config	*cfg;
	struct idset		*done;
	bool			 ok;
};

static int
replay_line(const struct input_line *l, void *arg)
{
	struct replay *r = arg;
	cJSON *root, *v, *body;
	struct req_usage u;
	char *model;

	if (l->too_long)
		return 0;
	if ((root = cJSON_ParseWithLength(l->data, l->len)) == NULL)
		return 0;
	v = cJSON_GetObjectItemCaseSensitive(root, "custom_id");
	if (cJSON_IsString(v)) {
		idset_add(r->done, v->valuestring);
		if (r->ok) {
			r->b->completed++;
			body = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(root, "response"),
			    "body");
			/* The same pricing as when it was received. */
			record_usage(body, &u.tokens_in, &u.tokens_out);
			model = record_model(body);
			batch_price(r->cfg, model, &u);
			free(model);
			r->b->tokens_in += u.tokens_in;
			r->b->tokens_out += u.tokens_out;
			r->b->cost += u.cost;
			if (u.unpriced)
				r->b->unpriced++;
		} else {
			r->b->failed++;
		}
	}
	cJSON_Delete(root);
	return 0;
}

static void
att_set(struct batch *b, uint64_t ordinal, uint32_t n)
{
	uint64_t key = ordinal + 1, *oldk;
	uint32_t *oldv;
	size_t i, j, oldcap;

	if (b->att_n * 2 >= b->att_cap) {
		oldk = b->att_keys;
		oldv = b->att_vals;
		oldcap = b->att_cap;
		b->att_cap = oldcap ? oldcap * 2 : 64;
		b->att_keys = xcalloc(b->att_cap, sizeof(*b->att_keys));
		b->att_vals = xcalloc(b->att_cap, sizeof(*b->att_vals));
		b->att_n = 0;
		for (i = 0; i < oldcap; i++)
			if (oldk[i] != 0)
				att_set(b, oldk[i] - 1, oldv[i]);
		free(oldk);
		free(oldv);
	}
	for (j = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (b->att_cap - 1);
	    b->att_keys[j] != 0 && b->att_keys[j] != key;
	    j = (j + 1) & (b->att_cap - 1))
		;
	if (b->att_keys[j] == 0) {
		b->att_keys[j] = key;
		b->att_n++;
	}
	if (n > b->att_vals[j])
		b->att_vals[j] = n;
}

uint32_t
batch_attempts(const struct batch *b, uint64_t ordinal)
{
	uint64_t key = ordinal + 1;
	size_t j;

	if (b->att_cap == 0)
		return 0;
	for (j = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (b->att_cap - 1);
	    b->att_keys[j] != 0; j = (j + 1) & (b->att_cap - 1))
		if (b->att_keys[j] == key)
			return b->att_vals[j];
	return 0;
}

void
batch_note_attempt(struct batch *b, uint64_t ordinal, uint32_t n)
{
	att_set(b, ordinal, n);
	buf_addf(&b->att_pending, "%llu %u\n", (unsigned long long)ordinal,
	    n);
}

static int
replay_attempt(const struct input_line *l, void *arg)
{
	struct batch *b = arg;
	unsigned long long ord;
	unsigned int n;
	char tmp[64];

	if (l->too_long || l->len >= sizeof(tmp))
		return 0;
	memcpy(tmp, l->data, l->len);
	tmp[l->len] = '\0';
	if (sscanf(tmp, "%llu %u", &ord, &n) == 2)
		att_set(b, ord, n);
	return 0;
}

/* Opens output.jsonl and errors.jsonl for appending, replaying them. */
static int
open_journal(struct batch *b, const struct config *cfg, struct idset *done)
{
	struct replay r = { b, cfg, done, true };

	b->out_fd = openat(b->results_fd, "output.jsonl", O_RDWR | O_APPEND |
	    O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (b->out_fd == -1)
		return -1;
	b->err_fd = openat(b->results_fd, "errors.jsonl", O_RDWR | O_APPEND |
	    O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (b->err_fd == -1)
		return -1;
	if (spool_fsync_dir(b->results_fd) == -1)
		return -1;
	if (repair_tail(b->out_fd) == -1 || repair_tail(b->err_fd) == -1)
		return -1;
	if (input_scan_lines(b->out_fd, SIZE_MAX / 2, replay_line, &r,
	    NULL) == -1)
		return -1;
	r.ok = false;
	if (input_scan_lines(b->err_fd, SIZE_MAX / 2, replay_line, &r,
	    NULL) == -1)
		return -1;
	/* Hidden: not a result, just how many attempts were spent. */
	b->att_fd = openat(b->results_fd, ".attempts", O_RDWR | O_APPEND |
	    O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (b->att_fd == -1 || repair_tail(b->att_fd) == -1 ||
	    input_scan_lines(b->att_fd, 256, replay_attempt, b, NULL) == -1)
		return -1;
	return 0;
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

struct validate {
	struct batch		*b;
	const struct config	*cfg;
	struct task_limits	 lim;
	struct idset		 seen;
	struct idset		*done;
	uint64_t		 valid;
};

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

static void
limits_from(const struct config *cfg, struct task_limits *lim)
{
	lim->max_line = (size_t)cfg->max_line_bytes;
	lim->max_depth = (int)cfg->max_json_depth;
}

struct batch *
batch_open_file(struct spool *sp, const struct config *cfg, const char *id,
    const char *input_name, struct err *err)
{
	struct batch *b;
	struct validate v;
	struct idset done = { NULL, 0, 0 };
	struct stat st;
	bool had_results;

	b = batch_alloc(id, BATCH_FILE);
	snprintf(b->input_name, sizeof(b->input_name), "%s", input_name);
	memset(&v, 0, sizeof(v));
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
	had_results = faccessat(spool_dirfd(sp, SPOOL_RESULTS), id, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0;
	v.b = b;
	v.cfg = cfg;
	limits_from(cfg, &v.lim);
	if (had_results) {
		if ((b->results_fd = spool_results_open(sp, id, false)) == -1 ||
		    open_journal(b, cfg, &done) == -1) {
			err_set(err, "io_error", "replay results/%s: %s", id,
			    strerror(errno));
			goto fail;
		}
		v.done = &done;
	}
	if (input_scan_lines(b->input_fd, v.lim.max_line, validate_line, &v,
	    b->sha256) == -1) {
		if (errno != 0)
			err_set(err, "io_error", "read %s: %s", input_name,
			    strerror(errno));
		else
			err_set(err, b->errors[b->nerrors - 1].err.code, "%s",
			    b->errors[b->nerrors - 1].err.msg);
		goto fail;
	}
	if (v.valid == 0 && !had_results) {
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
	    id, true)) == -1 || open_journal(b, cfg, &done) == -1)) {
		err_set(err, "io_error", "create results/%s: %s", id,
		    strerror(errno));
		goto fail;
	}
	b->sealed = true;
	b->started_at = time(NULL);
	idset_free(&v.seen);
	idset_free(&done);
	if (batch_commit(b) == -1) {
		err_set(err, "io_error", "write results/%s: %s", id,
		    strerror(errno));
		batch_free(b);
		return NULL;
	}
	return b;
fail:
	idset_free(&v.seen);
	idset_free(&done);
	batch_free(b);
	return NULL;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct batch *
batch_open_loose(struct spool *sp, const struct config *cfg, const char *id,
    struct err *err)
{
	struct batch *b;
	struct idset done = { NULL, 0, 0 };
	struct dirent *de;
	DIR *dir;
	int pdfd = spool_dirfd(sp, SPOOL_PROCESSING);
	char **names = NULL;
	size_t i, n = 0;

	b = batch_alloc(id, BATCH_LOOSE);
	snprintf(b->input_name, sizeof(b->input_name), "%s", id);
	if (mkdirat(pdfd, id, 0770) == 0) {
		if (spool_fsync_dir(pdfd) == -1)
			goto io;
	} else if (errno != EEXIST) {
		goto io;
	}
	b->input_fd = openat(pdfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (b->input_fd == -1)
		goto io;
	if ((b->results_fd = spool_results_open(sp, id, true)) == -1 ||
	    open_journal(b, cfg, &done) == -1)
		goto io;
	/* Members of an earlier run, in name order (claim order is lost). */
	if ((dir = spool_opendir(b->input_fd)) == NULL)
		goto io;
	while ((de = readdir(dir)) != NULL) {
		if (spool_name_kind(de->d_name) != SPOOL_KIND_JSON)
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dir);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		batch_add_member(b, names[i]);
		free(names[i]);
	}
	free(names);
	/* Members whose result is already in the journal are done. */
	if (done.n > 0) {
		struct task_limits lim;
		struct task t;
		struct err e;
		struct req_ref ref;

		limits_from(cfg, &lim);
		for (i = 0; i < b->nmembers; i++) {
			ref.ordinal = i;
			if (batch_read_task(b, &ref, &lim, &t, &e) == 0) {
				if (idset_has(&done, t.custom_id))
					bit_set(b, i);
				task_release(&t);
			} else {
				char stem[SPOOL_NAME_MAX + 1];

				if (spool_name_strip(b->members[i], stem,
				    sizeof(stem)) == 0 &&
				    idset_has(&done, stem))
					bit_set(b, i);
			}
		}
	}
	idset_free(&done);
	b->started_at = time(NULL);
	return b;
io:
	err_set(err, "io_error", "open loose batch %s: %s", id,
	    strerror(errno));
	idset_free(&done);
	batch_free(b);
	return NULL;
}

void
batch_add_member(struct batch *b, const char *name)
{
	SPOOL_ASSERT(b->kind == BATCH_LOOSE);
	b->members = xreallocarray(b->members, b->nmembers + 1,
	    sizeof(*b->members));
	b->members[b->nmembers++] = xstrdup(name);
	b->total = b->nmembers;
	bit_grow(b, b->total);
	b->status_dirty = true;
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

void
batch_record(struct batch *b, uint64_t ordinal, bool ok, const char *line,
    size_t len, const struct req_usage *u, const char *custom_id)
{
	static const struct req_usage none;

	struct pending *p;

	buf_add(ok ? &b->out_pending : &b->err_pending, line, len);
	if (b->npending == b->pending_cap) {
		b->pending_cap = b->pending_cap ? b->pending_cap * 2 : 64;
		b->pending = xreallocarray(b->pending, b->pending_cap,
		    sizeof(*b->pending));
	}
	p = &b->pending[b->npending++];
	p->ordinal = ordinal;
	p->ok = ok;
	p->usage = u != NULL ? *u : none;
	p->line = NULL;
	p->custom_id = NULL;
	if (b->kind == BATCH_LOOSE && custom_id != NULL) {
		p->line = xstrndup(line, len);
		p->custom_id = xstrdup(custom_id);
	}
}

bool
batch_has_pending(const struct batch *b)
{
	return b->npending > 0 || b->att_pending.len > 0;
}

/* The name of results/BATCH/CUSTOM_ID.json for a loose request. */
static void
task_file_name(const char *custom_id, char *name, size_t len)
{
	char safe[SPOOL_NAME_MAX - 16];

	spool_name_sanitize(custom_id, safe, sizeof(safe));
	/*
	 * A custom_id that had to change ("a/b" -> "a_b") gets a hash of
	 * the original, so that it cannot take another's file ("a_b").
	 */
	if (strcmp(safe, custom_id) != 0) {
		snprintf(name, len, "%s.%08x.json", safe,
		    (unsigned)(idset_hash(custom_id) & 0xffffffffu));
		return;
	}
	/* Never shadow the batch's own files. */
	if (strcmp(safe, "manifest") == 0 || strcmp(safe, "status") == 0)
		snprintf(name, len, "_%s.json", safe);
	else
		snprintf(name, len, "%s.json", safe);
}

/*
 * results/BATCH/CUSTOM_ID.json for a loose request (SPEC §4), visible as
 * soon as its line is journaled.  Derived from the journal, so it is
 * written without fsyncs (two per file made 100,000 loose drops crawl);
 * finishing rewrites what is missing or short and syncs them all.
 */
static void
write_task_file(struct batch *b, const struct pending *p)
{
	char name[SPOOL_NAME_MAX + 1];

	task_file_name(p->custom_id, name, sizeof(name));
	if (spool_write_fast(b->results_fd, name, p->line, strlen(p->line)) ==
	    -1)
		log_warn("batch=%s write results file %s", b->id, name);
}

static int
ensure_task_file(const struct input_line *l, void *arg)
{
	struct batch *b = arg;
	struct buf line = BUF_INIT;
	char name[SPOOL_NAME_MAX + 1], *id;
	struct stat st;
	int r = 0;

	if (l->too_long || (id = record_custom_id(l->data, l->len)) == NULL)
		return 0;
	task_file_name(id, name, sizeof(name));
	free(id);
	/* A power cut may have left it missing or empty. */
	if (fstatat(b->results_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && (size_t)st.st_size == l->len + 1)
		return 0;
	buf_add(&line, l->data, l->len);
	buf_addc(&line, '\n');
	if (spool_write_fast(b->results_fd, name, line.data, line.len) == -1)
		r = -1;
	buf_release(&line);
	return r;
}

int
batch_write_task_files(struct batch *b)
{
	if (b->kind != BATCH_LOOSE)
		return 0;
	if (input_scan_lines(b->out_fd, SIZE_MAX / 2, ensure_task_file, b,
	    NULL) == -1 ||
	    input_scan_lines(b->err_fd, SIZE_MAX / 2, ensure_task_file, b,
	    NULL) == -1)
		return -1;
	/* One flush for all of them, then their names. */
	if (syncfs(b->results_fd) == -1 || spool_fsync_dir(b->results_fd) ==
	    -1)
		return -1;
	return 0;
}

int
batch_commit(struct batch *b)
{
	size_t i;
	struct pending *p;

	if (b->att_pending.len > 0) {
		if (write_full(b->att_fd, b->att_pending.data,
		    b->att_pending.len) == -1 || fdatasync(b->att_fd) == -1)
			return -1;
		buf_reset(&b->att_pending);
	}
	if (b->npending == 0)
		return 0;
	/*
	 * One write and one fdatasync per file for every line buffered
	 * since the last turn of the loop.  A failed fsync is not retried:
	 * the kernel may have dropped the pages, so the caller stops.
	 */
	if (b->out_pending.len > 0) {
		if (write_full(b->out_fd, b->out_pending.data,
		    b->out_pending.len) == -1 || fdatasync(b->out_fd) == -1)
			return -1;
		buf_reset(&b->out_pending);
	}
	if (b->err_pending.len > 0) {
		if (write_full(b->err_fd, b->err_pending.data,
		    b->err_pending.len) == -1 || fdatasync(b->err_fd) == -1)
			return -1;
		buf_reset(&b->err_pending);
	}
	for (i = 0; i < b->npending; i++) {
		p = &b->pending[i];
		if (!bit_get(b, p->ordinal)) {
			bit_set(b, p->ordinal);
			if (p->ok) {
				b->completed++;
				b->new_ok++;
			} else {
				b->failed++;
				b->new_failed++;
			}
			b->tokens_in += p->usage.tokens_in;
			b->tokens_out += p->usage.tokens_out;
			b->cost += p->usage.cost;
			if (p->usage.unpriced)
				b->unpriced++;
		}
		if (p->line != NULL)
			write_task_file(b, p);
		free(p->line);
		free(p->custom_id);
	}
	b->npending = 0;
	b->status_dirty = true;
	return 0;
}

