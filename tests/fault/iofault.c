/*
 * iofault - an LD_PRELOAD shim that makes one chosen I/O call fail, the
 * way SQLite's test harness injects I/O errors.
 *
 *   SPOOLD_IOFAULT="OP:N:ERRNO[:persist]"
 *	OP	write, fsync, rename, open, link, mkdir, truncate or any
 *	N	the Nth matching call (1-based), counted from process start
 *	ERRNO	EIO or ENOSPC
 *	persist	fail call N and every later matching one (a full disk);
 *		without it only call N fails and the fault then clears
 *   SPOOLD_IOFAULT_PATH=DIR
 *	count only calls on paths under DIR (fd-based calls are resolved
 *	through /proc/self/fd), so stderr, sockets and pipes do not count
 *   SPOOLD_IOFAULT_COUNT=FILE
 *	at exit, append "OP COUNT PID" for every op to FILE
 *
 * The ops group the wrapped calls:
 *	write	 write, pwrite, pwrite64
 *	fsync	 fsync, fdatasync
 *	rename	 rename, renameat, renameat2
 *	open	 open, open64, openat, openat64, creat and the _2 variants
 *	link	 link, linkat
 *	mkdir	 mkdir, mkdirat
 *	truncate ftruncate, ftruncate64
 *
 * The counters live in a MAP_SHARED page created at load, so a process
 * and the children it forks (spoold's finishers) count in one sequence
 * and call N fails once in the whole family.  A re-executed process gets
 * fresh counters; spoold's workers (--worker on the command line) are
 * left alone entirely.  Each process that ran appends its view of the
 * counters at exit (exit, _exit or _Exit), tagged with its pid; the last
 * writer, usually the supervisor, has the totals.
 *
 * Injections are announced on stderr ("iofault[PID]: ...").  Nothing
 * here allocates memory or takes a lock after load: the wrappers are
 * safe to call from signal handlers and between fork and exec.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum op {
	OP_WRITE, OP_FSYNC, OP_RENAME, OP_OPEN, OP_LINK, OP_MKDIR,
	OP_TRUNCATE, OP_ANY, NOPS
};

static const char *const op_names[NOPS] = {
	"write", "fsync", "rename", "open", "link", "mkdir", "truncate", "any"
};

struct shared {
	uint64_t	count[NOPS];
	uint64_t	fired;
};

static struct shared	*sh;		/* NULL: the shim is inactive */
static struct shared	 local;		/* fallback if mmap fails */
static int		 fault_op = -1;
static uint64_t		 fault_n;
static int		 fault_errno;
static bool		 fault_persist;
static char		 prefix[4096];	/* empty: every path counts */
static size_t		 prefix_len;
static char		 count_file[4096];

/* The real functions, looked up on first use. */
static ssize_t	(*real_write)(int, const void *, size_t);
static ssize_t	(*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t	(*real_pwrite64)(int, const void *, size_t, off64_t);
static int	(*real_fsync)(int);
static int	(*real_fdatasync)(int);
static int	(*real_rename)(const char *, const char *);
static int	(*real_renameat)(int, const char *, int, const char *);
static int	(*real_renameat2)(int, const char *, int, const char *,
		    unsigned int);
static int	(*real_open)(const char *, int, ...);
static int	(*real_open64)(const char *, int, ...);
static int	(*real_openat)(int, const char *, int, ...);
static int	(*real_openat64)(int, const char *, int, ...);
static int	(*real_open_2)(const char *, int);
static int	(*real_open64_2)(const char *, int);
static int	(*real_openat_2)(int, const char *, int);
static int	(*real_openat64_2)(int, const char *, int);
static int	(*real_creat)(const char *, mode_t);
static int	(*real_link)(const char *, const char *);
static int	(*real_linkat)(int, const char *, int, const char *, int);
static int	(*real_mkdir)(const char *, mode_t);
static int	(*real_mkdirat)(int, const char *, mode_t);
static int	(*real_ftruncate)(int, off_t);
static int	(*real_ftruncate64)(int, off64_t);
static void	(*real__exit)(int) __attribute__((noreturn));
static void	(*real__Exit)(int) __attribute__((noreturn));

#define REAL_AS(fn, sym)						\
	((__typeof__(real_##fn))resolve((void **)&real_##fn, (sym)))
#define REAL(fn) REAL_AS(fn, #fn)

/* The next definition of name: the real function behind our wrapper. */
static void *
resolve(void **slot, const char *name)
{
	if (*slot == NULL)
		*slot = dlsym(RTLD_NEXT, name);
	return *slot;
}

/* --- small async-signal-safe helpers ------------------------------- */

static size_t
put_str(char *buf, size_t len, size_t at, const char *s)
{
	while (*s != '\0' && at + 1 < len)
		buf[at++] = *s++;
	buf[at < len ? at : len - 1] = '\0';
	return at;
}

static size_t
put_u64(char *buf, size_t len, size_t at, uint64_t v)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (i > 0 && at + 1 < len)
		buf[at++] = tmp[--i];
	buf[at < len ? at : len - 1] = '\0';
	return at;
}

static void
say(const char *msg, size_t len)
{
	int saved = errno;

	if (REAL(write) != NULL && real_write(STDERR_FILENO, msg, len) == -1) {
		/* Nowhere to report it. */
	}
	errno = saved;
}

/* --- paths --------------------------------------------------------- */

/* Is path (absolute, not normalised) inside the prefix? */
static bool
under_prefix(const char *path)
{
	if (prefix_len == 0)
		return true;
	if (path == NULL || strncmp(path, prefix, prefix_len) != 0)
		return false;
	return path[prefix_len] == '\0' || path[prefix_len] == '/';
}

/* The path a descriptor refers to, or "" (a socket, a pipe, an error). */
static void
fd_path(int fd, char *out, size_t len)
{
	char link[64];
	size_t at;
	ssize_t n;

	at = put_str(link, sizeof(link), 0, "/proc/self/fd/");
	put_u64(link, sizeof(link), at, (uint64_t)(fd < 0 ? 0 : fd));
	n = readlink(link, out, len - 1);
	out[n > 0 ? n : 0] = '\0';
}

static bool
fd_counts(int fd)
{
	char path[4096];

	if (prefix_len == 0)
		return true;
	if (fd < 0)
		return false;
	fd_path(fd, path, sizeof(path));
	return under_prefix(path);
}

/* dirfd + name as one absolute path (not normalised). */
static bool
at_counts(int dirfd, const char *name)
{
	char path[4096];
	size_t at;

	if (prefix_len == 0)
		return true;
	if (name == NULL)
		return false;
	if (name[0] == '/')
		return under_prefix(name);
	if (dirfd == AT_FDCWD) {
		if (getcwd(path, sizeof(path)) == NULL)
			return false;
	} else {
		fd_path(dirfd, path, sizeof(path));
		if (path[0] != '/')
			return false;
	}
	at = strlen(path);
	at = put_str(path, sizeof(path), at, "/");
	put_str(path, sizeof(path), at, name);
	return under_prefix(path);
}

/* --- the fault ----------------------------------------------------- */

/*
 * Counts one call of op (when it counts at all) and returns the errno
 * it must fail with, or 0 to let it through.
 */
static int
tick(enum op op, bool counts, const char *what, int fd, const char *name)
{
	uint64_t n, n_any, mine;
	char msg[4096 + 256], path[4096];
	size_t at;

	if (sh == NULL || !counts)
		return 0;
	n = __atomic_add_fetch(&sh->count[op], 1, __ATOMIC_SEQ_CST);
	n_any = __atomic_add_fetch(&sh->count[OP_ANY], 1, __ATOMIC_SEQ_CST);
	if (fault_op == -1)
		return 0;
	if (fault_op == OP_ANY)
		mine = n_any;
	else if (fault_op == (int)op)
		mine = n;
	else
		return 0;
	if (mine < fault_n || (mine > fault_n && !fault_persist))
		return 0;
	__atomic_add_fetch(&sh->fired, 1, __ATOMIC_SEQ_CST);
	at = put_str(msg, sizeof(msg), 0, "iofault[");
	at = put_u64(msg, sizeof(msg), at, (uint64_t)getpid());
	at = put_str(msg, sizeof(msg), at, "]: ");
	at = put_str(msg, sizeof(msg), at, op_names[fault_op]);
	at = put_str(msg, sizeof(msg), at, " #");
	at = put_u64(msg, sizeof(msg), at, mine);
	at = put_str(msg, sizeof(msg), at, " (");
	at = put_str(msg, sizeof(msg), at, what);
	at = put_str(msg, sizeof(msg), at, " ");
	/* For *at calls fd is the directory and name the file in it. */
	if (name == NULL || name[0] != '/') {
		if (fd == AT_FDCWD) {
			if (getcwd(path, sizeof(path)) == NULL)
				path[0] = '\0';
		} else {
			fd_path(fd, path, sizeof(path));
		}
		at = put_str(msg, sizeof(msg), at, path);
	}
	if (name != NULL) {
		if (name[0] != '/')
			at = put_str(msg, sizeof(msg), at, "/");
		at = put_str(msg, sizeof(msg), at, name);
	}
	at = put_str(msg, sizeof(msg), at, ") fails with ");
	at = put_str(msg, sizeof(msg), at, fault_errno == EIO ? "EIO" :
	    "ENOSPC");
	at = put_str(msg, sizeof(msg), at, "\n");
	say(msg, at);
	return fault_errno;
}

#define FAIL_IF(op, counts, what, fd, name, ret) do {			\
	int e_ = tick((op), (counts), (what), (fd), (name));		\
									\
	if (e_ != 0) {							\
		errno = e_;						\
		return (ret);						\
	}								\
} while (0)

/* --- load and exit ------------------------------------------------- */

static bool
is_worker(void)
{
	char buf[4096];
	ssize_t n;
	size_t i;
	int fd;

	if ((fd = REAL(open)("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)) ==
	    -1)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* NUL-separated arguments: look for "--worker" or "--worker=...". */
	for (i = 0; i < (size_t)n; i += strlen(buf + i) + 1)
		if (strncmp(buf + i, "--worker", 8) == 0 &&
		    (buf[i + 8] == '\0' || buf[i + 8] == '='))
			return true;
	return false;
}

static int
parse_spec(const char *spec)
{
	char opname[16], errname[16], extra[16];
	unsigned long long n;
	int i, k;

	extra[0] = '\0';
	k = sscanf(spec, "%15[a-z]:%llu:%15[A-Z]:%15s", opname, &n, errname,
	    extra);
	if (k < 3 || n == 0)
		return -1;
	for (i = 0; i < NOPS; i++)
		if (strcmp(opname, op_names[i]) == 0)
			break;
	if (i == NOPS)
		return -1;
	if (strcmp(errname, "EIO") == 0)
		fault_errno = EIO;
	else if (strcmp(errname, "ENOSPC") == 0)
		fault_errno = ENOSPC;
	else
		return -1;
	if (k == 4 && strcmp(extra, "persist") != 0)
		return -1;
	fault_persist = k == 4;
	fault_op = i;
	fault_n = n;
	return 0;
}

__attribute__((constructor)) static void
iofault_init(void)
{
	const char *spec, *path, *count;
	void *p;

	if (is_worker())
		return;
	spec = getenv("SPOOLD_IOFAULT");
	path = getenv("SPOOLD_IOFAULT_PATH");
	count = getenv("SPOOLD_IOFAULT_COUNT");
	if (spec != NULL && spec[0] != '\0' && parse_spec(spec) == -1) {
		static const char bad[] = "iofault: bad SPOOLD_IOFAULT (want "
		    "OP:N:EIO|ENOSPC[:persist]); no fault injected\n";

		say(bad, sizeof(bad) - 1);
	}
	if (path != NULL && path[0] != '\0') {
		/* /proc/self/fd shows canonical paths: compare with one. */
		if (realpath(path, prefix) == NULL)
			snprintf(prefix, sizeof(prefix), "%s", path);
		prefix_len = strlen(prefix);
		while (prefix_len > 1 && prefix[prefix_len - 1] == '/')
			prefix[--prefix_len] = '\0';
	}
	if (count != NULL)
		snprintf(count_file, sizeof(count_file), "%s", count);
	p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	sh = p == MAP_FAILED ? &local : p;
}

/* Appends this process's view of the counters to the count file. */
static void
dump_counts(void)
{
	char line[128];
	size_t at;
	int fd, i;

	if (sh == NULL || count_file[0] == '\0')
		return;
	fd = REAL(open)(count_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644);
	if (fd == -1)
		return;
	for (i = 0; i < NOPS; i++) {
		at = put_str(line, sizeof(line), 0, op_names[i]);
		at = put_str(line, sizeof(line), at, " ");
		at = put_u64(line, sizeof(line), at,
		    __atomic_load_n(&sh->count[i], __ATOMIC_SEQ_CST));
		at = put_str(line, sizeof(line), at, " ");
		at = put_u64(line, sizeof(line), at, (uint64_t)getpid());
		at = put_str(line, sizeof(line), at, "\n");
		if (REAL(write)(fd, line, at) == -1)
			break;
	}
	close(fd);
}

__attribute__((destructor)) static void
iofault_fini(void)
{
	dump_counts();
}

void
_exit(int status)
{
	dump_counts();
	REAL(_exit)(status);
}

void
_Exit(int status)
{
	dump_counts();
	REAL(_Exit)(status);
}

/* --- write --------------------------------------------------------- */

ssize_t
write(int fd, const void *buf, size_t len)
{
	/* stdout and stderr never count: that is where we report. */
	FAIL_IF(OP_WRITE, fd > STDERR_FILENO && fd_counts(fd),
	    "write", fd, NULL, -1);
	return REAL(write)(fd, buf, len);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	FAIL_IF(OP_WRITE, fd_counts(fd), "pwrite", fd, NULL, -1);
	return REAL(pwrite)(fd, buf, len, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	FAIL_IF(OP_WRITE, fd_counts(fd), "pwrite64", fd, NULL, -1);
	return REAL(pwrite64)(fd, buf, len, off);
}

/* --- fsync --------------------------------------------------------- */

int
fsync(int fd)
{
	FAIL_IF(OP_FSYNC, fd_counts(fd), "fsync", fd, NULL, -1);
	return REAL(fsync)(fd);
}

int
fdatasync(int fd)
{
	FAIL_IF(OP_FSYNC, fd_counts(fd), "fdatasync", fd, NULL, -1);
	return REAL(fdatasync)(fd);
}

/* --- rename -------------------------------------------------------- */

int
rename(const char *from, const char *to)
{
	FAIL_IF(OP_RENAME, at_counts(AT_FDCWD, from) ||
	    at_counts(AT_FDCWD, to), "rename", AT_FDCWD, to, -1);
	return REAL(rename)(from, to);
}

int
renameat(int fromfd, const char *from, int tofd, const char *to)
{
	FAIL_IF(OP_RENAME, at_counts(fromfd, from) || at_counts(tofd, to),
	    "renameat", tofd, to, -1);
	return REAL(renameat)(fromfd, from, tofd, to);
}

int
renameat2(int fromfd, const char *from, int tofd, const char *to,
    unsigned int flags)
{
	FAIL_IF(OP_RENAME, at_counts(fromfd, from) || at_counts(tofd, to),
	    "renameat2", tofd, to, -1);
	return REAL(renameat2)(fromfd, from, tofd, to, flags);
}

/* --- open ---------------------------------------------------------- */

/* The mode argument exists only with O_CREAT or O_TMPFILE. */
#define OPEN_MODE(flags, last, mode) do {				\
	if (((flags) & O_CREAT) != 0 ||					\
	    ((flags) & O_TMPFILE) == O_TMPFILE) {			\
		va_list ap_;						\
									\
		va_start(ap_, last);					\
		(mode) = (mode_t)va_arg(ap_, int);			\
		va_end(ap_);						\
	}								\
} while (0)

int
open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, flags, mode);
	FAIL_IF(OP_OPEN, at_counts(AT_FDCWD, path), "open", AT_FDCWD, path, -1);
	return REAL(open)(path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, flags, mode);
	FAIL_IF(OP_OPEN, at_counts(AT_FDCWD, path),
	    "open64", AT_FDCWD, path, -1);
	return REAL(open64)(path, flags, mode);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, flags, mode);
	FAIL_IF(OP_OPEN, at_counts(dirfd, path), "openat", dirfd, path, -1);
	return REAL(openat)(dirfd, path, flags, mode);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, flags, mode);
	FAIL_IF(OP_OPEN, at_counts(dirfd, path), "openat64", dirfd, path, -1);
	return REAL(openat64)(dirfd, path, flags, mode);
}

/* _FORTIFY_SOURCE's checked variants (no mode: no O_CREAT). */
int	__open_2(const char *, int);
int	__open64_2(const char *, int);
int	__openat_2(int, const char *, int);
int	__openat64_2(int, const char *, int);

int
__open_2(const char *path, int flags)
{
	FAIL_IF(OP_OPEN, at_counts(AT_FDCWD, path), "open", AT_FDCWD, path, -1);
	return REAL_AS(open_2, "__open_2")(path, flags);
}

int
__open64_2(const char *path, int flags)
{
	FAIL_IF(OP_OPEN, at_counts(AT_FDCWD, path),
	    "open64", AT_FDCWD, path, -1);
	return REAL_AS(open64_2, "__open64_2")(path, flags);
}

int
__openat_2(int dirfd, const char *path, int flags)
{
	FAIL_IF(OP_OPEN, at_counts(dirfd, path), "openat", dirfd, path, -1);
	return REAL_AS(openat_2, "__openat_2")(dirfd, path, flags);
}

int
__openat64_2(int dirfd, const char *path, int flags)
{
	FAIL_IF(OP_OPEN, at_counts(dirfd, path), "openat64", dirfd, path, -1);
	return REAL_AS(openat64_2, "__openat64_2")(dirfd, path, flags);
}

int
creat(const char *path, mode_t mode)
{
	FAIL_IF(OP_OPEN, at_counts(AT_FDCWD, path),
	    "creat", AT_FDCWD, path, -1);
	return REAL(creat)(path, mode);
}

/* --- link, mkdir, truncate ----------------------------------------- */

int
link(const char *from, const char *to)
{
	FAIL_IF(OP_LINK, at_counts(AT_FDCWD, from) ||
	    at_counts(AT_FDCWD, to), "link", AT_FDCWD, to, -1);
	return REAL(link)(from, to);
}

int
linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
	FAIL_IF(OP_LINK, at_counts(fromfd, from) || at_counts(tofd, to),
	    "linkat", tofd, to, -1);
	return REAL(linkat)(fromfd, from, tofd, to, flags);
}

int
mkdir(const char *path, mode_t mode)
{
	FAIL_IF(OP_MKDIR, at_counts(AT_FDCWD, path),
	    "mkdir", AT_FDCWD, path, -1);
	return REAL(mkdir)(path, mode);
}

int
mkdirat(int dirfd, const char *path, mode_t mode)
{
	FAIL_IF(OP_MKDIR, at_counts(dirfd, path), "mkdirat", dirfd, path, -1);
	return REAL(mkdirat)(dirfd, path, mode);
}

int
ftruncate(int fd, off_t len)
{
	FAIL_IF(OP_TRUNCATE, fd_counts(fd), "ftruncate", fd, NULL, -1);
	return REAL(ftruncate)(fd, len);
}

int
ftruncate64(int fd, off64_t len)
{
	FAIL_IF(OP_TRUNCATE, fd_counts(fd), "ftruncate64", fd, NULL, -1);
	return REAL(ftruncate64)(fd, len);
}
