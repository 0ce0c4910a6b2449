/*
 * mock_limits - the limits spool-mockllm enforces (see mock_limits.h):
 * the sliding windows of --rpm and --tpm, --max-concurrent (for the
 * first --max-concurrent-for ms), and the x-ratelimit-* headers that
 * report them.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "mock.h"
#include "mock_limits.h"
#include "mock_reply.h"
#include "mock_stats.h"

static struct {
	pthread_mutex_t	 mtx;
	uint64_t	*ring;
	long		 head;
	long		 count;
} rl = { .mtx = PTHREAD_MUTEX_INITIALIZER };

/* The --tpm window: (admission time, tokens) of the last minute. */
struct tk_ent {
	uint64_t	 ms;
	long		 tokens;
};

static struct {
	pthread_mutex_t	 mtx;
	struct tk_ent	*ring;
	size_t		 cap;
	size_t		 head;
	size_t		 count;
	long		 sum;
	long		 peak;		/* the highest sum so far */
} tk = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static atomic_uint_fast64_t cc_first;	/* ms + 1 of the first POST; 0 */

int
limits_init(void)
{
	if (opt.rpm > 0 && (rl.ring = calloc((size_t)opt.rpm,
	    sizeof(*rl.ring))) == NULL)
		return -1;
	return 0;
}

void
limits_free(void)
{
	free(rl.ring);
	free(tk.ring);
}

static void
fmt_ms(char *buf, size_t sz, long ms)
{
	if (ms < 1000)
		snprintf(buf, sz, "%ldms", ms);
	else
		snprintf(buf, sz, "%ld.%03lds", ms / 1000, ms % 1000);
}

/*
 * Sliding-window limiter: a ring of the admission times of the last
 * --rpm requests.  take=false only reports, for the headers of requests
 * that do not count against the limit.
 */
bool
limits_rpm_check(bool take, long *remaining, long *reset_ms)
{
	uint64_t now = now_ns() / 1000000;
	bool ok = true;

	pthread_mutex_lock(&rl.mtx);
	while (rl.count > 0 && rl.ring[rl.head] + (uint64_t)opt.window <=
	    now) {
		rl.head = (rl.head + 1) % opt.rpm;
		rl.count--;
	}
	if (take && rl.count < opt.rpm) {
		rl.ring[(rl.head + rl.count) % opt.rpm] = now;
		rl.count++;
	} else if (take)
		ok = false;
	*remaining = opt.rpm - rl.count;
	*reset_ms = rl.count > 0 ? (long)(rl.ring[rl.head] + (uint64_t)
	    opt.window - now) : 0;
	pthread_mutex_unlock(&rl.mtx);
	return ok;
}

/* Drop what has left the --tpm window; called under tk.mtx. */
static void
tk_expire(uint64_t now)
{
	while (tk.count > 0 && tk.ring[tk.head].ms + (uint64_t)opt.window <=
	    now) {
		tk.sum -= tk.ring[tk.head].tokens;
		tk.head = (tk.head + 1) % tk.cap;
		tk.count--;
	}
}

/* Make room for one more entry; called under tk.mtx. */
static bool
tk_grow(void)
{
	struct tk_ent *nr;
	size_t ncap, i;

	if (tk.count < tk.cap)
		return true;
	ncap = tk.cap != 0 ? tk.cap * 2 : 1024;
	if ((nr = calloc(ncap, sizeof(*nr))) == NULL)
		return false;
	/* Unroll the ring, oldest first. */
	for (i = 0; i < tk.count; i++)
		nr[i] = tk.ring[(tk.head + i) % tk.cap];
	free(tk.ring);
	tk.ring = nr;
	tk.cap = ncap;
	tk.head = 0;
	return true;
}

/*
 * The --tpm limiter, the token twin of limits_rpm_check: the tokens of the
 * answers admitted over the last minute (or --rate-window).  want > 0
 * asks to admit that many, and on refusal *retry_ms says when enough
 * will have left the window for them to fit; want == 0 only reports.
 * *reset_ms is the time until the oldest counted tokens leave, as for
 * --rpm.
 */
bool
limits_tpm_check(long want, long *used, long *peak, long *remaining,
    long *reset_ms, long *retry_ms)
{
	uint64_t now = now_ns() / 1000000;
	long freed = 0;
	size_t i;
	bool ok = true;

	pthread_mutex_lock(&tk.mtx);
	tk_expire(now);
	if (want > 0 && tk.sum + want <= opt.tpm) {
		/* Out of memory loses the count, not the request. */
		if (tk_grow()) {
			tk.ring[(tk.head + tk.count) % tk.cap] =
			    (struct tk_ent){ now, want };
			tk.count++;
			tk.sum += want;
			if (tk.sum > tk.peak)
				tk.peak = tk.sum;
		}
	} else if (want > 0) {
		ok = false;
		/* More than the limit never fits: say a window. */
		*retry_ms = opt.window;
		for (i = 0; i < tk.count && want <= opt.tpm; i++) {
			freed += tk.ring[(tk.head + i) % tk.cap].tokens;
			if (tk.sum - freed + want <= opt.tpm) {
				*retry_ms = (long)(tk.ring[(tk.head + i) %
				    tk.cap].ms + (uint64_t)opt.window - now);
				break;
			}
		}
	}
	*used = tk.sum;
	*peak = tk.peak;
	*remaining = opt.tpm - tk.sum > 0 ? opt.tpm - tk.sum : 0;
	*reset_ms = tk.count > 0 ? (long)(tk.ring[tk.head].ms + (uint64_t)
	    opt.window - now) : 0;
	pthread_mutex_unlock(&tk.mtx);
	return ok;
}

/* usage.total_tokens, or input plus output tokens for /v1/messages. */
static long
usage_tokens(const cJSON *json)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(json, "usage"), *v;
	long n = 0;

	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(u,
	    "total_tokens")))
		return (long)v->valuedouble;
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(u,
	    "input_tokens")))
		n += (long)v->valuedouble;
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(u,
	    "output_tokens")))
		n += (long)v->valuedouble;
	return n;
}

/*
 * Charge a successful answer to --tpm, or replace it by a 429 shaped as
 * OpenAI's (type "tokens") with the wait until it would fit.
 */
void
limits_tpm_admit(struct out *o)
{
	long want, used, peak, rem, reset, retry;
	cJSON *e;
	char msg[200], wait[32];

	if ((want = usage_tokens(o->json)) <= 0)
		want = 1;
	if (limits_tpm_check(want, &used, &peak, &rem, &reset, &retry))
		return;
	fmt_ms(wait, sizeof(wait), retry);
	snprintf(msg, sizeof(msg), "Rate limit reached for tokens per min "
	    "(TPM): Limit %ld, Used %ld, Requested %ld. Please try again in "
	    "%s.", opt.tpm, used, want, wait);
	o->retry_ms = retry;
	/* The refused answer is not delivered, so neither is its fault. */
	o->fault = FAULT_NONE;
	reply_fail(o, 429, msg);
	e = cJSON_GetObjectItemCaseSensitive(o->json, "error");
	if (o->api != API_MSG && cJSON_HasObjectItem(e, "type"))
		cJSON_ReplaceItemInObjectCaseSensitive(e, "type",
		    cJSON_CreateString("tokens"));
}

/*
 * Does --max-concurrent apply now?  start: this is a POST, which starts
 * the clock of --max-concurrent-for if it is the first.
 */
bool
limits_cc_limited(bool start)
{
	/* Plus one, so that a cc_first of 0 means "no POST yet". */
	uint64_t now = now_ns() / 1000000 + 1, first = 0;

	if (opt.max_conc == 0)
		return false;
	if (!start)
		first = atomic_load(&cc_first);
	else if (atomic_compare_exchange_strong(&cc_first, &first, now))
		first = now;
	if (first == 0 || opt.max_conc_for == 0)
		return true;
	return now < first + (uint64_t)opt.max_conc_for;
}

static void
peak_note(atomic_long *peak, long n)
{
	long p = atomic_load(peak);

	while (n > p && !atomic_compare_exchange_weak(peak, &p, n))
		;
}

/*
 * Count a POST as in progress until it completes, or refuse it while
 * --max-concurrent applies and that many are in progress already.
 */
bool
limits_cc_admit(struct req *r)
{
	bool limited = limits_cc_limited(true);
	long n = atomic_load(&stats.busy);

	do {
		if (limited && n >= opt.max_conc)
			return false;
	} while (!atomic_compare_exchange_weak(&stats.busy, &n, n + 1));
	r->busy = true;
	peak_note(&stats.peak, n + 1);
	if (!limited)
		peak_note(&stats.peak_after, n + 1);
	return true;
}

/* x-ratelimit-{limit,remaining,reset}-KIND, KIND requests or tokens. */
static void
limit_headers(struct MHD_Response *resp, const char *kind, long limit,
    long remaining, long reset_ms)
{
	char name[48], buf[64];

	snprintf(name, sizeof(name), "x-ratelimit-limit-%s", kind);
	snprintf(buf, sizeof(buf), "%ld", limit);
	add_header(resp, name, buf);
	snprintf(name, sizeof(name), "x-ratelimit-remaining-%s", kind);
	snprintf(buf, sizeof(buf), "%ld", remaining);
	add_header(resp, name, buf);
	snprintf(name, sizeof(name), "x-ratelimit-reset-%s", kind);
	fmt_ms(buf, sizeof(buf), reset_ms);
	add_header(resp, name, buf);
}

/* The x-ratelimit-* headers of every response, as OpenAI sends them. */
void
limits_headers(struct MHD_Response *resp)
{
	long rem, reset, used, peak;

	if (opt.rpm > 0) {
		(void)limits_rpm_check(false, &rem, &reset);
		limit_headers(resp, "requests", opt.rpm, rem, reset);
	}
	if (opt.tpm > 0) {
		(void)limits_tpm_check(0, &used, &peak, &rem, &reset, NULL);
		limit_headers(resp, "tokens", opt.tpm, rem, reset);
	}
}
