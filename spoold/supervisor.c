/*
 * supervisor - the daemon's main process: the loop, signals, status
 * files and finishing (claim.c claims, sched.c schedules).
 *
 * Each turn of the loop, before sleeping: dispatch what workers can
 * take, group-commit every batch's buffered results (only then are they
 * counted), start finishing complete batches, flush the channels.
 */
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "finish.h"
#include "intake.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "sdnotify.h"
#include "sup.h"
#include "supervisor.h"
#include "util.h"

/* --- finishing ----------------------------------------------------- */

static void
start_finishing(struct sup *s)
{
	struct batch *b;
	pid_t pid;

	for (b = s->batches; b != NULL; b = b->next) {
		if (b->state != BATCH_RUNNING || !batch_complete(b) ||
		    s->nfin >= FINISH_MAX ||
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
	/* A leftover lease of a finished batch is swept by any instance. */
	if (lease_remove(spool_dirfd(s->sp, SPOOL_PROCESSING),
	    b->input_name) == -1)
		log_warn("batch=%s remove lease", b->id);
	stats_batch_done(s, b->final_status);
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

/*
 * A drain that takes longer than workers.drain_timeout hands its
 * requests in flight back: they were never journaled, so the next
 * start sends them again (SPEC §5: at most those are sent twice).
 */
static void
on_drain_timer(void *arg)
{
	struct sup *s = arg;

	log_warnx("drain timeout: handing back %llu requests in flight",
	    (unsigned long long)s->inflight);
	loop_stop(s->loop);
}

/* STATUS= for systemctl status, sent when it changes. */
static void
notify_status(struct sup *s)
{
	static char last[160];
	char now[160];
	struct batch *b;
	uint64_t n = 0, done = 0, total = 0;

	for (b = s->batches; b != NULL; b = b->next) {
		n++;
		done += b->completed + b->failed;
		total += b->total;
	}
	snprintf(now, sizeof(now), "%llu batches (%llu/%llu requests done), "
	    "%llu in flight, %zu waiting to retry%s", (unsigned long long)n,
	    (unsigned long long)done, (unsigned long long)total,
	    (unsigned long long)s->inflight, s->nheap, s->sched_open ? "" :
	    ", outside the active hours");
	if (strcmp(now, last) != 0) {
		sd_notifyf("STATUS=%s", now);
		memcpy(last, now, sizeof(last));
	}
}

/*
 * spoolctl hold BATCH leaves new/BATCH.hold; release removes it.  A
 * marker in the spool rather than a signal: it holds the batch for
 * whichever instance owns it, now or after a restart.
 */
static void
check_holds(struct sup *s)
{
	char name[SPOOL_NAME_MAX + 8];
	struct batch *b;
	bool held;

	for (b = s->batches; b != NULL; b = b->next) {
		snprintf(name, sizeof(name), "%s.hold", b->id);
		held = faccessat(spool_dirfd(s->sp, SPOOL_NEW), name, F_OK,
		    AT_SYMLINK_NOFOLLOW) == 0;
		if (held != b->held)
			log_info("batch=%s %s", b->id, held ? "held: nothing "
			    "more is dispatched" : "released");
		b->held = held;
	}
}

static void
on_status_timer(void *arg)
{
	struct sup *s = arg;
	struct batch *b;

	check_holds(s);
	notify_status(s);
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

/* Every open batch is held (and none is finishing). */
static bool
only_held(const struct sup *s)
{
	const struct batch *b;

	for (b = s->batches; b != NULL; b = b->next)
		if (!b->held || b->state != BATCH_RUNNING ||
		    batch_has_pending(b))
			return false;
	return s->batches != NULL;
}

static void
before_sleep(void *arg)
{
	struct sup *s = arg;
	struct batch *b;
	int i;

	sync_claims(s);
	/* Batches still being validated: a step each, then dispatch. */
	for (b = s->batches; b != NULL; b = b->next) {
		if (b->validating == NULL)
			continue;
		switch (batch_validate_more(b, false)) {
		case -1:
			/* Ours, in processing/: a restart opens it again. */
			log_error("batch=%s read %s failed: %s; exiting for "
			    "recovery", b->id, b->input_name, strerror(errno));
			exit(74);
		case 0:
			loop_again(s->loop);
			break;
		case 1:
			claim_log_opened(b);
			break;
		}
	}
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
		/* Counted once durable, as the batch counts them. */
		stats_committed(s, b->new_ok, b->new_failed);
		b->new_ok = b->new_failed = 0;
	}
	start_finishing(s);
	if (s->once && !s->draining && intake_idle(s->intake)) {
		seal_rolling(s);
		if (s->batches == NULL && s->nfin == 0) {
			s->exit_code = intake_held(s->intake) > 0 ? 75 : 0;
			s->draining = true;
		} else if (s->inflight == 0 && s->nfin == 0 &&
		    (only_held(s) || !s->sched_open)) {
			/* Work is left, for later: sysexits' EX_TEMPFAIL. */
			log_info("%s", s->sched_open ? "only held batches are "
			    "left" : "outside the active hours: work is left");
			s->exit_code = 75;
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

/*
 * A spool others may write is a spool anyone on the host may fill or
 * empty (SPEC §7): say so, once, at the start.
 */
static void
warn_open_spool(struct spool *sp)
{
	static const enum spool_dir dirs[] = { SPOOL_TMP, SPOOL_NEW,
	    SPOOL_PROCESSING, SPOOL_DONE, SPOOL_FAILED, SPOOL_RESULTS,
	    SPOOL_ARCHIVE };
	struct stat st;
	size_t i;

	if (stat(spool_root(sp), &st) == 0 && (st.st_mode & S_IWOTH))
		log_warnx("spool %s is world-writable: anyone may drop or "
		    "remove files (chmod o-w; give writers the group)",
		    spool_root(sp));
	for (i = 0; i < ARRAY_SIZE(dirs); i++)
		if (fstat(spool_dirfd(sp, dirs[i]), &st) == 0 &&
		    (st.st_mode & S_IWOTH))
			log_warnx("spool directory %s/ is world-writable "
			    "(chmod o-w)", spool_dir_name(dirs[i]));
}

/*
 * schedule.active_hours: outside its windows nothing new is dispatched
 * (in-flight requests finish).  The state is published in
 * results/.schedule.json for spoolctl status.
 */
static void
on_sched_timer(void *arg)
{
	struct sup *s = arg;
	cJSON *o;
	char *text;
	time_t next;
	bool open;

	open = schedule_open(&s->sched, time(NULL), &next);
	if (open != s->sched_open)
		log_info("active hours %s: dispatch %s", s->cfg->active_hours,
		    open ? "resumes" : "paused until the next window");
	s->sched_open = open;
	/* A minute boundary can be a second late: aim just past it. */
	if (next != 0)
		loop_timer_arm(s->sched_timer, (uint64_t)(next - time(NULL)) *
		    1000 + 200);
	o = cJSON_CreateObject();
	if (s->cfg->active_hours != NULL)
		cJSON_AddStringToObject(o, "active_hours",
		    s->cfg->active_hours);
	else
		cJSON_AddNullToObject(o, "active_hours");
	cJSON_AddBoolToObject(o, "dispatching", open);
	if (next != 0)
		cJSON_AddNumberToObject(o, "next_change", (double)next);
	else
		cJSON_AddNullToObject(o, "next_change");
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (spool_write_atomic(s->sp, SPOOL_RESULTS, ".schedule.json", text,
	    strlen(text)) == -1)
		log_warn("write results/.schedule.json");
	cJSON_free(text);
}

/* Keeps what only a restart may change; true if anything differed. */
static bool
keep_restart_only(struct config *nc, struct config *old)
{
	char *t;
	bool changed = false;

#define KEEP_NUM(f)	do {						\
	if (nc->f != old->f) {						\
		log_warnx("reload: %s changes at the next restart", #f); \
		nc->f = old->f;						\
		changed = true;						\
	}								\
} while (0)
#define KEEP_STR(f)	do {						\
	if ((nc->f == NULL) != (old->f == NULL) || (nc->f != NULL &&	\
	    strcmp(nc->f, old->f) != 0)) {				\
		log_warnx("reload: %s changes at the next restart", #f); \
		changed = true;						\
	}								\
	t = nc->f;							\
	nc->f = old->f;							\
	old->f = t;							\
} while (0)
	KEEP_STR(spool_dir);
	KEEP_STR(user);
	KEEP_STR(group);
	KEEP_STR(metrics_listen);
	KEEP_STR(metrics_textfile);
	KEEP_NUM(processes);
	KEEP_NUM(max_line_bytes);
	KEEP_NUM(max_json_depth);
#undef KEEP_NUM
#undef KEEP_STR
	return changed;
}

/*
 * SIGHUP: read the configuration again.  A configuration that does not
 * load or validate is refused whole and the running one kept.  The
 * endpoints in flight are referred to by position, so they must keep
 * their names and order (new ones may follow); limits, URLs, keys,
 * retry, batch, schedule and log settings take effect at once, and the
 * workers get the endpoints again.  In-flight work is not touched.
 */
static void
reload(struct sup *s)
{
	struct config nc, old;
	struct err err;
	int i;

	log_info("SIGHUP: reloading %s", s->src->file != NULL ?
	    s->src->file : "the defaults");
	if (config_load_source(&nc, s->src, &err) == -1) {
		log_errorx("reload refused, keeping the running "
		    "configuration: %s", err.msg);
		return;
	}
	for (i = 0; i < s->cfg->nendpoints; i++) {
		if (i >= nc.nendpoints || strcmp(nc.endpoints[i].name,
		    s->cfg->endpoints[i].name) != 0) {
			log_errorx("reload refused, keeping the running "
			    "configuration: endpoint %s was removed or moved "
			    "(restart to change the endpoints but by adding)",
			    s->cfg->endpoints[i].name);
			config_release(&nc);
			return;
		}
	}
	keep_restart_only(&nc, s->cfg);
	for (i = 0; i < nc.nendpoints; i++) {
		if (i < s->cfg->nendpoints)
			ratelimit_set(&s->rl[i], nc.endpoints[i].rpm,
			    nc.endpoints[i].tpm, nc.endpoints[i].max_inflight);
		else
			ratelimit_init(&s->rl[i], nc.endpoints[i].rpm,
			    nc.endpoints[i].tpm, nc.endpoints[i].max_inflight,
			    now_ms());
	}
	/* In place: everything holding s->cfg sees the new values. */
	old = *s->cfg;
	*s->cfg = nc;
	config_release(&old);
	(void)schedule_parse(s->cfg->active_hours, &s->sched, &err);
	on_sched_timer(s);
	log_init((enum log_level)s->cfg->log_level,
	    (enum log_format)s->cfg->log_format, s->cfg->log_syslog);
	for (i = 0; i < pool_size(s->pool); i++)
		if (pool_alive(s->pool, i))
			send_endpoints(s, s->pool, i);
	log_info("configuration reloaded: %d endpoints", s->cfg->nendpoints);
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
			if (!s->draining) {
				log_info("signal %d: draining (%llu in flight)",
				    (int)si.ssi_signo,
				    (unsigned long long)s->inflight);
				sd_notifyf("STOPPING=1\nSTATUS=draining, "
				    "%llu in flight",
				    (unsigned long long)s->inflight);
			}
			if (!s->draining)
				loop_timer_arm(s->drain_timer,
				    s->cfg->drain_timeout_ms);
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
			sd_notifyf("RELOADING=1");
			reload(s);
			sd_notifyf("READY=1");
			break;
		}
	}
}

int
supervisor_main(struct config *cfg, const struct config_source *src,
    const char *self, bool once)
{
	struct sup s;
	struct sigaction sa;
	sigset_t set;
	struct batch *b;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.src = src;
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
	warn_open_spool(s.sp);
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
	s.sched_timer = loop_timer_new(s.loop, on_sched_timer, &s);
	s.drain_timer = loop_timer_new(s.loop, on_drain_timer, &s);
	{
		struct err err;

		/* Checked by config_validate: it parses. */
		(void)schedule_parse(cfg->active_hours, &s.sched, &err);
	}
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
	stats_init(&s);
	loop_set_before_sleep(s.loop, before_sleep, &s);
	loop_timer_arm(s.status_timer, 1000);
	on_sched_timer(&s);
	log_info("spoold started on %s with %llu workers x %llu in flight",
	    cfg->spool_dir, (unsigned long long)cfg->processes,
	    (unsigned long long)cfg->inflight);
	sd_notifyf("READY=1\nSTATUS=started on %s", cfg->spool_dir);
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
	stats_free(&s);
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
	loop_timer_free(s.sched_timer);
	loop_timer_free(s.drain_timer);
	loop_free(s.loop);
	close(s.sigfd);
	spool_free(s.sp);
	/* Requests still in flight (a drain that timed out): handed back. */
	for (size_t i = 0; i < s.nslots; i++)
		free(s.slots[i].custom_id);
	free(s.slots);
	free(s.free_slots);
	free(s.heap);
	free(s.worker_load);
	return s.exit_code;
}
