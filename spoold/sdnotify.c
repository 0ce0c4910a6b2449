/*
 * sdnotify - a datagram to systemd.  The socket path may be abstract
 * ("@name"); a failure to notify must never stop the daemon, so errors
 * are only logged at debug level.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sdnotify.h"

void
sd_notifyf(const char *fmt, ...)
{
	struct sockaddr_un sa;
	const char *path = getenv("NOTIFY_SOCKET");
	char msg[512];
	socklen_t len;
	va_list ap;
	int fd, saved = errno;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sa.sun_path))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, len) == -1)
		log_debug("sd_notify %s", path);
	if (fd != -1)
		close(fd);
	errno = saved;
}
