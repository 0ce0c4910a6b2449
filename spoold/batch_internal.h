/*
 * batch_internal - what the files of the batch module share and no
 * other module needs: the bitmap of done requests, a new struct batch,
 * the request limits of a config, the opening of the journal
 * (batch_journal.c) and a loose request's result file (batch_loose.c).
 * Only batch.c, batch_journal.c and batch_loose.c include it.
 */
#ifndef SPOOLD_BATCH_INTERNAL_H
#define SPOOLD_BATCH_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "batch.h"
#include "config.h"
#include "task.h"
#include "util.h"

struct idset;

/*
 * The done bitmap, one bit per ordinal.  Inline: batch_next() tests a
 * bit for every request it passes.
 */
static inline void
bit_grow(struct batch *b, uint64_t nbits)
{
	uint64_t cap = b->done_cap ? b->done_cap : 1024;

	if (nbits <= b->done_cap)
		return;
	while (cap < nbits)
		cap *= 2;
	b->done = xrealloc(b->done, (size_t)(cap / 8));
	memset(b->done + b->done_cap / 8, 0, (size_t)((cap - b->done_cap) / 8));
	b->done_cap = cap;
}

static inline void
bit_set(struct batch *b, uint64_t i)
{
	bit_grow(b, i + 1);
	b->done[i / 8] |= (uint8_t)(1U << (i % 8));
}

static inline bool
bit_get(const struct batch *b, uint64_t i)
{
	return i < b->done_cap && (b->done[i / 8] & (1U << (i % 8))) != 0;
}

/* A batch with nothing open yet (every fd -1).  Returns owned. */
struct batch	*batch_alloc(const char *id, enum batch_kind kind);
/* The request limits that cfg sets. */
void		 batch_limits_from(const struct config *cfg,
		    struct task_limits *lim);
/*
 * Opens (creating them) output.jsonl, errors.jsonl and .attempts in
 * b->results_fd, cuts a torn last line off each, and replays them:
 * counts and usage into b, the custom_id of every result into done.
 * 0, or -1 with errno.
 */
int		 batch_open_journal(struct batch *b, const struct config *cfg,
		    struct idset *done);
/* Writes results/BATCH/CUSTOM_ID.json for a journaled loose request
 * (p->line and p->custom_id set); logs a failure, no fsync. */
void		 batch_write_task_file(struct batch *b,
		    const struct pending *p);

#endif
