/*
 * spool - the on-disk spool protocol.
 *
 * Durability rule: a file becomes visible under its final name only after
 * its data is on disk (fsync before rename), and a rename counts only
 * after the directory holding it is fsynced.  Moves between directories
 * never replace an existing file (RENAME_NOREPLACE, or link+unlink where
 * the filesystem does not support the flag).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "spool_limits.h"
#include "util.h"

struct spool {
	char	*root;
	int	 rootfd;
	int	 fds[SPOOL_NDIRS];
};

static const char *const dir_names[SPOOL_NDIRS] = {
	"tmp", "new", "processing", "done", "failed", "results", "archive"
};

struct spool_tmp {
	int	 dfd;
	int	 fd;
	char	 name[64];
};

const char *
spool_dir_name(enum spool_dir d)
{
	return dir_names[d];
}

struct spool *
spool_open(const char *root, bool create, mode_t mode)
{
	struct spool *sp;
	int i, saved;

	if (create && mkdir(root, mode) == -1 && errno != EEXIST)
		return NULL;
	sp = xcalloc(1, sizeof(*sp));
	sp->root = xstrdup(root);
	for (i = 0; i < SPOOL_NDIRS; i++)
		sp->fds[i] = -1;
	sp->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->rootfd == -1)
		goto fail;
	for (i = 0; i < SPOOL_NDIRS; i++) {
		if (create && mkdirat(sp->rootfd, dir_names[i], mode) == -1 &&
		    errno != EEXIST)
			goto fail;
		sp->fds[i] = openat(sp->rootfd, dir_names[i],
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sp->fds[i] == -1)
			goto fail;
	}
	if (create && spool_fsync_dir(sp->rootfd) == -1)
		goto fail;
	return sp;
fail:
	saved = errno;
	spool_free(sp);
	errno = saved;
	return NULL;
}

void
spool_free(struct spool *sp)
{
	int i;

	if (sp == NULL)
		return;
	for (i = 0; i < SPOOL_NDIRS; i++)
		if (sp->fds[i] != -1)
			close(sp->fds[i]);
	if (sp->rootfd != -1)
		close(sp->rootfd);
	free(sp->root);
	free(sp);
}

const char *
spool_root(const struct spool *sp)
{
	return sp->root;
}

int
spool_dirfd(const struct spool *sp, enum spool_dir d)
{
	return sp->fds[d];
}

bool
spool_name_ok(const char *name)
{
	size_t n = strlen(name);
	const unsigned char *p;

	if (n == 0 || n > SPOOL_NAME_MAX)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	/* A batch id goes into JSON records and archive member names,
	 * which must be UTF-8. */
	return utf8_check(name, n) == n;
}

bool
spool_batch_id_ok(const char *id)
{
	return spool_name_ok(id) && id[0] != '.' &&
	    strlen(id) <= SPOOL_BATCH_ID_MAX;
}

static bool
has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n >= s && strcmp(name + n - s, suffix) == 0;
}

bool
spool_name_is_temp(const char *name)
{
	static const char *const suffixes[] = { ".tmp", ".part", ".partial",
	    ".filepart", ".crdownload", ".swp", "~" };
	size_t i;

	if (name[0] == '.')
		return true;
	for (i = 0; i < ARRAY_SIZE(suffixes); i++)
		if (has_suffix(name, suffixes[i]))
			return true;
	return false;
}

static const struct {
	const char	*suffix;
	enum spool_kind	 kind;
} kinds[] = {
	{ ".jsonl", SPOOL_KIND_JSONL },
	{ ".json", SPOOL_KIND_JSON },
	{ ".tar.gz", SPOOL_KIND_ARCHIVE },
	{ ".tar.zst", SPOOL_KIND_ARCHIVE },
	{ ".tgz", SPOOL_KIND_ARCHIVE },
	{ ".tar", SPOOL_KIND_ARCHIVE },
	{ ".zip", SPOOL_KIND_ARCHIVE },
	{ ".cancel", SPOOL_KIND_CANCEL },
	{ ".ready", SPOOL_KIND_READY },
	{ ".force", SPOOL_KIND_FORCE },
	{ ".hold", SPOOL_KIND_HOLD },
};

enum spool_kind
spool_name_kind(const char *name)
{
	size_t i;

	if (spool_name_is_temp(name))
		return SPOOL_KIND_TEMP;
	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (has_suffix(name, kinds[i].suffix) &&
		    strlen(name) > strlen(kinds[i].suffix))
			return kinds[i].kind;
	return SPOOL_KIND_OTHER;
}

/* The length of name without its kind's suffix. */
static size_t
stem_len(const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (has_suffix(name, kinds[i].suffix) &&
		    n > strlen(kinds[i].suffix))
			return n - strlen(kinds[i].suffix);
	return n;
}

int
spool_name_stem(const char *name, char *id, size_t idlen)
{
	if (stem_len(name) > SPOOL_BATCH_ID_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return spool_name_strip(name, id, idlen);
}

int
spool_name_strip(const char *name, char *out, size_t outlen)
{
	size_t n = stem_len(name);

	if (n == 0 || n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, name, n);
	out[n] = '\0';
	return 0;
}

void
spool_name_sanitize(const char *name, char *out, size_t outlen)
{
	size_t i, k, n = 0, len = strlen(name);

	SPOOL_ASSERT(outlen > 1);
	for (i = 0; i < len && n + 1 < outlen; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 0x80) {
			/* A whole UTF-8 character is kept, if it fits;
			 * a byte that is not UTF-8 becomes '_'. */
			k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (k <= len - i && utf8_check(name + i, k) == k) {
				if (n + k >= outlen)
					break;
				memcpy(out + n, name + i, k);
				n += k;
				i += k - 1;
				continue;
			}
			c = '_';
		}
		if (c == '/' || c < 0x20 || c == 0x7f || c == '\\')
			c = '_';
		out[n++] = (char)c;
	}
	out[n] = '\0';
	/* A leading dot would hide the file and ".." would climb. */
	if (out[0] == '.' || n == 0)
		out[0] = '_';
	if (n == 0 && outlen > 1)
		out[1] = '\0';
}

int
spool_fsync_dir(int dfd)
{
	/*
	 * Some filesystems refuse fsync on a directory (FUSE ones such as
	 * sshfs say ENOSYS): their renames are as durable as they get.
	 */
	if (fsync(dfd) == -1 && errno != EINVAL && errno != EROFS &&
	    errno != ENOSYS && errno != ENOTSUP)
		return -1;
	return 0;
}

struct spool_tmp *
spool_tmp_open(int dfd)
{
	struct spool_tmp *t;
	char rnd[25];

	t = xcalloc(1, sizeof(*t));
	t->dfd = dfd;
	random_id(rnd);
	/* Leading dot and .tmp: the watcher and readers ignore it. */
	snprintf(t->name, sizeof(t->name), ".%d.%.12s.tmp", (int)getpid(), rnd);
	t->fd = openat(dfd, t->name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (t->fd == -1) {
		free(t);
		return NULL;
	}
	return t;
}

int
spool_tmp_fd(const struct spool_tmp *t)
{
	return t->fd;
}

int
spool_tmp_write(struct spool_tmp *t, const void *buf, size_t len)
{
	return write_full(t->fd, buf, len);
}

int
spool_tmp_commit(struct spool_tmp **tp, const char *name)
{
	struct spool_tmp *t = *tp;
	int saved;

	*tp = NULL;
	if (fsync(t->fd) == -1)
		goto fail;
	if (close(t->fd) == -1) {
		t->fd = -1;
		goto fail;
	}
	t->fd = -1;
	if (renameat(t->dfd, t->name, t->dfd, name) == -1)
		goto fail;
	if (spool_fsync_dir(t->dfd) == -1) {
		free(t);
		return -1;
	}
	free(t);
	return 0;
fail:
	saved = errno;
	if (t->fd != -1)
		close(t->fd);
	unlinkat(t->dfd, t->name, 0);
	free(t);
	errno = saved;
	return -1;
}

void
spool_tmp_abort(struct spool_tmp **tp)
{
	struct spool_tmp *t = *tp;
	int saved = errno;

	if (t == NULL)
		return;
	*tp = NULL;
	if (t->fd != -1)
		close(t->fd);
	unlinkat(t->dfd, t->name, 0);
	free(t);
	errno = saved;
}

int
spool_write_at(int dfd, const char *name, const void *buf, size_t len)
{
	struct spool_tmp *t;

	if ((t = spool_tmp_open(dfd)) == NULL)
		return -1;
	if (spool_tmp_write(t, buf, len) == -1) {
		spool_tmp_abort(&t);
		return -1;
	}
	return spool_tmp_commit(&t, name);
}

int
spool_write_fast(int dfd, const char *name, const void *buf, size_t len)
{
	struct spool_tmp *t;
	int saved;

	if ((t = spool_tmp_open(dfd)) == NULL)
		return -1;
	if (spool_tmp_write(t, buf, len) == -1 || close(t->fd) == -1) {
		saved = errno;
		t->fd = -1;
		spool_tmp_abort(&t);
		errno = saved;
		return -1;
	}
	t->fd = -1;
	if (renameat(dfd, t->name, dfd, name) == -1) {
		saved = errno;
		spool_tmp_abort(&t);
		errno = saved;
		return -1;
	}
	free(t);
	return 0;
}

int
spool_write_atomic(struct spool *sp, enum spool_dir d, const char *name,
    const void *buf, size_t len)
{
	return spool_write_at(sp->fds[d], name, buf, len);
}

int
spool_rename_noreplace(int fromfd, const char *name, int tofd,
    const char *newname)
{
	struct stat st;

	if (renameat2(fromfd, name, tofd, newname, RENAME_NOREPLACE) == -1) {
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
		/*
		 * The filesystem lacks RENAME_NOREPLACE (some NFS and FUSE
		 * ones).  link(2) fails with EEXIST instead of replacing;
		 * directories cannot be linked, so for them we rely on
		 * target names being unique.
		 */
		if (fstatat(fromfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			return -1;
		if (S_ISDIR(st.st_mode)) {
			if (faccessat(tofd, newname, F_OK,
			    AT_SYMLINK_NOFOLLOW) == 0) {
				errno = EEXIST;
				return -1;
			}
			if (renameat(fromfd, name, tofd, newname) == -1)
				return -1;
		} else {
			if (linkat(fromfd, name, tofd, newname, 0) == -1)
				return -1;
			if (unlinkat(fromfd, name, 0) == -1)
				return -1;
		}
	}
	return 0;
}

int
spool_move_at(int fromfd, const char *name, int tofd, const char *newname)
{
	if (spool_rename_noreplace(fromfd, name, tofd, newname) == -1)
		return -1;
	/* The target first: once it is durable the input cannot be lost. */
	if (spool_fsync_dir(tofd) == -1)
		return -1;
	if (fromfd != tofd && spool_fsync_dir(fromfd) == -1)
		return -1;
	return 0;
}

int
spool_move(struct spool *sp, enum spool_dir from, const char *name,
    enum spool_dir to, const char *newname)
{
	return spool_move_at(sp->fds[from], name, sp->fds[to], newname);
}

int
spool_results_open(struct spool *sp, const char *batch, bool create)
{
	int dfd = sp->fds[SPOOL_RESULTS];

	if (!spool_name_ok(batch) || batch[0] == '.') {
		errno = EINVAL;
		return -1;
	}
	if (create) {
		if (mkdirat(dfd, batch, 0770) == 0) {
			if (spool_fsync_dir(dfd) == -1)
				return -1;
		} else if (errno != EEXIST) {
			return -1;
		}
	}
	return openat(dfd, batch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

DIR *
spool_opendir(int dfd)
{
	DIR *dir;
	int fd;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return NULL;
	if ((dir = fdopendir(fd)) == NULL) {
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return dir;
}

int
spool_sweep_tmp(int dfd, long age_s)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	time_t now = time(NULL), t;

	if ((dir = spool_opendir(dfd)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		size_t n = strlen(de->d_name);
		bool tmp = de->d_name[0] == '.' && n >= 5 &&
		    strcmp(de->d_name + n - 4, ".tmp") == 0;
		/*
		 * libfuse renames a file unlinked while open to .fuse_hidden*
		 * and unlinks that on the last close, but loses track when
		 * the close races the rename.  The rename set its ctime.
		 */
		bool hidden = strncmp(de->d_name, ".fuse_hidden", 12) == 0;

		if (!tmp && !hidden)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		/* A time a little ahead of ours (the file system's clock is
		 * finer than time()'s) is age 0, not negative. */
		t = tmp ? st.st_mtime : st.st_ctime;
		if ((now > t ? now - t : 0) >= age_s)
			unlinkat(dfd, de->d_name, 0);
	}
	closedir(dir);
	return 0;
}

long
spool_count_inputs(struct spool *sp, enum spool_dir d, time_t *oldest)
{
	int dfd = spool_dirfd(sp, d);
	struct dirent *de;
	struct stat st;
	size_t len;
	long n = 0;
	DIR *dir;

	if ((dir = spool_opendir(dfd)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		switch (spool_name_kind(de->d_name)) {
		case SPOOL_KIND_TEMP:
		case SPOOL_KIND_CANCEL:
		case SPOOL_KIND_READY:
		case SPOOL_KIND_FORCE:
		case SPOOL_KIND_HOLD:
			continue;
		default:
			break;
		}
		len = strlen(de->d_name);
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (len > 6 && strcmp(de->d_name + len - 6, ".lease") == 0) ||
		    (len > 11 &&
		    strcmp(de->d_name + len - 11, ".error.json") == 0))
			continue;
		n++;
		if (oldest != NULL && fstatat(dfd, de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 &&
		    (*oldest == 0 || st.st_mtime < *oldest))
			*oldest = st.st_mtime;
	}
	closedir(dir);
	return n;
}
