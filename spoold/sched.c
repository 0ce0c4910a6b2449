/*
 * sched - scheduling.  Requests waiting to be retried sit in a min-heap
 * by due time behind one loop timer; fresh requests come from the open
 * batches in round-robin, one at a time, so a huge batch does not starve
 * a small one.  A request is "in flight" from dispatch until its result
 * is journaled or it is back in the retry heap; batch->inflight counts
 * both.  Endpoints are paused when down and admitted by their rate
 * limiter.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "prices.h"
#include "proto.h"
#include "ratelimit.h"
#include "record.h"
#include "sup.h"
#include "util.h"

/* --- retry heap ---------------------------------------------------- */

static void
heap_push(struct sup *s, const struct retry *r)
{
	size_t i, p;
	struct retry tmp;

	if (s->nheap == s->heapcap) {
		s->heapcap = s->heapcap ? s->heapcap * 2 : 256;
		s->heap = xreallocarray(s->heap, s->heapcap, sizeof(*s->heap));
	}
	i = s->nheap++;
	s->heap[i] = *r;
	while (i > 0) {
		p = (i - 1) / 2;
		if (s->heap[p].due <= s->heap[i].due)
			break;
		tmp = s->heap[p];
		s->heap[p] = s->heap[i];
		s->heap[i] = tmp;
		i = p;
	}
	loop_timer_arm_sooner(s->retry_timer, r->due > now_ms() ?
	    r->due - now_ms() : 0);
}

static void
heap_pop(struct sup *s, struct retry *out)
{
	size_t i = 0, l, r, m;
	struct retry tmp;

	*out = s->heap[0];
	s->heap[0] = s->heap[--s->nheap];
	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < s->nheap && s->heap[l].due < s->heap[m].due)
			m = l;
		if (r < s->nheap && s->heap[r].due < s->heap[m].due)
			m = r;
		if (m == i)
			break;
		tmp = s->heap[m];
		s->heap[m] = s->heap[i];
		s->heap[i] = tmp;
		i = m;
	}
}

/* Exponential backoff with full jitter: uniform in [0, min(max, b*2^n)]. */
static uint64_t
backoff_ms(const struct config *cfg, uint32_t attempt)
{
	uint64_t cap = cfg->backoff_base_ms, r;

	while (attempt-- > 1 && cap < cfg->backoff_max_ms)
		cap *= 2;
	if (cap > cfg->backoff_max_ms)
		cap = cfg->backoff_max_ms;
	random_bytes(&r, sizeof(r));
	return cap == 0 ? 0 : r % (cap + 1);
}

/* --- dispatch ------------------------------------------------------ */

static int
slot_alloc(struct sup *s)
{
	size_t i;

	if (s->nfree > 0)
		return (int)s->free_slots[--s->nfree];
	i = s->nslots++;
	s->slots = xreallocarray(s->slots, s->nslots, sizeof(*s->slots));
	s->free_slots = xreallocarray(s->free_slots, s->nslots,
	    sizeof(*s->free_slots));
	memset(&s->slots[i], 0, sizeof(s->slots[i]));
	return (int)i;
}

static void
slot_release(struct sup *s, int i)
{
	struct slot *sl = &s->slots[i];

	free(sl->custom_id);
	sl->custom_id = NULL;
	sl->used = false;
	sl->gen++;
	s->free_slots[s->nfree++] = (uint32_t)i;
}

/* The least loaded live worker with room, or -1. */
static int
pick_worker(struct sup *s)
{
	int i, best = -1;

	for (i = 0; i < pool_size(s->pool); i++) {
		if (!pool_alive(s->pool, i) ||
		    (uint64_t)s->worker_load[i] >= s->cfg->inflight)
			continue;
		if (best == -1 || s->worker_load[i] < s->worker_load[best])
			best = i;
	}
	return best;
}

/*
 * Has b spent its budget?  Then it is stopped: what is in flight
 * finishes, the rest is reported as cancelled.  Checked as results come
 * in, and before dispatch (a restart recomputes the spend from the
 * journal, so a batch that had reached it stays stopped).
 */
static bool
over_budget(struct sup *s, struct batch *b)
{
	if (s->cfg->budget <= 0 || b->stop_code != NULL ||
	    batch_spent(b) < s->cfg->budget)
		return false;
	log_warnx("batch=%s spent %.6g %s of its budget of %g: stopping it",
	    b->id, batch_spent(b), prices_currency(s->cfg->prices),
	    s->cfg->budget);
	b->stop_reason = "budget";
	stop_batch(s, b, "batch_cancelled", "cancelled");
	return true;
}

/* The next request to send: a due retry first, then round-robin. */
static bool
pick_request(struct sup *s, struct batch **bp, struct req_ref *ref)
{
	struct retry r;
	struct batch *b, *start;

	while (s->nheap > 0 && s->heap[0].due <= now_ms()) {
		heap_pop(s, &r);
		if (r.b->held) {
			/* Looked at again when the hold may be over. */
			r.due = now_ms() + HOLD_CHECK_MS;
			heap_push(s, &r);
			break;
		}
		*bp = r.b;
		*ref = r.ref;
		return true;
	}
	if (s->batches == NULL)
		return false;
	start = s->rr != NULL ? s->rr : s->batches;
	b = start;
	do {
		struct batch *next = b->next != NULL ? b->next : s->batches;

		if (b->state == BATCH_RUNNING && !over_budget(s, b) &&
		    b->stop_code == NULL && !b->held &&
		    b->blocked_until_ms <= now_ms() &&
		    batch_next(b, s->lim.max_line, ref)) {
			b->inflight++;
			s->rr = next;
			*bp = b;
			return true;
		}
		b = next;
	} while (b != start);
	return false;
}

/* A request that cannot be sent is journaled as failed right away. */
static void
record_failure(struct batch *b, uint64_t ordinal,
    const char *custom_id, const struct err *err)
{
	struct buf line = BUF_INIT;

	char stem[SPOOL_NAME_MAX + 1];

	/* A loose request's custom_id defaults to its file's stem. */
	if (custom_id == NULL && b->kind == BATCH_LOOSE &&
	    ordinal < b->nmembers &&
	    spool_name_strip(b->members[ordinal], stem, sizeof(stem)) == 0)
		custom_id = stem;
	record_format(&line, custom_id != NULL ? custom_id : "unknown", 0,
	    NULL, NULL, 0, err->code, err->msg);
	batch_record(b, ordinal, false, line.data, line.len, NULL, custom_id);
	buf_release(&line);
	b->inflight--;
}

static void
ep_pause(struct sup *s, int ep, const char *why)
{
	struct epstate *e = &s->ep[ep];

	e->pause_ms = e->pause_ms == 0 ? EP_PAUSE_MIN_MS :
	    e->pause_ms * 2 > EP_PAUSE_MAX_MS ? EP_PAUSE_MAX_MS :
	    e->pause_ms * 2;
	e->paused_until = now_ms() + e->pause_ms;
	e->probing = false;
	e->failures = 0;
	stats_pause(s, ep);
	log_warnx("endpoint %s paused for %llu ms: %s; its requests wait",
	    s->cfg->endpoints[ep].name, (unsigned long long)e->pause_ms, why);
}

/*
 * Pauses ep after a result that says it is down (outcome
 * ENDPOINT_DOWN), saying why: the operator has to act on a rejected
 * key or an untrusted certificate, and only the transfer's message
 * tells a refused connection from the latter.
 */
static void
ep_pause_down(struct sup *s, int ep, uint32_t status, const char *line,
    size_t len)
{
	char why[256];
	cJSON *root;
	const cJSON *msg;

	if (status == 401 || status == 403) {
		ep_pause(s, ep, "credentials rejected");
		return;
	}
	if (s->cfg->endpoints[ep].type == ENDPOINT_EXEC) {
		ep_pause(s, ep, "cannot run its command");
		return;
	}
	root = cJSON_ParseWithLength(line, len);
	msg = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "error"), "message");
	if (cJSON_IsString(msg) && msg->valuestring[0] != '\0')
		snprintf(why, sizeof(why), "cannot connect (%s)",
		    msg->valuestring);
	else
		snprintf(why, sizeof(why), "cannot connect");
	cJSON_Delete(root);
	ep_pause(s, ep, why);
}

static void
ep_ok(struct sup *s, int ep)
{
	struct epstate *e = &s->ep[ep];

	if (e->pause_ms > 0)
		log_info("endpoint %s is back", s->cfg->endpoints[ep].name);
	e->pause_ms = 0;
	e->paused_until = 0;
	e->probing = false;
	e->failures = 0;
}

/* May a request go to ep now?  Otherwise until when to wait. */
static bool
ep_open(struct sup *s, int ep, uint64_t *until)
{
	struct epstate *e = &s->ep[ep];
	uint64_t now = now_ms();

	if (e->paused_until > now) {
		*until = e->paused_until;
		return false;
	}
	if (e->paused_until != 0) {
		/* The pause is over: let one probe through. */
		e->paused_until = 0;
		e->probing = true;
	}
	if (e->probing && s->ep_load[ep] > 0) {
		*until = now + 200;
		return false;
	}
	return true;
}

/*
 * Wakes the loop when the earliest retry is due; dispatch() (before the
 * loop sleeps) takes it.  A due retry that finds no free worker needs no
 * timer: the next result frees one and runs dispatch() again.
 */
static void
arm_retry_timer(struct sup *s)
{
	uint64_t now = now_ms();

	if (s->nheap > 0 && s->heap[0].due > now)
		loop_timer_arm(s->retry_timer, s->heap[0].due - now);
}

/*
 * Has any endpoint room in its window?  When none has, a request taken
 * now could only wait in the retry heap (50 ms, ratelimit_take) while
 * the results that free places come in: dispatch stops instead, and
 * the next result brings it back.
 */
static bool
any_window_open(struct sup *s)
{
	int ep;

	for (ep = 0; ep < s->cfg->nendpoints; ep++)
		if (!ratelimit_window_full(&s->rl[ep], s->ep_load[ep]))
			return true;
	return false;
}

void
dispatch(struct sup *s)
{
	struct batch *b;
	struct req_ref ref;
	struct task t;
	struct err err;
	struct slot *sl;
	struct buf *out;
	char *body;
	size_t mark;
	int w, i, ep, budget = 4096;
	uint64_t until, tokens, wait;

	if (s->draining || !s->sched_open)
		return;
	while (budget-- > 0 && (w = pick_worker(s)) != -1 &&
	    any_window_open(s)) {
		if (!pick_request(s, &b, &ref))
			break;
		if (batch_read_task(b, &ref, &s->lim, &t, &err) == -1) {
			if (strcmp(err.code, "io_error") == 0) {
				/* The disk, not the request: try later. */
				struct retry r = { now_ms() + 1000, b, ref };

				log_warnx("batch=%s %s; will retry", b->id,
				    err.msg);
				heap_push(s, &r);
				continue;
			}
			record_failure(b, ref.ordinal, NULL, &err);
			continue;
		}
		ep = config_route(s->cfg, t.endpoint,
		    t.format == TASK_FORMAT_ANTHROPIC);
		if (ep == -1) {
			err_set(&err, "invalid_request", "unknown endpoint");
			record_failure(b, ref.ordinal, t.custom_id, &err);
			task_release(&t);
			continue;
		}
		if (!ep_open(s, ep, &until)) {
			/* Hold it, and its batch, until the endpoint is back
			 * (a batch mostly uses one endpoint). */
			struct retry r = { until, b, ref };

			heap_push(s, &r);
			b->blocked_until_ms = until;
			task_release(&t);
			continue;
		}
		body = cJSON_PrintUnformatted(t.body);
		/* The task is parsed already: no second parse for this. */
		tokens = ratelimit_estimate(strlen(body), task_max_tokens(&t));
		if (!ratelimit_take(&s->rl[ep], tokens, s->ep_load[ep],
		    now_ms(), &wait)) {
			/* Over its rpm, tpm or window: wait for budget. */
			struct retry r = { now_ms() + wait, b, ref };

			heap_push(s, &r);
			b->blocked_until_ms = r.due;
			cJSON_free(body);
			task_release(&t);
			continue;
		}
		if (ref.attempt == 0)
			ref.attempt = batch_attempts(b, ref.ordinal);
		i = slot_alloc(s);
		sl = &s->slots[i];
		sl->used = true;
		sl->b = b;
		sl->ref = ref;
		sl->ref.attempt++;
		sl->worker = w;
		sl->endpoint = ep;
		sl->max_attempts = t.max_attempts > 0 ?
		    (uint32_t)t.max_attempts : (uint32_t)s->cfg->max_attempts;
		sl->custom_id = xstrdup(t.custom_id);
		sl->tokens = tokens;
		sl->sent_ms = now_ms();
		out = pool_out(s->pool, w);
		proto_begin(out, PROTO_TASK, &mark);
		proto_put_u64(out, (uint64_t)sl->gen << 32 | (uint32_t)i);
		proto_put_u32(out, (uint32_t)ep);
		proto_put_u64(out, t.timeout_s > 0 ?
		    (uint64_t)t.timeout_s * 1000 : 0);
		proto_put_str(out, t.custom_id);
		proto_put_str(out, t.url);
		proto_put_bytes(out, body, strlen(body));
		proto_end(out, mark);
		cJSON_free(body);
		task_release(&t);
		s->worker_load[w]++;
		s->ep_load[ep]++;
		s->inflight++;
	}
	arm_retry_timer(s);
}

void
on_retry_timer(void *arg)
{
	(void)arg;
}

/* --- results ------------------------------------------------------- */

static void
on_result(struct sup *s, int widx, struct proto_msg *m)
{
	uint64_t key, retry_after, tin, tout, remaining, reset;
	uint32_t outcome, status, idx;
	const char *line, *mp;
	size_t len, mlen;
	struct slot *sl;
	struct batch *b;
	struct req_usage u;
	char model[SPOOL_MODEL_MAX + 1];

	if (proto_get_u64(m, &key) == -1 || proto_get_u32(m, &outcome) == -1 ||
	    proto_get_u32(m, &status) == -1 ||
	    proto_get_u64(m, &retry_after) == -1 ||
	    proto_get_u64(m, &tin) == -1 || proto_get_u64(m, &tout) == -1 ||
	    proto_get_bytes(m, &mp, &mlen) == -1 || mlen > SPOOL_MODEL_MAX ||
	    proto_get_u64(m, &remaining) == -1 ||
	    proto_get_u64(m, &reset) == -1 ||
	    proto_get_bytes(m, &line, &len) == -1 || proto_done(m) == -1) {
		log_warnx("worker %d: malformed RESULT", widx);
		return;
	}
	idx = (uint32_t)key;
	if (idx >= s->nslots || !s->slots[idx].used ||
	    s->slots[idx].gen != (uint32_t)(key >> 32) ||
	    s->slots[idx].worker != widx) {
		log_warnx("worker %d: RESULT for unknown task", widx);
		return;
	}
	sl = &s->slots[idx];
	b = sl->b;
	stats_result(s, sl->endpoint, status, now_ms() - sl->sent_ms, tin,
	    tout);
	s->worker_load[widx]--;
	s->ep_load[sl->endpoint]--;
	s->inflight--;
	if (b == NULL) {	/* its batch was given up */
		slot_release(s, (int)idx);
		return;
	}
	if (outcome == OUTCOME_ENDPOINT_DOWN && b->stop_code == NULL) {
		struct retry r;

		/* Not the request's fault: the attempt is given back. */
		if (s->ep[sl->endpoint].paused_until == 0)
			ep_pause_down(s, sl->endpoint, status, line, len);
		r.b = b;
		r.ref = sl->ref;
		r.ref.attempt--;
		r.due = s->ep[sl->endpoint].paused_until;
		heap_push(s, &r);
		slot_release(s, (int)idx);
		return;
	}
	if (outcome == OUTCOME_OK) {
		ep_ok(s, sl->endpoint);
		ratelimit_on_success(&s->rl[sl->endpoint]);
		ratelimit_correct(&s->rl[sl->endpoint],
		    (int64_t)(tin + tout) - (int64_t)sl->tokens);
	} else if (status == 429) {
		ratelimit_on_429(&s->rl[sl->endpoint], s->ep_load[sl->endpoint],
		    now_ms());
	}
	/* The provider says its budget is spent: wait for its reset. */
	if (remaining == 1 && reset > 1)
		ratelimit_hold(&s->rl[sl->endpoint], now_ms() + reset - 1);
	/* A 429 burst is the window's to absorb while it can narrow. */
	if (outcome == OUTCOME_RETRY && (status != 429 ||
	    !ratelimit_can_narrow(&s->rl[sl->endpoint])) &&
	    ++s->ep[sl->endpoint].failures >= EP_FAILURES_PAUSE)
		ep_pause(s, sl->endpoint, "too many failures in a row");
	if (outcome == OUTCOME_RETRY && sl->ref.attempt < sl->max_attempts &&
	    b->stop_code == NULL) {
		struct retry r;

		r.b = b;
		r.ref = sl->ref;
		r.due = now_ms() + (retry_after > 0 ? retry_after - 1 :
		    backoff_ms(s->cfg, sl->ref.attempt));
		log_debug("batch=%s task=%s attempt %u failed (HTTP %u); "
		    "retrying", b->id, sl->custom_id, sl->ref.attempt, status);
		batch_note_attempt(b, sl->ref.ordinal, sl->ref.attempt);
		stats_retry(s, sl->endpoint);
		heap_push(s, &r);
		slot_release(s, (int)idx);
		return;
	}
	memcpy(model, mp, mlen);
	model[mlen] = '\0';
	u.tokens_in = tin;
	u.tokens_out = tout;
	batch_price(s->cfg, mlen > 0 ? model : NULL, &u);
	if (u.cost > 0)
		stats_cost(s, sl->endpoint, u.cost);
	batch_record(b, sl->ref.ordinal, outcome == OUTCOME_OK, line, len,
	    &u, sl->custom_id);
	b->inflight--;
	slot_release(s, (int)idx);
	over_budget(s, b);
}

void
on_worker_msg(int idx, struct proto_msg *m, void *arg)
{
	struct sup *s = arg;

	if (m->type != PROTO_RESULT) {
		log_warnx("worker %d: unexpected message %d", idx, m->type);
		return;
	}
	on_result(s, idx, m);
}

/* A worker died: its in-flight requests go back, attempt not spent. */
void
on_worker_lost(int idx, void *arg)
{
	struct sup *s = arg;
	struct retry r;
	size_t i;
	int n = 0;

	for (i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];

		if (!sl->used || sl->worker != idx)
			continue;
		if (sl->b == NULL) {
			s->ep_load[sl->endpoint]--;
			s->inflight--;
			slot_release(s, (int)i);
			continue;
		}
		r.b = sl->b;
		r.ref = sl->ref;
		r.ref.attempt--;
		r.due = now_ms();
		heap_push(s, &r);
		s->ep_load[sl->endpoint]--;
		s->inflight--;
		slot_release(s, (int)i);
		n++;
	}
	s->worker_load[idx] = 0;
	if (n > 0)
		log_warnx("worker %d lost with %d requests in flight; "
		    "re-queued", idx, n);
}

/* A fresh worker: no load, and it needs the endpoints. */
void
on_worker_ready(struct pool *pool, int idx, void *arg)
{
	struct sup *s = arg;

	s->worker_load[idx] = 0;
	send_endpoints(s, pool, idx);
}

/* Sends the endpoints (with their credentials) to worker idx. */
void
send_endpoints(struct sup *s, struct pool *pool, int idx)
{
	struct buf *out = pool_out(pool, idx);
	const struct endpoint_config *e;
	char *h1, *h2, *key;
	size_t mark;
	uint32_t argc, j;
	int i;

	for (i = 0; i < s->cfg->nendpoints; i++) {
		e = &s->cfg->endpoints[i];
		key = NULL;
		if (e->api_key_env != NULL || e->api_key_file != NULL) {
			struct err err;

			/* Checked at the start; a key file changed since is
			 * reported, and the endpoint goes without. */
			if ((key = config_endpoint_key(e, &err)) == NULL &&
			    e->api_key_file != NULL)
				log_warnx("%s", err.msg);
		}
		h1 = h2 = NULL;
		if (e->type == ENDPOINT_ANTHROPIC) {
			if (key != NULL)
				h1 = xasprintf("x-api-key: %s", key);
			h2 = xstrdup("anthropic-version: 2023-06-01");
		} else if (key != NULL) {
			h1 = xasprintf("Authorization: Bearer %s", key);
		}
		proto_begin(out, PROTO_ENDPOINT, &mark);
		proto_put_u32(out, (uint32_t)i);
		proto_put_u32(out, (uint32_t)e->type);
		proto_put_u64(out, e->timeout_ms);
		proto_put_u64(out, s->cfg->max_response_bytes);
		proto_put_str(out, e->base_url);
		proto_put_str(out, h1);
		proto_put_str(out, h2);
		proto_put_str(out, e->name);
		proto_put_u64(out, e->memory_limit);
		proto_put_str(out, e->ca_file != NULL ? e->ca_file : "");
		for (argc = 0; e->argv != NULL && e->argv[argc] != NULL;
		    argc++)
			;
		/* Only exec endpoints run a command. */
		if (e->type != ENDPOINT_EXEC)
			argc = 0;
		proto_put_u32(out, argc);
		for (j = 0; j < argc; j++)
			proto_put_str(out, e->argv[j]);
		proto_end(out, mark);
		if (h1 != NULL)
			explicit_bzero(h1, strlen(h1));
		if (key != NULL)
			explicit_bzero(key, strlen(key));
		free(key);
		free(h1);
		free(h2);
	}
	pool_flush(pool, idx);
}

/*
 * Takes b's requests out of the retry heap.  With stop set they are
 * reported as b->stop_code; otherwise (the batch was given up) dropped.
 */
void
purge_heap(struct sup *s, struct batch *b, bool stop)
{
	struct retry *old = s->heap, r;
	struct buf line = BUF_INIT;
	struct task t;
	struct err err;
	size_t i, n = s->nheap;

	s->heap = NULL;
	s->nheap = s->heapcap = 0;
	for (i = 0; i < n; i++) {
		if (old[i].b != b) {
			heap_push(s, &old[i]);
			continue;
		}
		r = old[i];
		b->inflight--;
		if (!stop)
			continue;
		if (batch_read_task(b, &r.ref, &s->lim, &t, &err) == 0) {
			buf_reset(&line);
			record_format(&line, t.custom_id, 0, NULL, NULL, 0,
			    b->stop_code, "not executed: the batch was "
			    "stopped before its retry");
			batch_record(b, r.ref.ordinal, false, line.data,
			    line.len, NULL, t.custom_id);
			task_release(&t);
		}
	}
	free(old);
	buf_release(&line);
}

/* Another instance holds b now: let go of it without writing more. */
static void
abandon(struct sup *s, struct batch *b)
{
	size_t i;

	log_warnx("batch=%s lease lost to another instance; letting it go",
	    b->id);
	purge_heap(s, b, false);
	for (i = 0; i < s->nslots; i++)
		if (s->slots[i].used && s->slots[i].b == b)
			s->slots[i].b = NULL;	/* its result is dropped */
	batch_unlink(s, b);
	batch_free(b);
}

void
on_lease_timer(void *arg)
{
	struct sup *s = arg;
	struct batch *b, *next;
	struct lease l;
	time_t now = time(NULL);

	for (b = s->batches; b != NULL; b = next) {
		next = b->next;
		if (now_ms() - b->lease_renewed_ms < s->cfg->lease_ms / 3)
			goto expiry;
		l = s->me;
		l.expires_ms = wall_ms() + s->cfg->lease_ms;
		l.created_s = (uint64_t)b->created_at;
		if (lease_renew(spool_dirfd(s->sp, SPOOL_PROCESSING),
		    b->input_name, &l) == -1) {
			if (errno == ESTALE && b->state == BATCH_RUNNING) {
				abandon(s, b);
				continue;
			}
			log_warn("batch=%s renew lease", b->id);
		} else {
			b->lease_renewed_ms = now_ms();
		}
expiry:
		if (b->state == BATCH_RUNNING && b->stop_code == NULL &&
		    now >= b->created_at +
		    (time_t)(s->cfg->completion_window_ms / 1000))
			stop_batch(s, b, "batch_expired", "expired");
	}
	loop_timer_arm(s->lease_timer, s->cfg->lease_ms / 3 > 1000 ? 1000 :
	    s->cfg->lease_ms / 3);
}
