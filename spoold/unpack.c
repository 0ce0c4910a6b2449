/*
 * unpack - archives and directory batches as one JSONL stream.
 *
 * A .jsonl member is copied line for line (a missing last newline is
 * added); a .json member is one request or a bare body and becomes one
 * line, its custom_id for a bare body being the member's path.  A .json
 * member that does not parse is still written, flattened to one line,
 * so that validation reports it with a line number like any bad line.
 */
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "spool.h"
#include "spool_limits.h"
#include "unpack.h"

#define RATIO_FLOOR	(1024 * 1024)	/* small inputs may compress well */
#define SINK_FLUSH	65536
#define SKIPPED_NAMES	400		/* bytes of names kept for the log */

struct sink {
	int			 fd;
	struct buf		 b;
	uint64_t		 produced;
	uint64_t		 compressed;	/* 0: not compressed */
	const struct unpack_limits *l;
	struct unpack_report	*rep;
	struct err		*err;
	/* the member being read */
	enum spool_kind		 kind;
	const char		*path;
	struct buf		 json;		/* a .json member */
	bool			 too_long;
	char			 last;		/* of a .jsonl member */
};

void
unpack_limits_default(struct unpack_limits *l)
{
	l->max_bytes = 1ULL << 30;
	l->max_ratio = 200;
	l->max_members = 100000;
	task_limits_default(&l->task);
}

void
unpack_report_release(struct unpack_report *r)
{
	buf_release(&r->skipped_names);
}

static int
sink_flush(struct sink *s)
{
	if (s->b.len > 0 && write_full(s->fd, s->b.data, s->b.len) == -1) {
		err_set(s->err, "io_error", "write the batch: %s",
		    strerror(errno));
		return -1;
	}
	buf_reset(&s->b);
	return 0;
}

/* Checks the bounds with extra more bytes unpacked. */
static int
sink_bound(struct sink *s, uint64_t unpacked)
{
	if (unpacked > s->l->max_bytes) {
		err_set(s->err, "archive_too_large", "unpacks to more than "
		    "%llu bytes (spool.max_file_size)",
		    (unsigned long long)s->l->max_bytes);
		return -1;
	}
	if (s->compressed > 0 && unpacked > RATIO_FLOOR &&
	    unpacked / s->compressed >= s->l->max_ratio) {
		err_set(s->err, "archive_too_large", "unpacks to more than "
		    "%llu times its size (a compression bomb?)",
		    (unsigned long long)s->l->max_ratio);
		return -1;
	}
	return 0;
}

static int
sink_add(struct sink *s, const void *data, size_t len)
{
	if (sink_bound(s, s->produced + len) == -1)
		return -1;
	buf_add(&s->b, data, len);
	s->produced += len;
	return s->b.len >= SINK_FLUSH ? sink_flush(s) : 0;
}

static void
note_skipped(struct sink *s, const char *path)
{
	struct buf *n = &s->rep->skipped_names;

	s->rep->skipped++;
	if (n->len >= SKIPPED_NAMES)
		return;
	if (n->len > 0)
		buf_adds(n, ", ");
	buf_add(n, path, strnlen(path, 100));
}

/* The member's kind by its last path component; TEMP for hidden. */
static enum spool_kind
member_kind(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	if (base[0] == '\0' || spool_name_is_temp(base) ||
	    strstr(path, "/.") != NULL)
		return SPOOL_KIND_TEMP;
	return spool_name_kind(base);
}

static void
member_begin(struct sink *s, enum spool_kind kind, const char *path)
{
	s->kind = kind;
	s->path = path;
	s->last = '\n';
	s->too_long = false;
	buf_reset(&s->json);
}

static int
member_data(struct sink *s, const char *data, size_t len)
{
	if (len == 0)
		return 0;
	if (s->kind == SPOOL_KIND_JSONL) {
		s->last = data[len - 1];
		return sink_add(s, data, len);
	}
	if (s->json.len + len > s->l->task.max_line) {
		s->too_long = true;
		return 0;
	}
	buf_add(&s->json, data, len);
	return 0;
}

/* A .json member's custom_id if it is a bare body: its path. */
static void
member_stem(const char *path, char *out, size_t outlen)
{
	size_t n = strlen(path), i;

	if (n > 5 && strcmp(path + n - 5, ".json") == 0)
		n -= 5;
	if (n >= outlen)
		n = outlen - 1;
	for (i = 0; i < n; i++)
		out[i] = path[i] == '/' ? '-' : path[i];
	out[n] = '\0';
}

static int
member_json_line(struct sink *s)
{
	char stem[SPOOL_CUSTOM_ID_MAX + 1];
	struct task t;
	struct err perr;
	cJSON *root, *o;
	char *line;
	size_t i;
	int r;

	member_stem(s->path, stem, sizeof(stem));
	if (task_parse_file(s->json.data != NULL ? s->json.data : "",
	    s->json.len, stem, &s->l->task, &t, &perr) == -1) {
		/* Validation will say what is wrong, at this line. */
		for (i = 0; i < s->json.len; i++)
			if (s->json.data[i] == '\n' || s->json.data[i] == '\r')
				s->json.data[i] = ' ';
		if (sink_add(s, s->json.data != NULL ? s->json.data : "{}",
		    s->json.len > 0 ? s->json.len : 2) == -1)
			return -1;
		return sink_add(s, "\n", 1);
	}
	root = cJSON_ParseWithLength(s->json.data, s->json.len);
	if (root != NULL && t.format == TASK_FORMAT_BARE) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "custom_id", t.custom_id);
		cJSON_AddStringToObject(o, "method", "POST");
		cJSON_AddStringToObject(o, "url", t.url);
		cJSON_AddItemToObject(o, "body", root);
		root = o;
	}
	task_release(&t);
	if (root == NULL || (line = cJSON_PrintUnformatted(root)) == NULL) {
		cJSON_Delete(root);
		err_set(s->err, "io_error", "out of memory");
		return -1;
	}
	cJSON_Delete(root);
	r = sink_add(s, line, strlen(line));
	cJSON_free(line);
	return r == -1 ? -1 : sink_add(s, "\n", 1);
}

static int
member_end(struct sink *s)
{
	s->rep->members++;
	if (s->kind == SPOOL_KIND_JSONL)
		return s->last == '\n' ? 0 : sink_add(s, "\n", 1);
	if (s->too_long) {
		err_set(s->err, "invalid_archive", "member %.100s is larger "
		    "than spool.max_line_size", s->path);
		return -1;
	}
	return member_json_line(s);
}

static void
sink_init(struct sink *s, int out_fd, const struct unpack_limits *l,
    struct unpack_report *rep, struct err *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = out_fd;
	s->l = l;
	s->rep = rep;
	s->err = err;
	buf_init(&s->b);
	buf_init(&s->json);
	memset(rep, 0, sizeof(*rep));
	buf_init(&rep->skipped_names);
}

static int
sink_finish(struct sink *s, int r)
{
	if (r == 0)
		r = sink_flush(s);
	buf_release(&s->b);
	buf_release(&s->json);
	return r;
}

/* --- archives ------------------------------------------------------- */

/* Refuses what could name or reach anything outside: SPEC §7. */
static int
entry_check(struct archive_entry *e, struct err *err)
{
	const char *path = archive_entry_pathname(e), *p;
	mode_t type = archive_entry_filetype(e);

	if (path == NULL || path[0] == '\0') {
		err_set(err, "unsafe_archive", "a member has no name");
		return -1;
	}
	if (path[0] == '/') {
		err_set(err, "unsafe_archive", "member %.100s has an absolute "
		    "path", path);
		return -1;
	}
	for (p = path; p != NULL; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0')) {
			err_set(err, "unsafe_archive", "member %.100s has a "
			    "\"..\" in its path", path);
			return -1;
		}
	}
	if (archive_entry_hardlink(e) != NULL || type == AE_IFLNK) {
		err_set(err, "unsafe_archive", "member %.100s is a link",
		    path);
		return -1;
	}
	if (type != AE_IFREG && type != AE_IFDIR) {
		err_set(err, "unsafe_archive", "member %.100s is a device, "
		    "FIFO or socket", path);
		return -1;
	}
	return 0;
}

/* Bytes unpacked so far: what the format layer read, for streams. */
static uint64_t
unpacked(struct archive *a, const struct sink *s, uint64_t skipped)
{
	int64_t fb = archive_filter_count(a) > 1 ?
	    archive_filter_bytes(a, 0) : 0;
	uint64_t n = s->produced + skipped;

	return fb > 0 && (uint64_t)fb > n ? (uint64_t)fb : n;
}

int
unpack_archive(int fd, int out_fd, const struct unpack_limits *l,
    struct unpack_report *rep, struct err *err)
{
	struct archive *a;
	struct archive_entry *e;
	struct sink s;
	struct stat st;
	char data[65536];
	uint64_t skipped = 0;
	la_ssize_t n;
	int r = -1, ar;

	sink_init(&s, out_fd, l, rep, err);
	if (fstat(fd, &st) == -1) {
		err_set(err, "io_error", "stat: %s", strerror(errno));
		return sink_finish(&s, -1);
	}
	s.compressed = st.st_size > 0 ? (uint64_t)st.st_size : 1;
	if ((a = archive_read_new()) == NULL) {
		err_set(err, "io_error", "out of memory");
		return sink_finish(&s, -1);
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_zip(a);
	if (archive_read_open_fd(a, fd, sizeof(data)) != ARCHIVE_OK) {
		err_set(err, "invalid_archive", "%s", archive_error_string(a));
		goto out;
	}
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *path = archive_entry_pathname(e);
		enum spool_kind kind;

		if (entry_check(e, err) == -1)
			goto out;
		if (archive_entry_filetype(e) == AE_IFDIR)
			continue;
		kind = member_kind(path);
		if (kind != SPOOL_KIND_JSON && kind != SPOOL_KIND_JSONL) {
			if (kind != SPOOL_KIND_TEMP)
				note_skipped(&s, path);
			if (archive_entry_size_is_set(e))
				skipped += (uint64_t)archive_entry_size(e);
			if (sink_bound(&s, unpacked(a, &s, skipped)) == -1)
				goto out;
			continue;	/* the next header skips its data */
		}
		if (rep->members >= l->max_members) {
			err_set(err, "archive_too_large", "more than %llu "
			    "members", (unsigned long long)l->max_members);
			goto out;
		}
		member_begin(&s, kind, path);
		while ((n = archive_read_data(a, data, sizeof(data))) > 0) {
			if (member_data(&s, data, (size_t)n) == -1 ||
			    sink_bound(&s, unpacked(a, &s, skipped)) == -1)
				goto out;
		}
		if (n < 0) {
			err_set(err, "invalid_archive", "member %.100s: %s",
			    path, archive_error_string(a));
			goto out;
		}
		if (member_end(&s) == -1)
			goto out;
	}
	if (ar != ARCHIVE_EOF) {
		err_set(err, "invalid_archive", "%s (truncated or corrupt?)",
		    archive_error_string(a));
		goto out;
	}
	r = 0;
out:
	archive_read_free(a);
	return sink_finish(&s, r);
}

/* --- directories ---------------------------------------------------- */

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dirfd, sorted; NULL with errno on failure. */
static char **
dir_names(int dirfd, size_t *np)
{
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;
	DIR *d;

	if ((d = spool_opendir(dirfd)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_names);
	*np = n;
	return v != NULL ? v : xcalloc(1, sizeof(*v));
}

static int
dir_member(struct sink *s, int dirfd, const char *name)
{
	struct stat st, st2;
	char data[65536];
	ssize_t n;
	int fd, r = -1;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			return 0;
		err_set(s->err, "io_error", "%.100s: %s", name,
		    strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		note_skipped(s, name);
		return 0;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		err_set(s->err, "unsafe_directory", "%.100s is %s", name,
		    S_ISREG(st.st_mode) ? "a hard link" :
		    "a symlink, FIFO, socket or device");
		return -1;
	}
	switch (member_kind(name)) {
	case SPOOL_KIND_JSON:
	case SPOOL_KIND_JSONL:
		break;
	case SPOOL_KIND_TEMP:
		return 0;
	default:
		note_skipped(s, name);
		return 0;
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1 || fstat(fd, &st2) == -1) {
		err_set(s->err, "io_error", "%.100s: %s", name,
		    strerror(errno));
		goto out;
	}
	/* Swapped between the look and the open: refuse, do not guess. */
	if (st2.st_ino != st.st_ino || st2.st_dev != st.st_dev ||
	    !S_ISREG(st2.st_mode) || st2.st_nlink != 1) {
		err_set(s->err, "unsafe_directory", "%.100s changed while "
		    "being read", name);
		goto out;
	}
	if (s->rep->members >= s->l->max_members) {
		err_set(s->err, "archive_too_large", "more than %llu files",
		    (unsigned long long)s->l->max_members);
		goto out;
	}
	member_begin(s, member_kind(name), name);
	while ((n = read(fd, data, sizeof(data))) > 0)
		if (member_data(s, data, (size_t)n) == -1)
			goto out;
	if (n == -1) {
		err_set(s->err, "io_error", "read %.100s: %s", name,
		    strerror(errno));
		goto out;
	}
	r = member_end(s);
out:
	if (fd != -1)
		close(fd);
	return r;
}

int
unpack_dir(int dirfd, const char *marker, int out_fd,
    const struct unpack_limits *l, struct unpack_report *rep,
    struct err *err)
{
	struct sink s;
	char **names;
	size_t n = 0, i;
	int r = 0;

	sink_init(&s, out_fd, l, rep, err);
	if ((names = dir_names(dirfd, &n)) == NULL) {
		err_set(err, "io_error", "list: %s", strerror(errno));
		return sink_finish(&s, -1);
	}
	for (i = 0; i < n; i++) {
		if (r == 0 && (marker == NULL || strcmp(names[i], marker) != 0))
			r = dir_member(&s, dirfd, names[i]);
		free(names[i]);
	}
	free(names);
	return sink_finish(&s, r);
}
