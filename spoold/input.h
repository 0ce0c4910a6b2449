/*
 * input - reading batch inputs as streams: a JSONL file is scanned once
 * (validation, hashing, counting) and later read by byte offset when a
 * request is dispatched, so memory never grows with the batch.
 */
#ifndef SPOOLD_INPUT_H
#define SPOOLD_INPUT_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define INPUT_SHA256_HEX	65

/* One line as the scanner hands it out. */
struct input_line {
	uint64_t	 lineno;	/* 1-based physical line */
	uint64_t	 offset;	/* of the first byte */
	size_t		 len;		/* without the newline */
	const char	*data;		/* borrowed; NULL if too_long */
	bool		 too_long;
};

/* Returns 0 to go on, -1 to stop the scan (it then returns -1). */
typedef int input_line_cb(const struct input_line *line, void *arg);

/*
 * Reads fd from the start, calling cb for every non-blank line (a line
 * over max_line is reported with too_long and no data).  -1 with errno
 * on I/O error, or -1 (errno 0) if cb stopped it.
 */
int	input_scan_lines(int fd, size_t max_line, input_line_cb *cb,
	    void *arg);

/* Where a scan stopped: the next line's offset and number. */
struct input_pos {
	uint64_t	 offset;
	uint64_t	 lineno;
	bool		 eof;		/* nothing is left */
};
#define INPUT_POS_START	{ 0, 1, false }

/*
 * Like input_scan_lines, from pos and for at most max_lines lines (0:
 * to the end); pos moves on.  A scan in steps of a file that
 * does not change sees what one scan would.
 */
int	input_scan_some(int fd, size_t max_line, input_line_cb *cb, void *arg,
	    struct input_pos *pos, uint64_t max_lines);

/* The number of lines of fd, a last one without newline included. */
int	input_count_lines(int fd, uint64_t *n);

/* Reads len bytes at offset into out (replacing its contents). */
int	input_read_at(int fd, uint64_t offset, size_t len, struct buf *out);

/* Reads a whole small file (at most max bytes) into out; EFBIG if larger. */
int	input_read_file(int fd, size_t max, struct buf *out);

/* SHA-256 of data that comes in pieces: begin, update..., end (frees). */
struct input_hash;
struct input_hash *input_sha256_begin(void);
void	input_sha256_update(struct input_hash *h, const void *data,
	    size_t len);
void	input_sha256_end(struct input_hash *h,
	    char sha256hex[INPUT_SHA256_HEX]);

/* SHA-256 of a whole file, from the start. */
int	input_sha256_fd(int fd, char sha256hex[INPUT_SHA256_HEX]);
void	input_sha256_mem(const void *data, size_t len,
	    char sha256hex[INPUT_SHA256_HEX]);

/*
 * Does the content look complete (SPEC §3)?  A .json must parse whole;
 * the last line of a .jsonl must end in a newline or parse whole.
 * Returns 1 complete, 0 truncated, -1 on I/O error.
 */
int	input_looks_complete(int fd, bool jsonl, size_t max_line);

#endif
