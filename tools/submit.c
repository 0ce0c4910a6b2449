/*
 * submit - atomic delivery into new/ (see submit.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "spool.h"
#include "spool_limits.h"
#include "submit.h"

/* A name spoold takes as a batch or a request; says why not. */
static bool
deliverable(const char *name)
{
	enum spool_kind k = spool_name_kind(name);

	if (spool_name_ok(name) && !spool_name_is_temp(name) &&
	    (k == SPOOL_KIND_JSONL || k == SPOOL_KIND_JSON ||
	    k == SPOOL_KIND_ARCHIVE))
		return true;
	fprintf(stderr, "spoolctl: %s: not a name spoold takes "
	    "(.jsonl, .json or an archive)\n", name);
	return false;
}

int
submit_fd(struct spool *sp, int fd, const char *label, const char *name,
    bool force)
{
	char chunk[65536];
	struct spool_tmp *t;
	ssize_t n;
	int tmpfd = spool_dirfd(sp, SPOOL_TMP);

	if (!deliverable(name))
		return EX_DATAERR;
	/* Only batches are deduplicated, so only they take a marker. */
	if (force && spool_name_kind(name) != SPOOL_KIND_JSON) {
		/* The marker first: spoold looks for it when it claims. */
		char stem[SPOOL_NAME_MAX + 1], marker[SPOOL_NAME_MAX + 8];

		if (spool_name_stem(name, stem, sizeof(stem)) == -1)
			return EX_DATAERR;
		snprintf(marker, sizeof(marker), "%s.force", stem);
		if (spool_write_atomic(sp, SPOOL_NEW, marker, "", 0) == -1) {
			fprintf(stderr, "spoolctl: new/%s: %s\n", marker,
			    strerror(errno));
			return EX_IOERR;
		}
	}
	if (lseek(fd, 0, SEEK_SET) == -1 && errno != ESPIPE) {
		fprintf(stderr, "spoolctl: %s: %s\n", label, strerror(errno));
		return EX_IOERR;
	}
	if ((t = spool_tmp_open(tmpfd)) == NULL) {
		fprintf(stderr, "spoolctl: tmp/: %s\n", strerror(errno));
		return EX_CANTCREAT;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (spool_tmp_write(t, chunk, (size_t)n) == -1)
			break;
	}
	if (n != 0) {
		fprintf(stderr, "spoolctl: copy %s: %s\n", label,
		    strerror(errno));
		spool_tmp_abort(&t);
		return EX_IOERR;
	}
	/* Durable in tmp/ under a hidden name, then one rename into new/. */
	if (spool_tmp_commit(&t, name) == -1 ||
	    spool_move(sp, SPOOL_TMP, name, SPOOL_NEW, name) == -1) {
		fprintf(stderr, "spoolctl: deliver %s: %s\n", name,
		    strerror(errno));
		unlinkat(tmpfd, name, 0);
		return EX_IOERR;
	}
	printf("submitted %s as new/%s\n", label, name);
	return EX_OK;
}

int
submit_path(struct spool *sp, const char *path, const char *batch,
    bool force)
{
	char name[SPOOL_NAME_MAX + 1];
	const char *base, *suffix;
	int fd, r;

	base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	if (batch != NULL) {
		/* The whole suffix: x.tar.gz stays a .tar.gz. */
		char stem[SPOOL_NAME_MAX + 1];

		suffix = ".jsonl";
		if (spool_name_stem(base, stem, sizeof(stem)) == 0 &&
		    strlen(stem) < strlen(base))
			suffix = base + strlen(stem);
		snprintf(name, sizeof(name), "%s%s", batch, suffix);
	} else {
		snprintf(name, sizeof(name), "%s", base);
	}
	/* Judge the name before opening: a bad one is a usage matter. */
	if (!deliverable(name))
		return EX_DATAERR;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "spoolctl: %s: %s\n", path, strerror(errno));
		return EX_NOINPUT;
	}
	r = submit_fd(sp, fd, path, name, force);
	close(fd);
	return r;
}
