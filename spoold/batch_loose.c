/*
 * batch_loose - rolling batches of loose .json drops: opening (or
 * recovering) processing/BATCH/, adding members as they are claimed,
 * and each request's results/BATCH/CUSTOM_ID.json (SPEC §4).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "batch_internal.h"
#include "idset.h"
#include "log.h"
#include "record.h"
#include "util.h"

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
	    batch_open_journal(b, cfg, &done) == -1)
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

		batch_limits_from(cfg, &lim);
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
void
batch_write_task_file(struct batch *b, const struct pending *p)
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
	if (input_scan_lines(b->out_fd, SIZE_MAX / 2, ensure_task_file,
	    b) == -1 ||
	    input_scan_lines(b->err_fd, SIZE_MAX / 2, ensure_task_file,
	    b) == -1)
		return -1;
	/* One flush for all of them, then their names. */
	if (syncfs(b->results_fd) == -1 || spool_fsync_dir(b->results_fd) ==
	    -1)
		return -1;
	return 0;
}
