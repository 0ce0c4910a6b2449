/*
 * mock_timer - delays requests without holding a thread: a delayed
 * connection is suspended inside libmicrohttpd, and one timer thread
 * resumes it when due, so that a few threads hold thousands of slow
 * requests.  MHD then calls the access handler again for it.
 *
 * Calling sequence: timer_start() once; timer_add() from MHD's threads;
 * timer_stop() before MHD_stop_daemon(), which must not meet suspended
 * connections; timer_free() after.
 */
#ifndef SPOOLD_MOCK_TIMER_H
#define SPOOLD_MOCK_TIMER_H

#include <stdbool.h>

#include <microhttpd.h>

/* Starts the timer thread; -1 with errno on failure. */
int	timer_start(void);
/* Suspends c for ms; false (c not suspended) once stopping or when out
 * of memory. */
bool	timer_add(struct MHD_Connection *c, long ms);
/* Resumes every connection still waiting and joins the thread. */
void	timer_stop(void);
/* Whether timer_stop() has begun: a hang then answers 408. */
bool	timer_stopping(void);
void	timer_free(void);

#endif
