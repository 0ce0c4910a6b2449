/*
 * ratelimit - token buckets and AIMD.
 *
 * The buckets hold at most one second of budget and refill at 98 % of
 * the configured rate: whatever window the provider counts over, we
 * then never exceed the limit, so a 429 storm cannot start from our
 * side.  Retries pass through the same buckets, so a storm cannot
 * become a retry storm either.
 */
#include <string.h>

#include "ratelimit.h"
#include "task.h"

#define RATE_MARGIN	0.98
#define WINDOW_NONE	1e9		/* no concurrency limit configured */

static double
capacity(uint64_t per_minute)
{
	double c = (double)per_minute / 60.0;

	return c < 1.0 ? 1.0 : c;
}

void
ratelimit_init(struct ratelimit *r, uint64_t rpm, uint64_t tpm,
    uint64_t max_inflight, uint64_t now_ms)
{
	memset(r, 0, sizeof(*r));
	r->rpm = rpm;
	r->tpm = tpm;
	/* Start with one request's worth: no burst above the rate. */
	r->req_tokens = 1.0;
	r->tok_tokens = capacity(tpm);
	r->last_ms = now_ms;
	r->window_max = max_inflight > 0 ? (double)max_inflight : WINDOW_NONE;
	r->window = r->window_max;
}

void
ratelimit_set(struct ratelimit *r, uint64_t rpm, uint64_t tpm,
    uint64_t max_inflight)
{
	double max = max_inflight > 0 ? (double)max_inflight : WINDOW_NONE;

	/* The budget already earned stays, within the new capacities. */
	r->rpm = rpm;
	r->tpm = tpm;
	if (rpm > 0 && r->req_tokens > capacity(rpm))
		r->req_tokens = capacity(rpm);
	if (tpm > 0 && r->tok_tokens > capacity(tpm))
		r->tok_tokens = capacity(tpm);
	if (r->window >= r->window_max || r->window > max)
		r->window = max;
	r->window_max = max;
}

static void
refill(struct ratelimit *r, uint64_t now_ms)
{
	double dt;

	if (now_ms <= r->last_ms)
		return;
	dt = (double)(now_ms - r->last_ms);
	r->last_ms = now_ms;
	if (r->rpm > 0) {
		r->req_tokens += dt * (double)r->rpm * RATE_MARGIN / 60000.0;
		if (r->req_tokens > capacity(r->rpm))
			r->req_tokens = capacity(r->rpm);
	}
	if (r->tpm > 0) {
		r->tok_tokens += dt * (double)r->tpm * RATE_MARGIN / 60000.0;
		if (r->tok_tokens > capacity(r->tpm))
			r->tok_tokens = capacity(r->tpm);
	}
}

/* Milliseconds until the bucket holds need tokens. */
static uint64_t
wait_for(double have, double need, uint64_t per_minute)
{
	double rate = (double)per_minute * RATE_MARGIN / 60000.0;

	if (have >= need || rate <= 0)
		return 0;
	return (uint64_t)((need - have) / rate) + 1;
}

bool
ratelimit_take(struct ratelimit *r, uint64_t tokens, uint64_t inflight,
    uint64_t now_ms, uint64_t *wait_ms)
{
	double need_tok;
	uint64_t w = 0, w2;

	refill(r, now_ms);
	if (r->hold_until > now_ms) {
		*wait_ms = r->hold_until - now_ms;
		return false;
	}
	if (ratelimit_window_full(r, inflight)) {
		/* A result will free a place; look again soon. */
		*wait_ms = 50;
		return false;
	}
	if (r->rpm > 0 && r->req_tokens < 1.0)
		w = wait_for(r->req_tokens, 1.0, r->rpm);
	/* A request larger than the bucket may go once it is full. */
	need_tok = (double)tokens;
	if (r->tpm > 0) {
		if (need_tok > capacity(r->tpm))
			need_tok = capacity(r->tpm);
		if ((w2 = wait_for(r->tok_tokens, need_tok, r->tpm)) > w)
			w = w2;
	}
	if (w > 0) {
		*wait_ms = w;
		return false;
	}
	if (r->rpm > 0)
		r->req_tokens -= 1.0;
	if (r->tpm > 0)
		r->tok_tokens -= (double)tokens;
	return true;
}

bool
ratelimit_window_full(const struct ratelimit *r, uint64_t inflight)
{
	return (double)inflight >= r->window;
}

void
ratelimit_correct(struct ratelimit *r, int64_t delta_tokens)
{
	if (r->tpm > 0)
		r->tok_tokens -= (double)delta_tokens;
}

void
ratelimit_on_429(struct ratelimit *r, uint64_t inflight, uint64_t now_ms)
{
	double base;

	if (r->cuts > 0 && now_ms - r->last_cut_ms < 1000) {
		/*
		 * The 429s of one burst are one signal: within a second
		 * of a cut, the answers to requests sent before it are
		 * echoes.  Which answers those are is not known, but
		 * there are no more than were out at the cut.  A 429
		 * beyond them answers a request sent under the new
		 * window, which is still too wide by at least that one:
		 * a limit that answers 429 at once would otherwise be
		 * hit again and again for the rest of the second.  Only
		 * by one, as a 429 that has nothing to do with our load
		 * must not halve the window each time it comes.
		 */
		if (r->echoes > 0)
			r->echoes--;
		else
			r->window = r->window - 1 < 1.0 ? 1.0 : r->window - 1;
		return;
	}
	base = r->window < (double)inflight + 1 ? r->window :
	    (double)inflight + 1;
	r->window = base / 2 < 1.0 ? 1.0 : base / 2;
	r->echoes = inflight;
	r->last_cut_ms = now_ms;
	r->cuts++;
}

bool
ratelimit_can_narrow(const struct ratelimit *r)
{
	return r->window > 1.0;
}

void
ratelimit_hold(struct ratelimit *r, uint64_t until_ms)
{
	/* Bounded: a bogus reset must not stop an endpoint for good. */
	if (until_ms > r->last_ms + 60000)
		until_ms = r->last_ms + 60000;
	if (until_ms > r->hold_until)
		r->hold_until = until_ms;
}

void
ratelimit_on_success(struct ratelimit *r)
{
	if (r->echoes > 0)
		r->echoes--;
	if (r->window >= r->window_max)
		return;
	r->window += 1.0 / r->window;
	if (r->window > r->window_max)
		r->window = r->window_max;
}

uint64_t
ratelimit_estimate(size_t body_len, uint64_t max_tokens)
{
	/* The completion is what max_tokens allows (the response
	 * corrects both). */
	return task_prompt_tokens(body_len) + max_tokens;
}
