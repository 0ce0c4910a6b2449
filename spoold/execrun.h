/*
 * execrun - one request run as a child process, for an exec endpoint
 * (SPEC §5), without blocking the worker's loop.
 *
 * The command gets an argv from the configuration (never a shell), its
 * own session and process group, the request on stdin, only fds 0, 1
 * and 2, a fixed environment (PATH, LANG, SPOOLD_CUSTOM_ID,
 * SPOOLD_ENDPOINT; nothing of spoold's, so no API key), resource limits,
 * umask 077 and / as its directory.  Its stdout is the response, kept up
 * to a limit; of its stderr only the tail is kept, for the error message.
 *
 * A run ends when its child has exited and both pipes are closed.  When
 * the child exits, what it left running in its process group is killed;
 * at the timeout the group gets SIGTERM, then SIGKILL after a grace.
 * Each run reports once, through its callback, from the loop.  The
 * caller ignores SIGPIPE (a command may close stdin unread).
 */
#ifndef SPOOLD_EXECRUN_H
#define SPOOLD_EXECRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/* The PATH a command runs with, and in which a bare name is looked up. */
#define EXECRUN_PATH		"/usr/local/bin:/usr/bin:/bin"
/* Between SIGTERM and SIGKILL at a timeout. */
#define EXECRUN_GRACE_MS	2000
/* How long pipes may stay open after the command has exited. */
#define EXECRUN_DRAIN_MS	1000
/* Bytes of stderr kept for the error message. */
#define EXECRUN_STDERR_TAIL	500
/* RLIMIT_NOFILE and RLIMIT_FSIZE of a run. */
#define EXECRUN_NOFILE		256
#define EXECRUN_FSIZE		(1ULL << 30)

struct execrun;

struct execrun_spec {
	char *const	*argv;		/* argv[0]: absolute, or looked up */
	const char	*custom_id;	/* SPOOLD_CUSTOM_ID */
	const char	*endpoint;	/* SPOOLD_ENDPOINT */
	const char	*input;		/* stdin: copied */
	size_t		 input_len;
	uint64_t	 timeout_ms;	/* > 0 */
	uint64_t	 max_output;	/* bytes of stdout */
	uint64_t	 memory_limit;	/* RLIMIT_AS; 0: none */
};

/* What became of a run: facts, judged by execresult_judge. */
struct execrun_status {
	int		 start_errno;	/* no child: pipe, fork, pidfd */
	int		 exec_errno;	/* the child could not run argv[0] */
	const char	*exec_step;	/* what failed: "execve", ... */
	const char	*command;	/* argv[0], borrowed */
	bool		 exited;	/* exit_code is valid */
	int		 exit_code;
	int		 signal;	/* the signal that ended it, or 0 */
	bool		 timed_out;
	bool		 too_large;	/* stdout over max_output */
	uint64_t	 timeout_ms;
	const char	*out;		/* stdout, borrowed */
	size_t		 out_len;
	const char	*err;		/* stderr's tail, borrowed */
	size_t		 err_len;
	bool		 err_cut;	/* err is a tail: more came before */
};

/* Called once per run, from the loop; may execrun_free(r). */
typedef void execrun_done_cb(struct execrun *r,
		    const struct execrun_status *st, void *arg);

/*
 * Starts spec's command.  Returns owned (free with execrun_free); never
 * NULL: a run that cannot start reports so through cb, on the next turn
 * of the loop.  Blocks only from fork until the child has exec'ed.
 */
struct execrun	*execrun_start(struct loop *l, const struct execrun_spec *spec,
		    execrun_done_cb *cb, void *arg);
/*
 * Frees r.  A run still going is abandoned: its process group is killed
 * (SIGKILL), not reaped, and cb is not called.  NULL is a no-op.
 */
void		 execrun_free(struct execrun *r);

#endif
