/*
 * collect - `spoolctl collect` (see collect.h and spoolctl(1)).
 *
 * Results are read in two passes so that memory holds only an index, not
 * the replies: the first pass notes, for every result line, its document,
 * chunk, outcome and place in its file; after sorting, the second reads
 * the replies of one document at a time and writes its file.
 *
 * Several batches may be given (a batch and its retry, BATCH.failed): a
 * success beats a failure, and between equals the later batch wins.
 * Files are replaced by rename, never shown half written, and synced
 * once at the end.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "collect.h"
#include "docid.h"
#include "input.h"
#include "spool.h"
#include "spool_limits.h"

/* A result line: the response body and the envelope around it. */
#define COLLECT_MAX_LINE	(SPOOL_DEF_MAX_RESPONSE + (1U << 20))
#define COLLECT_MAX_FILES	64	/* two per batch */
#define COLLECT_SUFFIX_MAX	32

/* One result line, as the first pass leaves it. */
struct piece {
	char		*doc;		/* owned; a safe file name stem */
	size_t		 n, m;		/* chunk n of m */
	size_t		 seq;		/* reading order */
	bool		 ok;
	int		 file;		/* index into collect.fds */
	uint64_t	 off;
	size_t		 len;
	char		*why;		/* owned; why it failed, or NULL */
};

struct collect {
	struct piece	*p;
	size_t		 n, cap;
	int		 fds[COLLECT_MAX_FILES];
	int		 nfds;
	int		 cur;		/* the file being read */
	size_t		 foreign;	/* custom_ids build did not make */
	size_t		 unreadable;	/* lines that are not JSON */
};

static void
add_part_texts(const cJSON *parts, const char *type, struct buf *out,
    bool *any)
{
	const cJSON *part, *t, *ty;

	cJSON_ArrayForEach(part, parts) {
		t = cJSON_GetObjectItemCaseSensitive(part, "text");
		ty = cJSON_GetObjectItemCaseSensitive(part, "type");
		if (!cJSON_IsString(t) || (type != NULL &&
		    cJSON_IsString(ty) && strcmp(ty->valuestring, type) != 0))
			continue;
		buf_adds(out, t->valuestring);
		*any = true;
	}
}

int
collect_text(const cJSON *body, struct buf *out, struct err *err)
{
	const cJSON *ch, *msg, *c, *o;
	bool any = false;

	ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(body,
	    "choices"), 0);
	if (ch != NULL) {
		msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
		if (msg == NULL) {
			/* /v1/completions */
			c = cJSON_GetObjectItemCaseSensitive(ch, "text");
			if (cJSON_IsString(c)) {
				buf_adds(out, c->valuestring);
				return 0;
			}
			err_set(err, "no_text", "no text in choices[0]");
			return -1;
		}
		c = cJSON_GetObjectItemCaseSensitive(msg, "refusal");
		if (cJSON_IsString(c) && c->valuestring[0] != '\0') {
			err_set(err, "refusal", "refused: %.160s",
			    c->valuestring);
			return -1;
		}
		c = cJSON_GetObjectItemCaseSensitive(msg, "content");
		if (cJSON_IsString(c)) {
			buf_adds(out, c->valuestring);
			return 0;
		}
		add_part_texts(c, NULL, out, &any);
		if (any)
			return 0;
		err_set(err, "no_text", "no text in choices[0].message");
		return -1;
	}
	/* Anthropic messages: text blocks among the content blocks. */
	c = cJSON_GetObjectItemCaseSensitive(body, "content");
	if (cJSON_IsArray(c)) {
		add_part_texts(c, "text", out, &any);
		if (any)
			return 0;
	}
	/* /v1/responses: output_text parts of the output messages. */
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(body, "output"))
		add_part_texts(cJSON_GetObjectItemCaseSensitive(o, "content"),
		    "output_text", out, &any);
	if (any)
		return 0;
	err_set(err, "no_text", "no text in the response body");
	return -1;
}

/* "CODE: MESSAGE" of a failed line, on one line. */
static char *
failure(const cJSON *line, int status)
{
	const cJSON *e, *code, *msg;
	char *s, *p;

	e = cJSON_GetObjectItemCaseSensitive(line, "error");
	if (!cJSON_IsObject(e))
		e = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(line, "response"),
		    "body"), "error");
	code = cJSON_GetObjectItemCaseSensitive(e, "code");
	msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	if (cJSON_IsString(code) && cJSON_IsString(msg))
		s = xasprintf("%.40s: %.200s", code->valuestring,
		    msg->valuestring);
	else if (cJSON_IsString(msg))
		s = xasprintf("HTTP %d: %.200s", status, msg->valuestring);
	else
		s = xasprintf("HTTP %d", status);
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	return s;
}

static int
status_of(const cJSON *line)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(line, "response"), "status_code");

	return cJSON_IsNumber(v) ? v->valueint : 0;
}

/* A line succeeded if it has a 2xx response, no error, and text. */
static bool
line_ok(const cJSON *line, struct buf *text, char **why)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(line, "error");
	struct err err;
	int status = status_of(line);

	*why = NULL;
	if ((e != NULL && !cJSON_IsNull(e)) || status < 200 || status > 299) {
		*why = failure(line, status);
		return false;
	}
	if (collect_text(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(line, "response"), "body"), text,
	    &err) == -1) {
		*why = xasprintf("%s", err.msg);
		return false;
	}
	return true;
}

static int
scan_line(const struct input_line *l, void *arg)
{
	struct collect *c = arg;
	struct piece *p;
	struct buf text = BUF_INIT;
	const cJSON *id;
	cJSON *line;
	char doc[DOCID_NAME_MAX + 1], safe[DOCID_NAME_MAX + 1];
	size_t n, m;

	if (l->too_long || (line = cJSON_ParseWithLength(l->data,
	    l->len)) == NULL) {
		c->unreadable++;
		return 0;
	}
	id = cJSON_GetObjectItemCaseSensitive(line, "custom_id");
	if (!cJSON_IsString(id) || docid_parse(id->valuestring,
	    doc, &n, &m) == -1) {
		c->foreign++;
		cJSON_Delete(line);
		return 0;
	}
	/* The id is untrusted: it becomes a file name only once safe. */
	docid_name(doc, safe);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->p = xreallocarray(c->p, c->cap, sizeof(*c->p));
	}
	p = &c->p[c->n];
	p->doc = xstrdup(safe);
	p->n = n;
	p->m = m;
	p->seq = c->n++;
	p->file = c->cur;
	p->off = l->offset;
	p->len = l->len;
	p->ok = line_ok(line, &text, &p->why);
	buf_release(&text);
	cJSON_Delete(line);
	return 0;
}

/* By document, then chunk, then best first: success, then latest. */
static int
piece_cmp(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	int r;

	if ((r = strcmp(x->doc, y->doc)) != 0)
		return r;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	if (x->ok != y->ok)
		return x->ok ? -1 : 1;
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

/* Reads the results of one batch; EX_NOINPUT if it has none. */
static int
scan_batch(struct collect *c, struct spool *sp, const char *batch,
    bool *finished)
{
	static const char *const names[] = { "output.jsonl", "errors.jsonl" };
	size_t i;
	int rfd, fd, found = 0;

	if ((rfd = spool_results_open(sp, batch, false)) == -1) {
		fprintf(stderr, "spoolctl: results/%s: %s\n", batch,
		    strerror(errno));
		return errno == ENOENT || errno == EINVAL ? EX_NOINPUT :
		    EX_IOERR;
	}
	*finished = faccessat(rfd, "manifest.json", F_OK, 0) == 0;
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		fd = openat(rfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1) {
			if (errno == ENOENT)
				continue;
			fprintf(stderr, "spoolctl: results/%s/%s: %s\n", batch,
			    names[i], strerror(errno));
			close(rfd);
			return EX_IOERR;
		}
		SPOOL_ASSERT(c->nfds < COLLECT_MAX_FILES);
		c->fds[c->nfds] = fd;
		c->cur = c->nfds++;
		found++;
		if (input_scan_lines(fd, COLLECT_MAX_LINE, scan_line,
		    c) == -1) {
			fprintf(stderr, "spoolctl: results/%s/%s: %s\n", batch,
			    names[i], strerror(errno));
			close(rfd);
			return EX_IOERR;
		}
	}
	close(rfd);
	if (found == 0) {
		fprintf(stderr, "spoolctl: results/%s: no output.jsonl or "
		    "errors.jsonl yet\n", batch);
		return EX_NOINPUT;
	}
	return EX_OK;
}

/* Appends the reply of p, read again from its file. */
static int
reply_text(struct collect *c, const struct piece *p, struct buf *out)
{
	struct buf raw = BUF_INIT;
	cJSON *line;
	char *why;
	int r = -1;

	if (input_read_at(c->fds[p->file], p->off, p->len, &raw) == 0 &&
	    (line = cJSON_ParseWithLength(raw.data, raw.len)) != NULL) {
		if (line_ok(line, out, &why))
			r = 0;
		free(why);
		cJSON_Delete(line);
	}
	buf_release(&raw);
	return r;
}

static void
trim_newlines(struct buf *b, size_t from)
{
	while (b->len > from && (b->data[b->len - 1] == '\n' ||
	    b->data[b->len - 1] == '\r'))
		b->len--;
	b->data[b->len] = '\0';
}

/*
 * Writes the document of the pieces [first, end) (sorted, one document)
 * to dfd.  Returns EX_OK, 1 when a chunk failed or is missing, or
 * EX_IOERR.
 */
static int
write_doc(struct collect *c, size_t first, size_t end, int dfd,
    const char *suffix)
{
	struct buf out = BUF_INIT;
	const struct piece *p;
	char name[SPOOL_NAME_MAX + 1], safe[SPOOL_NAME_MAX + 1];
	const char *doc = c->p[first].doc;
	size_t m = 0, n, i = first, at;
	int r = EX_OK;

	for (i = first; i < end; i++)
		if (c->p[i].m > m)
			m = c->p[i].m;
	i = first;
	for (n = 1; n <= m; n++) {
		if (n > 1)
			buf_addc(&out, '\n');
		/* The best line for chunk n sorts first; skip the rest. */
		while (i < end && c->p[i].n < n)
			i++;
		p = i < end && c->p[i].n == n ? &c->p[i] : NULL;
		at = out.len;
		if (p == NULL) {
			buf_addf(&out, "[chunk %zu/%zu missing: no result]\n",
			    n, m);
			fprintf(stderr, "spoolctl: %s: chunk %zu/%zu has no "
			    "result\n", doc, n, m);
			r = 1;
		} else if (!p->ok || reply_text(c, p, &out) == -1) {
			out.len = at;
			buf_addf(&out, "[chunk %zu/%zu failed: %s]\n", n, m,
			    p->why != NULL ? p->why : "unreadable result");
			fprintf(stderr, "spoolctl: %s: chunk %zu/%zu failed: "
			    "%s\n", doc, n, m, p->why != NULL ? p->why :
			    "unreadable result");
			r = 1;
		} else {
			trim_newlines(&out, at);
			buf_addc(&out, '\n');
		}
	}
	snprintf(name, sizeof(name), "%.200s%.32s", doc, suffix);
	spool_name_sanitize(name, safe, sizeof(safe));
	if (spool_write_fast(dfd, safe, out.data ? out.data : "",
	    out.len) == -1) {
		fprintf(stderr, "spoolctl: %s: %s\n", safe, strerror(errno));
		r = EX_IOERR;
	}
	buf_release(&out);
	return r;
}

static void
usage(void)
{
	fprintf(stderr, "usage: spoolctl collect [-o DIR] [--suffix SUFFIX] "
	    "BATCH...\n");
}


static int
open_dir(const char *dir)
{
	int dfd;

	if (mkdir(dir, 0777) == -1 && errno != EEXIST) {
		fprintf(stderr, "spoolctl: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fprintf(stderr, "spoolctl: %s: %s\n", dir, strerror(errno));
	return dfd;
}

int
collect_main(int argc, char **argv, const char *spool_dir)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "suffix", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct collect c;
	struct spool *sp = NULL;
	const char *suffix = ".txt";
	char *dir = NULL;
	bool finished, all_finished = true;
	size_t i, j, docs = 0, incomplete = 0;
	int ch, k, dfd = -1, r = EX_OK, r1;

	memset(&c, 0, sizeof(c));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:s:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			free(dir);
			dir = xstrdup(optarg);
			break;
		case 's':
			suffix = optarg;
			break;
		case 'h':
			usage();
			free(dir);
			return EX_OK;
		default:
			usage();
			free(dir);
			return EX_USAGE;
		}
	}
	if (optind == argc || argc - optind > COLLECT_MAX_FILES / 2 ||
	    strchr(suffix, '/') != NULL ||
	    strlen(suffix) > COLLECT_SUFFIX_MAX) {
		usage();
		free(dir);
		return EX_USAGE;
	}
	for (k = optind; k < argc; k++) {
		if (!spool_batch_id_ok(argv[k])) {
			usage();
			free(dir);
			return EX_USAGE;
		}
	}
	if ((sp = spool_open(spool_dir, false, 0)) == NULL) {
		fprintf(stderr, "spoolctl: spool %s: %s\n", spool_dir,
		    strerror(errno));
		free(dir);
		return EX_NOINPUT;
	}
	for (k = optind; k < argc && r == EX_OK; k++) {
		r = scan_batch(&c, sp, argv[k], &finished);
		if (r == EX_OK && !finished) {
			all_finished = false;
			fprintf(stderr, "spoolctl: %s has not finished: "
			    "collecting the results so far\n", argv[k]);
		}
	}
	if (r != EX_OK)
		goto out;
	if (c.foreign > 0)
		fprintf(stderr, "spoolctl: left out %zu result%s whose "
		    "custom_id is not DOCUMENT#N/M (not made by spoolctl "
		    "build)\n", c.foreign, c.foreign == 1 ? "" : "s");
	if (c.unreadable > 0)
		fprintf(stderr, "spoolctl: left out %zu unreadable result "
		    "line%s\n", c.unreadable, c.unreadable == 1 ? "" : "s");
	if (c.n == 0) {
		fprintf(stderr, "spoolctl: no results of spoolctl build in "
		    "%s\n", argv[optind]);
		r = EX_DATAERR;
		goto out;
	}
	if (dir == NULL)
		dir = xasprintf("%s.collected", argv[optind]);
	if ((dfd = open_dir(dir)) == -1) {
		r = EX_CANTCREAT;
		goto out;
	}
	qsort(c.p, c.n, sizeof(*c.p), piece_cmp);
	for (i = 0; i < c.n; i = j) {
		for (j = i + 1; j < c.n && strcmp(c.p[j].doc, c.p[i].doc) == 0;
		    j++)
			;
		docs++;
		if ((r1 = write_doc(&c, i, j, dfd, suffix)) == 1)
			incomplete++;
		else if (r1 != EX_OK)
			r = r1;
	}
	/* One sync for all the files: they are renamed in already. */
	if (r == EX_OK && syncfs(dfd) == -1) {
		fprintf(stderr, "spoolctl: %s: %s\n", dir, strerror(errno));
		r = EX_IOERR;
	}
	printf("collected %zu document%s into %s/: %zu complete, %zu "
	    "incomplete%s\n", docs, docs == 1 ? "" : "s", dir,
	    docs - incomplete, incomplete, all_finished ? "" :
	    " (batch not finished)");
	if (r == EX_OK && incomplete > 0)
		r = 1;
out:
	for (i = 0; i < c.n; i++) {
		free(c.p[i].doc);
		free(c.p[i].why);
	}
	free(c.p);
	for (k = 0; k < c.nfds; k++)
		close(c.fds[k]);
	if (dfd != -1)
		close(dfd);
	spool_free(sp);
	free(dir);
	return r;
}
