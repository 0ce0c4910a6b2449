/*
 * loop - epoll event loop.
 *
 * Timers live in a short unsorted list: a process has a handful of them
 * (rescan, status, retry head, curl's timeout), so a heap would only add
 * code.  Per-request waits are kept by their owners (the scheduler's
 * retry heap) behind one timer.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

struct fd_reg {
	loop_fd_cb	*cb;
	void		*arg;
	uint32_t	 events;	/* as epoll has them */
	bool		 used;
	bool		 parked;	/* registered, but nobody listens */
};

struct loop_timer {
	struct loop	*loop;
	loop_timer_cb	*cb;
	void		*arg;
	uint64_t	 due;		/* monotonic ms */
	bool		 armed;
	struct loop_timer *next;
};

struct loop {
	int		 epfd;
	struct fd_reg	*fds;		/* indexed by fd */
	int		 nfds;
	struct loop_timer *timers;
	loop_hook_cb	*before_sleep;
	void		*before_sleep_arg;
	bool		 stop;
	bool		 again;		/* the next wait does not block */
};

struct loop *
loop_new(void)
{
	struct loop *l;

	l = xcalloc(1, sizeof(*l));
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(l);
		return NULL;
	}
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	/* Timers are owned by their creators, who free them. */
	close(l->epfd);
	free(l->fds);
	free(l);
}

int
loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb *cb,
    void *arg)
{
	struct epoll_event ev;
	int n;

	if (fd >= l->nfds) {
		n = fd + 64;
		l->fds = xreallocarray(l->fds, (size_t)n, sizeof(*l->fds));
		memset(l->fds + l->nfds, 0,
		    (size_t)(n - l->nfds) * sizeof(*l->fds));
		l->nfds = n;
	}
	if (fd >= 0 && l->fds[fd].used && l->fds[fd].parked) {
		/* Still registered from before it was parked. */
		l->fds[fd].cb = cb;
		l->fds[fd].arg = arg;
		l->fds[fd].parked = false;
		return loop_mod_fd(l, fd, events);
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.fd = fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return -1;
	l->fds[fd].cb = cb;
	l->fds[fd].arg = arg;
	l->fds[fd].events = events;
	l->fds[fd].used = true;
	l->fds[fd].parked = false;
	return 0;
}

int
loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event ev;

	/* Callers re-state their interest every turn: only changes cost
	 * a system call. */
	if (fd >= 0 && fd < l->nfds && l->fds[fd].used &&
	    l->fds[fd].events == events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.fd = fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
		return -1;
	if (fd >= 0 && fd < l->nfds)
		l->fds[fd].events = events;
	return 0;
}

void
loop_del_fd(struct loop *l, int fd)
{
	if (fd < 0 || fd >= l->nfds || !l->fds[fd].used)
		return;
	/* The fd may already be closed: then epoll forgot it itself. */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[fd].used = false;
	l->fds[fd].parked = false;
	l->fds[fd].cb = NULL;
}

void
loop_park_fd(struct loop *l, int fd)
{
	if (fd >= 0 && fd < l->nfds && l->fds[fd].used)
		l->fds[fd].parked = true;
}

struct loop_timer *
loop_timer_new(struct loop *l, loop_timer_cb *cb, void *arg)
{
	struct loop_timer *t;

	t = xcalloc(1, sizeof(*t));
	t->loop = l;
	t->cb = cb;
	t->arg = arg;
	t->next = l->timers;
	l->timers = t;
	return t;
}

void
loop_timer_arm(struct loop_timer *t, uint64_t delay_ms)
{
	t->due = now_ms() + delay_ms;
	t->armed = true;
}

void
loop_timer_arm_sooner(struct loop_timer *t, uint64_t delay_ms)
{
	uint64_t due = now_ms() + delay_ms;

	if (!t->armed || due < t->due) {
		t->due = due;
		t->armed = true;
	}
}

void
loop_timer_disarm(struct loop_timer *t)
{
	t->armed = false;
}

bool
loop_timer_armed(const struct loop_timer *t)
{
	return t->armed;
}

void
loop_timer_free(struct loop_timer *t)
{
	struct loop_timer **pp;

	if (t == NULL)
		return;
	for (pp = &t->loop->timers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	free(t);
}

void
loop_set_before_sleep(struct loop *l, loop_hook_cb *cb, void *arg)
{
	l->before_sleep = cb;
	l->before_sleep_arg = arg;
}

void
loop_stop(struct loop *l)
{
	l->stop = true;
}

void
loop_again(struct loop *l)
{
	l->again = true;
}

/* Fires due timers. */
static void
run_timers(struct loop *l)
{
	struct loop_timer *t;
	uint64_t now;
	bool fired;

	do {
		fired = false;
		now = now_ms();
		for (t = l->timers; t != NULL; t = t->next) {
			if (t->armed && t->due <= now) {
				t->armed = false;
				/* The callback may free or add timers:
				 * restart the walk after it. */
				t->cb(t->arg);
				fired = true;
				break;
			}
		}
	} while (fired && !l->stop);
}

/* The ms until the next timer is due, or -1. */
static int
next_timeout(struct loop *l)
{
	struct loop_timer *t;
	uint64_t now, next;

	next = UINT64_MAX;
	now = now_ms();
	for (t = l->timers; t != NULL; t = t->next)
		if (t->armed && t->due < next)
			next = t->due;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now > 60000 ? 60000 :
	    next - now);
}

int
loop_run(struct loop *l)
{
	struct epoll_event evs[256];
	int i, n, timeout, fd;

	l->stop = false;
	while (!l->stop) {
		run_timers(l);
		if (l->stop)
			break;
		if (l->before_sleep != NULL)
			l->before_sleep(l->before_sleep_arg);
		if (l->stop)
			break;
		/* After the hook, which may have armed a timer sooner. */
		timeout = l->again ? 0 : next_timeout(l);
		/* With again: only look for events, there is more to do. */
		l->again = false;
		n = epoll_wait(l->epfd, evs, (int)ARRAY_SIZE(evs), timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			/* An earlier callback may have removed this fd. */
			if (fd >= l->nfds || !l->fds[fd].used)
				continue;
			/* Nobody wants it now: unregister it for real. */
			if (l->fds[fd].parked)
				loop_del_fd(l, fd);
			else
				l->fds[fd].cb(fd, evs[i].events,
				    l->fds[fd].arg);
		}
	}
	return 0;
}
