/*
 * schedule - active hours.  Times are minutes of the local day; the
 * next change is found by walking forward minute boundaries, at most a
 * day and a bit, which is simpler than reasoning about DST edges.
 */
#include <stdio.h>
#include <string.h>

#include "schedule.h"

/* "HH:MM" at *p (24:00 allowed as an end); advances *p. */
static int
parse_hhmm(const char **p, bool end, int *out)
{
	int h, m, n = 0;

	if (sscanf(*p, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5 || h < 0 ||
	    m < 0 || m > 59 || h > 24 || (h == 24 && (m != 0 || !end)))
		return -1;
	*out = h * 60 + m;
	*p += n;
	return 0;
}

int
schedule_parse(const char *spec, struct schedule *s, struct err *err)
{
	const char *p = spec;

	memset(s, 0, sizeof(*s));
	if (spec == NULL)
		return 0;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (s->n == SCHEDULE_MAX_WINDOWS) {
			err_set(err, "config", "schedule.active_hours: more "
			    "than %d windows", SCHEDULE_MAX_WINDOWS);
			return -1;
		}
		if (parse_hhmm(&p, false, &s->start[s->n]) == -1 ||
		    *p++ != '-' || parse_hhmm(&p, true, &s->end[s->n]) == -1 ||
		    s->start[s->n] == s->end[s->n]) {
			err_set(err, "config", "schedule.active_hours: "
			    "\"%.64s\" is not a list of HH:MM-HH:MM windows",
			    spec);
			return -1;
		}
		s->n++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == ',')
			p++;
		else if (*p != '\0') {
			err_set(err, "config", "schedule.active_hours: "
			    "\"%.64s\" is not a list of HH:MM-HH:MM windows",
			    spec);
			return -1;
		}
	}
	return 0;
}

static bool
open_at_minute(const struct schedule *s, int minute)
{
	int i;

	for (i = 0; i < s->n; i++) {
		if (s->start[i] < s->end[i]) {
			if (minute >= s->start[i] && minute < s->end[i])
				return true;
		} else if (minute >= s->start[i] || minute < s->end[i]) {
			return true;	/* past midnight */
		}
	}
	return false;
}

static bool
open_at(const struct schedule *s, time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return open_at_minute(s, tm.tm_hour * 60 + tm.tm_min);
}

bool
schedule_open(const struct schedule *s, time_t now, time_t *next)
{
	struct tm tm;
	bool open;
	time_t t;
	int i;

	*next = 0;
	if (s->n == 0)
		return true;
	open = open_at(s, now);
	localtime_r(&now, &tm);
	/* The next minute boundary, then minute by minute. */
	t = now - tm.tm_sec + 60;
	for (i = 0; i < 26 * 60; i++, t += 60) {
		if (open_at(s, t) != open) {
			*next = t;
			break;
		}
	}
	return open;
}
