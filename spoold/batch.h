/*
 * batch - one claimed batch: its input in processing/, its validation,
 * its journal (results/BATCH/output.jsonl and errors.jsonl, the single
 * writer, group-committed), its counts and status.json.
 *
 * Request identity is the ordinal: the index of a request line in a
 * JSONL file, or of a member file in a rolling batch of loose .json
 * drops.  Per request the batch keeps one bit (done); the input is read
 * again by offset when a request is dispatched.
 *
 * State: VALIDATING -> RUNNING -> (all done) FINALIZING -> finished.
 * A request counts as done only after its line is fsynced.
 */
#ifndef SPOOLD_BATCH_H
#define SPOOLD_BATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "input.h"
#include "spool.h"
#include "spool_limits.h"
#include "task.h"

enum batch_kind { BATCH_FILE, BATCH_LOOSE };
enum batch_state { BATCH_RUNNING, BATCH_FINALIZING, BATCH_DONE };

/* A request as the scheduler sees it: enough to read it again. */
struct req_ref {
	uint64_t	 ordinal;
	uint64_t	 offset;	/* file batches: byte offset */
	uint32_t	 len;		/* file batches: line length */
	uint32_t	 attempt;	/* attempts made so far */
};

/* What one result used, and what that cost (batch_price). */
struct req_usage {
	uint64_t	 tokens_in;
	uint64_t	 tokens_out;
	double		 cost;
	bool		 unpriced;	/* used tokens, but its model has no
					 * price in the table */
};

struct batch_error {
	uint64_t	 line;
	struct err	 err;
};

struct validate;

struct batch {
	char		 id[SPOOL_BATCH_ID_MAX + 16];
	enum batch_kind	 kind;
	enum batch_state state;
	/* the input's name in processing/ */
	char		 input_name[SPOOL_NAME_MAX + 1];
	char		 sha256[INPUT_SHA256_HEX];
	int		 input_fd;	/* file: the JSONL; loose: the dir */
	int		 results_fd;
	int		 out_fd;
	int		 err_fd;
	/* requests */
	uint64_t	 total;
	uint64_t	 completed;
	uint64_t	 failed;
	/* journaled by this process since the metrics took them (not
	 * replayed ones: they were counted before a restart) */
	uint64_t	 new_ok;
	uint64_t	 new_failed;
	uint8_t		*done;		/* bitmap over ordinals */
	uint64_t	 done_cap;	/* bits */
	uint64_t	 inflight;	/* in workers or waiting to retry */
	/* file batches: dispatch cursor with read-ahead */
	uint64_t	 cursor_off;
	uint64_t	 cursor_ord;
	struct buf	 ahead;
	uint64_t	 ahead_off;
	/* loose batches: member file names in claim order */
	char		**members;
	uint64_t	 nmembers;
	bool		 sealed;
	/* file batches: lines not all validated yet (then not sealed) */
	struct validate	*validating;
	uint64_t	 opened_ms;
	/* usage and times */
	uint64_t	 tokens_in;
	uint64_t	 tokens_out;
	double		 cost;		/* of the journaled results */
	uint64_t	 unpriced;	/* results with no price */
	time_t		 created_at;	/* first claim, from the lease */
	time_t		 started_at;
	time_t		 finished_at;
	/* journal: lines waiting for the group commit */
	struct buf	 out_pending;
	struct buf	 err_pending;
	struct pending	*pending;
	size_t		 npending;
	size_t		 pending_cap;
	/* validation errors for status.json (first few) */
	struct batch_error errors[SPOOL_MAX_ERRORS_LISTED];
	int		 nerrors;
	bool		 status_dirty;
	/* cancel or expiry: what is not sent yet is reported with stop_code */
	const char	*stop_code;	/* batch_cancelled, batch_expired */
	const char	*final_status;	/* completed, cancelled, expired */
	const char	*stop_reason;	/* cancelled, expired, budget */
	uint64_t	 lease_renewed_ms;
	uint64_t	 blocked_until_ms;	/* its endpoint is paused */
	bool		 held;		/* new/BATCH.hold: no dispatch */
	bool		 claims_unsynced;	/* members not fsynced yet */
	/* attempts spent by retried requests, durable in .attempts */
	int		 att_fd;
	uint64_t	*att_keys;		/* ordinal + 1; 0 = empty */
	uint32_t	*att_vals;
	size_t		 att_cap;
	size_t		 att_n;
	struct buf	 att_pending;
	uint64_t	 finish_after_ms;	/* retry a failed finish then */
	struct batch	*next;
};

struct pending {
	uint64_t	 ordinal;
	bool		 ok;
	struct req_usage usage;
	char		*line;		/* loose batches: for CUSTOM_ID.json */
	char		*custom_id;
};

/*
 * Opens a claimed JSONL batch processing/input_name: validates its
 * lines (invalid ones go to errors.jsonl, never sent), and replays the
 * results of an earlier run so that finished requests are not sent
 * again.  Only the first lines are validated here, up to a valid one:
 * requests may go while batch_validate_more() does the rest, and the
 * batch is sealed (may complete) once it has.  sha256, when the caller
 * has just hashed the input, saves hashing it again (NULL: hashed
 * here).  Returns owned, or NULL with err set when the input as a whole
 * is unusable (the caller moves it to failed/).
 */
struct batch	*batch_open_file(struct spool *sp, const struct config *cfg,
		    const char *id, const char *input_name, const char *sha256,
		    struct err *err);
/*
 * Validates the next lines of a batch opened by batch_open_file (all
 * of them if to_end).  1 when none is left, 0 if some are, -1 with
 * errno if the input cannot be read.
 */
int		 batch_validate_more(struct batch *b, bool to_end);
/* Opens (or recovers) a rolling batch directory processing/id. */
struct batch	*batch_open_loose(struct spool *sp, const struct config *cfg,
		    const char *id, struct err *err);
/* Adds a member already moved into the loose batch's directory. */
void		 batch_add_member(struct batch *b, const char *name);
void		 batch_free(struct batch *b);

/* Next never-dispatched request; false when none is left. */
bool		 batch_next(struct batch *b, size_t max_line,
		    struct req_ref *ref);
/* Reads and parses a request; -1 with err when it cannot be used. */
int		 batch_read_task(struct batch *b, const struct req_ref *ref,
		    const struct task_limits *lim, struct task *t,
		    struct err *err);

/*
 * Reports up to max never-dispatched requests as b->stop_code (cancel,
 * expiry).  Returns true when none is left.
 */
bool		 batch_stop_step(struct batch *b, const struct task_limits *lim,
		    size_t max);
/* Attempts already spent on a request (survives restarts). */
uint32_t	 batch_attempts(const struct batch *b, uint64_t ordinal);
/* Notes that attempt n of a request failed and will be retried;
 * made durable by the next batch_commit. */
void		 batch_note_attempt(struct batch *b, uint64_t ordinal,
		    uint32_t n);
/*
 * Prices u (tokens set) by the model a response named: cost 0, and
 * unpriced when it used tokens, if the table has no price for it; cost
 * 0 when there is no table.
 */
void		 batch_price(const struct config *cfg, const char *model,
		    struct req_usage *u);
/* Buffers a result line (takes nothing; copies line); u NULL: none. */
void		 batch_record(struct batch *b, uint64_t ordinal, bool ok,
		    const char *line, size_t len, const struct req_usage *u,
		    const char *custom_id);
/* What the batch has spent: journaled and buffered results. */
double		 batch_spent(const struct batch *b);
/*
 * Adds "cost" to obj (a cJSON object): {"currency","total",
 * "unpriced_requests","budget"}, or null without a price table.  With
 * stopped set, also "stopped": why dispatch stopped early, or null.
 */
void		 batch_add_cost(const struct batch *b, const struct config *cfg,
		    void *obj, bool stopped);
/* Adds "request_counts" {total, completed, failed} to the cJSON obj. */
void		 batch_add_counts(const struct batch *b, void *obj);
/* Writes and fsyncs buffered lines, then counts them done. */
int		 batch_commit(struct batch *b);
bool		 batch_has_pending(const struct batch *b);
/* Sealed and every request done: ready for finish. */
bool		 batch_complete(const struct batch *b);
/*
 * Writes failed/BATCH.failed.jsonl (and its .error.json sidecar): the
 * input lines of the requests that were sent and failed, or were
 * cancelled or expired, so that dropping it into new/ runs exactly
 * those again.  Nothing is written when there are none.  Returns the
 * number of lines written, or -1.
 */
long		 batch_write_dead_letters(struct batch *b, struct spool *sp,
		    const struct task_limits *lim);
/*
 * Loose batches: makes sure every result line also has its
 * results/BATCH/CUSTOM_ID.json (one may be missing after a crash or a
 * failed write).  0 or -1.
 */
int		 batch_write_task_files(struct batch *b);
/* Writes results/BATCH/status.json atomically. */
int		 batch_write_status(struct batch *b, const struct config *cfg,
		    const char *status);
/* Status word for status.json. */
const char	*batch_status_word(const struct batch *b);

#endif
