/*
 * mock_stats - what spool-mockllm has seen: the counters that GET /stats
 * reports (updated from every thread, hence atomics), and the --log file
 * of one "CUSTOM-ID CODE" line per POST.
 */
#ifndef SPOOLD_MOCK_STATS_H
#define SPOOLD_MOCK_STATS_H

#include <stdatomic.h>

#include "mock.h"

struct mock_stats {
	atomic_ulong	 req;		/* POSTs received */
	atomic_ulong	 resp, s2xx, s4xx, s429, s5xx;
	atomic_ulong	 abort, reset, trunc, hang;
	atomic_ulong	 susp;		/* suspended by the timer now */
	atomic_long	 busy;		/* POSTs in progress */
	atomic_long	 peak, peak_after;
};

extern struct mock_stats stats;

/* Opens the --log file for appending; -1 with errno on failure. */
int	stats_log_open(const char *path);
void	stats_log_close(void);
/* The answer to GET /stats, into o->json. */
void	stats_reply(struct out *o);
void	stats_account(const struct req *r, unsigned int status);
/* Counts and logs a hang as it begins, so that stats_account() does not. */
void	stats_account_hang(struct req *r);

#endif
