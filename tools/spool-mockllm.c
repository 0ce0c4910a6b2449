/*
 * spool-mockllm -- a deterministic mock of the OpenAI and Anthropic HTTP
 * APIs, used by spoold's demo, end-to-end tests and benchmarks.
 *
 * It listens on 127.0.0.1 only and answers /v1/chat/completions,
 * /v1/completions, /v1/embeddings, /v1/messages, /v1/models and /stats.
 * Replies are derived from the request alone, so runs are reproducible.
 * Latency, errors and rate limits can be injected globally by option, or
 * per request by header or by model name (so that batch data alone can
 * script a test).  Delayed requests are suspended inside libmicrohttpd and
 * resumed by a timer thread, so a few threads hold thousands of slow
 * requests without sleeping.
 *
 * This file holds the options, start-up and shutdown.  The rest is in
 * mock_handler.c (answering a request), mock_faults.c (scripted and
 * random failures), mock_limits.c (--rpm, --tpm, --max-concurrent),
 * mock_reply.c and mock_schema.c (response bodies), mock_timer.c
 * (delays), mock_stats.c (/stats and --log) and mock.c (shared bits).
 */

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "mock.h"
#include "mock_faults.h"
#include "mock_handler.h"
#include "mock_limits.h"
#include "mock_stats.h"
#include "mock_timer.h"

#define MOCK_VERSION	"spool-mockllm 0.1"
#define RPM_MAX		10000000L
#define TPM_MAX		1000000000L
#define CONC_MAX	1000000L
#define CONC_FOR_MAX	86400000L

/* Write "value\n" to path through a temporary file and rename(2). */
static int
write_atomic(const char *path, long value)
{
	char tmp[4096], buf[32];
	int fd, n;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof(tmp))
		return -1;
	n = snprintf(buf, sizeof(buf), "%ld\n", value);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		return -1;
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static double
parse_frac(const char *s, const char *name)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0 && v <= 1)) {
		fprintf(stderr, "spool-mockllm: %s: want a number in 0..1\n",
		    name);
		exit(2);
	}
	return v;
}

static long
need_long(const char *s, long lo, long hi, const char *name)
{
	long v;

	if (!parse_long(s, lo, hi, &v)) {
		fprintf(stderr, "spool-mockllm: %s: want an integer in "
		    "%ld..%ld\n", name, lo, hi);
		exit(2);
	}
	return v;
}

static void __attribute__((noreturn))
usage(int code)
{
	fprintf(code == 0 ? stdout : stderr,
	    "usage: spool-mockllm [-q] [--port N] [--host 127.0.0.1] "
	    "[--portfile FILE]\n"
	    "       [--pidfile FILE] [--threads N] [--latency MS] "
	    "[--latency-jitter MS]\n"
	    "       [--fail-rate F] [--rate-429 F] [--reset-rate F] "
	    "[--truncate-rate F]\n"
	    "       [--hang-rate F] [--rpm N] [--tpm N] [--max-concurrent N]\n"
	    "       [--max-concurrent-for MS] [--rate-window MS] [--seed N]\n"
	    "       [--log FILE]\n"
	    "       [--help] [--version]\n");
	exit(code);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "portfile", required_argument, NULL, 'P' },
		{ "pidfile", required_argument, NULL, 'i' },
		{ "threads", required_argument, NULL, 't' },
		{ "latency", required_argument, NULL, 'l' },
		{ "latency-jitter", required_argument, NULL, 'j' },
		{ "fail-rate", required_argument, NULL, 'f' },
		{ "rate-429", required_argument, NULL, 'r' },
		{ "reset-rate", required_argument, NULL, 'x' },
		{ "truncate-rate", required_argument, NULL, 'c' },
		{ "hang-rate", required_argument, NULL, 'g' },
		{ "rpm", required_argument, NULL, 'R' },
		{ "tpm", required_argument, NULL, 'T' },
		{ "max-concurrent", required_argument, NULL, 'C' },
		{ "max-concurrent-for", required_argument, NULL, 'F' },
		{ "rate-window", required_argument, NULL, 'W' },
		{ "seed", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned long long seed;
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "qhV", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			opt.port = need_long(optarg, 0, 65535, "--port");
			break;
		case 'H':
			if (strcmp(optarg, "127.0.0.1") != 0) {
				fprintf(stderr, "spool-mockllm: --host: only "
				    "127.0.0.1 is supported\n");
				exit(2);
			}
			break;
		case 'P':
			opt.portfile = optarg;
			break;
		case 'i':
			opt.pidfile = optarg;
			break;
		case 't':
			opt.threads = need_long(optarg, 1, 1024, "--threads");
			break;
		case 'l':
			opt.latency = need_long(optarg, 0, LATENCY_MAX,
			    "--latency");
			break;
		case 'j':
			opt.jitter = need_long(optarg, 0, LATENCY_MAX,
			    "--latency-jitter");
			break;
		case 'f':
			opt.fail_rate = parse_frac(optarg, "--fail-rate");
			break;
		case 'r':
			opt.rate_429 = parse_frac(optarg, "--rate-429");
			break;
		case 'x':
			opt.reset_rate = parse_frac(optarg, "--reset-rate");
			break;
		case 'c':
			opt.truncate_rate = parse_frac(optarg,
			    "--truncate-rate");
			break;
		case 'g':
			opt.hang_rate = parse_frac(optarg, "--hang-rate");
			break;
		case 'R':
			opt.rpm = need_long(optarg, 0, RPM_MAX, "--rpm");
			break;
		case 'T':
			opt.tpm = need_long(optarg, 0, TPM_MAX, "--tpm");
			break;
		case 'C':
			opt.max_conc = need_long(optarg, 0, CONC_MAX,
			    "--max-concurrent");
			break;
		case 'F':
			opt.max_conc_for = need_long(optarg, 0, CONC_FOR_MAX,
			    "--max-concurrent-for");
			break;
		case 'W':
			opt.window = need_long(optarg, 1, LATENCY_MAX,
			    "--rate-window");
			break;
		case 's':
			errno = 0;
			seed = strtoull(optarg, &end, 0);
			if (errno != 0 || end == optarg || *end != '\0') {
				fprintf(stderr, "spool-mockllm: --seed: want "
				    "an unsigned integer\n");
				exit(2);
			}
			opt.seed = seed;
			break;
		case 'L':
			opt.logfile = optarg;
			break;
		case 'q':
			opt.quiet = true;
			break;
		case 'h':
			usage(0);
		case 'V':
			puts(MOCK_VERSION);
			exit(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct sigaction sact;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	struct rlimit rlim;
	sigset_t set;
	unsigned int flags, port;
	long ncpu;
	int sig;

	parse_args(argc, argv);
	if (opt.threads == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		opt.threads = ncpu > 0 ? (ncpu < 1024 ? ncpu : 1024) : 1;
	}
	id_init();

	/* Thousands of concurrent slow requests need thousands of fds. */
	if (getrlimit(RLIMIT_NOFILE, &rlim) == 0 &&
	    rlim.rlim_cur < rlim.rlim_max) {
		rlim.rlim_cur = rlim.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rlim);
	}

	/* Signals are taken synchronously by sigwait in this thread. */
	memset(&sact, 0, sizeof(sact));
	sact.sa_handler = SIG_IGN;
	sigemptyset(&sact.sa_mask);
	sigaction(SIGPIPE, &sact, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (opt.logfile != NULL && stats_log_open(opt.logfile) == -1) {
		fprintf(stderr, "spool-mockllm: %s: %s\n", opt.logfile,
		    strerror(errno));
		return 1;
	}
	if (limits_init() == -1) {
		fprintf(stderr, "spool-mockllm: out of memory\n");
		return 1;
	}
	if (timer_start() == -1) {
		fprintf(stderr, "spool-mockllm: pthread_create: %s\n",
		    strerror(errno));
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)opt.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
	if (!opt.quiet)
		flags |= MHD_USE_ERROR_LOG;
	d = MHD_start_daemon(flags, (uint16_t)opt.port, NULL, NULL,
	    handler_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opt.threads,
	    MHD_OPTION_CONNECTION_LIMIT, 10000U,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)8192,
	    MHD_OPTION_CONNECTION_TIMEOUT, 120U,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096U,
	    MHD_OPTION_NOTIFY_COMPLETED, handler_completed, NULL,
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "spool-mockllm: cannot listen on "
		    "127.0.0.1:%ld\n", opt.port);
		timer_stop();
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port = info != NULL ? info->port : (unsigned int)opt.port;
	if (opt.pidfile != NULL && write_atomic(opt.pidfile,
	    (long)getpid()) == -1)
		fprintf(stderr, "spool-mockllm: %s: %s\n", opt.pidfile,
		    strerror(errno));
	/* The portfile last: its appearance means "ready". */
	if (opt.portfile != NULL && write_atomic(opt.portfile,
	    (long)port) == -1)
		fprintf(stderr, "spool-mockllm: %s: %s\n", opt.portfile,
		    strerror(errno));
	if (!opt.quiet)
		fprintf(stderr, "spool-mockllm: listening on 127.0.0.1:%u\n",
		    port);

	while (sigwait(&set, &sig) != 0)
		;
	timer_stop();
	MHD_stop_daemon(d);
	if (opt.pidfile != NULL)
		unlink(opt.pidfile);
	stats_log_close();
	timer_free();
	limits_free();
	faults_free();
	return 0;
}
