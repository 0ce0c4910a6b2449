/*
 * schedule - schedule.active_hours: the local-time windows in which new
 * requests may be dispatched ("22:00-06:00", several separated by
 * commas; a window whose end is before its start runs past midnight).
 * Pure functions of a time the caller passes in.
 */
#ifndef SPOOLD_SCHEDULE_H
#define SPOOLD_SCHEDULE_H

#include <stdbool.h>
#include <time.h>

#include "util.h"

#define SCHEDULE_MAX_WINDOWS	16

struct schedule {
	int	 n;			/* 0: always open */
	int	 start[SCHEDULE_MAX_WINDOWS];	/* minute of the day */
	int	 end[SCHEDULE_MAX_WINDOWS];	/* 1..1440 */
};

/* Parses spec (NULL or "" is always open); -1 with err. */
int	schedule_parse(const char *spec, struct schedule *s, struct err *err);
/*
 * Is dispatch allowed at now?  *next gets the time the answer next
 * changes (0 if it never does).
 */
bool	schedule_open(const struct schedule *s, time_t now, time_t *next);

#endif
