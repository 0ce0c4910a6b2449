/*
 * exporter - /metrics over HTTP and a node_exporter textfile.
 *
 * libmicrohttpd runs in epoll mode on the supervisor's loop: its epoll
 * descriptor is one more fd of the loop, and a timer drives its
 * connection timeouts.  No thread: the supervisor forks finishers that
 * run on without exec, which is only safe in a single-threaded process,
 * and the text is rendered from live state in the loop's own thread, so
 * a scrape is never stale and needs no lock.
 *
 * The textfile is written beside its final name under a hidden
 * temporary name (node_exporter reads only *.prom) and renamed over it:
 * a reader sees the old file or the new one, never a part.  No fsync:
 * the figures are rebuilt every interval.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "config.h"
#include "exporter.h"
#include "log.h"
#include "util.h"

#define EXPORTER_CONN_MAX	16
#define EXPORTER_TIMEOUT_S	10

struct exporter {
	struct loop		*loop;
	struct MHD_Daemon	*mhd;
	int			 mhd_fd;
	struct loop_timer	*mhd_timer;
	int			 dirfd;		/* the textfile's directory */
	char			*base;		/* the textfile's name */
	char			*tmp;
	uint64_t		 interval_ms;
	struct loop_timer	*write_timer;
	exporter_render_cb	*render;
	void			*arg;
};

static void
mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warnx("metrics: %s", msg);
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int code, const char *type,
    char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result r;

	resp = MHD_create_response_from_buffer(len, body,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	r = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	return r;
}

/* Only GET (and HEAD) /metrics; the request has no body to wait for. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct exporter *e = cls;
	struct buf out = BUF_INIT;
	char *body;
	size_t len;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
		    xstrdup("method not allowed\n"), 19);
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
		    xstrdup("not found: try /metrics\n"), 24);
	e->render(&out, e->arg);
	body = buf_detach(&out, &len);
	if (body == NULL)
		body = xstrdup("");
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; "
	    "charset=utf-8", body, len);
}

/* Runs libmicrohttpd's pending work, then arms its next timeout. */
static void
mhd_step(struct exporter *e)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_run(e->mhd) != MHD_YES)
		log_warnx("metrics: MHD_run failed");
	if (MHD_get_timeout(e->mhd, &ms) == MHD_YES)
		loop_timer_arm(e->mhd_timer, ms);
	else
		loop_timer_disarm(e->mhd_timer);
}

static void
on_mhd_fd(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	mhd_step(arg);
}

static void
on_mhd_timer(void *arg)
{
	mhd_step(arg);
}

static int
start_http(struct exporter *e, const char *listen)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	struct err err;
	socklen_t len;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (config_listen_addr(listen, &ss, &len, &err) == -1) {
		log_warnx("%s", err.msg);
		errno = EINVAL;
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger first, or libmicrohttpd warns on stderr. */
	e->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, e,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)EXPORTER_CONN_MAX,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)EXPORTER_TIMEOUT_S,
	    MHD_OPTION_END);
	if (e->mhd == NULL) {
		log_warnx("metrics: cannot listen on %s", listen);
		errno = EADDRNOTAVAIL;
		return -1;
	}
	info = MHD_get_daemon_info(e->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL) {
		log_warnx("metrics: libmicrohttpd has no epoll descriptor");
		errno = ENOTSUP;
		return -1;
	}
	e->mhd_fd = info->epoll_fd;
	e->mhd_timer = loop_timer_new(e->loop, on_mhd_timer, e);
	if (loop_add_fd(e->loop, e->mhd_fd, EPOLLIN, on_mhd_fd, e) == -1) {
		log_warn("metrics: watch the listener");
		e->mhd_fd = -1;
		return -1;
	}
	log_info("metrics served on http://%s/metrics", listen);
	return 0;
}

static void
on_write_timer(void *arg)
{
	struct exporter *e = arg;

	if (exporter_write(e) == -1)
		log_warn("metrics: write %s", e->base);
	loop_timer_arm(e->write_timer, e->interval_ms);
}

static int
start_textfile(struct exporter *e, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (slash == NULL || slash[1] == '\0') {
		log_warnx("metrics: textfile %s: not an absolute file path",
		    path);
		errno = EINVAL;
		return -1;
	}
	dir = slash == path ? xstrdup("/") :
	    xstrndup(path, (size_t)(slash - path));
	e->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->dirfd == -1) {
		log_warn("metrics: open directory %s", dir);
		free(dir);
		return -1;
	}
	free(dir);
	e->base = xstrdup(slash + 1);
	e->tmp = xasprintf(".%s.%d.tmp", e->base, (int)getpid());
	e->write_timer = loop_timer_new(e->loop, on_write_timer, e);
	loop_timer_arm(e->write_timer, 0);
	return 0;
}

struct exporter *
exporter_new(struct loop *l, const char *listen, const char *textfile,
    uint64_t interval_ms, exporter_render_cb *render, void *arg)
{
	struct exporter *e = xcalloc(1, sizeof(*e));

	e->loop = l;
	e->mhd_fd = -1;
	e->dirfd = -1;
	e->interval_ms = interval_ms;
	e->render = render;
	e->arg = arg;
	if ((listen != NULL && start_http(e, listen) == -1) ||
	    (textfile != NULL && start_textfile(e, textfile) == -1)) {
		int saved = errno;

		exporter_free(e);
		errno = saved;
		return NULL;
	}
	return e;
}

int
exporter_write(struct exporter *e)
{
	struct buf out = BUF_INIT;
	int fd, saved;

	if (e == NULL || e->dirfd == -1)
		return 0;
	e->render(&out, e->arg);
	fd = openat(e->dirfd, e->tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1) {
		buf_release(&out);
		return -1;
	}
	/* Not secret, and node_exporter runs as another user: 0644
	 * whatever the daemon's umask. */
	if (fchmod(fd, 0644) == -1 || write_full(fd, out.data, out.len) == -1) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) == -1 || renameat(e->dirfd, e->tmp, e->dirfd,
	    e->base) == -1) {
		saved = errno;
		goto fail;
	}
	buf_release(&out);
	return 0;
fail:
	unlinkat(e->dirfd, e->tmp, 0);
	buf_release(&out);
	errno = saved;
	return -1;
}

void
exporter_free(struct exporter *e)
{
	if (e == NULL)
		return;
	if (e->mhd_fd != -1)
		loop_del_fd(e->loop, e->mhd_fd);
	if (e->mhd != NULL)
		MHD_stop_daemon(e->mhd);
	loop_timer_free(e->mhd_timer);
	loop_timer_free(e->write_timer);
	if (e->dirfd != -1)
		close(e->dirfd);
	free(e->base);
	free(e->tmp);
	free(e);
}
