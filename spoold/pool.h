/*
 * pool - the worker processes: started by re-exec of the daemon's own
 * binary with the channel on fd 3, restarted with a growing gap when
 * they die, and fed framed messages.
 */
#ifndef SPOOLD_POOL_H
#define SPOOLD_POOL_H

#include <stdbool.h>
#include <sys/types.h>

#include "buf.h"
#include "loop.h"
#include "proto.h"

struct pool;

/* Called for each message from worker idx. */
typedef void pool_msg_cb(int idx, struct proto_msg *m, void *arg);
/* Called when worker idx is lost (its in-flight work must be re-queued). */
typedef void pool_lost_cb(int idx, void *arg);
/* Called when worker idx (re)started: send it the endpoints. */
typedef void pool_ready_cb(struct pool *p, int idx, void *arg);

struct pool	*pool_new(struct loop *l, const char *self, int n,
		    pool_msg_cb *on_msg, pool_lost_cb *on_lost,
		    pool_ready_cb *on_ready, void *arg);
void		 pool_free(struct pool *p);
int		 pool_size(const struct pool *p);
bool		 pool_alive(const struct pool *p, int idx);
/* Borrowed: the output buffer of worker idx; call pool_flush after. */
struct buf	*pool_out(struct pool *p, int idx);
void		 pool_flush(struct pool *p, int idx);
/* A child exited: true if it was one of ours (then handled). */
bool		 pool_reaped(struct pool *p, pid_t pid, int status);
/* Closes every channel: workers exit on EOF. */
void		 pool_close(struct pool *p);
/* Number of workers still running. */
int		 pool_running(const struct pool *p);
uint64_t	 pool_restarts(const struct pool *p);

#endif
