/*
 * spool - the on-disk spool protocol: its directories, safe names, and
 * atomic writes and moves.  This is the only module that changes spool
 * paths; the daemon and the tools share it.
 *
 * Every directory is opened once with O_DIRECTORY|O_NOFOLLOW and all other
 * access is relative to those descriptors.  Every state change is
 * temp-write, fsync, rename, fsync of the directory (SPEC §5).
 * Functions return 0 or -1 with errno set; none of them logs.
 */
#ifndef SPOOLD_SPOOL_H
#define SPOOLD_SPOOL_H

#include <sys/types.h>

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>

enum spool_dir {
	SPOOL_TMP,
	SPOOL_NEW,
	SPOOL_PROCESSING,
	SPOOL_DONE,
	SPOOL_FAILED,
	SPOOL_RESULTS,
	SPOOL_ARCHIVE,
	SPOOL_NDIRS
};

/* What a name in new/ asks for, judged by its suffix alone. */
enum spool_kind {
	SPOOL_KIND_TEMP,	/* ignored until renamed */
	SPOOL_KIND_JSONL,	/* a batch */
	SPOOL_KIND_JSON,	/* one loose request */
	SPOOL_KIND_ARCHIVE,	/* .tar .tar.gz .tgz .tar.zst .zip */
	SPOOL_KIND_CANCEL,	/* BATCH.cancel */
	SPOOL_KIND_READY,	/* NAME.ready marker (require_ready) */
	SPOOL_KIND_FORCE,	/* NAME.force: spoolctl submit --force */
	SPOOL_KIND_HOLD,	/* BATCH.hold: spoolctl hold */
	SPOOL_KIND_DIR,		/* a directory batch (never by name) */
	SPOOL_KIND_OTHER	/* unusable: goes to failed/ */
};

struct spool;

/*
 * Opens the spool at root, creating missing directories with mode when
 * create is set.  Returns owned (free with spool_free) or NULL.
 */
struct spool	*spool_open(const char *root, bool create, mode_t mode);
void		 spool_free(struct spool *sp);
/* Borrowed: valid until spool_free. */
const char	*spool_root(const struct spool *sp);
int		 spool_dirfd(const struct spool *sp, enum spool_dir d);
const char	*spool_dir_name(enum spool_dir d);

/* A name we may create or read: no '/', no control bytes, not . or .. */
bool		 spool_name_ok(const char *name);
/* A batch id a command may name: a safe name, not hidden, not too long. */
bool		 spool_batch_id_ok(const char *id);
/* A writer's temporary name (leading '.', .tmp, .part, ...; SPEC §3). */
bool		 spool_name_is_temp(const char *name);
enum spool_kind	 spool_name_kind(const char *name);
/*
 * The batch id of a drop: its name without the kind's suffix.  Writes
 * at most idlen bytes including the NUL; -1 if it does not fit or is empty.
 */
int		 spool_name_stem(const char *name, char *id, size_t idlen);
/*
 * name without its kind's suffix, whatever its length (the custom_id of a
 * bare loose body); -1 if it does not fit in outlen or is empty.
 */
int		 spool_name_strip(const char *name, char *out, size_t outlen);
/* Copies name into out, replacing unsafe bytes by '_' (for custom_ids). */
void		 spool_name_sanitize(const char *name, char *out,
		    size_t outlen);

/* fsync a directory so that a rename in it survives a power loss. */
int		 spool_fsync_dir(int dfd);

/* Write buf as dfd/name: hidden temp, fsync, rename, fsync dfd. */
int		 spool_write_at(int dfd, const char *name, const void *buf,
		    size_t len);
/*
 * The same without the fsyncs: readers never see a partial file, but a
 * power cut may lose it.  For derived files that the caller later makes
 * durable in bulk (syncfs) or can rebuild.
 */
int		 spool_write_fast(int dfd, const char *name, const void *buf,
		    size_t len);
int		 spool_write_atomic(struct spool *sp, enum spool_dir d,
		    const char *name, const void *buf, size_t len);

/*
 * Moves fromfd/name to tofd/newname without ever replacing a file, then
 * fsyncs both directories.  ENOENT: the source is gone (another instance
 * took it); EEXIST: the target exists.
 */
int		 spool_move_at(int fromfd, const char *name, int tofd,
		    const char *newname);
/*
 * The rename of spool_move_at without the fsyncs, for callers that
 * group many moves under one pair of directory fsyncs.
 */
int		 spool_rename_noreplace(int fromfd, const char *name, int tofd,
		    const char *newname);
int		 spool_move(struct spool *sp, enum spool_dir from,
		    const char *name, enum spool_dir to, const char *newname);

/* Opens (creating if asked) results/BATCH; returns a dirfd or -1. */
int		 spool_results_open(struct spool *sp, const char *batch,
		    bool create);

/* A streaming temporary file that becomes visible only on commit. */
struct spool_tmp;
/* Returns owned or NULL; the file lives in dfd until committed. */
struct spool_tmp *spool_tmp_open(int dfd);
int		 spool_tmp_fd(const struct spool_tmp *t);
int		 spool_tmp_write(struct spool_tmp *t, const void *buf,
		    size_t len);
/* fsync, rename to name (replacing), fsync dir; *tp is freed and NULL. */
int		 spool_tmp_commit(struct spool_tmp **tp, const char *name);
/* Unlinks the temp file; NULL-safe; *tp is freed and NULL. */
void		 spool_tmp_abort(struct spool_tmp **tp);

/*
 * A fresh listing of the directory dfd (closedir when done).  Opened
 * anew rather than dup'ed and rewound: a dup shares the open directory,
 * and FUSE filesystems such as sshfs never list a rewound one again.
 */
DIR		*spool_opendir(int dfd);

/*
 * The inputs and batches in directory d: not temp files, markers
 * (.cancel .ready .force .hold), leases or .error.json sidecars.  With
 * oldest, *oldest gets the mtime of the oldest (left alone if none).
 * -1 if d cannot be read.  spoolctl status and the metrics count alike.
 */
long		 spool_count_inputs(struct spool *sp, enum spool_dir d,
		    time_t *oldest);
/*
 * Removes from dfd hidden temp files (.*.tmp) and the .fuse_hidden*
 * files a FUSE mount (sshfs) can leak, older than age_s.
 */
int		 spool_sweep_tmp(int dfd, long age_s);

#endif
