/*
 * execrun - child processes for exec endpoints.
 *
 * A run's states:
 *
 *   start --cannot start--> FAILED --(next turn)--------------> report
 *     |
 *     v
 *   RUNNING --timeout--> TERM: SIGTERM to the group --grace--> SIGKILL
 *     |                    |
 *     +--pidfd readable----+--> EXITED: the group is SIGKILLed, the
 *                               child reaped; both pipes are read to
 *                               EOF (at most EXECRUN_DRAIN_MS) --> report
 *
 * The child leads its own process group, whose id is its pid.  The group
 * is signalled only while the child is unreaped: a zombie keeps its pid,
 * so a recycled pid is never hit.  Hence the kill of the leftovers comes
 * just before the reap.
 *
 * Exiting is learned from a pidfd in the loop, not from SIGCHLD: no
 * handler, no race with the reap, no signal to block.
 *
 * Between fork and execve the child calls only async-signal-safe
 * functions (the worker may have threads: curl's resolver); everything
 * it needs (path, environment, limits) is prepared before the fork.
 */
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "buf.h"
#include "execrun.h"
#include "util.h"

enum run_phase { RUN_FAILED, RUN_RUNNING, RUN_TERM, RUN_EXITED, RUN_DONE };

struct execrun {
	struct loop	*loop;
	execrun_done_cb	*cb;
	void		*arg;
	enum run_phase	 phase;
	pid_t		 pid;		/* -1: none, or reaped */
	int		 pidfd;		/* -1 when closed, like the others */
	int		 in_fd;
	int		 out_fd;
	int		 err_fd;
	char		*input;
	size_t		 input_len;
	size_t		 input_off;
	struct buf	 out;
	struct buf	 err;
	uint64_t	 max_output;
	struct loop_timer *timer;
	char		*command;
	struct execrun_status st;
};

/* What the child reports on its status pipe when it cannot exec. */
enum child_step { STEP_SETSID, STEP_FDS, STEP_RLIMIT, STEP_CHDIR,
    STEP_EXECVE };
static const char *const step_names[] = { "setsid", "file descriptors",
    "setrlimit", "chdir", "execve" };

struct child_report {
	int		 step;
	int		 err;
};

#define NLIMITS	5

/* Everything the child needs, prepared before the fork. */
struct plan {
	const char	*path;
	char *const	*argv;
	char		*envp[5];
	int		 res[NLIMITS];
	struct rlimit	 lim[NLIMITS];
	int		 nlim;
	int		 fds[4];	/* becoming 0, 1, 2 and the report */
	pid_t		 parent;
};

static void
close_fd(struct execrun *r, int *fd)
{
	if (*fd == -1)
		return;
	loop_del_fd(r->loop, *fd);
	close(*fd);
	*fd = -1;
}

/* The child's side: never returns. */
static void __attribute__((noreturn))
child_fail(int rep, enum child_step step)
{
	struct child_report cr = { (int)step, errno };

	/* Best effort: if this fails the parent sees EOF and exit 127. */
	if (write(rep, &cr, sizeof(cr)) == -1)
		_exit(127);
	_exit(127);
}

static void __attribute__((noreturn))
child(const struct plan *p)
{
	struct rlimit nofile;
	int fd[4], i, rep = p->fds[3];

	if (setsid() == -1)
		child_fail(rep, STEP_SETSID);
	/* Dies with the worker (its group is killed by the worker's own
	 * exit path; this covers a worker that is killed). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != p->parent)
		_exit(127);
	/* The worker ignores SIGPIPE, SIGINT, ...: not the command. */
	signals_reset();
	/* Move the pipes above 3 first, so no dup2 hits a source. */
	for (i = 0; i < 4; i++)
		if ((fd[i] = fcntl(p->fds[i], F_DUPFD, 4)) == -1)
			child_fail(rep, STEP_FDS);
	rep = fd[3];
	for (i = 0; i < 4; i++)
		if (dup2(fd[i], i) == -1)
			child_fail(rep, STEP_FDS);
	rep = 3;
	if (fcntl(3, F_SETFD, FD_CLOEXEC) == -1)
		child_fail(rep, STEP_FDS);
	/* Nothing else of the worker's: channel, sockets, other runs. */
	if (close_range(4, ~0U, 0) == -1) {
		if (getrlimit(RLIMIT_NOFILE, &nofile) == -1)
			child_fail(rep, STEP_FDS);
		for (i = 4; (rlim_t)i < nofile.rlim_cur && i < 65536; i++)
			(void)close(i);
	}
	for (i = 0; i < p->nlim; i++)
		if (setrlimit(p->res[i], &p->lim[i]) == -1)
			child_fail(rep, STEP_RLIMIT);
	umask(077);
	if (chdir("/") == -1)
		child_fail(rep, STEP_CHDIR);
	execve(p->path, p->argv, p->envp);
	child_fail(rep, STEP_EXECVE);
}

/* Adds a limit no higher than the hard limit spoold itself has. */
static void
plan_limit(struct plan *p, int res, rlim_t soft, rlim_t hard)
{
	struct rlimit cur;

	if (getrlimit(res, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
	    hard > cur.rlim_max)
		hard = cur.rlim_max;
	if (soft > hard)
		soft = hard;
	p->res[p->nlim] = res;
	p->lim[p->nlim].rlim_cur = soft;
	p->lim[p->nlim].rlim_max = hard;
	p->nlim++;
}

static void
plan_limits(struct plan *p, const struct execrun_spec *spec)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	rlim_t cpu;

	/*
	 * CPU seconds: the timeout on every CPU, so that a tool using all
	 * of them is not cut before its wall-clock time runs out.  This is
	 * the backstop for a run whose worker died; the timer is the rule.
	 */
	cpu = (rlim_t)((spec->timeout_ms + 999) / 1000) *
	    (rlim_t)(ncpu > 0 ? ncpu : 1) + 1;
	plan_limit(p, RLIMIT_CPU, cpu, cpu + 1);
	if (spec->memory_limit > 0)
		plan_limit(p, RLIMIT_AS, (rlim_t)spec->memory_limit,
		    (rlim_t)spec->memory_limit);
	plan_limit(p, RLIMIT_NOFILE, EXECRUN_NOFILE, EXECRUN_NOFILE);
	plan_limit(p, RLIMIT_FSIZE, (rlim_t)EXECRUN_FSIZE,
	    (rlim_t)EXECRUN_FSIZE);
	plan_limit(p, RLIMIT_CORE, 0, 0);
}

/* The file to execute: argv[0], or a bare name looked up in the PATH
 * the command gets.  Returns owned, or NULL with errno. */
static char *
resolve(const char *name)
{
	const char *dir, *end;
	char *path;

	if (strchr(name, '/') != NULL)
		return xstrdup(name);
	for (dir = EXECRUN_PATH; *dir != '\0'; dir = *end ? end + 1 : end) {
		end = strchrnul(dir, ':');
		path = xasprintf("%.*s/%s", (int)(end - dir), dir, name);
		if (access(path, X_OK) == 0)
			return path;
		free(path);
	}
	errno = ENOENT;
	return NULL;
}

static void
close_pair(int p[2])
{
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	p[0] = p[1] = -1;
}

/* Forks and execs; 0, or -1 with r->st saying why. */
static int
spawn(struct execrun *r, const struct execrun_spec *spec)
{
	struct plan p;
	struct child_report cr;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int rep[2] = { -1, -1 }, i, e;
	char *path;
	ssize_t n;
	pid_t pid;

	if ((path = resolve(spec->argv[0])) == NULL) {
		r->st.exec_errno = errno;
		r->st.exec_step = "lookup in " EXECRUN_PATH;
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.path = path;
	p.argv = spec->argv;
	p.envp[0] = xstrdup("PATH=" EXECRUN_PATH);
	p.envp[1] = xstrdup("LANG=C.UTF-8");
	p.envp[2] = xasprintf("SPOOLD_CUSTOM_ID=%s", spec->custom_id);
	p.envp[3] = xasprintf("SPOOLD_ENDPOINT=%s", spec->endpoint);
	p.envp[4] = NULL;
	plan_limits(&p, spec);
	p.parent = getpid();
	pid = -1;
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1 || pipe2(rep, O_CLOEXEC) == -1 ||
	    (pid = fork()) == -1) {
		r->st.start_errno = errno;
		goto fail;
	}
	if (pid == 0) {
		p.fds[0] = in[0];
		p.fds[1] = out[1];
		p.fds[2] = err[1];
		p.fds[3] = rep[1];
		child(&p);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	close(rep[1]);
	in[0] = out[1] = err[1] = rep[1] = -1;
	/* EOF: the exec happened (the pipe is close-on-exec). */
	while ((n = read(rep[0], &cr, sizeof(cr))) == -1 && errno == EINTR)
		;
	if (n != 0) {
		if (n == (ssize_t)sizeof(cr) && cr.step >= 0 &&
		    (size_t)cr.step < ARRAY_SIZE(step_names)) {
			r->st.exec_errno = cr.err;
			r->st.exec_step = step_names[cr.step];
		} else {
			r->st.exec_errno = n == -1 ? errno : EPROTO;
			r->st.exec_step = "status pipe";
		}
		goto reap;
	}
	if ((r->pidfd = pidfd_open(pid, 0)) == -1) {
		r->st.start_errno = errno;
		goto reap;
	}
	for (i = 0; i < 3; i++) {
		int fd = i == 0 ? in[1] : i == 1 ? out[0] : err[0];

		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
			r->st.start_errno = errno;
			goto reap;
		}
	}
	close(rep[0]);
	r->pid = pid;
	r->in_fd = in[1];
	r->out_fd = out[0];
	r->err_fd = err[0];
	for (i = 0; i < 4; i++)
		free(p.envp[i]);
	free(path);
	return 0;
reap:
	/* The child is ours and has not run the command: do not let it. */
	e = errno;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	if (r->pidfd != -1) {
		close(r->pidfd);
		r->pidfd = -1;
	}
	errno = e;
fail:
	close_pair(in);
	close_pair(out);
	close_pair(err);
	close_pair(rep);
	for (i = 0; i < 4; i++)
		free(p.envp[i]);
	free(path);
	return -1;
}

static void
finish(struct execrun *r)
{
	r->phase = RUN_DONE;
	loop_timer_disarm(r->timer);
	r->st.out = r->out.data != NULL ? r->out.data : "";
	r->st.out_len = r->out.len;
	r->st.err = r->err.data != NULL ? r->err.data : "";
	r->st.err_len = r->err.len;
	/* Last: the callback may free r. */
	r->cb(r, &r->st, r->arg);
}

static void
check_done(struct execrun *r)
{
	if (r->phase == RUN_EXITED && r->out_fd == -1 && r->err_fd == -1)
		finish(r);
}

/* Kills the process group, if the child is not reaped yet. */
static void
kill_group(struct execrun *r, int sig)
{
	if (r->pid != -1)
		(void)killpg(r->pid, sig);
}

static void
on_in(int fd, uint32_t events, void *arg)
{
	struct execrun *r = arg;
	ssize_t n;

	(void)fd;
	(void)events;
	while (r->input_off < r->input_len) {
		n = write(r->in_fd, r->input + r->input_off,
		    r->input_len - r->input_off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n == -1)
			break;	/* EPIPE: the command wants no (more) input */
		r->input_off += (size_t)n;
	}
	/* EOF tells the command the request is complete. */
	close_fd(r, &r->in_fd);
}

/*
 * Reads what fd has, a bounded number of times per event so that one
 * chatty command cannot hold the loop.  Returns 1 while open, 0 at EOF
 * or error; *got is appended to.
 */
static int
drain(int fd, struct buf *got)
{
	char tmp[16384];
	ssize_t n;
	int i;

	for (i = 0; i < 16; i++) {
		n = read(fd, tmp, sizeof(tmp));
		if (n > 0) {
			buf_add(got, tmp, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 1;
		return 0;
	}
	return 1;
}

static void
on_out(int fd, uint32_t events, void *arg)
{
	struct execrun *r = arg;
	int open;

	(void)fd;
	(void)events;
	open = drain(r->out_fd, &r->out);
	if (r->out.len > r->max_output) {
		/* Reading on would only fill memory: stop it here. */
		r->st.too_large = true;
		buf_reset(&r->out);
		kill_group(r, SIGKILL);
		open = 0;
	}
	if (!open) {
		close_fd(r, &r->out_fd);
		check_done(r);
	}
}

static void
on_err(int fd, uint32_t events, void *arg)
{
	struct execrun *r = arg;
	int open;

	(void)fd;
	(void)events;
	open = drain(r->err_fd, &r->err);
	/* Keep the tail only; trim seldom, not on every read. */
	if (r->err.len > 4 * EXECRUN_STDERR_TAIL) {
		buf_consume(&r->err, r->err.len - EXECRUN_STDERR_TAIL);
		r->st.err_cut = true;
	}
	if (!open) {
		close_fd(r, &r->err_fd);
		check_done(r);
	}
}

static void
on_child_exit(int fd, uint32_t events, void *arg)
{
	struct execrun *r = arg;
	siginfo_t si;
	int status;
	pid_t w;

	(void)fd;
	(void)events;
	if (r->pid == -1)
		return;
	/*
	 * Has it exited?  An event may be stale: meant for a closed fd
	 * whose number this run's pidfd now has.  WNOWAIT leaves the
	 * zombie, and with it the group's id, for the kill below.
	 */
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
	    -1) {
		if (errno == EINTR)
			return;
		/* Not our child any more (ECHILD): neither its id nor its
		 * status is ours.  Judged as lost. */
	} else if (si.si_pid == 0) {
		return;
	} else {
		/* What the command left running goes with it, before the
		 * reap frees the group's id for reuse. */
		kill_group(r, SIGKILL);
		while ((w = waitpid(r->pid, &status, WNOHANG)) == -1 &&
		    errno == EINTR)
			;
		if (w == r->pid && WIFEXITED(status)) {
			r->st.exited = true;
			r->st.exit_code = WEXITSTATUS(status);
		} else if (w == r->pid && WIFSIGNALED(status)) {
			r->st.signal = WTERMSIG(status);
		}
	}
	r->pid = -1;
	close_fd(r, &r->pidfd);
	close_fd(r, &r->in_fd);
	r->phase = RUN_EXITED;
	/* A writer that escaped the group may hold a pipe: wait a little,
	 * not for ever. */
	loop_timer_arm(r->timer, EXECRUN_DRAIN_MS);
	check_done(r);
}

static void
on_timer(void *arg)
{
	struct execrun *r = arg;

	switch (r->phase) {
	case RUN_FAILED:
		finish(r);
		break;
	case RUN_RUNNING:
		r->st.timed_out = true;
		r->phase = RUN_TERM;
		kill_group(r, SIGTERM);
		loop_timer_arm(r->timer, EXECRUN_GRACE_MS);
		break;
	case RUN_TERM:
		kill_group(r, SIGKILL);
		break;
	case RUN_EXITED:
		close_fd(r, &r->out_fd);
		close_fd(r, &r->err_fd);
		finish(r);
		break;
	case RUN_DONE:
		break;
	}
}

struct execrun *
execrun_start(struct loop *l, const struct execrun_spec *spec,
    execrun_done_cb *cb, void *arg)
{
	struct execrun *r;

	r = xcalloc(1, sizeof(*r));
	r->loop = l;
	r->cb = cb;
	r->arg = arg;
	r->pid = -1;
	r->pidfd = r->in_fd = r->out_fd = r->err_fd = -1;
	r->input = xmalloc(spec->input_len + 1);
	memcpy(r->input, spec->input, spec->input_len);
	r->input_len = spec->input_len;
	buf_init(&r->out);
	buf_init(&r->err);
	r->max_output = spec->max_output;
	r->timer = loop_timer_new(l, on_timer, r);
	r->command = xstrdup(spec->argv[0]);
	r->st.command = r->command;
	r->st.timeout_ms = spec->timeout_ms;
	if (spawn(r, spec) == -1)
		goto failed;
	r->phase = RUN_RUNNING;
	if (loop_add_fd(l, r->pidfd, EPOLLIN, on_child_exit, r) == -1 ||
	    loop_add_fd(l, r->out_fd, EPOLLIN, on_out, r) == -1 ||
	    loop_add_fd(l, r->err_fd, EPOLLIN, on_err, r) == -1 ||
	    loop_add_fd(l, r->in_fd, EPOLLOUT, on_in, r) == -1) {
		r->st.start_errno = errno;
		kill_group(r, SIGKILL);
		while (waitpid(r->pid, NULL, 0) == -1 && errno == EINTR)
			;
		r->pid = -1;
		close_fd(r, &r->pidfd);
		close_fd(r, &r->in_fd);
		close_fd(r, &r->out_fd);
		close_fd(r, &r->err_fd);
		goto failed;
	}
	loop_timer_arm(r->timer, spec->timeout_ms);
	return r;
failed:
	/* Reported from the loop, like any other end: the caller's state
	 * is never re-entered from inside this call. */
	r->phase = RUN_FAILED;
	loop_timer_arm(r->timer, 0);
	return r;
}

void
execrun_free(struct execrun *r)
{
	if (r == NULL)
		return;
	/* Abandoned: nobody will read its output or its status. */
	kill_group(r, SIGKILL);
	close_fd(r, &r->pidfd);
	close_fd(r, &r->in_fd);
	close_fd(r, &r->out_fd);
	close_fd(r, &r->err_fd);
	loop_timer_free(r->timer);
	buf_release(&r->out);
	buf_release(&r->err);
	free(r->input);
	free(r->command);
	free(r);
}
