/*
 * finish - a batch whose every request is done: manifest.json, the
 * archive, status.json, the input moved to done/, manifest.json renamed
 * into place last (its presence means everything else is complete).
 * The work runs in a child process so that compressing a large batch
 * never stalls the supervisor's loop.
 */
#ifndef SPOOLD_FINISH_H
#define SPOOLD_FINISH_H

#include <sys/types.h>

#include "batch.h"
#include "config.h"
#include "spool.h"

/* Forks the finishing child; returns its pid, or -1 with errno. */
pid_t	finish_start(struct spool *sp, const struct config *cfg,
	    struct batch *b);

#endif
