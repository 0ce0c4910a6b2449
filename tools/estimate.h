/*
 * estimate - `spoolctl submit --estimate`: what batches would cost,
 * before anything is submitted or spent.  Requests are read with the
 * parser spoold uses (task.c), so an invalid line is counted as spoold
 * would reject it; prompt tokens are estimated as spoold's rate limiter
 * does, and completions bounded by max_tokens.
 *
 * Prints on stdout and returns a sysexits(3) code.
 */
#ifndef SPOOLD_ESTIMATE_H
#define SPOOLD_ESTIMATE_H

#include <stdbool.h>

struct prices;

/* Estimates the .jsonl and .json files in files[0..n); prices may be
 * NULL (tokens only); json selects a JSON object on stdout. */
int	estimate_files(char **files, int n, const struct prices *prices,
	    bool json);

#endif
