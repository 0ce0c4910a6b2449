/*
 * util - memory, I/O and parsing helpers.
 */
#include <sys/mman.h>
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

void
util_assert_fail(const char *file, int line, const char *cond)
{
	fprintf(stderr, "spoold: assertion failed: %s:%d: %s\n", file, line,
	    cond);
	abort();
}

static void
oom(size_t size)
{
	fprintf(stderr, "spoold: out of memory allocating %zu bytes\n", size);
	abort();
}

void *
xmalloc(size_t size)
{
	void *p;

	if ((p = malloc(size ? size : 1)) == NULL)
		oom(size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n ? n : 1, size ? size : 1)) == NULL)
		oom(n * size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	if ((p = realloc(p, size ? size : 1)) == NULL)
		oom(size);
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		oom(SIZE_MAX);
	return xrealloc(p, n * size);
}

char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		oom(strlen(s));
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;

	if ((p = strndup(s, n)) == NULL)
		oom(n);
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r == -1)
		oom(0);
	return p;
}

int
write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			/* A write that makes no progress is a full disk. */
			errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t
read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t
pread_full(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, p + got, len - got, off + (off_t)got);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || !isdigit((unsigned char)*s)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

/* A number followed by one unit from the table; returns the product. */
static int
parse_scaled(const char *s, const char *const units[], const uint64_t mult[],
    size_t nunits, uint64_t dflt, uint64_t *out)
{
	unsigned long long v;
	char *end;
	size_t i;

	if (s == NULL || !isdigit((unsigned char)*s))
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		goto bad;
	while (*end == ' ')
		end++;
	if (*end == '\0') {
		if (v > UINT64_MAX / dflt)
			goto bad;
		*out = v * dflt;
		return 0;
	}
	for (i = 0; i < nunits; i++) {
		if (strcmp(end, units[i]) == 0) {
			if (v > UINT64_MAX / mult[i])
				goto bad;
			*out = v * mult[i];
			return 0;
		}
	}
bad:
	errno = EINVAL;
	return -1;
}

int
parse_duration_ms(const char *s, uint64_t *out)
{
	static const char *const units[] = { "ms", "s", "m", "h", "d" };
	static const uint64_t mult[] = { 1, 1000, 60000, 3600000, 86400000 };

	return parse_scaled(s, units, mult, ARRAY_SIZE(units), 1000, out);
}

int
parse_size(const char *s, uint64_t *out)
{
	static const char *const units[] = { "k", "K", "M", "G", "KiB", "MiB",
	    "GiB", "B" };
	static const uint64_t mult[] = { 1024, 1024, 1024 * 1024,
	    1024 * 1024 * 1024, 1024, 1024 * 1024, 1024 * 1024 * 1024, 1 };

	return parse_scaled(s, units, mult, ARRAY_SIZE(units), 1, out);
}

int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	errno = EINVAL;
	return -1;
}

size_t
utf8_check(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	unsigned char lo, hi;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		/* The allowed range of the second byte (RFC 3629 §4). */
		lo = 0x80;
		hi = 0xbf;
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			n = 1;
		} else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			n = 2;
			if (p[i] == 0xe0)
				lo = 0xa0;
			else if (p[i] == 0xed)
				hi = 0x9f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			n = 3;
			if (p[i] == 0xf0)
				lo = 0x90;
			else if (p[i] == 0xf4)
				hi = 0x8f;
		} else {
			return i;
		}
		if (i + n >= len)	/* cut short */
			return i;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return i;
		for (k = 2; k <= n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
		i += n + 1;
	}
	return len;
}

/* One word of s starting at *sp into w; advances *sp.  -1: bad quoting. */
static int
argv_word(const char **sp, char *w, struct err *err)
{
	const char *q = *sp;

	while (*q != '\0' && *q != ' ' && *q != '\t') {
		if (*q == '\'') {
			for (q++; *q != '\'' && *q != '\0'; q++)
				*w++ = *q;
			if (*q == '\0') {
				err_set(err, "config", "unterminated '");
				return -1;
			}
			q++;
		} else if (*q == '"') {
			for (q++; *q != '"' && *q != '\0'; q++) {
				if (*q == '\\' && (q[1] == '"' || q[1] == '\\'))
					q++;
				*w++ = *q;
			}
			if (*q == '\0') {
				err_set(err, "config", "unterminated \"");
				return -1;
			}
			q++;
		} else if (*q == '\\') {
			if (q[1] == '\0') {
				err_set(err, "config", "trailing backslash");
				return -1;
			}
			*w++ = q[1];
			q += 2;
		} else {
			*w++ = *q++;
		}
	}
	*w = '\0';
	*sp = q;
	return 0;
}

int
parse_argv(const char *s, char ***argvp, struct err *err)
{
	char **argv = NULL, *w;
	size_t n = 0;

	/* A word is never longer than the whole line. */
	w = xmalloc(strlen(s) + 1);
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		if (argv_word(&s, w, err) == -1) {
			free(w);
			free_argv(argv);
			return -1;
		}
		argv = xreallocarray(argv, n + 2, sizeof(*argv));
		argv[n++] = xstrdup(w);
		argv[n] = NULL;
	}
	free(w);
	if (n == 0) {
		err_set(err, "config", "empty command");
		return -1;
	}
	*argvp = argv;
	return 0;
}

void
free_argv(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static void
getrandom_all(unsigned char *p, size_t len)
{
	ssize_t n;
	size_t i;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			/* No entropy source: ids need only be unique. */
			for (i = 0; i < len; i++)
				p[i] = (unsigned char)(random() ^
				    (long)now_ms());
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

/*
 * Random bytes come from getrandom(2) a page at a time: every result
 * line takes an id, and a system call each was a worker's third most
 * frequent one.  The page is MADV_WIPEONFORK, so a forked child finds
 * it empty and never repeats its parent's bytes.  Where that advice is
 * not known, every call goes to getrandom(2) itself.
 */
struct rand_pool {
	size_t		 left;		/* unused, at the start; 0 after fork */
	unsigned char	 bytes[4096 - sizeof(size_t)];
};

static struct rand_pool *
rand_pool(void)
{
	static struct rand_pool *pool;
	static bool tried;
	void *p;

	if (pool != NULL || tried)
		return pool;
	tried = true;
	p = mmap(NULL, sizeof(*pool), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, sizeof(*pool), MADV_WIPEONFORK) == -1) {
		munmap(p, sizeof(*pool));
		return NULL;
	}
	pool = p;
	return pool;
}

void
random_bytes(void *buf, size_t len)
{
	struct rand_pool *pool = rand_pool();
	unsigned char *p = buf;
	size_t n;

	if (pool == NULL || len > sizeof(pool->bytes) / 4) {
		getrandom_all(p, len);
		return;
	}
	while (len > 0) {
		if (pool->left == 0) {
			getrandom_all(pool->bytes, sizeof(pool->bytes));
			pool->left = sizeof(pool->bytes);
		}
		n = pool->left < len ? pool->left : len;
		pool->left -= n;
		memcpy(p, pool->bytes + pool->left, n);
		/* Handed out once: no copy of it stays behind. */
		explicit_bzero(pool->bytes + pool->left, n);
		p += n;
		len -= n;
	}
}

void
random_id(char out[25])
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[24];
	size_t i;

	random_bytes(r, sizeof(r));
	for (i = 0; i < sizeof(r); i++)
		out[i] = alphabet[r[i] % (sizeof(alphabet) - 1)];
	out[24] = '\0';
}

void
format_utc_compact(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void
err_set(struct err *e, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	snprintf(e->code, sizeof(e->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void
signals_reset(void)
{
	struct sigaction sa;
	sigset_t none;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 1; i < NSIG; i++)
		(void)sigaction(i, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}
