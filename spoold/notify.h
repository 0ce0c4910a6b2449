/*
 * notify - tells the world that a batch finished: runs batch.on_complete
 * and POSTs the manifest to batch.webhook.
 *
 * It runs in the finisher child, after manifest.json is durable and
 * before the batch's lease is removed: the lease, still renewed by the
 * supervisor while the finisher runs, is what makes a restart come back
 * to a batch whose notification a crash cut short.  Each step, once
 * done (whatever its outcome), leaves a marker in results/BATCH/
 * (.notified.on_complete, .notified.webhook), so a restart repeats only
 * the steps that had not finished: delivery is at least once, and twice
 * only for a step that a crash interrupted.  A failure is logged and
 * never fails the batch.
 */
#ifndef SPOOLD_NOTIFY_H
#define SPOOLD_NOTIFY_H

#include <stdbool.h>

#include "config.h"

/* The hook's time limit; then SIGTERM, and SIGKILL 2 s later. */
#define NOTIFY_HOOK_TIMEOUT_MS		60000
/* Webhook: attempts, each limited in time, 1 s backoff doubling. */
#define NOTIFY_WEBHOOK_ATTEMPTS		5
#define NOTIFY_WEBHOOK_TIMEOUT_MS	10000
#define NOTIFY_WEBHOOK_BACKOFF_MS	1000

/*
 * Is a configured step of batch results/BATCH (its directory rfd) still
 * to be done?  False when nothing is configured.
 */
bool	notify_pending(const struct config *cfg, int rfd);
/*
 * Runs the steps still to be done for batch id, whose manifest.json
 * (manifest, len bytes) is in place in rfd.  Blocks until they are
 * done; logs failures and never fails.
 */
void	notify_run(const struct config *cfg, int rfd, const char *id,
	    const char *manifest, size_t len);

#endif
