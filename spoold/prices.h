/*
 * prices - the price table of cost accounting: what a million input and
 * a million output tokens of a model cost, in one currency.
 *
 * The file (batch.prices, see spoold.conf(5)):
 *	# comment
 *	currency = USD
 *	gpt-4o-mini* = 0.15 0.60
 *	gpt-4o = 2.50 10.00
 * A name ending in '*' matches every model that begins with the rest
 * ('*' alone matches any model); an exact name wins over a pattern, and
 * a longer pattern over a shorter one.
 */
#ifndef SPOOLD_PRICES_H
#define SPOOLD_PRICES_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct prices;

/* Per million tokens. */
struct price {
	double	input;
	double	output;
};

/* Returns owned, or NULL with err (file, line and why) on failure. */
struct prices	*prices_load(const char *path, struct err *err);
/* The same from text; name labels the errors. */
struct prices	*prices_parse(const char *text, size_t len, const char *name,
		    struct err *err);
void		 prices_free(struct prices *p);
/* Returns borrowed: the currency ("USD" unless the file says). */
const char	*prices_currency(const struct prices *p);
/* Returns borrowed: the price of model, or NULL when nothing matches. */
const struct price *prices_find(const struct prices *p, const char *model);
/* What in and out tokens cost at price pr. */
double		 price_cost(const struct price *pr, uint64_t in, uint64_t out);

#endif
