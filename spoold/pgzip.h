/*
 * pgzip - a gzip file written by several threads: what is written is
 * cut into chunks, each deflated on its own into one gzip member, and
 * the members are written in order.  A file of several members is one
 * gzip stream (RFC 1952, 2.2): gzip, tar and libarchive read it whole.
 */
#ifndef SPOOLD_PGZIP_H
#define SPOOLD_PGZIP_H

#include <stddef.h>

struct pgzip;

/*
 * Writes to fd (not closed by pgzip) at deflate level (1-9) with up to
 * nthreads compressing at once (1: no thread).  Returns owned.
 */
struct pgzip	*pgzip_open(int fd, int level, int nthreads);
/* 0, or -1 with errno (a write failed: later calls fail too). */
int		 pgzip_write(struct pgzip *z, const void *data, size_t len);
/* Writes what is left and frees z: 0, or -1 with errno. */
int		 pgzip_close(struct pgzip *z);

#endif
