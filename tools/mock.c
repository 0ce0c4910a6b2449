/*
 * mock - what every part of spool-mockllm shares (see mock.h): the
 * options, the hashes, the seeded random draws, the response ids and
 * the clock.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mock.h"

struct mock_opt opt = { .seed = 1, .window = 60000 };

static uint64_t		 id_salt;
static atomic_uint_fast64_t id_ctr, rnd_ctr;

uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t
fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	while (len-- > 0) {
		h ^= *s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t
fnv_str(const char *s)
{
	return fnv1a(FNV_BASIS, s, strlen(s));
}

/*
 * One global counter fed through splitmix64: lock-free, and a given
 * sequence of requests sees the same draws for the same --seed.
 */
double
rnd_unit(void)
{
	return (double)(splitmix64(opt.seed + atomic_fetch_add(&rnd_ctr, 1))
	    >> 11) * 0x1.0p-53;
}

/* splitmix64 is a bijection, so distinct counters give distinct ids. */
uint64_t
new_id(void)
{
	return splitmix64(id_salt + atomic_fetch_add(&id_ctr, 1));
}

void
id_init(void)
{
	id_salt = splitmix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)
	    ^ now_ns());
}

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool
parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

void
add_header(struct MHD_Response *resp, const char *k, const char *v)
{
	/* Failing to add a header only loses that header. */
	(void)MHD_add_response_header(resp, k, v);
}
