/*
 * test_input - the streaming line scanner, offsets, hashing and the
 * completeness heuristic, over real temporary files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "input.h"
#include "util.h"

#define SHA_ABC \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#define MAX_SEEN	16

struct seen {
	int		 n;
	int		 stop_after;	/* 0: never */
	uint64_t	 lineno[MAX_SEEN];
	uint64_t	 offset[MAX_SEEN];
	size_t		 len[MAX_SEEN];
	bool		 too_long[MAX_SEEN];
	char		*data[MAX_SEEN];
};

static int
collect(const struct input_line *line, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < MAX_SEEN);
	s->lineno[s->n] = line->lineno;
	s->offset[s->n] = line->offset;
	s->len[s->n] = line->len;
	s->too_long[s->n] = line->too_long;
	s->data[s->n] = line->data != NULL ?
	    xstrndup(line->data, line->len) : NULL;
	s->n++;
	if (s->stop_after != 0 && s->n == s->stop_after)
		return -1;
	return 0;
}

static void
seen_release(struct seen *s)
{
	int i;

	for (i = 0; i < s->n; i++)
		free(s->data[i]);
	memset(s, 0, sizeof(*s));
}

/* A temporary file holding len bytes of data, already unlinked. */
static int
temp_file(const void *data, size_t len)
{
	char path[] = "/tmp/spoold-test-input.XXXXXX";
	int fd;

	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(write_full(fd, data, len), 0);
	return fd;
}

static int
temp_str(const char *s)
{
	return temp_file(s, strlen(s));
}

/* Line i of the scan reads back exactly through input_read_at. */
static void
check_read_back(int fd, const struct seen *s, int i, const char *want)
{
	struct buf b = BUF_INIT;

	assert_non_null(s->data[i]);
	assert_string_equal(s->data[i], want);
	assert_int_equal(s->len[i], strlen(want));
	assert_int_equal(input_read_at(fd, s->offset[i], s->len[i], &b), 0);
	assert_int_equal(b.len, s->len[i]);
	assert_memory_equal(b.data, want, b.len);
	assert_int_equal(b.data[b.len], '\0');
	buf_release(&b);
}

static void
test_input_scan_lines_offsets(void **state)
{
	static const char text[] =
	    "{\"a\":1}\n"		/* line 1, offset 0 */
	    "\n"			/* line 2, blank */
	    "  \t \n"			/* line 3, blank */
	    "{\"b\":22}\r\n"		/* line 4, CRLF */
	    "\r\n"			/* line 5, blank CRLF */
	    "{\"c\":333}";		/* line 6, no newline */
	struct seen s;
	char sha[INPUT_SHA256_HEX], sha2[INPUT_SHA256_HEX];
	int fd;

	(void)state;
	memset(&s, 0, sizeof(s));
	fd = temp_str(text);
	assert_int_equal(input_scan_lines(fd, 1024, collect, &s), 0);
	assert_int_equal(s.n, 3);
	/* The scan left the file as it was: its hash is the text's. */
	assert_int_equal(input_sha256_fd(fd, sha), 0);

	assert_int_equal(s.lineno[0], 1);
	assert_int_equal(s.offset[0], 0);
	assert_false(s.too_long[0]);
	check_read_back(fd, &s, 0, "{\"a\":1}");

	assert_int_equal(s.lineno[1], 4);
	assert_int_equal(s.offset[1], strstr(text, "{\"b\"") - text);
	check_read_back(fd, &s, 1, "{\"b\":22}");	/* no \r */

	assert_int_equal(s.lineno[2], 6);
	assert_int_equal(s.offset[2], strstr(text, "{\"c\"") - text);
	check_read_back(fd, &s, 2, "{\"c\":333}");

	/* The hash is of the whole file, blank lines and CRs included. */
	assert_int_equal(strlen(sha), 64);
	assert_int_equal(input_sha256_fd(fd, sha2), 0);
	assert_string_equal(sha, sha2);
	input_sha256_mem(text, sizeof(text) - 1, sha2);
	assert_string_equal(sha, sha2);

	/* A second scan of the same fd starts from the beginning. */
	seen_release(&s);
	assert_int_equal(input_scan_lines(fd, 1024, collect, &s), 0);
	assert_int_equal(s.n, 3);
	seen_release(&s);
	close(fd);
}

static void
test_input_scan_lines_too_long(void **state)
{
	struct buf text = BUF_INIT;
	struct seen s;
	int fd, i;

	(void)state;
	buf_adds(&text, "short\n");
	for (i = 0; i < 30; i++)
		buf_addc(&text, 'x');
	buf_adds(&text, "\nafter\n");
	for (i = 0; i < 25; i++)
		buf_addc(&text, 'y');	/* a too long last line, no newline */
	memset(&s, 0, sizeof(s));
	fd = temp_file(text.data, text.len);
	assert_int_equal(input_scan_lines(fd, 10, collect, &s), 0);
	assert_int_equal(s.n, 4);
	check_read_back(fd, &s, 0, "short");
	assert_int_equal(s.lineno[1], 2);
	assert_true(s.too_long[1]);
	assert_null(s.data[1]);
	assert_int_equal(s.offset[1], 6);
	assert_int_equal(s.lineno[2], 3);
	assert_false(s.too_long[2]);
	check_read_back(fd, &s, 2, "after");
	assert_int_equal(s.lineno[3], 4);
	assert_true(s.too_long[3]);
	assert_null(s.data[3]);
	seen_release(&s);
	close(fd);

	/* Exactly max_line bytes is not too long. */
	fd = temp_str("0123456789\n");
	assert_int_equal(input_scan_lines(fd, 10, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_false(s.too_long[0]);
	check_read_back(fd, &s, 0, "0123456789");
	seen_release(&s);
	close(fd);
	buf_release(&text);
}

static void
test_input_scan_lines_across_chunks(void **state)
{
	struct buf text = BUF_INIT;
	struct seen s;
	uint64_t off2;
	int fd;

	(void)state;
	/* A 300 kB line crosses the scanner's 256 kB read chunk. */
	buf_adds(&text, "{\"k\":\"");
	buf_grow(&text, 300000);
	memset(text.data + text.len, 'v', 300000);
	text.len += 300000;
	buf_adds(&text, "\"}\n");
	off2 = text.len;
	buf_adds(&text, "{\"z\":0}\n");
	fd = temp_file(text.data, text.len);

	memset(&s, 0, sizeof(s));
	assert_int_equal(input_scan_lines(fd, 1 << 20, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_false(s.too_long[0]);
	assert_int_equal(s.len[0], off2 - 1);
	assert_memory_equal(s.data[0], text.data, s.len[0]);
	assert_int_equal(s.offset[1], off2);
	check_read_back(fd, &s, 1, "{\"z\":0}");
	seen_release(&s);

	/* The same line with a small limit: too long, and the scan goes on. */
	assert_int_equal(input_scan_lines(fd, 1000, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_true(s.too_long[0]);
	assert_null(s.data[0]);
	assert_int_equal(s.lineno[1], 2);
	assert_int_equal(s.offset[1], off2);
	check_read_back(fd, &s, 1, "{\"z\":0}");
	seen_release(&s);
	close(fd);
	buf_release(&text);
}

static void
test_input_scan_lines_callback_stops(void **state)
{
	struct seen s;
	int fd;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	fd = temp_str("a\nb\nc\nd\n");
	assert_int_equal(input_scan_lines(fd, 100, collect, &s), -1);
	assert_int_equal(s.n, 2);
	seen_release(&s);
	close(fd);
}

static void
test_input_scan_lines_empty(void **state)
{
	struct seen s;
	char sha[INPUT_SHA256_HEX];
	int fd;

	(void)state;
	memset(&s, 0, sizeof(s));
	fd = temp_str("");
	assert_int_equal(input_scan_lines(fd, 100, collect, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(input_sha256_fd(fd, sha), 0);
	assert_string_equal(sha, SHA_EMPTY);
	close(fd);
	fd = temp_str("\n\n \n");
	assert_int_equal(input_scan_lines(fd, 100, collect, &s), 0);
	assert_int_equal(s.n, 0);
	close(fd);
}

/*
 * A scan in steps sees what one scan sees: the same lines, numbers,
 * offsets and too-long marks, whatever the step (blank, CRLF, too long
 * and unterminated lines included).
 */
static void
test_input_scan_some_steps(void **state)
{
	static const char text[] = "a\n\n  \nbb\r\n0123456789ABCDEF\n"
	    "c\n\nlast";
	struct seen whole, part;
	struct input_pos pos;
	uint64_t step, n;
	int fd, i, guard;

	(void)state;
	fd = temp_str(text);
	memset(&whole, 0, sizeof(whole));
	assert_int_equal(input_scan_lines(fd, 8, collect, &whole), 0);
	assert_int_equal(whole.n, 5);
	for (step = 1; step <= 4; step++) {
		memset(&part, 0, sizeof(part));
		pos = (struct input_pos)INPUT_POS_START;
		for (guard = 0; !pos.eof && guard < 20; guard++)
			assert_int_equal(input_scan_some(fd, 8, collect, &part,
			    &pos, step), 0);
		assert_true(pos.eof);
		assert_int_equal(pos.offset, strlen(text));
		/* Nothing more once at the end. */
		assert_int_equal(input_scan_some(fd, 8, collect, &part, &pos,
		    step), 0);
		assert_int_equal(part.n, whole.n);
		for (i = 0; i < whole.n; i++) {
			assert_int_equal(part.lineno[i], whole.lineno[i]);
			assert_int_equal(part.offset[i], whole.offset[i]);
			assert_int_equal(part.len[i], whole.len[i]);
			assert_int_equal(part.too_long[i], whole.too_long[i]);
			if (whole.data[i] != NULL)
				assert_string_equal(part.data[i],
				    whole.data[i]);
			else
				assert_null(part.data[i]);
		}
		seen_release(&part);
	}
	seen_release(&whole);
	/* 8 lines: the last one has no newline. */
	assert_int_equal(input_count_lines(fd, &n), 0);
	assert_int_equal(n, 8);
	close(fd);
	fd = temp_str("x\ny\n");
	assert_int_equal(input_count_lines(fd, &n), 0);
	assert_int_equal(n, 2);
	close(fd);
	fd = temp_str("");
	assert_int_equal(input_count_lines(fd, &n), 0);
	assert_int_equal(n, 0);
	close(fd);
}

static void
test_input_sha256_known(void **state)
{
	char sha[INPUT_SHA256_HEX], sha2[INPUT_SHA256_HEX];
	struct input_hash *h;
	struct seen s;
	int fd;

	(void)state;
	memset(&s, 0, sizeof(s));
	fd = temp_str("abc");
	assert_int_equal(input_sha256_fd(fd, sha), 0);
	assert_string_equal(sha, SHA_ABC);
	assert_int_equal(input_scan_lines(fd, 100, collect, &s), 0);
	/* The same hash fed in pieces. */
	h = input_sha256_begin();
	input_sha256_update(h, "a", 1);
	input_sha256_update(h, "bc", 2);
	input_sha256_end(h, sha2);
	assert_string_equal(sha2, SHA_ABC);
	assert_int_equal(s.n, 1);
	seen_release(&s);
	input_sha256_mem("abc", 3, sha);
	assert_string_equal(sha, SHA_ABC);
	input_sha256_mem("", 0, sha);
	assert_string_equal(sha, SHA_EMPTY);
	close(fd);
}

static void
test_input_read_at_and_file(void **state)
{
	struct buf b = BUF_INIT;
	int fd;

	(void)state;
	fd = temp_str("hello world");
	assert_int_equal(input_read_at(fd, 6, 5, &b), 0);
	assert_string_equal(b.data, "world");
	assert_int_equal(input_read_at(fd, 0, 0, &b), 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	/* Past the end: the file changed, an I/O error. */
	errno = 0;
	assert_int_equal(input_read_at(fd, 6, 6, &b), -1);
	assert_int_equal(errno, EIO);

	assert_int_equal(input_read_file(fd, 11, &b), 0);
	assert_int_equal(b.len, 11);
	assert_string_equal(b.data, "hello world");
	errno = 0;
	assert_int_equal(input_read_file(fd, 10, &b), -1);
	assert_int_equal(errno, EFBIG);
	buf_release(&b);
	close(fd);
}

static int
complete(const char *text, bool jsonl, size_t max_line)
{
	int fd = temp_str(text), r;

	r = input_looks_complete(fd, jsonl, max_line);
	close(fd);
	return r;
}

static void
test_input_looks_complete_jsonl(void **state)
{
	(void)state;
	assert_int_equal(complete("{\"a\":1}\n{\"b\":2}\n", true, 1000), 1);
	/* Ends mid-line: the writer is still at it. */
	assert_int_equal(complete("{\"a\":1}\n{\"b\":", true, 1000), 0);
	assert_int_equal(complete("{\"a\":1", true, 1000), 0);
	/* A complete last line without its newline is complete. */
	assert_int_equal(complete("{\"a\":1}\n{\"b\":2}", true, 1000), 1);
	assert_int_equal(complete("{\"a\":1}", true, 1000), 1);
	assert_int_equal(complete("{\"a\":1}\r", true, 1000), 1);
	/* Nothing written yet. */
	assert_int_equal(complete("", true, 1000), 0);
	/* Even a newline-terminated half line counts as a whole line. */
	assert_int_equal(complete("{\"a\":\n", true, 1000), 1);
}

static void
test_input_looks_complete_json(void **state)
{
	(void)state;
	assert_int_equal(complete("{\"messages\":[]}", false, 1000), 1);
	assert_int_equal(complete("{\n  \"messages\": []\n}\n", false, 1000),
	    1);
	assert_int_equal(complete("{\"messages\":[", false, 1000), 0);
	assert_int_equal(complete("{\"a\":1} junk", false, 1000), 0);
	assert_int_equal(complete("", false, 1000), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_input_scan_lines_offsets),
		cmocka_unit_test(test_input_scan_lines_too_long),
		cmocka_unit_test(test_input_scan_lines_across_chunks),
		cmocka_unit_test(test_input_scan_lines_callback_stops),
		cmocka_unit_test(test_input_scan_lines_empty),
		cmocka_unit_test(test_input_scan_some_steps),
		cmocka_unit_test(test_input_sha256_known),
		cmocka_unit_test(test_input_read_at_and_file),
		cmocka_unit_test(test_input_looks_complete_jsonl),
		cmocka_unit_test(test_input_looks_complete_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
