/*
 * ops_change - spoolctl hold, release and purge: the operator's
 * commands that change the spool.  hold and release leave or remove
 * new/BATCH.hold, which the daemon owning BATCH acts on; purge removes
 * what finished before a cutoff.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "ops_internal.h"
#include "spool.h"
#include "spool_limits.h"
#include "util.h"

/* --- hold, release -------------------------------------------------- */

int
ops_hold(struct spool *sp, int argc, char **argv)
{
	char name[SPOOL_NAME_MAX + 8];
	int rfd;

	if (argc != 2 || !spool_batch_id_ok(argv[1])) {
		fprintf(stderr, "usage: spoolctl hold BATCH\n");
		return EX_USAGE;
	}
	if ((rfd = ops_results_dir(sp, argv[1])) == -1 &&
	    !ops_pending_input(sp, argv[1])) {
		fprintf(stderr, "spoolctl: no batch %s\n", argv[1]);
		return EX_NOINPUT;
	}
	if (rfd != -1 && faccessat(rfd, "manifest.json", F_OK, 0) == 0) {
		fprintf(stderr, "spoolctl: batch %s has finished\n", argv[1]);
		close(rfd);
		return EX_DATAERR;
	}
	if (rfd != -1)
		close(rfd);
	snprintf(name, sizeof(name), "%s.hold", argv[1]);
	if (ops_marker_exists(sp, argv[1], ".hold")) {
		printf("%s is already held\n", argv[1]);
		return EX_OK;
	}
	if (spool_write_atomic(sp, SPOOL_TMP, name, "", 0) == -1 ||
	    spool_move(sp, SPOOL_TMP, name, SPOOL_NEW, name) == -1) {
		fprintf(stderr, "spoolctl: new/%s: %s\n", name,
		    strerror(errno));
		return EX_IOERR;
	}
	printf("%s held: nothing more is dispatched until spoolctl release\n",
	    argv[1]);
	return EX_OK;
}

int
ops_release(struct spool *sp, int argc, char **argv)
{
	char name[SPOOL_NAME_MAX + 8];

	if (argc != 2 || !spool_batch_id_ok(argv[1])) {
		fprintf(stderr, "usage: spoolctl release BATCH\n");
		return EX_USAGE;
	}
	snprintf(name, sizeof(name), "%s.hold", argv[1]);
	if (unlinkat(spool_dirfd(sp, SPOOL_NEW), name, 0) == -1) {
		if (errno == ENOENT) {
			fprintf(stderr, "spoolctl: %s is not held\n", argv[1]);
			return EX_NOINPUT;
		}
		fprintf(stderr, "spoolctl: new/%s: %s\n", name,
		    strerror(errno));
		return EX_IOERR;
	}
	spool_fsync_dir(spool_dirfd(sp, SPOOL_NEW));
	printf("%s released\n", argv[1]);
	return EX_OK;
}

/* --- purge ---------------------------------------------------------- */

/* Removes dfd/name and, for a directory, all below; never follows a
 * symlink (it removes the link).  Adds the bytes removed to *bytes. */
static int
remove_tree(int dfd, const char *name, uint64_t *bytes)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, r = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode)) {
		*bytes += (uint64_t)st.st_size;
		return unlinkat(dfd, name, 0) == -1 && errno != ENOENT ? -1 :
		    0;
	}
	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((dir = spool_opendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    remove_tree(fd, de->d_name, bytes) == -1)
			r = -1;
	closedir(dir);
	close(fd);
	if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) == -1 &&
	    errno != ENOENT)
		r = -1;
	return r;
}

struct purge {
	time_t		 cutoff;
	bool		 dry_run;
	uint64_t	 bytes;
	long		 count;
	int		 errors;
};

static void
purge_one(struct purge *p, struct spool *sp, enum spool_dir d,
    const char *name, time_t mtime)
{
	char age[16];
	uint64_t bytes = 0;

	ops_fmt_age(difftime(time(NULL), mtime), age, sizeof(age));
	if (p->dry_run) {
		printf("would purge %s/%s (%s old)\n", spool_dir_name(d), name,
		    age);
		p->count++;
		return;
	}
	if (remove_tree(spool_dirfd(sp, d), name, &bytes) == -1) {
		fprintf(stderr, "spoolctl: purge %s/%s: %s\n",
		    spool_dir_name(d), name, strerror(errno));
		p->errors++;
		return;
	}
	printf("purged %s/%s (%s old)\n", spool_dir_name(d), name, age);
	p->bytes += bytes;
	p->count++;
}

/* done/ and archive/: whatever is older than the cutoff. */
static void
purge_dir(struct purge *p, struct spool *sp, enum spool_dir d)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;

	if ((dir = spool_opendir(spool_dirfd(sp, d))) == NULL) {
		p->errors++;
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    fstatat(spool_dirfd(sp, d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || st.st_mtime >= p->cutoff)
			continue;
		purge_one(p, sp, d, de->d_name, st.st_mtime);
	}
	closedir(dir);
}

/* results/: finished batches only, aged by their manifest. */
static void
purge_results(struct purge *p, struct spool *sp)
{
	int rfd = spool_dirfd(sp, SPOOL_RESULTS), bfd;
	struct dirent *de;
	struct stat st;
	DIR *dir;

	if ((dir = spool_opendir(rfd)) == NULL) {
		p->errors++;
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' ||
		    (bfd = ops_results_dir(sp, de->d_name)) == -1)
			continue;
		if (fstatat(bfd, "manifest.json", &st, AT_SYMLINK_NOFOLLOW) ==
		    0 && st.st_mtime < p->cutoff)
			purge_one(p, sp, SPOOL_RESULTS, de->d_name,
			    st.st_mtime);
		close(bfd);
	}
	closedir(dir);
}

/*
 * results/.sha256/SHA names the batch that ran a content.  Once that
 * batch's results are purged the entry goes too: the same content
 * dropped again then runs again (it would otherwise be refused as a
 * duplicate of results nobody has any more).
 */
static void
purge_index(struct purge *p, struct spool *sp)
{
	char id[SPOOL_NAME_MAX + 1];
	struct dirent *de;
	struct stat st;
	ssize_t n;
	int ifd, fd, bfd;
	DIR *dir;

	if ((ifd = openat(spool_dirfd(sp, SPOOL_RESULTS), ".sha256",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	if ((dir = spool_opendir(ifd)) == NULL) {
		close(ifd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || fstatat(ifd, de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || st.st_mtime >= p->cutoff ||
		    (fd = openat(ifd, de->d_name, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1)
			continue;
		n = read_full(fd, id, sizeof(id) - 1);
		close(fd);
		if (n <= 0)
			continue;
		id[n] = '\0';
		if (spool_batch_id_ok(id) &&
		    (bfd = ops_results_dir(sp, id)) != -1) {
			close(bfd);
			continue;	/* its results are still there */
		}
		if (!p->dry_run)
			unlinkat(ifd, de->d_name, 0);
	}
	closedir(dir);
	close(ifd);
}

int
ops_purge(struct spool *sp, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct purge p;
	uint64_t age_ms = 0;
	bool have_age = false;
	int ch;

	memset(&p, 0, sizeof(p));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:n", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			if (parse_duration_ms(optarg, &age_ms) == -1) {
				fprintf(stderr, "spoolctl: purge: bad age %s "
				    "(e.g. 30d, 12h)\n", optarg);
				return EX_USAGE;
			}
			have_age = true;
			break;
		case 'n':
			p.dry_run = true;
			break;
		default:
			have_age = false;
			optind = argc + 1;
			break;
		}
	}
	if (!have_age || optind != argc) {
		fprintf(stderr, "usage: spoolctl purge --older-than AGE "
		    "[--dry-run]\n");
		return EX_USAGE;
	}
	p.cutoff = time(NULL) - (time_t)(age_ms / 1000);
	purge_dir(&p, sp, SPOOL_DONE);
	purge_results(&p, sp);
	purge_dir(&p, sp, SPOOL_ARCHIVE);
	purge_index(&p, sp);
	if (p.dry_run)
		printf("%ld entries would be purged\n", p.count);
	else
		printf("%ld entries purged, %.1f MB freed\n", p.count,
		    (double)p.bytes / 1e6);
	return p.errors > 0 ? EX_IOERR : EX_OK;
}
