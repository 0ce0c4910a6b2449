/*
 * pool - worker processes.
 *
 * A worker is "lost" as soon as its channel reports EOF or an error,
 * which may come before or after SIGCHLD; its in-flight tasks are handed
 * back once, at that moment.  It is restarted when it has also been
 * reaped, no sooner than one second after its start (growing to 30 s
 * while workers keep dying young), so a crash loop cannot spin.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"
#include "util.h"

struct wproc {
	pid_t		 pid;		/* -1: not running */
	struct chan	 chan;
	bool		 connected;
	uint64_t	 started_ms;
	uint64_t	 gap_ms;
};

struct pool {
	struct loop	*loop;
	char		*self;
	int		 n;
	struct wproc	*w;
	pool_msg_cb	*on_msg;
	pool_lost_cb	*on_lost;
	pool_ready_cb	*on_ready;
	void		*arg;
	struct loop_timer *restart;
	bool		 closing;
	uint64_t	 restarts;
};

static void	on_chan(int fd, uint32_t events, void *arg);

static void
lose(struct pool *p, int idx)
{
	struct wproc *w = &p->w[idx];

	if (!w->connected)
		return;
	loop_del_fd(p->loop, w->chan.fd);
	chan_close(&w->chan);
	w->connected = false;
	p->on_lost(idx, p->arg);
}

static int
spawn(struct pool *p, int idx)
{
	struct wproc *w = &p->w[idx];
	char label[16];
	int sv[2], fd;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* Child: channel on fd 3, default signals, clean mask. */
		if (dup2(sv[1], 3) == -1)
			_exit(71);
		for (fd = 4; fd < 1024; fd++)
			close(fd);
		signals_reset();
		snprintf(label, sizeof(label), "%d", idx);
		execl(p->self, "spoold", "--worker", "3", label, (char *)NULL);
		_exit(71);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	w->pid = pid;
	w->started_ms = now_ms();
	chan_init(&w->chan, sv[0]);
	w->connected = true;
	if (loop_add_fd(p->loop, sv[0], EPOLLIN, on_chan, p) == -1) {
		lose(p, idx);
		return -1;
	}
	log_debug("worker %d started, pid %d", idx, (int)pid);
	p->on_ready(p, idx, p->arg);
	return 0;
}

static int
index_of_fd(const struct pool *p, int fd)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (p->w[i].connected && p->w[i].chan.fd == fd)
			return i;
	return -1;
}

static void
on_chan(int fd, uint32_t events, void *arg)
{
	struct pool *p = arg;
	struct proto_msg m;
	int idx, rd, r;

	if ((idx = index_of_fd(p, fd)) == -1)
		return;
	if (events & EPOLLOUT)
		pool_flush(p, idx);
	if (!p->w[idx].connected ||
	    !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	rd = chan_read(&p->w[idx].chan);
	while ((r = chan_next(&p->w[idx].chan, &m)) == 1) {
		p->on_msg(idx, &m, p->arg);
		if (!p->w[idx].connected)
			return;
	}
	if (r == -1) {
		log_warnx("worker %d: protocol error; restarting it", idx);
		kill(p->w[idx].pid, SIGKILL);
		lose(p, idx);
		return;
	}
	if (rd <= 0) {
		if (!p->closing)
			log_warnx("worker %d: channel closed", idx);
		lose(p, idx);
	}
}

static void
on_restart(void *arg)
{
	struct pool *p = arg;
	uint64_t now = now_ms(), next = UINT64_MAX, due;
	int i;

	if (p->closing)
		return;
	for (i = 0; i < p->n; i++) {
		struct wproc *w = &p->w[i];

		if (w->pid != -1 || w->connected)
			continue;
		due = w->started_ms + w->gap_ms;
		if (due <= now) {
			p->restarts++;
			if (spawn(p, i) == -1)
				log_warn("restart worker %d", i);
			else
				continue;
			due = now + 1000;
		}
		if (due < next)
			next = due;
	}
	if (next != UINT64_MAX)
		loop_timer_arm(p->restart, next - now);
}

struct pool *
pool_new(struct loop *l, const char *self, int n, pool_msg_cb *on_msg,
    pool_lost_cb *on_lost, pool_ready_cb *on_ready, void *arg)
{
	struct pool *p;
	int i;

	p = xcalloc(1, sizeof(*p));
	p->loop = l;
	p->self = xstrdup(self);
	p->n = n;
	p->w = xcalloc((size_t)n, sizeof(*p->w));
	p->on_msg = on_msg;
	p->on_lost = on_lost;
	p->on_ready = on_ready;
	p->arg = arg;
	p->restart = loop_timer_new(l, on_restart, p);
	for (i = 0; i < n; i++) {
		p->w[i].pid = -1;
		p->w[i].chan.fd = -1;
		p->w[i].gap_ms = 1000;
		if (spawn(p, i) == -1) {
			log_warn("start worker %d", i);
			pool_free(p);
			return NULL;
		}
	}
	return p;
}

void
pool_free(struct pool *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		if (p->w[i].connected) {
			loop_del_fd(p->loop, p->w[i].chan.fd);
			chan_close(&p->w[i].chan);
		}
	}
	loop_timer_free(p->restart);
	free(p->w);
	free(p->self);
	free(p);
}

int
pool_size(const struct pool *p)
{
	return p->n;
}

bool
pool_alive(const struct pool *p, int idx)
{
	return p->w[idx].connected;
}

struct buf *
pool_out(struct pool *p, int idx)
{
	return &p->w[idx].chan.out;
}

void
pool_flush(struct pool *p, int idx)
{
	struct wproc *w = &p->w[idx];

	if (!w->connected)
		return;
	if (chan_flush(&w->chan) == -1) {
		log_warn("write to worker %d", idx);
		lose(p, idx);
		return;
	}
	loop_mod_fd(p->loop, w->chan.fd,
	    EPOLLIN | (chan_pending(&w->chan) ? EPOLLOUT : 0));
}

bool
pool_reaped(struct pool *p, pid_t pid, int status)
{
	struct wproc *w;
	int i;

	for (i = 0; i < p->n; i++) {
		w = &p->w[i];
		if (w->pid != pid)
			continue;
		if (!p->closing || !(WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)) {
			if (WIFSIGNALED(status))
				log_warnx("worker %d (pid %d) killed by "
				    "signal %d", i, (int)pid,
				    WTERMSIG(status));
			else
				log_warnx("worker %d (pid %d) exited with "
				    "status %d", i, (int)pid,
				    WEXITSTATUS(status));
		}
		w->pid = -1;
		lose(p, i);
		/* A worker that died young waits longer each time. */
		if (now_ms() - w->started_ms < 10000)
			w->gap_ms = w->gap_ms * 2 > 30000 ? 30000 :
			    w->gap_ms * 2;
		else
			w->gap_ms = 1000;
		if (!p->closing)
			loop_timer_arm_sooner(p->restart,
			    w->started_ms + w->gap_ms > now_ms() ?
			    w->started_ms + w->gap_ms - now_ms() : 0);
		return true;
	}
	return false;
}

void
pool_close(struct pool *p)
{
	int i;

	p->closing = true;
	for (i = 0; i < p->n; i++) {
		if (p->w[i].connected) {
			loop_del_fd(p->loop, p->w[i].chan.fd);
			chan_close(&p->w[i].chan);
			p->w[i].connected = false;
		}
	}
}

int
pool_running(const struct pool *p)
{
	int i, n = 0;

	for (i = 0; i < p->n; i++)
		if (p->w[i].pid != -1)
			n++;
	return n;
}

uint64_t
pool_restarts(const struct pool *p)
{
	return p->restarts;
}
