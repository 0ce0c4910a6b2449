/*
 * unpack - an archive or a directory batch becomes one JSONL stream,
 * the form every batch is processed in (SPEC §3).  Members are read as
 * a stream, bounded in bytes and in compression ratio, and anything
 * that could reach outside the spool (absolute or ".." paths, links,
 * devices) refuses the whole input (SPEC §7).  Nothing is extracted:
 * the only file written is the JSONL the caller gives.  Does not log.
 */
#ifndef SPOOLD_UNPACK_H
#define SPOOLD_UNPACK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "task.h"
#include "util.h"

struct unpack_limits {
	uint64_t	 max_bytes;	/* of JSONL produced in all */
	uint64_t	 max_ratio;	/* produced / compressed, past 1 MiB */
	uint64_t	 max_members;
	struct task_limits task;	/* for .json members */
};

struct unpack_report {
	uint64_t	 members;	/* .json / .jsonl members used */
	uint64_t	 skipped;	/* other members, not fatal */
	struct buf	 skipped_names;	/* "a, b, c" (the first few) */
};

void	unpack_limits_default(struct unpack_limits *l);
void	unpack_report_release(struct unpack_report *r);

/*
 * Reads the archive open on fd (.tar, .tar.gz, .tgz, .tar.zst, .zip)
 * and appends its requests as JSONL to out_fd.  Returns 0, or -1 with
 * err: "unsafe_archive", "archive_too_large", "invalid_archive" or
 * "io_error".
 */
int	unpack_archive(int fd, int out_fd, const struct unpack_limits *l,
	    struct unpack_report *rep, struct err *err);
/*
 * The same for the directory open on dirfd: its .json and .jsonl files
 * in name order; temp names and the marker are ignored.  Symlinks,
 * FIFOs, devices and files with other hard links refuse it
 * ("unsafe_directory").
 */
int	unpack_dir(int dirfd, const char *marker, int out_fd,
	    const struct unpack_limits *l, struct unpack_report *rep,
	    struct err *err);

#endif
