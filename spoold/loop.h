/*
 * loop - one event loop per process: epoll for descriptors, one-shot
 * timers, and a before-sleep hook (where the journal group-commits).
 */
#ifndef SPOOLD_LOOP_H
#define SPOOLD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_timer;

typedef void loop_fd_cb(int fd, uint32_t events, void *arg);
typedef void loop_timer_cb(void *arg);
typedef void loop_hook_cb(void *arg);

/* Returns owned, or NULL with errno. */
struct loop	*loop_new(void);
void		 loop_free(struct loop *l);
/* events: EPOLLIN/EPOLLOUT; the callback gets what happened. */
int		 loop_add_fd(struct loop *l, int fd, uint32_t events,
		    loop_fd_cb *cb, void *arg);
int		 loop_mod_fd(struct loop *l, int fd, uint32_t events);
/* Before the fd is closed (epoll keeps a descriptor that another
 * process shares). */
void		 loop_del_fd(struct loop *l, int fd);
/*
 * Stops delivering fd's events without a system call: the registration
 * stays for a loop_add_fd of the same fd to reuse (a connection kept
 * idle between requests), and goes at its first unwanted event or at
 * loop_del_fd.
 */
void		 loop_park_fd(struct loop *l, int fd);

/* Returns owned (free with loop_timer_free); created disarmed. */
struct loop_timer *loop_timer_new(struct loop *l, loop_timer_cb *cb,
		    void *arg);
/* (Re)arms to fire once after delay_ms; 0 fires on the next turn. */
void		 loop_timer_arm(struct loop_timer *t, uint64_t delay_ms);
/* Arms only if disarmed or due later than delay_ms. */
void		 loop_timer_arm_sooner(struct loop_timer *t, uint64_t delay_ms);
void		 loop_timer_disarm(struct loop_timer *t);
bool		 loop_timer_armed(const struct loop_timer *t);
void		 loop_timer_free(struct loop_timer *t);

void		 loop_set_before_sleep(struct loop *l, loop_hook_cb *cb,
		    void *arg);
/* From the before-sleep hook: do not sleep this turn, more is to do. */
void		 loop_again(struct loop *l);
/* Runs until loop_stop; returns 0, or -1 if epoll fails. */
int		 loop_run(struct loop *l);
void		 loop_stop(struct loop *l);

#endif
