/*
 * spool_limits - every bound on untrusted input, in one place (SPEC §7).
 * The configurable ones are defaults for struct config.
 */
#ifndef SPOOLD_SPOOL_LIMITS_H
#define SPOOLD_SPOOL_LIMITS_H

#define SPOOL_NAME_MAX		255		/* NAME_MAX */
#define SPOOL_BATCH_ID_MAX	200		/* leaves room for suffixes */
#define SPOOL_CUSTOM_ID_MAX	512
#define SPOOL_ENDPOINT_NAME_MAX	64
#define SPOOL_URL_MAX		128
#define SPOOL_MODEL_MAX		200		/* a model name, for prices */

#define SPOOL_DEF_MAX_FILE	(4ULL << 30)	/* input file size */
#define SPOOL_DEF_MAX_LINE	(8U << 20)	/* one request line */
#define SPOOL_DEF_JSON_DEPTH	64
#define SPOOL_DEF_MAX_REQUESTS	10000000ULL	/* requests per batch */
#define SPOOL_DEF_MAX_RESPONSE	(32U << 20)	/* one response body */

#define SPOOL_DEF_EXEC_MEMORY	(1ULL << 30)	/* exec: address space */

#define SPOOL_MAX_ENDPOINTS	32
#define SPOOL_MAX_ATTEMPTS	100
#define SPOOL_MAX_ERRORS_LISTED	100		/* in status.json */

#endif
