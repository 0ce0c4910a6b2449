/*
 * execresult - judging a run of an exec endpoint's command (execrun):
 * its outcome for the supervisor, its error code and message, and the
 * response body made of its stdout.  Pure functions: no processes.
 */
#ifndef SPOOLD_EXECRESULT_H
#define SPOOLD_EXECRESULT_H

#include <stddef.h>

#include "buf.h"
#include "execrun.h"
#include "proto.h"

struct execresult {
	enum proto_outcome outcome;
	int		 status;	/* 200 on success, else 0 */
	char		 code[32];	/* "" on success */
	char		*message;	/* owned; NULL on success */
};

/*
 * Judges st: exit 0 succeeds; 75 (EX_TEMPFAIL), a timeout, or a failure
 * to fork is retried; a command that cannot be executed makes the
 * endpoint down; any other exit or signal fails.  Release res with
 * execresult_release.
 */
void	execresult_judge(const struct execrun_status *st,
	    struct execresult *res);
void	execresult_release(struct execresult *res);
/*
 * Appends the response body for stdout p (len bytes) to out: p itself if
 * it is a JSON object, else {"output": TEXT}, invalid UTF-8 and NULs in
 * TEXT replaced by U+FFFD.
 */
void	execresult_format_body(struct buf *out, const char *p, size_t len);

#endif
