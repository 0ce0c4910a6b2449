/*
 * test_pgzip - the parallel gzip writer: what goes in comes out of one
 * ordinary gzip reader (zlib's gzread, which reads a file of several
 * members as one stream), whatever the threads and the write sizes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "pgzip.h"

/* Text-like data that compresses, with enough variety to be checked. */
static unsigned char *
make_data(size_t len)
{
	unsigned char *d = malloc(len);
	uint32_t x = 12345;
	size_t i;

	assert_non_null(d);
	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		d[i] = (unsigned char)("abcdefgh {}\":,\n0123"[(x >> 16) % 20]);
	}
	return d;
}

/* Through pgzip into a temporary file in steps, and back through zlib. */
static void
roundtrip(size_t len, int threads, size_t step)
{
	char path[] = "/tmp/test_pgzip.XXXXXX";
	unsigned char *data = make_data(len), *back;
	struct pgzip *z;
	size_t off, n;
	gzFile g;
	int fd, got;

	fd = mkstemp(path);
	assert_true(fd != -1);
	z = pgzip_open(fd, 1, threads);
	for (off = 0; off < len; off += n) {
		n = len - off < step ? len - off : step;
		assert_int_equal(pgzip_write(z, data + off, n), 0);
	}
	assert_int_equal(pgzip_close(z), 0);
	close(fd);
	back = malloc(len + 16);
	assert_non_null(back);
	g = gzopen(path, "rb");
	assert_non_null(g);
	got = gzread(g, back, (unsigned)(len + 16));
	assert_int_equal(got, (int)len);
	assert_int_equal(gzclose(g), Z_OK);
	assert_memory_equal(back, data, len);
	unlink(path);
	free(back);
	free(data);
}

static void
test_pgzip_threads_and_sizes(void **state)
{
	(void)state;
	/* Several members, odd write sizes, one thread and many. */
	roundtrip(3 * 1024 * 1024 + 777, 1, 10240);
	roundtrip(3 * 1024 * 1024 + 777, 3, 10240);
	roundtrip(5 * 1024 * 1024, 2, 1000003);
	/* Under one chunk, and exactly one. */
	roundtrip(100, 4, 7);
	roundtrip(512 * 1024, 2, 512 * 1024);
}

static void
test_pgzip_empty_is_valid_gzip(void **state)
{
	(void)state;
	roundtrip(0, 2, 1);
}

static void
test_pgzip_write_error(void **state)
{
	unsigned char *data = make_data(2 * 1024 * 1024);
	struct pgzip *z;
	int p[2];

	(void)state;
	/* A pipe with no reader: the first member's write fails. */
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	z = pgzip_open(p[1], 1, 2);
	(void)pgzip_write(z, data, 2 * 1024 * 1024);
	assert_int_equal(pgzip_close(z), -1);
	close(p[1]);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pgzip_threads_and_sizes),
		cmocka_unit_test(test_pgzip_empty_is_valid_gzip),
		cmocka_unit_test(test_pgzip_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
