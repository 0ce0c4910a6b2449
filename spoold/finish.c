/*
 * finish - manifest, archive and the final moves of a batch.
 *
 * Order matters for crash safety: everything the manifest describes is
 * made durable first, the input goes to done/, and manifest.json is
 * renamed into place last.  A crash anywhere before that leaves no
 * manifest, and a restart simply finishes the batch again.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>

#include "finish.h"
#include "input.h"
#include "log.h"
#include "notify.h"
#include "pgzip.h"
#include "sortout.h"
#include "util.h"

struct file_info {
	const char	*name;
	uint64_t	 bytes;
	char		 sha256[INPUT_SHA256_HEX];
};

static int
describe(int dfd, struct file_info *fi)
{
	struct stat st;
	int fd, r;

	if ((fd = openat(dfd, fi->name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	r = -1;
	if (fstat(fd, &st) == 0 && input_sha256_fd(fd, fi->sha256) == 0) {
		fi->bytes = (uint64_t)st.st_size;
		r = 0;
	}
	close(fd);
	return r;
}

static char *
manifest_text(const struct config *cfg, const struct batch *b,
    const struct file_info *files, int nfiles, const char *archive_name)
{
	cJSON *o, *u, *arr, *f;
	char *text, *path;
	int i;

	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "batch", b->id);
	cJSON_AddStringToObject(o, "input", b->input_name);
	if (b->sha256[0] != '\0')
		cJSON_AddStringToObject(o, "input_sha256", b->sha256);
	else
		cJSON_AddNullToObject(o, "input_sha256");
	cJSON_AddStringToObject(o, "status", b->final_status);
	batch_add_counts(b, o);
	u = cJSON_AddObjectToObject(o, "usage");
	cJSON_AddNumberToObject(u, "input_tokens", (double)b->tokens_in);
	cJSON_AddNumberToObject(u, "output_tokens", (double)b->tokens_out);
	cJSON_AddNumberToObject(u, "total_tokens",
	    (double)(b->tokens_in + b->tokens_out));
	batch_add_cost(b, cfg, o, true);
	cJSON_AddNumberToObject(o, "created_at", (double)b->created_at);
	cJSON_AddNumberToObject(o, "started_at", (double)b->started_at);
	cJSON_AddNumberToObject(o, "finished_at", (double)b->finished_at);
	if (cfg->archive != ARCHIVE_NONE) {
		path = xasprintf("archive/%s", archive_name);
		cJSON_AddStringToObject(o, "archive", path);
		free(path);
	} else {
		cJSON_AddNullToObject(o, "archive");
	}
	arr = cJSON_AddArrayToObject(o, "files");
	for (i = 0; i < nfiles; i++) {
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "name", files[i].name);
		cJSON_AddNumberToObject(f, "bytes", (double)files[i].bytes);
		cJSON_AddStringToObject(f, "sha256", files[i].sha256);
		cJSON_AddItemToArray(arr, f);
	}
	text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}

/*
 * Adds member name to the archive from dfd/file, or from memory.  With
 * fi, the file's size and SHA-256 are taken from the bytes archived:
 * the manifest describes the files in the same pass.
 */
static int
add_member(struct archive *a, const char *name, int dfd, const char *file,
    const char *mem, size_t memlen, struct file_info *fi)
{
	struct archive_entry *e;
	struct input_hash *h = NULL;
	char chunk[65536];
	struct stat st;
	ssize_t n;
	size_t left;
	int fd = -1, r = -1;

	if (mem == NULL) {
		if ((fd = openat(dfd, file, O_RDONLY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1)
			goto out;
		memlen = (size_t)st.st_size;
	}
	left = memlen;
	e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)memlen);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0640);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		archive_entry_free(e);
		goto out;
	}
	archive_entry_free(e);
	if (fi != NULL)
		h = input_sha256_begin();
	if (mem != NULL) {
		if (archive_write_data(a, mem, memlen) != (la_ssize_t)memlen)
			goto out;
		if (h != NULL)
			input_sha256_update(h, mem, memlen);
	} else {
		/* No more than the header promised, should it grow. */
		while (left > 0 && (n = read(fd, chunk, left <
		    sizeof(chunk) ? left : sizeof(chunk))) != 0) {
			if (n == -1)
				goto out;
			if (archive_write_data(a, chunk, (size_t)n) != n)
				goto out;
			if (h != NULL)
				input_sha256_update(h, chunk, (size_t)n);
			left -= (size_t)n;
		}
		if (left > 0) {
			errno = EIO;	/* shrank under us */
			goto out;
		}
	}
	if (fi != NULL) {
		fi->bytes = (uint64_t)memlen;
		input_sha256_end(h, fi->sha256);
		h = NULL;
	}
	r = 0;
out:
	if (h != NULL)
		input_sha256_end(h, fi->sha256);	/* frees it */
	if (fd != -1)
		close(fd);
	return r;
}

/*
 * batch.archive_input: the input as processed (the normalised JSONL of
 * a file batch, the member files of a loose one) under BATCH/input/.
 */
static int
add_input(struct archive *a, struct spool *sp, const struct batch *b)
{
	int pfd = spool_dirfd(sp, SPOOL_PROCESSING), dfd, r = 0;
	uint64_t i;
	char *name;

	if (b->kind == BATCH_FILE) {
		name = xasprintf("%s/input/%s", b->id, b->input_name);
		r = add_member(a, name, pfd, b->input_name, NULL, 0, NULL);
		free(name);
		return r;
	}
	if ((dfd = openat(pfd, b->input_name, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	for (i = 0; i < b->nmembers && r == 0; i++) {
		name = xasprintf("%s/input/%s", b->id, b->members[i]);
		r = add_member(a, name, dfd, b->members[i], NULL, 0, NULL);
		free(name);
	}
	close(dfd);
	return r;
}

/* libarchive's writer for tar.gz: the tar stream into pgzip. */
static la_ssize_t
to_pgzip(struct archive *a, void *arg, const void *data, size_t len)
{
	(void)a;
	if (pgzip_write(arg, data, len) == -1) {
		archive_set_error(a, errno, "write archive: %s",
		    strerror(errno));
		return -1;
	}
	return (la_ssize_t)len;
}

/* Deflate threads: the cores there are, up to four. */
static int
gzip_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 4 ? 4 : (int)n;
}

/*
 * Writes archive/NAME with the result files, described into files as
 * they are archived, and the manifest made from them (*manifest, owned
 * by the caller, also on failure).
 */
static int
write_archive(struct spool *sp, const struct config *cfg, struct batch *b,
    const char *archive_name, struct file_info files[2], char **manifest)
{
	struct spool_tmp *t;
	struct archive *a;
	struct pgzip *z = NULL;
	char *n1, *n2, *n3;
	int r = -1, opened;

	if ((t = spool_tmp_open(spool_dirfd(sp, SPOOL_ARCHIVE))) == NULL)
		return -1;
	a = archive_write_new();
	switch (cfg->archive) {
	case ARCHIVE_TAR_GZ:
		archive_write_set_format_pax_restricted(a);
		/* Level 1: written once and rarely read, speed first (~3x
		 * faster than the default 6, ~10 % larger). */
		z = pgzip_open(spool_tmp_fd(t), 1, gzip_threads());
		break;
	case ARCHIVE_TAR_ZST:
		archive_write_set_format_pax_restricted(a);
		archive_write_add_filter_zstd(a);
		break;
	case ARCHIVE_ZIP:
		archive_write_set_format_zip(a);
		break;
	case ARCHIVE_NONE:
		SPOOL_ASSERT(0);
	}
	n1 = xasprintf("%s/output.jsonl", b->id);
	n2 = xasprintf("%s/errors.jsonl", b->id);
	n3 = xasprintf("%s/manifest.json", b->id);
	opened = z != NULL ? archive_write_open(a, z, NULL, to_pgzip, NULL) :
	    archive_write_open_fd(a, spool_tmp_fd(t));
	if (opened != ARCHIVE_OK ||
	    add_member(a, n1, b->results_fd, files[0].name, NULL, 0,
	    &files[0]) == -1 ||
	    add_member(a, n2, b->results_fd, files[1].name, NULL, 0,
	    &files[1]) == -1 ||
	    (*manifest = manifest_text(cfg, b, files, 2, archive_name)) ==
	    NULL ||
	    add_member(a, n3, -1, NULL, *manifest, strlen(*manifest),
	    NULL) == -1 ||
	    (cfg->archive_input && add_input(a, sp, b) == -1) ||
	    archive_write_close(a) != ARCHIVE_OK ||
	    (z != NULL && pgzip_close(z) == -1)) {
		log_warnx("batch=%s archive: %s", b->id,
		    archive_error_string(a) ? archive_error_string(a) :
		    strerror(errno));
		spool_tmp_abort(&t);
		goto out;
	}
	z = NULL;
	if (spool_tmp_commit(&t, archive_name) == -1) {
		log_warn("batch=%s commit archive %s", b->id, archive_name);
		goto out;
	}
	r = 0;
out:
	archive_write_free(a);
	if (z != NULL)
		(void)pgzip_close(z);
	free(n1);
	free(n2);
	free(n3);
	return r;
}

/* processing/name to done/, under a new name if done/ has one. */
static int
move_to_done(struct spool *sp, const char *name)
{
	char alt[SPOOL_NAME_MAX + 1], rnd[25];

	if (spool_move(sp, SPOOL_PROCESSING, name, SPOOL_DONE, name) == 0 ||
	    errno == ENOENT)
		return 0;
	if (errno != EEXIST)
		return -1;
	random_id(rnd);
	snprintf(alt, sizeof(alt), "%.230s.%.8s", name, rnd);
	if (spool_move(sp, SPOOL_PROCESSING, name, SPOOL_DONE, alt) == 0 ||
	    errno == ENOENT)
		return 0;
	return -1;
}

/*
 * A batch whose manifest.json is already in place: an earlier finisher
 * died before it had notified (claim.c sweep_lease brought the input
 * back).  The manifest is final: only the rest is done again.
 */
static int
finish_notify_only(struct spool *sp, const struct config *cfg,
    struct batch *b)
{
	struct buf m = BUF_INIT;
	cJSON *o, *st;
	int fd, r = -1;

	b->state = BATCH_DONE;
	if ((fd = openat(b->results_fd, "manifest.json", O_RDONLY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    input_read_file(fd, 1 << 24, &m) == -1) {
		log_warn("batch=%s read manifest.json", b->id);
		goto out;
	}
	/* status.json said in_progress again while the batch resumed. */
	if ((o = cJSON_ParseWithLength(m.data, m.len)) != NULL &&
	    cJSON_IsString(st = cJSON_GetObjectItemCaseSensitive(o,
	    "status")) && batch_write_status(b, cfg, st->valuestring) == -1)
		log_warn("batch=%s write status.json", b->id);
	cJSON_Delete(o);
	if (move_to_done(sp, b->input_name) == -1) {
		log_warn("batch=%s move %s to done/", b->id, b->input_name);
		goto out;
	}
	notify_run(cfg, b->results_fd, b->id, m.data, m.len);
	r = 0;
out:
	if (fd != -1)
		close(fd);
	buf_release(&m);
	return r;
}

/* The finishing child's work; 0 or -1 (logged). */
static int
finish_run(struct spool *sp, const struct config *cfg, struct batch *b)
{
	struct file_info files[2] = {
		{ "output.jsonl", 0, "" }, { "errors.jsonl", 0, "" }
	};
	struct task_limits limits;
	char *manifest = NULL, *archive_name;
	int r = -1;

	if (faccessat(b->results_fd, "manifest.json", F_OK, 0) == 0)
		return finish_notify_only(sp, cfg, b);
	b->finished_at = time(NULL);
	b->state = BATCH_DONE;
	limits.max_line = (size_t)cfg->max_line_bytes;
	limits.max_depth = (int)cfg->max_json_depth;
	archive_name = xasprintf("%s%s", b->id,
	    config_archive_suffix(cfg->archive));
	if (batch_write_task_files(b) == -1) {
		log_warn("batch=%s write per-request result files", b->id);
		goto out;
	}
	/* Before the hashes: the manifest describes the final files. */
	if (cfg->sort_output && (sortout_run(b, &limits, "output.jsonl") ==
	    -1 || sortout_run(b, &limits, "errors.jsonl") == -1)) {
		log_warn("batch=%s sort results into input order", b->id);
		goto out;
	}
	if (cfg->archive != ARCHIVE_NONE) {
		if (write_archive(sp, cfg, b, archive_name, files,
		    &manifest) == -1)
			goto out;
	} else {
		if (describe(b->results_fd, &files[0]) == -1 ||
		    describe(b->results_fd, &files[1]) == -1) {
			log_warn("batch=%s read results", b->id);
			goto out;
		}
		manifest = manifest_text(cfg, b, files, 2, archive_name);
	}
	if (b->failed > 0 && batch_write_dead_letters(b, sp, &limits) == -1) {
		log_warn("batch=%s write failed/%s.failed.jsonl", b->id, b->id);
		goto out;
	}
	if (batch_write_status(b, cfg, b->final_status) == -1) {
		log_warn("batch=%s write status.json", b->id);
		goto out;
	}
	if (move_to_done(sp, b->input_name) == -1) {
		log_warn("batch=%s move %s to done/", b->id, b->input_name);
		goto out;
	}
	/* Last: the commit marker of the whole batch. */
	if (spool_write_at(b->results_fd, "manifest.json", manifest,
	    strlen(manifest)) == -1) {
		log_warn("batch=%s write manifest.json", b->id);
		goto out;
	}
	/*
	 * Until the lease goes, a crash brings the batch back here.  The
	 * supervisor removes it once we have exited: it reads the lease to
	 * renew it, and on a FUSE spool (sshfs) one process unlinking a
	 * file while another closes it leaks a .fuse_hidden file.
	 */
	notify_run(cfg, b->results_fd, b->id, manifest, strlen(manifest));
	r = 0;
out:
	cJSON_free(manifest);
	free(archive_name);
	return r;
}

pid_t
finish_start(struct spool *sp, const struct config *cfg, struct batch *b)
{
	pid_t pid;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		log_procinit("finish");
		_exit(finish_run(sp, cfg, b) == 0 ? 0 : 74);
	}
	return pid;
}
