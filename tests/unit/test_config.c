/*
 * test_config - defaults, INI loading and cross-field validation.
 */
#include <sys/stat.h>

#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "prices.h"
#include "util.h"

static const char full_sample[] =
	"# every section\n"
	"[spool]\n"
	"dir = /tmp/spool-test\n"
	"settle = 3s\n"
	"rescan = 750ms\n"
	"lease = 2m\n"
	"incomplete_after = 2h\n"
	"require_ready = yes\n"
	"max_file_size = 1G\n"
	"max_line_length = 1M\n"
	"max_json_depth = 32\n"
	"max_requests = 5000\n"
	"max_response_size = 4M\n"
	"\n"
	"[workers]\n"
	"processes = 4\n"
	"inflight = 64\n"
	"\n"
	"[endpoint default]\n"
	"base_url = http://127.0.0.1:8080\n"
	"api_key_env = OPENAI_API_KEY\n"
	"max_inflight = 16\n"
	"rpm = 500\n"
	"tpm = 200000\n"
	"timeout = 90s\n"
	"\n"
	"[endpoint other]\n"
	"type = anthropic\n"
	"base_url = https://api.anthropic.com\n"
	"api_key_file = /etc/spoold/anthropic.key\n"
	"\n"
	"[retry]\n"
	"max_attempts = 7\n"
	"backoff_base = 500ms\n"
	"backoff_max = 30s\n"
	"\n"
	"[batch]\n"
	"max_tasks = 250\n"
	"max_age = 10m\n"
	"settle = 5s\n"
	"completion_window = 12h\n"
	"archive = zip\n"
	"archive_input = true\n"
	"sort_output = on\n"
	"budget = 12.5\n"
	"on_complete = /usr/local/bin/notify\n"
	"webhook = https://hooks.example/x\n"
	"\n"
	"[schedule]\n"
	"active_hours = 22:00-06:00\n"
	"\n"
	"[metrics]\n"
	"listen = 127.0.0.1:9464\n"
	"textfile = /var/lib/node_exporter/spoold.prom\n"
	"\n"
	"[log]\n"
	"level = debug\n"
	"format = json\n"
	"syslog = no\n";

static void
test_config_defaults(void **state)
{
	struct config c;
	struct err err;
	const struct endpoint_config *e;

	(void)state;
	config_init(&c);
	assert_int_equal(c.settle_ms, 2000);
	assert_int_equal(c.processes, 2);
	assert_int_equal(c.max_attempts, 5);
	assert_int_equal(c.nendpoints, 1);
	assert_string_equal(c.endpoints[0].name, "default");
	assert_int_equal(config_endpoint_index(&c, "default"), 0);
	assert_int_equal(c.endpoints[0].type, ENDPOINT_OPENAI);
	assert_non_null(c.endpoints[0].base_url);
	assert_int_equal(c.archive, ARCHIVE_TAR_GZ);
	assert_int_equal(c.max_tasks, 1000);
	assert_non_null(c.spool_dir);
	assert_false(c.require_ready);
	assert_int_equal(c.log_level, LOG_LEVEL_INFO);
	e = config_endpoint(&c, "default");
	assert_ptr_equal(e, &c.endpoints[0]);
	/* The defaults are themselves valid. */
	assert_int_equal(config_validate(&c, &err), 0);
	config_release(&c);
}

static void
test_config_full_sample(void **state)
{
	struct config c;
	struct err err;
	const struct endpoint_config *d, *o;

	(void)state;
	config_init(&c);
	memset(&err, 0, sizeof(err));
	if (config_load_string(&c, full_sample, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	assert_string_equal(c.spool_dir, "/tmp/spool-test");
	assert_int_equal(c.settle_ms, 3000);
	assert_int_equal(c.rescan_ms, 750);
	assert_int_equal(c.lease_ms, 120000);
	assert_int_equal(c.incomplete_after_ms, 2 * 3600000);
	assert_true(c.require_ready);
	assert_int_equal(c.max_file_bytes, 1ULL << 30);
	assert_int_equal(c.max_line_bytes, 1ULL << 20);
	assert_int_equal(c.max_json_depth, 32);
	assert_int_equal(c.max_requests, 5000);
	assert_int_equal(c.max_response_bytes, 4ULL << 20);
	assert_int_equal(c.processes, 4);
	assert_int_equal(c.inflight, 64);

	assert_int_equal(c.nendpoints, 2);
	d = config_endpoint(&c, "default");
	assert_non_null(d);
	assert_ptr_equal(d, &c.endpoints[0]);
	assert_int_equal(d->type, ENDPOINT_OPENAI);
	assert_string_equal(d->base_url, "http://127.0.0.1:8080");
	assert_string_equal(d->api_key_env, "OPENAI_API_KEY");
	assert_int_equal(d->max_inflight, 16);
	assert_int_equal(d->rpm, 500);
	assert_int_equal(d->tpm, 200000);
	assert_int_equal(d->timeout_ms, 90000);
	o = config_endpoint(&c, "other");
	assert_non_null(o);
	assert_int_equal(o->type, ENDPOINT_ANTHROPIC);
	assert_string_equal(o->base_url, "https://api.anthropic.com");
	assert_string_equal(o->api_key_file, "/etc/spoold/anthropic.key");

	assert_int_equal(c.max_attempts, 7);
	assert_int_equal(c.backoff_base_ms, 500);
	assert_int_equal(c.backoff_max_ms, 30000);
	assert_int_equal(c.max_tasks, 250);
	assert_int_equal(c.max_age_ms, 600000);
	assert_int_equal(c.batch_settle_ms, 5000);
	assert_int_equal(c.completion_window_ms, 12 * 3600000);
	assert_int_equal(c.archive, ARCHIVE_ZIP);
	assert_string_equal(config_archive_suffix(c.archive), ".zip");
	assert_true(c.archive_input);
	assert_true(c.sort_output);
	assert_true(c.budget > 12.49 && c.budget < 12.51);
	assert_string_equal(c.on_complete, "/usr/local/bin/notify");
	assert_string_equal(c.webhook, "https://hooks.example/x");
	assert_string_equal(c.active_hours, "22:00-06:00");
	assert_string_equal(c.metrics_listen, "127.0.0.1:9464");
	assert_string_equal(c.metrics_textfile,
	    "/var/lib/node_exporter/spoold.prom");
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c.log_format, LOG_FORMAT_JSON);
	assert_false(c.log_syslog);

	/* The key file must exist to validate (test_config_key_file). */
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "anthropic.key"));
	config_set_str(&c.endpoints[config_endpoint_index(&c, "other")]
	    .api_key_file, NULL);
	/* A budget needs a price table (test_prices covers the key). */
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "batch.prices"));
	c.prices = prices_parse("* = 1 1\n", 8, "test", &err);
	assert_non_null(c.prices);
	assert_int_equal(config_validate(&c, &err), 0);
	config_release(&c);
}

static void
test_config_bare_endpoint_is_default(void **state)
{
	struct config c;
	struct err err;

	(void)state;
	config_init(&c);
	assert_int_equal(config_load_string(&c,
	    "[endpoint]\nbase_url = https://proxy.local\n", &err), 0);
	assert_int_equal(c.nendpoints, 1);
	assert_string_equal(c.endpoints[0].base_url, "https://proxy.local");
	config_release(&c);
}

/* Loads text into a fresh config expecting failure; returns err.msg. */
static void
expect_load_fail(const char *text, const char *needle)
{
	struct config c;
	struct err err;

	config_init(&c);
	memset(&err, 0, sizeof(err));
	if (config_load_string(&c, text, &err) != -1)
		fail_msg("accepted: %s", text);
	assert_string_equal(err.code, "config");
	if (needle != NULL && strstr(err.msg, needle) == NULL)
		fail_msg("\"%s\" not in \"%s\"", needle, err.msg);
	config_release(&c);
}

static void
test_config_unknown_key(void **state)
{
	(void)state;
	expect_load_fail("[spool]\nsettle = 1s\nfrobnicate = 1\n",
	    "frobnicate");
	expect_load_fail("[spool]\nfrobnicate = 1\n", "unknown key");
	expect_load_fail("[workers]\nproceses = 3\n", "proceses");
	expect_load_fail("[endpoint x]\nbase_uri = http://a\n", "base_uri");
	/* An unknown section is reported by its key as well. */
	expect_load_fail("[nosuch]\nkey = 1\n", "key");
	/* The line number is part of the message. */
	expect_load_fail("[spool]\n\nfrobnicate = 1\n", ":3:");
}

static void
test_config_invalid_value(void **state)
{
	(void)state;
	expect_load_fail("[workers]\nprocesses = abc\n", "processes");
	expect_load_fail("[workers]\nprocesses = abc\n", "invalid value");
	expect_load_fail("[workers]\nprocesses = -1\n", "processes");
	expect_load_fail("[batch]\narchive = rar\n", "archive");
	expect_load_fail("[spool]\nsettle = soon\n", "settle");
	expect_load_fail("[spool]\nrequire_ready = perhaps\n",
	    "require_ready");
	expect_load_fail("[spool]\nmax_file_size = 1T\n", "max_file_size");
	expect_load_fail("[endpoint x]\ntype = grpc\n", "type");
	expect_load_fail("[log]\nlevel = loud\n", "level");
	expect_load_fail("[log]\nformat = xml\n", "format");
	expect_load_fail("[batch]\nbudget = -3\n", "budget");
	expect_load_fail("[batch]\nbudget = lots\n", "budget");
	expect_load_fail("[batch]\nbudget = nan\n", "budget");
	expect_load_fail("[batch]\nbudget = inf\n", "budget");
	expect_load_fail("not an ini line\n", "syntax");
	/* The reason a command cannot be split is given. */
	expect_load_fail("[endpoint x]\ncommand = tr 'a-z A-Z\n",
	    "unterminated '");
	expect_load_fail("[endpoint x]\ncommand =\n", "empty command");
	expect_load_fail("[endpoint x]\nmemory_limit = lots\n",
	    "memory_limit");
}

static void
test_config_exec_endpoint(void **state)
{
	struct config c;
	struct err err;
	const struct endpoint_config *e;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	config_init(&c);
	if (config_load_string(&c, "[endpoint legacy]\ntype = exec\n"
	    "command = /usr/bin/tr \"a-z\" 'A-Z'\ntimeout_s = 10\n"
	    "[endpoint big]\ntype = exec\ncommand = wc\n"
	    "memory_limit = 4G\nmax_inflight = 0\n"
	    "[endpoint few]\nmax_inflight = 2\ntype = exec\n"
	    "command = sort\n", &err) == -1)
		fail_msg("load failed: %s", err.msg);
	assert_int_equal(config_validate(&c, &err), 0);
	e = config_endpoint(&c, "legacy");
	assert_non_null(e);
	assert_int_equal(e->type, ENDPOINT_EXEC);
	assert_string_equal(e->argv[0], "/usr/bin/tr");
	assert_string_equal(e->argv[1], "a-z");
	assert_string_equal(e->argv[2], "A-Z");
	assert_null(e->argv[3]);
	assert_int_equal(e->timeout_ms, 10000);
	assert_int_equal(e->memory_limit, SPOOL_DEF_EXEC_MEMORY);
	/* Exec endpoints default to one run per CPU. */
	assert_int_equal(e->max_inflight, ncpu > 0 ? (uint64_t)ncpu : 1);
	/* Set explicitly, before or after type, it stays. */
	e = config_endpoint(&c, "big");
	assert_int_equal(e->max_inflight, 0);
	assert_int_equal(e->memory_limit, 4ULL << 30);
	e = config_endpoint(&c, "few");
	assert_int_equal(e->max_inflight, 2);
	/* HTTP endpoints keep no limit. */
	assert_int_equal(c.endpoints[0].max_inflight, 0);
	config_release(&c);

	/* A relative path would depend on the daemon's directory. */
	config_init(&c);
	assert_int_equal(config_load_string(&c, "[endpoint x]\ntype = exec\n"
	    "command = bin/tool\n", &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "absolute"));
	config_release(&c);
}

/* batch.on_complete is split like a command; the webhook is http(s). */
static void
test_config_completion(void **state)
{
	struct config c;
	struct err err;

	(void)state;
	config_init(&c);
	assert_null(c.on_complete_argv);
	assert_null(c.webhook);
	if (config_load_string(&c, "[batch]\n"
	    "on_complete = /usr/local/bin/done \"a b\" 'c'\n"
	    "webhook = https://example.com/hook\n", &err) == -1)
		fail_msg("load failed: %s", err.msg);
	assert_int_equal(config_validate(&c, &err), 0);
	assert_string_equal(c.on_complete_argv[0], "/usr/local/bin/done");
	assert_string_equal(c.on_complete_argv[1], "a b");
	assert_string_equal(c.on_complete_argv[2], "c");
	assert_null(c.on_complete_argv[3]);
	/* Set again to nothing: unset. */
	assert_int_equal(config_load_string(&c, "[batch]\non_complete =\n"
	    "webhook =\n", &err), 0);
	assert_null(c.on_complete_argv);
	assert_null(c.on_complete);
	assert_null(c.webhook);
	/* Bad quoting is a load error, with its line. */
	assert_int_equal(config_load_string(&c, "[batch]\n"
	    "on_complete = /bin/x \"open\n", &err), -1);
	/* A relative path would name another program in /. */
	assert_int_equal(config_load_string(&c, "[batch]\n"
	    "on_complete = bin/x\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "on_complete"));
	assert_int_equal(config_load_string(&c, "[batch]\n"
	    "on_complete = true\nwebhook = file:///etc/passwd\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "webhook"));
	assert_int_equal(config_load_string(&c, "[batch]\n"
	    "webhook = http://127.0.0.1:8080/x\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), 0);
	config_release(&c);
}

static void
test_config_validate(void **state)
{
	struct config c;
	struct err err;

	(void)state;
	config_init(&c);
	assert_int_equal(config_load_string(&c, "[workers]\nprocesses = 0\n",
	    &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "processes"));
	config_release(&c);

	config_init(&c);
	assert_int_equal(config_load_string(&c,
	    "[endpoint local]\ntype = exec\n", &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "local"));
	assert_non_null(strstr(err.msg, "command"));
	/* With a command it is fine and needs no base_url. */
	assert_int_equal(config_load_string(&c,
	    "[endpoint local]\ncommand = /bin/cat\nbase_url = none\n", &err),
	    0);
	assert_int_equal(config_validate(&c, &err), 0);
	config_release(&c);

	config_init(&c);
	assert_int_equal(config_load_string(&c,
	    "[endpoint default]\nbase_url = ftp://example.com\n", &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "base_url"));
	config_release(&c);

	config_init(&c);
	assert_int_equal(config_load_string(&c,
	    "[endpoint default]\nbase_url = api.openai.com\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), -1);
	config_release(&c);

	config_init(&c);
	assert_int_equal(config_load_string(&c,
	    "[retry]\nmax_attempts = 101\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), -1);
	config_release(&c);

	config_init(&c);
	assert_int_equal(config_load_string(&c,
	    "[retry]\nbackoff_base = 2m\nbackoff_max = 1m\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), -1);
	config_release(&c);

	config_init(&c);
	assert_int_equal(config_load_string(&c, "[batch]\nmax_tasks = 0\n",
	    &err), 0);
	assert_int_equal(config_validate(&c, &err), -1);
	config_release(&c);
}

static void
test_config_endpoint_index(void **state)
{
	struct config c;
	struct err err;

	(void)state;
	config_init(&c);
	assert_int_equal(config_endpoint_index(&c, "default"), 0);
	assert_int_equal(config_endpoint_index(&c, "a"), -1);
	assert_null(config_endpoint(&c, "a"));
	assert_int_equal(config_load_string(&c,
	    "[endpoint a]\nrpm = 1\n[endpoint b]\nrpm = 2\n"
	    "[endpoint a]\ntpm = 3\n", &err), 0);
	assert_int_equal(c.nendpoints, 3);
	assert_int_equal(config_endpoint_index(&c, "default"), 0);
	assert_int_equal(config_endpoint_index(&c, "a"), 1);
	assert_int_equal(config_endpoint_index(&c, "b"), 2);
	assert_int_equal(config_endpoint_index(&c, "A"), -1);
	assert_int_equal(config_endpoint_index(&c, ""), -1);
	assert_int_equal(c.endpoints[1].rpm, 1);
	assert_int_equal(c.endpoints[1].tpm, 3);
	assert_int_equal(c.endpoints[2].rpm, 2);
	config_release(&c);
}

static void
test_config_archive_suffix(void **state)
{
	(void)state;
	assert_string_equal(config_archive_suffix(ARCHIVE_TAR_GZ), ".tar.gz");
	assert_string_equal(config_archive_suffix(ARCHIVE_TAR_ZST),
	    ".tar.zst");
	assert_string_equal(config_archive_suffix(ARCHIVE_ZIP), ".zip");
	assert_string_equal(config_archive_suffix(ARCHIVE_NONE), "");
}

static void
test_config_set_str(void **state)
{
	char *field = NULL;

	(void)state;
	config_set_str(&field, "one");
	assert_string_equal(field, "one");
	config_set_str(&field, "two");
	assert_string_equal(field, "two");
	config_set_str(&field, NULL);
	assert_null(field);
}

/* Anthropic lines go to the first anthropic endpoint unless named. */
static void
test_config_route(void **state)
{
	struct config c;
	struct err err;

	(void)state;
	config_init(&c);
	assert_int_equal(config_load_string(&c,
	    "[endpoint local]\nbase_url = http://127.0.0.1:1\n"
	    "[endpoint claude]\ntype = anthropic\n", &err), 0);
	assert_int_equal(config_route(&c, NULL, false), 0);
	assert_int_equal(config_route(&c, NULL, true),
	    config_endpoint_index(&c, "claude"));
	assert_int_equal(config_route(&c, "local", true),
	    config_endpoint_index(&c, "local"));
	assert_int_equal(config_route(&c, "nope", false), -1);
	config_release(&c);
}

/* api_key_file: owner-only, one line, the newline stripped. */
static void
test_config_key_file(void **state)
{
	char path[] = "/tmp/test_config_key.XXXXXX", *key;
	struct endpoint_config e;
	struct err err;
	int fd;

	(void)state;
	memset(&e, 0, sizeof(e));
	snprintf(e.name, sizeof(e.name), "k");
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, "sk-123\n", 7), 7);
	close(fd);
	e.api_key_file = path;
	assert_int_equal(chmod(path, 0600), 0);
	key = config_endpoint_key(&e, &err);
	assert_non_null(key);
	assert_string_equal(key, "sk-123");
	free(key);
	assert_int_equal(chmod(path, 0644), 0);
	assert_null(config_endpoint_key(&e, &err));
	assert_non_null(strstr(err.msg, "owner only"));
	unlink(path);
	assert_null(config_endpoint_key(&e, &err));
}

/* metrics.listen: a bare port is loopback; only numeric addresses. */
static void
test_config_listen_addr(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct config c;
	struct err err;
	socklen_t len;

	(void)state;
	assert_int_equal(config_listen_addr("9464", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 9464);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(config_listen_addr("0.0.0.0:80", &ss, &len, &err),
	    0);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(config_listen_addr("[::1]:9464", &ss, &len, &err),
	    0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 9464);
	assert_int_equal(config_listen_addr("localhost:1", &ss, &len, &err),
	    0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(config_listen_addr("example.com:80", &ss, &len,
	    &err), -1);
	assert_non_null(strstr(err.msg, "metrics.listen"));
	assert_int_equal(config_listen_addr("127.0.0.1:0", &ss, &len, &err),
	    -1);
	assert_int_equal(config_listen_addr("127.0.0.1:65536", &ss, &len,
	    &err), -1);
	assert_int_equal(config_listen_addr("::1:80", &ss, &len, &err), -1);
	assert_int_equal(config_listen_addr("[::1]80", &ss, &len, &err), -1);
	/* --check-config catches it. */
	config_init(&c);
	assert_int_equal(config_load_string(&c, "[metrics]\nlisten = x:1\n",
	    &err), 0);
	assert_int_equal(config_validate(&c, &err), -1);
	config_release(&c);
	config_init(&c);
	assert_int_equal(config_load_string(&c,
	    "[metrics]\ntextfile = rel.prom\n", &err), 0);
	assert_int_equal(config_validate(&c, &err), -1);
	config_release(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_full_sample),
		cmocka_unit_test(test_config_bare_endpoint_is_default),
		cmocka_unit_test(test_config_unknown_key),
		cmocka_unit_test(test_config_invalid_value),
		cmocka_unit_test(test_config_validate),
		cmocka_unit_test(test_config_exec_endpoint),
		cmocka_unit_test(test_config_completion),
		cmocka_unit_test(test_config_endpoint_index),
		cmocka_unit_test(test_config_archive_suffix),
		cmocka_unit_test(test_config_set_str),
		cmocka_unit_test(test_config_route),
		cmocka_unit_test(test_config_key_file),
		cmocka_unit_test(test_config_listen_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
