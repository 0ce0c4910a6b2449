/*
 * privs - dropping root.  The order matters: supplementary groups and
 * the group first (only root may change them), the user last, then a
 * check that root cannot be regained.
 */
#include <sys/resource.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "privs.h"

int
privs_drop(const char *user, const char *group, struct err *err)
{
	struct passwd *pw;
	struct group *gr;
	gid_t gid;

	if (user == NULL && group == NULL)
		return 0;
	errno = 0;
	if (user != NULL && (pw = getpwnam(user)) == NULL) {
		err_set(err, "config", "spool.user %s: %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	if (user == NULL) {
		err_set(err, "config", "spool.group needs spool.user");
		return -1;
	}
	gid = pw->pw_gid;
	if (group != NULL) {
		errno = 0;
		if ((gr = getgrnam(group)) == NULL) {
			err_set(err, "config", "spool.group %s: %s", group,
			    errno != 0 ? strerror(errno) : "no such group");
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		/* Already someone: fine if it is the one asked for. */
		if (geteuid() == pw->pw_uid && getegid() == gid)
			return 0;
		err_set(err, "config", "spool.user %s: only root can become "
		    "another user", user);
		return -1;
	}
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		err_set(err, "config", "become %s: %s", user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		err_set(err, "config", "could regain root after dropping it");
		return -1;
	}
	return 0;
}

void
privs_no_core(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
}
