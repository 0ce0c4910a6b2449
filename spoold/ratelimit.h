/*
 * ratelimit - per-endpoint admission: requests per minute and tokens
 * per minute as token buckets, and a concurrency window that backs off
 * on 429 and recovers (AIMD).  Pure arithmetic over a clock the caller
 * passes in; the supervisor holds one per endpoint, so the limits are
 * shared by all workers.
 */
#ifndef SPOOLD_RATELIMIT_H
#define SPOOLD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit {
	uint64_t	 rpm;		/* 0: no limit */
	uint64_t	 tpm;		/* 0: no limit */
	double		 req_tokens;
	double		 tok_tokens;
	uint64_t	 last_ms;
	double		 window;	/* concurrency allowed now */
	double		 window_max;
	uint64_t	 last_cut_ms;
	uint64_t	 cuts;		/* multiplicative decreases so far */
	uint64_t	 echoes;	/* answers due from before the cut */
	uint64_t	 hold_until;	/* provider's budget spent until */
};

void	ratelimit_init(struct ratelimit *r, uint64_t rpm, uint64_t tpm,
	    uint64_t max_inflight, uint64_t now_ms);
/* New limits (a reload): what was learned from 429s is kept. */
void	ratelimit_set(struct ratelimit *r, uint64_t rpm, uint64_t tpm,
	    uint64_t max_inflight);
/*
 * May a request of about tokens tokens go now, with inflight requests
 * already out?  If so the budget is taken; if not, *wait_ms says when
 * to ask again.
 */
bool	ratelimit_take(struct ratelimit *r, uint64_t tokens,
	    uint64_t inflight, uint64_t now_ms, uint64_t *wait_ms);
/* Are inflight requests all the window allows now? */
bool	ratelimit_window_full(const struct ratelimit *r, uint64_t inflight);
/* The usage reported by the response: actual minus the estimate. */
void	ratelimit_correct(struct ratelimit *r, int64_t delta_tokens);
/*
 * A 429: halve the window, once for the 429s of one burst (those that
 * come back within a second of a cut, until as many answers came back
 * as were out at it); a 429 after those narrows it by one.
 */
void	ratelimit_on_429(struct ratelimit *r, uint64_t inflight,
	    uint64_t now_ms);
/*
 * Can the window still narrow?  Until it is down to one request, 429s
 * are for the window to absorb, not signs of a failing endpoint.
 */
bool	ratelimit_can_narrow(const struct ratelimit *r);
/* The provider's headers say nothing is left until until_ms. */
void	ratelimit_hold(struct ratelimit *r, uint64_t until_ms);
/* A success: widen the window by about one per window of successes. */
void	ratelimit_on_success(struct ratelimit *r);
/*
 * Tokens a request will cost, estimated up front from the size of its
 * body and the completion it allows (max_tokens; 0 if none).
 */
uint64_t ratelimit_estimate(size_t body_len, uint64_t max_tokens);

#endif
