/*
 * mock_timer - the delays of spool-mockllm (see mock_timer.h): delayed
 * requests are suspended inside libmicrohttpd and resumed, when due, by
 * one timer thread that sleeps on a min-heap of due times.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <microhttpd.h>

#include "mock.h"
#include "mock_stats.h"
#include "mock_timer.h"

struct tentry {
	uint64_t		 due;
	struct MHD_Connection	*conn;
};

static struct {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	pthread_t	 thr;
	struct tentry	*heap;
	size_t		 n;
	size_t		 cap;
	bool		 stop;
} tm = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static atomic_bool	 stopping;

static void
heap_swap(size_t a, size_t b)
{
	struct tentry t = tm.heap[a];

	tm.heap[a] = tm.heap[b];
	tm.heap[b] = t;
}

static struct MHD_Connection *
heap_pop(void)
{
	struct MHD_Connection *c = tm.heap[0].conn;
	size_t i = 0, l, m;

	tm.heap[0] = tm.heap[--tm.n];
	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < tm.n && tm.heap[l].due < tm.heap[m].due)
			m = l;
		if (l + 1 < tm.n && tm.heap[l + 1].due < tm.heap[m].due)
			m = l + 1;
		if (m == i)
			break;
		heap_swap(i, m);
		i = m;
	}
	return c;
}

/*
 * Suspend c until ms from now.  Suspending under tm.mtx orders it before
 * the timer thread can possibly resume it.  Refused once stopping, since
 * MHD must not be stopped with connections suspended.
 */
bool
timer_add(struct MHD_Connection *c, long ms)
{
	struct tentry *nh;
	size_t i;

	pthread_mutex_lock(&tm.mtx);
	if (tm.stop)
		goto fail;
	if (tm.n == tm.cap) {
		nh = reallocarray(tm.heap, tm.cap ? tm.cap * 2 : 1024,
		    sizeof(*nh));
		if (nh == NULL)
			goto fail;
		tm.heap = nh;
		tm.cap = tm.cap ? tm.cap * 2 : 1024;
	}
	MHD_suspend_connection(c);
	atomic_fetch_add(&stats.susp, 1);
	i = tm.n++;
	tm.heap[i].due = now_ns() + (uint64_t)ms * 1000000;
	tm.heap[i].conn = c;
	for (; i > 0 && tm.heap[(i - 1) / 2].due > tm.heap[i].due;
	    i = (i - 1) / 2)
		heap_swap(i, (i - 1) / 2);
	if (i == 0)
		pthread_cond_signal(&tm.cv);
	pthread_mutex_unlock(&tm.mtx);
	return true;
fail:
	pthread_mutex_unlock(&tm.mtx);
	return false;
}

static void *
timer_main(void *arg)
{
	struct MHD_Connection *due[256];
	struct timespec ts;
	size_t i, nd;
	uint64_t now;

	(void)arg;
	pthread_mutex_lock(&tm.mtx);
	while (!tm.stop) {
		if (tm.n == 0) {
			pthread_cond_wait(&tm.cv, &tm.mtx);
			continue;
		}
		now = now_ns();
		if (tm.heap[0].due > now) {
			ts.tv_sec = (time_t)(tm.heap[0].due / 1000000000ULL);
			ts.tv_nsec = (long)(tm.heap[0].due % 1000000000ULL);
			pthread_cond_timedwait(&tm.cv, &tm.mtx, &ts);
			continue;
		}
		for (nd = 0; tm.n > 0 && tm.heap[0].due <= now && nd < 256;)
			due[nd++] = heap_pop();
		/* Resume outside our lock: MHD takes its own locks. */
		pthread_mutex_unlock(&tm.mtx);
		for (i = 0; i < nd; i++)
			MHD_resume_connection(due[i]);
		pthread_mutex_lock(&tm.mtx);
	}
	pthread_mutex_unlock(&tm.mtx);
	return NULL;
}

int
timer_start(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tm.cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((errno = pthread_create(&tm.thr, NULL, timer_main, NULL)) != 0)
		return -1;
	return 0;
}

/* Resume everything still waiting and stop the timer thread. */
void
timer_stop(void)
{
	int waited;

	/* Before any resume, so that hangs see it and answer 408. */
	atomic_store(&stopping, true);
	pthread_mutex_lock(&tm.mtx);
	tm.stop = true;
	while (tm.n > 0)
		MHD_resume_connection(heap_pop());
	pthread_cond_signal(&tm.cv);
	pthread_mutex_unlock(&tm.mtx);
	pthread_join(tm.thr, NULL);
	/* Let the workers take the resumed connections back in. */
	for (waited = 0; atomic_load(&stats.susp) > 0 && waited < 3000;
	    waited++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
}

bool
timer_stopping(void)
{
	return atomic_load(&stopping);
}

void
timer_free(void)
{
	pthread_cond_destroy(&tm.cv);
	free(tm.heap);
}
