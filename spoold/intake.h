/*
 * intake - watching new/ and deciding when a drop may be taken.
 *
 * inotify only nominates candidates; a full scan of new/ at start, on
 * overflow and every spool.rescan guarantees nothing is missed.  A file
 * renamed in (IN_MOVED_TO) is taken at once; any other file once it has
 * not changed for spool.settle and no process holds it open for writing.
 * A file that looks truncated (SPEC §3) is held, not taken, until it
 * changes or spool.incomplete_after passes; then it goes to failed/.
 * Unusable drops (a symlink, a FIFO, an unknown suffix) go to failed/
 * with NAME.error.json.
 */
#ifndef SPOOLD_INTAKE_H
#define SPOOLD_INTAKE_H

#include <stdbool.h>

#include "config.h"
#include "loop.h"
#include "spool.h"
#include "util.h"

struct intake;

/*
 * A drop in new/ is ready: the callback claims it (moves it out of
 * new/).  It returns 0, or -1 to have intake look at it again later.
 */
typedef int intake_drop_cb(enum spool_kind kind, const char *name,
	    void *arg);

struct intake	*intake_new(struct loop *l, struct spool *sp,
		    const struct config *cfg, intake_drop_cb *cb, void *arg);
void		 intake_free(struct intake *in);
/* Stops taking drops (drain). */
void		 intake_pause(struct intake *in);
/* True when the last full scan found nothing waiting to settle. */
bool		 intake_idle(const struct intake *in);
/* Files held because they look truncated. */
int		 intake_held(const struct intake *in);

/* Moves new/name to failed/ and writes its NAME.error.json sidecar. */
int		 intake_fail(struct spool *sp, enum spool_dir from,
		    const char *name, const struct err *err);

#endif
