/*
 * notify - batch.on_complete and batch.webhook, run by the finisher
 * child once manifest.json is in place (see notify.h for the order and
 * the delivery guarantee).
 *
 * Both block: the finisher is a process of its own, so a slow hook or a
 * webhook in its backoff stalls only that batch's finisher, never the
 * supervisor's loop.  Both are bounded in time (NOTIFY_*), so a drain,
 * which waits for finishers, ends too.
 */
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "execrun.h"
#include "log.h"
#include "notify.h"
#include "spool.h"
#include "util.h"

#define MARK_HOOK	".notified.on_complete"
#define MARK_WEBHOOK	".notified.webhook"

static bool
marked(int rfd, const char *mark)
{
	return faccessat(rfd, mark, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

bool
notify_pending(const struct config *cfg, int rfd)
{
	return (cfg->on_complete_argv != NULL && !marked(rfd, MARK_HOOK)) ||
	    (cfg->webhook != NULL && !marked(rfd, MARK_WEBHOOK));
}

static void
mark(int rfd, const char *id, const char *mark)
{
	if (spool_write_at(rfd, mark, "", 0) == -1)
		log_warn("batch=%s write %s", id, mark);
}

/* argv[0] as given if it has a '/', else found in EXECRUN_PATH. */
static char *
resolve(const char *cmd)
{
	const char *d = EXECRUN_PATH, *end;
	char *path;

	if (strchr(cmd, '/') != NULL)
		return xstrdup(cmd);
	for (; *d != '\0'; d = *end == ':' ? end + 1 : end) {
		if ((end = strchr(d, ':')) == NULL)
			end = d + strlen(d);
		path = xasprintf("%.*s/%s", (int)(end - d), d, cmd);
		if (access(path, X_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

/* Waits up to ms for pidfd; true if the process has exited. */
static bool
wait_exit(int pidfd, int ms)
{
	struct pollfd p = { pidfd, POLLIN, 0 };
	int r;

	while ((r = poll(&p, 1, ms)) == -1 && errno == EINTR)
		;
	return r > 0;
}

/*
 * Runs the hook with only fds 0-2 (stdin /dev/null, stdout and stderr
 * spoold's log) and env as its whole environment: nothing of spoold's,
 * so no API key.  The hook leads its own process group, which is
 * killed at the timeout.
 */
static void
run_hook(const struct config *cfg, const char *id, char **env)
{
	char *path;
	pid_t pid;
	int pidfd, status = 0, devnull;

	if ((path = resolve(cfg->on_complete_argv[0])) == NULL) {
		log_warnx("batch=%s on_complete: %s not found in %s", id,
		    cfg->on_complete_argv[0], EXECRUN_PATH);
		return;
	}
	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    (pid = fork()) == -1) {
		log_warn("batch=%s on_complete: start", id);
		if (devnull != -1)
			close(devnull);
		free(path);
		return;
	}
	if (pid == 0) {
		setsid();
		/* The supervisor blocks and ignores signals. */
		signals_reset();
		if (dup2(devnull, 0) == -1 || dup2(2, 1) == -1)
			_exit(127);
		(void)close_range(3, ~0U, 0);
		if (chdir("/") == -1)
			_exit(127);
		execve(path, cfg->on_complete_argv, env);
		_exit(127);
	}
	close(devnull);
	free(path);
	if ((pidfd = pidfd_open(pid, 0)) == -1) {
		/* Cannot time it: wait, as the hook is ours to run. */
		log_warn("batch=%s on_complete: pidfd_open", id);
	} else {
		if (!wait_exit(pidfd, NOTIFY_HOOK_TIMEOUT_MS)) {
			log_warnx("batch=%s on_complete: still running after "
			    "%d s; killing it", id,
			    NOTIFY_HOOK_TIMEOUT_MS / 1000);
			kill(-pid, SIGTERM);
			if (!wait_exit(pidfd, EXECRUN_GRACE_MS))
				kill(-pid, SIGKILL);
		}
		close(pidfd);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_info("batch=%s on_complete: done", id);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		log_warnx("batch=%s on_complete: exit 127 (cannot run %s?)",
		    id, cfg->on_complete_argv[0]);
	else if (WIFEXITED(status))
		log_warnx("batch=%s on_complete: exit %d", id,
		    WEXITSTATUS(status));
	else
		log_warnx("batch=%s on_complete: killed by signal %d", id,
		    WTERMSIG(status));
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* One POST; the HTTP status, or 0 for a transport error (in errbuf). */
static long
post_once(CURL *h, char *errbuf)
{
	long code = 0;
	CURLcode rc;

	errbuf[0] = '\0';
	if ((rc = curl_easy_perform(h)) != CURLE_OK) {
		if (errbuf[0] == '\0')
			snprintf(errbuf, CURL_ERROR_SIZE, "%s",
			    curl_easy_strerror(rc));
		return 0;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/*
 * POSTs the manifest.  Retried: transport errors, 408, 429 and 5xx,
 * with a doubling backoff; anything else ends it (a redirect is not
 * followed: the URL is the operator's, and a redirect could carry the
 * manifest elsewhere).
 */
static void
post_webhook(const struct config *cfg, const char *id, const char *manifest,
    size_t len)
{
	char errbuf[CURL_ERROR_SIZE], *hdr;
	struct curl_slist *hl = NULL;
	struct timespec ts;
	uint64_t delay = NOTIFY_WEBHOOK_BACKOFF_MS;
	long code = 0;
	CURL *h;
	int i;

	if ((h = curl_easy_init()) == NULL) {
		log_warnx("batch=%s webhook: curl_easy_init failed", id);
		return;
	}
	hl = curl_slist_append(hl, "Content-Type: application/json");
	hdr = xasprintf("X-Spoold-Batch: %s", id);
	hl = curl_slist_append(hl, hdr);
	free(hdr);
	curl_easy_setopt(h, CURLOPT_URL, cfg->webhook);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, manifest);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "spoold");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
	    (long)NOTIFY_WEBHOOK_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)NOTIFY_WEBHOOK_TIMEOUT_MS / 2);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	for (i = 1; i <= NOTIFY_WEBHOOK_ATTEMPTS; i++) {
		code = post_once(h, errbuf);
		if (code >= 200 && code < 300) {
			log_info("batch=%s webhook: delivered (HTTP %ld, "
			    "attempt %d)", id, code, i);
			break;
		}
		if (code == 0)
			log_warnx("batch=%s webhook: attempt %d: %s", id, i,
			    errbuf);
		else
			log_warnx("batch=%s webhook: attempt %d: HTTP %ld", id,
			    i, code);
		if (code != 0 && code != 408 && code != 429 && code < 500) {
			log_warnx("batch=%s webhook: giving up (HTTP %ld is "
			    "not retried)", id, code);
			break;
		}
		if (i == NOTIFY_WEBHOOK_ATTEMPTS) {
			log_warnx("batch=%s webhook: giving up after %d "
			    "attempts", id, i);
			break;
		}
		ts.tv_sec = (time_t)(delay / 1000);
		ts.tv_nsec = (long)(delay % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		delay *= 2;
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
}

/* The manifest's "status" and "archive" (NULL if none); owned. */
static void
manifest_fields(const char *manifest, size_t len, char **status,
    char **archive)
{
	cJSON *o, *v;

	*status = NULL;
	*archive = NULL;
	if ((o = cJSON_ParseWithLength(manifest, len)) == NULL)
		return;
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "status")))
		*status = xstrdup(v->valuestring);
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o,
	    "archive")))
		*archive = xstrdup(v->valuestring);
	cJSON_Delete(o);
}

void
notify_run(const struct config *cfg, int rfd, const char *id,
    const char *manifest, size_t len)
{
	char *env[9], *spool, *status, *archive;
	int i;

	if (cfg->on_complete_argv != NULL && !marked(rfd, MARK_HOOK)) {
		/* The hook is told absolute paths: it runs in /. */
		if ((spool = realpath(cfg->spool_dir, NULL)) == NULL)
			spool = xstrdup(cfg->spool_dir);
		manifest_fields(manifest, len, &status, &archive);
		env[0] = xstrdup("PATH=" EXECRUN_PATH);
		env[1] = xstrdup("LANG=C.UTF-8");
		env[2] = xasprintf("SPOOLD_BATCH=%s", id);
		env[3] = xasprintf("SPOOLD_STATUS=%s", status ? status : "");
		env[4] = xasprintf("SPOOLD_SPOOL=%s", spool);
		env[5] = xasprintf("SPOOLD_RESULTS=%s/results/%s", spool, id);
		env[6] = xasprintf("SPOOLD_MANIFEST=%s/results/%s/"
		    "manifest.json", spool, id);
		env[7] = archive != NULL ? xasprintf("SPOOLD_ARCHIVE=%s/%s",
		    spool, archive) : xstrdup("SPOOLD_ARCHIVE=");
		env[8] = NULL;
		run_hook(cfg, id, env);
		for (i = 0; i < 8; i++)
			free(env[i]);
		free(spool);
		free(status);
		free(archive);
		mark(rfd, id, MARK_HOOK);
	}
	if (cfg->webhook != NULL && !marked(rfd, MARK_WEBHOOK)) {
		post_webhook(cfg, id, manifest, len);
		mark(rfd, id, MARK_WEBHOOK);
	}
}
