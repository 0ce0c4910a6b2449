/*
 * supervisor - claims, schedules, journals, finishes.
 *
 * Scheduling: requests waiting to be retried sit in a min-heap by due
 * time behind one loop timer; fresh requests come from the open batches
 * in round-robin, one at a time, so a huge batch does not starve a small
 * one.  A request is "in flight" from dispatch until its result is
 * journaled or it is back in the retry heap; batch->inflight counts both.
 *
 * Each turn of the loop, before sleeping: dispatch what workers can
 * take, group-commit every batch's buffered results (only then are they
 * counted), start finishing complete batches, flush the channels.
 */
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "finish.h"
#include "input.h"
#include "intake.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "proto.h"
#include "ratelimit.h"
#include "record.h"
#include "supervisor.h"
#include "util.h"

struct slot {
	bool		 used;
	uint32_t	 gen;
	struct batch	*b;
	struct req_ref	 ref;
	int		 worker;
	int		 endpoint;
	uint32_t	 max_attempts;
	uint64_t	 tokens;	/* the rate limiter's estimate */
	char		*custom_id;
};

struct retry {
	uint64_t	 due;
	struct batch	*b;
	struct req_ref	 ref;
};

/*
 * An endpoint that is down (refused connections, rejected credentials,
 * a run of failures) is paused with a growing backoff; its requests wait
 * without spending attempts.  When the pause ends, one request probes
 * it; its success resumes the endpoint.
 */
struct epstate {
	uint64_t	 paused_until;	/* monotonic ms; 0: not paused */
	uint64_t	 pause_ms;	/* current backoff */
	uint32_t	 failures;	/* consecutive retryable failures */
	bool		 probing;	/* one request in flight decides */
};

#define EP_FAILURES_PAUSE	10
#define EP_PAUSE_MIN_MS		1000
#define EP_PAUSE_MAX_MS		60000

struct finishing {
	pid_t		 pid;
	struct batch	*b;
};

struct sup {
	struct config	*cfg;
	struct spool	*sp;
	struct loop	*loop;
	struct pool	*pool;
	struct intake	*intake;
	const char	*self;
	bool		 once;
	bool		 draining;
	int		 exit_code;
	struct batch	*batches;
	struct batch	*rr;		/* next batch to serve */
	struct batch	*rolling;	/* open loose batch */
	struct slot	*slots;
	size_t		 nslots;
	uint32_t	*free_slots;
	size_t		 nfree;
	struct retry	*heap;
	size_t		 nheap;
	size_t		 heapcap;
	int		*worker_load;
	uint64_t	 ep_load[SPOOL_MAX_ENDPOINTS];
	struct epstate	 ep[SPOOL_MAX_ENDPOINTS];
	struct ratelimit rl[SPOOL_MAX_ENDPOINTS];
	struct finishing fin[64];
	int		 nfin;
	struct loop_timer *retry_timer;
	struct loop_timer *status_timer;
	struct loop_timer *seal_timer;
	struct loop_timer *lease_timer;
	struct loop_timer *adopt_timer;
	struct lease	 me;
	struct task_limits lim;
	bool		 claims_unsynced;	/* new/ needs an fsync */
	int		 sigfd;
	uint64_t	 inflight;
};

/* --- retry heap ---------------------------------------------------- */

static void
heap_push(struct sup *s, const struct retry *r)
{
	size_t i, p;
	struct retry tmp;

	if (s->nheap == s->heapcap) {
		s->heapcap = s->heapcap ? s->heapcap * 2 : 256;
		s->heap = xreallocarray(s->heap, s->heapcap, sizeof(*s->heap));
	}
	i = s->nheap++;
	s->heap[i] = *r;
	while (i > 0) {
		p = (i - 1) / 2;
		if (s->heap[p].due <= s->heap[i].due)
			break;
		tmp = s->heap[p];
		s->heap[p] = s->heap[i];
		s->heap[i] = tmp;
		i = p;
	}
	loop_timer_arm_sooner(s->retry_timer, r->due > now_ms() ?
	    r->due - now_ms() : 0);
}

static void
heap_pop(struct sup *s, struct retry *out)
{
	size_t i = 0, l, r, m;
	struct retry tmp;

	*out = s->heap[0];
	s->heap[0] = s->heap[--s->nheap];
	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < s->nheap && s->heap[l].due < s->heap[m].due)
			m = l;
		if (r < s->nheap && s->heap[r].due < s->heap[m].due)
			m = r;
		if (m == i)
			break;
		tmp = s->heap[m];
		s->heap[m] = s->heap[i];
		s->heap[i] = tmp;
		i = m;
	}
}

/* Exponential backoff with full jitter: uniform in [0, min(max, b*2^n)]. */
static uint64_t
backoff_ms(const struct config *cfg, uint32_t attempt)
{
	uint64_t cap = cfg->backoff_base_ms, r;

	while (attempt-- > 1 && cap < cfg->backoff_max_ms)
		cap *= 2;
	if (cap > cfg->backoff_max_ms)
		cap = cfg->backoff_max_ms;
	random_bytes(&r, sizeof(r));
	return cap == 0 ? 0 : r % (cap + 1);
}

/* --- batches ------------------------------------------------------- */

static void
batch_link(struct sup *s, struct batch *b)
{
	b->next = s->batches;
	s->batches = b;
	b->status_dirty = true;
}

static void
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

/* A new JSONL drop: claim it into processing/ID.jsonl and open it. */
static int
claim_jsonl(struct sup *s, const char *name)
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
	if (spool_move(s->sp, SPOOL_NEW, name, SPOOL_PROCESSING, target) ==
	    -1 && (errno == ENOENT || errno == EEXIST ||
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
	if ((b = batch_open_file(s->sp, s->cfg, id, target, &err)) == NULL) {
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
		if (intake_fail(s->sp, SPOOL_PROCESSING, target, &err) == -1)
			log_warn("batch=%s move to failed/", id);
		lease_remove(pfd, target);
		return 0;
	}
	log_info("batch=%s %llu requests, %llu invalid", id,
	    (unsigned long long)b->total, (unsigned long long)b->failed);
	batch_link(s, b);
	if (batch_write_status(b, s->cfg, "in_progress") == -1)
		log_warn("batch=%s write status.json", id);
	return 0;
}

static void
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

static void
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

static void	purge_heap(struct sup *s, struct batch *b, bool stop);

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
static void
stop_batch(struct sup *s, struct batch *b, const char *code,
    const char *final_status)
{
	if (b->stop_code != NULL)
		return;
	b->stop_code = code;
	b->final_status = final_status;
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

static int
on_drop(enum spool_kind kind, const char *name, void *arg)
{
	struct sup *s = arg;

	if (s->draining)
		return -1;
	switch (kind) {
	case SPOOL_KIND_JSONL:
		return claim_jsonl(s, name);
	case SPOOL_KIND_JSON:
		return claim_json(s, name);
	case SPOOL_KIND_CANCEL:
		return on_cancel(s, name);
	case SPOOL_KIND_TEMP:
	case SPOOL_KIND_ARCHIVE:
	case SPOOL_KIND_READY:
	case SPOOL_KIND_FORCE:
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
	 * manifest.  Put the input back; adopt() finishes it again.
	 */
	if (spool_name_stem(input, id, sizeof(id)) == 0 &&
	    (rfd = spool_results_open(s->sp, id, false)) != -1) {
		finished = faccessat(rfd, "manifest.json", F_OK, 0) == 0;
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
		b = batch_open_file(s->sp, s->cfg, id, name, &err);
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
static void
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

static void
on_adopt_timer(void *arg)
{
	struct sup *s = arg;

	adopt(s);
	loop_timer_arm(s->adopt_timer, s->cfg->rescan_ms);
}

/* --- dispatch ------------------------------------------------------ */

static int
slot_alloc(struct sup *s)
{
	size_t i;

	if (s->nfree > 0)
		return (int)s->free_slots[--s->nfree];
	i = s->nslots++;
	s->slots = xreallocarray(s->slots, s->nslots, sizeof(*s->slots));
	s->free_slots = xreallocarray(s->free_slots, s->nslots,
	    sizeof(*s->free_slots));
	memset(&s->slots[i], 0, sizeof(s->slots[i]));
	return (int)i;
}

static void
slot_release(struct sup *s, int i)
{
	struct slot *sl = &s->slots[i];

	free(sl->custom_id);
	sl->custom_id = NULL;
	sl->used = false;
	sl->gen++;
	s->free_slots[s->nfree++] = (uint32_t)i;
}

/* The least loaded live worker with room, or -1. */
static int
pick_worker(struct sup *s)
{
	int i, best = -1;

	for (i = 0; i < pool_size(s->pool); i++) {
		if (!pool_alive(s->pool, i) ||
		    (uint64_t)s->worker_load[i] >= s->cfg->inflight)
			continue;
		if (best == -1 || s->worker_load[i] < s->worker_load[best])
			best = i;
	}
	return best;
}

/* The next request to send: a due retry first, then round-robin. */
static bool
pick_request(struct sup *s, struct batch **bp, struct req_ref *ref)
{
	struct retry r;
	struct batch *b, *start;

	if (s->nheap > 0 && s->heap[0].due <= now_ms()) {
		heap_pop(s, &r);
		*bp = r.b;
		*ref = r.ref;
		return true;
	}
	if (s->batches == NULL)
		return false;
	start = s->rr != NULL ? s->rr : s->batches;
	b = start;
	do {
		struct batch *next = b->next != NULL ? b->next : s->batches;

		if (b->state == BATCH_RUNNING && b->stop_code == NULL &&
		    b->blocked_until_ms <= now_ms() &&
		    batch_next(b, s->lim.max_line, ref)) {
			b->inflight++;
			s->rr = next;
			*bp = b;
			return true;
		}
		b = next;
	} while (b != start);
	return false;
}

/* A request that cannot be sent is journaled as failed right away. */
static void
record_failure(struct batch *b, uint64_t ordinal,
    const char *custom_id, const struct err *err)
{
	struct buf line = BUF_INIT;

	char stem[SPOOL_NAME_MAX + 1];

	/* A loose request's custom_id defaults to its file's stem. */
	if (custom_id == NULL && b->kind == BATCH_LOOSE &&
	    ordinal < b->nmembers &&
	    spool_name_stem(b->members[ordinal], stem, sizeof(stem)) == 0)
		custom_id = stem;
	record_format(&line, custom_id != NULL ? custom_id : "unknown", 0,
	    NULL, NULL, 0, err->code, err->msg);
	batch_record(b, ordinal, false, line.data, line.len, 0, 0, custom_id);
	buf_release(&line);
	b->inflight--;
}

static void
ep_pause(struct sup *s, int ep, const char *why)
{
	struct epstate *e = &s->ep[ep];

	e->pause_ms = e->pause_ms == 0 ? EP_PAUSE_MIN_MS :
	    e->pause_ms * 2 > EP_PAUSE_MAX_MS ? EP_PAUSE_MAX_MS :
	    e->pause_ms * 2;
	e->paused_until = now_ms() + e->pause_ms;
	e->probing = false;
	e->failures = 0;
	log_warnx("endpoint %s paused for %llu ms: %s; its requests wait",
	    s->cfg->endpoints[ep].name, (unsigned long long)e->pause_ms, why);
}

static void
ep_ok(struct sup *s, int ep)
{
	struct epstate *e = &s->ep[ep];

	if (e->pause_ms > 0)
		log_info("endpoint %s is back", s->cfg->endpoints[ep].name);
	e->pause_ms = 0;
	e->paused_until = 0;
	e->probing = false;
	e->failures = 0;
}

/* May a request go to ep now?  Otherwise until when to wait. */
static bool
ep_open(struct sup *s, int ep, uint64_t *until)
{
	struct epstate *e = &s->ep[ep];
	uint64_t now = now_ms();

	if (e->paused_until > now) {
		*until = e->paused_until;
		return false;
	}
	if (e->paused_until != 0) {
		/* The pause is over: let one probe through. */
		e->paused_until = 0;
		e->probing = true;
	}
	if (e->probing && s->ep_load[ep] > 0) {
		*until = now + 200;
		return false;
	}
	return true;
}

/*
 * Wakes the loop when the earliest retry is due; dispatch() (before the
 * loop sleeps) takes it.  A due retry that finds no free worker needs no
 * timer: the next result frees one and runs dispatch() again.
 */
static void
arm_retry_timer(struct sup *s)
{
	uint64_t now = now_ms();

	if (s->nheap > 0 && s->heap[0].due > now)
		loop_timer_arm(s->retry_timer, s->heap[0].due - now);
}

static void
dispatch(struct sup *s)
{
	struct batch *b;
	struct req_ref ref;
	struct task t;
	struct err err;
	struct slot *sl;
	struct buf *out;
	char *body;
	size_t mark;
	int w, i, ep, budget = 4096;
	uint64_t until, tokens, wait;

	if (s->draining)
		return;
	while (budget-- > 0 && (w = pick_worker(s)) != -1) {
		if (!pick_request(s, &b, &ref))
			break;
		if (batch_read_task(b, &ref, &s->lim, &t, &err) == -1) {
			if (strcmp(err.code, "io_error") == 0) {
				/* The disk, not the request: try later. */
				struct retry r = { now_ms() + 1000, b, ref };

				log_warnx("batch=%s %s; will retry", b->id,
				    err.msg);
				heap_push(s, &r);
				continue;
			}
			record_failure(b, ref.ordinal, NULL, &err);
			continue;
		}
		ep = t.endpoint != NULL ? config_endpoint_index(s->cfg,
		    t.endpoint) : 0;
		if (ep == -1) {
			err_set(&err, "invalid_request", "unknown endpoint");
			record_failure(b, ref.ordinal, t.custom_id, &err);
			task_release(&t);
			continue;
		}
		if (!ep_open(s, ep, &until)) {
			/* Hold it, and its batch, until the endpoint is back
			 * (a batch mostly uses one endpoint). */
			struct retry r = { until, b, ref };

			heap_push(s, &r);
			b->blocked_until_ms = until;
			task_release(&t);
			continue;
		}
		body = cJSON_PrintUnformatted(t.body);
		/* The task is parsed already: no second parse for this. */
		tokens = ratelimit_estimate(strlen(body), task_max_tokens(&t));
		if (!ratelimit_take(&s->rl[ep], tokens, s->ep_load[ep],
		    now_ms(), &wait)) {
			/* Over its rpm, tpm or window: wait for budget. */
			struct retry r = { now_ms() + wait, b, ref };

			heap_push(s, &r);
			b->blocked_until_ms = r.due;
			cJSON_free(body);
			task_release(&t);
			continue;
		}
		if (ref.attempt == 0)
			ref.attempt = batch_attempts(b, ref.ordinal);
		i = slot_alloc(s);
		sl = &s->slots[i];
		sl->used = true;
		sl->b = b;
		sl->ref = ref;
		sl->ref.attempt++;
		sl->worker = w;
		sl->endpoint = ep;
		sl->max_attempts = t.max_attempts > 0 ?
		    (uint32_t)t.max_attempts : (uint32_t)s->cfg->max_attempts;
		sl->custom_id = xstrdup(t.custom_id);
		sl->tokens = tokens;
		out = pool_out(s->pool, w);
		proto_begin(out, PROTO_TASK, &mark);
		proto_put_u64(out, (uint64_t)sl->gen << 32 | (uint32_t)i);
		proto_put_u32(out, (uint32_t)ep);
		proto_put_u64(out, t.timeout_s > 0 ?
		    (uint64_t)t.timeout_s * 1000 : 0);
		proto_put_str(out, t.custom_id);
		proto_put_str(out, t.url);
		proto_put_bytes(out, body, strlen(body));
		proto_end(out, mark);
		cJSON_free(body);
		task_release(&t);
		s->worker_load[w]++;
		s->ep_load[ep]++;
		s->inflight++;
	}
	arm_retry_timer(s);
}

static void
on_retry_timer(void *arg)
{
	(void)arg;
}

/* --- results ------------------------------------------------------- */

static void
on_result(struct sup *s, int widx, struct proto_msg *m)
{
	uint64_t key, retry_after, tin, tout, remaining, reset;
	uint32_t outcome, status, idx;
	const char *line;
	size_t len;
	struct slot *sl;
	struct batch *b;

	if (proto_get_u64(m, &key) == -1 || proto_get_u32(m, &outcome) == -1 ||
	    proto_get_u32(m, &status) == -1 ||
	    proto_get_u64(m, &retry_after) == -1 ||
	    proto_get_u64(m, &tin) == -1 || proto_get_u64(m, &tout) == -1 ||
	    proto_get_u64(m, &remaining) == -1 ||
	    proto_get_u64(m, &reset) == -1 ||
	    proto_get_bytes(m, &line, &len) == -1 || proto_done(m) == -1) {
		log_warnx("worker %d: malformed RESULT", widx);
		return;
	}
	idx = (uint32_t)key;
	if (idx >= s->nslots || !s->slots[idx].used ||
	    s->slots[idx].gen != (uint32_t)(key >> 32) ||
	    s->slots[idx].worker != widx) {
		log_warnx("worker %d: RESULT for unknown task", widx);
		return;
	}
	sl = &s->slots[idx];
	b = sl->b;
	s->worker_load[widx]--;
	s->ep_load[sl->endpoint]--;
	s->inflight--;
	if (b == NULL) {	/* its batch was given up */
		slot_release(s, (int)idx);
		return;
	}
	if (outcome == OUTCOME_ENDPOINT_DOWN && b->stop_code == NULL) {
		struct retry r;

		/* Not the request's fault: the attempt is given back. */
		if (s->ep[sl->endpoint].paused_until == 0)
			ep_pause(s, sl->endpoint, status == 401 ||
			    status == 403 ? "credentials rejected" :
			    "cannot connect");
		r.b = b;
		r.ref = sl->ref;
		r.ref.attempt--;
		r.due = s->ep[sl->endpoint].paused_until;
		heap_push(s, &r);
		slot_release(s, (int)idx);
		return;
	}
	if (outcome == OUTCOME_OK) {
		ep_ok(s, sl->endpoint);
		ratelimit_on_success(&s->rl[sl->endpoint]);
		ratelimit_correct(&s->rl[sl->endpoint],
		    (int64_t)(tin + tout) - (int64_t)sl->tokens);
	} else if (status == 429) {
		ratelimit_on_429(&s->rl[sl->endpoint], s->ep_load[sl->endpoint],
		    now_ms());
	}
	/* The provider says its budget is spent: wait for its reset. */
	if (remaining == 1 && reset > 1)
		ratelimit_hold(&s->rl[sl->endpoint], now_ms() + reset - 1);
	/* A 429 burst is the window's to absorb while it can narrow. */
	if (outcome == OUTCOME_RETRY && (status != 429 ||
	    !ratelimit_can_narrow(&s->rl[sl->endpoint])) &&
	    ++s->ep[sl->endpoint].failures >= EP_FAILURES_PAUSE)
		ep_pause(s, sl->endpoint, "too many failures in a row");
	if (outcome == OUTCOME_RETRY && sl->ref.attempt < sl->max_attempts &&
	    b->stop_code == NULL) {
		struct retry r;

		r.b = b;
		r.ref = sl->ref;
		r.due = now_ms() + (retry_after > 0 ? retry_after - 1 :
		    backoff_ms(s->cfg, sl->ref.attempt));
		log_debug("batch=%s task=%s attempt %u failed (HTTP %u); "
		    "retrying", b->id, sl->custom_id, sl->ref.attempt, status);
		batch_note_attempt(b, sl->ref.ordinal, sl->ref.attempt);
		heap_push(s, &r);
		slot_release(s, (int)idx);
		return;
	}
	batch_record(b, sl->ref.ordinal, outcome == OUTCOME_OK, line, len,
	    tin, tout, sl->custom_id);
	b->inflight--;
	slot_release(s, (int)idx);
}

static void
on_worker_msg(int idx, struct proto_msg *m, void *arg)
{
	struct sup *s = arg;

	if (m->type != PROTO_RESULT) {
		log_warnx("worker %d: unexpected message %d", idx, m->type);
		return;
	}
	on_result(s, idx, m);
}

/* A worker died: its in-flight requests go back, attempt not spent. */
static void
on_worker_lost(int idx, void *arg)
{
	struct sup *s = arg;
	struct retry r;
	size_t i;
	int n = 0;

	for (i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];

		if (!sl->used || sl->worker != idx)
			continue;
		if (sl->b == NULL) {
			s->ep_load[sl->endpoint]--;
			s->inflight--;
			slot_release(s, (int)i);
			continue;
		}
		r.b = sl->b;
		r.ref = sl->ref;
		r.ref.attempt--;
		r.due = now_ms();
		heap_push(s, &r);
		s->ep_load[sl->endpoint]--;
		s->inflight--;
		slot_release(s, (int)i);
		n++;
	}
	s->worker_load[idx] = 0;
	if (n > 0)
		log_warnx("worker %d lost with %d requests in flight; "
		    "re-queued", idx, n);
}

/* Sends the endpoints (with their credentials) to a fresh worker. */
static void
on_worker_ready(struct pool *pool, int idx, void *arg)
{
	struct sup *s = arg;
	struct buf *out = pool_out(pool, idx);
	const struct endpoint_config *e;
	char *h1, *h2;
	const char *key;
	size_t mark;
	int i;

	s->worker_load[idx] = 0;
	for (i = 0; i < s->cfg->nendpoints; i++) {
		e = &s->cfg->endpoints[i];
		key = e->api_key_env != NULL ? getenv(e->api_key_env) : NULL;
		h1 = h2 = NULL;
		if (e->type == ENDPOINT_ANTHROPIC) {
			if (key != NULL)
				h1 = xasprintf("x-api-key: %s", key);
			h2 = xstrdup("anthropic-version: 2023-06-01");
		} else if (key != NULL) {
			h1 = xasprintf("Authorization: Bearer %s", key);
		}
		proto_begin(out, PROTO_ENDPOINT, &mark);
		proto_put_u32(out, (uint32_t)i);
		proto_put_u32(out, (uint32_t)e->type);
		proto_put_u64(out, e->timeout_ms);
		proto_put_u64(out, s->cfg->max_response_bytes);
		proto_put_str(out, e->base_url);
		proto_put_str(out, h1);
		proto_put_str(out, h2);
		proto_end(out, mark);
		if (h1 != NULL)
			explicit_bzero(h1, strlen(h1));
		free(h1);
		free(h2);
	}
	pool_flush(pool, idx);
}

/*
 * Takes b's requests out of the retry heap.  With stop set they are
 * reported as b->stop_code; otherwise (the batch was given up) dropped.
 */
static void
purge_heap(struct sup *s, struct batch *b, bool stop)
{
	struct retry *old = s->heap, r;
	struct buf line = BUF_INIT;
	struct task t;
	struct err err;
	size_t i, n = s->nheap;

	s->heap = NULL;
	s->nheap = s->heapcap = 0;
	for (i = 0; i < n; i++) {
		if (old[i].b != b) {
			heap_push(s, &old[i]);
			continue;
		}
		r = old[i];
		b->inflight--;
		if (!stop)
			continue;
		if (batch_read_task(b, &r.ref, &s->lim, &t, &err) == 0) {
			buf_reset(&line);
			record_format(&line, t.custom_id, 0, NULL, NULL, 0,
			    b->stop_code, "not executed: the batch was "
			    "stopped before its retry");
			batch_record(b, r.ref.ordinal, false, line.data,
			    line.len, 0, 0, t.custom_id);
			task_release(&t);
		}
	}
	free(old);
	buf_release(&line);
}

/* Another instance holds b now: let go of it without writing more. */
static void
abandon(struct sup *s, struct batch *b)
{
	size_t i;

	log_warnx("batch=%s lease lost to another instance; letting it go",
	    b->id);
	purge_heap(s, b, false);
	for (i = 0; i < s->nslots; i++)
		if (s->slots[i].used && s->slots[i].b == b)
			s->slots[i].b = NULL;	/* its result is dropped */
	batch_unlink(s, b);
	batch_free(b);
}

static void
on_lease_timer(void *arg)
{
	struct sup *s = arg;
	struct batch *b, *next;
	struct lease l;
	time_t now = time(NULL);

	for (b = s->batches; b != NULL; b = next) {
		next = b->next;
		if (now_ms() - b->lease_renewed_ms < s->cfg->lease_ms / 3)
			goto expiry;
		l = s->me;
		l.expires_ms = wall_ms() + s->cfg->lease_ms;
		l.created_s = (uint64_t)b->created_at;
		if (lease_renew(spool_dirfd(s->sp, SPOOL_PROCESSING),
		    b->input_name, &l) == -1) {
			if (errno == ESTALE && b->state == BATCH_RUNNING) {
				abandon(s, b);
				continue;
			}
			log_warn("batch=%s renew lease", b->id);
		} else {
			b->lease_renewed_ms = now_ms();
		}
expiry:
		if (b->state == BATCH_RUNNING && b->stop_code == NULL &&
		    now >= b->created_at +
		    (time_t)(s->cfg->completion_window_ms / 1000))
			stop_batch(s, b, "batch_expired", "expired");
	}
	loop_timer_arm(s->lease_timer, s->cfg->lease_ms / 3 > 1000 ? 1000 :
	    s->cfg->lease_ms / 3);
}

/* --- finishing ----------------------------------------------------- */

static void
start_finishing(struct sup *s)
{
	struct batch *b;
	pid_t pid;

	for (b = s->batches; b != NULL; b = b->next) {
		if (b->state != BATCH_RUNNING || !batch_complete(b) ||
		    s->nfin == (int)ARRAY_SIZE(s->fin) ||
		    now_ms() < b->finish_after_ms)
			continue;
		b->state = BATCH_FINALIZING;
		if (batch_write_status(b, s->cfg, "finalizing") == -1)
			log_warn("batch=%s write status.json", b->id);
		if ((pid = finish_start(s->sp, s->cfg, b)) == -1) {
			log_warn("batch=%s fork finisher", b->id);
			b->state = BATCH_RUNNING;
			continue;
		}
		s->fin[s->nfin].pid = pid;
		s->fin[s->nfin].b = b;
		s->nfin++;
	}
}

static void
finished(struct sup *s, int i, int status)
{
	struct batch *b = s->fin[i].b;

	s->fin[i] = s->fin[--s->nfin];
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warnx("batch=%s finishing failed; will try again in 10 s",
		    b->id);
		b->state = BATCH_RUNNING;
		b->finish_after_ms = now_ms() + 10000;
		return;
	}
	if (b->stop_code != NULL) {
		char cancel[SPOOL_NAME_MAX + 8];

		snprintf(cancel, sizeof(cancel), "%s.cancel", b->id);
		if (spool_move(s->sp, SPOOL_NEW, cancel, SPOOL_DONE, cancel) ==
		    -1 && errno == EEXIST)
			unlinkat(spool_dirfd(s->sp, SPOOL_NEW), cancel, 0);
	}
	log_info("batch=%s %s: %llu requests, %llu succeeded, "
	    "%llu failed", b->id, b->final_status, (unsigned long long)b->total,
	    (unsigned long long)b->completed, (unsigned long long)b->failed);
	batch_unlink(s, b);
	batch_free(b);
}

static void
reap(struct sup *s)
{
	pid_t pid;
	int status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (s->pool != NULL && pool_reaped(s->pool, pid, status))
			continue;
		for (i = 0; i < s->nfin; i++) {
			if (s->fin[i].pid == pid) {
				finished(s, i, status);
				break;
			}
		}
	}
}

/* --- the loop ------------------------------------------------------ */

static void
on_status_timer(void *arg)
{
	struct sup *s = arg;
	struct batch *b;

	for (b = s->batches; b != NULL; b = b->next)
		if (b->status_dirty && b->state == BATCH_RUNNING &&
		    batch_write_status(b, s->cfg, batch_status_word(b)) == -1)
			log_warn("batch=%s write status.json", b->id);
	loop_timer_arm(s->status_timer, 1000);
}

/*
 * Makes the loose claims of this turn durable before any of them is
 * sent: a claim lost in a power cut would bring the drop back into new/
 * and run it twice.  Like a failed journal fsync, a failure here ends
 * the process for recovery.
 */
static void
sync_claims(struct sup *s)
{
	struct batch *b;

	if (!s->claims_unsynced)
		return;
	for (b = s->batches; b != NULL; b = b->next) {
		if (!b->claims_unsynced)
			continue;
		if (spool_fsync_dir(b->input_fd) == -1) {
			log_error("batch=%s fsync of claims failed; exiting "
			    "for recovery", b->id);
			exit(74);
		}
		b->claims_unsynced = false;
	}
	if (spool_fsync_dir(spool_dirfd(s->sp, SPOOL_NEW)) == -1) {
		log_error("fsync new/ failed; exiting for recovery");
		exit(74);
	}
	s->claims_unsynced = false;
}

static void
before_sleep(void *arg)
{
	struct sup *s = arg;
	struct batch *b;
	int i;

	sync_claims(s);
	dispatch(s);
	/*
	 * Hand the new tasks over before the group commit: the workers
	 * send while we wait for the disk.  A crash before the commit
	 * re-sends what was in flight either way.
	 */
	for (i = 0; i < pool_size(s->pool); i++)
		pool_flush(s->pool, i);
	for (b = s->batches; b != NULL; b = b->next) {
		/* Report a stopped batch's unsent requests, in slices. */
		if (b->stop_code != NULL && b->state == BATCH_RUNNING)
			batch_stop_step(b, &s->lim, 10000);
		if (batch_has_pending(b) && batch_commit(b) == -1) {
			/* SPEC §5: never carry on after a failed fsync. */
			log_error("batch=%s journal write failed; exiting for "
			    "recovery", b->id);
			exit(74);
		}
	}
	start_finishing(s);
	if (s->once && !s->draining && intake_idle(s->intake)) {
		seal_rolling(s);
		if (s->batches == NULL && s->nfin == 0) {
			s->exit_code = intake_held(s->intake) > 0 ? 75 : 0;
			s->draining = true;
		}
	}
	if (s->draining && s->inflight == 0 && s->nfin == 0) {
		bool pending = false;

		for (b = s->batches; b != NULL; b = b->next)
			pending |= batch_has_pending(b);
		if (!pending)
			loop_stop(s->loop);
	}
}

static void
on_signal(int fd, uint32_t events, void *arg)
{
	struct sup *s = arg;
	struct signalfd_siginfo si;
	struct batch *b;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!s->draining)
				log_info("signal %d: draining (%llu in flight)",
				    (int)si.ssi_signo,
				    (unsigned long long)s->inflight);
			s->draining = true;
			intake_pause(s->intake);
			break;
		case SIGCHLD:
			reap(s);
			break;
		case SIGUSR1:
			for (b = s->batches; b != NULL; b = b->next)
				log_info("batch=%s %llu/%llu done, %llu failed",
				    b->id, (unsigned long long)(b->completed +
				    b->failed), (unsigned long long)b->total,
				    (unsigned long long)b->failed);
			log_info("status: %llu in flight, %zu waiting to retry",
			    (unsigned long long)s->inflight, s->nheap);
			break;
		case SIGHUP:
			log_info("SIGHUP: reload is not supported yet");
			break;
		}
	}
}

int
supervisor_main(struct config *cfg, const char *self, bool once)
{
	struct sup s;
	struct sigaction sa;
	sigset_t set;
	struct batch *b;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.self = self;
	s.once = once;
	s.lim.max_line = (size_t)cfg->max_line_bytes;
	s.lim.max_depth = (int)cfg->max_json_depth;
	log_procinit("supervisor");
	umask(007);
	if ((s.sp = spool_open(cfg->spool_dir, true, 0770)) == NULL) {
		log_error("open spool %s", cfg->spool_dir);
		return 73;
	}
	/* Signals arrive on a descriptor; SIGIO (lease breaks) is ignored. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGIO, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((s.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	if ((s.loop = loop_new()) == NULL)
		fatal("epoll_create");
	loop_add_fd(s.loop, s.sigfd, EPOLLIN, on_signal, &s);
	s.retry_timer = loop_timer_new(s.loop, on_retry_timer, &s);
	s.status_timer = loop_timer_new(s.loop, on_status_timer, &s);
	s.seal_timer = loop_timer_new(s.loop, on_seal_timer, &s);
	s.worker_load = xcalloc(cfg->processes, sizeof(int));
	for (int i = 0; i < cfg->nendpoints; i++)
		ratelimit_init(&s.rl[i], cfg->endpoints[i].rpm,
		    cfg->endpoints[i].tpm, cfg->endpoints[i].max_inflight,
		    now_ms());
	/* Temp files of a crashed writer; fresh ones may be another
	 * instance's work in progress. */
	spool_sweep_tmp(spool_dirfd(s.sp, SPOOL_PROCESSING), 600);
	spool_sweep_tmp(spool_dirfd(s.sp, SPOOL_ARCHIVE), 600);
	spool_sweep_tmp(spool_dirfd(s.sp, SPOOL_FAILED), 600);
	if (mkdirat(spool_dirfd(s.sp, SPOOL_RESULTS), ".sha256", 0770) == -1 &&
	    errno != EEXIST)
		fatal("create results/.sha256");
	lease_self(&s.me);
	s.lease_timer = loop_timer_new(s.loop, on_lease_timer, &s);
	s.adopt_timer = loop_timer_new(s.loop, on_adopt_timer, &s);
	loop_timer_arm(s.lease_timer, 1000);
	adopt(&s);
	loop_timer_arm(s.adopt_timer, cfg->rescan_ms);
	s.pool = pool_new(s.loop, self, (int)cfg->processes, on_worker_msg,
	    on_worker_lost, on_worker_ready, &s);
	if (s.pool == NULL)
		fatalx("cannot start workers");
	s.intake = intake_new(s.loop, s.sp, cfg, on_drop, &s);
	loop_set_before_sleep(s.loop, before_sleep, &s);
	loop_timer_arm(s.status_timer, 1000);
	log_info("spoold started on %s with %llu workers x %llu in flight",
	    cfg->spool_dir, (unsigned long long)cfg->processes,
	    (unsigned long long)cfg->inflight);
	if (loop_run(s.loop) == -1)
		fatal("epoll_wait");
	/*
	 * Drained: write what we know and hand our batches back at once
	 * (an expired lease), so another instance need not wait; then
	 * close the channels and reap.
	 */
	for (b = s.batches; b != NULL; b = b->next) {
		struct lease l = s.me;

		if (b->state == BATCH_RUNNING)
			batch_write_status(b, cfg, batch_status_word(b));
		l.expires_ms = 0;
		l.created_s = (uint64_t)b->created_at;
		if (lease_renew(spool_dirfd(s.sp, SPOOL_PROCESSING),
		    b->input_name, &l) == -1)
			log_warn("batch=%s release lease", b->id);
	}
	pool_close(s.pool);
	while (pool_running(s.pool) > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid == -1)
			break;
		pool_reaped(s.pool, pid, status);
	}
	log_info("spoold stopped");
	while ((b = s.batches) != NULL) {
		s.batches = b->next;
		batch_free(b);
	}
	intake_free(s.intake);
	pool_free(s.pool);
	loop_timer_free(s.retry_timer);
	loop_timer_free(s.status_timer);
	loop_timer_free(s.seal_timer);
	loop_timer_free(s.lease_timer);
	loop_timer_free(s.adopt_timer);
	loop_free(s.loop);
	close(s.sigfd);
	spool_free(s.sp);
	free(s.slots);
	free(s.free_slots);
	free(s.heap);
	free(s.worker_load);
	return s.exit_code;
}
