/*
 * buf - a growable byte buffer, always NUL-terminated for convenience.
 */
#ifndef SPOOLD_BUF_H
#define SPOOLD_BUF_H

#include <stddef.h>

struct buf {
	char	*data;		/* owned; NULL until the first add */
	size_t	 len;
	size_t	 cap;
};

#define BUF_INIT	{ NULL, 0, 0 }

void	 buf_init(struct buf *b);
/* Frees the memory; the buffer may be reused after buf_init(). */
void	 buf_release(struct buf *b);
/* Keeps the memory, forgets the contents. */
void	 buf_reset(struct buf *b);
/* Grows the capacity to hold len + extra bytes (may move data). */
void	 buf_grow(struct buf *b, size_t extra);
void	 buf_add(struct buf *b, const void *data, size_t len);
void	 buf_adds(struct buf *b, const char *s);
void	 buf_addc(struct buf *b, char c);
void	 buf_addf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes. */
void	 buf_consume(struct buf *b, size_t n);
/* Returns owned: the data, NUL-terminated; the buffer is left empty. */
char	*buf_detach(struct buf *b, size_t *len);

#endif
