/*
 * proto - supervisor/worker framing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "util.h"

#define HDR	8

void
proto_begin(struct buf *out, enum proto_type type, size_t *mark)
{
	uint32_t zero = 0, t = type;

	*mark = out->len;
	buf_add(out, &zero, 4);
	buf_add(out, &t, 4);
}

void
proto_put_u32(struct buf *out, uint32_t v)
{
	buf_add(out, &v, 4);
}

void
proto_put_u64(struct buf *out, uint64_t v)
{
	buf_add(out, &v, 8);
}

void
proto_put_bytes(struct buf *out, const void *p, size_t len)
{
	SPOOL_ASSERT(len < PROTO_MAX_MSG);
	proto_put_u32(out, (uint32_t)len);
	buf_add(out, p, len);
}

void
proto_put_str(struct buf *out, const char *s)
{
	proto_put_bytes(out, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

void
proto_end(struct buf *out, size_t mark)
{
	uint32_t len = (uint32_t)(out->len - mark - HDR);

	SPOOL_ASSERT(out->len - mark - HDR < PROTO_MAX_MSG);
	memcpy(out->data + mark, &len, 4);
}

int
proto_get_u32(struct proto_msg *m, uint32_t *v)
{
	if (m->left < 4)
		return -1;
	memcpy(v, m->p, 4);
	m->p += 4;
	m->left -= 4;
	return 0;
}

int
proto_get_u64(struct proto_msg *m, uint64_t *v)
{
	if (m->left < 8)
		return -1;
	memcpy(v, m->p, 8);
	m->p += 8;
	m->left -= 8;
	return 0;
}

int
proto_get_bytes(struct proto_msg *m, const char **p, size_t *len)
{
	uint32_t n;

	if (proto_get_u32(m, &n) == -1 || n > m->left)
		return -1;
	*p = m->p;
	*len = n;
	m->p += n;
	m->left -= n;
	return 0;
}

int
proto_get_str(struct proto_msg *m, char **s)
{
	const char *p;
	size_t len;

	if (proto_get_bytes(m, &p, &len) == -1)
		return -1;
	if (memchr(p, '\0', len) != NULL)
		return -1;
	*s = xstrndup(p, len);
	return 0;
}

int
proto_done(const struct proto_msg *m)
{
	return m->left == 0 ? 0 : -1;
}

void
chan_init(struct chan *c, int fd)
{
	c->fd = fd;
	buf_init(&c->in);
	buf_init(&c->out);
	c->in_off = 0;
}

void
chan_close(struct chan *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_release(&c->in);
	buf_release(&c->out);
	c->in_off = 0;
}

int
chan_read(struct chan *c)
{
	ssize_t n;

	/* Drop what earlier messages consumed before reading more. */
	if (c->in_off > 0) {
		buf_consume(&c->in, c->in_off);
		c->in_off = 0;
	}
	for (;;) {
		buf_grow(&c->in, 65536);
		n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len -
		    1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			return -1;
		}
		if (n == 0)
			return 0;
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = '\0';
		if ((size_t)n < 65536)
			return 1;
	}
}

int
chan_next(struct chan *c, struct proto_msg *m)
{
	uint32_t len, type;
	size_t avail = c->in.len - c->in_off;
	const char *p = c->in.data + c->in_off;

	if (avail < HDR)
		return 0;
	memcpy(&len, p, 4);
	memcpy(&type, p + 4, 4);
	if (len >= PROTO_MAX_MSG || type < PROTO_ENDPOINT ||
	    type > PROTO_RESULT) {
		errno = EPROTO;
		return -1;
	}
	if (avail < HDR + (size_t)len)
		return 0;
	m->type = (enum proto_type)type;
	m->p = p + HDR;
	m->left = len;
	c->in_off += HDR + len;
	return 1;
}

int
chan_flush(struct chan *c)
{
	ssize_t n;

	while (c->out.len > 0) {
		n = write(c->fd, c->out.data, c->out.len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		buf_consume(&c->out, (size_t)n);
	}
	return 0;
}

bool
chan_pending(const struct chan *c)
{
	return c->out.len > 0;
}
