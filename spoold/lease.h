/*
 * lease - who works on a claimed input, and until when (SPEC §2).
 *
 * processing/INPUT.lease holds one line: "v1 TOKEN HOST PID EXPIRES_MS
 * CREATED_S".  The owner rewrites it (temp + rename) well before it
 * expires; an instance that finds it expired takes it over by renaming
 * the old file away (one rename wins) and creating its own with link(2),
 * which never replaces: like an SQS visibility timeout, over any POSIX
 * filesystem (NFS and sshfs included).  Times are wall-clock
 * milliseconds, so hosts sharing a spool need roughly synchronised
 * clocks (NTP); the lease should be much longer than their skew.
 */
#ifndef SPOOLD_LEASE_H
#define SPOOLD_LEASE_H

#include <stdbool.h>
#include <stdint.h>

struct lease {
	char		 token[25];	/* random per daemon process */
	char		 host[65];
	int		 pid;
	uint64_t	 expires_ms;	/* wall clock */
	uint64_t	 created_s;	/* when the batch was first claimed */
};

/* This process's identity: a fresh token, the host name and pid. */
void	lease_self(struct lease *l);
/* Reads processing/input.lease; -1 with ENOENT if there is none. */
int	lease_read(int pdfd, const char *input, struct lease *l);
/* Creates the lease only if none exists (EEXIST otherwise). */
int	lease_create(int pdfd, const char *input, const struct lease *l);
/* Rewrites our own lease; ESTALE if it is no longer ours. */
int	lease_renew(int pdfd, const char *input, const struct lease *l);
/*
 * Takes over an expired lease seen as old: only one taker wins (ENOENT
 * or ESTALE for the losers).
 */
int	lease_takeover(int pdfd, const char *input, const struct lease *old,
	    const struct lease *l);
/* Removes the lease (the input left processing/). */
int	lease_remove(int pdfd, const char *input);
/* Has l expired at wall time now_ms?  A lease of a dead process on
 * this host counts as expired at once. */
bool	lease_expired(const struct lease *l, const struct lease *self,
	    uint64_t now_ms);

#endif
