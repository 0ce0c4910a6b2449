/*
 * spoold - asynchronous, fault-tolerant bulk processing of LLM requests
 * dropped into a spool directory.  main(): options, configuration, then
 * either the supervisor or (re-executed with --worker) a worker.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "privs.h"
#include "supervisor.h"
#include "util.h"
#include "worker.h"

#define SPOOLD_VERSION	"0.1.0"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: spoold [-c FILE] [-d SPOOL] [-e BASE_URL] [-w PROCESSES]"
	    " [--once]\n"
	    "              [--check-config] [-v] [--version] [--help]\n"
	    "  -c FILE        configuration file (INI)\n"
	    "  -d SPOOL       spool directory (spool.dir)\n"
	    "  -e BASE_URL    base URL of the default endpoint\n"
	    "  -w PROCESSES   worker processes (workers.processes)\n"
	    "  --once         process what is in new/, wait, exit\n"
	    "  --check-config check the configuration and exit\n"
	    "  -v             debug log output\n");
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "worker", required_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 }
	};
	struct config_source src = { NULL, NULL, NULL, 0, false };
	struct config cfg;
	struct err err;
	const char *conf = NULL, *dir = NULL, *url = NULL, *procs = NULL;
	char self[PATH_MAX], label[32];
	bool once = false, check = false;
	uint64_t fd;
	ssize_t len;
	int ch, verbose = 0, r;

	while ((ch = getopt_long(argc, argv, "c:d:e:w:vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'e':
			url = optarg;
			break;
		case 'w':
			procs = optarg;
			break;
		case 'o':
			once = true;
			break;
		case 'C':
			check = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("spoold %s\n", SPOOLD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'W':
			if (parse_uint(optarg, 1023, &fd) == -1)
				return 64;
			snprintf(label, sizeof(label), "worker %s",
			    optind < argc ? argv[optind] : "?");
			log_procinit(label);
			/* The supervisor's level travels in the env. */
			if (getenv("SPOOLD_LOG_LEVEL") != NULL &&
			    log_level_parse(getenv("SPOOLD_LOG_LEVEL")) >= 0)
				log_set_level(log_level_parse(
				    getenv("SPOOLD_LOG_LEVEL")));
			return worker_main((int)fd);
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	src.file = conf;
	src.spool_dir = dir;
	src.base_url = url;
	src.debug = verbose > 0;
	if (procs != NULL && parse_uint(procs, 256, &src.processes) == -1) {
		fprintf(stderr, "spoold: -w: invalid number %s\n", procs);
		return 64;
	}
	if (config_load_source(&cfg, &src, &err) == -1) {
		fprintf(stderr, "spoold: %s\n", err.msg);
		return 78;
	}
	if (check) {
		printf("spoold: configuration OK\n");
		config_release(&cfg);
		return 0;
	}
	log_init((enum log_level)cfg.log_level, (enum log_format)cfg.log_format,
	    cfg.log_syslog);
	setenv("SPOOLD_LOG_LEVEL", cfg.log_level == LOG_LEVEL_DEBUG ? "debug" :
	    cfg.log_level == LOG_LEVEL_INFO ? "info" :
	    cfg.log_level == LOG_LEVEL_WARN ? "warn" : "error", 1);
	/* Before the spool is touched (SPEC §7); workers inherit it. */
	privs_no_core();
	if (privs_drop(cfg.user, cfg.group, &err) == -1) {
		log_errorx("%s", err.msg);
		config_release(&cfg);
		return 77;
	}
	/* A notice, not a warning: tests and containers run as root. */
	if (geteuid() == 0)
		log_info("running as root: set spool.user to drop it");
	/* Workers are this binary re-executed: find it once, now. */
	if ((len = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1) {
		log_error("readlink /proc/self/exe");
		config_release(&cfg);
		return 71;
	}
	self[len] = '\0';
	r = supervisor_main(&cfg, &src, self, once);
	config_release(&cfg);
	return r;
}
