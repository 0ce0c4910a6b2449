/*
 * claim - taking inputs: a batch file or a loose request is claimed
 * under a lease (created first), checked against the idempotency index,
 * and becomes a batch; leases of dead instances are adopted; cancels
 * stop batches.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "input.h"
#include "intake.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "sup.h"
#include "unpack.h"
#include "util.h"

void
batch_link(struct sup *s, struct batch *b)
{
	char hold[SPOOL_NAME_MAX + 8];

	b->next = s->batches;
	s->batches = b;
	b->status_dirty = true;
	/* Held before it was claimed: not even the first request goes. */
	snprintf(hold, sizeof(hold), "%s.hold", b->id);
	b->held = faccessat(spool_dirfd(s->sp, SPOOL_NEW), hold, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0;
	if (b->held)
		log_info("batch=%s held: nothing is dispatched", b->id);
}

void
batch_unlink(struct sup *s, struct batch *b)
{
	struct batch **pp;

	for (pp = &s->batches; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	}
	if (s->rr == b)
		s->rr = b->next;
	if (s->rolling == b)
		s->rolling = NULL;
}

static bool
id_taken(struct sup *s, const char *id)
{
	char name[SPOOL_NAME_MAX + 1];
	struct batch *b;

	for (b = s->batches; b != NULL; b = b->next)
		if (strcmp(b->id, id) == 0)
			return true;
	if (faccessat(spool_dirfd(s->sp, SPOOL_RESULTS), id, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0)
		return true;
	snprintf(name, sizeof(name), "%s.jsonl", id);
	/* done/ too: a duplicate drop goes there without results. */
	return faccessat(spool_dirfd(s->sp, SPOOL_PROCESSING), name, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0 ||
	    faccessat(spool_dirfd(s->sp, SPOOL_DONE), name, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0 ||
	    faccessat(spool_dirfd(s->sp, SPOOL_PROCESSING), id, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * A move whose rename happened but whose directory fsync failed: the
 * file is ours now, and must not be forgotten (the next fsync of that
 * directory makes the rename durable).
 */
static bool
moved_anyway(int dfd, const char *name)
{
	int saved = errno;
	bool there;

	there = faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (there)
		log_warn("fsync after moving %s; going on", name);
	errno = saved;
	return there;
}

/* With spool.require_ready, NAME.ready has done its job once NAME is
 * claimed (SPEC §3: it is removed). */
static void
consume_ready(struct sup *s, const char *stem)
{
	char ready[SPOOL_NAME_MAX + 8];

	if (!s->cfg->require_ready)
		return;
	snprintf(ready, sizeof(ready), "%s.ready", stem);
	if (unlinkat(spool_dirfd(s->sp, SPOOL_NEW), ready, 0) == -1 &&
	    errno != ENOENT)
		log_warn("remove new/%s", ready);
}

/* Our lease on a freshly claimed input. */
static int
lease_new(struct sup *s, const char *input)
{
	struct lease l = s->me;

	l.expires_ms = wall_ms() + s->cfg->lease_ms;
	l.created_s = (uint64_t)time(NULL);
	return lease_create(spool_dirfd(s->sp, SPOOL_PROCESSING), input, &l);
}

/*
 * The idempotency index: results/.sha256/SHA names the batch that took
 * that content.  Created with O_EXCL, so of two instances claiming the
 * same content at once only one runs it.  Returns 0 if we may run it,
 * 1 if the content was already taken (by is filled), -1 on error.
 */
static int
index_claim(struct sup *s, const char *sha, const char *id, char *by,
    size_t bylen)
{
	int rfd = spool_dirfd(s->sp, SPOOL_RESULTS), dfd, fd;
	ssize_t n;

	if ((dfd = openat(rfd, ".sha256", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	fd = openat(dfd, sha, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0660);
	if (fd == -1) {
		if (errno != EEXIST) {
			close(dfd);
			return -1;
		}
		by[0] = '\0';
		if ((fd = openat(dfd, sha, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) != -1) {
			n = read_full(fd, by, bylen - 1);
			by[n > 0 ? n : 0] = '\0';
			close(fd);
		}
		close(dfd);
		return 1;
	}
	if (write_full(fd, id, strlen(id)) == -1 || fsync(fd) == -1) {
		close(fd);
		unlinkat(dfd, sha, 0);
		close(dfd);
		return -1;
	}
	close(fd);
	if (spool_fsync_dir(dfd) == -1) {
		close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

static void
index_forget(struct sup *s, const char *sha)
{
	int dfd = openat(spool_dirfd(s->sp, SPOOL_RESULTS), ".sha256",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (dfd == -1)
		return;
	unlinkat(dfd, sha, 0);
	close(dfd);
}

/*
 * An archive or a directory batch: unpacked into processing/target as
 * JSONL (durable), then the original goes to done/ -- the JSONL is the
 * batch's input from here on.  A crash in between leaves the original
 * in new/: taken again, it unpacks to the same content, which the
 * idempotency index recognises.  Returns 0, 1 if the original is gone
 * (another instance took it), -1 with err (code "io_error": try again).
 */
static int
place_unpacked(struct sup *s, const char *name, enum spool_kind kind,
    const char *target, struct err *err)
{
	struct unpack_limits lim;
	struct unpack_report rep;
	struct spool_tmp *tmp;
	char done[SPOOL_NAME_MAX + 1];
	int fd, r, i;

	fd = openat(spool_dirfd(s->sp, SPOOL_NEW), name, O_RDONLY |
	    O_NOFOLLOW | O_CLOEXEC | (kind == SPOOL_KIND_DIR ? O_DIRECTORY :
	    O_NONBLOCK));
	if (fd == -1) {
		if (errno == ENOENT)
			return 1;
		err_set(err, errno == ELOOP || errno == ENOTDIR ?
		    "invalid_file" : "io_error", "open: %s", strerror(errno));
		return -1;
	}
	if ((tmp = spool_tmp_open(spool_dirfd(s->sp, SPOOL_PROCESSING))) ==
	    NULL) {
		err_set(err, "io_error", "create in processing/: %s",
		    strerror(errno));
		close(fd);
		return -1;
	}
	unpack_limits_default(&lim);
	lim.max_bytes = s->cfg->max_file_bytes;
	lim.task = s->lim;
	r = kind == SPOOL_KIND_DIR ?
	    unpack_dir(fd, s->cfg->ready_marker, spool_tmp_fd(tmp), &lim,
	    &rep, err) :
	    unpack_archive(fd, spool_tmp_fd(tmp), &lim, &rep, err);
	close(fd);
	if (r == 0 && spool_tmp_commit(&tmp, target) == -1) {
		err_set(err, "io_error", "write processing/%s: %s", target,
		    strerror(errno));
		r = -1;
	}
	if (r == -1) {
		spool_tmp_abort(&tmp);
		unpack_report_release(&rep);
		return -1;
	}
	log_info("%s: %llu members unpacked into %s", name,
	    (unsigned long long)rep.members, target);
	if (rep.skipped > 0)
		log_warnx("%s: %llu members are not .json or .jsonl and were "
		    "left out: %s%s", name, (unsigned long long)rep.skipped,
		    rep.skipped_names.data, rep.skipped_names.len >= 400 ?
		    ", ..." : "");
	unpack_report_release(&rep);
	snprintf(done, sizeof(done), "%s", name);
	for (i = 2; spool_move(s->sp, SPOOL_NEW, name, SPOOL_DONE, done) == -1;
	    i++) {
		if (errno != EEXIST || i > 1000) {
			/* Taken again later: a duplicate by content. */
			log_warn("move %s to done/", name);
			break;
		}
		snprintf(done, sizeof(done), "%.240s.%d", name, i);
	}
	return 0;
}

/*
 * A new batch drop (JSONL, archive or directory): claim it into
 * processing/ID.jsonl and open it.
 */
static int
claim_batch(struct sup *s, const char *name, enum spool_kind kind)
{
	char stem[SPOOL_BATCH_ID_MAX + 1], id[SPOOL_BATCH_ID_MAX + 16];
	char target[SPOOL_NAME_MAX + 1], force[SPOOL_NAME_MAX + 8];
	char sha[INPUT_SHA256_HEX], by[SPOOL_NAME_MAX + 1];
	int pfd = spool_dirfd(s->sp, SPOOL_PROCESSING), fd, i, r;
	struct batch *b;
	struct err err;
	bool forced;

	if (spool_name_stem(name, stem, sizeof(stem)) == -1) {
		err_set(&err, "invalid_name", "name too long for a batch id");
		intake_fail(s->sp, SPOOL_NEW, name, &err);
		return 0;
	}
	/*
	 * The lease comes first: an input in processing/ without one is
	 * an orphan that anyone may adopt, and of two instances choosing
	 * the same id only one can create its lease.
	 */
	for (i = 1; ; i++) {
		if (i == 1)
			snprintf(id, sizeof(id), "%s", stem);
		else
			snprintf(id, sizeof(id), "%s.%d", stem, i);
		if (id_taken(s, id))
			continue;
		snprintf(target, sizeof(target), "%s.jsonl", id);
		if (lease_new(s, target) == 0)
			break;
		if (errno != EEXIST) {
			log_warn("batch=%s create lease", id);
			return -1;
		}
	}
	if (kind != SPOOL_KIND_JSONL) {
		if ((r = place_unpacked(s, name, kind, target, &err)) != 0) {
			lease_remove(pfd, target);
			if (r == 1)
				return 0;	/* another instance took it */
			log_warnx("batch=%s %s: %s", id, name, err.msg);
			if (strcmp(err.code, "io_error") == 0)
				return -1;	/* looked at again later */
			stats_batch_done(s, "rejected");
			if (intake_fail(s->sp, SPOOL_NEW, name, &err) == -1)
				log_warn("move %s to failed/", name);
			return 0;
		}
	} else if (spool_move(s->sp, SPOOL_NEW, name, SPOOL_PROCESSING,
	    target) == -1 && (errno == ENOENT || errno == EEXIST ||
	    !moved_anyway(pfd, target))) {
		int saved = errno;

		lease_remove(pfd, target);
		if (saved == ENOENT)
			return 0;	/* another instance took it */
		errno = saved;
		log_warn("claim %s", name);
		return -1;
	}
	log_info("batch=%s claimed %s", id, name);
	consume_ready(s, stem);
	/* spoolctl submit --force leaves NAME.force: run it even if seen. */
	snprintf(force, sizeof(force), "%s.force", stem);
	forced = unlinkat(spool_dirfd(s->sp, SPOOL_NEW), force, 0) == 0;
	if ((fd = openat(pfd, target, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1 || input_sha256_fd(fd, sha) == -1) {
		log_warn("batch=%s read %s", id, target);
		if (fd != -1)
			close(fd);
		return 0;	/* stays claimed: adopted again later */
	}
	close(fd);
	r = forced ? 0 : index_claim(s, sha, id, by, sizeof(by));
	if (r == 1) {
		log_info("batch=%s has the same content (SHA-256 %.12s...) as "
		    "batch %s: not run again (spoolctl submit --force runs "
		    "it)", id, sha, by[0] != '\0' ? by : "?");
		if (spool_move(s->sp, SPOOL_PROCESSING, target, SPOOL_DONE,
		    target) == -1)
			log_warn("batch=%s move duplicate to done/", id);
		lease_remove(pfd, target);
		return 0;
	}
	if (r == -1)
		log_warn("batch=%s write idempotency index", id);
	if ((b = batch_open_file(s->sp, s->cfg, id, target, sha, &err)) ==
	    NULL) {
		if (!forced)
			index_forget(s, sha);
		if (strcmp(err.code, "io_error") == 0) {
			/* Not the input's fault: adopt() tries again. */
			log_warnx("batch=%s cannot open: %s; will retry", id,
			    err.msg);
			lease_remove(pfd, target);
			return 0;
		}
		log_warnx("batch=%s rejected: %s", id, err.msg);
		stats_batch_done(s, "rejected");
		if (intake_fail(s->sp, SPOOL_PROCESSING, target, &err) == -1)
			log_warn("batch=%s move to failed/", id);
		lease_remove(pfd, target);
		return 0;
	}
	if (b->sealed)
		claim_log_opened(b);
	batch_link(s, b);
	if (batch_write_status(b, s->cfg, "in_progress") == -1)
		log_warn("batch=%s write status.json", id);
	return 0;
}

void
claim_log_opened(const struct batch *b)
{
	log_info("batch=%s %llu requests, %llu invalid", b->id,
	    (unsigned long long)b->total, (unsigned long long)b->failed);
}

void
seal_rolling(struct sup *s)
{
	if (s->rolling == NULL)
		return;
	log_info("batch=%s sealed with %llu requests", s->rolling->id,
	    (unsigned long long)s->rolling->total);
	s->rolling->sealed = true;
	s->rolling = NULL;
	loop_timer_disarm(s->seal_timer);
}

void
on_seal_timer(void *arg)
{
	seal_rolling(arg);
}

/* A loose .json drop joins the rolling batch. */
static int
claim_json(struct sup *s, const char *name)
{
	char id[SPOOL_BATCH_ID_MAX + 16], ts[17], stem[SPOOL_NAME_MAX + 1];
	struct err err;
	int tries;

	for (tries = 0; tries < 2; tries++) {
		if (s->rolling == NULL) {
			format_utc_compact(time(NULL), ts);
			for (int i = 1; ; i++) {
				if (i == 1)
					snprintf(id, sizeof(id), "loose-%s",
					    ts);
				else
					snprintf(id, sizeof(id), "loose-%s.%d",
					    ts, i);
				if (id_taken(s, id))
					continue;
				if (lease_new(s, id) == 0)
					break;
				if (errno != EEXIST) {
					log_warn("batch=%s create lease", id);
					return -1;
				}
			}
			s->rolling = batch_open_loose(s->sp, s->cfg, id, &err);
			if (s->rolling == NULL) {
				log_warnx("%s", err.msg);
				lease_remove(spool_dirfd(s->sp,
				    SPOOL_PROCESSING), id);
				return -1;
			}
			batch_link(s, s->rolling);
			loop_timer_arm(s->seal_timer, s->cfg->max_age_ms);
			log_info("batch=%s opened for loose requests", id);
		}
		/*
		 * Loose drops come by the thousand: the directory fsyncs
		 * are grouped, once per turn of the loop, before any of
		 * them is dispatched (sync_claims).
		 */
		if (spool_rename_noreplace(spool_dirfd(s->sp, SPOOL_NEW), name,
		    s->rolling->input_fd, name) == 0) {
			s->rolling->claims_unsynced = true;
			s->claims_unsynced = true;
			batch_add_member(s->rolling, name);
			if (spool_name_stem(name, stem, sizeof(stem)) == 0)
				consume_ready(s, stem);
			log_debug("batch=%s took %s", s->rolling->id, name);
			if (s->rolling->total >= s->cfg->max_tasks)
				seal_rolling(s);
			return 0;
		}
		if (errno == ENOENT)
			return 0;
		if (errno != EEXIST) {
			log_warn("claim %s", name);
			return -1;
		}
		/* The same name twice in one batch: start another. */
		seal_rolling(s);
	}
	return -1;
}

static struct batch *
find_batch(struct sup *s, const char *id)
{
	struct batch *b;

	for (b = s->batches; b != NULL; b = b->next)
		if (strcmp(b->id, id) == 0)
			return b;
	return NULL;
}

/* Stops dispatch of b; what is left is reported with code. */
void
stop_batch(struct sup *s, struct batch *b, const char *code,
    const char *final_status)
{
	if (b->stop_code != NULL)
		return;
	b->stop_code = code;
	b->final_status = final_status;
	if (b->stop_reason == NULL)	/* the caller may say more */
		b->stop_reason = final_status;
	b->status_dirty = true;
	if (b == s->rolling)
		seal_rolling(s);
	purge_heap(s, b, true);
	log_info("batch=%s %s: %llu in flight finish, the rest is reported "
	    "as %s", b->id, final_status, (unsigned long long)b->inflight,
	    code);
}

/*
 * BATCH.cancel in new/.  It stays there until the batch is finished (so
 * a restart or another instance still sees it), then goes to done/.
 */
static int
on_cancel(struct sup *s, const char *name)
{
	char id[SPOOL_NAME_MAX + 1], other[SPOOL_NAME_MAX + 8];
	int pfd = spool_dirfd(s->sp, SPOOL_PROCESSING);
	struct batch *b;
	struct err err;
	int rfd;

	if (spool_name_stem(name, id, sizeof(id)) == -1)
		return 0;
	if ((b = find_batch(s, id)) != NULL) {
		stop_batch(s, b, "batch_cancelled", "cancelled");
		return 0;
	}
	/* Another instance's batch, or one not claimed yet: leave it. */
	snprintf(other, sizeof(other), "%s.jsonl", id);
	if (faccessat(pfd, other, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    faccessat(pfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    faccessat(spool_dirfd(s->sp, SPOOL_NEW), other, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	rfd = spool_results_open(s->sp, id, false);
	if (rfd != -1 && faccessat(rfd, "manifest.json", F_OK, 0) == 0)
		err_set(&err, "batch_finished", "batch %s has already finished",
		    id);
	else
		err_set(&err, "no_such_batch", "no batch %s to cancel", id);
	if (rfd != -1)
		close(rfd);
	log_warnx("%s: %s", name, err.msg);
	intake_fail(s->sp, SPOOL_NEW, name, &err);
	return 0;
}

int
on_drop(enum spool_kind kind, const char *name, void *arg)
{
	struct sup *s = arg;

	if (s->draining)
		return -1;
	switch (kind) {
	case SPOOL_KIND_JSONL:
	case SPOOL_KIND_ARCHIVE:
	case SPOOL_KIND_DIR:
		return claim_batch(s, name, kind);
	case SPOOL_KIND_JSON:
		return claim_json(s, name);
	case SPOOL_KIND_CANCEL:
		return on_cancel(s, name);
	case SPOOL_KIND_TEMP:
	case SPOOL_KIND_READY:
	case SPOOL_KIND_FORCE:
	case SPOOL_KIND_HOLD:
	case SPOOL_KIND_OTHER:
		break;
	}
	return 0;
}

static bool
owns_input(struct sup *s, const char *input)
{
	struct batch *b;

	for (b = s->batches; b != NULL; b = b->next)
		if (strcmp(b->input_name, input) == 0)
			return true;
	return false;
}

/*
 * Takes over processing/input if its lease has expired (or it has none
 * and was claimed longer than a lease ago).  Fills mine on success.
 */
static bool
take_lease(struct sup *s, const char *input, const struct stat *st,
    struct lease *mine)
{
	int pfd = spool_dirfd(s->sp, SPOOL_PROCESSING);
	struct lease old;
	uint64_t now = wall_ms();

	*mine = s->me;
	mine->expires_ms = now + s->cfg->lease_ms;
	mine->created_s = (uint64_t)time(NULL);
	(void)st;
	if (lease_read(pfd, input, &old) == -1) {
		/* Owners lease before they claim: no lease, no owner. */
		if (errno != ENOENT)
			return false;
		return lease_create(pfd, input, mine) == 0;
	}
	if (!lease_expired(&old, &s->me, now))
		return false;
	if (old.created_s > 0)
		mine->created_s = old.created_s;
	if (lease_takeover(pfd, input, &old, mine) == -1)
		return false;
	log_info("took over %s from %s pid %d (its lease expired or its "
	    "process is gone)", input, old.host, old.pid);
	return true;
}

static void	adopt_one(struct sup *s, const char *name,
		    const struct stat *st);

/* A lease whose input is gone (a crash after finishing): sweep it. */
static void
sweep_lease(struct sup *s, const char *name)
{
	int pfd = spool_dirfd(s->sp, SPOOL_PROCESSING), rfd;
	char input[SPOOL_NAME_MAX + 1], id[SPOOL_NAME_MAX + 1];
	struct lease old;
	size_t n = strlen(name) - strlen(".lease");
	bool finished;

	if (n == 0 || n >= sizeof(input))
		return;
	memcpy(input, name, n);
	input[n] = '\0';
	if (faccessat(pfd, input, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT)
		return;
	if (lease_read(pfd, input, &old) == -1 ||
	    !lease_expired(&old, &s->me, wall_ms()))
		return;
	/*
	 * The lease outlives the input only while a batch finishes: its
	 * finisher died after moving the input to done/ but before the
	 * manifest, or before it had run the notifications (notify.h).
	 * Put the input back; adopt() finishes it again (finish.c then
	 * keeps a manifest that is in place and only notifies).
	 */
	if (spool_name_stem(input, id, sizeof(id)) == 0 &&
	    (rfd = spool_results_open(s->sp, id, false)) != -1) {
		finished = faccessat(rfd, "manifest.json", F_OK, 0) == 0 &&
		    !notify_pending(s->cfg, rfd);
		close(rfd);
		if (!finished && spool_move(s->sp, SPOOL_DONE, input,
		    SPOOL_PROCESSING, input) == 0) {
			struct stat st;

			log_info("batch=%s was not finished; resuming it", id);
			if (fstatat(pfd, input, &st, AT_SYMLINK_NOFOLLOW) == 0)
				adopt_one(s, input, &st);
			return;
		}
	}
	lease_remove(pfd, input);
}

/*
 * ".lease.PID.RAND.tmp" left by a lease write that a kill -9 cut short.
 * Ten seconds old and its pid gone from this host: nobody will finish
 * it.  (A pid from another host sharing the spool may look dead here;
 * the age keeps its write, which takes milliseconds, safe.)
 */
static void
sweep_lease_tmp(struct sup *s, const char *name)
{
	int pfd = spool_dirfd(s->sp, SPOOL_PROCESSING);
	struct stat st;
	long pid;
	char *end;

	pid = strtol(name + 7, &end, 10);
	if (*end != '.' || pid <= 0 || pid == (long)getpid() ||
	    (kill((pid_t)pid, 0) == 0 || errno != ESRCH) ||
	    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    time(NULL) - st.st_mtime < 10)
		return;
	unlinkat(pfd, name, 0);
}

/* Takes over processing/name if nobody holds it, and resumes it. */
static void
adopt_one(struct sup *s, const char *name, const struct stat *st)
{
	int pfd = spool_dirfd(s->sp, SPOOL_PROCESSING);
	char id[SPOOL_NAME_MAX + 1];
	struct lease mine;
	struct batch *b;
	struct err err;
	bool file;

	file = S_ISREG(st->st_mode) &&
	    spool_name_kind(name) == SPOOL_KIND_JSONL;
	if (!file && !(S_ISDIR(st->st_mode) && strncmp(name, "loose-", 6) ==
	    0))
		return;
	if (!take_lease(s, name, st, &mine))
		return;
	if (file) {
		spool_name_stem(name, id, sizeof(id));
		/* Whole: "resumed" below tells how many are done. */
		if ((b = batch_open_file(s->sp, s->cfg, id, name, NULL,
		    &err)) != NULL && batch_validate_more(b, true) == -1) {
			err_set(&err, "io_error", "read %s: %s", name,
			    strerror(errno));
			batch_free(b);
			b = NULL;
		}
	} else {
		snprintf(id, sizeof(id), "%s", name);
		if ((b = batch_open_loose(s->sp, s->cfg, name, &err)) != NULL)
			b->sealed = true;
	}
	if (b == NULL) {
		/* A bad input fails; a disk error is tried again later. */
		log_warnx("batch=%s cannot resume: %s", id, err.msg);
		if (file && strcmp(err.code, "io_error") != 0)
			intake_fail(s->sp, SPOOL_PROCESSING, name, &err);
		lease_remove(pfd, name);
		return;
	}
	b->created_at = (time_t)mine.created_s;
	log_info("batch=%s resumed: %llu of %llu done", b->id,
	    (unsigned long long)(b->completed + b->failed),
	    (unsigned long long)b->total);
	batch_link(s, b);
}

/*
 * Inputs in processing/ that nobody holds: left by a crash (ours or
 * another instance's) or by an instance that stopped.  Run at start
 * and every spool.rescan.
 */
void
adopt(struct sup *s)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int pfd = spool_dirfd(s->sp, SPOOL_PROCESSING);
	size_t n;

	if (s->draining)
		return;
	if ((dir = spool_opendir(pfd)) == NULL) {
		log_warn("read processing/");
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		n = strlen(de->d_name);
		if (strncmp(de->d_name, ".lease.", 7) == 0) {
			sweep_lease_tmp(s, de->d_name);
			continue;
		}
		if (de->d_name[0] == '.' || owns_input(s, de->d_name) ||
		    fstatat(pfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (n > 6 && strcmp(de->d_name + n - 6, ".lease") == 0) {
			sweep_lease(s, de->d_name);
			continue;
		}
		adopt_one(s, de->d_name, &st);
	}
	closedir(dir);
}

void
on_adopt_timer(void *arg)
{
	struct sup *s = arg;

	adopt(s);
	loop_timer_arm(s->adopt_timer, s->cfg->rescan_ms);
}
