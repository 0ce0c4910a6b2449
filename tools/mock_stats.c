/*
 * mock_stats - what spool-mockllm counts and logs (see mock_stats.h):
 * the counters that /stats reports, and one --log line per POST.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "mock.h"
#include "mock_limits.h"
#include "mock_stats.h"

struct mock_stats	 stats;

static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;
static int		 log_fd = -1;

int
stats_log_open(const char *path)
{
	if ((log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) == -1)
		return -1;
	return 0;
}

void
stats_log_close(void)
{
	if (log_fd != -1)
		close(log_fd);
}

void
stats_reply(struct out *o)
{
	long used, peak, rem, reset;

	o->json = cJSON_CreateObject();
	cJSON_AddNumberToObject(o->json, "requests", atomic_load(&stats.req));
	cJSON_AddNumberToObject(o->json, "responses", atomic_load(&stats.resp));
	cJSON_AddNumberToObject(o->json, "responses_2xx",
	    atomic_load(&stats.s2xx));
	cJSON_AddNumberToObject(o->json, "responses_4xx",
	    atomic_load(&stats.s4xx));
	cJSON_AddNumberToObject(o->json, "responses_429",
	    atomic_load(&stats.s429));
	cJSON_AddNumberToObject(o->json, "responses_5xx",
	    atomic_load(&stats.s5xx));
	cJSON_AddNumberToObject(o->json, "aborted", atomic_load(&stats.abort));
	cJSON_AddNumberToObject(o->json, "delayed", atomic_load(&stats.susp));
	cJSON_AddNumberToObject(o->json, "resets", atomic_load(&stats.reset));
	cJSON_AddNumberToObject(o->json, "truncated",
	    atomic_load(&stats.trunc));
	cJSON_AddNumberToObject(o->json, "hangs", atomic_load(&stats.hang));
	cJSON_AddNumberToObject(o->json, "in_progress",
	    atomic_load(&stats.busy));
	cJSON_AddNumberToObject(o->json, "peak_in_progress",
	    atomic_load(&stats.peak));
	cJSON_AddNumberToObject(o->json, "peak_in_progress_unlimited",
	    atomic_load(&stats.peak_after));
	cJSON_AddBoolToObject(o->json, "concurrency_limited",
	    limits_cc_limited(false));
	if (opt.tpm > 0) {
		(void)limits_tpm_check(0, &used, &peak, &rem, &reset, NULL);
		cJSON_AddNumberToObject(o->json, "tokens_in_window", used);
		cJSON_AddNumberToObject(o->json, "tokens_in_window_peak", peak);
	}
}

static void
log_line(const char *cid, const char *code)
{
	char line[CID_MAX + 32];
	ssize_t w;
	size_t off = 0;
	int n;

	n = snprintf(line, sizeof(line), "%s %s\n", cid, code);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	pthread_mutex_lock(&log_mtx);
	while (off < (size_t)n) {
		w = write(log_fd, line + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	pthread_mutex_unlock(&log_mtx);
}

/*
 * Count and log a POST once its fate is known; 499: client went away,
 * 0: connection reset.  A truncated body is logged as "200-cut", and a
 * hang was logged as "hang" when it began.
 */
void
stats_account(const struct req *r, unsigned int status)
{
	bool cut = false;
	char code[16];

	if (status == 0)
		atomic_fetch_add(&stats.reset, 1);
	else if (status == 499)
		atomic_fetch_add(&stats.abort, 1);
	else {
		if ((cut = r->fault == FAULT_TRUNCATE))
			atomic_fetch_add(&stats.trunc, 1);
		atomic_fetch_add(&stats.resp, 1);
		if (status >= 200 && status < 300)
			atomic_fetch_add(&stats.s2xx, 1);
		else if (status >= 400 && status < 500)
			atomic_fetch_add(&stats.s4xx, 1);
		else if (status >= 500)
			atomic_fetch_add(&stats.s5xx, 1);
		if (status == 429)
			atomic_fetch_add(&stats.s429, 1);
	}
	if (log_fd == -1 || r->logged)
		return;
	snprintf(code, sizeof(code), "%u%s", status, cut ? "-cut" : "");
	log_line(r->cid, code);
}

void
stats_account_hang(struct req *r)
{
	/* Logged now: the client has usually given up by the end. */
	atomic_fetch_add(&stats.hang, 1);
	if (log_fd != -1)
		log_line(r->cid, "hang");
	r->logged = true;
}
