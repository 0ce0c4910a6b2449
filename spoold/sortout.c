/*
 * sortout - result files rewritten in input order (see sortout.h).
 *
 * XXX: custom_ids are matched by a 64-bit hash, as batch_journal.c's replay
 * does; two ids of one batch with the same hash would sort together.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idset.h"
#include "input.h"
#include "record.h"
#include "sortout.h"
#include "util.h"

#define NOT_IN_INPUT	UINT64_MAX

/* custom_id hash -> first ordinal, open addressing (hash 0 = empty). */
struct ordmap {
	uint64_t	*key;
	uint64_t	*ord;
	size_t		 cap;
};

struct entry {
	uint64_t	 ord;
	uint64_t	 off;
	uint32_t	 len;
};

struct scan {
	struct ordmap	*map;
	struct entry	*e;
	size_t		 n;
	size_t		 cap;
	uint64_t	 ord;		/* input scan: next ordinal */
};


static void
map_put(struct ordmap *m, const char *id, uint64_t ord)
{
	uint64_t h = idset_hash(id);
	size_t i;

	for (i = h & (m->cap - 1); m->key[i] != 0; i = (i + 1) &
	    (m->cap - 1))
		if (m->key[i] == h)
			return;		/* a duplicate: the first one counts */
	m->key[i] = h;
	m->ord[i] = ord;
}

static uint64_t
map_get(const struct ordmap *m, const char *id)
{
	uint64_t h = idset_hash(id);
	size_t i;

	for (i = h & (m->cap - 1); m->key[i] != 0; i = (i + 1) &
	    (m->cap - 1))
		if (m->key[i] == h)
			return m->ord[i];
	return NOT_IN_INPUT;
}

/*
 * An input line's custom_id as its result line carries it: the parsed
 * one, the one guessed from a broken line, else "line-N" (batch.c
 * record_invalid).
 */
static int
input_line(const struct input_line *l, void *arg)
{
	struct scan *sc = arg;
	char *id = NULL;

	if (!l->too_long && (id = record_custom_id(l->data, l->len)) == NULL)
		id = task_guess_custom_id(l->data, l->len);
	if (id == NULL)
		id = xasprintf("line-%llu", (unsigned long long)l->lineno);
	map_put(sc->map, id, sc->ord++);
	free(id);
	return 0;
}

static int
result_line(const struct input_line *l, void *arg)
{
	struct scan *sc = arg;
	char *id;

	if (sc->n == sc->cap) {
		sc->cap = sc->cap ? sc->cap * 2 : 4096;
		sc->e = xreallocarray(sc->e, sc->cap, sizeof(*sc->e));
	}
	id = l->too_long ? NULL : record_custom_id(l->data, l->len);
	sc->e[sc->n].ord = id != NULL ? map_get(sc->map, id) : NOT_IN_INPUT;
	sc->e[sc->n].off = l->offset;
	sc->e[sc->n].len = (uint32_t)l->len;
	sc->n++;
	free(id);
	return 0;
}

static int
cmp_entry(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;

	if (a->ord != b->ord)
		return a->ord < b->ord ? -1 : 1;
	/* Offsets are unique: the sort is stable. */
	return a->off < b->off ? -1 : a->off > b->off;
}

static void
map_fill(struct batch *b, const struct task_limits *lim, struct scan *sc,
    int *io_error)
{
	struct req_ref ref;
	struct task t;
	struct err err;
	char stem[SPOOL_NAME_MAX + 1];
	uint64_t i;

	if (b->kind == BATCH_FILE) {
		/* A line too long to hold still counts as one. */
		if (input_scan_lines(b->input_fd, lim->max_line, input_line,
		    sc) == -1)
			*io_error = 1;
		return;
	}
	for (i = 0; i < b->nmembers; i++) {
		ref.ordinal = i;
		if (batch_read_task(b, &ref, lim, &t, &err) == 0) {
			map_put(sc->map, t.custom_id, i);
			task_release(&t);
		} else if (spool_name_strip(b->members[i], stem,
		    sizeof(stem)) == 0) {
			map_put(sc->map, stem, i);
		}
	}
}

/* Writes the lines of fd in the order of sc->e into a new name. */
static int
rewrite(struct batch *b, int fd, const struct scan *sc, const char *name)
{
	struct spool_tmp *t;
	struct buf out = BUF_INIT, line = BUF_INIT;
	size_t i;

	if ((t = spool_tmp_open(b->results_fd)) == NULL)
		return -1;
	for (i = 0; i < sc->n; i++) {
		if (input_read_at(fd, sc->e[i].off, sc->e[i].len, &line) == -1)
			goto fail;
		buf_add(&out, line.data, line.len);
		buf_add(&out, "\n", 1);
		if (out.len >= 65536 || i + 1 == sc->n) {
			if (spool_tmp_write(t, out.data, out.len) == -1)
				goto fail;
			buf_reset(&out);
		}
	}
	buf_release(&out);
	buf_release(&line);
	return spool_tmp_commit(&t, name);
fail:
	buf_release(&out);
	buf_release(&line);
	spool_tmp_abort(&t);
	return -1;
}

int
sortout_run(struct batch *b, const struct task_limits *lim,
    const char *name)
{
	struct ordmap map;
	struct scan sc;
	uint64_t want;
	size_t i;
	int fd, io_error = 0, r = -1, saved;

	if ((fd = openat(b->results_fd, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	/* A sort that a crash cut short left its temp file here. */
	spool_sweep_tmp(b->results_fd, 600);
	want = (b->kind == BATCH_FILE ? b->total : b->nmembers) * 2 + 2;
	for (map.cap = 1024; map.cap < want; map.cap *= 2)
		;
	map.key = xcalloc(map.cap, sizeof(uint64_t));
	map.ord = xcalloc(map.cap, sizeof(uint64_t));
	memset(&sc, 0, sizeof(sc));
	sc.map = &map;
	map_fill(b, lim, &sc, &io_error);
	if (io_error ||
	    input_scan_lines(fd, SIZE_MAX / 2, result_line, &sc) == -1)
		goto out;
	for (i = 1; i < sc.n && cmp_entry(&sc.e[i - 1], &sc.e[i]) < 0; i++)
		;
	if (i >= sc.n) {
		r = 0;		/* in order already (or a re-run) */
		goto out;
	}
	qsort(sc.e, sc.n, sizeof(*sc.e), cmp_entry);
	r = rewrite(b, fd, &sc, name);
out:
	saved = errno;
	close(fd);
	free(map.key);
	free(map.ord);
	free(sc.e);
	errno = saved;
	return r;
}
