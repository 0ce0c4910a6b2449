/*
 * config - INI configuration via inih.
 *
 * Unknown sections and keys are errors: a typo in a limit must not
 * silently leave the limit off.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "log.h"
#include "prices.h"
#include "schedule.h"
#include "spool.h"
#include "util.h"

struct load_ctx {
	struct config	*c;
	struct err	*err;
	const char	*path;
	int		 failed;
};

static void
endpoint_init(struct endpoint_config *e, const char *name)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->type = ENDPOINT_OPENAI;
	e->base_url = xstrdup("https://api.openai.com");
	e->timeout_ms = 600000;
	e->memory_limit = SPOOL_DEF_EXEC_MEMORY;
}

static void
endpoint_release(struct endpoint_config *e)
{
	free(e->base_url);
	free(e->api_key_env);
	free(e->api_key_file);
	free(e->ca_file);
	free(e->command);
	free_argv(e->argv);
	memset(e, 0, sizeof(*e));
}

void
config_set_str(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

void
config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->spool_dir = xstrdup("/var/spool/spoold");
	c->settle_ms = 2000;
	c->rescan_ms = 5000;
	c->lease_ms = 60000;
	c->incomplete_after_ms = 3600000;
	c->max_file_bytes = SPOOL_DEF_MAX_FILE;
	c->max_line_bytes = SPOOL_DEF_MAX_LINE;
	c->max_json_depth = SPOOL_DEF_JSON_DEPTH;
	c->max_requests = SPOOL_DEF_MAX_REQUESTS;
	c->max_response_bytes = SPOOL_DEF_MAX_RESPONSE;
	c->processes = 2;
	c->inflight = 256;
	c->drain_timeout_ms = 60000;
	endpoint_init(&c->endpoints[0], "default");
	c->nendpoints = 1;
	c->max_attempts = 5;
	c->backoff_base_ms = 1000;
	c->backoff_max_ms = 60000;
	c->max_tasks = 1000;
	c->max_age_ms = 60000;
	snprintf(c->ready_marker, sizeof(c->ready_marker), "_READY");
	c->completion_window_ms = 24 * 3600000ULL;
	c->archive = ARCHIVE_TAR_GZ;
	c->log_level = LOG_LEVEL_INFO;
	c->log_format = LOG_FORMAT_TEXT;
}

void
config_release(struct config *c)
{
	int i;

	free(c->spool_dir);
	free(c->user);
	free(c->group);
	for (i = 0; i < c->nendpoints; i++)
		endpoint_release(&c->endpoints[i]);
	free(c->on_complete);
	free_argv(c->on_complete_argv);
	free(c->webhook);
	free(c->prices_path);
	prices_free(c->prices);
	free(c->active_hours);
	free(c->metrics_listen);
	free(c->metrics_textfile);
	memset(c, 0, sizeof(*c));
}

const char *
config_archive_suffix(enum archive_format f)
{
	switch (f) {
	case ARCHIVE_TAR_GZ:
		return ".tar.gz";
	case ARCHIVE_TAR_ZST:
		return ".tar.zst";
	case ARCHIVE_ZIP:
		return ".zip";
	case ARCHIVE_NONE:
		return "";
	}
	return "";
}

int
config_endpoint_index(const struct config *c, const char *name)
{
	int i;

	for (i = 0; i < c->nendpoints; i++)
		if (strcmp(c->endpoints[i].name, name) == 0)
			return i;
	return -1;
}

const struct endpoint_config *
config_endpoint(const struct config *c, const char *name)
{
	int i = config_endpoint_index(c, name);

	return i == -1 ? NULL : &c->endpoints[i];
}

/* Value parsers: each returns 0 or -1 (the caller reports the key). */
static int
set_duration(uint64_t *field, const char *v)
{
	return parse_duration_ms(v, field);
}

static int
set_uint(uint64_t *field, const char *v)
{
	return parse_uint(v, UINT32_MAX, field);
}

static int
set_size(uint64_t *field, const char *v)
{
	return parse_size(v, field);
}

static int
set_bool(bool *field, const char *v)
{
	return parse_bool(v, field);
}

/*
 * An exec endpoint runs one process per request in flight: unless told
 * otherwise, no more of them than there are CPUs.
 */
static void
exec_default_inflight(struct endpoint_config *e)
{
	long n;

	if (e->max_inflight_set)
		return;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	e->max_inflight = n > 0 ? (uint64_t)n : 1;
}

static int
set_endpoint_key(struct config *c, const char *section, const char *key,
    const char *v, struct err *why)
{
	const char *name = section + strlen("endpoint");
	struct endpoint_config *e;
	int i;

	while (*name == ' ')
		name++;
	if (*name == '\0')
		name = "default";
	if (strlen(name) > SPOOL_ENDPOINT_NAME_MAX)
		return -1;
	if ((i = config_endpoint_index(c, name)) == -1) {
		if (c->nendpoints == SPOOL_MAX_ENDPOINTS)
			return -1;
		i = c->nendpoints++;
		endpoint_init(&c->endpoints[i], name);
	}
	e = &c->endpoints[i];
	if (strcmp(key, "type") == 0) {
		if (strcmp(v, "openai") == 0)
			e->type = ENDPOINT_OPENAI;
		else if (strcmp(v, "anthropic") == 0)
			e->type = ENDPOINT_ANTHROPIC;
		else if (strcmp(v, "exec") == 0) {
			e->type = ENDPOINT_EXEC;
			exec_default_inflight(e);
		} else
			return -1;
		return 0;
	}
	if (strcmp(key, "base_url") == 0) {
		config_set_str(&e->base_url, v);
		return 0;
	}
	if (strcmp(key, "api_key_env") == 0) {
		config_set_str(&e->api_key_env, v);
		return 0;
	}
	if (strcmp(key, "ca_file") == 0) {
		config_set_str(&e->ca_file, v);
		return 0;
	}
	if (strcmp(key, "api_key_file") == 0) {
		config_set_str(&e->api_key_file, v);
		return 0;
	}
	if (strcmp(key, "command") == 0) {
		/* Split now, so that bad quoting is reported with its line;
		 * no shell ever sees the command (STYLE.md C.10). */
		free_argv(e->argv);
		e->argv = NULL;
		if (parse_argv(v, &e->argv, why) == -1)
			return -1;
		config_set_str(&e->command, v);
		return 0;
	}
	if (strcmp(key, "memory_limit") == 0)
		return set_size(&e->memory_limit, v);
	if (strcmp(key, "max_inflight") == 0) {
		e->max_inflight_set = true;
		return set_uint(&e->max_inflight, v);
	}
	if (strcmp(key, "rpm") == 0)
		return set_uint(&e->rpm, v);
	if (strcmp(key, "tpm") == 0)
		return set_uint(&e->tpm, v);
	if (strcmp(key, "timeout_s") == 0 || strcmp(key, "timeout") == 0)
		return set_duration(&e->timeout_ms, v);
	errno = ENOENT;
	return -1;
}

static int
set_archive(struct config *c, const char *v)
{
	if (strcmp(v, "tar.gz") == 0)
		c->archive = ARCHIVE_TAR_GZ;
	else if (strcmp(v, "tar.zst") == 0)
		c->archive = ARCHIVE_TAR_ZST;
	else if (strcmp(v, "zip") == 0)
		c->archive = ARCHIVE_ZIP;
	else if (strcmp(v, "none") == 0)
		c->archive = ARCHIVE_NONE;
	else
		return -1;
	return 0;
}

static int
set_budget(struct config *c, const char *v)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	/* !isfinite: strtod takes "nan" and "inf", which no budget is. */
	if (errno != 0 || end == v || *end != '\0' || !isfinite(d) || d < 0)
		return -1;
	c->budget = d;
	return 0;
}

/* Loads the table now, so that a bad one fails --check-config. */
static int
set_prices(struct config *c, const char *v, struct err *why)
{
	struct prices *p;

	if ((p = prices_load(v, why)) == NULL) {
		errno = EINVAL;	/* not "unknown key" */
		return -1;
	}
	prices_free(c->prices);
	c->prices = p;
	config_set_str(&c->prices_path, v);
	return 0;
}

/* why.msg may say more about an invalid value. */
static int
set_key(struct config *c, const char *s, const char *k, const char *v,
    struct err *why)
{
	int lvl;

	/* Parsers that fail say EINVAL; falling through means unknown. */
	errno = EINVAL;
	if (strncmp(s, "endpoint", 8) == 0 && (s[8] == '\0' || s[8] == ' '))
		return set_endpoint_key(c, s, k, v, why);
	if (strcmp(s, "spool") == 0) {
		if (strcmp(k, "dir") == 0) {
			config_set_str(&c->spool_dir, v);
			return 0;
		}
		if (strcmp(k, "settle") == 0)
			return set_duration(&c->settle_ms, v);
		if (strcmp(k, "rescan") == 0)
			return set_duration(&c->rescan_ms, v);
		if (strcmp(k, "lease") == 0)
			return set_duration(&c->lease_ms, v);
		if (strcmp(k, "incomplete_after") == 0)
			return set_duration(&c->incomplete_after_ms, v);
		if (strcmp(k, "user") == 0) {
			config_set_str(&c->user, v);
			return 0;
		}
		if (strcmp(k, "group") == 0) {
			config_set_str(&c->group, v);
			return 0;
		}
		if (strcmp(k, "require_ready") == 0)
			return set_bool(&c->require_ready, v);
		if (strcmp(k, "max_file_size") == 0)
			return set_size(&c->max_file_bytes, v);
		if (strcmp(k, "max_line_length") == 0)
			return set_size(&c->max_line_bytes, v);
		if (strcmp(k, "max_json_depth") == 0)
			return set_uint(&c->max_json_depth, v);
		if (strcmp(k, "max_requests") == 0)
			return set_uint(&c->max_requests, v);
		if (strcmp(k, "max_response_size") == 0)
			return set_size(&c->max_response_bytes, v);
	} else if (strcmp(s, "workers") == 0) {
		if (strcmp(k, "processes") == 0)
			return set_uint(&c->processes, v);
		if (strcmp(k, "drain_timeout") == 0)
			return set_duration(&c->drain_timeout_ms, v);
		if (strcmp(k, "inflight") == 0)
			return set_uint(&c->inflight, v);
	} else if (strcmp(s, "retry") == 0) {
		if (strcmp(k, "max_attempts") == 0)
			return set_uint(&c->max_attempts, v);
		if (strcmp(k, "backoff_base") == 0)
			return set_duration(&c->backoff_base_ms, v);
		if (strcmp(k, "backoff_max") == 0)
			return set_duration(&c->backoff_max_ms, v);
	} else if (strcmp(s, "batch") == 0) {
		if (strcmp(k, "max_tasks") == 0)
			return set_uint(&c->max_tasks, v);
		if (strcmp(k, "max_age") == 0)
			return set_duration(&c->max_age_ms, v);
		if (strcmp(k, "settle") == 0)
			return set_duration(&c->batch_settle_ms, v);
		if (strcmp(k, "ready_marker") == 0) {
			/* A plain name that is not itself a batch input. */
			if (strlen(v) >= sizeof(c->ready_marker) ||
			    !spool_name_ok(v) || strchr(v, '/') != NULL ||
			    spool_name_kind(v) == SPOOL_KIND_JSON ||
			    spool_name_kind(v) == SPOOL_KIND_JSONL)
				return -1;
			snprintf(c->ready_marker, sizeof(c->ready_marker), "%s",
			    v);
			return 0;
		}
		if (strcmp(k, "completion_window") == 0)
			return set_duration(&c->completion_window_ms, v);
		if (strcmp(k, "archive") == 0)
			return set_archive(c, v);
		if (strcmp(k, "archive_input") == 0)
			return set_bool(&c->archive_input, v);
		if (strcmp(k, "sort_output") == 0)
			return set_bool(&c->sort_output, v);
		if (strcmp(k, "budget") == 0)
			return set_budget(c, v);
		if (strcmp(k, "prices") == 0)
			return set_prices(c, v, why);
		if (strcmp(k, "on_complete") == 0) {
			/* Split like an exec endpoint's command: no shell. */
			free_argv(c->on_complete_argv);
			c->on_complete_argv = NULL;
			if (*v == '\0') {
				config_set_str(&c->on_complete, NULL);
				return 0;
			}
			if (parse_argv(v, &c->on_complete_argv, why) == -1)
				return -1;
			config_set_str(&c->on_complete, v);
			return 0;
		}
		if (strcmp(k, "webhook") == 0) {
			config_set_str(&c->webhook, *v == '\0' ? NULL : v);
			return 0;
		}
	} else if (strcmp(s, "schedule") == 0) {
		if (strcmp(k, "active_hours") == 0) {
			config_set_str(&c->active_hours, v);
			return 0;
		}
	} else if (strcmp(s, "metrics") == 0) {
		if (strcmp(k, "listen") == 0) {
			config_set_str(&c->metrics_listen, v);
			return 0;
		}
		if (strcmp(k, "textfile") == 0) {
			config_set_str(&c->metrics_textfile, v);
			return 0;
		}
	} else if (strcmp(s, "log") == 0) {
		if (strcmp(k, "level") == 0) {
			if ((lvl = log_level_parse(v)) == -1)
				return -1;
			c->log_level = lvl;
			return 0;
		}
		if (strcmp(k, "format") == 0) {
			if (strcmp(v, "text") == 0)
				c->log_format = LOG_FORMAT_TEXT;
			else if (strcmp(v, "json") == 0)
				c->log_format = LOG_FORMAT_JSON;
			else
				return -1;
			return 0;
		}
		if (strcmp(k, "syslog") == 0)
			return set_bool(&c->log_syslog, v);
	}
	errno = ENOENT;
	return -1;
}

static int
on_ini_value(void *user, const char *section, const char *name,
    const char *value)
{
	struct load_ctx *ctx = user;
	struct err why;

	if (ctx->failed)
		return 0;
	if (name == NULL)	/* a section header alone */
		return 1;
	why.msg[0] = '\0';
	if (set_key(ctx->c, section, name, value, &why) == -1) {
		/* inih reports the line: finish_load adds it. */
		err_set(ctx->err, "config", "%s [%s] %s = %s%s%s",
		    errno == ENOENT ? "unknown key" : "invalid value for",
		    section, name, value, why.msg[0] != '\0' ? ": " : "",
		    why.msg);
		ctx->failed = 1;
		return 0;
	}
	return 1;
}

static int
finish_load(struct load_ctx *ctx, int r)
{
	char msg[sizeof(ctx->err->msg)];

	if (ctx->failed) {
		snprintf(msg, sizeof(msg), "%s", ctx->err->msg);
		err_set(ctx->err, "config", "%s:%d: %s", ctx->path, r, msg);
		return -1;
	}
	if (r == -1) {
		err_set(ctx->err, "config", "%s: cannot open: %s", ctx->path,
		    strerror(errno));
		return -1;
	}
	if (r != 0) {
		err_set(ctx->err, "config", "%s:%d: syntax error", ctx->path,
		    r);
		return -1;
	}
	return 0;
}

int
config_load_file(struct config *c, const char *path, struct err *err)
{
	struct load_ctx ctx = { c, err, path, 0 };

	return finish_load(&ctx, ini_parse(path, on_ini_value, &ctx));
}

int
config_load_string(struct config *c, const char *text, struct err *err)
{
	struct load_ctx ctx = { c, err, "(string)", 0 };

	return finish_load(&ctx, ini_parse_string(text, on_ini_value, &ctx));
}

int
config_validate(const struct config *c, struct err *err)
{
	const struct endpoint_config *e;
	struct schedule sched;
	int i;

	if (c->processes < 1 || c->processes > 256) {
		err_set(err, "config", "workers.processes must be 1..256");
		return -1;
	}
	if (c->inflight < 1 || c->inflight > 100000) {
		err_set(err, "config", "workers.inflight must be 1..100000");
		return -1;
	}
	if (c->max_attempts < 1 || c->max_attempts > SPOOL_MAX_ATTEMPTS) {
		err_set(err, "config", "retry.max_attempts must be 1..%d",
		    SPOOL_MAX_ATTEMPTS);
		return -1;
	}
	if (c->max_tasks < 1) {
		err_set(err, "config", "batch.max_tasks must be at least 1");
		return -1;
	}
	if (c->backoff_base_ms > c->backoff_max_ms) {
		err_set(err, "config",
		    "retry.backoff_base is larger than retry.backoff_max");
		return -1;
	}
	if (schedule_parse(c->active_hours, &sched, err) == -1)
		return -1;
	/* Like an exec endpoint's command, the hook runs in /. */
	if (c->on_complete_argv != NULL &&
	    c->on_complete_argv[0][0] != '/' &&
	    strchr(c->on_complete_argv[0], '/') != NULL) {
		err_set(err, "config", "batch.on_complete must be an absolute "
		    "path or a program name");
		return -1;
	}
	/* No file://, no ftp://: the manifest goes over HTTP only. */
	if (c->webhook != NULL && strncmp(c->webhook, "http://", 7) != 0 &&
	    strncmp(c->webhook, "https://", 8) != 0) {
		err_set(err, "config", "batch.webhook must start with http:// "
		    "or https://");
		return -1;
	}
	for (i = 0; i < c->nendpoints; i++) {
		e = &c->endpoints[i];
		if (e->type == ENDPOINT_EXEC) {
			if (e->argv == NULL) {
				err_set(err, "config", "endpoint %s: type exec "
				    "needs a command", e->name);
				return -1;
			}
			/* The command runs in /: a relative path would
			 * name another program than the one meant. */
			if (e->argv[0][0] != '/' &&
			    strchr(e->argv[0], '/') != NULL) {
				err_set(err, "config", "endpoint %s: command "
				    "must be an absolute path or a program "
				    "name", e->name);
				return -1;
			}
			continue;
		}
		if (strncmp(e->base_url, "http://", 7) != 0 &&
		    strncmp(e->base_url, "https://", 8) != 0) {
			err_set(err, "config", "endpoint %s: base_url must "
			    "start with http:// or https://", e->name);
			return -1;
		}
		if (e->api_key_env != NULL && e->api_key_file != NULL) {
			err_set(err, "config", "endpoint %s: api_key_env and "
			    "api_key_file are exclusive", e->name);
			return -1;
		}
		/* A key file that cannot be used stops us at the start,
		 * not at the first request. */
		if (e->api_key_file != NULL) {
			char *key = config_endpoint_key(e, err);

			if (key == NULL)
				return -1;
			explicit_bzero(key, strlen(key));
			free(key);
		}
	}
	if (c->budget > 0 && c->prices == NULL) {
		err_set(err, "config", "batch.budget needs a price table "
		    "(batch.prices)");
		return -1;
	}
	if (c->metrics_listen != NULL) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (config_listen_addr(c->metrics_listen, &ss, &len, err) == -1)
			return -1;
	}
	if (c->metrics_textfile != NULL && c->metrics_textfile[0] != '/') {
		err_set(err, "config", "metrics.textfile must be an absolute "
		    "path");
		return -1;
	}
	return 0;
}

int
config_load_source(struct config *c, const struct config_source *src,
    struct err *err)
{
	config_init(c);
	if ((src->file != NULL && config_load_file(c, src->file, err) == -1))
		goto fail;
	if (src->spool_dir != NULL)
		config_set_str(&c->spool_dir, src->spool_dir);
	if (src->base_url != NULL)
		config_set_str(&c->endpoints[0].base_url, src->base_url);
	if (src->processes > 0)
		c->processes = src->processes;
	if (src->debug)
		c->log_level = LOG_LEVEL_DEBUG;
	if (config_validate(c, err) == -1)
		goto fail;
	return 0;
fail:
	config_release(c);
	return -1;
}

#define KEY_FILE_MAX	4096

char *
config_endpoint_key(const struct endpoint_config *e, struct err *err)
{
	char buf[KEY_FILE_MAX + 1];
	const char *v;
	struct stat st;
	ssize_t n;
	int fd;

	if (e->api_key_env != NULL) {
		if ((v = getenv(e->api_key_env)) == NULL || *v == '\0') {
			err_set(err, "config", "endpoint %s: %s is not set",
			    e->name, e->api_key_env);
			return NULL;
		}
		return xstrdup(v);
	}
	if (e->api_key_file == NULL) {
		err_set(err, "config", "endpoint %s: no key", e->name);
		return NULL;
	}
	if ((fd = open(e->api_key_file, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		err_set(err, "config", "endpoint %s: api_key_file %s: %s",
		    e->name, e->api_key_file, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	/* Like ssh with its private keys: readable by the owner only. */
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		err_set(err, "config", "endpoint %s: api_key_file %s must be "
		    "a regular file readable by its owner only (chmod 600)",
		    e->name, e->api_key_file);
		close(fd);
		return NULL;
	}
	n = read_full(fd, buf, KEY_FILE_MAX + 1);
	close(fd);
	if (n < 0 || n > KEY_FILE_MAX) {
		err_set(err, "config", "endpoint %s: api_key_file %s: %s",
		    e->name, e->api_key_file, n < 0 ? strerror(errno) :
		    "too large");
		explicit_bzero(buf, sizeof(buf));
		return NULL;
	}
	/* One line: the key, without the newline editors add. */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	v = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (*v == '\0' || strpbrk(v, "\r\n") != NULL) {
		err_set(err, "config", "endpoint %s: api_key_file %s must "
		    "hold one line", e->name, e->api_key_file);
		free((char *)v);
		return NULL;
	}
	return (char *)v;
}

int
config_route(const struct config *c, const char *endpoint, bool anthropic)
{
	int i;

	if (endpoint != NULL)
		return config_endpoint_index(c, endpoint);
	if (anthropic && c->endpoints[0].type != ENDPOINT_ANTHROPIC)
		for (i = 1; i < c->nendpoints; i++)
			if (c->endpoints[i].type == ENDPOINT_ANTHROPIC)
				return i;
	return 0;
}

/*
 * Numeric addresses only: a host name would tie the start to a resolver,
 * and an operator who names an address means that one.
 */
int
config_listen_addr(const char *s, struct sockaddr_storage *ss,
    socklen_t *len, struct err *err)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = s, *p;
	size_t n = 0;
	uint64_t v;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		if ((p = strchr(s, ']')) == NULL || p[1] != ':')
			goto bad;
		n = (size_t)(p - s - 1);
		if (n == 0 || n >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, n);
		port = p + 2;
	} else if ((p = strrchr(s, ':')) != NULL) {
		n = (size_t)(p - s);
		if (n >= sizeof(host))
			goto bad;
		memcpy(host, s, n);
		port = p + 1;
		/* An IPv6 address needs its brackets: "::1:80" is ambiguous. */
		if (memchr(host, ':', n) != NULL)
			goto bad;
	}
	host[n] = '\0';
	if (parse_uint(port, 65535, &v) == -1 || v == 0)
		goto bad;
	if (n == 0 || strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)v);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)v);
		*len = sizeof(*sin6);
		return 0;
	}
bad:
	err_set(err, "config", "metrics.listen: %s: want PORT, ADDRESS:PORT "
	    "or [ADDRESS]:PORT with a numeric address", s);
	return -1;
}
