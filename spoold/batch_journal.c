/*
 * batch_journal - a batch's journal: buffering result lines, their
 * group commit, and replaying (and repairing) the journal when a batch
 * is opened again; with it the attempts spent by retried requests.
 *
 * The journal is results/BATCH/output.jsonl and errors.jsonl
 * themselves: lines are buffered by batch_record() and written with one
 * write + fdatasync per file by batch_commit() (group commit, called by
 * the supervisor before it sleeps).  Only after that are the requests
 * counted done.  On a restart the same files are replayed: a torn last
 * line is cut off, and every custom_id found there is not sent again.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "batch_internal.h"
#include "idset.h"
#include "record.h"
#include "util.h"

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
int
batch_open_journal(struct batch *b, const struct config *cfg,
    struct idset *done)
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
	if (input_scan_lines(b->out_fd, SIZE_MAX / 2, replay_line, &r) == -1)
		return -1;
	r.ok = false;
	if (input_scan_lines(b->err_fd, SIZE_MAX / 2, replay_line, &r) == -1)
		return -1;
	/* Hidden: not a result, just how many attempts were spent. */
	b->att_fd = openat(b->results_fd, ".attempts", O_RDWR | O_APPEND |
	    O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (b->att_fd == -1 || repair_tail(b->att_fd) == -1 ||
	    input_scan_lines(b->att_fd, 256, replay_attempt, b) == -1)
		return -1;
	return 0;
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
			batch_write_task_file(b, p);
		free(p->line);
		free(p->custom_id);
	}
	b->npending = 0;
	b->status_dirty = true;
	return 0;
}
