/*
 * mock_limits - the provider limits spool-mockllm imitates: --rpm and
 * --tpm over a sliding window (--rate-window), --max-concurrent
 * requests in progress (for the first --max-concurrent-for ms), and the
 * x-ratelimit-* headers that report the windows.  Thread-safe.
 */
#ifndef SPOOLD_MOCK_LIMITS_H
#define SPOOLD_MOCK_LIMITS_H

#include <stdbool.h>

#include <microhttpd.h>

#include "mock.h"

/* Allocates the --rpm window; -1 when out of memory.  After options. */
int	limits_init(void);
void	limits_free(void);

/* The --rpm window: take=true admits one request, false if it is full;
 * take=false only reports.  *remaining and *reset_ms as in the
 * x-ratelimit-*-requests headers. */
bool	limits_rpm_check(bool take, long *remaining, long *reset_ms);
/* The --tpm window: want > 0 admits that many tokens, or returns false
 * and says in *retry_ms when they would fit; want == 0 only reports
 * (retry_ms may then be NULL).  *used and *peak: tokens in the window,
 * now and at most. */
bool	limits_tpm_check(long want, long *used, long *peak, long *remaining,
	    long *reset_ms, long *retry_ms);
/* Charges the successful answer o to --tpm, or turns it into a 429. */
void	limits_tpm_admit(struct out *o);
/* Whether --max-concurrent applies now; start: a POST, whose first
 * starts the --max-concurrent-for clock. */
bool	limits_cc_limited(bool start);
/* Counts r as in progress (r->busy), or returns false when
 * --max-concurrent refuses it. */
bool	limits_cc_admit(struct req *r);
/* Adds the x-ratelimit-* headers of --rpm and --tpm to resp. */
void	limits_headers(struct MHD_Response *resp);

#endif
