/*
 * supervisor - the daemon's main process: wires intake, batches, the
 * scheduler, the worker pool and finishing onto one event loop.
 */
#ifndef SPOOLD_SUPERVISOR_H
#define SPOOLD_SUPERVISOR_H

#include <stdbool.h>

#include "config.h"

/* Runs until drained (SIGTERM/SIGINT) or, with once, until everything
 * present is finished.  self is the daemon's own path for re-exec.
 * Returns the process exit status. */
/*
 * Runs the daemon on cfg until it is told to stop; src says where cfg
 * came from, to read it again on SIGHUP.  Returns the exit status.
 */
int	supervisor_main(struct config *cfg, const struct config_source *src,
	    const char *self, bool once);

#endif
