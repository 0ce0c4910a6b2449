/*
 * mock_schema - a deterministic value for a JSON schema, for the
 * structured outputs of spool-mockllm (see mock_schema.h).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mock_schema.h"

#define SCHEMA_DEPTH	16

static const cJSON *
schema_ref(const cJSON *root, const char *ref)
{
	const cJSON *node = root;
	char seg[128];
	size_t n;

	if (strncmp(ref, "#/", 2) != 0)
		return NULL;
	for (ref += 2; *ref != '\0' && node != NULL; ref += n) {
		n = strcspn(ref, "/");
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, ref, n);
		seg[n] = '\0';
		node = cJSON_GetObjectItemCaseSensitive(node, seg);
		if (ref[n] == '/')
			n++;
	}
	return node;
}

static double
num_kw(const cJSON *s, const char *kw, double dflt, bool *has)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, kw);

	if (!cJSON_IsNumber(v))
		return dflt;
	*has = true;
	return v->valuedouble;
}

static cJSON *
schema_num(const cJSON *s, uint64_t h, bool integer)
{
	bool hlo = false, hhi = false, xlo = false, xhi = false;
	double lo, hi, xl, xh, step = integer ? 1 : 0.001, span;

	lo = num_kw(s, "minimum", 0, &hlo);
	hi = num_kw(s, "maximum", 100, &hhi);
	xl = num_kw(s, "exclusiveMinimum", 0, &xlo);
	xh = num_kw(s, "exclusiveMaximum", 0, &xhi);
	if (xlo)
		lo = xl + step;
	if (xhi)
		hi = xh - step;
	hlo |= xlo;
	hhi |= xhi;
	if (hlo && !hhi)
		hi = lo + 100;
	else if (hhi && !hlo)
		lo = hi - 100;
	if (integer) {
		lo = ceil(lo);
		hi = floor(hi);
	}
	if (!(lo < hi))
		return cJSON_CreateNumber(lo);
	if (integer) {
		span = fmin(hi - lo + 1, 1e15);
		return cJSON_CreateNumber(lo + (double)(h % (uint64_t)span));
	}
	return cJSON_CreateNumber(lo + (hi - lo) * (double)(h % 1001) / 1000);
}

static cJSON *
schema_str(const cJSON *s, uint64_t h, const char *name)
{
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(s, "format");
	const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "";
	bool has = false;
	double minl, maxl;
	char buf[1100];
	size_t len;

	if (strcmp(f, "date-time") == 0)
		return cJSON_CreateString("2024-01-01T00:00:00Z");
	if (strcmp(f, "date") == 0)
		return cJSON_CreateString("2024-01-01");
	snprintf(buf, sizeof(buf), "mock %s %04x", name != NULL ? name :
	    "text", (unsigned int)(h & 0xffff));
	len = strlen(buf);
	minl = fmin(num_kw(s, "minLength", 0, &has), 1024);
	maxl = num_kw(s, "maxLength", 1024, &has);
	while ((double)len < minl)
		buf[len++] = 'x';
	if (maxl >= 0 && (double)len > maxl)
		len = (size_t)maxl;
	buf[len] = '\0';
	return cJSON_CreateString(buf);
}

/*
 * Fill a JSON schema with a deterministic value.  Only the common subset
 * that structured-output schemas use is understood; anything else becomes
 * a string, which is still valid JSON for the client to reject.
 */
cJSON *
schema_fill(const cJSON *root, const cJSON *s, uint64_t h, const char *name,
    int depth)
{
	const cJSON *v, *type, *t, *props, *p;
	const char *ty = NULL;
	cJSON *obj;
	bool has = false;
	double n;
	int i;

	if (depth > SCHEMA_DEPTH || !cJSON_IsObject(s))
		return cJSON_CreateNull();
	v = cJSON_GetObjectItemCaseSensitive(s, "$ref");
	if (cJSON_IsString(v))
		return schema_fill(root, schema_ref(root, v->valuestring), h,
		    name, depth + 1);
	if ((v = cJSON_GetObjectItemCaseSensitive(s, "const")) != NULL)
		return cJSON_Duplicate(v, 1);
	v = cJSON_GetObjectItemCaseSensitive(s, "enum");
	if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0)
		return cJSON_Duplicate(cJSON_GetArrayItem(v,
		    (int)(h % (uint64_t)cJSON_GetArraySize(v))), 1);
	if (cJSON_IsArray(v = cJSON_GetObjectItemCaseSensitive(s, "anyOf")) ||
	    cJSON_IsArray(v = cJSON_GetObjectItemCaseSensitive(s, "oneOf")) ||
	    cJSON_IsArray(v = cJSON_GetObjectItemCaseSensitive(s, "allOf")))
		return schema_fill(root, cJSON_GetArrayItem(v, 0), h, name,
		    depth + 1);
	type = cJSON_GetObjectItemCaseSensitive(s, "type");
	if (cJSON_IsString(type))
		ty = type->valuestring;
	cJSON_ArrayForEach(t, type) {
		if (cJSON_IsString(t) && strcmp(t->valuestring, "null") != 0) {
			ty = t->valuestring;
			break;
		}
	}
	props = cJSON_GetObjectItemCaseSensitive(s, "properties");
	if (ty == NULL)
		ty = props != NULL ? "object" :
		    cJSON_GetObjectItemCaseSensitive(s, "items") != NULL ?
		    "array" : "string";
	if (strcmp(ty, "object") == 0) {
		obj = cJSON_CreateObject();
		cJSON_ArrayForEach(p, props)
			cJSON_AddItemToObject(obj, p->string,
			    schema_fill(root, p, h, p->string, depth + 1));
		return obj;
	}
	if (strcmp(ty, "array") == 0) {
		obj = cJSON_CreateArray();
		n = fmin(fmax(num_kw(s, "minItems", 1, &has), 0), 16);
		n = fmin(n, num_kw(s, "maxItems", n, &has));
		for (i = 0; i < (int)n; i++)
			cJSON_AddItemToArray(obj, schema_fill(root,
			    cJSON_GetObjectItemCaseSensitive(s, "items"), h,
			    name, depth + 1));
		return obj;
	}
	if (strcmp(ty, "integer") == 0 || strcmp(ty, "number") == 0)
		return schema_num(s, h, strcmp(ty, "integer") == 0);
	if (strcmp(ty, "boolean") == 0)
		return cJSON_CreateBool((h >> 7) & 1);
	if (strcmp(ty, "null") == 0)
		return cJSON_CreateNull();
	return schema_str(s, h, name);
}
