/*
 * mock_faults - which scripted or random failure a request gets (see
 * mock_faults.h): model names such as fail-CODE and flaky-N, counted
 * per custom id, and the --*-rate options, drawn from --seed.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mock.h"
#include "mock_faults.h"
#include "mock_reply.h"

static struct {
	pthread_mutex_t	 mtx;
	uint64_t	*keys;
	uint32_t	*cnt;
	size_t		 cap;
	size_t		 n;
} fl = { .mtx = PTHREAD_MUTEX_INITIALIZER };

void
faults_free(void)
{
	free(fl.keys);
	free(fl.cnt);
}

/* Count a request under key; true while it is within its first n. */
static bool
flaky_fail(uint64_t key, long n)
{
	uint64_t *nk;
	uint32_t *nc;
	size_t i, j, ncap;
	bool ret = false;

	key = key != 0 ? key : 1;	/* 0 marks an empty slot */
	pthread_mutex_lock(&fl.mtx);
	if (fl.n * 2 >= fl.cap) {
		ncap = fl.cap != 0 ? fl.cap * 2 : 1024;
		nk = calloc(ncap, sizeof(*nk));
		nc = calloc(ncap, sizeof(*nc));
		if (nk == NULL || nc == NULL) {
			free(nk);
			free(nc);
			goto out;
		}
		for (i = 0; i < fl.cap; i++) {
			if (fl.keys[i] == 0)
				continue;
			for (j = fl.keys[i] & (ncap - 1); nk[j] != 0;
			    j = (j + 1) & (ncap - 1))
				;
			nk[j] = fl.keys[i];
			nc[j] = fl.cnt[i];
		}
		free(fl.keys);
		free(fl.cnt);
		fl.keys = nk;
		fl.cnt = nc;
		fl.cap = ncap;
	}
	for (i = key & (fl.cap - 1); fl.keys[i] != 0 && fl.keys[i] != key;
	    i = (i + 1) & (fl.cap - 1))
		;
	if (fl.keys[i] == 0) {
		fl.keys[i] = key;
		fl.n++;
	}
	if (fl.cnt[i] < UINT32_MAX)
		fl.cnt[i]++;
	ret = fl.cnt[i] <= (uint64_t)n;
out:
	pthread_mutex_unlock(&fl.mtx);
	return ret;
}

/* The key of flaky-N and friends: the custom id, else the body. */
static uint64_t
flaky_key(const struct req *r)
{
	if (r->cid[0] != '-' || r->cid[1] != '\0')
		return fnv_str(r->cid);
	return fnv1a(FNV_BASIS, r->body, r->len);
}

/* "reset", "truncate" or "hang", as in X-Mock-Fault and model names. */
enum fault
faults_by_name(const char *s, size_t len)
{
	static const struct {
		const char	*name;
		enum fault	 fault;
	} tab[] = {
		{ "reset", FAULT_RESET },
		{ "truncate", FAULT_TRUNCATE },
		{ "hang", FAULT_HANG },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strlen(tab[i].name) == len &&
		    strncasecmp(s, tab[i].name, len) == 0)
			return tab[i].fault;
	return FAULT_NONE;
}

/*
 * Model-name scripting: fail-CODE, flaky-N, slow-MS, redirect, and the
 * faults reset-N, truncate-N and hang-N.
 */
void
faults_script_model(const char *model, const struct req *r, struct out *o)
{
	const char *dash;
	enum fault f;
	long v;

	if (strncmp(model, "fail-", 5) == 0 &&
	    parse_long(model + 5, 400, 599, &v))
		reply_fail(o, (unsigned int)v, NULL);
	else if (strcmp(model, "redirect") == 0) {
		reply_fail(o, 302, "mock redirect to " REDIRECT_TO);
		o->redirect = true;
	}
	else if (strncmp(model, "slow-", 5) == 0 &&
	    parse_long(model + 5, 0, LATENCY_MAX, &v))
		o->delay_ms += v;
	else if (strncmp(model, "flaky-", 6) == 0 &&
	    parse_long(model + 6, 0, INT32_MAX, &v) &&
	    flaky_fail(flaky_key(r), v))
		reply_fail(o, 500, "mock flaky failure");
	else if ((dash = strchr(model, '-')) != NULL &&
	    (f = faults_by_name(model, (size_t)(dash - model))) != FAULT_NONE &&
	    parse_long(dash + 1, 0, INT32_MAX, &v) &&
	    flaky_fail(flaky_key(r), v))
		o->fault = f;
}

/*
 * The random errors and faults, in this order, each drawn only when its
 * option is set and no earlier one applied.
 */
void
faults_inject(struct out *o)
{
	if (opt.rate_429 > 0 && rnd_unit() < opt.rate_429)
		reply_fail(o, 429, "Rate limit reached (injected)");
	else if (opt.fail_rate > 0 && rnd_unit() < opt.fail_rate)
		reply_fail(o, 500, "The server had an error (injected)");
	else if (opt.reset_rate > 0 && rnd_unit() < opt.reset_rate)
		o->fault = FAULT_RESET;
	else if (opt.truncate_rate > 0 && rnd_unit() < opt.truncate_rate)
		o->fault = FAULT_TRUNCATE;
	else if (opt.hang_rate > 0 && rnd_unit() < opt.hang_rate)
		o->fault = FAULT_HANG;
}
