/*
 * intake - watch new/, settle, judge completeness, hand drops over.
 */
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "input.h"
#include "intake.h"
#include "log.h"
#include "util.h"

/* What we remember about a name in new/ between scans. */
struct cand {
	char		*name;
	bool		 moved_in;	/* arrived by rename: complete */
	bool		 seen;		/* in the current scan */
	uint64_t	 held_since;	/* 0: not held */
	off_t		 held_size;
	time_t		 held_mtime;
	bool		 noted;		/* logged once already */
	struct cand	*next;
};

struct intake {
	struct loop		*loop;
	struct spool		*sp;
	const struct config	*cfg;
	intake_drop_cb		*cb;
	void			*arg;
	int			 ifd;
	struct loop_timer	*scan_timer;
	struct loop_timer	*rescan_timer;
	struct loop_timer	*held_timer;	/* polls held directories */
	bool			 poll_held;
	struct cand		**cands;	/* hash table by name */
	size_t			 ncands;
	size_t			 nbuckets;
	DIR			*scan_dir;	/* a scan in progress */
	bool			 scan_waiting;
	uint64_t		 scan_next_ms;
	bool			 paused;
	bool			 idle;
	int			 held;
};

static size_t
cand_hash(const char *name)
{
	size_t h = 5381;

	for (; *name != '\0'; name++)
		h = h * 33 + (unsigned char)*name;
	return h;
}

/* Rehashes into twice as many buckets: lookups stay O(1) with 100,000
 * files in new/. */
static void
cand_grow(struct intake *in)
{
	size_t n = in->nbuckets ? in->nbuckets * 2 : 256, i;
	struct cand **t = xcalloc(n, sizeof(*t)), *c, *next;

	for (i = 0; i < in->nbuckets; i++) {
		for (c = in->cands[i]; c != NULL; c = next) {
			next = c->next;
			c->next = t[cand_hash(c->name) & (n - 1)];
			t[cand_hash(c->name) & (n - 1)] = c;
		}
	}
	free(in->cands);
	in->cands = t;
	in->nbuckets = n;
}

static struct cand *
cand_get(struct intake *in, const char *name, bool create)
{
	struct cand *c, **head;

	if (in->nbuckets == 0)
		cand_grow(in);
	head = &in->cands[cand_hash(name) & (in->nbuckets - 1)];
	for (c = *head; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	if (!create)
		return NULL;
	if (in->ncands >= in->nbuckets * 2) {
		cand_grow(in);
		head = &in->cands[cand_hash(name) & (in->nbuckets - 1)];
	}
	c = xcalloc(1, sizeof(*c));
	c->name = xstrdup(name);
	c->next = *head;
	*head = c;
	in->ncands++;
	return c;
}

/* Forgets names the finished scan did not see; clears the marks. */
static void
cand_sweep(struct intake *in, bool all)
{
	struct cand **pp, *c;
	size_t i;

	for (i = 0; i < in->nbuckets; i++) {
		pp = &in->cands[i];
		while ((c = *pp) != NULL) {
			if (!c->seen || all) {
				*pp = c->next;
				free(c->name);
				free(c);
				in->ncands--;
			} else {
				c->seen = false;
				pp = &c->next;
			}
		}
	}
}

/* Room left in a failed/ name for ".1000" and ".error.json". */
#define FAILED_BASE_MAX	(SPOOL_NAME_MAX - 5 - 11)

int
intake_fail(struct spool *sp, enum spool_dir from, const char *name,
    const struct err *err)
{
	char base[FAILED_BASE_MAX + 1], target[SPOOL_NAME_MAX + 1];
	char sidecar[SPOOL_NAME_MAX + 16], *input;
	size_t n, i;
	cJSON *o;
	char *text;
	int r, k;

	/*
	 * The drop keeps its name in failed/ unless that name is unsafe
	 * (control bytes, not UTF-8) or leaves no room for the sidecar's
	 * suffix: then a sanitised, shortened one, told in "file".
	 */
	if (spool_name_ok(name) && strlen(name) <= FAILED_BASE_MAX)
		snprintf(base, sizeof(base), "%s", name);
	else
		spool_name_sanitize(name, base, sizeof(base));
	snprintf(target, sizeof(target), "%s", base);
	for (k = 2; ; k++) {
		if (spool_move(sp, from, name, SPOOL_FAILED, target) == 0)
			break;
		if (errno != EEXIST || k > 1000)
			return -1;
		snprintf(target, sizeof(target), "%s.%d", base, k);
	}
	/* The name as given, but JSON strings must be UTF-8. */
	input = xstrdup(name);
	n = strlen(input);
	for (i = 0; (i += utf8_check(input + i, n - i)) < n; i++)
		input[i] = '?';
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "input", input);
	free(input);
	cJSON_AddStringToObject(o, "file", target);
	cJSON_AddStringToObject(o, "code", err->code);
	cJSON_AddStringToObject(o, "message", err->msg);
	cJSON_AddNumberToObject(o, "failed_at", (double)time(NULL));
	text = cJSON_Print(o);
	cJSON_Delete(o);
	snprintf(sidecar, sizeof(sidecar), "%s.error.json", target);
	r = spool_write_atomic(sp, SPOOL_FAILED, sidecar, text, strlen(text));
	cJSON_free(text);
	return r;
}

static void
fail_drop(struct intake *in, const char *name, const char *code,
    const char *detail)
{
	struct err err;

	err_set(&err, code, "%s", detail);
	log_warnx("drop %s rejected: %s", name, err.msg);
	if (intake_fail(in->sp, SPOOL_NEW, name, &err) == -1 &&
	    errno != ENOENT)
		log_warn("move %s to failed/", name);
}

/*
 * Is a writer still holding the file open?  A read lease cannot be had
 * while anyone has it open for writing (it needs ownership or
 * CAP_LEASE and a local filesystem; where it cannot be asked, the
 * settle time alone decides).
 */
static bool
writer_busy(int fd)
{
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == -1)
		return errno == EAGAIN || errno == EBUSY;
	fcntl(fd, F_SETLEASE, F_UNLCK);
	return false;
}

/* Looks at one regular JSON/JSONL drop; returns true if it waits. */
static bool
examine(struct intake *in, const char *name, enum spool_kind kind,
    const struct stat *st, uint64_t *wait_ms)
{
	struct cand *c = cand_get(in, name, true);
	struct timespec now;
	uint64_t age_ms, changed_ms, nowms;
	char ready[SPOOL_NAME_MAX + 8];
	int fd, complete;

	c->seen = true;
	if (in->cfg->require_ready) {
		char stem[SPOOL_NAME_MAX + 1];

		if (spool_name_stem(name, stem, sizeof(stem)) == -1)
			return true;
		snprintf(ready, sizeof(ready), "%s.ready", stem);
		if (faccessat(spool_dirfd(in->sp, SPOOL_NEW), ready, F_OK,
		    AT_SYMLINK_NOFOLLOW) == -1)
			return true;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	nowms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	/* ctime moves with every write, chmod and utimes, and a sender
	 * cannot set it back: the last change we can see. */
	changed_ms = (uint64_t)st->st_ctim.tv_sec * 1000 +
	    (uint64_t)st->st_ctim.tv_nsec / 1000000;
	age_ms = nowms > changed_ms ? nowms - changed_ms : 0;
	if (!c->moved_in && age_ms < in->cfg->settle_ms) {
		*wait_ms = in->cfg->settle_ms - age_ms;
		return true;
	}
	/*
	 * A second link to the inode may be a file outside the spool that
	 * the sender could not otherwise make us read: refuse it (moving
	 * the link, never touching the file).  Linking changes the ctime,
	 * so another instance's link+unlink move (a filesystem without
	 * RENAME_NOREPLACE) is still within the settle time here.
	 */
	if (st->st_nlink > 1 && age_ms >= in->cfg->settle_ms) {
		fail_drop(in, name, "invalid_file", "a hard link (the file "
		    "has other names): drop a copy");
		return false;
	}
	if (st->st_nlink > 1) {
		*wait_ms = in->cfg->settle_ms - age_ms;
		return true;
	}
	fd = openat(spool_dirfd(in->sp, SPOOL_NEW), name, O_RDONLY |
	    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return false;	/* gone: taken by another instance */
		log_warn("open new/%s", name);
		*wait_ms = in->cfg->settle_ms > 1000 ? in->cfg->settle_ms :
		    1000;
		return true;
	}
	if (writer_busy(fd)) {
		close(fd);
		*wait_ms = in->cfg->settle_ms;
		return true;
	}
	if ((uint64_t)st->st_size > in->cfg->max_file_bytes) {
		close(fd);
		fail_drop(in, name, "file_too_large",
		    "file is larger than spool.max_file_size");
		return false;
	}
	/* rsync --partial marks a cut-off file with an mtime of 1970. */
	if (st->st_mtime < 365 * 86400)
		complete = 0;
	else if (kind == SPOOL_KIND_ARCHIVE)
		complete = 1;	/* a cut archive fails to unpack: failed/ */
	else
		complete = input_looks_complete(fd, kind == SPOOL_KIND_JSONL,
		    (size_t)in->cfg->max_line_bytes);
	close(fd);
	if (complete == 1) {
		c->held_since = 0;
		/* A claim that failed is looked at again (and not idle). */
		if (in->cb(kind, name, in->arg) == -1) {
			*wait_ms = in->cfg->settle_ms > 1000 ?
			    in->cfg->settle_ms : 1000;
			return true;
		}
		return false;
	}
	if (c->held_since == 0 || c->held_size != st->st_size ||
	    c->held_mtime != st->st_mtime) {
		c->held_since = now_ms();
		c->held_size = st->st_size;
		c->held_mtime = st->st_mtime;
		log_warnx("drop %s looks truncated; holding it", name);
	} else if (now_ms() - c->held_since >= in->cfg->incomplete_after_ms) {
		fail_drop(in, name, "incomplete_file",
		    "file stayed truncated for spool.incomplete_after");
		return false;
	}
	/* No timer of its own: the periodic rescan looks at it again, and
	 * a held file does not keep spoold --once from finishing (75). */
	in->held++;
	return false;
}

/* The newest ctime in the directory dfd and of dfd itself, in ms;
 * *temp is set if a temp-named file is still in it. */
static uint64_t
dir_changed_ms(int dfd, const struct stat *st, bool *temp)
{
	struct dirent *de;
	struct stat est;
	uint64_t newest, t;
	DIR *d;

	newest = (uint64_t)st->st_ctim.tv_sec * 1000 +
	    (uint64_t)st->st_ctim.tv_nsec / 1000000;
	*temp = false;
	if ((d = spool_opendir(dfd)) == NULL)
		return wall_ms();
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (spool_name_is_temp(de->d_name))
			*temp = true;
		if (fstatat(dfd, de->d_name, &est, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		t = (uint64_t)est.st_ctim.tv_sec * 1000 +
		    (uint64_t)est.st_ctim.tv_nsec / 1000000;
		if (t > newest)
			newest = t;
	}
	closedir(d);
	return newest;
}

/*
 * A directory batch (SPEC §3) is ready once it arrived by a rename,
 * holds its marker, or (with batch.settle) has not changed for that
 * long with no temp file left in it.  Until then it is held and looked
 * at every second: what happens inside raises no event on new/.
 */
static bool
examine_dir(struct intake *in, const char *name, const struct stat *st,
    uint64_t *wait_ms)
{
	struct cand *c = cand_get(in, name, true);
	uint64_t changed, nowms = wall_ms();
	bool ready, temp;
	int dfd;

	c->seen = true;
	if ((dfd = openat(spool_dirfd(in->sp, SPOOL_NEW), name, O_RDONLY |
	    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return false;	/* gone: taken by another instance */
	ready = c->moved_in || faccessat(dfd, in->cfg->ready_marker, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0;
	if (!ready && in->cfg->batch_settle_ms > 0) {
		changed = dir_changed_ms(dfd, st, &temp);
		if (!temp && nowms >= changed &&
		    nowms - changed >= in->cfg->batch_settle_ms)
			ready = true;
	}
	close(dfd);
	if (ready) {
		if (in->cb(SPOOL_KIND_DIR, name, in->arg) == -1) {
			*wait_ms = 1000;
			return true;
		}
		return false;
	}
	if (!c->noted)
		log_info("directory %s waits for %s%s", name,
		    in->cfg->ready_marker, in->cfg->batch_settle_ms > 0 ?
		    " or batch.settle without change" : "");
	c->noted = true;
	/* Held, like a truncated file: spoold --once does not wait. */
	in->held++;
	in->poll_held = true;
	return false;
}

/* Entries looked at per turn of the loop: one huge new/ must not
 * stall the daemon. */
#define SCAN_SLICE	2000

/* Looks at one entry of new/; notes waits in the scan state. */
static void
scan_entry(struct intake *in, int dfd, const char *name)
{
	enum spool_kind kind;
	struct stat st;
	uint64_t wait_ms = 0;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return;
	kind = spool_name_kind(name);
	if (kind == SPOOL_KIND_TEMP)
		return;
	if (!spool_name_ok(name)) {
		/* No batch id, result or record can carry it: failed/,
		 * under a sanitised name (intake_fail). */
		fail_drop(in, name, "invalid_name", "the name has control "
		    "characters or is not UTF-8");
		return;
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return;
	if (S_ISDIR(st.st_mode)) {
		examine_dir(in, name, &st, &wait_ms);
		if (wait_ms > 0 && wait_ms < in->scan_next_ms)
			in->scan_next_ms = wait_ms;
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		fail_drop(in, name, "invalid_file",
		    "not a regular file (symlink, FIFO or device)");
		return;
	}
	switch (kind) {
	case SPOOL_KIND_OTHER:
		fail_drop(in, name, "unsupported_file",
		    "unknown suffix: drop .jsonl, .json or an archive");
		break;
	case SPOOL_KIND_CANCEL:
		in->cb(kind, name, in->arg);
		break;
	case SPOOL_KIND_READY:
	case SPOOL_KIND_FORCE:
	case SPOOL_KIND_HOLD:
	case SPOOL_KIND_TEMP:
	case SPOOL_KIND_DIR:
		break;
	case SPOOL_KIND_JSON:
	case SPOOL_KIND_JSONL:
	case SPOOL_KIND_ARCHIVE:
		if (examine(in, name, kind, &st, &wait_ms))
			in->scan_waiting = true;
		if (wait_ms > 0 && wait_ms < in->scan_next_ms)
			in->scan_next_ms = wait_ms;
		break;
	}
}

/* One slice of a full scan of new/; re-arms itself until done. */
static void
scan(void *arg)
{
	struct intake *in = arg;
	struct dirent *de;
	int dfd = spool_dirfd(in->sp, SPOOL_NEW), n;

	if (in->paused)
		return;
	if (in->scan_dir == NULL) {
		if ((in->scan_dir = spool_opendir(dfd)) == NULL) {
			log_warn("scan new/");
			return;
		}
		in->scan_waiting = false;
		in->scan_next_ms = UINT64_MAX;
		in->held = 0;
		in->poll_held = false;
	}
	for (n = 0; n < SCAN_SLICE && !in->paused; n++) {
		if ((de = readdir(in->scan_dir)) == NULL)
			break;
		scan_entry(in, dfd, de->d_name);
	}
	if (n == SCAN_SLICE && !in->paused) {
		loop_timer_arm(in->scan_timer, 0);	/* the next slice */
		return;
	}
	closedir(in->scan_dir);
	in->scan_dir = NULL;
	cand_sweep(in, false);
	in->idle = !in->scan_waiting;
	if (in->poll_held)
		loop_timer_arm_sooner(in->held_timer, 1000);
	if (in->scan_next_ms != UINT64_MAX)
		loop_timer_arm_sooner(in->scan_timer, in->scan_next_ms + 10);
}

static void
on_rescan(void *arg)
{
	struct intake *in = arg;

	scan(in);
	loop_timer_arm(in->rescan_timer, in->cfg->rescan_ms);
}

static void
on_inotify(int fd, uint32_t events, void *arg)
{
	struct intake *in = arg;
	char buf[16384] __attribute__((aligned(__alignof__(
	    struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;

	(void)events;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (p = buf; p + sizeof(*ev) <= buf + n;
		    p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (p + sizeof(*ev) + ev->len > buf + n)
				break;	/* never happens: whole events only */
			if (ev->mask & IN_Q_OVERFLOW) {
				loop_timer_arm(in->scan_timer, 0);
				continue;
			}
			if (ev->len == 0 || spool_name_is_temp(ev->name))
				continue;
			if (ev->mask & IN_MOVED_TO) {
				cand_get(in, ev->name, true)->moved_in = true;
				loop_timer_arm(in->scan_timer, 0);
			} else {
				/* Written in place: look after it settled. */
				struct cand *c = cand_get(in, ev->name, true);

				c->moved_in = false;
				loop_timer_arm_sooner(in->scan_timer,
				    in->cfg->settle_ms + 10);
			}
		}
	}
}

struct intake *
intake_new(struct loop *l, struct spool *sp, const struct config *cfg,
    intake_drop_cb *cb, void *arg)
{
	struct intake *in;
	char path[4096];

	in = xcalloc(1, sizeof(*in));
	in->loop = l;
	in->sp = sp;
	in->cfg = cfg;
	in->cb = cb;
	in->arg = arg;
	in->scan_timer = loop_timer_new(l, scan, in);
	in->rescan_timer = loop_timer_new(l, on_rescan, in);
	in->held_timer = loop_timer_new(l, scan, in);
	in->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	snprintf(path, sizeof(path), "%s/new", spool_root(sp));
	if (in->ifd == -1 || inotify_add_watch(in->ifd, path, IN_MOVED_TO |
	    IN_CREATE | IN_CLOSE_WRITE | IN_ATTRIB | IN_MODIFY |
	    IN_ONLYDIR) == -1 ||
	    loop_add_fd(l, in->ifd, EPOLLIN, on_inotify, in) == -1) {
		/* Rescans alone still find every drop, only later. */
		log_warn("inotify on %s; relying on rescans", path);
	}
	loop_timer_arm(in->rescan_timer, 0);
	return in;
}

void
intake_free(struct intake *in)
{
	if (in == NULL)
		return;
	cand_sweep(in, true);
	free(in->cands);
	if (in->scan_dir != NULL)
		closedir(in->scan_dir);
	if (in->ifd != -1) {
		loop_del_fd(in->loop, in->ifd);
		close(in->ifd);
	}
	loop_timer_free(in->scan_timer);
	loop_timer_free(in->rescan_timer);
	loop_timer_free(in->held_timer);
	free(in);
}

void
intake_pause(struct intake *in)
{
	in->paused = true;
	loop_timer_disarm(in->scan_timer);
	loop_timer_disarm(in->rescan_timer);
}

bool
intake_idle(const struct intake *in)
{
	return in->idle && !loop_timer_armed(in->scan_timer);
}

int
intake_held(const struct intake *in)
{
	return in->held;
}
