/*
 * proto - the typed, size-checked messages between the supervisor and
 * its workers, framed on a stream socket: {u32 length, u32 type} then
 * fields.  Readers fail on a short or oversized message and on bytes
 * left over (proto_end), so a confused peer is detected, not trusted.
 */
#ifndef SPOOLD_PROTO_H
#define SPOOLD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PROTO_MAX_MSG	(256U << 20)

enum proto_type {
	PROTO_ENDPOINT = 1,	/* supervisor -> worker: endpoint settings */
	PROTO_TASK,		/* supervisor -> worker: one request */
	PROTO_RESULT		/* worker -> supervisor: its outcome */
};

/* How a finished attempt is to be handled. */
enum proto_outcome {
	OUTCOME_OK,		/* success: output.jsonl */
	OUTCOME_RETRY,		/* transient: retry if attempts are left */
	OUTCOME_FAIL,		/* permanent: errors.jsonl */
	OUTCOME_ENDPOINT_DOWN	/* endpoint unusable: wait, do not spend */
};

/* Building a message: begin, put fields, end (which fills the length). */
void	proto_begin(struct buf *out, enum proto_type type, size_t *mark);
void	proto_put_u32(struct buf *out, uint32_t v);
void	proto_put_u64(struct buf *out, uint64_t v);
void	proto_put_str(struct buf *out, const char *s);
void	proto_put_bytes(struct buf *out, const void *p, size_t len);
void	proto_end(struct buf *out, size_t mark);

/* Reading one message: fields in the order they were put. */
struct proto_msg {
	enum proto_type	 type;
	const char	*p;	/* borrowed from the channel's buffer */
	size_t		 left;
};

int	proto_get_u32(struct proto_msg *m, uint32_t *v);
int	proto_get_u64(struct proto_msg *m, uint64_t *v);
/* Borrowed pointer into the message, NUL-terminated copy not made. */
int	proto_get_bytes(struct proto_msg *m, const char **p, size_t *len);
/* Returns owned: a NUL-terminated copy. */
int	proto_get_str(struct proto_msg *m, char **s);
/* -1 if bytes are left: the peer speaks another protocol. */
int	proto_done(const struct proto_msg *m);

/* A non-blocking framed channel. */
struct chan {
	int		 fd;
	struct buf	 in;
	struct buf	 out;
	size_t		 in_off;	/* consumed bytes of in */
};

void	chan_init(struct chan *c, int fd);
/* Closes the fd and frees the buffers. */
void	chan_close(struct chan *c);
/* Reads what is available: 1 data read, 0 EOF, -1 error (EAGAIN is 1). */
int	chan_read(struct chan *c);
/* The next whole message, or 0 if none; -1 on a framing error. */
int	chan_next(struct chan *c, struct proto_msg *m);
/* Writes what it can: 0 all flushed or would block, -1 error. */
int	chan_flush(struct chan *c);
bool	chan_pending(const struct chan *c);

#endif
