/*
 * submit - delivering a batch into a spool's new/ so that spoold never
 * sees part of it: the bytes go into tmp/ under a hidden name, are
 * fsynced, and one rename puts them in new/ (SPEC §3, §6).  Shared by
 * `spoolctl submit` and `spoolctl build --submit`.
 *
 * The functions print their own diagnostics on stderr and return a
 * sysexits(3) code, as the commands they serve do.
 */
#ifndef SPOOLD_SUBMIT_H
#define SPOOLD_SUBMIT_H

#include <stdbool.h>

struct spool;

/*
 * Delivers the contents of fd, from its start, as new/name.  label names
 * the source in messages.  With force, a NAME.force marker goes first so
 * that spoold runs the batch even if it saw the same content before.
 */
int	submit_fd(struct spool *sp, int fd, const char *label,
	    const char *name, bool force);
/*
 * Delivers the file at path under its base name, or as batch plus the
 * file's suffix when batch is not NULL.
 */
int	submit_path(struct spool *sp, const char *path, const char *batch,
	    bool force);

#endif
