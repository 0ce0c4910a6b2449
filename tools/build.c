/*
 * build - `spoolctl build` (see build.h and spoolctl(1)): its options,
 * the template, and the delivery of the finished batch to a file, to
 * standard output or into the spool.  build_input.c reads the
 * documents into requests.
 *
 * The batch goes to an unlinked temporary file first: nothing is
 * written, delivered or printed unless every document made valid
 * requests, so a bad row never leaves half a batch behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "build.h"
#include "build_internal.h"
#include "docid.h"
#include "input.h"
#include "spool.h"
#include "spool_limits.h"
#include "submit.h"
#include "task.h"
#include "template.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: spoolctl build --template FILE [--chunk SIZE] "
	    "[--key FIELD]\n"
	    "           [-o FILE] [--submit [--batch NAME] [--force]] "
	    "DOC...\n");
}

/* Copies the finished batch from in to fd. */
static int
copy_out(FILE *in, int fd)
{
	char chunk[65536];
	size_t n;

	rewind(in);
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		if (write_full(fd, chunk, n) == -1)
			return -1;
	return ferror(in) ? -1 : 0;
}

/* The batch into path, through a hidden temporary file and a rename. */
static int
write_file(FILE *in, const char *path)
{
	struct spool_tmp *t;
	const char *slash = strrchr(path, '/');
	char *dir;
	int dfd;

	dir = slash == NULL ? xstrdup(".") : slash == path ? xstrdup("/") :
	    xstrndup(path, (size_t)(slash - path));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (dfd == -1 || (t = spool_tmp_open(dfd)) == NULL) {
		fprintf(stderr, "spoolctl: %s: %s\n", path, strerror(errno));
		if (dfd != -1)
			close(dfd);
		return EX_CANTCREAT;
	}
	if (copy_out(in, spool_tmp_fd(t)) == -1 ||
	    spool_tmp_commit(&t, slash != NULL ? slash + 1 : path) == -1) {
		fprintf(stderr, "spoolctl: %s: %s\n", path, strerror(errno));
		spool_tmp_abort(&t);
		close(dfd);
		return EX_IOERR;
	}
	close(dfd);
	return EX_OK;
}


static int
deliver(struct build *b, const char *spool_dir, const char *output,
    bool submit, const char *batch, bool force, const char *first)
{
	struct spool *sp;
	char stem[SPOOL_NAME_MAX + 1], name[SPOOL_NAME_MAX + 1], *label;
	const char *base;
	int r;

	if (fflush(b->out) == EOF || ferror(b->out)) {
		fprintf(stderr, "spoolctl: writing the batch: %s\n",
		    strerror(errno));
		return EX_IOERR;
	}
	if (output != NULL && strcmp(output, "-") != 0) {
		if ((r = write_file(b->out, output)) != EX_OK)
			return r;
	} else if (!submit) {
		if (copy_out(b->out, STDOUT_FILENO) == -1) {
			fprintf(stderr, "spoolctl: standard output: %s\n",
			    strerror(errno));
			return EX_IOERR;
		}
	}
	if (!submit)
		return EX_OK;
	/* The batch id: --batch, else the output file's, else the first
	 * document's. */
	if (batch == NULL && output != NULL && strcmp(output, "-") != 0) {
		base = strrchr(output, '/');
		base = base != NULL ? base + 1 : output;
		if (spool_name_stem(base, stem, sizeof(stem)) == -1)
			snprintf(stem, sizeof(stem), "%s", base);
		batch = stem;
	}
	if (batch == NULL)
		batch = first;
	if (!spool_batch_id_ok(batch)) {
		fprintf(stderr, "spoolctl: %s: not a batch id; name one with "
		    "--batch\n", batch);
		return EX_USAGE;
	}
	snprintf(name, sizeof(name), "%.200s.jsonl", batch);
	if ((sp = spool_open(spool_dir, true, 0770)) == NULL) {
		fprintf(stderr, "spoolctl: spool %s: %s\n", spool_dir,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	label = xasprintf("%zu request%s", b->nreq, b->nreq == 1 ? "" : "s");
	r = submit_fd(sp, fileno(b->out), label, name, force);
	free(label);
	spool_free(sp);
	return r;
}

int
build_main(int argc, char **argv, const char *spool_dir)
{
	static const struct option opts[] = {
		{ "template", required_argument, NULL, 't' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "submit", no_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct build b;
	struct buf text = BUF_INIT;
	struct err err;
	const char *tmpl = NULL, *output = NULL, *batch = NULL, *base;
	char first[DOCID_NAME_MAX + 1], *stem;
	bool submit = false, force = false;
	uint64_t size;
	size_t i;
	int ch, fd, r = EX_OK;

	memset(&b, 0, sizeof(b));
	task_limits_default(&b.lim);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "t:c:k:o:sb:fh", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 't':
			tmpl = optarg;
			break;
		case 'c':
			if (parse_size(optarg, &size) == -1 || size == 0 ||
			    size > b.lim.max_line) {
				fprintf(stderr, "spoolctl: --chunk %s: a size "
				    "in bytes (k, M suffixes) from 1 to 8M\n",
				    optarg);
				return EX_USAGE;
			}
			b.chunk = (size_t)size;
			break;
		case 'k':
			b.key = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 's':
			submit = true;
			break;
		case 'b':
			batch = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage();
			return EX_OK;
		default:
			usage();
			return EX_USAGE;
		}
	}
	if (tmpl == NULL || optind == argc || ((batch != NULL || force) &&
	    !submit) || (batch != NULL && !spool_batch_id_ok(batch))) {
		usage();
		return EX_USAGE;
	}
	if ((fd = open(tmpl, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "spoolctl: %s: %s\n", tmpl, strerror(errno));
		return EX_NOINPUT;
	}
	if (input_read_file(fd, b.lim.max_line, &text) == -1) {
		fprintf(stderr, "spoolctl: %s: %s\n", tmpl, strerror(errno));
		close(fd);
		buf_release(&text);
		return EX_NOINPUT;
	}
	close(fd);
	b.tmpl = template_parse(text.data ? text.data : "", text.len, &err);
	buf_release(&text);
	if (b.tmpl == NULL)
		return build_data_error(tmpl, 0, err.msg);
	if ((b.out = tmpfile()) == NULL) {
		fprintf(stderr, "spoolctl: temporary file: %s\n",
		    strerror(errno));
		cJSON_Delete(b.tmpl);
		return EX_CANTCREAT;
	}
	for (i = (size_t)optind; i < (size_t)argc && r == EX_OK; i++)
		r = build_one(&b, argv[i]);
	if (r == EX_OK) {
		base = strrchr(argv[optind], '/');
		stem = build_stem_of(base != NULL && base[1] != '\0' ?
		    base + 1 : argv[optind]);
		docid_name(stem, first);
		free(stem);
		r = deliver(&b, spool_dir, output, submit, batch, force,
		    first);
	}
	if (r == EX_OK)
		fprintf(stderr, "spoolctl: built %zu request%s from %zu "
		    "document%s\n", b.nreq, b.nreq == 1 ? "" : "s", b.nseen,
		    b.nseen == 1 ? "" : "s");
	fclose(b.out);
	for (i = 0; i < b.nseen; i++) {
		free(b.seen[i].name);
		free(b.seen[i].where);
	}
	free(b.seen);
	buf_release(&b.line);
	cJSON_Delete(b.tmpl);
	return r;
}
