/*
 * spoolctl - the operator's and submitter's tool.  It works on the spool
 * directly (no daemon needed) through the same spool core as spoold.
 *
 *   spoolctl [-d SPOOL] init
 *   spoolctl [-d SPOOL] submit [--batch NAME] [--force] FILE...
 *   spoolctl [-d SPOOL] status [--json]
 *   spoolctl [-d SPOOL] ls [--json] [STATE]
 *   spoolctl [-d SPOOL] show [--json] BATCH
 *   spoolctl [-d SPOOL] watch [-i INTERVAL] BATCH
 *   spoolctl [-d SPOOL] hold BATCH | release BATCH
 *   spoolctl [-d SPOOL] purge --older-than AGE [--dry-run]
 *   spoolctl [-d SPOOL] cancel BATCH
 *   spoolctl [-d SPOOL] retry BATCH
 *   spoolctl [-d SPOOL] build --template FILE [--chunk SIZE] DOC...
 *   spoolctl [-d SPOOL] collect [-o DIR] BATCH...
 *
 * build and collect live in build.c and collect.c, the operator's
 * views (status, ls, show, watch) in ops.c, its actions (hold, release,
 * purge) in ops_change.c.
 */
#include <sys/stat.h>

#include <dirent.h>
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
#include "collect.h"
#include "config.h"
#include "estimate.h"
#include "input.h"
#include "ops.h"
#include "prices.h"
#include "spool.h"
#include "submit.h"
#include "util.h"

static const char *spool_dir;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: spoolctl [-d SPOOL] COMMAND [ARGS]\n"
	    "  init                          create the spool directories\n"
	    "  submit [--batch NAME] [--force] FILE...\n"
	    "                                deliver files into new/ "
	    "atomically\n"
	    "  submit --estimate [--prices FILE] [--json] FILE...\n"
	    "                                tokens and cost, without "
	    "submitting\n"
	    "  status [--json]               queue depth and batches in "
	    "progress\n"
	    "  ls [--json] [STATE]           the entries of new/, "
	    "processing/, done/,\n"
	    "                                failed/ or archive/\n"
	    "  show [--json] BATCH           one batch: status, counts, "
	    "tokens, files\n"
	    "  watch [-i INTERVAL] BATCH     progress until BATCH finishes\n"
	    "  hold BATCH | release BATCH    pause or resume BATCH's "
	    "dispatch\n"
	    "  purge --older-than AGE [--dry-run]\n"
	    "                                remove finished batches' "
	    "done/, results/\n"
	    "                                and archive/ entries\n"
	    "  cancel BATCH                  stop dispatching BATCH\n"
	    "  retry BATCH                   re-run the failed requests of "
	    "BATCH\n"
	    "  build --template FILE [--chunk SIZE] [--key FIELD] "
	    "[-o FILE]\n"
	    "        [--submit [--batch NAME] [--force]] DOC...\n"
	    "                                a batch from documents (.txt, "
	    ".md, ...),\n"
	    "                                CSV rows or JSONL records\n"
	    "  collect [-o DIR] [--suffix SUFFIX] BATCH...\n"
	    "                                one file per document from "
	    "the results\n");
}

static struct spool *
open_spool(bool create)
{
	struct spool *sp;

	if ((sp = spool_open(spool_dir, create, 0770)) == NULL)
		fprintf(stderr, "spoolctl: spool %s: %s\n", spool_dir,
		    strerror(errno));
	return sp;
}

static int
cmd_init(int argc, char **argv)
{
	struct spool *sp;

	(void)argv;
	if (argc != 1) {
		usage();
		return EX_USAGE;
	}
	if ((sp = open_spool(true)) == NULL)
		return EX_CANTCREAT;
	printf("spool ready at %s\n", spool_dir);
	spool_free(sp);
	return EX_OK;
}

/* Nothing is submitted: what the files would cost. */
static int
submit_estimate(char **files, int n, const char *prices_path, bool json)
{
	struct prices *prices = NULL;
	struct err err;
	int r;

	if (prices_path != NULL &&
	    (prices = prices_load(prices_path, &err)) == NULL) {
		fprintf(stderr, "spoolctl: %s\n", err.msg);
		return EX_CONFIG;
	}
	r = estimate_files(files, n, prices, json);
	prices_free(prices);
	return r;
}

static int
cmd_submit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "force", no_argument, NULL, 'f' },
		{ "estimate", no_argument, NULL, 'e' },
		{ "prices", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct spool *sp;
	const char *batch = NULL, *prices_path = NULL;
	bool force = false, estimate = false, json = false;
	int ch, i, r = EX_OK, r1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "b:f", opts, NULL)) != -1) {
		if (ch == 'b') {
			batch = optarg;
		} else if (ch == 'f') {
			force = true;
		} else if (ch == 'e') {
			estimate = true;
		} else if (ch == 'p') {
			prices_path = optarg;
		} else if (ch == 'j') {
			json = true;
		} else {
			usage();
			return EX_USAGE;
		}
	}
	if (optind == argc || (batch != NULL && argc - optind > 1) ||
	    (!estimate && (prices_path != NULL || json))) {
		usage();
		return EX_USAGE;
	}
	if (estimate)
		return submit_estimate(argv + optind, argc - optind,
		    prices_path, json);
	if ((sp = open_spool(true)) == NULL)
		return EX_CANTCREAT;
	for (i = optind; i < argc; i++)
		if ((r1 = submit_path(sp, argv[i], batch, force)) != EX_OK)
			r = r1;
	spool_free(sp);
	return r;
}

static int
cmd_build(int argc, char **argv)
{
	return build_main(argc, argv, spool_dir);
}

static int
cmd_collect(int argc, char **argv)
{
	return collect_main(argc, argv, spool_dir);
}

/* Runs one of ops.c's commands on the spool. */
static int
run_op(int (*fn)(struct spool *, int, char **), int argc, char **argv)
{
	struct spool *sp;
	int r;

	if ((sp = open_spool(false)) == NULL)
		return EX_NOINPUT;
	r = fn(sp, argc, argv);
	spool_free(sp);
	return r;
}

static int
cmd_status(int argc, char **argv)
{
	return run_op(ops_status, argc, argv);
}

static int
cmd_ls(int argc, char **argv)
{
	return run_op(ops_ls, argc, argv);
}

static int
cmd_show(int argc, char **argv)
{
	return run_op(ops_show, argc, argv);
}

static int
cmd_watch(int argc, char **argv)
{
	return run_op(ops_watch, argc, argv);
}

static int
cmd_hold(int argc, char **argv)
{
	return run_op(ops_hold, argc, argv);
}

static int
cmd_release(int argc, char **argv)
{
	return run_op(ops_release, argc, argv);
}

static int
cmd_purge(int argc, char **argv)
{
	return run_op(ops_purge, argc, argv);
}


/* BATCH.cancel into new/: the daemon that owns BATCH stops it. */
static int
cmd_cancel(int argc, char **argv)
{
	struct spool *sp;
	char name[SPOOL_NAME_MAX + 8];

	if (argc != 2 || !spool_batch_id_ok(argv[1])) {
		usage();
		return EX_USAGE;
	}
	if ((sp = open_spool(false)) == NULL)
		return EX_NOINPUT;
	snprintf(name, sizeof(name), "%s.cancel", argv[1]);
	if (spool_write_atomic(sp, SPOOL_TMP, name, "", 0) == -1 ||
	    spool_move(sp, SPOOL_TMP, name, SPOOL_NEW, name) == -1) {
		fprintf(stderr, "spoolctl: new/%s: %s\n", name,
		    strerror(errno));
		spool_free(sp);
		return EX_IOERR;
	}
	printf("cancel requested for %s\n", argv[1]);
	spool_free(sp);
	return EX_OK;
}

/* failed/BATCH.failed.jsonl back into new/: exactly those again. */
static int
cmd_retry(int argc, char **argv)
{
	struct spool *sp;
	char name[SPOOL_NAME_MAX + 1], sidecar[SPOOL_NAME_MAX + 16];
	int r = EX_OK;

	if (argc != 2 || !spool_batch_id_ok(argv[1])) {
		usage();
		return EX_USAGE;
	}
	if ((sp = open_spool(false)) == NULL)
		return EX_NOINPUT;
	snprintf(name, sizeof(name), "%.200s.failed.jsonl", argv[1]);
	snprintf(sidecar, sizeof(sidecar), "%s.error.json", name);
	if (spool_move(sp, SPOOL_FAILED, name, SPOOL_NEW, name) == -1) {
		fprintf(stderr, "spoolctl: failed/%s: %s\n", name,
		    errno == ENOENT ? "no failed requests to retry" :
		    strerror(errno));
		r = errno == ENOENT ? EX_NOINPUT : EX_IOERR;
	} else {
		unlinkat(spool_dirfd(sp, SPOOL_FAILED), sidecar, 0);
		printf("re-submitted the failed requests of %s as new/%s\n",
		    argv[1], name);
	}
	spool_free(sp);
	return r;
}

int
main(int argc, char *argv[])
{
	static const struct {
		const char	*name;
		int		(*fn)(int, char **);
	} cmds[] = {
		{ "init", cmd_init },
		{ "submit", cmd_submit },
		{ "status", cmd_status },
		{ "cancel", cmd_cancel },
		{ "retry", cmd_retry },
		{ "build", cmd_build },
		{ "collect", cmd_collect },
		{ "ls", cmd_ls },
		{ "show", cmd_show },
		{ "watch", cmd_watch },
		{ "hold", cmd_hold },
		{ "release", cmd_release },
		{ "purge", cmd_purge },
	};
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct config cfg;
	size_t i;
	int ch, r;

	config_init(&cfg);
	spool_dir = getenv("SPOOLD_SPOOL") != NULL ? getenv("SPOOLD_SPOOL") :
	    cfg.spool_dir;
	while ((ch = getopt_long(argc, argv, "+d:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			spool_dir = optarg;
			break;
		default:
			usage();
			config_release(&cfg);
			return ch == 'h' ? EX_OK : EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage();
		config_release(&cfg);
		return EX_USAGE;
	}
	r = EX_USAGE;
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(argv[0], cmds[i].name) == 0) {
			r = cmds[i].fn(argc, argv);
			break;
		}
	}
	if (i == ARRAY_SIZE(cmds)) {
		fprintf(stderr, "spoolctl: unknown command %s\n", argv[0]);
		usage();
	}
	config_release(&cfg);
	return r;
}
