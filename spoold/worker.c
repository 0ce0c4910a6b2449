/*
 * worker - HTTP requests with curl multi_socket on the loop, and runs
 * of exec endpoints' commands (execrun) on the same loop.
 *
 * Lifetime of a transfer: a TASK message creates a struct xfer hung on
 * CURLOPT_PRIVATE; the CURLMSG_DONE branch of check_done() is the single
 * place where it is classified, answered and freed.  A libcurl error
 * fails that transfer only.  A TASK for an exec endpoint creates a
 * struct xrun instead, judged (execresult), answered and freed in
 * on_run_done() alone.  EOF on
 * the channel means the supervisor is gone: the worker exits at once,
 * killing the commands it runs (its in-flight work is re-sent by whoever
 * recovers the spool).
 */
#include <sys/epoll.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "buf.h"
#include "config.h"
#include "execresult.h"
#include "execrun.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "proto.h"
#include "record.h"
#include "util.h"
#include "worker.h"

/* Most words an exec endpoint's command may have (a sanity bound). */
#define WORKER_MAX_ARGV	4096

/*
 * Tasks started per turn of the loop.  curl sends a request when its
 * connect completes, which the loop sees on a later turn: a worker
 * handed a thousand tasks at once used to connect all thousand (50 ms)
 * before it sent the first request, and the endpoint got them in one
 * late burst, whose answers then came back in a burst too.  A few dozen
 * per turn interleave the connects with the sends.
 */
#define WORKER_TASKS_PER_TURN	32

struct wendpoint {
	bool		 set;
	uint32_t	 type;
	uint64_t	 timeout_ms;
	uint64_t	 max_response;
	char		*base_url;
	struct curl_slist *headers;	/* fixed headers: auth, version */
	char		*name;
	char		*ca_file;	/* CA certificates; NULL: system's */
	char		**argv;		/* exec: NULL-terminated */
	uint64_t	 memory_limit;	/* exec: RLIMIT_AS, 0 none */
};

struct xfer {
	CURL		*easy;
	uint64_t	 key;
	char		*custom_id;
	struct curl_slist *headers;
	struct buf	 body;
	uint64_t	 max_response;
	struct http_response resp;
	char		 errbuf[CURL_ERROR_SIZE];
	struct xfer	*prev;		/* the worker's list of transfers */
	struct xfer	*next;
};

/* One request to an exec endpoint: its command running. */
struct xrun {
	struct worker	*w;
	struct execrun	*run;
	uint64_t	 key;
	char		*custom_id;
	struct xrun	*prev;		/* the worker's list of runs */
	struct xrun	*next;
};

struct worker {
	struct loop	*loop;
	CURLM		*multi;
	struct loop_timer *curl_timer;
	struct chan	 chan;
	struct wendpoint endpoints[SPOOL_MAX_ENDPOINTS];
	struct xfer	*xfers;
	struct xrun	*xruns;
	int		 inflight;
	/* Easy handles of finished transfers, for the next ones: no more
	 * than were ever in flight at once. */
	CURL		**spare;
	size_t		 nspare;
	size_t		 capspare;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->body.len + len > x->max_response) {
		x->resp.too_large = 1;
		return 0;	/* aborts the transfer: CURLE_WRITE_ERROR */
	}
	buf_add(&x->body, p, len);
	return len;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;

	http_parse_header(&x->resp, p, size * n);
	return size * n;
}

/* Unlinks x from the worker's list and frees it. */
static void
xfer_free(struct worker *w, struct xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		w->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	if (w->nspare == w->capspare) {
		w->capspare = w->capspare ? w->capspare * 2 : 64;
		w->spare = xreallocarray(w->spare, w->capspare,
		    sizeof(*w->spare));
	}
	w->spare[w->nspare++] = x->easy;
	curl_slist_free_all(x->headers);
	buf_release(&x->body);
	free(x->custom_id);
	free(x);
}

/*
 * Queues a RESULT.  retry_after_ms, remaining and reset_ms are -1 when
 * unknown; they travel +1 so that 0 means unknown.
 */
static void
put_result(struct worker *w, uint64_t key, enum proto_outcome outcome,
    long status, int64_t retry_after_ms, uint64_t tin, uint64_t tout,
    const char *model, int64_t remaining, int64_t reset_ms,
    const struct buf *line)
{
	size_t mark;

	proto_begin(&w->chan.out, PROTO_RESULT, &mark);
	proto_put_u64(&w->chan.out, key);
	proto_put_u32(&w->chan.out, (uint32_t)outcome);
	proto_put_u32(&w->chan.out, (uint32_t)status);
	proto_put_u64(&w->chan.out, (uint64_t)(retry_after_ms + 1));
	proto_put_u64(&w->chan.out, tin);
	proto_put_u64(&w->chan.out, tout);
	proto_put_str(&w->chan.out, model);
	proto_put_u64(&w->chan.out, (uint64_t)(remaining + 1));
	proto_put_u64(&w->chan.out, (uint64_t)(reset_ms + 1));
	proto_put_bytes(&w->chan.out, line->data, line->len);
	proto_end(&w->chan.out, mark);
}

static void
send_result(struct worker *w, struct xfer *x, CURLcode cc)
{
	struct http_verdict v;
	struct buf line = BUF_INIT;
	uint64_t tin = 0, tout = 0;
	char *model = NULL;
	long status = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	x->resp.status = status;
	x->resp.curl_code = x->resp.too_large ? CURLE_OK : (int)cc;
	x->resp.curl_error = x->errbuf;
	x->resp.body = x->body.data;
	x->resp.len = x->body.len;
	http_classify(&x->resp, &v);
	if (v.outcome == OUTCOME_OK) {
		/* One parse serves the usage and the result line. */
		cJSON *parsed = cJSON_ParseWithLength(x->body.data,
		    x->body.len);

		record_usage(parsed, &tin, &tout);
		model = record_model(parsed);
		record_format_parsed(&line, x->custom_id, (int)status,
		    x->resp.request_id, parsed, x->body.data, x->body.len,
		    NULL, NULL);
	} else {
		record_format(&line, x->custom_id,
		    x->resp.too_large ? 0 : (int)status, x->resp.request_id,
		    x->body.data, x->body.len, v.code, v.message);
	}
	put_result(w, x->key, v.outcome, status, v.retry_after_ms, tin, tout,
	    model, x->resp.remaining, x->resp.reset_ms, &line);
	free(model);
	buf_release(&line);
}

static void
check_done(struct worker *w)
{
	struct xfer *x;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&x);
		send_result(w, x, msg->data.result);
		curl_multi_remove_handle(w->multi, x->easy);
		xfer_free(w, x);
		w->inflight--;
	}
}

/* Unlinks r from the worker's list and frees it (killing a command
 * still running). */
static void
xrun_free(struct worker *w, struct xrun *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		w->xruns = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	execrun_free(r->run);
	free(r->custom_id);
	free(r);
}

/* The single place where an exec run is judged, answered and freed. */
static void
on_run_done(struct execrun *run, const struct execrun_status *st,
    void *arg)
{
	struct xrun *r = arg;
	struct worker *w = r->w;
	struct execresult v;
	struct buf body = BUF_INIT, line = BUF_INIT;
	uint64_t tin = 0, tout = 0;
	char *model = NULL;
	cJSON *parsed;

	(void)run;
	execresult_judge(st, &v);
	if (v.outcome == OUTCOME_OK) {
		execresult_format_body(&body, st->out, st->out_len);
		/* A command may report usage like an API does. */
		parsed = cJSON_ParseWithLength(body.data, body.len);
		record_usage(parsed, &tin, &tout);
		model = record_model(parsed);
		record_format_parsed(&line, r->custom_id, v.status, NULL,
		    parsed, body.data, body.len, NULL, NULL);
	} else {
		/* The message may hold lines of stderr: not for the log. */
		log_debug("task=%s exec run failed: %s", r->custom_id,
		    v.code);
		record_format(&line, r->custom_id, 0, NULL, NULL, 0, v.code,
		    v.message);
	}
	put_result(w, r->key, v.outcome, v.status, -1, tin, tout, model, -1,
	    -1, &line);
	free(model);
	execresult_release(&v);
	buf_release(&body);
	buf_release(&line);
	xrun_free(w, r);
	w->inflight--;
}

/*
 * The command's stdin: the request as one line of the OpenAI batch
 * input format, {custom_id, method, url, body}, and a newline.  Lines
 * in the Anthropic format arrive as url /v1/messages, body its params.
 */
static void
exec_input(struct buf *out, const char *custom_id, const char *path,
    const char *body, size_t blen)
{
	cJSON *o;
	char *raw, *s;

	raw = xstrndup(body, blen);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "custom_id", custom_id);
	cJSON_AddStringToObject(o, "method", "POST");
	cJSON_AddStringToObject(o, "url", path);
	/* The body is JSON already: the supervisor printed it. */
	cJSON_AddRawToObject(o, "body", raw);
	s = cJSON_PrintUnformatted(o);
	SPOOL_ASSERT(s != NULL);
	buf_adds(out, s);
	buf_addc(out, '\n');
	cJSON_free(s);
	cJSON_Delete(o);
	free(raw);
}

static void
start_run(struct worker *w, struct wendpoint *e, uint64_t key,
    uint64_t timeout_ms, char *custom_id, const char *path,
    const char *body, size_t blen)
{
	struct execrun_spec spec;
	struct buf input = BUF_INIT;
	struct xrun *r;

	exec_input(&input, custom_id, path, body, blen);
	r = xcalloc(1, sizeof(*r));
	r->w = w;
	r->key = key;
	r->custom_id = custom_id;
	memset(&spec, 0, sizeof(spec));
	spec.argv = e->argv;
	spec.custom_id = custom_id;
	spec.endpoint = e->name;
	spec.input = input.data;
	spec.input_len = input.len;
	spec.timeout_ms = timeout_ms ? timeout_ms : e->timeout_ms;
	spec.max_output = e->max_response;
	spec.memory_limit = e->memory_limit;
	/* Linked first: the run reports from the loop, never from here. */
	r->next = w->xruns;
	if (w->xruns != NULL)
		w->xruns->prev = r;
	w->xruns = r;
	w->inflight++;
	r->run = execrun_start(w->loop, &spec, on_run_done, r);
	buf_release(&input);
}

static void
on_curl_fd(int fd, uint32_t events, void *arg)
{
	struct worker *w = arg;
	int running, action = 0;

	if (events & EPOLLIN)
		action |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		action |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		action |= CURL_CSELECT_ERR;
	curl_multi_socket_action(w->multi, fd, action, &running);
	check_done(w);
}

static void
on_curl_timer(void *arg)
{
	struct worker *w = arg;
	int running;

	curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(w);
}

static int
curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct worker *w = arg;
	uint32_t ev = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		/* Mostly an idle kept-alive connection that the next
		 * request reuses: on_curl_close unregisters it for good. */
		loop_park_fd(w->loop, s);
		curl_multi_assign(w->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (sockp == NULL) {
		if (loop_add_fd(w->loop, s, ev, on_curl_fd, w) == -1)
			log_warn("epoll add curl socket %d", s);
		/* Any non-NULL marker: the socket is registered. */
		curl_multi_assign(w->multi, s, w);
	} else if (loop_mod_fd(w->loop, s, ev) == -1) {
		log_warn("epoll mod curl socket %d", s);
	}
	return 0;
}

/* CURLOPT_CLOSESOCKETFUNCTION: forget a parked socket before it goes. */
static int
on_curl_close(void *arg, curl_socket_t s)
{
	struct worker *w = arg;

	loop_del_fd(w->loop, s);
	return close(s);
}

static int
curl_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct worker *w = arg;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_disarm(w->curl_timer);
	else
		loop_timer_arm(w->curl_timer, (uint64_t)timeout_ms);
	return 0;
}

static void
handle_endpoint(struct worker *w, struct proto_msg *m)
{
	struct wendpoint *e;
	uint32_t idx, type, argc, i;
	uint64_t timeout_ms, max_response, memory_limit;
	char *base = NULL, *h1 = NULL, *h2 = NULL, *name = NULL, **argv;
	char *ca = NULL;

	if (proto_get_u32(m, &idx) == -1 || proto_get_u32(m, &type) == -1 ||
	    proto_get_u64(m, &timeout_ms) == -1 ||
	    proto_get_u64(m, &max_response) == -1 ||
	    proto_get_str(m, &base) == -1 || proto_get_str(m, &h1) == -1 ||
	    proto_get_str(m, &h2) == -1 || proto_get_str(m, &name) == -1 ||
	    proto_get_u64(m, &memory_limit) == -1 ||
	    proto_get_str(m, &ca) == -1 ||
	    proto_get_u32(m, &argc) == -1 || idx >= SPOOL_MAX_ENDPOINTS ||
	    argc > WORKER_MAX_ARGV ||
	    (type == ENDPOINT_EXEC && argc == 0))
		fatalx("protocol error in ENDPOINT message");
	argv = xcalloc((size_t)argc + 1, sizeof(*argv));
	for (i = 0; i < argc; i++)
		if (proto_get_str(m, &argv[i]) == -1)
			fatalx("protocol error in ENDPOINT message");
	if (proto_done(m) == -1)
		fatalx("protocol error in ENDPOINT message");
	e = &w->endpoints[idx];
	free(e->base_url);
	curl_slist_free_all(e->headers);
	free(e->name);
	free(e->ca_file);
	free_argv(e->argv);
	e->set = true;
	e->type = type;
	e->timeout_ms = timeout_ms;
	e->max_response = max_response;
	e->base_url = base;
	e->name = name;
	e->ca_file = ca[0] != '\0' ? ca : NULL;
	if (e->ca_file == NULL)
		free(ca);
	e->memory_limit = memory_limit;
	e->argv = argv;
	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (h1[0] != '\0')
		e->headers = curl_slist_append(e->headers, h1);
	if (h2[0] != '\0')
		e->headers = curl_slist_append(e->headers, h2);
	/* Do not leave the key lying around in freed memory. */
	explicit_bzero(h1, strlen(h1));
	free(h1);
	free(h2);
}

static void
handle_task(struct worker *w, struct proto_msg *m)
{
	struct wendpoint *e;
	struct xfer *x;
	struct curl_slist *sl;
	uint64_t key, timeout_ms;
	uint32_t idx;
	char *custom_id = NULL, *path = NULL, *url, *hdr;
	const char *body;
	size_t blen;

	if (proto_get_u64(m, &key) == -1 || proto_get_u32(m, &idx) == -1 ||
	    proto_get_u64(m, &timeout_ms) == -1 ||
	    proto_get_str(m, &custom_id) == -1 ||
	    proto_get_str(m, &path) == -1 ||
	    proto_get_bytes(m, &body, &blen) == -1 || proto_done(m) == -1 ||
	    idx >= SPOOL_MAX_ENDPOINTS || !w->endpoints[idx].set)
		fatalx("protocol error in TASK message");
	e = &w->endpoints[idx];
	if (e->type == ENDPOINT_EXEC) {
		start_run(w, e, key, timeout_ms, custom_id, path, body, blen);
		free(path);
		return;
	}
	x = xcalloc(1, sizeof(*x));
	x->key = key;
	x->custom_id = custom_id;
	x->max_response = e->max_response;
	buf_init(&x->body);
	http_response_init(&x->resp);
	/* A handle used before keeps its buffers: only its options go. */
	if (w->nspare > 0) {
		x->easy = w->spare[--w->nspare];
		curl_easy_reset(x->easy);
	} else if ((x->easy = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	/* Per-transfer header list: the fixed ones plus our custom_id. */
	for (sl = e->headers; sl != NULL; sl = sl->next)
		x->headers = curl_slist_append(x->headers, sl->data);
	hdr = xasprintf("X-Spool-Custom-Id: %s", custom_id);
	x->headers = curl_slist_append(x->headers, hdr);
	free(hdr);
	url = xasprintf("%s%s", e->base_url, path);
	free(path);
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)blen);
	curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_CLOSESOCKETFUNCTION, on_curl_close);
	curl_easy_setopt(x->easy, CURLOPT_CLOSESOCKETDATA, w);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS,
	    (long)(timeout_ms ? timeout_ms : e->timeout_ms));
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
	/* Never follow a redirect: the host comes from the config only. */
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	/* Another trust store, never less checking (SPEC §7). */
	if (e->ca_file != NULL)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, e->ca_file);
	curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS);
	/*
	 * Waiting for the first connection to learn whether it multiplexes
	 * is worth it only where HTTP/2 can be offered (TLS): over plain
	 * http it holds every other transfer back by a whole response.
	 */
	if (strncasecmp(e->base_url, "https:", 6) == 0)
		curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, 1L);
	if (curl_multi_add_handle(w->multi, x->easy) != CURLM_OK)
		fatalx("curl_multi_add_handle failed");
	x->next = w->xfers;
	if (w->xfers != NULL)
		w->xfers->prev = x;
	w->xfers = x;
	w->inflight++;
}

/* The messages read, up to WORKER_TASKS_PER_TURN tasks; the next turn
 * goes on with the rest. */
static void
handle_messages(struct worker *w)
{
	struct proto_msg m;
	int r, ntasks = 0;

	while (ntasks < WORKER_TASKS_PER_TURN &&
	    (r = chan_next(&w->chan, &m)) != 0) {
		if (r == -1)
			fatalx("protocol error from supervisor");
		switch (m.type) {
		case PROTO_ENDPOINT:
			handle_endpoint(w, &m);
			break;
		case PROTO_TASK:
			handle_task(w, &m);
			ntasks++;
			break;
		case PROTO_RESULT:
			fatalx("protocol error: RESULT from supervisor");
		}
	}
	if (ntasks == WORKER_TASKS_PER_TURN)
		loop_again(w->loop);
}

static void
on_chan(int fd, uint32_t events, void *arg)
{
	struct worker *w = arg;
	int rd;

	(void)fd;
	/* EPOLLOUT: before_sleep, before the loop sleeps again, writes. */
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	rd = chan_read(&w->chan);
	handle_messages(w);
	if (rd <= 0) {
		/* EOF: the supervisor is gone or has drained us. */
		loop_stop(w->loop);
	}
}

/* Before the loop sleeps: the tasks left from the last turn, and the
 * results of a whole turn in one write. */
static void
before_sleep(void *arg)
{
	struct worker *w = arg;

	handle_messages(w);
	if (chan_flush(&w->chan) == -1)
		fatal("write to supervisor");
	loop_mod_fd(w->loop, w->chan.fd,
	    EPOLLIN | (chan_pending(&w->chan) ? EPOLLOUT : 0));
}

int
worker_main(int fd)
{
	struct worker w;
	struct sigaction sa;
	int i;

	memset(&w, 0, sizeof(w));
	/* Ctrl-C reaches the whole group: the supervisor drains us. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	if ((w.loop = loop_new()) == NULL)
		fatal("epoll_create");
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	chan_init(&w.chan, fd);
	w.multi = curl_multi_init();
	w.curl_timer = loop_timer_new(w.loop, on_curl_timer, &w);
	curl_multi_setopt(w.multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(w.multi, CURLMOPT_SOCKETDATA, &w);
	curl_multi_setopt(w.multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(w.multi, CURLMOPT_TIMERDATA, &w);
	curl_multi_setopt(w.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	curl_multi_setopt(w.multi, CURLMOPT_MAXCONNECTS, 10000L);
	curl_multi_setopt(w.multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_MULTIPLEX);
	/*
	 * As many HTTP/2 streams on a connection as the server allows
	 * (curl keeps to its SETTINGS), not curl's own 100: a transfer
	 * that finds every connection full opens a connection of its own.
	 */
	curl_multi_setopt(w.multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 1000L);
	if (loop_add_fd(w.loop, fd, EPOLLIN, on_chan, &w) == -1)
		fatal("epoll add channel");
	loop_set_before_sleep(w.loop, before_sleep, &w);
	if (loop_run(w.loop) == -1)
		fatal("epoll_wait");
	log_debug("supervisor gone, exiting with %d in flight", w.inflight);
	/* Abandon in-flight transfers: the supervisor re-sends them. */
	while (w.xfers != NULL) {
		curl_multi_remove_handle(w.multi, w.xfers->easy);
		xfer_free(&w, w.xfers);
	}
	/* And kill the commands running: nobody waits for their output. */
	while (w.xruns != NULL)
		xrun_free(&w, w.xruns);
	while (w.nspare > 0)
		curl_easy_cleanup(w.spare[--w.nspare]);
	free(w.spare);
	curl_multi_cleanup(w.multi);
	loop_timer_free(w.curl_timer);
	loop_free(w.loop);
	chan_close(&w.chan);
	for (i = 0; i < SPOOL_MAX_ENDPOINTS; i++) {
		free(w.endpoints[i].base_url);
		curl_slist_free_all(w.endpoints[i].headers);
		free(w.endpoints[i].name);
		free(w.endpoints[i].ca_file);
		free_argv(w.endpoints[i].argv);
	}
	curl_global_cleanup();
	return 0;
}
