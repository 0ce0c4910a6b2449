/*
 * chunk - paragraph-boundary chunking (see chunk.h).
 *
 * The iterator never looks behind pos, so a document is cut in one pass.
 * At each step the window [pos, pos + max] is searched from its end for
 * the best cut: the last paragraph end, then the last line end, then the
 * last blank between words.  Only when the window holds none of those is
 * a word cut, and then never inside a UTF-8 sequence, so that every piece
 * is valid UTF-8 when the document is.
 */
#include <string.h>

#include "chunk.h"

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A line of only blanks (the line starting at i, up to its newline). */
static bool
blank_line(const char *t, size_t len, size_t i)
{
	for (; i < len && t[i] != '\n'; i++)
		if (t[i] != ' ' && t[i] != '\t' && t[i] != '\r')
			return false;
	return true;
}

/* Skips blank lines and the line ends between pieces. */
static size_t
skip_gap(const char *t, size_t len, size_t i)
{
	size_t j;

	while (i < len) {
		if (t[i] == '\n') {
			i++;
			continue;
		}
		if (!blank_line(t, len, i))
			break;
		j = i;
		while (j < len && t[j] != '\n')
			j++;
		i = j;
	}
	return i;
}

/* The end of the text in [start, end): trailing white space dropped. */
static size_t
trim_end(const char *t, size_t start, size_t end)
{
	while (end > start && is_space(t[end - 1]))
		end--;
	return end;
}

/* The start of the UTF-8 character holding byte i. */
static size_t
char_start(const char *t, size_t start, size_t i)
{
	while (i > start && ((unsigned char)t[i] & 0xc0) == 0x80)
		i--;
	return i;
}

/*
 * Where to cut the text from pos so that the piece holds at most max
 * bytes; the piece is [pos, cut) less trailing space.
 */
static size_t
find_cut(const char *t, size_t len, size_t pos, size_t max)
{
	size_t limit = pos + max, i, line_cut = 0, word_cut = 0, para_cut = 0;
	bool text = false;	/* [pos, i) holds more than white space */

	/*
	 * A newline at i ends a line; when the next line is blank it also
	 * ends a paragraph.  The cut may sit at limit itself: the byte
	 * there is not part of the piece.
	 */
	for (i = pos; i <= limit && i < len; i++) {
		if (t[i] == '\n') {
			if (text && blank_line(t, len, i + 1))
				para_cut = i;
			if (text)
				line_cut = i;
		} else if (t[i] == ' ' || t[i] == '\t') {
			if (text)
				word_cut = i;
		} else if (t[i] != '\r') {
			text = true;
		}
	}
	if (para_cut != 0)
		return para_cut;
	if (line_cut != 0)
		return line_cut;
	if (word_cut != 0)
		return word_cut;
	/* One long word: cut it, but not inside a character. */
	i = char_start(t, pos, limit);
	if (i == pos) {
		/* max is smaller than this character: take it whole. */
		i = pos + 1;
		while (i < len && ((unsigned char)t[i] & 0xc0) == 0x80)
			i++;
	}
	return i;
}

void
chunk_init(struct chunk_iter *it, const char *text, size_t len, size_t max)
{
	it->text = text;
	it->len = len;
	it->max = max;
	it->pos = skip_gap(text, len, 0);
}

bool
chunk_next(struct chunk_iter *it, size_t *off, size_t *len)
{
	const char *t = it->text;
	size_t end, cut;

	for (;;) {
		if (it->pos >= it->len)
			return false;
		end = trim_end(t, it->pos, it->len);
		if (end == it->pos) {
			it->pos = it->len;
			return false;
		}
		if (it->max == 0 || end - it->pos <= it->max) {
			cut = it->len;
		} else {
			cut = find_cut(t, it->len, it->pos, it->max);
			end = trim_end(t, it->pos, cut);
		}
		*off = it->pos;
		*len = end - it->pos;
		/* Leading blanks of a line after a word cut go too. */
		it->pos = cut;
		while (it->pos < it->len && (t[it->pos] == ' ' ||
		    t[it->pos] == '\t'))
			it->pos++;
		it->pos = skip_gap(t, it->len, it->pos);
		if (*len > 0)
			return true;
	}
}
