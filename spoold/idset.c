/*
 * idset - a set of 64-bit string hashes (open addressing, 0 = empty):
 * the custom_ids of a batch seen, done or failed, in 8 bytes each.
 */
#include <stdlib.h>
#include <string.h>

#include "idset.h"
#include "util.h"

uint64_t
idset_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	/* splitmix64 finaliser: spreads FNV's low bits. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h == 0 ? 1 : h;
}

/* Adds s; returns true if it was already there. */
bool
idset_add(struct idset *set, const char *s)
{
	uint64_t h = idset_hash(s), *old;
	size_t i, oldcap;

	if (set->n * 2 >= set->cap) {
		old = set->h;
		oldcap = set->cap;
		set->cap = oldcap ? oldcap * 2 : 1024;
		set->h = xcalloc(set->cap, sizeof(uint64_t));
		set->n = 0;
		for (i = 0; i < oldcap; i++) {
			if (old[i] != 0) {
				size_t j = old[i] & (set->cap - 1);

				while (set->h[j] != 0)
					j = (j + 1) & (set->cap - 1);
				set->h[j] = old[i];
				set->n++;
			}
		}
		free(old);
	}
	for (i = h & (set->cap - 1); set->h[i] != 0; i = (i + 1) &
	    (set->cap - 1))
		if (set->h[i] == h)
			return true;
	set->h[i] = h;
	set->n++;
	return false;
}

bool
idset_has(const struct idset *set, const char *s)
{
	uint64_t h;
	size_t i;

	if (set->cap == 0)
		return false;
	h = idset_hash(s);
	for (i = h & (set->cap - 1); set->h[i] != 0; i = (i + 1) &
	    (set->cap - 1))
		if (set->h[i] == h)
			return true;
	return false;
}

void
idset_free(struct idset *set)
{
	free(set->h);
	memset(set, 0, sizeof(*set));
}

