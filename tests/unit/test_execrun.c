/*
 * test_execrun - real runs of small commands on a loop: exit codes,
 * signals, timeouts with the whole process group killed, the clean
 * environment, closed descriptors, resource limits, abandoning a run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "execrun.h"
#include "loop.h"
#include "util.h"

/* --- real runs ------------------------------------------------------ */

struct outcome {
	struct loop	*loop;
	bool		 done;
	struct execrun_status st;
	char		*out;
	char		*err;
	uint64_t	 ms;		/* from start to report */
};

static void
on_done(struct execrun *r, const struct execrun_status *st, void *arg)
{
	struct outcome *o = arg;

	o->done = true;
	o->st = *st;
	/* Borrowed from r: copy before freeing it. */
	o->out = xstrndup(st->out, st->out_len);
	o->err = xstrndup(st->err, st->err_len);
	o->st.out = o->out;
	o->st.err = o->err;
	o->st.command = NULL;
	o->st.exec_step = st->exec_step;
	execrun_free(r);
	loop_stop(o->loop);
}

static void
on_guard(void *arg)
{
	(void)arg;
	fail_msg("a run did not report within 20 s");
}

static void
run_cmd(struct outcome *o, char *const *argv, const char *input,
    size_t input_len, uint64_t timeout_ms, uint64_t max_output)
{
	struct execrun_spec spec;
	struct loop_timer *guard;
	uint64_t t0 = now_ms();

	memset(o, 0, sizeof(*o));
	o->loop = loop_new();
	assert_non_null(o->loop);
	guard = loop_timer_new(o->loop, on_guard, NULL);
	loop_timer_arm(guard, 20000);
	memset(&spec, 0, sizeof(spec));
	spec.argv = argv;
	spec.custom_id = "req-1";
	spec.endpoint = "legacy";
	spec.input = input;
	spec.input_len = input_len;
	spec.timeout_ms = timeout_ms;
	spec.max_output = max_output;
	spec.memory_limit = 512ULL << 20;
	(void)execrun_start(o->loop, &spec, on_done, o);
	assert_int_equal(loop_run(o->loop), 0);
	assert_true(o->done);
	o->ms = now_ms() - t0;
	loop_timer_free(guard);
	loop_free(o->loop);
}

static void
outcome_release(struct outcome *o)
{
	free(o->out);
	free(o->err);
}

/* -Wwrite-strings makes literals const; execve's argv is not. */
#define ARGV(...)	((char *const *)(const char *const[]){ __VA_ARGS__, \
			    NULL })
#define SH(script)	ARGV("/bin/sh", "-c", script)

/* Gone, or a zombie nobody has reaped yet: either way not running. */
static bool
pid_dead(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY)) == -1)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && (p[2] == 'Z' || p[2] == 'X');
}

/* A killed process closes its files a moment before it is a zombie. */
static bool
wait_dead(pid_t pid)
{
	int i;

	for (i = 0; i < 200 && !pid_dead(pid); i++)
		usleep(10000);
	return pid_dead(pid);
}

static void
test_execrun_cat(void **state)
{
	struct outcome o;
	const char *line = "{\"custom_id\":\"req-1\"}\n";

	(void)state;
	run_cmd(&o, ARGV("/bin/cat"), line, strlen(line),
	    5000, 1 << 20);
	assert_true(o.st.exited);
	assert_int_equal(o.st.exit_code, 0);
	assert_string_equal(o.out, line);
	assert_string_equal(o.err, "");
	outcome_release(&o);
	/* A bare name is looked up in the command's PATH. */
	run_cmd(&o, ARGV("tr", "a-z", "A-Z"), "abc", 3,
	    5000, 1 << 20);
	assert_true(o.st.exited);
	assert_int_equal(o.st.exit_code, 0);
	assert_string_equal(o.out, "ABC");
	outcome_release(&o);
}

static void
test_execrun_exit_codes(void **state)
{
	struct outcome o;

	(void)state;
	run_cmd(&o, SH("echo busy >&2; exit 75"), "", 0, 5000, 1 << 20);
	assert_true(o.st.exited);
	assert_int_equal(o.st.exit_code, 75);
	assert_string_equal(o.err, "busy\n");
	outcome_release(&o);

	run_cmd(&o, SH("cat >/dev/null; echo 'bad input' >&2; exit 3"),
	    "x", 1, 5000, 1 << 20);
	assert_true(o.st.exited);
	assert_int_equal(o.st.exit_code, 3);
	assert_string_equal(o.err, "bad input\n");
	outcome_release(&o);

	run_cmd(&o, SH("kill -9 $$"), "", 0, 5000, 1 << 20);
	assert_false(o.st.exited);
	assert_int_equal(o.st.signal, SIGKILL);
	outcome_release(&o);
}

static void
test_execrun_timeout_kills_group(void **state)
{
	struct outcome o;
	pid_t bg;

	(void)state;
	/* A grandchild in the background, then a wait that never ends. */
	run_cmd(&o, SH("sleep 1000 & echo $!; exec sleep 1000"), "", 0, 300,
	    1 << 20);
	assert_true(o.st.timed_out);
	assert_int_equal(o.st.signal, SIGTERM);
	assert_true(o.ms >= 300 && o.ms < 3000);
	bg = (pid_t)strtol(o.out, NULL, 10);
	assert_true(bg > 1);
	assert_true(wait_dead(bg));
	outcome_release(&o);

	/* One that ignores SIGTERM gets SIGKILL after the grace. */
	run_cmd(&o, SH("trap '' TERM; while :; do sleep 0.05; done"), "", 0,
	    200, 1 << 20);
	assert_true(o.st.timed_out);
	assert_int_equal(o.st.signal, SIGKILL);
	assert_true(o.ms >= 200 + EXECRUN_GRACE_MS);
	outcome_release(&o);
}

static void
test_execrun_leftovers_killed(void **state)
{
	struct outcome o;
	pid_t bg;

	(void)state;
	/* The command exits; its background child holds stdout open and
	 * must not keep the run (or itself) alive. */
	run_cmd(&o, SH("sleep 1000 & echo $!"), "", 0, 10000, 1 << 20);
	assert_true(o.st.exited);
	assert_int_equal(o.st.exit_code, 0);
	assert_true(o.ms < EXECRUN_DRAIN_MS);
	bg = (pid_t)strtol(o.out, NULL, 10);
	assert_true(bg > 1);
	assert_true(wait_dead(bg));
	outcome_release(&o);
}

static void
test_execrun_environment(void **state)
{
	struct outcome o;

	(void)state;
	setenv("OPENAI_API_KEY", "sk-test-secret", 1);
	run_cmd(&o, ARGV("/usr/bin/env"), "", 0, 5000,
	    1 << 20);
	assert_int_equal(o.st.exit_code, 0);
	assert_string_equal(o.out, "PATH=" EXECRUN_PATH "\nLANG=C.UTF-8\n"
	    "SPOOLD_CUSTOM_ID=req-1\nSPOOLD_ENDPOINT=legacy\n");
	outcome_release(&o);
	unsetenv("OPENAI_API_KEY");
}

static void
test_execrun_descriptors(void **state)
{
	struct outcome o;
	int fd;

	(void)state;
	/* A descriptor the worker might have without close-on-exec. */
	fd = dup2(0, 100);
	assert_int_equal(fd, 100);
	/* ls itself opens one more (3) to read the directory. */
	run_cmd(&o, ARGV("/bin/ls", "/proc/self/fd"), "",
	    0, 5000, 1 << 20);
	assert_int_equal(o.st.exit_code, 0);
	assert_string_equal(o.out, "0\n1\n2\n3\n");
	outcome_release(&o);
	close(fd);
}

static void
test_execrun_limits(void **state)
{
	struct outcome o;
	unsigned long long ign;
	int sig;

	(void)state;
	run_cmd(&o, SH("ulimit -n; ulimit -c; ulimit -v; umask; pwd"), "", 0,
	    5000, 1 << 20);
	assert_int_equal(o.st.exit_code, 0);
	assert_string_equal(o.out, "256\n0\n524288\n0077\n/\n");
	outcome_release(&o);
	/*
	 * No signal stays ignored from the worker (SIGPIPE is, here).
	 * glibc keeps 32 and 33 (below SIGRTMIN) to itself and will not
	 * reset them; every glibc program installs its own handlers there.
	 */
	run_cmd(&o, ARGV("/bin/grep", "^SigIgn",
	    "/proc/self/status"), "", 0, 5000, 1 << 20);
	assert_int_equal(strncmp(o.out, "SigIgn:\t", 8), 0);
	ign = strtoull(o.out + 8, NULL, 16);
	for (sig = 32; sig < SIGRTMIN; sig++)
		ign &= ~(1ULL << (sig - 1));
	assert_int_equal(ign, 0);
	outcome_release(&o);
}

static void
test_execrun_output_limit(void **state)
{
	struct outcome o;

	(void)state;
	run_cmd(&o, SH("head -c 1000000 /dev/zero; sleep 1000"), "", 0, 5000,
	    4096);
	assert_true(o.st.too_large);
	assert_true(o.ms < 3000);
	outcome_release(&o);
}

static void
test_execrun_stdin_unread(void **state)
{
	struct outcome o;
	size_t len = 4 << 20;
	char *big = xmalloc(len);

	(void)state;
	memset(big, 'x', len);
	/* More than a pipe holds, to a command that never reads it. */
	run_cmd(&o, ARGV("/bin/true"), big, len, 5000,
	    1 << 20);
	assert_true(o.st.exited);
	assert_int_equal(o.st.exit_code, 0);
	outcome_release(&o);
	/* And all of it to one that does. */
	run_cmd(&o, ARGV("/usr/bin/wc", "-c"), big, len,
	    5000, 1 << 20);
	assert_int_equal(o.st.exit_code, 0);
	assert_int_equal(strtoul(o.out, NULL, 10), len);
	outcome_release(&o);
	free(big);
}

static void
test_execrun_cannot_run(void **state)
{
	struct outcome o;

	(void)state;
	run_cmd(&o, ARGV("/nonexistent/tool"), "", 0,
	    5000, 1 << 20);
	assert_int_equal(o.st.exec_errno, ENOENT);
	assert_string_equal(o.st.exec_step, "execve");
	outcome_release(&o);
	run_cmd(&o, ARGV("no-such-tool-spoold"), "", 0,
	    5000, 1 << 20);
	assert_int_equal(o.st.exec_errno, ENOENT);
	outcome_release(&o);
	/* A directory is not a program. */
	run_cmd(&o, ARGV("/tmp"), "", 0, 5000, 1 << 20);
	assert_int_equal(o.st.exec_errno, EACCES);
	outcome_release(&o);
}

static void
test_execrun_abandon(void **state)
{
	struct execrun_spec spec;
	struct execrun *r;
	struct loop *l;
	char dir[] = "/tmp/test_execrun.XXXXXX", path[64], *script, buf[32];
	pid_t bg = 0, pid;
	ssize_t n;
	int fd, i, status;

	(void)state;
	/* A run freed while going (the worker exits) takes its group. */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bg.pid", dir);
	script = xasprintf("sleep 1000 & echo $! >%s.tmp; mv %s.tmp %s; "
	    "exec sleep 1000", path, path, path);
	l = loop_new();
	memset(&spec, 0, sizeof(spec));
	spec.argv = SH(script);
	spec.custom_id = "req-1";
	spec.endpoint = "legacy";
	spec.input = "";
	spec.timeout_ms = 60000;
	spec.max_output = 1024;
	r = execrun_start(l, &spec, on_done, NULL);
	for (i = 0; i < 200 && bg == 0; i++) {
		if ((fd = open(path, O_RDONLY)) != -1) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			buf[n > 0 ? n : 0] = '\0';
			bg = (pid_t)strtol(buf, NULL, 10);
		} else {
			usleep(10000);
		}
	}
	assert_true(bg > 1);
	execrun_free(r);
	loop_free(l);
	/* The command itself: killed, and left for us to reap. */
	pid = waitpid(-1, &status, 0);
	assert_true(pid > 0);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The grandchild went with the group. */
	assert_true(wait_dead(bg));
	unlink(path);
	rmdir(dir);
	free(script);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_execrun_cat),
		cmocka_unit_test(test_execrun_exit_codes),
		cmocka_unit_test(test_execrun_timeout_kills_group),
		cmocka_unit_test(test_execrun_leftovers_killed),
		cmocka_unit_test(test_execrun_environment),
		cmocka_unit_test(test_execrun_descriptors),
		cmocka_unit_test(test_execrun_limits),
		cmocka_unit_test(test_execrun_output_limit),
		cmocka_unit_test(test_execrun_stdin_unread),
		cmocka_unit_test(test_execrun_cannot_run),
		cmocka_unit_test(test_execrun_abandon),
	};
	struct sigaction sa;

	/* As in the worker: a command may close its stdin unread. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
