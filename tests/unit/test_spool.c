/*
 * test_spool - the spool protocol on a real temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "spool_limits.h"
#include "util.h"

struct fixture {
	char		 tmpdir[64];
	char		*root;		/* tmpdir/spool */
	struct spool	*sp;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state);

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->tmpdir, sizeof(f->tmpdir), "/tmp/spoold-test-spool.XXXXXX");
	if (mkdtemp(f->tmpdir) == NULL) {
		free(f);
		return -1;
	}
	f->root = xasprintf("%s/spool", f->tmpdir);
	f->sp = spool_open(f->root, true, 0770);
	*state = f;
	if (f->sp == NULL) {
		teardown(state);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	spool_free(f->sp);
	nftw(f->tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f->root);
	free(f);
	return 0;
}

/* Reads dfd/name whole into a NUL-terminated malloc'ed string. */
static char *
slurp_at(int dfd, const char *name)
{
	char *p;
	ssize_t n;
	int fd;

	fd = openat(dfd, name, O_RDONLY);
	if (fd == -1)
		return NULL;
	p = xcalloc(1, 4096);
	n = read_full(fd, p, 4095);
	close(fd);
	if (n < 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* Counts the entries of dfd (without . and ..); hidden ones separately. */
static int
count_entries(int dfd, int *hidden)
{
	struct dirent *de;
	DIR *dir;
	int fd, n = 0;

	*hidden = 0;
	fd = dup(dfd);
	assert_true(fd != -1);
	dir = fdopendir(fd);
	assert_non_null(dir);
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		if (de->d_name[0] == '.')
			(*hidden)++;
	}
	closedir(dir);
	return n;
}

static void
touch_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd != -1);
	assert_int_equal(write_full(fd, "x", 1), 0);
	close(fd);
}

static void
test_spool_open_creates_dirs(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	struct spool *again;
	char *path;
	int d;

	assert_string_equal(spool_root(f->sp), f->root);
	for (d = 0; d < SPOOL_NDIRS; d++) {
		path = xasprintf("%s/%s", f->root, spool_dir_name(d));
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		free(path);
		assert_true(spool_dirfd(f->sp, d) >= 0);
		assert_int_equal(fstat(spool_dirfd(f->sp, d), &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}
	assert_string_equal(spool_dir_name(SPOOL_TMP), "tmp");
	assert_string_equal(spool_dir_name(SPOOL_NEW), "new");
	assert_string_equal(spool_dir_name(SPOOL_PROCESSING), "processing");
	assert_string_equal(spool_dir_name(SPOOL_DONE), "done");
	assert_string_equal(spool_dir_name(SPOOL_FAILED), "failed");
	assert_string_equal(spool_dir_name(SPOOL_RESULTS), "results");
	assert_string_equal(spool_dir_name(SPOOL_ARCHIVE), "archive");

	/* An existing spool opens without create, and with it again. */
	again = spool_open(f->root, false, 0770);
	assert_non_null(again);
	spool_free(again);
	again = spool_open(f->root, true, 0770);
	assert_non_null(again);
	spool_free(again);
}

static void
test_spool_open_missing_fails(void **state)
{
	struct fixture *f = *state;
	struct spool *sp;
	char *path;

	path = xasprintf("%s/nope", f->tmpdir);
	errno = 0;
	sp = spool_open(path, false, 0770);
	assert_null(sp);
	assert_int_equal(errno, ENOENT);
	/* A root without its subdirectories is not a spool either. */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_null(spool_open(path, false, 0770));
	free(path);
}

static void
test_spool_name_ok(void **state)
{
	char name[300];

	(void)state;
	assert_true(spool_name_ok("a"));
	assert_true(spool_name_ok("batch-1.jsonl"));
	assert_true(spool_name_ok("..."));
	assert_true(spool_name_ok(".hidden"));
	assert_true(spool_name_ok("caf\xc3\xa9.jsonl"));
	assert_false(spool_name_ok(""));
	assert_false(spool_name_ok("."));
	assert_false(spool_name_ok(".."));
	assert_false(spool_name_ok("a/b"));
	assert_false(spool_name_ok("/abs"));
	assert_false(spool_name_ok("../x"));
	assert_false(spool_name_ok("a\nb"));
	assert_false(spool_name_ok("a\tb"));
	assert_false(spool_name_ok("\x01"));
	assert_false(spool_name_ok("del\x7f"));
	/* Names become batch ids in JSON records: UTF-8 only. */
	assert_false(spool_name_ok("bad\xff\xfe.jsonl"));
	assert_false(spool_name_ok("cut\xc3"));
	assert_false(spool_name_ok("overlong\xc0\xaf"));
	memset(name, 'n', sizeof(name));
	name[255] = '\0';
	assert_true(spool_name_ok(name));
	name[255] = 'n';
	name[256] = '\0';
	assert_false(spool_name_ok(name));
}

static void
test_spool_name_is_temp(void **state)
{
	(void)state;
	assert_true(spool_name_is_temp(".a.jsonl"));
	assert_true(spool_name_is_temp(".x"));
	assert_true(spool_name_is_temp("a.jsonl.tmp"));
	assert_true(spool_name_is_temp("a.part"));
	assert_true(spool_name_is_temp("a.partial"));
	assert_true(spool_name_is_temp("a.filepart"));
	assert_true(spool_name_is_temp("a.crdownload"));
	assert_true(spool_name_is_temp("a.jsonl.swp"));
	assert_true(spool_name_is_temp("a.jsonl~"));
	assert_false(spool_name_is_temp("a.jsonl"));
	assert_false(spool_name_is_temp("a.json"));
	assert_false(spool_name_is_temp("tmp.jsonl"));
	assert_false(spool_name_is_temp("a.tmpx"));
}

static void
test_spool_name_kind(void **state)
{
	(void)state;
	assert_int_equal(spool_name_kind("a.jsonl"), SPOOL_KIND_JSONL);
	assert_int_equal(spool_name_kind("a.json"), SPOOL_KIND_JSON);
	assert_int_equal(spool_name_kind("a.tar.gz"), SPOOL_KIND_ARCHIVE);
	assert_int_equal(spool_name_kind("a.tgz"), SPOOL_KIND_ARCHIVE);
	assert_int_equal(spool_name_kind("a.tar"), SPOOL_KIND_ARCHIVE);
	assert_int_equal(spool_name_kind("a.tar.zst"), SPOOL_KIND_ARCHIVE);
	assert_int_equal(spool_name_kind("a.zip"), SPOOL_KIND_ARCHIVE);
	assert_int_equal(spool_name_kind("a.cancel"), SPOOL_KIND_CANCEL);
	assert_int_equal(spool_name_kind("a.jsonl.ready"), SPOOL_KIND_READY);
	assert_int_equal(spool_name_kind("a.txt"), SPOOL_KIND_OTHER);
	assert_int_equal(spool_name_kind("a"), SPOOL_KIND_OTHER);
	assert_int_equal(spool_name_kind("a.gz"), SPOOL_KIND_OTHER);
	assert_int_equal(spool_name_kind("a.JSONL"), SPOOL_KIND_OTHER);
	/* A bare suffix has no stem: unusable. */
	assert_int_equal(spool_name_kind("jsonl"), SPOOL_KIND_OTHER);
	/* Temporary names win over their inner suffix. */
	assert_int_equal(spool_name_kind(".a.jsonl"), SPOOL_KIND_TEMP);
	assert_int_equal(spool_name_kind("a.jsonl.part"), SPOOL_KIND_TEMP);
	assert_int_equal(spool_name_kind("a.json.tmp"), SPOOL_KIND_TEMP);
}

static void
test_spool_name_stem(void **state)
{
	char id[256], small[4], longname[260];

	(void)state;
	assert_int_equal(spool_name_stem("batch1.jsonl", id, sizeof(id)), 0);
	assert_string_equal(id, "batch1");
	assert_int_equal(spool_name_stem("one.json", id, sizeof(id)), 0);
	assert_string_equal(id, "one");
	assert_int_equal(spool_name_stem("x.tar.gz", id, sizeof(id)), 0);
	assert_string_equal(id, "x");
	assert_int_equal(spool_name_stem("x.tgz", id, sizeof(id)), 0);
	assert_string_equal(id, "x");
	assert_int_equal(spool_name_stem("x.tar.zst", id, sizeof(id)), 0);
	assert_string_equal(id, "x");
	assert_int_equal(spool_name_stem("b.cancel", id, sizeof(id)), 0);
	assert_string_equal(id, "b");
	assert_int_equal(spool_name_stem("a.b.jsonl", id, sizeof(id)), 0);
	assert_string_equal(id, "a.b");
	assert_int_equal(spool_name_stem("noext", id, sizeof(id)), 0);
	assert_string_equal(id, "noext");
	assert_int_equal(spool_name_stem("", id, sizeof(id)), -1);
	/* The stem and its NUL must fit. */
	assert_int_equal(spool_name_stem("abc.jsonl", small, sizeof(small)),
	    0);
	assert_string_equal(small, "abc");
	assert_int_equal(spool_name_stem("abcd.jsonl", small, sizeof(small)),
	    -1);
	/* Batch ids are bounded well below NAME_MAX. */
	memset(longname, 'b', 201);
	strcpy(longname + 201, ".jsonl");
	assert_int_equal(spool_name_stem(longname, id, sizeof(id)), -1);
	strcpy(longname + 200, ".jsonl");
	assert_int_equal(spool_name_stem(longname, id, sizeof(id)), 0);
	assert_int_equal(strlen(id), 200);
	/* spool_name_strip: the same without the batch-id bound. */
	memset(longname, 'c', 250);
	strcpy(longname + 250, ".json");
	assert_int_equal(spool_name_strip(longname, id, sizeof(id)), 0);
	assert_int_equal(strlen(id), 250);
	assert_int_equal(spool_name_strip("abcd.jsonl", small, sizeof(small)),
	    -1);
	assert_int_equal(spool_name_strip(".json", id, sizeof(id)), 0);
	assert_string_equal(id, ".json");
}

static void
test_spool_name_sanitize(void **state)
{
	static const char *const inputs[] = { "a/b", "../../etc/passwd",
	    ".hidden", "..", ".", "", "ctl\x01\x1f\x7f", "back\\slash",
	    "new\nline", "plain-name.json" };
	char out[64], tiny[4];
	size_t i, j;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(inputs); i++) {
		spool_name_sanitize(inputs[i], out, sizeof(out));
		assert_true(strlen(out) > 0);
		assert_true(out[0] != '.');
		assert_null(strchr(out, '/'));
		for (j = 0; out[j] != '\0'; j++)
			assert_true((unsigned char)out[j] >= 0x20 &&
			    (unsigned char)out[j] != 0x7f);
		assert_true(spool_name_ok(out));
	}
	spool_name_sanitize("a/b\x01" "c", out, sizeof(out));
	assert_string_equal(out, "a_b_c");
	spool_name_sanitize(".hidden", out, sizeof(out));
	assert_string_equal(out, "_hidden");
	spool_name_sanitize("", out, sizeof(out));
	assert_string_equal(out, "_");
	spool_name_sanitize("plain-name.json", out, sizeof(out));
	assert_string_equal(out, "plain-name.json");
	spool_name_sanitize("abcdef", tiny, sizeof(tiny));
	assert_string_equal(tiny, "abc");
	/* UTF-8 is kept whole; bytes that are not UTF-8 become '_'. */
	spool_name_sanitize("caf\xc3\xa9\xff\xfe", out, sizeof(out));
	assert_string_equal(out, "caf\xc3\xa9__");
	assert_true(spool_name_ok(out));
	/* A character that does not fit is left out, not cut. */
	spool_name_sanitize("ab\xc3\xa9", tiny, sizeof(tiny));
	assert_string_equal(tiny, "ab");
}

static void
test_spool_write_atomic_no_temp_left(void **state)
{
	struct fixture *f = *state;
	int dfd = spool_dirfd(f->sp, SPOOL_DONE), hidden;
	char *got;

	assert_int_equal(spool_write_atomic(f->sp, SPOOL_DONE, "status.json",
	    "{\"ok\":true}\n", 12), 0);
	got = slurp_at(dfd, "status.json");
	assert_non_null(got);
	assert_string_equal(got, "{\"ok\":true}\n");
	free(got);
	assert_int_equal(count_entries(dfd, &hidden), 1);
	assert_int_equal(hidden, 0);

	/* An empty file is a valid write too. */
	assert_int_equal(spool_write_atomic(f->sp, SPOOL_DONE, "empty", "",
	    0), 0);
	got = slurp_at(dfd, "empty");
	assert_non_null(got);
	assert_string_equal(got, "");
	free(got);
	assert_int_equal(count_entries(dfd, &hidden), 2);
	assert_int_equal(hidden, 0);
}

static void
test_spool_write_atomic_replaces(void **state)
{
	struct fixture *f = *state;
	int dfd = spool_dirfd(f->sp, SPOOL_RESULTS), hidden;
	char *got;

	assert_int_equal(spool_write_atomic(f->sp, SPOOL_RESULTS, "s.json",
	    "first version, long", 19), 0);
	assert_int_equal(spool_write_atomic(f->sp, SPOOL_RESULTS, "s.json",
	    "second", 6), 0);
	got = slurp_at(dfd, "s.json");
	assert_non_null(got);
	assert_string_equal(got, "second");
	free(got);
	assert_int_equal(count_entries(dfd, &hidden), 1);
	assert_int_equal(hidden, 0);
}

static void
test_spool_move_noreplace(void **state)
{
	struct fixture *f = *state;
	int newfd = spool_dirfd(f->sp, SPOOL_NEW);
	int procfd = spool_dirfd(f->sp, SPOOL_PROCESSING);
	char *got;

	assert_int_equal(spool_write_atomic(f->sp, SPOOL_NEW, "a.jsonl",
	    "source", 6), 0);
	assert_int_equal(spool_write_atomic(f->sp, SPOOL_PROCESSING, "b.jsonl",
	    "target", 6), 0);
	errno = 0;
	assert_int_equal(spool_move(f->sp, SPOOL_NEW, "a.jsonl",
	    SPOOL_PROCESSING, "b.jsonl"), -1);
	assert_int_equal(errno, EEXIST);
	got = slurp_at(newfd, "a.jsonl");
	assert_non_null(got);
	assert_string_equal(got, "source");
	free(got);
	got = slurp_at(procfd, "b.jsonl");
	assert_non_null(got);
	assert_string_equal(got, "target");
	free(got);

	/* To a free name it moves. */
	assert_int_equal(spool_move(f->sp, SPOOL_NEW, "a.jsonl",
	    SPOOL_PROCESSING, "a.jsonl"), 0);
	assert_int_equal(faccessat(newfd, "a.jsonl", F_OK, 0), -1);
	got = slurp_at(procfd, "a.jsonl");
	assert_non_null(got);
	assert_string_equal(got, "source");
	free(got);
}

static void
test_spool_move_missing_source(void **state)
{
	struct fixture *f = *state;
	int hidden;

	errno = 0;
	assert_int_equal(spool_move(f->sp, SPOOL_NEW, "gone.jsonl",
	    SPOOL_PROCESSING, "gone.jsonl"), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_entries(spool_dirfd(f->sp, SPOOL_PROCESSING),
	    &hidden), 0);
}

static void
test_spool_move_directory(void **state)
{
	struct fixture *f = *state;
	int newfd = spool_dirfd(f->sp, SPOOL_NEW);
	int donefd = spool_dirfd(f->sp, SPOOL_DONE);
	struct stat st;

	assert_int_equal(mkdirat(newfd, "d", 0700), 0);
	assert_int_equal(mkdirat(donefd, "taken", 0700), 0);
	errno = 0;
	assert_int_equal(spool_move_at(newfd, "d", donefd, "taken"), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(spool_move_at(newfd, "d", donefd, "d"), 0);
	assert_int_equal(fstatat(donefd, "d", &st, 0), 0);
	assert_true(S_ISDIR(st.st_mode));
}

static void
test_spool_tmp_commit_and_abort(void **state)
{
	struct fixture *f = *state;
	int dfd = spool_dirfd(f->sp, SPOOL_TMP), hidden;
	struct spool_tmp *t;
	char *got;

	t = spool_tmp_open(dfd);
	assert_non_null(t);
	assert_true(spool_tmp_fd(t) >= 0);
	assert_int_equal(spool_tmp_write(t, "abandoned", 9), 0);
	/* While open, the file is hidden. */
	assert_int_equal(count_entries(dfd, &hidden), 1);
	assert_int_equal(hidden, 1);
	spool_tmp_abort(&t);
	assert_null(t);
	assert_int_equal(count_entries(dfd, &hidden), 0);
	spool_tmp_abort(&t);	/* NULL-safe */

	t = spool_tmp_open(dfd);
	assert_non_null(t);
	assert_int_equal(spool_tmp_write(t, "kept", 4), 0);
	assert_int_equal(spool_tmp_commit(&t, "out.jsonl"), 0);
	assert_null(t);
	assert_int_equal(count_entries(dfd, &hidden), 1);
	assert_int_equal(hidden, 0);
	got = slurp_at(dfd, "out.jsonl");
	assert_non_null(got);
	assert_string_equal(got, "kept");
	free(got);
}

static void
test_spool_sweep_tmp(void **state)
{
	struct fixture *f = *state;
	int dfd = spool_dirfd(f->sp, SPOOL_TMP), hidden;
	struct spool_tmp *t;

	touch_at(dfd, ".x.tmp");
	touch_at(dfd, ".123.abc.tmp");
	touch_at(dfd, "visible.tmp");
	touch_at(dfd, ".hidden");
	touch_at(dfd, "data.jsonl");
	touch_at(dfd, ".fuse_hidden0000000200000001");
	assert_int_equal(mkdirat(dfd, ".dir.tmp", 0700), 0);

	/* Fresh files survive a sweep with an age limit. */
	assert_int_equal(spool_sweep_tmp(dfd, 3600), 0);
	assert_int_equal(count_entries(dfd, &hidden), 7);

	assert_int_equal(spool_sweep_tmp(dfd, 0), 0);
	assert_int_equal(faccessat(dfd, ".x.tmp", F_OK, 0), -1);
	assert_int_equal(faccessat(dfd, ".123.abc.tmp", F_OK, 0), -1);
	/* What a FUSE mount leaked goes too. */
	assert_int_equal(faccessat(dfd, ".fuse_hidden0000000200000001",
	    F_OK, 0), -1);
	assert_int_equal(faccessat(dfd, "visible.tmp", F_OK, 0), 0);
	assert_int_equal(faccessat(dfd, ".hidden", F_OK, 0), 0);
	assert_int_equal(faccessat(dfd, "data.jsonl", F_OK, 0), 0);
	assert_int_equal(faccessat(dfd, ".dir.tmp", F_OK, 0), 0);
	assert_int_equal(count_entries(dfd, &hidden), 4);

	/* A spool_tmp file is what the sweep is for. */
	t = spool_tmp_open(dfd);
	assert_non_null(t);
	assert_int_equal(spool_sweep_tmp(dfd, 0), 0);
	assert_int_equal(count_entries(dfd, &hidden), 4);
	spool_tmp_abort(&t);
}

static void
test_spool_results_open(void **state)
{
	struct fixture *f = *state;
	int fd;

	errno = 0;
	assert_int_equal(spool_results_open(f->sp, "b1", false), -1);
	assert_int_equal(errno, ENOENT);
	fd = spool_results_open(f->sp, "b1", true);
	assert_true(fd >= 0);
	close(fd);
	fd = spool_results_open(f->sp, "b1", false);
	assert_true(fd >= 0);
	close(fd);
	errno = 0;
	assert_int_equal(spool_results_open(f->sp, "../x", true), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_results_open(f->sp, ".hid", true), -1);
	assert_int_equal(spool_results_open(f->sp, "..", true), -1);
}

/* Ids a command may name: safe, not hidden, at most 200 bytes. */
static void
test_spool_batch_id_ok(void **state)
{
	char id[SPOOL_BATCH_ID_MAX + 2];

	(void)state;
	assert_true(spool_batch_id_ok("posts"));
	assert_true(spool_batch_id_ok("loose-20261127T051230Z.2"));
	assert_false(spool_batch_id_ok(".hidden"));
	assert_false(spool_batch_id_ok("a/b"));
	assert_false(spool_batch_id_ok(".."));
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	assert_false(spool_batch_id_ok(id));
	id[sizeof(id) - 2] = '\0';
	assert_true(spool_batch_id_ok(id));
}

/* Inputs are counted, not markers, leases, sidecars or temp files. */
static void
test_spool_count_inputs(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = { "a.jsonl", "b.json", "c.tar.gz",
	    "a.cancel", "a.hold", "b.ready", ".x.tmp", "z.part" };
	int nfd = spool_dirfd(f->sp, SPOOL_NEW);
	int ffd = spool_dirfd(f->sp, SPOOL_FAILED);
	int pfd = spool_dirfd(f->sp, SPOOL_PROCESSING);
	struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	time_t oldest = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		assert_int_equal(spool_write_at(nfd, names[i], "x", 1), 0);
	assert_int_equal(mkdirat(nfd, "dir", 0770), 0);
	assert_int_equal(utimensat(nfd, "b.json", old, 0), 0);
	assert_int_equal(spool_count_inputs(f->sp, SPOOL_NEW, &oldest), 4);
	assert_int_equal(oldest, 1000000000);
	assert_int_equal(spool_write_at(ffd, "x.jsonl", "x", 1), 0);
	assert_int_equal(spool_write_at(ffd, "x.jsonl.error.json", "{}", 2),
	    0);
	assert_int_equal(spool_count_inputs(f->sp, SPOOL_FAILED, NULL), 1);
	assert_int_equal(spool_write_at(pfd, "p.jsonl", "x", 1), 0);
	assert_int_equal(spool_write_at(pfd, "p.jsonl.lease", "x", 1), 0);
	assert_int_equal(spool_count_inputs(f->sp, SPOOL_PROCESSING, NULL), 1);
	assert_int_equal(spool_count_inputs(f->sp, SPOOL_DONE, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spool_open_creates_dirs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_open_missing_fails,
		    setup, teardown),
		cmocka_unit_test(test_spool_name_ok),
		cmocka_unit_test(test_spool_name_is_temp),
		cmocka_unit_test(test_spool_name_kind),
		cmocka_unit_test(test_spool_name_stem),
		cmocka_unit_test(test_spool_name_sanitize),
		cmocka_unit_test(test_spool_batch_id_ok),
		cmocka_unit_test_setup_teardown(
		    test_spool_write_atomic_no_temp_left, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_spool_write_atomic_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_move_noreplace,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_move_missing_source,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_move_directory,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_spool_tmp_commit_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_sweep_tmp,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_results_open,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_count_inputs,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
