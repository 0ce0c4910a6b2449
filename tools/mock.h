/*
 * mock - what every part of spool-mockllm shares: the types of a request
 * and of its decided answer, the options (set once by main() before any
 * request, read-only after), and small helpers: hashes, the seeded random
 * draws, the response ids, the clock.
 */
#ifndef SPOOLD_MOCK_H
#define SPOOLD_MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#define CID_MAX		256
#define LATENCY_MAX	3600000L
#define FNV_BASIS	0xcbf29ce484222325ULL

enum api {
	API_NONE, API_CHAT, API_COMPL, API_EMBED, API_MSG, API_MODELS,
	API_STATS
};

/* Connection faults, injected after the answer is decided. */
enum fault {
	FAULT_NONE, FAULT_RESET, FAULT_TRUNCATE, FAULT_HANG
};

/* Per-request state, hung on MHD's request closure. */
struct req {
	char			*body;
	size_t			 len;
	size_t			 cap;
	bool			 too_big;
	bool			 post;
	bool			 delayed;
	bool			 logged;
	bool			 busy;		/* counted in stats.busy */
	enum api		 api;
	enum fault		 fault;
	unsigned int		 status;
	uint64_t		 id;
	struct MHD_Response	*resp;
	char			 cid[CID_MAX + 1];
};

/* What the decision step produces before headers are attached. */
struct out {
	enum api	 api;
	unsigned int	 status;
	cJSON		*json;
	long		 retry_ms;	/* >= 0: send Retry-After headers */
	long		 delay_ms;
	enum fault	 fault;
	uint64_t	 id;
	bool		 redirect;	/* 302 with REDIRECT_TO */
};

/* Where the model "redirect" points: another host, where nothing
 * listens, so that a client that follows it would fail differently. */
#define REDIRECT_TO	"http://127.0.0.2:1/v1/chat/completions"

/* The options of the command line; see spool-mockllm(1). */
struct mock_opt {
	long		 port;
	const char	*portfile;
	const char	*pidfile;
	const char	*logfile;
	long		 threads;
	long		 latency;
	long		 jitter;
	double		 fail_rate;
	double		 rate_429;
	double		 reset_rate;
	double		 truncate_rate;
	double		 hang_rate;
	long		 rpm;
	long		 tpm;
	long		 max_conc;
	long		 max_conc_for;
	long		 window;	/* of --rpm and --tpm, in ms */
	uint64_t	 seed;
	bool		 quiet;
};

extern struct mock_opt	 opt;

uint64_t	splitmix64(uint64_t x);
/* FNV-1a of len bytes at p, continuing from h (FNV_BASIS to start). */
uint64_t	fnv1a(uint64_t h, const void *p, size_t len);
uint64_t	fnv_str(const char *s);
/* A draw in [0, 1): the same sequence for the same --seed. */
double		rnd_unit(void);
/* Salts new_id() with the time and pid; call once before any request. */
void		id_init(void);
/* A fresh id for a response, distinct from every other of this run. */
uint64_t	new_id(void);
/* CLOCK_MONOTONIC, in nanoseconds. */
uint64_t	now_ns(void);
/* Parses a whole decimal s into *out if it lies in lo..hi. */
bool		parse_long(const char *s, long lo, long hi, long *out);
/* Adds a header to resp; a failure only loses that header. */
void		add_header(struct MHD_Response *resp, const char *k,
		    const char *v);

#endif
