/*
 * input - streaming reads of batch inputs.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "input.h"
#include "util.h"

#define CHUNK	(256 * 1024)

static bool
blank(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

struct scan {
	struct buf	 line;
	struct input_line cur;
	size_t		 max_line;
	input_line_cb	*cb;
	void		*arg;
	uint64_t	 max_lines;	/* 0: to the end */
	uint64_t	 lines;
	uint64_t	 end;		/* offset after the last chunk */
};

/* Hands out the line collected so far; resets for the next one. */
static int
emit(struct scan *s)
{
	int r = 0;

	if (s->cur.too_long) {
		s->cur.data = NULL;
		r = s->cb(&s->cur, s->arg);
	} else if (!blank(s->line.data ? s->line.data : "", s->line.len)) {
		/* A CRLF file: the CR is not part of the request. */
		if (s->line.len > 0 && s->line.data[s->line.len - 1] == '\r')
			s->line.len--;
		s->cur.data = s->line.data;
		s->cur.len = s->line.len;
		r = s->cb(&s->cur, s->arg);
	}
	buf_reset(&s->line);
	s->cur.too_long = false;
	s->cur.len = 0;
	return r;
}

/*
 * Hands the file's chunks from offset start to cb, with their offsets:
 * cb returns 0 to go on, 1 to stop, -1 on error.  Returns 0 at the end
 * of the file, 1 if cb stopped, -1 (errno as cb or read left it).
 */
static int
each_chunk(int fd, uint64_t start,
    int (*cb)(const char *p, size_t n, uint64_t at, void *arg), void *arg)
{
	char *chunk;
	uint64_t at = start;
	ssize_t n;
	int r;

	chunk = xmalloc(CHUNK);
	for (;;) {
		n = pread(fd, chunk, CHUNK, (off_t)at);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			r = -1;
			break;
		}
		if (n == 0) {
			r = 0;
			break;
		}
		if ((r = cb(chunk, (size_t)n, at, arg)) != 0)
			break;
		at += (uint64_t)n;
	}
	free(chunk);
	return r;
}

/* The lines of one chunk; stops after max_lines whole lines. */
static int
scan_chunk(const char *chunk, size_t n, uint64_t at, void *arg)
{
	struct scan *s = arg;
	const char *nl;
	size_t i, start = 0;

	s->end = at + n;
	while ((nl = memchr(chunk + start, '\n', n - start)) != NULL) {
		i = (size_t)(nl - chunk);
		if (!s->cur.too_long)
			buf_add(&s->line, chunk + start, i - start);
		s->cur.len += i - start;
		if (s->line.len > s->max_line)
			s->cur.too_long = true;
		if (emit(s) == -1) {
			errno = 0;
			return -1;
		}
		s->cur.lineno++;
		s->cur.offset = at + i + 1;
		start = i + 1;
		/* The rest of the chunk is read again next time. */
		if (s->max_lines > 0 && ++s->lines == s->max_lines)
			return 1;
	}
	if (start < n) {
		s->cur.len += n - start;
		if (!s->cur.too_long) {
			buf_add(&s->line, chunk + start, n - start);
			if (s->line.len > s->max_line) {
				s->cur.too_long = true;
				buf_reset(&s->line);
			}
		}
	}
	return 0;
}

int
input_scan_some(int fd, size_t max_line, input_line_cb *cb, void *arg,
    struct input_pos *pos, uint64_t max_lines)
{
	struct scan s;
	int r;

	if (pos->eof)
		return 0;
	memset(&s, 0, sizeof(s));
	buf_init(&s.line);
	s.max_line = max_line;
	s.cb = cb;
	s.arg = arg;
	s.max_lines = max_lines;
	s.cur.lineno = pos->lineno;
	s.cur.offset = s.end = pos->offset;
	r = each_chunk(fd, pos->offset, scan_chunk, &s);
	/* At the end: a last line without its newline. */
	if (r == 0 && (s.line.len > 0 || s.cur.too_long) && emit(&s) == -1) {
		errno = 0;
		r = -1;
	}
	if (r != -1) {
		pos->offset = r == 0 ? s.end : s.cur.offset;
		pos->lineno = s.cur.lineno;
		pos->eof = r == 0;
	}
	buf_release(&s.line);
	return r == -1 ? -1 : 0;
}

int
input_scan_lines(int fd, size_t max_line, input_line_cb *cb, void *arg)
{
	struct input_pos pos = INPUT_POS_START;

	return input_scan_some(fd, max_line, cb, arg, &pos, 0);
}

struct line_count {
	uint64_t	 n;
	bool		 open_line;	/* the last chunk ended mid-line */
};

static int
count_chunk(const char *p, size_t n, uint64_t at, void *arg)
{
	struct line_count *c = arg;
	const char *end = p + n;

	(void)at;
	for (; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		c->n++;
	c->open_line = end[-1] != '\n';
	return 0;
}

int
input_count_lines(int fd, uint64_t *n)
{
	struct line_count c = { 0, false };

	if (each_chunk(fd, 0, count_chunk, &c) == -1)
		return -1;
	*n = c.n + (c.open_line ? 1 : 0);
	return 0;
}

int
input_read_at(int fd, uint64_t offset, size_t len, struct buf *out)
{
	ssize_t n;

	buf_reset(out);
	buf_grow(out, len);
	n = pread_full(fd, out->data, len, (off_t)offset);
	if (n == -1)
		return -1;
	if ((size_t)n != len) {
		/* The input changed under us: it is ours, so that is a bug
		 * or tampering; report it as an I/O error. */
		errno = EIO;
		return -1;
	}
	out->len = len;
	out->data[len] = '\0';
	return 0;
}

int
input_read_file(int fd, size_t max, struct buf *out)
{
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) == -1)
		return -1;
	if ((uint64_t)st.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	buf_reset(out);
	buf_grow(out, (size_t)st.st_size);
	n = pread_full(fd, out->data, (size_t)st.st_size, 0);
	if (n == -1)
		return -1;
	out->len = (size_t)n;
	out->data[out->len] = '\0';
	return 0;
}

struct input_hash *
input_sha256_begin(void)
{
	EVP_MD_CTX *md;

	md = EVP_MD_CTX_new();
	SPOOL_ASSERT(md != NULL);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	return (struct input_hash *)md;
}

void
input_sha256_update(struct input_hash *h, const void *data, size_t len)
{
	EVP_DigestUpdate((EVP_MD_CTX *)h, data, len);
}

void
input_sha256_end(struct input_hash *h, char sha256hex[INPUT_SHA256_HEX])
{
	unsigned char digest[32];
	unsigned int dlen;

	EVP_DigestFinal_ex((EVP_MD_CTX *)h, digest, &dlen);
	hex_encode(digest, 32, sha256hex);
	EVP_MD_CTX_free((EVP_MD_CTX *)h);
}

static int
hash_chunk(const char *p, size_t n, uint64_t at, void *arg)
{
	(void)at;
	input_sha256_update(arg, p, n);
	return 0;
}

int
input_sha256_fd(int fd, char sha256hex[INPUT_SHA256_HEX])
{
	struct input_hash *h = input_sha256_begin();
	int r;

	r = each_chunk(fd, 0, hash_chunk, h);
	/* Always ends (and frees) the context; the digest counts on 0. */
	input_sha256_end(h, sha256hex);
	return r;
}

void
input_sha256_mem(const void *data, size_t len, char sha256hex[INPUT_SHA256_HEX])
{
	unsigned char digest[32];
	unsigned int dlen;

	EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL);
	hex_encode(digest, 32, sha256hex);
}

/* Does text parse as one whole JSON value? */
static bool
parses_whole(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *v;

	v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (v == NULL)
		return false;
	cJSON_Delete(v);
	for (; end < text + len; end++)
		if (*end != ' ' && *end != '\t' && *end != '\r' &&
		    *end != '\n')
			return false;
	return true;
}

int
input_looks_complete(int fd, bool jsonl, size_t max_line)
{
	struct stat st;
	struct buf b = BUF_INIT;
	char last;
	off_t start;
	size_t len;
	int r;

	if (fstat(fd, &st) == -1)
		return -1;
	if (st.st_size == 0)
		return 0;
	if (!jsonl) {
		if ((uint64_t)st.st_size > max_line)
			return 1;	/* too big: intake rejects it anyway */
		if (input_read_file(fd, max_line, &b) == -1)
			return -1;
		r = parses_whole(b.data, b.len) ? 1 : 0;
		buf_release(&b);
		return r;
	}
	if (pread_full(fd, &last, 1, st.st_size - 1) != 1)
		return -1;
	if (last == '\n')
		return 1;
	/* No final newline: the last line must parse whole on its own. */
	len = (uint64_t)st.st_size > max_line ? max_line : (size_t)st.st_size;
	start = st.st_size - (off_t)len;
	if (input_read_at(fd, (uint64_t)start, len, &b) == -1)
		return -1;
	{
		const char *nl = memrchr(b.data, '\n', b.len);
		const char *p = nl != NULL ? nl + 1 : b.data;

		if (nl == NULL && start > 0) {
			buf_release(&b);
			return 1;	/* over-long line: validation says so */
		}
		/* Trailing blanks after the last newline are not a line. */
		r = (nl != NULL && blank(p, (size_t)(b.data + b.len - p))) ||
		    parses_whole(p, (size_t)(b.data + b.len - p)) ? 1 : 0;
	}
	buf_release(&b);
	return r;
}
