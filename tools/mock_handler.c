/*
 * mock_handler - how spool-mockllm answers one HTTP request (see
 * mock_handler.h): route it, decide status, body, delay and fault,
 * build the libmicrohttpd response, then deliver it, at once or when
 * the timer resumes the request, or inflict the fault instead.
 */
#include <sys/socket.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "mock.h"
#include "mock_faults.h"
#include "mock_handler.h"
#include "mock_limits.h"
#include "mock_reply.h"
#include "mock_stats.h"
#include "mock_timer.h"

#define BODY_MAX	(16UL * 1024 * 1024)
#define HANG_MS		120000L

/* The body of a truncated response: only cut of len bytes are sent. */
struct cutbody {
	char		*txt;
	size_t		 len;
	size_t		 cut;
};

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
		atomic_fetch_add(&stats.req, 1);
	if (o->api == API_NONE) {
		reply_fail(o, 404, "Unknown request URL");
		return;
	}
	if (o->api == API_MODELS || o->api == API_STATS) {
		if (!get)
			reply_fail(o, 405, "Method not allowed");
		else if (o->api == API_MODELS)
			reply_models(o);
		else
			stats_reply(o);
		return;
	}
	if (!r->post) {
		reply_fail(o, 405, "Method not allowed");
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
		reply_fail(o, 413, "Request body too large");
		return;
	}
	if (!limits_cc_admit(r)) {
		/* As a provider's concurrency limit does: at once. */
		o->delay_ms = 0;
		reply_fail(o, 429, "Too many concurrent requests");
		return;
	}
	if (opt.rpm > 0 && !limits_rpm_check(true, &v, &reset)) {
		o->retry_ms = reset;
		reply_fail(o, 429,
		    "Rate limit reached for requests per minute");
		return;
	}
	hv = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Mock-Status");
	if (parse_long(hv, 400, 599, &v)) {
		reply_fail(o, (unsigned int)v, NULL);
		return;
	}
	if (r->len > 0)
		in = cJSON_ParseWithLength(r->body, r->len);
	if (!cJSON_IsObject(in)) {
		reply_fail(o, 400, "We could not parse the JSON body of your "
		    "request");
		goto out;
	}
	/* The first of these that applies decides; later ones not drawn. */
	hv = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Mock-Fault");
	if (hv != NULL)
		o->fault = faults_by_name(hv, strlen(hv));
	if (o->fault == FAULT_NONE)
		faults_script_model(req_model(in), r, o);
	if (o->json == NULL && o->fault == FAULT_NONE)
		faults_inject(o);
	if (o->json == NULL && o->api == API_CHAT)
		reply_chat(in, o);
	else if (o->json == NULL && o->api == API_COMPL)
		reply_compl(in, o);
	else if (o->json == NULL && o->api == API_EMBED)
		reply_embed(in, o);
	else if (o->json == NULL)
		reply_msg(in, o);
	/* Only an answer that is a success costs tokens. */
	if (opt.tpm > 0 && o->status == 0)
		limits_tpm_admit(o);
	if (o->fault == FAULT_HANG)
		o->delay_ms += HANG_MS;
out:
	cJSON_Delete(in);
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
	limits_headers(resp);
	return resp;
}

static enum MHD_Result
send_reply(struct MHD_Connection *c, struct req *r)
{
	enum MHD_Result ret;

	ret = MHD_queue_response(c, r->status, r->resp);
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	if (r->post)
		stats_account(r, r->status);
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
	stats_account(r, 0);
	/* MHD_NO from the access handler makes MHD close the connection. */
	return MHD_NO;
}

/* A hang cut short by shutdown is answered 408. */
static void
hang_release(struct req *r)
{
	struct out o = { .api = r->api, .retry_ms = -1, .id = r->id };
	struct MHD_Response *resp;

	reply_fail(&o, 408, "mock hang released at shutdown");
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
	if (r->fault == FAULT_HANG && timer_stopping())
		hang_release(r);
	return send_reply(c, r);
}

enum MHD_Result
handler_request(void *cls, struct MHD_Connection *c, const char *url,
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
		atomic_fetch_sub(&stats.susp, 1);
		return finish(c, r);
	}
	o.id = new_id();
	decide(c, r, url, method, &o);
	r->status = o.status != 0 ? o.status : 200;
	r->api = o.api;
	r->fault = o.fault;
	r->id = o.id;
	if (r->fault == FAULT_HANG)
		stats_account_hang(r);
	r->resp = build_response(&o);
	cJSON_Delete(o.json);
	if (r->resp == NULL)
		return MHD_NO;
	/* The worker re-enters us only after we return, so this is safe. */
	if ((r->delayed = o.delay_ms > 0 && timer_add(c, o.delay_ms)))
		return MHD_YES;
	return finish(c, r);
}

void
handler_completed(void *cls, struct MHD_Connection *c, void **rcls,
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
		atomic_fetch_sub(&stats.susp, 1);
	if (r->busy)
		atomic_fetch_sub(&stats.busy, 1);
	if (r->resp != NULL) {
		if (r->post)
			stats_account(r, 499);
		MHD_destroy_response(r->resp);
	}
	free(r->body);
	free(r);
	*rcls = NULL;
}
