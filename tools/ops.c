/*
 * ops - spoolctl status, ls, show and watch: read-only views of the
 * spool, and the helpers they share with ops_change.c (hold, release,
 * purge).
 *
 * Everything is read from the spool's files as spoold leaves them:
 * results/BATCH/status.json while a batch runs, manifest.json once it
 * has finished (written last, so its presence means finished).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "input.h"
#include "ops.h"
#include "ops_internal.h"
#include "spool.h"
#include "spool_limits.h"
#include "util.h"


static cJSON *
read_json_at(int dfd, const char *name)
{
	struct buf b = BUF_INIT;
	cJSON *j = NULL;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return NULL;
	if (input_read_file(fd, 16 << 20, &b) == 0)
		j = cJSON_ParseWithLength(b.data, b.len);
	close(fd);
	buf_release(&b);
	return j;
}

static double
jnum(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *
jstr(const cJSON *o, const char *a)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
print_json(cJSON *o)
{
	char *text = cJSON_Print(o);

	printf("%s\n", text);
	cJSON_free(text);
}

/* "3d", "5h", "12m", "40s": an age for people. */
void
ops_fmt_age(double secs, char *out, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		snprintf(out, len, "%.0fd", secs / 86400);
	else if (secs >= 3600)
		snprintf(out, len, "%.0fh", secs / 3600);
	else if (secs >= 60)
		snprintf(out, len, "%.0fm", secs / 60);
	else
		snprintf(out, len, "%.0fs", secs);
}

bool
ops_marker_exists(struct spool *sp, const char *id, const char *suffix)
{
	char name[SPOOL_NAME_MAX + 16];

	snprintf(name, sizeof(name), "%s%s", id, suffix);
	return faccessat(spool_dirfd(sp, SPOOL_NEW), name, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0;
}

/* results/BATCH open, or -1 (errno ENOENT: no such batch). */
int
ops_results_dir(struct spool *sp, const char *id)
{
	return openat(spool_dirfd(sp, SPOOL_RESULTS), id, O_RDONLY |
	    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* --- status -------------------------------------------------------- */

/* One running batch's line of status: progress, rate, ETA. */
static cJSON *
status_batch(struct spool *sp, const char *id, const cJSON *st)
{
	double total = jnum(st, "request_counts", "total");
	double ok = jnum(st, "request_counts", "completed");
	double bad = jnum(st, "request_counts", "failed");
	double started = jnum(st, "in_progress_at", NULL);
	double secs = difftime(time(NULL), (time_t)started), rate;
	cJSON *e = cJSON_CreateObject();

	rate = started > 0 && secs > 0 ? (ok + bad) / secs : 0;
	cJSON_AddStringToObject(e, "batch", id);
	cJSON_AddStringToObject(e, "status", jstr(st, "status") ?
	    jstr(st, "status") : "unknown");
	cJSON_AddBoolToObject(e, "held", ops_marker_exists(sp, id, ".hold"));
	cJSON_AddNumberToObject(e, "total", total);
	cJSON_AddNumberToObject(e, "completed", ok);
	cJSON_AddNumberToObject(e, "failed", bad);
	cJSON_AddNumberToObject(e, "percent_done", total > 0 ?
	    100 * (ok + bad) / total : 0);
	cJSON_AddNumberToObject(e, "rate_per_s", rate);
	if (rate > 0)
		cJSON_AddNumberToObject(e, "eta_s", (total - ok - bad) / rate);
	else
		cJSON_AddNullToObject(e, "eta_s");
	cJSON_AddNumberToObject(e, "failure_rate", ok + bad > 0 ?
	    bad / (ok + bad) : 0);
	return e;
}

int
ops_status(struct spool *sp, int argc, char **argv)
{
	static const enum spool_dir dirs[] = { SPOOL_NEW, SPOOL_PROCESSING,
	    SPOOL_DONE, SPOOL_FAILED };
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	int rfd = spool_dirfd(sp, SPOOL_RESULTS), bfd;
	cJSON *out, *q, *arr, *st, *e, *sched;
	char age[16], eta[16], when[32];
	time_t t;
	struct dirent *de;
	time_t oldest = 0;
	size_t i;
	DIR *dir;

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: spoolctl status [--json]\n");
		return EX_USAGE;
	}
	out = cJSON_CreateObject();
	q = cJSON_AddObjectToObject(out, "queue");
	for (i = 0; i < ARRAY_SIZE(dirs); i++)
		cJSON_AddNumberToObject(q, spool_dir_name(dirs[i]),
		    (double)spool_count_inputs(sp, dirs[i],
		    dirs[i] == SPOOL_NEW ? &oldest : NULL));
	if (oldest != 0)
		cJSON_AddNumberToObject(out, "oldest_pending_age_s",
		    difftime(time(NULL), oldest));
	else
		cJSON_AddNullToObject(out, "oldest_pending_age_s");
	/* What the daemon said of schedule.active_hours, if anything. */
	if ((sched = read_json_at(rfd, ".schedule.json")) != NULL)
		cJSON_AddItemToObject(out, "schedule", sched);
	else
		cJSON_AddNullToObject(out, "schedule");
	arr = cJSON_AddArrayToObject(out, "batches");
	if ((dir = spool_opendir(rfd)) != NULL) {
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.' ||
			    (bfd = ops_results_dir(sp, de->d_name)) == -1)
				continue;
			/* A manifest means finished: not in progress. */
			if (faccessat(bfd, "manifest.json", F_OK, 0) == -1 &&
			    (st = read_json_at(bfd, "status.json")) != NULL) {
				cJSON_AddItemToArray(arr, status_batch(sp,
				    de->d_name, st));
				cJSON_Delete(st);
			}
			close(bfd);
		}
		closedir(dir);
	}
	if (json) {
		print_json(out);
		cJSON_Delete(out);
		return EX_OK;
	}
	printf("queue: new %.0f, processing %.0f, done %.0f, failed %.0f\n",
	    jnum(q, "new", NULL), jnum(q, "processing", NULL),
	    jnum(q, "done", NULL), jnum(q, "failed", NULL));
	if (oldest != 0) {
		ops_fmt_age(difftime(time(NULL), oldest), age, sizeof(age));
		printf("oldest pending: %s\n", age);
	}
	if (sched != NULL && cJSON_IsFalse(cJSON_GetObjectItem(sched,
	    "dispatching"))) {
		t = (time_t)jnum(sched, "next_change", NULL);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M %Z",
		    localtime(&t));
		printf("dispatch paused outside the active hours (%s); "
		    "resumes %s\n", jstr(sched, "active_hours") ?
		    jstr(sched, "active_hours") : "?", t > 0 ? when : "never");
	}
	printf("batches in progress: %d\n", cJSON_GetArraySize(arr));
	cJSON_ArrayForEach(e, arr) {
		double total = jnum(e, "total", NULL);
		double done = jnum(e, "completed", NULL) +
		    jnum(e, "failed", NULL);

		snprintf(eta, sizeof(eta), "?");
		if (cJSON_IsNumber(cJSON_GetObjectItem(e, "eta_s")))
			ops_fmt_age(jnum(e, "eta_s", NULL), eta, sizeof(eta));
		printf("  %-32s %8.0f/%-8.0f %5.1f%%  %.0f failed (%.1f%%), "
		    "%.1f/s, ETA %s%s\n",
		    cJSON_GetObjectItem(e, "batch")->valuestring, done, total,
		    jnum(e, "percent_done", NULL), jnum(e, "failed", NULL),
		    100 * jnum(e, "failure_rate", NULL),
		    jnum(e, "rate_per_s", NULL), eta,
		    cJSON_IsTrue(cJSON_GetObjectItem(e, "held")) ?
		    " (held)" : "");
	}
	cJSON_Delete(out);
	return EX_OK;
}

/* --- ls ------------------------------------------------------------- */

static int
ls_state(struct spool *sp, enum spool_dir d, cJSON *arr, bool json)
{
	struct dirent *de;
	struct stat st;
	char age[16];
	cJSON *e;
	DIR *dir;
	int n = 0;

	if ((dir = spool_opendir(spool_dirfd(sp, d))) == NULL) {
		fprintf(stderr, "spoolctl: %s/: %s\n", spool_dir_name(d),
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' ||
		    fstatat(spool_dirfd(sp, d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		n++;
		if (json) {
			e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "state", spool_dir_name(d));
			cJSON_AddStringToObject(e, "name", de->d_name);
			cJSON_AddStringToObject(e, "type", S_ISDIR(st.st_mode) ?
			    "directory" : S_ISREG(st.st_mode) ? "file" :
			    "other");
			cJSON_AddNumberToObject(e, "bytes", (double)st.st_size);
			cJSON_AddNumberToObject(e, "mtime",
			    (double)st.st_mtime);
			cJSON_AddItemToArray(arr, e);
			continue;
		}
		ops_fmt_age(difftime(time(NULL), st.st_mtime), age,
		    sizeof(age));
		printf("%-10s %12lld %5s  %s%s\n", spool_dir_name(d),
		    (long long)st.st_size, age, de->d_name,
		    S_ISDIR(st.st_mode) ? "/" : "");
	}
	closedir(dir);
	return n;
}

int
ops_ls(struct spool *sp, int argc, char **argv)
{
	static const enum spool_dir all[] = { SPOOL_NEW, SPOOL_PROCESSING,
	    SPOOL_DONE, SPOOL_FAILED, SPOOL_ARCHIVE };
	cJSON *arr = cJSON_CreateArray();
	bool json = false;
	size_t i;
	int r = EX_OK;

	for (argc--, argv++; argc > 0 && strcmp(argv[0], "--json") == 0;
	    argc--, argv++)
		json = true;
	if (argc > 1 || (argc == 1 && argv[0][0] == '-')) {
		fprintf(stderr, "usage: spoolctl ls [--json] [STATE]\n");
		cJSON_Delete(arr);
		return EX_USAGE;
	}
	for (i = 0; argc == 1 && i < ARRAY_SIZE(all); i++)
		if (strcmp(argv[0], spool_dir_name(all[i])) == 0)
			break;
	if (argc == 1 && i == ARRAY_SIZE(all)) {
		fprintf(stderr, "spoolctl: ls: unknown state %s (new, "
		    "processing, done, failed or archive)\n", argv[0]);
		cJSON_Delete(arr);
		return EX_USAGE;
	}
	if (!json)
		printf("%-10s %12s %5s  %s\n", "STATE", "BYTES", "AGE", "NAME");
	for (i = 0; i < ARRAY_SIZE(all); i++) {
		if (argc == 1 && strcmp(argv[0], spool_dir_name(all[i])) != 0)
			continue;
		if (ls_state(sp, all[i], arr, json) == -1)
			r = EX_IOERR;
	}
	if (json)
		print_json(arr);
	cJSON_Delete(arr);
	return r;
}

/* --- show ----------------------------------------------------------- */

/* Lines of a results file: errors.jsonl's are failed requests. */
static long
count_lines_at(int dfd, const char *name)
{
	char buf[65536];
	ssize_t n, i;
	long lines = 0;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

/*
 * What spoolctl knows of a batch, as one object: status.json's or the
 * manifest's fields plus where things are.  NULL if there is no batch.
 */
static cJSON *
batch_info(struct spool *sp, const char *id)
{
	cJSON *o, *st, *man;
	int rfd;

	if ((rfd = ops_results_dir(sp, id)) == -1)
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "batch", id);
	man = read_json_at(rfd, "manifest.json");
	st = read_json_at(rfd, "status.json");
	cJSON_AddBoolToObject(o, "finished", man != NULL);
	if (man != NULL)
		cJSON_AddStringToObject(o, "status", jstr(man, "status") ?
		    jstr(man, "status") : "unknown");
	else
		cJSON_AddStringToObject(o, "status", st != NULL &&
		    jstr(st, "status") != NULL ? jstr(st, "status") :
		    "validating");
	cJSON_AddBoolToObject(o, "held", ops_marker_exists(sp, id, ".hold"));
	cJSON_AddBoolToObject(o, "cancel_requested",
	    ops_marker_exists(sp, id, ".cancel"));
	if (st != NULL)
		cJSON_AddItemToObject(o, "status_json", st);
	if (man != NULL)
		cJSON_AddItemToObject(o, "manifest", man);
	cJSON_AddNumberToObject(o, "output_lines",
	    (double)count_lines_at(rfd, "output.jsonl"));
	cJSON_AddNumberToObject(o, "error_lines",
	    (double)count_lines_at(rfd, "errors.jsonl"));
	close(rfd);
	return o;
}

/* The counts of a batch, from its manifest or its status.json. */
static void
batch_counts(const cJSON *info, double *total, double *ok, double *bad)
{
	const cJSON *src = cJSON_GetObjectItem(info, "manifest");

	if (src == NULL)
		src = cJSON_GetObjectItem(info, "status_json");
	*total = jnum(src, "request_counts", "total");
	*ok = jnum(src, "request_counts", "completed");
	*bad = jnum(src, "request_counts", "failed");
}

int
ops_show(struct spool *sp, int argc, char **argv)
{
	bool json = argc == 3 && strcmp(argv[1], "--json") == 0;
	const char *id = argv[argc - 1];
	const cJSON *man, *st, *u;
	double total, ok, bad;
	char when[64];
	cJSON *info;
	time_t t;

	if ((argc != 2 && !json) || !spool_batch_id_ok(id)) {
		fprintf(stderr, "usage: spoolctl show [--json] BATCH\n");
		return EX_USAGE;
	}
	if ((info = batch_info(sp, id)) == NULL) {
		fprintf(stderr, "spoolctl: no batch %s in %s/results\n", id,
		    spool_root(sp));
		return EX_NOINPUT;
	}
	if (json) {
		print_json(info);
		cJSON_Delete(info);
		return EX_OK;
	}
	man = cJSON_GetObjectItem(info, "manifest");
	st = cJSON_GetObjectItem(info, "status_json");
	batch_counts(info, &total, &ok, &bad);
	printf("batch:     %s\n", id);
	printf("status:    %s%s%s\n", jstr(info, "status"),
	    cJSON_IsTrue(cJSON_GetObjectItem(info, "held")) ? " (held)" : "",
	    cJSON_IsTrue(cJSON_GetObjectItem(info, "cancel_requested")) &&
	    man == NULL ? " (cancel requested)" : "");
	printf("requests:  %.0f total, %.0f succeeded, %.0f failed, %.0f "
	    "left\n", total, ok, bad, total - ok - bad);
	u = cJSON_GetObjectItem(man != NULL ? man : st, "usage");
	if (u != NULL)
		printf("tokens:    %.0f in, %.0f out\n",
		    jnum(u, "input_tokens", NULL),
		    jnum(u, "output_tokens", NULL));
	if (man != NULL && cJSON_IsObject(cJSON_GetObjectItem(man, "cost")))
		printf("cost:      %.4f\n", jnum(man, "cost", "total"));
	else if (man != NULL && cJSON_IsNumber(cJSON_GetObjectItem(man,
	    "cost")))
		printf("cost:      %.4f\n", jnum(man, "cost", NULL));
	if ((t = (time_t)jnum(man != NULL ? man : st, "created_at", NULL)) >
	    0) {
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
		    gmtime(&t));
		printf("created:   %s\n", when);
	}
	if (man != NULL && (t = (time_t)jnum(man, "finished_at", NULL)) > 0) {
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
		    gmtime(&t));
		printf("finished:  %s\n", when);
	}
	if (man != NULL && jstr(man, "archive") != NULL)
		printf("archive:   %s\n", jstr(man, "archive"));
	printf("results:   %s/results/%s (%.0f output, %.0f error lines)\n",
	    spool_root(sp), id, jnum(info, "output_lines", NULL),
	    jnum(info, "error_lines", NULL));
	cJSON_Delete(info);
	return EX_OK;
}

/* --- watch ---------------------------------------------------------- */

static void
draw_bar(double total, double done, double bad, double rate, bool tty)
{
	char bar[41], eta[16] = "?";
	double frac = total > 0 ? done / total : 0;
	int i, fill = (int)(frac * 40);

	for (i = 0; i < 40; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[40] = '\0';
	if (rate > 0)
		ops_fmt_age((total - done) / rate, eta, sizeof(eta));
	if (tty)
		printf("\r[%s] %5.1f%% %.0f/%.0f, %.0f failed, %.1f/s, ETA %s"
		    "\033[K", bar, 100 * frac, done, total, bad, rate, eta);
	else
		printf("%.0f/%.0f done (%.1f%%), %.0f failed, %.1f/s, ETA %s\n",
		    done, total, 100 * frac, bad, rate, eta);
	fflush(stdout);
}

/* Is an input for id still waiting in new/ (not claimed yet)? */
bool
ops_pending_input(struct spool *sp, const char *id)
{
	char stem[SPOOL_NAME_MAX + 1];
	struct dirent *de;
	bool found = false;
	DIR *dir;

	if ((dir = spool_opendir(spool_dirfd(sp, SPOOL_NEW))) == NULL)
		return false;
	while (!found && (de = readdir(dir)) != NULL) {
		enum spool_kind k = spool_name_kind(de->d_name);

		if ((k == SPOOL_KIND_JSONL || k == SPOOL_KIND_ARCHIVE ||
		    strcmp(de->d_name, id) == 0) &&
		    spool_name_stem(de->d_name, stem, sizeof(stem)) == 0 &&
		    strcmp(stem, id) == 0)
			found = true;
	}
	closedir(dir);
	return found;
}

int
ops_watch(struct spool *sp, int argc, char **argv)
{
	double total, ok, bad, done, last = -1, d0 = -1, rate = 0;
	uint64_t t0 = 0, interval_ms = 500, last_print = 0;
	bool tty = isatty(STDOUT_FILENO), fin;
	const char *id, *status;
	cJSON *info;
	int ch, r;

	optind = 1;
	while ((ch = getopt(argc, argv, "i:")) != -1) {
		if (ch != 'i' ||
		    parse_duration_ms(optarg, &interval_ms) == -1 ||
		    interval_ms == 0) {
			fprintf(stderr, "usage: spoolctl watch [-i INTERVAL] "
			    "BATCH\n");
			return EX_USAGE;
		}
	}
	if (optind != argc - 1 || !spool_batch_id_ok(argv[optind])) {
		fprintf(stderr, "usage: spoolctl watch [-i INTERVAL] BATCH\n");
		return EX_USAGE;
	}
	id = argv[optind];
	for (;;) {
		if ((info = batch_info(sp, id)) == NULL) {
			if (!ops_pending_input(sp, id)) {
				fprintf(stderr, "spoolctl: no batch %s\n", id);
				return EX_NOINPUT;
			}
			/* Dropped, not claimed yet. */
			usleep((useconds_t)(interval_ms * 1000));
			continue;
		}
		batch_counts(info, &total, &ok, &bad);
		done = ok + bad;
		fin = cJSON_IsTrue(cJSON_GetObjectItem(info, "finished"));
		if (d0 < 0) {
			d0 = done;
			t0 = now_ms();
		} else if (now_ms() > t0) {
			rate = (done - d0) * 1000.0 / (double)(now_ms() - t0);
		}
		/* Not a TTY: a line when there is news, at most every 5 s. */
		if (tty || fin || (done != last &&
		    now_ms() - last_print >= 5000)) {
			draw_bar(total, done, bad, rate, tty);
			last = done;
			last_print = now_ms();
		}
		if (fin) {
			status = jstr(info, "status");
			printf("%sbatch %s %s\n", tty ? "\n" : "", id,
			    status != NULL ? status : "finished");
			r = status != NULL && bad == 0 &&
			    strcmp(status, "completed") == 0 ? EX_OK : 1;
			cJSON_Delete(info);
			return r;
		}
		cJSON_Delete(info);
		usleep((useconds_t)(interval_ms * 1000));
	}
}
