/*
 * util - memory, I/O and parsing helpers that know nothing of spools.
 *
 * Allocation failures abort (the core dump and the ASan trace are kept);
 * everything else returns -1 with errno set, syscall style.
 */
#ifndef SPOOLD_UTIL_H
#define SPOOLD_UTIL_H

#include <sys/types.h>

#include <time.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_ASSERT(cond) do {						\
	if (!(cond))							\
		util_assert_fail(__FILE__, __LINE__, #cond);		\
} while (0)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

void	 util_assert_fail(const char *file, int line, const char *cond)
	    __attribute__((noreturn));

void	*xmalloc(size_t size);
void	*xcalloc(size_t n, size_t size);
void	*xrealloc(void *p, size_t size);
void	*xreallocarray(void *p, size_t n, size_t size);
char	*xstrdup(const char *s);
char	*xstrndup(const char *s, size_t n);
/* Returns owned: a formatted string; caller frees. */
char	*xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write or read all of len bytes, looping on short counts and EINTR. */
int	 write_full(int fd, const void *buf, size_t len);
/* Returns bytes read (< len only at EOF) or -1. */
ssize_t	 read_full(int fd, void *buf, size_t len);
ssize_t	 pread_full(int fd, void *buf, size_t len, off_t off);

/* Monotonic and wall clocks. */
uint64_t now_ms(void);
uint64_t wall_ms(void);

/* "2s", "500ms", "1h", "24h", "3d"; a bare number means seconds. */
int	 parse_duration_ms(const char *s, uint64_t *out);
/* "10M", "1G", "512k", bare bytes. */
int	 parse_size(const char *s, uint64_t *out);
/* Strict unsigned parse: whole string, no sign, within max. */
int	 parse_uint(const char *s, uint64_t max, uint64_t *out);
/* yes/no/true/false/on/off/1/0 */
int	 parse_bool(const char *s, bool *out);

/*
 * The offset of the first byte of s that is not part of well-formed UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing over U+10FFFF),
 * or len if all of s is.
 */
size_t	 utf8_check(const char *s, size_t len);

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void	 hex_encode(const unsigned char *in, size_t len, char *out);
/* Fill buf with random bytes from getrandom(2) (falls back to a PRNG). */
void	 random_bytes(void *buf, size_t len);
/* A random 24-character [A-Za-z0-9] suffix, NUL-terminated (25 bytes). */
void	 random_id(char out[25]);

/*
 * An error about untrusted data: a short snake_case code and a message
 * that ends up in errors.jsonl or an .error.json sidecar.
 */
struct err {
	char	code[32];
	char	msg[256];
};

void	 err_set(struct err *e, const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * Splits a command line into words, as a shell would without expanding
 * anything: blanks (space, tab) separate words; '...' quotes literally;
 * "..." quotes with \" and \\ as the only escapes; outside quotes a
 * backslash takes the next character literally.  Returns 0 and an owned,
 * NULL-terminated vector (free with free_argv), or -1 with err set (an
 * unterminated quote, a trailing backslash, no words at all).
 */
int	 parse_argv(const char *s, char ***argvp, struct err *err);
void	 free_argv(char **argv);

/*
 * In a forked child about to exec: every signal back to its default and
 * an empty mask (ignored and blocked signals survive execve).  glibc
 * refuses its own two real-time signals; that is fine.
 */
void	 signals_reset(void);

/* Format a unix time (seconds) as UTC "20261127T051230Z". */
void	 format_utc_compact(time_t t, char out[17]);

#endif
