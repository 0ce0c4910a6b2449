/*
 * mock_schema - fills a JSON schema (response_format json_schema) with a
 * value derived from a hash, so that structured outputs are both valid
 * for the common subset of JSON Schema and reproducible.
 */
#ifndef SPOOLD_MOCK_SCHEMA_H
#define SPOOLD_MOCK_SCHEMA_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* A new value for schema s, whose $refs resolve against root; h picks
 * among enums and ranges, name (may be NULL) seeds strings; depth is 0
 * at the top.  The caller frees the result with cJSON_Delete. */
cJSON	*schema_fill(const cJSON *root, const cJSON *s, uint64_t h,
	    const char *name, int depth);

#endif
