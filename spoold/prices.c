/*
 * prices - loading and looking up the price table.
 *
 * The table is small (tens of models), so a lookup is a linear scan:
 * simpler than a trie, and cheap next to the HTTP request it prices.
 * The format is line-based rather than INI because model names may
 * hold ':' (fine-tuned OpenAI models), which inih takes for a separator.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "prices.h"
#include "spool_limits.h"

#define PRICES_MAX_BYTES	(1024 * 1024)
#define PRICES_MAX_MODELS	4096
#define PRICES_CURRENCY_MAX	15

struct entry {
	char		*name;		/* without the '*' */
	size_t		 len;
	int		 prefix;	/* it ended in '*' */
	struct price	 pr;
};

struct prices {
	char		 currency[PRICES_CURRENCY_MAX + 1];
	struct entry	*e;
	size_t		 n;
};

void
prices_free(struct prices *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->e[i].name);
	free(p->e);
	free(p);
}

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* A non-negative finite number that is the whole word. */
static int
parse_amount(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (end == s || errno != 0 || !isfinite(*out) || *out < 0)
		return -1;
	return (int)(end - s);
}

static int
name_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > SPOOL_MODEL_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c >= 0x7f || c == '=' ||
		    (c == '*' && i != len - 1))
			return 0;
	}
	return 1;
}

/* One "NAME = INPUT OUTPUT" line; -1 with why set. */
static int
add_line(struct prices *p, char *name, char *value, char *why, size_t wlen)
{
	struct entry *e;
	struct price pr;
	size_t len = strlen(name), i;
	int prefix, n;

	if (strcmp(name, "currency") == 0) {
		len = strlen(value);
		for (i = 0; i < len; i++)
			if (value[i] <= ' ' || value[i] >= 0x7f)
				break;
		if (len == 0 || len > PRICES_CURRENCY_MAX || i < len) {
			snprintf(why, wlen, "invalid currency");
			return -1;
		}
		memcpy(p->currency, value, len + 1);
		return 0;
	}
	if (!name_ok(name, len)) {
		snprintf(why, wlen, "invalid model name");
		return -1;
	}
	/* Two amounts separated by blanks, and nothing after them. */
	if ((n = parse_amount(value, &pr.input)) == -1 ||
	    (value[n] != ' ' && value[n] != '\t')) {
		snprintf(why, wlen, "want INPUT OUTPUT, prices per million "
		    "tokens");
		return -1;
	}
	value = trim(value + n);
	if ((n = parse_amount(value, &pr.output)) == -1 ||
	    *trim(value + n) != '\0') {
		snprintf(why, wlen, "want INPUT OUTPUT, prices per million "
		    "tokens");
		return -1;
	}
	prefix = name[len - 1] == '*';
	if (prefix)
		name[--len] = '\0';
	for (i = 0; i < p->n; i++) {
		if (p->e[i].prefix == prefix && strcmp(p->e[i].name,
		    name) == 0) {
			snprintf(why, wlen, "model listed twice");
			return -1;
		}
	}
	if (p->n == PRICES_MAX_MODELS) {
		snprintf(why, wlen, "more than %d models", PRICES_MAX_MODELS);
		return -1;
	}
	p->e = xreallocarray(p->e, p->n + 1, sizeof(*p->e));
	e = &p->e[p->n++];
	e->name = xstrdup(name);
	e->len = len;
	e->prefix = prefix;
	e->pr = pr;
	return 0;
}

struct prices *
prices_parse(const char *text, size_t len, const char *name,
    struct err *err)
{
	struct prices *p;
	char *copy, *line, *next, *eq, why[128];
	unsigned long lineno = 0;

	p = xcalloc(1, sizeof(*p));
	snprintf(p->currency, sizeof(p->currency), "USD");
	copy = xstrndup(text, len);
	if (strlen(copy) != len) {
		err_set(err, "config", "%s: holds a NUL byte", name);
		goto fail;
	}
	for (line = copy; line != NULL; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line = trim(line);
		if (*line == '\0' || *line == '#')
			continue;
		if ((eq = strchr(line, '=')) == NULL) {
			err_set(err, "config", "%s:%lu: want MODEL = INPUT "
			    "OUTPUT", name, lineno);
			goto fail;
		}
		*eq = '\0';
		if (add_line(p, trim(line), trim(eq + 1), why,
		    sizeof(why)) == -1) {
			err_set(err, "config", "%s:%lu: %s", name, lineno,
			    why);
			goto fail;
		}
	}
	free(copy);
	return p;
fail:
	free(copy);
	prices_free(p);
	return NULL;
}

struct prices *
prices_load(const char *path, struct err *err)
{
	struct prices *p = NULL;
	struct buf b = BUF_INIT;
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		err_set(err, "config", "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > PRICES_MAX_BYTES) {
		err_set(err, "config", "%s: not a regular file of at most "
		    "%d bytes", path, PRICES_MAX_BYTES);
		goto out;
	}
	buf_grow(&b, (size_t)st.st_size + 1);
	if ((n = read_full(fd, b.data, (size_t)st.st_size)) == -1) {
		err_set(err, "config", "%s: %s", path, strerror(errno));
		goto out;
	}
	p = prices_parse(b.data, (size_t)n, path, err);
out:
	if (fd != -1)
		close(fd);
	buf_release(&b);
	return p;
}

const char *
prices_currency(const struct prices *p)
{
	return p->currency;
}

const struct price *
prices_find(const struct prices *p, const char *model)
{
	const struct entry *best = NULL, *e;
	size_t i;

	if (p == NULL || model == NULL)
		return NULL;
	for (i = 0; i < p->n; i++) {
		e = &p->e[i];
		if (!e->prefix) {
			if (strcmp(e->name, model) == 0)
				return &e->pr;
			continue;
		}
		if (strncmp(e->name, model, e->len) == 0 &&
		    (best == NULL || e->len > best->len))
			best = e;
	}
	return best != NULL ? &best->pr : NULL;
}

double
price_cost(const struct price *pr, uint64_t in, uint64_t out)
{
	return ((double)in * pr->input + (double)out * pr->output) / 1e6;
}
