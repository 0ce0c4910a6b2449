/*
 * lease - ownership of claimed inputs.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lease.h"
#include "spool.h"
#include "spool_limits.h"
#include "util.h"

static void
lease_name(const char *input, char *out, size_t len)
{
	snprintf(out, len, "%s.lease", input);
}

void
lease_self(struct lease *l)
{
	memset(l, 0, sizeof(*l));
	random_id(l->token);
	if (gethostname(l->host, sizeof(l->host) - 1) == -1)
		snprintf(l->host, sizeof(l->host), "unknown");
	/* Spaces would break the one-line format. */
	for (char *p = l->host; *p != '\0'; p++)
		if (*p == ' ' || (unsigned char)*p < 0x21)
			*p = '_';
	l->pid = (int)getpid();
}

static int
format(const struct lease *l, char *buf, size_t len)
{
	return snprintf(buf, len, "v1 %s %s %d %llu %llu\n", l->token, l->host,
	    l->pid, (unsigned long long)l->expires_ms,
	    (unsigned long long)l->created_s);
}

/* Reads and parses the lease file named name (not the input's name). */
static int
read_file(int pdfd, const char *name, struct lease *l)
{
	char buf[256];
	unsigned long long exp, created;
	ssize_t n;
	int fd;

	if ((fd = openat(pdfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	n = read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		errno = EINVAL;
		return -1;
	}
	buf[n] = '\0';
	memset(l, 0, sizeof(*l));
	if (sscanf(buf, "v1 %24s %64s %d %llu %llu", l->token, l->host,
	    &l->pid, &exp, &created) != 5) {
		errno = EINVAL;
		return -1;
	}
	l->expires_ms = exp;
	l->created_s = created;
	return 0;
}

int
lease_read(int pdfd, const char *input, struct lease *l)
{
	char name[SPOOL_NAME_MAX + 16];

	lease_name(input, name, sizeof(name));
	return read_file(pdfd, name, l);
}

/* Writes a hidden temp file with the lease; returns its name in tmp. */
static int
write_tmp(int pdfd, const struct lease *l, char *tmp, size_t tmplen)
{
	char buf[256], rnd[25];
	int fd, n;

	random_id(rnd);
	snprintf(tmp, tmplen, ".lease.%d.%.12s.tmp", (int)getpid(), rnd);
	n = format(l, buf, sizeof(buf));
	fd = openat(pdfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0660);
	if (fd == -1)
		return -1;
	if (write_full(fd, buf, (size_t)n) == -1 || fsync(fd) == -1) {
		int saved = errno;

		close(fd);
		unlinkat(pdfd, tmp, 0);
		errno = saved;
		return -1;
	}
	return close(fd);
}

int
lease_create(int pdfd, const char *input, const struct lease *l)
{
	char name[SPOOL_NAME_MAX + 16], tmp[64];
	int r, saved;

	lease_name(input, name, sizeof(name));
	if (write_tmp(pdfd, l, tmp, sizeof(tmp)) == -1)
		return -1;
	/* link(2) fails with EEXIST rather than replace: one creator wins. */
	r = linkat(pdfd, tmp, pdfd, name, 0);
	saved = errno;
	unlinkat(pdfd, tmp, 0);
	if (r == -1) {
		errno = saved;
		return -1;
	}
	/*
	 * The lease exists now, whatever the fsync says: reporting a
	 * failure would leave it behind unowned.  Lost in a power cut, a
	 * lease only makes its input an orphan that adopt() takes back.
	 */
	spool_fsync_dir(pdfd);
	return 0;
}

int
lease_renew(int pdfd, const char *input, const struct lease *l)
{
	char name[SPOOL_NAME_MAX + 16], tmp[64];
	struct lease cur;

	if (lease_read(pdfd, input, &cur) == -1) {
		if (errno == ENOENT)
			errno = ESTALE;
		return -1;
	}
	if (strcmp(cur.token, l->token) != 0) {
		errno = ESTALE;
		return -1;
	}
	lease_name(input, name, sizeof(name));
	if (write_tmp(pdfd, l, tmp, sizeof(tmp)) == -1)
		return -1;
	/*
	 * XXX: a taker that judged the lease expired between our read and
	 * this rename loses its claim silently; it can only have judged so
	 * if we were late by a whole lease period.
	 */
	if (renameat(pdfd, tmp, pdfd, name) == -1) {
		int saved = errno;

		unlinkat(pdfd, tmp, 0);
		errno = saved;
		return -1;
	}
	spool_fsync_dir(pdfd);	/* as in lease_create */
	return 0;
}

int
lease_takeover(int pdfd, const char *input, const struct lease *old,
    const struct lease *l)
{
	char name[SPOOL_NAME_MAX + 16], aside[SPOOL_NAME_MAX + 48];
	char rnd[25];
	struct lease moved;

	lease_name(input, name, sizeof(name));
	random_id(rnd);
	snprintf(aside, sizeof(aside), ".%.200s.%.12s.tmp", name, rnd);
	/* Whoever renames the expired lease away first is the taker. */
	if (renameat(pdfd, name, pdfd, aside) == -1)
		return -1;
	/* Make sure it is the lease we judged, not a fresh renewal. */
	if (read_file(pdfd, aside, &moved) == 0 &&
	    (strcmp(moved.token, old->token) != 0 ||
	    moved.expires_ms != old->expires_ms)) {
		renameat(pdfd, aside, pdfd, name);	/* give it back */
		errno = ESTALE;
		return -1;
	}
	unlinkat(pdfd, aside, 0);
	return lease_create(pdfd, input, l);
}

int
lease_remove(int pdfd, const char *input)
{
	char name[SPOOL_NAME_MAX + 16];

	lease_name(input, name, sizeof(name));
	if (unlinkat(pdfd, name, 0) == -1 && errno != ENOENT)
		return -1;
	return spool_fsync_dir(pdfd);
}

bool
lease_expired(const struct lease *l, const struct lease *self,
    uint64_t now)
{
	if (strcmp(l->token, self->token) == 0)
		return false;
	if (strcmp(l->host, self->host) == 0 && l->pid != self->pid &&
	    kill(l->pid, 0) == -1 && errno == ESRCH)
		return true;	/* its process is gone: no need to wait */
	return now >= l->expires_ms;
}
