/*
 * ops_internal - what spoolctl's read-only views (ops.c) and its
 * commands that change the spool (ops_change.c) share.  Only those two
 * include it.
 */
#ifndef SPOOLD_OPS_INTERNAL_H
#define SPOOLD_OPS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

struct spool;

/* "3d", "5h", "12m", "40s": an age for people, into out. */
void	ops_fmt_age(double secs, char *out, size_t len);
/* Whether new/ holds the marker IDSUFFIX (".hold", ".cancel"). */
bool	ops_marker_exists(struct spool *sp, const char *id,
	    const char *suffix);
/* results/BATCH open, or -1 (errno ENOENT: no such batch). */
int	ops_results_dir(struct spool *sp, const char *id);
/* Is an input for id still waiting in new/ (not claimed yet)? */
bool	ops_pending_input(struct spool *sp, const char *id);

#endif
