/*
 * idset - a set of strings kept as 64-bit hashes: a few bytes per
 * custom_id, for batches of millions.
 * XXX: two custom_ids with the same 64-bit hash would be taken for one;
 * at a million ids the chance is about 3e-8.
 */
#ifndef SPOOLD_IDSET_H
#define SPOOLD_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idset {
	uint64_t	*h;
	size_t		 cap;
	size_t		 n;
};

/* The 64-bit hash the set keeps of s (never 0). */
uint64_t idset_hash(const char *s);
/* Adds s; true if it was there already. */
bool	idset_add(struct idset *set, const char *s);
bool	idset_has(const struct idset *set, const char *s);
void	idset_free(struct idset *set);

#endif
