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
 * The scan itself: from pos, whole lines, at most max_lines of them (0:
 * to the end).  With h, every byte read is hashed: only a scan of the
 * whole file in one call may pass one.
 */
static int
scan_from(int fd, size_t max_line, input_line_cb *cb, void *arg,
    struct input_pos *pos, uint64_t max_lines, struct input_hash *h)
{
	struct scan s;
	uint64_t at = pos->offset, lines = 0;
	char *chunk, *nl;
	ssize_t n;
	size_t i, start;
	int r = -1;

	memset(&s, 0, sizeof(s));
	buf_init(&s.line);
	s.max_line = max_line;
	s.cb = cb;
	s.arg = arg;
	s.cur.lineno = pos->lineno;
	s.cur.offset = pos->offset;
	chunk = xmalloc(CHUNK);
	for (;;) {
		n = pread(fd, chunk, CHUNK, (off_t)at);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (n == 0)
			break;
		if (h != NULL)
			input_sha256_update(h, chunk, (size_t)n);
		start = 0;
		while ((nl = memchr(chunk + start, '\n', (size_t)n - start)) !=
		    NULL) {
			i = (size_t)(nl - chunk);
			if (!s.cur.too_long)
				buf_add(&s.line, chunk + start, i - start);
			s.cur.len += i - start;
			if (s.line.len > max_line)
				s.cur.too_long = true;
			if (emit(&s) == -1) {
				errno = 0;
				goto out;
			}
			s.cur.lineno++;
			s.cur.offset = at + i + 1;
			start = i + 1;
			if (max_lines > 0 && ++lines == max_lines) {
				/* Stop after a whole line: the rest of
				 * the chunk is read again next time. */
				pos->offset = s.cur.offset;
				pos->lineno = s.cur.lineno;
				r = 0;
				goto out;
			}
		}
		if (start < (size_t)n) {
			s.cur.len += (size_t)n - start;
			if (!s.cur.too_long) {
				buf_add(&s.line, chunk + start,
				    (size_t)n - start);
				if (s.line.len > max_line) {
					s.cur.too_long = true;
					buf_reset(&s.line);
				}
			}
		}
		at += (uint64_t)n;
	}
	/* A last line without its newline. */
	if ((s.line.len > 0 || s.cur.too_long) && emit(&s) == -1) {
		errno = 0;
		goto out;
	}
	pos->offset = at;
	pos->lineno = s.cur.lineno;
	pos->eof = true;
	r = 0;
out:
	buf_release(&s.line);
	free(chunk);
	return r;
}

int
input_scan_lines(int fd, size_t max_line, input_line_cb *cb, void *arg,
    char sha256hex[INPUT_SHA256_HEX])
{
	struct input_pos pos = INPUT_POS_START;
	struct input_hash *h = NULL;
	int r;

	if (sha256hex != NULL)
		h = input_sha256_begin();
	r = scan_from(fd, max_line, cb, arg, &pos, 0, h);
	if (h != NULL)
		input_sha256_end(h, sha256hex);	/* frees it, used on 0 */
	return r;
}

int
input_scan_some(int fd, size_t max_line, input_line_cb *cb, void *arg,
    struct input_pos *pos, uint64_t max_lines)
{
	if (pos->eof)
		return 0;
	return scan_from(fd, max_line, cb, arg, pos, max_lines, NULL);
}

/* Hands every chunk of the whole file to cb; -1 with errno on error. */
static int
each_chunk(int fd, void (*cb)(const char *p, size_t n, void *arg),
    void *arg)
{
	char *chunk;
	off_t off = 0;
	ssize_t n;
	int r = -1;

	chunk = xmalloc(CHUNK);
	for (;;) {
		n = pread(fd, chunk, CHUNK, off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (n == 0)
			break;
		cb(chunk, (size_t)n, arg);
		off += n;
	}
	r = 0;
out:
	free(chunk);
	return r;
}

struct line_count {
	uint64_t	 n;
	bool		 open_line;	/* the last chunk ended mid-line */
};

static void
count_chunk(const char *p, size_t n, void *arg)
{
	struct line_count *c = arg;
	const char *end = p + n;

	for (; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		c->n++;
	c->open_line = end[-1] != '\n';
}

int
input_count_lines(int fd, uint64_t *n)
{
	struct line_count c = { 0, false };

	if (each_chunk(fd, count_chunk, &c) == -1)
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

static void
hash_chunk(const char *p, size_t n, void *arg)
{
	input_sha256_update(arg, p, n);
}

int
input_sha256_fd(int fd, char sha256hex[INPUT_SHA256_HEX])
{
	struct input_hash *h = input_sha256_begin();
	int r;

	r = each_chunk(fd, hash_chunk, h);
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
