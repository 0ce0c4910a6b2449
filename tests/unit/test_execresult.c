/*
 * test_execresult - judging a run of an exec endpoint's command, and the
 * response body made of its stdout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "buf.h"
#include "execresult.h"
#include "execrun.h"

/* --- the response body --------------------------------------------- */

static void
expect_body(const char *in, size_t len, const char *want)
{
	struct buf b = BUF_INIT;

	execresult_format_body(&b, in, len);
	assert_non_null(b.data);
	assert_string_equal(b.data, want);
	buf_release(&b);
}

static void
test_execresult_body(void **state)
{
	(void)state;
	/* A JSON object is the body as it is. */
	expect_body("{\"a\":1}\n", 8, "{\"a\":1}\n");
	expect_body(" {\"usage\":{}} ", 14, " {\"usage\":{}} ");
	/* Anything else is text under "output". */
	expect_body("3 12 80\n", 8, "{\"output\":\"3 12 80\\n\"}");
	expect_body("", 0, "{\"output\":\"\"}");
	expect_body("[1,2]", 5, "{\"output\":\"[1,2]\"}");
	expect_body("42", 2, "{\"output\":\"42\"}");
	expect_body("{\"a\":1} trailing", 16,
	    "{\"output\":\"{\\\"a\\\":1} trailing\"}");
	expect_body("{\"a\":", 5, "{\"output\":\"{\\\"a\\\":\"}");
	/* Text stays valid UTF-8: bad bytes and NULs become U+FFFD. */
	expect_body("caf\xc3\xa9", 5, "{\"output\":\"caf\xc3\xa9\"}");
	expect_body("a\xff" "b", 3, "{\"output\":\"a\xef\xbf\xbd" "b\"}");
	expect_body("a\0b", 3, "{\"output\":\"a\xef\xbf\xbd" "b\"}");
	expect_body("\xc3", 1, "{\"output\":\"\xef\xbf\xbd\"}");
	expect_body("\xed\xa0\x80", 3, "{\"output\":\"\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\"}");
	/* An object with bad UTF-8 in it is wrapped, not passed on. */
	expect_body("{\"a\":\"\xff\"}", 9,
	    "{\"output\":\"{\\\"a\\\":\\\"\xef\xbf\xbd\\\"}\"}");
}

/* --- judging -------------------------------------------------------- */

static void
status_init(struct execrun_status *st)
{
	memset(st, 0, sizeof(*st));
	st->command = "/x/tool";
	st->timeout_ms = 10000;
	st->out = st->err = "";
}

static void
test_execresult_judge(void **state)
{
	struct execrun_status st;
	struct execresult v;
	char big[2000];

	(void)state;
	status_init(&st);
	st.exited = true;
	st.err = "warning: ignored\n";
	st.err_len = strlen(st.err);
	execresult_judge(&st, &v);
	assert_int_equal(v.outcome, OUTCOME_OK);
	assert_int_equal(v.status, 200);
	assert_null(v.message);
	execresult_release(&v);

	st.exit_code = 75;
	execresult_judge(&st, &v);
	assert_int_equal(v.outcome, OUTCOME_RETRY);
	assert_string_equal(v.code, "exec_tempfail");
	assert_string_equal(v.message,
	    "exec: exit 75 (temporary failure): warning: ignored");
	assert_int_equal(v.status, 0);
	execresult_release(&v);

	st.exit_code = 3;
	st.err = "";
	st.err_len = 0;
	execresult_judge(&st, &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);
	assert_string_equal(v.code, "exec_exit");
	assert_string_equal(v.message, "exec: exit 3");
	execresult_release(&v);

	/* Only the tail of a long stderr, cut at a character. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "HEAD", 4);
	memcpy(big + sizeof(big) - 8, "the end\n", 8);
	big[sizeof(big) - 502] = '\xc3';	/* é split by the cut */
	big[sizeof(big) - 501] = '\xa9';
	st.err = big;
	st.err_len = sizeof(big);
	execresult_judge(&st, &v);
	assert_non_null(strstr(v.message, "exec: exit 3: ..."));
	assert_null(strstr(v.message, "HEAD"));
	assert_null(strstr(v.message, "\xef\xbf\xbd"));
	assert_int_equal(strlen(v.message), strlen("exec: exit 3: ...") +
	    EXECRUN_STDERR_TAIL - 1);
	assert_string_equal(v.message + strlen(v.message) - 7, "the end");
	execresult_release(&v);
	/* With lines, the tail starts at one. */
	memset(big, 'x', sizeof(big));
	memcpy(big + sizeof(big) - 300, "\nlast lines\n", 12);
	execresult_judge(&st, &v);
	assert_non_null(strstr(v.message, "exec: exit 3: ...\nlast lines\nx"));
	execresult_release(&v);

	status_init(&st);
	st.signal = SIGKILL;
	execresult_judge(&st, &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);
	assert_string_equal(v.code, "exec_signal");
	assert_string_equal(v.message, "exec: killed by signal 9 (Killed)");
	execresult_release(&v);

	/* A timeout wins over the signal that ended the run. */
	st.timed_out = true;
	execresult_judge(&st, &v);
	assert_int_equal(v.outcome, OUTCOME_RETRY);
	assert_string_equal(v.code, "request_timeout");
	assert_string_equal(v.message, "exec: timed out after 10 s");
	execresult_release(&v);
	st.timeout_ms = 1500;
	execresult_judge(&st, &v);
	assert_string_equal(v.message, "exec: timed out after 1500 ms");
	execresult_release(&v);

	status_init(&st);
	st.exited = true;
	st.too_large = true;
	execresult_judge(&st, &v);
	assert_int_equal(v.outcome, OUTCOME_FAIL);
	assert_string_equal(v.code, "response_too_large");
	execresult_release(&v);

	status_init(&st);
	st.exec_errno = ENOENT;
	st.exec_step = "execve";
	execresult_judge(&st, &v);
	assert_int_equal(v.outcome, OUTCOME_ENDPOINT_DOWN);
	assert_string_equal(v.code, "exec_unavailable");
	assert_string_equal(v.message,
	    "exec: cannot run /x/tool: execve: No such file or directory");
	execresult_release(&v);

	status_init(&st);
	st.start_errno = EAGAIN;
	execresult_judge(&st, &v);
	assert_int_equal(v.outcome, OUTCOME_RETRY);
	assert_string_equal(v.code, "exec_start");
	execresult_release(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_execresult_body),
		cmocka_unit_test(test_execresult_judge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
