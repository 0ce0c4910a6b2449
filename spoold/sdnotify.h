/*
 * sdnotify - the sd_notify(3) protocol without libsystemd: one datagram
 * to $NOTIFY_SOCKET per state change (READY=1, RELOADING=1, STOPPING=1,
 * STATUS=...).  Without NOTIFY_SOCKET every call does nothing.
 */
#ifndef SPOOLD_SDNOTIFY_H
#define SPOOLD_SDNOTIFY_H

/* Sends state (e.g. "READY=1\nSTATUS=idle"); errors are ignored. */
void	sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
