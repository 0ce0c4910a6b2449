/*
 * log - leveled logging to stderr (with syslog priority prefixes for
 * journald), syslog, or JSON lines.  Every function saves and restores
 * errno.  Messages are lower case, name the object, and carry ids as
 * "batch=%s task=%s".  Never log a key, an Authorization header or a body.
 */
#ifndef SPOOLD_LOG_H
#define SPOOLD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

void	log_init(enum log_level level, enum log_format format, int use_syslog);
void	log_set_level(enum log_level level);
/* Sets the process label ("supervisor", "worker 3") shown on each line. */
void	log_procinit(const char *name);
/* Parses "error", "warn", "info", "debug"; -1 if unknown. */
int	log_level_parse(const char *s);

/* log_warn and log_error append ": strerror(errno)"; the x forms do not. */
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...)
	    __attribute__((noreturn, format(printf, 1, 2)));
void	fatalx(const char *fmt, ...)
	    __attribute__((noreturn, format(printf, 1, 2)));

#endif
