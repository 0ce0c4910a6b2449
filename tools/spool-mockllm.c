/*
 * spool-mockllm -- a deterministic mock of the OpenAI and Anthropic HTTP
 * APIs, used by spoold's demo, end-to-end tests and benchmarks.
 *
 * It listens on 127.0.0.1 only and answers /v1/chat/completions,
 * /v1/completions, /v1/embeddings, /v1/messages, /v1/models and /stats.
 * Replies are derived from the request alone, so runs are reproducible.
 * Latency, errors and rate limits can be injected globally by option, or
 * per request by header or by model name (so that batch data alone can
 * script a test).  Delayed requests are suspended inside libmicrohttpd and
 * resumed by a timer thread, so a few threads hold thousands of slow
 * requests without sleeping.
 */

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#define MOCK_VERSION	"spool-mockllm 0.1"
#define BODY_MAX	(16UL * 1024 * 1024)
#define CID_MAX		256
#define LATENCY_MAX	3600000L
#define HANG_MS		120000L
#define RPM_MAX		10000000L
#define TPM_MAX		1000000000L
#define CONC_MAX	1000000L
#define CONC_FOR_MAX	86400000L
#define SCHEMA_DEPTH	16
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
	bool			 busy;		/* counted in n_busy */
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

/* The body of a truncated response: only cut of len bytes are sent. */
struct cutbody {
	char		*txt;
	size_t		 len;
	size_t		 cut;
};

struct tentry {
	uint64_t		 due;
	struct MHD_Connection	*conn;
};

static struct {
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
} opt = { .seed = 1, .window = 60000 };

static struct {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	pthread_t	 thr;
	struct tentry	*heap;
	size_t		 n;
	size_t		 cap;
	bool		 stop;
} tm = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static struct {
	pthread_mutex_t	 mtx;
	uint64_t	*ring;
	long		 head;
	long		 count;
} rl = { .mtx = PTHREAD_MUTEX_INITIALIZER };

/* The --tpm window: (admission time, tokens) of the last minute. */
struct tk_ent {
	uint64_t	 ms;
	long		 tokens;
};

static struct {
	pthread_mutex_t	 mtx;
	struct tk_ent	*ring;
	size_t		 cap;
	size_t		 head;
	size_t		 count;
	long		 sum;
	long		 peak;		/* the highest sum so far */
} tk = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static struct {
	pthread_mutex_t	 mtx;
	uint64_t	*keys;
	uint32_t	*cnt;
	size_t		 cap;
	size_t		 n;
} fl = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;
static int		 log_fd = -1;
static uint64_t		 id_salt;
static atomic_uint_fast64_t id_ctr, rnd_ctr;
static atomic_ulong	 n_susp;
static atomic_long	 n_busy, st_peak, st_peak_after;
static atomic_uint_fast64_t cc_first;	/* ms + 1 of the first POST; 0 */
static atomic_bool	 stopping;
static atomic_ulong	 st_req, st_resp, st_2xx, st_4xx, st_429, st_5xx;
static atomic_ulong	 st_abort, st_reset, st_trunc, st_hang;

static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t
fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	while (len-- > 0) {
		h ^= *s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
fnv_str(const char *s)
{
	return fnv1a(FNV_BASIS, s, strlen(s));
}

/*
 * One global counter fed through splitmix64: lock-free, and a given
 * sequence of requests sees the same draws for the same --seed.
 */
static double
rnd_unit(void)
{
	return (double)(splitmix64(opt.seed + atomic_fetch_add(&rnd_ctr, 1))
	    >> 11) * 0x1.0p-53;
}

/* splitmix64 is a bijection, so distinct counters give distinct ids. */
static uint64_t
new_id(void)
{
	return splitmix64(id_salt + atomic_fetch_add(&id_ctr, 1));
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool
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

/* Byte length of the first maxcp UTF-8 code points of s. */
static size_t
utf8_prefix(const char *s, size_t maxcp)
{
	size_t i = 0, cp = 0;

	while (s[i] != '\0' && cp < maxcp) {
		i++;
		while (((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		cp++;
	}
	return i;
}

static cJSON *
error_body(enum api api, unsigned int status, const char *msg)
{
	/* OpenAI type and code, then Anthropic type, per status. */
	static const struct {
		unsigned int	 status;
		const char	*otype, *code, *atype;
	} tab[] = {
		{ 401, "invalid_request_error", "invalid_api_key",
		    "authentication_error" },
		{ 403, "invalid_request_error", NULL, "permission_error" },
		{ 404, "invalid_request_error", NULL, "not_found_error" },
		{ 413, "invalid_request_error", NULL, "request_too_large" },
		{ 429, "requests", "rate_limit_exceeded", "rate_limit_error" },
		{ 529, "server_error", NULL, "overloaded_error" },
	};
	const char *otype, *code = NULL, *atype;
	cJSON *root, *e;
	size_t i;

	otype = atype = status >= 500 ? "api_error" : "invalid_request_error";
	if (status >= 500)
		otype = "server_error";
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].status == status) {
			otype = tab[i].otype;
			code = tab[i].code;
			atype = tab[i].atype;
		}
	root = cJSON_CreateObject();
	if (api == API_MSG || status == 529) {
		cJSON_AddStringToObject(root, "type", "error");
		e = cJSON_AddObjectToObject(root, "error");
		cJSON_AddStringToObject(e, "type", atype);
		cJSON_AddStringToObject(e, "message", msg);
		return root;
	}
	e = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", otype);
	cJSON_AddNullToObject(e, "param");
	if (code != NULL)
		cJSON_AddStringToObject(e, "code", code);
	else
		cJSON_AddNullToObject(e, "code");
	return root;
}

static void
fail(struct out *o, unsigned int status, const char *msg)
{
	char buf[128];

	if (msg == NULL) {
		snprintf(buf, sizeof(buf), "mock error: HTTP %u", status);
		msg = buf;
	}
	cJSON_Delete(o->json);
	o->status = status;
	o->json = error_body(o->api, status, msg);
	if (status == 429 && o->retry_ms < 0)
		o->retry_ms = 200;
}

/* The text of a message content: a string, or a list of text parts. */
static const char *
content_text(const cJSON *c, size_t *chars)
{
	const cJSON *part, *t;
	const char *first = NULL;

	if (cJSON_IsString(c)) {
		*chars += strlen(c->valuestring);
		return c->valuestring;
	}
	cJSON_ArrayForEach(part, c) {
		t = cJSON_GetObjectItemCaseSensitive(part, "text");
		if (!cJSON_IsString(t))
			continue;
		*chars += strlen(t->valuestring);
		if (first == NULL)
			first = t->valuestring;
	}
	return first;
}

struct conv {
	const char	*last_user;
	uint64_t	 h_user;	/* FNV-1a of last_user: picks enums */
	uint64_t	 h_all;		/* FNV-1a of every role and text */
	size_t		 chars;
	size_t		 nmsg;
};

static bool
conv_scan(const cJSON *msgs, const cJSON *sys, struct conv *cv)
{
	const cJSON *m, *role;
	const char *txt;

	memset(cv, 0, sizeof(*cv));
	cv->last_user = "";
	cv->h_all = FNV_BASIS;
	if (sys != NULL && (txt = content_text(sys, &cv->chars)) != NULL)
		cv->h_all = fnv1a(cv->h_all, txt, strlen(txt) + 1);
	if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
		return false;
	cJSON_ArrayForEach(m, msgs) {
		if (!cJSON_IsObject(m))
			return false;
		role = cJSON_GetObjectItemCaseSensitive(m, "role");
		if (!cJSON_IsString(role))
			return false;
		txt = content_text(cJSON_GetObjectItemCaseSensitive(m,
		    "content"), &cv->chars);
		if (txt == NULL)
			txt = "";
		cv->nmsg++;
		cv->h_all = fnv1a(cv->h_all, role->valuestring,
		    strlen(role->valuestring) + 1);
		cv->h_all = fnv1a(cv->h_all, txt, strlen(txt) + 1);
		if (strcmp(role->valuestring, "user") == 0)
			cv->last_user = txt;
	}
	cv->h_user = fnv_str(cv->last_user);
	return true;
}

static void
make_reply(char *buf, size_t sz, const char *lead, const char *text,
    uint64_t h)
{
	snprintf(buf, sz, "%s%.*s [%08" PRIx32 "]", lead,
	    (int)utf8_prefix(text, 60), text, (uint32_t)(h ^ (h >> 32)));
}

static long
tokens(size_t chars)
{
	return chars / 4 > 0 ? (long)(chars / 4) : 1;
}

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
static cJSON *
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

/* The assistant text for a chat, honouring response_format. */
static char *
chat_content(const cJSON *in, const struct conv *cv, const char *reply)
{
	const cJSON *rf, *ty, *js, *schema;
	cJSON *val;
	char *txt;

	rf = cJSON_GetObjectItemCaseSensitive(in, "response_format");
	ty = cJSON_GetObjectItemCaseSensitive(rf, "type");
	if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "text") == 0)
		return strdup(reply);
	js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
	schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
	if (strcmp(ty->valuestring, "json_schema") == 0 &&
	    cJSON_IsObject(schema))
		val = schema_fill(schema, schema, cv->h_user, NULL, 0);
	else {
		val = cJSON_CreateObject();
		cJSON_AddStringToObject(val, "reply", reply);
	}
	txt = cJSON_PrintUnformatted(val);
	cJSON_Delete(val);
	return txt;
}

static const char *
req_model(const cJSON *in)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(in, "model");

	return cJSON_IsString(m) ? m->valuestring : "mock-1";
}

static cJSON *
resp_head(const char *prefix, uint64_t id, const char *object,
    const cJSON *in)
{
	cJSON *root = cJSON_CreateObject();
	char buf[64];

	snprintf(buf, sizeof(buf), "%s%016" PRIx64, prefix, id);
	cJSON_AddStringToObject(root, "id", buf);
	cJSON_AddStringToObject(root, "object", object);
	cJSON_AddNumberToObject(root, "created", (double)time(NULL));
	cJSON_AddStringToObject(root, "model", req_model(in));
	return root;
}

static void
add_usage(cJSON *root, const char *k1, long a, const char *k2, long b,
    bool total)
{
	cJSON *u = cJSON_AddObjectToObject(root, "usage");

	cJSON_AddNumberToObject(u, k1, a);
	if (k2 != NULL)
		cJSON_AddNumberToObject(u, k2, b);
	if (total)
		cJSON_AddNumberToObject(u, "total_tokens", a + b);
}

static void
api_chat(const cJSON *in, struct out *o)
{
	struct conv cv;
	char reply[512], *content;
	cJSON *ch, *msg;
	long pt;

	if (!conv_scan(cJSON_GetObjectItemCaseSensitive(in, "messages"), NULL,
	    &cv)) {
		fail(o, 400, "'messages' must be a non-empty array of "
		    "objects with a 'role'");
		return;
	}
	make_reply(reply, sizeof(reply), "mock reply to: ", cv.last_user,
	    cv.h_all);
	if ((content = chat_content(in, &cv, reply)) == NULL) {
		fail(o, 500, "out of memory");
		return;
	}
	o->json = resp_head("chatcmpl-", o->id, "chat.completion", in);
	ch = cJSON_CreateObject();
	cJSON_AddNumberToObject(ch, "index", 0);
	msg = cJSON_AddObjectToObject(ch, "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	cJSON_AddStringToObject(msg, "content", content);
	cJSON_AddNullToObject(ch, "logprobs");
	cJSON_AddStringToObject(ch, "finish_reason", "stop");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o->json, "choices"), ch);
	pt = (long)(cv.chars / 4 + 4 * cv.nmsg);
	add_usage(o->json, "prompt_tokens", pt > 0 ? pt : 1,
	    "completion_tokens", tokens(strlen(content)), true);
	free(content);
}

static void
api_compl(const cJSON *in, struct out *o)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "prompt"), *e;
	const char *text = NULL;
	size_t chars = 0;
	char reply[512];
	cJSON *ch;

	if (cJSON_IsString(p))
		text = p->valuestring;
	cJSON_ArrayForEach(e, p) {
		if (!cJSON_IsString(e))
			continue;
		if (text == NULL)
			text = e->valuestring;
		chars += strlen(e->valuestring);
	}
	if (text == NULL) {
		fail(o, 400, "'prompt' must be a string or array of strings");
		return;
	}
	if (cJSON_IsString(p))
		chars = strlen(text);
	make_reply(reply, sizeof(reply), "mock completion of: ", text,
	    fnv_str(text));
	o->json = resp_head("cmpl-", o->id, "text_completion", in);
	ch = cJSON_CreateObject();
	cJSON_AddStringToObject(ch, "text", reply);
	cJSON_AddNumberToObject(ch, "index", 0);
	cJSON_AddNullToObject(ch, "logprobs");
	cJSON_AddStringToObject(ch, "finish_reason", "stop");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o->json, "choices"), ch);
	add_usage(o->json, "prompt_tokens", tokens(chars), "completion_tokens",
	    tokens(strlen(reply)), true);
}

static cJSON *
embed_one(const cJSON *item, int idx, long *tok)
{
	double v[8], norm = 0;
	cJSON *e, *arr;
	uint64_t h;
	char *txt;
	int i;

	/* Token arrays are hashed in their printed form. */
	if (cJSON_IsString(item))
		txt = strdup(item->valuestring);
	else
		txt = cJSON_PrintUnformatted(item);
	if (txt == NULL)
		return NULL;
	h = fnv_str(txt);
	*tok += tokens(strlen(txt));
	free(txt);
	for (i = 0; i < 8; i++) {
		v[i] = (double)(splitmix64(h + (uint64_t)i) >> 11) *
		    0x1.0p-52 - 1.0;
		norm += v[i] * v[i];
	}
	norm = norm > 0 ? sqrt(norm) : 1;
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "object", "embedding");
	cJSON_AddNumberToObject(e, "index", idx);
	arr = cJSON_AddArrayToObject(e, "embedding");
	for (i = 0; i < 8; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber(
		    round(v[i] / norm * 1e6) / 1e6));
	return e;
}

static void
api_embed(const cJSON *in, struct out *o)
{
	const cJSON *inp = cJSON_GetObjectItemCaseSensitive(in, "input"), *e;
	cJSON *data;
	long tok = 0;
	int i = 0;

	if (!cJSON_IsString(inp) && (!cJSON_IsArray(inp) ||
	    cJSON_GetArraySize(inp) == 0)) {
		fail(o, 400, "'input' must be a string or a non-empty array");
		return;
	}
	o->json = cJSON_CreateObject();
	cJSON_AddStringToObject(o->json, "object", "list");
	data = cJSON_AddArrayToObject(o->json, "data");
	if (cJSON_IsString(inp) || cJSON_IsNumber(cJSON_GetArrayItem(inp, 0)))
		cJSON_AddItemToArray(data, embed_one(inp, 0, &tok));
	else
		cJSON_ArrayForEach(e, inp)
			cJSON_AddItemToArray(data, embed_one(e, i++, &tok));
	cJSON_AddStringToObject(o->json, "model", req_model(in));
	add_usage(o->json, "prompt_tokens", tok, NULL, 0, true);
}

static void
api_msg(const cJSON *in, struct out *o)
{
	struct conv cv;
	char reply[512], buf[64];
	cJSON *blk;
	long pt;

	if (!conv_scan(cJSON_GetObjectItemCaseSensitive(in, "messages"),
	    cJSON_GetObjectItemCaseSensitive(in, "system"), &cv)) {
		fail(o, 400, "messages: must be a non-empty array of objects "
		    "with a role");
		return;
	}
	make_reply(reply, sizeof(reply), "mock reply to: ", cv.last_user,
	    cv.h_all);
	o->json = cJSON_CreateObject();
	snprintf(buf, sizeof(buf), "msg_%016" PRIx64, o->id);
	cJSON_AddStringToObject(o->json, "id", buf);
	cJSON_AddStringToObject(o->json, "type", "message");
	cJSON_AddStringToObject(o->json, "role", "assistant");
	cJSON_AddStringToObject(o->json, "model", req_model(in));
	blk = cJSON_CreateObject();
	cJSON_AddStringToObject(blk, "type", "text");
	cJSON_AddStringToObject(blk, "text", reply);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o->json, "content"), blk);
	cJSON_AddStringToObject(o->json, "stop_reason", "end_turn");
	cJSON_AddNullToObject(o->json, "stop_sequence");
	pt = (long)(cv.chars / 4 + 4 * cv.nmsg);
	add_usage(o->json, "input_tokens", pt > 0 ? pt : 1, "output_tokens",
	    tokens(strlen(reply)), false);
}

static void
api_models(struct out *o)
{
	o->json = cJSON_Parse("{\"object\":\"list\",\"data\":[{\"id\":"
	    "\"mock-1\",\"object\":\"model\",\"created\":0,"
	    "\"owned_by\":\"spool-mockllm\"}]}");
}

static void
fmt_ms(char *buf, size_t sz, long ms)
{
	if (ms < 1000)
		snprintf(buf, sz, "%ldms", ms);
	else
		snprintf(buf, sz, "%ld.%03lds", ms / 1000, ms % 1000);
}

/*
 * Sliding-window limiter: a ring of the admission times of the last
 * --rpm requests.  take=false only reports, for the headers of requests
 * that do not count against the limit.
 */
static bool
rl_check(bool take, long *remaining, long *reset_ms)
{
	uint64_t now = now_ns() / 1000000;
	bool ok = true;

	pthread_mutex_lock(&rl.mtx);
	while (rl.count > 0 && rl.ring[rl.head] + (uint64_t)opt.window <=
	    now) {
		rl.head = (rl.head + 1) % opt.rpm;
		rl.count--;
	}
	if (take && rl.count < opt.rpm) {
		rl.ring[(rl.head + rl.count) % opt.rpm] = now;
		rl.count++;
	} else if (take)
		ok = false;
	*remaining = opt.rpm - rl.count;
	*reset_ms = rl.count > 0 ? (long)(rl.ring[rl.head] + (uint64_t)
	    opt.window - now) : 0;
	pthread_mutex_unlock(&rl.mtx);
	return ok;
}

/* Drop what has left the --tpm window; called under tk.mtx. */
static void
tk_expire(uint64_t now)
{
	while (tk.count > 0 && tk.ring[tk.head].ms + (uint64_t)opt.window <=
	    now) {
		tk.sum -= tk.ring[tk.head].tokens;
		tk.head = (tk.head + 1) % tk.cap;
		tk.count--;
	}
}

/* Make room for one more entry; called under tk.mtx. */
static bool
tk_grow(void)
{
	struct tk_ent *nr;
	size_t ncap, i;

	if (tk.count < tk.cap)
		return true;
	ncap = tk.cap != 0 ? tk.cap * 2 : 1024;
	if ((nr = calloc(ncap, sizeof(*nr))) == NULL)
		return false;
	/* Unroll the ring, oldest first. */
	for (i = 0; i < tk.count; i++)
		nr[i] = tk.ring[(tk.head + i) % tk.cap];
	free(tk.ring);
	tk.ring = nr;
	tk.cap = ncap;
	tk.head = 0;
	return true;
}

/*
 * The --tpm limiter, the token twin of rl_check: the tokens of the
 * answers admitted over the last minute (or --rate-window).  want > 0
 * asks to admit that many, and on refusal *retry_ms says when enough
 * will have left the window for them to fit; want == 0 only reports.
 * *reset_ms is the time until the oldest counted tokens leave, as for
 * --rpm.
 */
static bool
tk_check(long want, long *used, long *peak, long *remaining, long *reset_ms,
    long *retry_ms)
{
	uint64_t now = now_ns() / 1000000;
	long freed = 0;
	size_t i;
	bool ok = true;

	pthread_mutex_lock(&tk.mtx);
	tk_expire(now);
	if (want > 0 && tk.sum + want <= opt.tpm) {
		/* Out of memory loses the count, not the request. */
		if (tk_grow()) {
			tk.ring[(tk.head + tk.count) % tk.cap] =
			    (struct tk_ent){ now, want };
			tk.count++;
			tk.sum += want;
			if (tk.sum > tk.peak)
				tk.peak = tk.sum;
		}
	} else if (want > 0) {
		ok = false;
		/* More than the limit never fits: say a window. */
		*retry_ms = opt.window;
		for (i = 0; i < tk.count && want <= opt.tpm; i++) {
			freed += tk.ring[(tk.head + i) % tk.cap].tokens;
			if (tk.sum - freed + want <= opt.tpm) {
				*retry_ms = (long)(tk.ring[(tk.head + i) %
				    tk.cap].ms + (uint64_t)opt.window - now);
				break;
			}
		}
	}
	*used = tk.sum;
	*peak = tk.peak;
	*remaining = opt.tpm - tk.sum > 0 ? opt.tpm - tk.sum : 0;
	*reset_ms = tk.count > 0 ? (long)(tk.ring[tk.head].ms + (uint64_t)
	    opt.window - now) : 0;
	pthread_mutex_unlock(&tk.mtx);
	return ok;
}

/* usage.total_tokens, or input plus output tokens for /v1/messages. */
static long
usage_tokens(const cJSON *json)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(json, "usage"), *v;
	long n = 0;

	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(u,
	    "total_tokens")))
		return (long)v->valuedouble;
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(u,
	    "input_tokens")))
		n += (long)v->valuedouble;
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(u,
	    "output_tokens")))
		n += (long)v->valuedouble;
	return n;
}

/*
 * Charge a successful answer to --tpm, or replace it by a 429 shaped as
 * OpenAI's (type "tokens") with the wait until it would fit.
 */
static void
tpm_admit(struct out *o)
{
	long want, used, peak, rem, reset, retry;
	cJSON *e;
	char msg[200], wait[32];

	if ((want = usage_tokens(o->json)) <= 0)
		want = 1;
	if (tk_check(want, &used, &peak, &rem, &reset, &retry))
		return;
	fmt_ms(wait, sizeof(wait), retry);
	snprintf(msg, sizeof(msg), "Rate limit reached for tokens per min "
	    "(TPM): Limit %ld, Used %ld, Requested %ld. Please try again in "
	    "%s.", opt.tpm, used, want, wait);
	o->retry_ms = retry;
	/* The refused answer is not delivered, so neither is its fault. */
	o->fault = FAULT_NONE;
	fail(o, 429, msg);
	e = cJSON_GetObjectItemCaseSensitive(o->json, "error");
	if (o->api != API_MSG && cJSON_HasObjectItem(e, "type"))
		cJSON_ReplaceItemInObjectCaseSensitive(e, "type",
		    cJSON_CreateString("tokens"));
}

/*
 * Does --max-concurrent apply now?  start: this is a POST, which starts
 * the clock of --max-concurrent-for if it is the first.
 */
static bool
cc_limited(bool start)
{
	/* Plus one, so that a cc_first of 0 means "no POST yet". */
	uint64_t now = now_ns() / 1000000 + 1, first = 0;

	if (opt.max_conc == 0)
		return false;
	if (!start)
		first = atomic_load(&cc_first);
	else if (atomic_compare_exchange_strong(&cc_first, &first, now))
		first = now;
	if (first == 0 || opt.max_conc_for == 0)
		return true;
	return now < first + (uint64_t)opt.max_conc_for;
}

static void
peak_note(atomic_long *peak, long n)
{
	long p = atomic_load(peak);

	while (n > p && !atomic_compare_exchange_weak(peak, &p, n))
		;
}

/*
 * Count a POST as in progress until it completes, or refuse it while
 * --max-concurrent applies and that many are in progress already.
 */
static bool
cc_admit(struct req *r)
{
	bool limited = cc_limited(true);
	long n = atomic_load(&n_busy);

	do {
		if (limited && n >= opt.max_conc)
			return false;
	} while (!atomic_compare_exchange_weak(&n_busy, &n, n + 1));
	r->busy = true;
	peak_note(&st_peak, n + 1);
	if (!limited)
		peak_note(&st_peak_after, n + 1);
	return true;
}

static void
api_stats(struct out *o)
{
	long used, peak, rem, reset;

	o->json = cJSON_CreateObject();
	cJSON_AddNumberToObject(o->json, "requests", atomic_load(&st_req));
	cJSON_AddNumberToObject(o->json, "responses", atomic_load(&st_resp));
	cJSON_AddNumberToObject(o->json, "responses_2xx", atomic_load(&st_2xx));
	cJSON_AddNumberToObject(o->json, "responses_4xx", atomic_load(&st_4xx));
	cJSON_AddNumberToObject(o->json, "responses_429", atomic_load(&st_429));
	cJSON_AddNumberToObject(o->json, "responses_5xx", atomic_load(&st_5xx));
	cJSON_AddNumberToObject(o->json, "aborted", atomic_load(&st_abort));
	cJSON_AddNumberToObject(o->json, "delayed", atomic_load(&n_susp));
	cJSON_AddNumberToObject(o->json, "resets", atomic_load(&st_reset));
	cJSON_AddNumberToObject(o->json, "truncated", atomic_load(&st_trunc));
	cJSON_AddNumberToObject(o->json, "hangs", atomic_load(&st_hang));
	cJSON_AddNumberToObject(o->json, "in_progress", atomic_load(&n_busy));
	cJSON_AddNumberToObject(o->json, "peak_in_progress",
	    atomic_load(&st_peak));
	cJSON_AddNumberToObject(o->json, "peak_in_progress_unlimited",
	    atomic_load(&st_peak_after));
	cJSON_AddBoolToObject(o->json, "concurrency_limited",
	    cc_limited(false));
	if (opt.tpm > 0) {
		(void)tk_check(0, &used, &peak, &rem, &reset, NULL);
		cJSON_AddNumberToObject(o->json, "tokens_in_window", used);
		cJSON_AddNumberToObject(o->json, "tokens_in_window_peak", peak);
	}
}

/* Count a request under key; true while it is within its first n. */
static bool
flaky_fail(uint64_t key, long n)
{
	uint64_t *nk;
	uint32_t *nc;
	size_t i, j, ncap;
	bool ret = false;

	key = key != 0 ? key : 1;	/* 0 marks an empty slot */
	pthread_mutex_lock(&fl.mtx);
	if (fl.n * 2 >= fl.cap) {
		ncap = fl.cap != 0 ? fl.cap * 2 : 1024;
		nk = calloc(ncap, sizeof(*nk));
		nc = calloc(ncap, sizeof(*nc));
		if (nk == NULL || nc == NULL) {
			free(nk);
			free(nc);
			goto out;
		}
		for (i = 0; i < fl.cap; i++) {
			if (fl.keys[i] == 0)
				continue;
			for (j = fl.keys[i] & (ncap - 1); nk[j] != 0;
			    j = (j + 1) & (ncap - 1))
				;
			nk[j] = fl.keys[i];
			nc[j] = fl.cnt[i];
		}
		free(fl.keys);
		free(fl.cnt);
		fl.keys = nk;
		fl.cnt = nc;
		fl.cap = ncap;
	}
	for (i = key & (fl.cap - 1); fl.keys[i] != 0 && fl.keys[i] != key;
	    i = (i + 1) & (fl.cap - 1))
		;
	if (fl.keys[i] == 0) {
		fl.keys[i] = key;
		fl.n++;
	}
	if (fl.cnt[i] < UINT32_MAX)
		fl.cnt[i]++;
	ret = fl.cnt[i] <= (uint64_t)n;
out:
	pthread_mutex_unlock(&fl.mtx);
	return ret;
}

/* The key of flaky-N and friends: the custom id, else the body. */
static uint64_t
flaky_key(const struct req *r)
{
	if (r->cid[0] != '-' || r->cid[1] != '\0')
		return fnv_str(r->cid);
	return fnv1a(FNV_BASIS, r->body, r->len);
}

/* "reset", "truncate" or "hang", as in X-Mock-Fault and model names. */
static enum fault
fault_name(const char *s, size_t len)
{
	static const struct {
		const char	*name;
		enum fault	 fault;
	} tab[] = {
		{ "reset", FAULT_RESET },
		{ "truncate", FAULT_TRUNCATE },
		{ "hang", FAULT_HANG },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strlen(tab[i].name) == len &&
		    strncasecmp(s, tab[i].name, len) == 0)
			return tab[i].fault;
	return FAULT_NONE;
}

/*
 * Model-name scripting: fail-CODE, flaky-N, slow-MS, redirect, and the
 * faults reset-N, truncate-N and hang-N.
 */
static void
script_model(const char *model, const struct req *r, struct out *o)
{
	const char *dash;
	enum fault f;
	long v;

	if (strncmp(model, "fail-", 5) == 0 &&
	    parse_long(model + 5, 400, 599, &v))
		fail(o, (unsigned int)v, NULL);
	else if (strcmp(model, "redirect") == 0) {
		fail(o, 302, "mock redirect to " REDIRECT_TO);
		o->redirect = true;
	}
	else if (strncmp(model, "slow-", 5) == 0 &&
	    parse_long(model + 5, 0, LATENCY_MAX, &v))
		o->delay_ms += v;
	else if (strncmp(model, "flaky-", 6) == 0 &&
	    parse_long(model + 6, 0, INT32_MAX, &v) &&
	    flaky_fail(flaky_key(r), v))
		fail(o, 500, "mock flaky failure");
	else if ((dash = strchr(model, '-')) != NULL &&
	    (f = fault_name(model, (size_t)(dash - model))) != FAULT_NONE &&
	    parse_long(dash + 1, 0, INT32_MAX, &v) &&
	    flaky_fail(flaky_key(r), v))
		o->fault = f;
}

/*
 * The random errors and faults, in this order, each drawn only when its
 * option is set and no earlier one applied.
 */
static void
inject(struct out *o)
{
	if (opt.rate_429 > 0 && rnd_unit() < opt.rate_429)
		fail(o, 429, "Rate limit reached (injected)");
	else if (opt.fail_rate > 0 && rnd_unit() < opt.fail_rate)
		fail(o, 500, "The server had an error (injected)");
	else if (opt.reset_rate > 0 && rnd_unit() < opt.reset_rate)
		o->fault = FAULT_RESET;
	else if (opt.truncate_rate > 0 && rnd_unit() < opt.truncate_rate)
		o->fault = FAULT_TRUNCATE;
	else if (opt.hang_rate > 0 && rnd_unit() < opt.hang_rate)
		o->fault = FAULT_HANG;
}

static enum api
route(const char *url)
{
	static const struct {
		const char	*path;
		enum api	 api;
	} tab[] = {
		{ "/v1/chat/completions", API_CHAT },
		{ "/v1/completions", API_COMPL },
		{ "/v1/embeddings", API_EMBED },
		{ "/v1/messages", API_MSG },
		{ "/v1/models", API_MODELS },
		{ "/stats", API_STATS },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(url, tab[i].path) == 0)
			return tab[i].api;
	return API_NONE;
}

static void
copy_cid(struct req *r, const char *v)
{
	size_t i;

	if (v == NULL || *v == '\0')
		v = "-";
	/* One token per log line: no blanks or control bytes. */
	for (i = 0; i < CID_MAX && v[i] != '\0'; i++)
		r->cid[i] = (unsigned char)v[i] <= ' ' || v[i] == 0x7f ? '?' :
		    v[i];
	r->cid[i] = '\0';
}

/* Decide status, body and delay for a request whose body is complete. */
static void
decide(struct MHD_Connection *c, struct req *r, const char *url,
    const char *method, struct out *o)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	const char *hv;
	cJSON *in = NULL;
	long v, reset;

	o->api = route(url);
	if ((r->post = strcmp(method, "POST") == 0))
		atomic_fetch_add(&st_req, 1);
	if (o->api == API_NONE) {
		fail(o, 404, "Unknown request URL");
		return;
	}
	if (o->api == API_MODELS || o->api == API_STATS) {
		if (!get)
			fail(o, 405, "Method not allowed");
		else if (o->api == API_MODELS)
			api_models(o);
		else
			api_stats(o);
		return;
	}
	if (!r->post) {
		fail(o, 405, "Method not allowed");
		return;
	}
	copy_cid(r, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Spool-Custom-Id"));
	o->delay_ms = opt.latency;
	if (opt.jitter > 0)
		o->delay_ms += (long)(rnd_unit() * (double)(opt.jitter + 1));
	hv = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Mock-Latency-Ms");
	if (parse_long(hv, 0, LATENCY_MAX, &v))
		o->delay_ms = v;
	if (r->too_big) {
		fail(o, 413, "Request body too large");
		return;
	}
	if (!cc_admit(r)) {
		/* As a provider's concurrency limit does: at once. */
		o->delay_ms = 0;
		fail(o, 429, "Too many concurrent requests");
		return;
	}
	if (opt.rpm > 0 && !rl_check(true, &v, &reset)) {
		o->retry_ms = reset;
		fail(o, 429, "Rate limit reached for requests per minute");
		return;
	}
	hv = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Mock-Status");
	if (parse_long(hv, 400, 599, &v)) {
		fail(o, (unsigned int)v, NULL);
		return;
	}
	if (r->len > 0)
		in = cJSON_ParseWithLength(r->body, r->len);
	if (!cJSON_IsObject(in)) {
		fail(o, 400, "We could not parse the JSON body of your "
		    "request");
		goto out;
	}
	/* The first of these that applies decides; later ones not drawn. */
	hv = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Mock-Fault");
	if (hv != NULL)
		o->fault = fault_name(hv, strlen(hv));
	if (o->fault == FAULT_NONE)
		script_model(req_model(in), r, o);
	if (o->json == NULL && o->fault == FAULT_NONE)
		inject(o);
	if (o->json == NULL && o->api == API_CHAT)
		api_chat(in, o);
	else if (o->json == NULL && o->api == API_COMPL)
		api_compl(in, o);
	else if (o->json == NULL && o->api == API_EMBED)
		api_embed(in, o);
	else if (o->json == NULL)
		api_msg(in, o);
	/* Only an answer that is a success costs tokens. */
	if (opt.tpm > 0 && o->status == 0)
		tpm_admit(o);
	if (o->fault == FAULT_HANG)
		o->delay_ms += HANG_MS;
out:
	cJSON_Delete(in);
}

static void
add_header(struct MHD_Response *resp, const char *k, const char *v)
{
	/* Failing to add a header only loses that header. */
	(void)MHD_add_response_header(resp, k, v);
}

static ssize_t
cut_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	const struct cutbody *cb = cls;
	size_t n;

	/* MHD closes the connection, short of its Content-Length. */
	if (pos >= cb->cut)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = cb->cut - (size_t)pos;
	if (n > max)
		n = max;
	memcpy(buf, cb->txt + pos, n);
	return (ssize_t)n;
}

static void
cut_free(void *cls)
{
	struct cutbody *cb = cls;

	free(cb->txt);
	free(cb);
}

/* A response that announces all of txt but sends half of it; owns txt. */
static struct MHD_Response *
cut_response(char *txt)
{
	struct MHD_Response *resp;
	struct cutbody *cb;

	if ((cb = malloc(sizeof(*cb))) == NULL) {
		free(txt);
		return NULL;
	}
	cb->txt = txt;
	cb->len = strlen(txt);
	cb->cut = cb->len / 2;
	resp = MHD_create_response_from_callback(cb->len, 4096, cut_read, cb,
	    cut_free);
	if (resp == NULL)
		cut_free(cb);
	return resp;
}

static struct MHD_Response *
build_response(const struct out *o)
{
	static char oom[] = "{\"error\":{\"message\":\"out of memory\","
	    "\"type\":\"server_error\",\"param\":null,\"code\":null}}";
	struct MHD_Response *resp;
	char buf[64], *txt;
	long rem, reset, used, peak;

	txt = o->json != NULL ? cJSON_PrintUnformatted(o->json) : NULL;
	if (txt != NULL && o->fault == FAULT_TRUNCATE)
		resp = cut_response(txt);
	else if (txt != NULL) {
		resp = MHD_create_response_from_buffer(strlen(txt), txt,
		    MHD_RESPMEM_MUST_FREE);
		if (resp == NULL)
			free(txt);
	} else
		resp = MHD_create_response_from_buffer(strlen(oom), oom,
		    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return NULL;
	add_header(resp, "Content-Type", "application/json");
	snprintf(buf, sizeof(buf), "req_%016" PRIx64, o->id);
	add_header(resp, "x-request-id", buf);
	if (o->redirect)
		add_header(resp, "Location", REDIRECT_TO);
	if (o->retry_ms >= 0) {
		snprintf(buf, sizeof(buf), "%ld",
		    o->retry_ms > 0 ? (o->retry_ms + 999) / 1000 : 1);
		add_header(resp, "Retry-After", buf);
		snprintf(buf, sizeof(buf), "%ld", o->retry_ms);
		add_header(resp, "retry-after-ms", buf);
	}
	if (opt.rpm > 0) {
		(void)rl_check(false, &rem, &reset);
		snprintf(buf, sizeof(buf), "%ld", opt.rpm);
		add_header(resp, "x-ratelimit-limit-requests", buf);
		snprintf(buf, sizeof(buf), "%ld", rem);
		add_header(resp, "x-ratelimit-remaining-requests", buf);
		fmt_ms(buf, sizeof(buf), reset);
		add_header(resp, "x-ratelimit-reset-requests", buf);
	}
	if (opt.tpm > 0) {
		(void)tk_check(0, &used, &peak, &rem, &reset, NULL);
		snprintf(buf, sizeof(buf), "%ld", opt.tpm);
		add_header(resp, "x-ratelimit-limit-tokens", buf);
		snprintf(buf, sizeof(buf), "%ld", rem);
		add_header(resp, "x-ratelimit-remaining-tokens", buf);
		fmt_ms(buf, sizeof(buf), reset);
		add_header(resp, "x-ratelimit-reset-tokens", buf);
	}
	return resp;
}

static void
log_line(const char *cid, const char *code)
{
	char line[CID_MAX + 32];
	ssize_t w;
	size_t off = 0;
	int n;

	n = snprintf(line, sizeof(line), "%s %s\n", cid, code);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	pthread_mutex_lock(&log_mtx);
	while (off < (size_t)n) {
		w = write(log_fd, line + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	pthread_mutex_unlock(&log_mtx);
}

/*
 * Count and log a POST once its fate is known; 499: client went away,
 * 0: connection reset.  A truncated body is logged as "200-cut", and a
 * hang was logged as "hang" when it began.
 */
static void
account(const struct req *r, unsigned int status)
{
	bool cut = false;
	char code[16];

	if (status == 0)
		atomic_fetch_add(&st_reset, 1);
	else if (status == 499)
		atomic_fetch_add(&st_abort, 1);
	else {
		if ((cut = r->fault == FAULT_TRUNCATE))
			atomic_fetch_add(&st_trunc, 1);
		atomic_fetch_add(&st_resp, 1);
		if (status >= 200 && status < 300)
			atomic_fetch_add(&st_2xx, 1);
		else if (status >= 400 && status < 500)
			atomic_fetch_add(&st_4xx, 1);
		else if (status >= 500)
			atomic_fetch_add(&st_5xx, 1);
		if (status == 429)
			atomic_fetch_add(&st_429, 1);
	}
	if (log_fd == -1 || r->logged)
		return;
	snprintf(code, sizeof(code), "%u%s", status, cut ? "-cut" : "");
	log_line(r->cid, code);
}

static enum MHD_Result
send_reply(struct MHD_Connection *c, struct req *r)
{
	enum MHD_Result ret;

	ret = MHD_queue_response(c, r->status, r->resp);
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	if (r->post)
		account(r, r->status);
	return ret;
}

/* Reset the connection: no response, and an RST rather than a FIN. */
static enum MHD_Result
reset_conn(struct MHD_Connection *c, struct req *r)
{
	const union MHD_ConnectionInfo *ci;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		(void)setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg,
		    sizeof(lg));
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	account(r, 0);
	/* MHD_NO from the access handler makes MHD close the connection. */
	return MHD_NO;
}

/* A hang cut short by shutdown is answered 408. */
static void
hang_release(struct req *r)
{
	struct out o = { .api = r->api, .retry_ms = -1, .id = r->id };
	struct MHD_Response *resp;

	fail(&o, 408, "mock hang released at shutdown");
	resp = build_response(&o);
	cJSON_Delete(o.json);
	if (resp == NULL)
		return;
	MHD_destroy_response(r->resp);
	r->resp = resp;
	r->status = 408;
}

/* Deliver the decided answer, or inflict the decided fault. */
static enum MHD_Result
finish(struct MHD_Connection *c, struct req *r)
{
	if (r->fault == FAULT_RESET)
		return reset_conn(c, r);
	if (r->fault == FAULT_HANG && atomic_load(&stopping))
		hang_release(r);
	return send_reply(c, r);
}

static void
heap_swap(size_t a, size_t b)
{
	struct tentry t = tm.heap[a];

	tm.heap[a] = tm.heap[b];
	tm.heap[b] = t;
}

static struct MHD_Connection *
heap_pop(void)
{
	struct MHD_Connection *c = tm.heap[0].conn;
	size_t i = 0, l, m;

	tm.heap[0] = tm.heap[--tm.n];
	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < tm.n && tm.heap[l].due < tm.heap[m].due)
			m = l;
		if (l + 1 < tm.n && tm.heap[l + 1].due < tm.heap[m].due)
			m = l + 1;
		if (m == i)
			break;
		heap_swap(i, m);
		i = m;
	}
	return c;
}

/*
 * Suspend c until ms from now.  Suspending under tm.mtx orders it before
 * the timer thread can possibly resume it.  Refused once stopping, since
 * MHD must not be stopped with connections suspended.
 */
static bool
timer_add(struct MHD_Connection *c, long ms)
{
	struct tentry *nh;
	size_t i;

	pthread_mutex_lock(&tm.mtx);
	if (tm.stop)
		goto fail;
	if (tm.n == tm.cap) {
		nh = reallocarray(tm.heap, tm.cap ? tm.cap * 2 : 1024,
		    sizeof(*nh));
		if (nh == NULL)
			goto fail;
		tm.heap = nh;
		tm.cap = tm.cap ? tm.cap * 2 : 1024;
	}
	MHD_suspend_connection(c);
	atomic_fetch_add(&n_susp, 1);
	i = tm.n++;
	tm.heap[i].due = now_ns() + (uint64_t)ms * 1000000;
	tm.heap[i].conn = c;
	for (; i > 0 && tm.heap[(i - 1) / 2].due > tm.heap[i].due;
	    i = (i - 1) / 2)
		heap_swap(i, (i - 1) / 2);
	if (i == 0)
		pthread_cond_signal(&tm.cv);
	pthread_mutex_unlock(&tm.mtx);
	return true;
fail:
	pthread_mutex_unlock(&tm.mtx);
	return false;
}

static void *
timer_main(void *arg)
{
	struct MHD_Connection *due[256];
	struct timespec ts;
	size_t i, nd;
	uint64_t now;

	(void)arg;
	pthread_mutex_lock(&tm.mtx);
	while (!tm.stop) {
		if (tm.n == 0) {
			pthread_cond_wait(&tm.cv, &tm.mtx);
			continue;
		}
		now = now_ns();
		if (tm.heap[0].due > now) {
			ts.tv_sec = (time_t)(tm.heap[0].due / 1000000000ULL);
			ts.tv_nsec = (long)(tm.heap[0].due % 1000000000ULL);
			pthread_cond_timedwait(&tm.cv, &tm.mtx, &ts);
			continue;
		}
		for (nd = 0; tm.n > 0 && tm.heap[0].due <= now && nd < 256;)
			due[nd++] = heap_pop();
		/* Resume outside our lock: MHD takes its own locks. */
		pthread_mutex_unlock(&tm.mtx);
		for (i = 0; i < nd; i++)
			MHD_resume_connection(due[i]);
		pthread_mutex_lock(&tm.mtx);
	}
	pthread_mutex_unlock(&tm.mtx);
	return NULL;
}

/* Resume everything still waiting and stop the timer thread. */
static void
timer_stop(void)
{
	int waited;

	/* Before any resume, so that hangs see it and answer 408. */
	atomic_store(&stopping, true);
	pthread_mutex_lock(&tm.mtx);
	tm.stop = true;
	while (tm.n > 0)
		MHD_resume_connection(heap_pop());
	pthread_cond_signal(&tm.cv);
	pthread_mutex_unlock(&tm.mtx);
	pthread_join(tm.thr, NULL);
	/* Let the workers take the resumed connections back in. */
	for (waited = 0; atomic_load(&n_susp) > 0 && waited < 3000; waited++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upsz, void **rcls)
{
	struct req *r = *rcls;
	struct out o = { .retry_ms = -1 };
	size_t ncap;
	char *nb;

	(void)cls;
	(void)version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->cid[0] = '-';
		*rcls = r;
		return MHD_YES;
	}
	if (*upsz != 0) {
		if (!r->too_big && r->len + *upsz > BODY_MAX)
			r->too_big = true;
		if (!r->too_big && r->len + *upsz > r->cap) {
			for (ncap = r->cap ? r->cap : 4096;
			    ncap < r->len + *upsz; ncap *= 2)
				;
			if ((nb = realloc(r->body, ncap)) == NULL)
				return MHD_NO;
			r->body = nb;
			r->cap = ncap;
		}
		if (!r->too_big) {
			memcpy(r->body + r->len, upload, *upsz);
			r->len += *upsz;
		}
		*upsz = 0;
		return MHD_YES;
	}
	if (r->delayed) {
		/* Called again after the timer resumed us. */
		r->delayed = false;
		atomic_fetch_sub(&n_susp, 1);
		return finish(c, r);
	}
	o.id = new_id();
	decide(c, r, url, method, &o);
	r->status = o.status != 0 ? o.status : 200;
	r->api = o.api;
	r->fault = o.fault;
	r->id = o.id;
	if (r->fault == FAULT_HANG) {
		/* Logged now: the client has usually given up by the end. */
		atomic_fetch_add(&st_hang, 1);
		if (log_fd != -1)
			log_line(r->cid, "hang");
		r->logged = true;
	}
	r->resp = build_response(&o);
	cJSON_Delete(o.json);
	if (r->resp == NULL)
		return MHD_NO;
	/* The worker re-enters us only after we return, so this is safe. */
	if ((r->delayed = o.delay_ms > 0 && timer_add(c, o.delay_ms)))
		return MHD_YES;
	return finish(c, r);
}

static void
completed(void *cls, struct MHD_Connection *c, void **rcls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *rcls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	/*
	 * A response built but never queued: the client closed while the
	 * request was delayed, and MHD noticed on resume.
	 */
	if (r->delayed)
		atomic_fetch_sub(&n_susp, 1);
	if (r->busy)
		atomic_fetch_sub(&n_busy, 1);
	if (r->resp != NULL) {
		if (r->post)
			account(r, 499);
		MHD_destroy_response(r->resp);
	}
	free(r->body);
	free(r);
	*rcls = NULL;
}

/* Write "value\n" to path through a temporary file and rename(2). */
static int
write_atomic(const char *path, long value)
{
	char tmp[4096], buf[32];
	int fd, n;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof(tmp))
		return -1;
	n = snprintf(buf, sizeof(buf), "%ld\n", value);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		return -1;
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static double
parse_frac(const char *s, const char *name)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0 && v <= 1)) {
		fprintf(stderr, "spool-mockllm: %s: want a number in 0..1\n",
		    name);
		exit(2);
	}
	return v;
}

static long
need_long(const char *s, long lo, long hi, const char *name)
{
	long v;

	if (!parse_long(s, lo, hi, &v)) {
		fprintf(stderr, "spool-mockllm: %s: want an integer in "
		    "%ld..%ld\n", name, lo, hi);
		exit(2);
	}
	return v;
}

static void __attribute__((noreturn))
usage(int code)
{
	fprintf(code == 0 ? stdout : stderr,
	    "usage: spool-mockllm [-q] [--port N] [--host 127.0.0.1] "
	    "[--portfile FILE]\n"
	    "       [--pidfile FILE] [--threads N] [--latency MS] "
	    "[--latency-jitter MS]\n"
	    "       [--fail-rate F] [--rate-429 F] [--reset-rate F] "
	    "[--truncate-rate F]\n"
	    "       [--hang-rate F] [--rpm N] [--tpm N] [--max-concurrent N]\n"
	    "       [--max-concurrent-for MS] [--rate-window MS] [--seed N]\n"
	    "       [--log FILE]\n"
	    "       [--help] [--version]\n");
	exit(code);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "portfile", required_argument, NULL, 'P' },
		{ "pidfile", required_argument, NULL, 'i' },
		{ "threads", required_argument, NULL, 't' },
		{ "latency", required_argument, NULL, 'l' },
		{ "latency-jitter", required_argument, NULL, 'j' },
		{ "fail-rate", required_argument, NULL, 'f' },
		{ "rate-429", required_argument, NULL, 'r' },
		{ "reset-rate", required_argument, NULL, 'x' },
		{ "truncate-rate", required_argument, NULL, 'c' },
		{ "hang-rate", required_argument, NULL, 'g' },
		{ "rpm", required_argument, NULL, 'R' },
		{ "tpm", required_argument, NULL, 'T' },
		{ "max-concurrent", required_argument, NULL, 'C' },
		{ "max-concurrent-for", required_argument, NULL, 'F' },
		{ "rate-window", required_argument, NULL, 'W' },
		{ "seed", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned long long seed;
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "qhV", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			opt.port = need_long(optarg, 0, 65535, "--port");
			break;
		case 'H':
			if (strcmp(optarg, "127.0.0.1") != 0) {
				fprintf(stderr, "spool-mockllm: --host: only "
				    "127.0.0.1 is supported\n");
				exit(2);
			}
			break;
		case 'P':
			opt.portfile = optarg;
			break;
		case 'i':
			opt.pidfile = optarg;
			break;
		case 't':
			opt.threads = need_long(optarg, 1, 1024, "--threads");
			break;
		case 'l':
			opt.latency = need_long(optarg, 0, LATENCY_MAX,
			    "--latency");
			break;
		case 'j':
			opt.jitter = need_long(optarg, 0, LATENCY_MAX,
			    "--latency-jitter");
			break;
		case 'f':
			opt.fail_rate = parse_frac(optarg, "--fail-rate");
			break;
		case 'r':
			opt.rate_429 = parse_frac(optarg, "--rate-429");
			break;
		case 'x':
			opt.reset_rate = parse_frac(optarg, "--reset-rate");
			break;
		case 'c':
			opt.truncate_rate = parse_frac(optarg,
			    "--truncate-rate");
			break;
		case 'g':
			opt.hang_rate = parse_frac(optarg, "--hang-rate");
			break;
		case 'R':
			opt.rpm = need_long(optarg, 0, RPM_MAX, "--rpm");
			break;
		case 'T':
			opt.tpm = need_long(optarg, 0, TPM_MAX, "--tpm");
			break;
		case 'C':
			opt.max_conc = need_long(optarg, 0, CONC_MAX,
			    "--max-concurrent");
			break;
		case 'F':
			opt.max_conc_for = need_long(optarg, 0, CONC_FOR_MAX,
			    "--max-concurrent-for");
			break;
		case 'W':
			opt.window = need_long(optarg, 1, LATENCY_MAX,
			    "--rate-window");
			break;
		case 's':
			errno = 0;
			seed = strtoull(optarg, &end, 0);
			if (errno != 0 || end == optarg || *end != '\0') {
				fprintf(stderr, "spool-mockllm: --seed: want "
				    "an unsigned integer\n");
				exit(2);
			}
			opt.seed = seed;
			break;
		case 'L':
			opt.logfile = optarg;
			break;
		case 'q':
			opt.quiet = true;
			break;
		case 'h':
			usage(0);
		case 'V':
			puts(MOCK_VERSION);
			exit(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct sigaction sact;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	struct rlimit rlim;
	pthread_condattr_t ca;
	sigset_t set;
	unsigned int flags, port;
	long ncpu;
	int sig;

	parse_args(argc, argv);
	if (opt.threads == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		opt.threads = ncpu > 0 ? (ncpu < 1024 ? ncpu : 1024) : 1;
	}
	id_salt = splitmix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)
	    ^ now_ns());

	/* Thousands of concurrent slow requests need thousands of fds. */
	if (getrlimit(RLIMIT_NOFILE, &rlim) == 0 &&
	    rlim.rlim_cur < rlim.rlim_max) {
		rlim.rlim_cur = rlim.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rlim);
	}

	/* Signals are taken synchronously by sigwait in this thread. */
	memset(&sact, 0, sizeof(sact));
	sact.sa_handler = SIG_IGN;
	sigemptyset(&sact.sa_mask);
	sigaction(SIGPIPE, &sact, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (opt.logfile != NULL && (log_fd = open(opt.logfile,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) == -1) {
		fprintf(stderr, "spool-mockllm: %s: %s\n", opt.logfile,
		    strerror(errno));
		return 1;
	}
	if (opt.rpm > 0 && (rl.ring = calloc((size_t)opt.rpm,
	    sizeof(*rl.ring))) == NULL) {
		fprintf(stderr, "spool-mockllm: out of memory\n");
		return 1;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tm.cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((errno = pthread_create(&tm.thr, NULL, timer_main, NULL)) != 0) {
		fprintf(stderr, "spool-mockllm: pthread_create: %s\n",
		    strerror(errno));
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)opt.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
	if (!opt.quiet)
		flags |= MHD_USE_ERROR_LOG;
	d = MHD_start_daemon(flags, (uint16_t)opt.port, NULL, NULL, handler,
	    NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opt.threads,
	    MHD_OPTION_CONNECTION_LIMIT, 10000U,
	    MHD_OPTION_CONNECTION_TIMEOUT, 120U,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096U,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "spool-mockllm: cannot listen on "
		    "127.0.0.1:%ld\n", opt.port);
		timer_stop();
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port = info != NULL ? info->port : (unsigned int)opt.port;
	if (opt.pidfile != NULL && write_atomic(opt.pidfile,
	    (long)getpid()) == -1)
		fprintf(stderr, "spool-mockllm: %s: %s\n", opt.pidfile,
		    strerror(errno));
	/* The portfile last: its appearance means "ready". */
	if (opt.portfile != NULL && write_atomic(opt.portfile,
	    (long)port) == -1)
		fprintf(stderr, "spool-mockllm: %s: %s\n", opt.portfile,
		    strerror(errno));
	if (!opt.quiet)
		fprintf(stderr, "spool-mockllm: listening on 127.0.0.1:%u\n",
		    port);

	while (sigwait(&set, &sig) != 0)
		;
	timer_stop();
	MHD_stop_daemon(d);
	if (opt.pidfile != NULL)
		unlink(opt.pidfile);
	if (log_fd != -1)
		close(log_fd);
	pthread_cond_destroy(&tm.cv);
	free(tm.heap);
	free(rl.ring);
	free(tk.ring);
	free(fl.keys);
	free(fl.cnt);
	return 0;
}
