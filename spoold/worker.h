/*
 * worker - a worker process: one event loop (epoll + curl multi_socket)
 * holding many requests in flight.  It receives endpoints and tasks from
 * the supervisor on its channel, and sends back one RESULT per task with
 * the formatted result line.  It never touches the spool.
 */
#ifndef SPOOLD_WORKER_H
#define SPOOLD_WORKER_H

/* Runs the worker on channel fd until the supervisor goes away.
 * Returns the process exit status. */
int	worker_main(int fd);

#endif
