/*
 * build_internal - what the two files of spoolctl build share: the
 * state of a build, and the reading of one document into requests
 * (build_input.c), which build.c runs on every argument.  Only
 * build.c and build_input.c include it.
 */
#ifndef SPOOLD_BUILD_INTERNAL_H
#define SPOOLD_BUILD_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "task.h"

/* A document name already used, and where, to refuse a second one. */
struct seen {
	char		*name;
	char		*where;		/* FILE:LINE */
};

struct build {
	cJSON		*tmpl;
	struct task_limits lim;
	size_t		 chunk;		/* bytes; 0: whole documents */
	const char	*key;		/* names rows and records; or NULL */
	FILE		*out;		/* the batch, until it is complete */
	struct buf	 line;
	size_t		 nreq;
	struct seen	*seen;
	size_t		 nseen;
	size_t		 capseen;
};

/*
 * Reads the document at path file and appends its requests to b->out.
 * Returns a sysexits(3) code, having said what was wrong on stderr.
 */
int	build_one(struct build *b, const char *file);
/* Says "spoolctl: FILE:LINE: msg" (no LINE when 0); EX_DATAERR. */
int	build_data_error(const char *file, size_t line, const char *msg);
/* The base name of path without its last suffix.  Returns owned. */
char	*build_stem_of(const char *base);

#endif
