/*
 * chunk - cutting a text document into pieces of at most max bytes, for
 * spoolctl build.  A cut goes at a paragraph boundary (a blank line)
 * where one fits, else at the end of a line, else between words, else
 * inside a word at a UTF-8 character boundary.  Pieces are slices of the
 * text, without the blank lines around them and without trailing white
 * space, so that putting them back with blank lines between gives the
 * document again.
 */
#ifndef SPOOLD_CHUNK_H
#define SPOOLD_CHUNK_H

#include <stdbool.h>
#include <stddef.h>

struct chunk_iter {
	const char	*text;		/* borrowed */
	size_t		 len;
	size_t		 pos;		/* where the next piece may start */
	size_t		 max;		/* 0: no limit, one piece */
};

void	chunk_init(struct chunk_iter *it, const char *text, size_t len,
	    size_t max);
/*
 * The next piece as an offset into the text and a length (never 0, at
 * most max bytes unless max is smaller than one character).  Returns
 * false when no text is left.
 */
bool	chunk_next(struct chunk_iter *it, size_t *off, size_t *len);

#endif
