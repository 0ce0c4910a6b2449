/*
 * privs - what the daemon may do: started as root it becomes the
 * configured user and group before it touches the spool (SPEC §7), and
 * it never leaves a core dump that could hold an API key.
 */
#ifndef SPOOLD_PRIVS_H
#define SPOOLD_PRIVS_H

#include "util.h"

/*
 * As root, with user set: become user (and group, or the user's own
 * group), with only that group's supplementary groups; -1 with err.
 * Not root: a user other than ourselves is an error.  Returns 0.
 */
int	privs_drop(const char *user, const char *group, struct err *err);
/* No core dumps: they would hold keys and request data. */
void	privs_no_core(void);

#endif
