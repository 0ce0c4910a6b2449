/*
 * test_util - parsing helpers, hex, random ids and struct buf.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/wait.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

static void
test_util_duration_units(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_duration_ms("2s", &v), 0);
	assert_int_equal(v, 2000);
	assert_int_equal(parse_duration_ms("500ms", &v), 0);
	assert_int_equal(v, 500);
	assert_int_equal(parse_duration_ms("1h", &v), 0);
	assert_int_equal(v, 3600000);
	assert_int_equal(parse_duration_ms("24h", &v), 0);
	assert_int_equal(v, 24ULL * 3600000);
	assert_int_equal(parse_duration_ms("3d", &v), 0);
	assert_int_equal(v, 3ULL * 86400000);
	assert_int_equal(parse_duration_ms("2m", &v), 0);
	assert_int_equal(v, 120000);
	assert_int_equal(parse_duration_ms("0", &v), 0);
	assert_int_equal(v, 0);
}

static void
test_util_duration_bare_is_seconds(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(parse_duration_ms("5", &v), 0);
	assert_int_equal(v, 5000);
}

static void
test_util_duration_invalid(void **state)
{
	uint64_t v = 42;

	(void)state;
	errno = 0;
	assert_int_equal(parse_duration_ms("x", &v), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(parse_duration_ms("1y", &v), -1);
	assert_int_equal(parse_duration_ms("", &v), -1);
	assert_int_equal(parse_duration_ms("-1s", &v), -1);
	assert_int_equal(parse_duration_ms("s", &v), -1);
	assert_int_equal(parse_duration_ms("1s2", &v), -1);
	assert_int_equal(parse_duration_ms(NULL, &v), -1);
	/* Overflow of the product is rejected, not wrapped. */
	assert_int_equal(parse_duration_ms("18446744073709551615d", &v), -1);
	assert_int_equal(v, 42);
}

static void
test_util_size_units(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("123", &v), 0);
	assert_int_equal(v, 123);
	assert_int_equal(parse_size("512k", &v), 0);
	assert_int_equal(v, 512ULL * 1024);
	assert_int_equal(parse_size("1K", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(parse_size("10M", &v), 0);
	assert_int_equal(v, 10ULL << 20);
	assert_int_equal(parse_size("1G", &v), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(parse_size("2MiB", &v), 0);
	assert_int_equal(v, 2ULL << 20);
	assert_int_equal(parse_size("7B", &v), 0);
	assert_int_equal(v, 7);
}

static void
test_util_size_invalid(void **state)
{
	uint64_t v = 9;

	(void)state;
	assert_int_equal(parse_size("", &v), -1);
	assert_int_equal(parse_size("M", &v), -1);
	assert_int_equal(parse_size("10X", &v), -1);
	assert_int_equal(parse_size("-1", &v), -1);
	assert_int_equal(parse_size("1T", &v), -1);
	assert_int_equal(parse_size("18446744073709551615G", &v), -1);
	assert_int_equal(v, 9);
}

static void
test_util_uint_range(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(parse_uint("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_uint("10", 10, &v), 0);
	assert_int_equal(v, 10);
	errno = 0;
	assert_int_equal(parse_uint("11", 10, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(v, 10);
	assert_int_equal(parse_uint("18446744073709551615", UINT64_MAX, &v),
	    0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(parse_uint("18446744073709551616", UINT64_MAX, &v),
	    -1);
}

static void
test_util_uint_rejects_junk(void **state)
{
	uint64_t v = 7;

	(void)state;
	errno = 0;
	assert_int_equal(parse_uint("12x", 100, &v), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(parse_uint("12 ", 100, &v), -1);
	assert_int_equal(parse_uint(" 12", 100, &v), -1);
	assert_int_equal(parse_uint("+12", 100, &v), -1);
	assert_int_equal(parse_uint("-1", 100, &v), -1);
	assert_int_equal(parse_uint("", 100, &v), -1);
	assert_int_equal(parse_uint("abc", 100, &v), -1);
	assert_int_equal(parse_uint(NULL, 100, &v), -1);
	assert_int_equal(v, 7);
}

static void
test_util_bool_values(void **state)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES",
	    "True" };
	static const char *const no[] = { "no", "false", "off", "0", "OFF" };
	bool b;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		b = false;
		assert_int_equal(parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (i = 0; i < ARRAY_SIZE(no); i++) {
		b = true;
		assert_int_equal(parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	b = true;
	assert_int_equal(parse_bool("maybe", &b), -1);
	assert_int_equal(parse_bool("", &b), -1);
	assert_int_equal(parse_bool("2", &b), -1);
	assert_true(b);
}

static void
test_util_hex_encode(void **state)
{
	static const unsigned char in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab,
	    0xff };
	char out[2 * sizeof(in) + 1];
	char empty[1] = { 'x' };

	(void)state;
	memset(out, 'z', sizeof(out));
	hex_encode(in, sizeof(in), out);
	assert_string_equal(out, "00017f80abff");
	hex_encode(in, 0, empty);
	assert_string_equal(empty, "");
}

static size_t
u8(const char *s)
{
	return utf8_check(s, strlen(s));
}

static void
test_util_utf8_check(void **state)
{
	(void)state;
	assert_int_equal(u8(""), 0);
	assert_int_equal(u8("plain ASCII"), 11);
	/* é, €, 日本, U+1F600, U+10FFFF */
	assert_int_equal(u8("caf\xc3\xa9 \xe2\x82\xac \xe6\x97\xa5"
	    "\xe6\x9c\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"), 26);
	/* A stray continuation byte, Latin-1, a cut sequence. */
	assert_int_equal(u8("ab\x80"), 2);
	assert_int_equal(u8("caf\xe9!"), 3);
	assert_int_equal(u8("x\xe2\x82"), 1);
	/* Overlong '/', an overlong 3-byte form, a surrogate, > U+10FFFF. */
	assert_int_equal(u8("\xc0\xaf"), 0);
	assert_int_equal(u8("\xe0\x80\xaf"), 0);
	assert_int_equal(u8("ok\xed\xa0\x80"), 2);
	assert_int_equal(u8("\xf4\x90\x80\x80"), 0);
	assert_int_equal(u8("\xf5\x80\x80\x80"), 0);
	/* A bad continuation inside a 4-byte form. */
	assert_int_equal(u8("\xf0\x9f\x41\x80"), 0);
}

static void
test_util_random_id_shape(void **state)
{
	char a[25], b[25];
	size_t i;
	int round;

	(void)state;
	for (round = 0; round < 50; round++) {
		memset(a, '#', sizeof(a));
		random_id(a);
		assert_int_equal(strlen(a), 24);
		for (i = 0; i < 24; i++)
			assert_true((a[i] >= 'A' && a[i] <= 'Z') ||
			    (a[i] >= 'a' && a[i] <= 'z') ||
			    (a[i] >= '0' && a[i] <= '9'));
	}
	random_id(b);
	/* 62^24 possibilities: equal ids mean a broken generator. */
	assert_string_not_equal(a, b);
}

/*
 * random_bytes serves from a pool: a forked child must not hand out the
 * bytes its parent is about to (workers are forked from the supervisor,
 * and both make result ids).
 */
static void
test_util_random_fork_differs(void **state)
{
	unsigned char warm[8], mine[64], theirs[64];
	int p[2], status;
	pid_t pid;

	(void)state;
	random_bytes(warm, sizeof(warm));	/* the pool is filled now */
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		random_bytes(theirs, sizeof(theirs));
		_exit(write(p[1], theirs, sizeof(theirs)) ==
		    (ssize_t)sizeof(theirs) ? 0 : 1);
	}
	assert_true(pid > 0);
	close(p[1]);
	random_bytes(mine, sizeof(mine));
	assert_int_equal(read(p[0], theirs, sizeof(theirs)),
	    (ssize_t)sizeof(theirs));
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_memory_not_equal(mine, theirs, sizeof(mine));
}

static void
test_util_buf_add(void **state)
{
	struct buf b = BUF_INIT;
	char big[1000];

	(void)state;
	buf_add(&b, "abc", 3);
	assert_non_null(b.data);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	buf_adds(&b, "def");
	buf_addc(&b, 'g');
	assert_int_equal(b.len, 7);
	assert_string_equal(b.data, "abcdefg");
	/* Embedded NUL bytes are data, the terminator follows len. */
	buf_add(&b, "\0z", 2);
	assert_int_equal(b.len, 9);
	assert_memory_equal(b.data, "abcdefg\0z", 9);
	assert_int_equal(b.data[9], '\0');
	/* Growth keeps the contents. */
	memset(big, 'q', sizeof(big));
	buf_add(&b, big, sizeof(big));
	assert_int_equal(b.len, 9 + sizeof(big));
	assert_true(b.cap > b.len);
	assert_memory_equal(b.data, "abcdefg\0z", 9);
	assert_memory_equal(b.data + 9, big, sizeof(big));
	assert_int_equal(b.data[b.len], '\0');
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_add(&b, NULL, 0);
	assert_int_equal(b.len, 0);
	buf_release(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void
test_util_buf_addf(void **state)
{
	struct buf b = BUF_INIT;
	char *longs;

	(void)state;
	buf_addf(&b, "%d-%s", 42, "x");
	assert_string_equal(b.data, "42-x");
	assert_int_equal(b.len, 4);
	buf_addf(&b, "%s", "");
	assert_int_equal(b.len, 4);
	buf_addf(&b, "[%05u]", 7U);
	assert_string_equal(b.data, "42-x[00007]");
	longs = xmalloc(301);
	memset(longs, 'L', 300);
	longs[300] = '\0';
	buf_addf(&b, "%s!", longs);
	assert_int_equal(b.len, 11 + 301);
	assert_int_equal(b.data[b.len - 1], '!');
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(strlen(b.data), b.len);
	free(longs);
	buf_release(&b);

	buf_init(&b);
	buf_addf(&b, "%s", "");
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	buf_release(&b);
}

static void
test_util_buf_consume(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	buf_adds(&b, "hello world");
	buf_consume(&b, 0);
	assert_string_equal(b.data, "hello world");
	buf_consume(&b, 6);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "world");
	buf_consume(&b, 5);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_adds(&b, "again");
	assert_string_equal(b.data, "again");
	buf_release(&b);
}

static void
test_util_buf_detach(void **state)
{
	struct buf b = BUF_INIT;
	size_t len = 99;
	char *p;

	(void)state;
	buf_adds(&b, "owned");
	p = buf_detach(&b, &len);
	assert_int_equal(len, 5);
	assert_string_equal(p, "owned");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(p);

	/*
	 * An emptied buffer still detaches a NUL-terminated string.  (A
	 * never-written one is not terminated by buf_grow: see the report.)
	 */
	buf_adds(&b, "gone");
	buf_reset(&b);
	p = buf_detach(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);

	buf_adds(&b, "x");
	p = buf_detach(&b, NULL);
	assert_string_equal(p, "x");
	free(p);
}

/* Splits s and compares with the NULL-terminated want. */
static void
expect_argv(const char *s, const char *const *want)
{
	struct err err;
	char **argv = NULL;
	size_t i;

	if (parse_argv(s, &argv, &err) == -1)
		fail_msg("rejected \"%s\": %s", s, err.msg);
	for (i = 0; want[i] != NULL; i++) {
		assert_non_null(argv[i]);
		assert_string_equal(argv[i], want[i]);
	}
	assert_null(argv[i]);
	free_argv(argv);
}

static void
expect_argv_fail(const char *s, const char *needle)
{
	struct err err;
	char **argv = NULL;

	memset(&err, 0, sizeof(err));
	if (parse_argv(s, &argv, &err) != -1)
		fail_msg("accepted \"%s\"", s);
	assert_null(argv);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("\"%s\" not in \"%s\"", needle, err.msg);
}

static void
test_util_argv_words(void **state)
{
	(void)state;
	expect_argv("/bin/cat", (const char *[]){ "/bin/cat", NULL });
	expect_argv("  wc\t-l  ", (const char *[]){ "wc", "-l", NULL });
	expect_argv("tr a-z A-Z",
	    (const char *[]){ "tr", "a-z", "A-Z", NULL });
}

static void
test_util_argv_quotes(void **state)
{
	(void)state;
	/* Single quotes are literal, backslashes included. */
	expect_argv("sed 's/a b/\\n/'",
	    (const char *[]){ "sed", "s/a b/\\n/", NULL });
	/* Double quotes: only \" and \\ are escapes. */
	expect_argv("echo \"say \\\"hi\\\" \\\\ \\n\"",
	    (const char *[]){ "echo", "say \"hi\" \\ \\n", NULL });
	/* Quotes join parts of one word; "" is an empty word. */
	expect_argv("x --opt=\"a b\"'c d' \"\" ''",
	    (const char *[]){ "x", "--opt=a bc d", "", "", NULL });
	/* A backslash outside quotes takes the next character. */
	expect_argv("a\\ b \\'c",
	    (const char *[]){ "a b", "'c", NULL });
}

static void
test_util_argv_no_shell(void **state)
{
	(void)state;
	/* Nothing is expanded or redirected: it is all just words. */
	expect_argv("sh $HOME * ~ | > ; `id` $(id)",
	    (const char *[]){ "sh", "$HOME", "*", "~", "|", ">", ";",
	    "`id`", "$(id)", NULL });
}

static void
test_util_argv_rejects(void **state)
{
	(void)state;
	expect_argv_fail("", "empty");
	expect_argv_fail(" \t ", "empty");
	expect_argv_fail("echo 'open", "unterminated '");
	expect_argv_fail("echo \"open", "unterminated \"");
	expect_argv_fail("echo \"open\\\"", "unterminated \"");
	expect_argv_fail("echo \\", "trailing backslash");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_util_argv_words),
		cmocka_unit_test(test_util_argv_quotes),
		cmocka_unit_test(test_util_argv_no_shell),
		cmocka_unit_test(test_util_argv_rejects),
		cmocka_unit_test(test_util_duration_units),
		cmocka_unit_test(test_util_duration_bare_is_seconds),
		cmocka_unit_test(test_util_duration_invalid),
		cmocka_unit_test(test_util_size_units),
		cmocka_unit_test(test_util_size_invalid),
		cmocka_unit_test(test_util_uint_range),
		cmocka_unit_test(test_util_uint_rejects_junk),
		cmocka_unit_test(test_util_bool_values),
		cmocka_unit_test(test_util_hex_encode),
		cmocka_unit_test(test_util_utf8_check),
		cmocka_unit_test(test_util_random_id_shape),
		cmocka_unit_test(test_util_random_fork_differs),
		cmocka_unit_test(test_util_buf_add),
		cmocka_unit_test(test_util_buf_addf),
		cmocka_unit_test(test_util_buf_consume),
		cmocka_unit_test(test_util_buf_detach),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
