/*
 * config - the INI configuration (SPEC §6) as a plain struct with every
 * default filled in.  Parsing never logs: errors name the file, line and
 * key in a struct err.
 */
#ifndef SPOOLD_CONFIG_H
#define SPOOLD_CONFIG_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stdint.h>

#include "spool_limits.h"
#include "util.h"

struct prices;

enum endpoint_type { ENDPOINT_OPENAI, ENDPOINT_ANTHROPIC, ENDPOINT_EXEC };
enum archive_format { ARCHIVE_TAR_GZ, ARCHIVE_TAR_ZST, ARCHIVE_ZIP,
    ARCHIVE_NONE };

struct endpoint_config {
	char			 name[SPOOL_ENDPOINT_NAME_MAX + 1];
	enum endpoint_type	 type;
	char			*base_url;
	char			*api_key_env;
	char			*api_key_file;
	char			*ca_file;	/* CA bundle for TLS */
	char			*command;	/* exec endpoints */
	char			**argv;		/* command split; NULL-ended */
	uint64_t		 memory_limit;	/* exec: RLIMIT_AS; 0: none */
	uint64_t		 max_inflight;	/* 0: no limit */
	bool			 max_inflight_set;
	uint64_t		 rpm;		/* 0: no limit */
	uint64_t		 tpm;		/* 0: no limit */
	uint64_t		 timeout_ms;
};

struct config {
	/* [spool] */
	char		*spool_dir;
	uint64_t	 settle_ms;
	uint64_t	 rescan_ms;
	uint64_t	 lease_ms;
	uint64_t	 incomplete_after_ms;
	bool		 require_ready;
	char		*user;		/* started as root: become this */
	char		*group;
	uint64_t	 max_file_bytes;
	uint64_t	 max_line_bytes;
	uint64_t	 max_json_depth;
	uint64_t	 max_requests;
	uint64_t	 max_response_bytes;
	/* [workers] */
	uint64_t	 processes;
	uint64_t	 inflight;
	uint64_t	 drain_timeout_ms;
	/* [endpoint NAME]; endpoints[0] is always "default" */
	struct endpoint_config endpoints[SPOOL_MAX_ENDPOINTS];
	int		 nendpoints;
	/* [retry] */
	uint64_t	 max_attempts;
	uint64_t	 backoff_base_ms;
	uint64_t	 backoff_max_ms;
	/* [batch] */
	uint64_t	 max_tasks;
	uint64_t	 max_age_ms;
	uint64_t	 batch_settle_ms;	/* 0: unset */
	char		 ready_marker[64];	/* seals a directory batch */
	uint64_t	 completion_window_ms;
	enum archive_format archive;
	bool		 archive_input;
	bool		 sort_output;
	double		 budget;		/* 0: none */
	char		*prices_path;		/* the price table */
	struct prices	*prices;		/* loaded; NULL: none */
	char		*on_complete;
	char		**on_complete_argv;	/* split; NULL-ended */
	char		*webhook;
	/* [schedule] */
	char		*active_hours;
	/* [metrics] */
	char		*metrics_listen;
	char		*metrics_textfile;
	/* [log] */
	int		 log_level;		/* enum log_level */
	int		 log_format;		/* enum log_format */
	bool		 log_syslog;
};

/* Where a configuration comes from: a file, then command-line flags. */
struct config_source {
	const char	*file;		/* NULL: defaults only */
	const char	*spool_dir;	/* -d */
	const char	*base_url;	/* -e */
	uint64_t	 processes;	/* -w; 0: unset */
	bool		 debug;		/* -v */
};

/* Fills every default; the "default" endpoint exists. */
void	config_init(struct config *c);
/* Frees the strings; the struct may be config_init'ed again. */
void	config_release(struct config *c);
/* Reads an INI file over the current values; -1 with err on failure. */
int	config_load_file(struct config *c, const char *path, struct err *err);
int	config_load_string(struct config *c, const char *text, struct err *err);
/*
 * config_init, the file, the flags, config_validate: the whole path, at
 * the start and on SIGHUP.  -1 with err (c is then released).
 */
int	config_load_source(struct config *c, const struct config_source *src,
	    struct err *err);
/* Cross-field checks after loading and flags; -1 with err. */
int	config_validate(const struct config *c, struct err *err);
/* Returns borrowed: the endpoint named name, or NULL. */
const struct endpoint_config *config_endpoint(const struct config *c,
	    const char *name);
/* Index of the endpoint named name, or -1. */
int	config_endpoint_index(const struct config *c, const char *name);
/*
 * The endpoint's API key, from api_key_env or api_key_file (refused if
 * group or world may read it).  Returns owned (wipe it after use), or
 * NULL with err when there is none or it cannot be used.
 */
char	*config_endpoint_key(const struct endpoint_config *e,
	    struct err *err);
/*
 * The endpoint serving a line: the one it names, else for an Anthropic
 * line the first endpoint of type anthropic, else "default".  -1 if it
 * names an unknown endpoint.
 */
int	config_route(const struct config *c, const char *endpoint,
	    bool anthropic);
/*
 * Parses metrics.listen: "PORT" (on 127.0.0.1), "ADDRESS:PORT" or
 * "[ADDRESS]:PORT" with a numeric IPv4 or IPv6 address ("localhost" is
 * 127.0.0.1).  0, or -1 with err.
 */
int	config_listen_addr(const char *s, struct sockaddr_storage *ss,
	    socklen_t *len, struct err *err);
/* Sets a string field, freeing the old value. */
void	config_set_str(char **field, const char *value);
const char *config_archive_suffix(enum archive_format f);

#endif
