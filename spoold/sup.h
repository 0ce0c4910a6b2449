/*
 * sup - the supervisor's shared state, split over three modules:
 * claim.c takes inputs and leases, sched.c dispatches requests and
 * takes their results, supervisor.c runs the loop and finishes batches.
 * Internal to the supervisor; nothing else includes it.
 */
#ifndef SPOOLD_SUP_H
#define SPOOLD_SUP_H

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>

#include "batch.h"
#include "config.h"
#include "lease.h"
#include "pool.h"
#include "proto.h"
#include "ratelimit.h"
#include "schedule.h"
#include "spool.h"

struct slot {
	bool		 used;
	uint32_t	 gen;
	struct batch	*b;
	struct req_ref	 ref;
	int		 worker;
	int		 endpoint;
	uint32_t	 max_attempts;
	uint64_t	 tokens;	/* the rate limiter's estimate */
	uint64_t	 sent_ms;	/* for the request duration */
	char		*custom_id;
};

struct retry {
	uint64_t	 due;
	struct batch	*b;
	struct req_ref	 ref;
};

/*
 * An endpoint that is down (refused connections, rejected credentials,
 * a run of failures) is paused with a growing backoff; its requests wait
 * without spending attempts.  When the pause ends, one request probes
 * it; its success resumes the endpoint.
 */
struct epstate {
	uint64_t	 paused_until;	/* monotonic ms; 0: not paused */
	uint64_t	 pause_ms;	/* current backoff */
	uint32_t	 failures;	/* consecutive retryable failures */
	bool		 probing;	/* one request in flight decides */
};

#define EP_FAILURES_PAUSE	10
#define EP_PAUSE_MIN_MS		1000
#define EP_PAUSE_MAX_MS		60000

/*
 * Finishers at once.  Each is a fork of the supervisor writing to the
 * same disk: more at once gain nothing, and a spool that finishes a
 * hundred loose batches together must not hold a hundred copies.
 */
#define FINISH_MAX	4

/* How often holds (new/BATCH.hold) are looked for. */
#define HOLD_CHECK_MS	1000

struct finishing {
	pid_t		 pid;
	struct batch	*b;
};

struct sup {
	struct config	*cfg;
	const struct config_source *src;	/* to reload from */
	struct schedule	 sched;		/* schedule.active_hours */
	bool		 sched_open;	/* dispatch allowed now */
	struct loop_timer *sched_timer;
	struct loop_timer *drain_timer;	/* SIGTERM: the most a drain takes */
	struct spool	*sp;
	struct loop	*loop;
	struct pool	*pool;
	struct intake	*intake;
	const char	*self;
	bool		 once;
	bool		 draining;
	int		 exit_code;
	struct batch	*batches;
	struct batch	*rr;		/* next batch to serve */
	struct batch	*rolling;	/* open loose batch */
	struct slot	*slots;
	size_t		 nslots;
	uint32_t	*free_slots;
	size_t		 nfree;
	struct retry	*heap;
	size_t		 nheap;
	size_t		 heapcap;
	int		*worker_load;
	uint64_t	 ep_load[SPOOL_MAX_ENDPOINTS];
	struct epstate	 ep[SPOOL_MAX_ENDPOINTS];
	struct ratelimit rl[SPOOL_MAX_ENDPOINTS];
	struct finishing fin[FINISH_MAX];
	int		 nfin;
	struct loop_timer *retry_timer;
	struct loop_timer *status_timer;
	struct loop_timer *seal_timer;
	struct loop_timer *lease_timer;
	struct loop_timer *adopt_timer;
	struct lease	 me;
	struct task_limits lim;
	bool		 claims_unsynced;	/* new/ needs an fsync */
	int		 sigfd;
	uint64_t	 inflight;
	struct stats	*stats;
};

/* claim.c */
void	batch_link(struct sup *s, struct batch *b);
void	batch_unlink(struct sup *s, struct batch *b);
/* Closes the open loose batch to new requests. */
void	seal_rolling(struct sup *s);
/* "batch=ID N requests, M invalid", once all its lines are validated. */
void	claim_log_opened(const struct batch *b);
void	on_seal_timer(void *arg);
/* Stops dispatch of b; what is left is reported with code. */
void	stop_batch(struct sup *s, struct batch *b, const char *code,
	    const char *final_status);
/* The intake's callback for a file that is ready in new/. */
int	on_drop(enum spool_kind kind, const char *name, void *arg);
/* Takes over the work of instances whose leases expired. */
void	adopt(struct sup *s);
void	on_adopt_timer(void *arg);

/* sched.c */
/* Sends what the workers, endpoints and limits allow now. */
void	dispatch(struct sup *s);
void	on_retry_timer(void *arg);
void	on_worker_msg(int idx, struct proto_msg *m, void *arg);
void	on_worker_lost(int idx, void *arg);
void	on_worker_ready(struct pool *pool, int idx, void *arg);
/*
 * Sends the configured endpoints to worker idx (start, reload); the
 * pool is passed as it may be starting (s->pool not yet set).
 */
void	send_endpoints(struct sup *s, struct pool *pool, int idx);
/* Drops b's retries (stop: report them as stopped). */
void	purge_heap(struct sup *s, struct batch *b, bool stop);
void	on_lease_timer(void *arg);

/* stats.c: the metrics (SPEC §6) */
/* Declares the metrics and starts exporting them if configured; fatal
 * when the listen address cannot be bound. */
void	stats_init(struct sup *s);
/* Writes the textfile a last time and frees. */
void	stats_free(struct sup *s);
/* An attempt's result: its status (0: no HTTP status), its duration and
 * the tokens it used. */
void	stats_result(struct sup *s, int ep, uint32_t status, uint64_t ms,
	    uint64_t tin, uint64_t tout);
/* What a result cost by the price table. */
void	stats_cost(struct sup *s, int ep, double cost);
void	stats_retry(struct sup *s, int ep);
void	stats_pause(struct sup *s, int ep);
/* Requests whose results were just made durable. */
void	stats_committed(struct sup *s, uint64_t succeeded, uint64_t failed);
/* A batch finished (completed, cancelled, expired) or was rejected. */
void	stats_batch_done(struct sup *s, const char *status);

#endif
