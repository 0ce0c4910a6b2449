/*
 * log - leveled logging.
 *
 * Text lines on stderr start with the syslog priority in angle brackets
 * ("<4>"), which journald turns into the priority field, so the daemon
 * needs no syslog connection under systemd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "util.h"

static enum log_level	 cur_level = LOG_LEVEL_INFO;
static enum log_format	 cur_format = LOG_FORMAT_TEXT;
static int		 cur_syslog;
static char		 procname[64] = "spoold";

static const int priority[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_init(enum log_level level, enum log_format format, int use_syslog)
{
	cur_level = level;
	cur_format = format;
	if (use_syslog && !cur_syslog)
		openlog("spoold", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	cur_syslog = use_syslog;
}

void
log_set_level(enum log_level level)
{
	cur_level = level;
}

void
log_procinit(const char *name)
{
	snprintf(procname, sizeof(procname), "%s", name);
}

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcmp(s, "warning") == 0)
		return LOG_LEVEL_WARN;
	return -1;
}

/* JSON string escaping for the json format: quotes, backslash, controls. */
static void
json_escape(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_addf(b, "\\%c", c);
		else if (c < 0x20)
			buf_addf(b, "\\u%04x", c);
		else
			buf_addc(b, (char)c);
	}
}

static void
vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	int saved = errno;
	char msg[2048];
	struct buf line = BUF_INIT;
	size_t n, len;

	if (level > cur_level) {
		errno = saved;
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	/* Untrusted names may reach a message: never let one split a line. */
	for (n = 0; msg[n] != '\0'; n++)
		if ((unsigned char)msg[n] < 0x20)
			msg[n] = '?';
	/* Nor a byte that is not UTF-8 make a JSON line invalid. */
	len = strlen(msg);
	for (n = 0; (n += utf8_check(msg + n, len - n)) < len; n++)
		msg[n] = '?';
	if (cur_syslog) {
		syslog(priority[level], "%s: %s", procname, msg);
	} else if (cur_format == LOG_FORMAT_JSON) {
		buf_addf(&line, "{\"ts\":%lld,\"level\":\"%s\",\"proc\":\"",
		    (long long)time(NULL), level_names[level]);
		json_escape(&line, procname);
		buf_adds(&line, "\",\"pid\":");
		buf_addf(&line, "%d,\"msg\":\"", (int)getpid());
		json_escape(&line, msg);
		buf_adds(&line, "\"}\n");
	} else {
		buf_addf(&line, "<%d>%s[%d]: %s\n", priority[level], procname,
		    (int)getpid(), msg);
	}
	if (line.len > 0) {
		/* One write per line so that processes do not interleave. */
		if (write(STDERR_FILENO, line.data, line.len) == -1) {
			/* Nowhere left to report it. */
		}
	}
	buf_release(&line);
	errno = saved;
}

#define LOG_FN(name, level, with_errno)					\
void									\
name(const char *fmt, ...)						\
{									\
	va_list ap;							\
									\
	va_start(ap, fmt);						\
	vlog(level, with_errno, fmt, ap);				\
	va_end(ap);							\
}

LOG_FN(log_error, LOG_LEVEL_ERROR, 1)
LOG_FN(log_errorx, LOG_LEVEL_ERROR, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(70);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(70);
}
