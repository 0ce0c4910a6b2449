/*
 * sortout - batch.sort_output: rewrites a finished batch's result file
 * in input order.
 *
 * Results are appended as requests finish.  At finish, each result line
 * is given the input ordinal of its custom_id, the lines are ordered by
 * it (stably: two lines of one custom_id, as for a duplicate, keep
 * their order; a line whose custom_id is not in the input goes last),
 * and the file is written anew (temp, fsync, rename, fsync of the
 * directory), so a crash leaves either the old or the new file, with
 * the same lines.  Memory is bounded by the number of lines, not their
 * size: 16 bytes per input request (hash of custom_id -> ordinal) and
 * 24 per result line (ordinal, offset, length); the lines themselves are
 * read back by offset one at a time.  About 40 MB for a million.
 */
#ifndef SPOOLD_SORTOUT_H
#define SPOOLD_SORTOUT_H

#include "batch.h"
#include "task.h"

/*
 * Rewrites results/BATCH/name (output.jsonl or errors.jsonl) in the
 * input order of batch b; nothing is written if it is in order already.
 * 0, or -1 with errno.
 */
int	sortout_run(struct batch *b, const struct task_limits *lim,
	    const char *name);

#endif
