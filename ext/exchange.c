#include "exchange.h"

#include <stdio.h>
#include <stdlib.h>

#include "debug.h"
#include "decompress.h"
#include "hosts.h"
#include "conn.h"
#include "loop.h"
#include "native_scan.h"
#include "pool.h"

#define DRAIN_SECONDS 0.05 /* also bounds how long a new query may wait for the connection */
/* A KILL QUERY ... ASYNC answers at once on a healthy server: one that does not
 * answer within this (queue, connect and answer) is given up. */
#define KILL_SECONDS 3.0
/* A kill can overtake its query (sent on another connection before the server
 * registered the query): one that matched nothing is sent again after 0.1, 0.2, 0.4 s,
 * for queries the server had not answered yet. */
#define KILL_RESENDS 3

static void queue_kill(chb_pool *p, chb_msg *msg, const chb_timeouts *to, const char *query_id, int resends,
                       double delay);
static void park_kills(chb_pool *p, chb_request *failed, int queued_too);
static void resend_parked(chb_pool *p);
static void watch_silence(chb_request *r);

/* k on its pool's kill budget; a full queue failed it, and its life ends here. */
static void submit_kill(chb_request *k, int front) {
    if (chb_pool_submit_kill(k->pool, k, front) != 0) chb_req_engine_done(k);
}

/* The drain of an abandoned result is over (done, failed or killed): requests that
 * waited for its connection may open their own. */
static void stop_draining(chb_request *r) {
    if (!r->drain.counted) return;
    r->drain.counted = 0;
    r->pool->draining--;
    chb_pool_kick(r->pool);
}

void chb_req_engine_done(chb_request *r) {
    CHB_INVARIANT(r->conn == NULL && !r->engine_finished);
    if (r->timer) { event_free(r->timer); r->timer = NULL; }
    if (r->wait_timer) { event_free(r->wait_timer); r->wait_timer = NULL; }
    if (r->framing.scanner) { nd_scanner_free(r->framing.scanner); r->framing.scanner = NULL; }
    if (r->inflate.dc) { dc_free(r->inflate.dc); r->inflate.dc = NULL; }
    chb_buf_free(&r->framing.body);
    chb_buf_free(&r->framing.errbody);
    stop_draining(r);
    if (r->probe_timer) { event_free(r->probe_timer); r->probe_timer = NULL; }
    chb_pool *p = r->pool;
    if (r->is_ping) { /* never resent nor parked: a verdict on the host */
        if (chb_hosts_ping_done(r)) resend_parked(p); /* parked kills may go now */
    }
    else if (r->is_kill && r->kill.resends > 0) {
        pthread_mutex_lock(&r->mu);
        int matched_nothing = r->state == REQ_DONE && r->raw.len == 0;
        pthread_mutex_unlock(&r->mu);
        if (matched_nothing)
            queue_kill(p, &r->msg, &r->to, r->query_id, r->kill.resends - 1,
                       0.1 * (1 << (KILL_RESENDS - r->kill.resends)));
    }
    if (r->is_kill && !r->is_ping) {
        /* A kill that could not connect, got no answer or no kill connection in time:
         * the server looks unreachable; the kill is parked until it answers. */
        pthread_mutex_lock(&r->mu);
        chb_req_state state = r->state;
        chb_err_kind err = state == REQ_FAILED ? r->err : ERR_NONE;
        pthread_mutex_unlock(&r->mu);
        if (r->kill.probe) p->kill_probing = 0;
        if (err == ERR_CONNECT || err == ERR_TIMEOUT || err == ERR_NETWORK || err == ERR_POOL_TIMEOUT)
            park_kills(p, r, err != ERR_POOL_TIMEOUT);
        else if (state == REQ_DONE)
            resend_parked(p);
    }
    if (r->is_check) chb_hosts_check_done(r);
    r->engine_finished = 1;
    chb_hostset *hs = r->hosts;
    r->hosts = NULL;
    chb_req_decref(r);
    chb_pool_unref(p); /* the request's reference: frees nothing before a linger */
    if (hs) chb_hosts_unref(hs);
}

static void query_timeout_cb(evutil_socket_t fd, short what, void *arg);

static void arm_query_timer(chb_request *r) {
    if (r->query_timeout <= 0) return;
    r->timer = evtimer_new(chb_loop_base(), query_timeout_cb, r);
    if (r->timer) {
        struct timeval tv = chb_tv(r->query_timeout);
        evtimer_add(r->timer, &tv);
    }
}

static void delayed_kill_cb(evutil_socket_t fd, short what, void *arg) {
    chb_request *k = arg;
    if (k->timer) event_free(k->timer);
    k->timer = NULL;
    arm_query_timer(k);
    /* its own budget: user queries neither wait for kills nor lend them their slots */
    submit_kill(k, 0);
}

/* A KILL QUERY request sending a copy of msg, not yet queued. */
static chb_request *new_kill(chb_pool *p, const chb_msg *msg, const chb_timeouts *to, const char *query_id,
                             int resends) {
    chb_request *k = chb_req_new();
    if (!k) return NULL;
    if (chb_msg_copy(&k->msg, msg) != 0) {
        chb_req_decref(k);
        return NULL;
    }
    k->pool = p;
    chb_pool_ref(p);
    k->is_kill = 1;
    k->kill.resends = resends;
    k->to = *to;
    if (k->to.connect <= 0 || k->to.connect > KILL_SECONDS) k->to.connect = KILL_SECONDS;
    if (k->to.rw <= 0 || k->to.rw > KILL_SECONDS) k->to.rw = KILL_SECONDS;
    k->query_timeout = KILL_SECONDS; /* from when it is queued: waiting for the kill budget counts too */
    k->mode = MODE_RAW;
    k->retryable = 1;
    snprintf(k->query_id, sizeof k->query_id, "%.127s", query_id);
    return k;
}

static chb_request *clone_kill(chb_request *r) {
    chb_request *k = new_kill(r->pool, &r->msg, &r->to, r->query_id, 0);
    if (k) {
        k->kill.parks = r->kill.parks;
        k->kill.parked_at = r->kill.parked_at;
    }
    return k;
}

/* Queue a kill on its pool's kill budget, with its own deadline. */
static void submit_kill_now(chb_request *k) {
    delayed_kill_cb(-1, 0, k);
}

void chb_req_submit_ping(chb_request *k) {
    arm_query_timer(k);
    submit_kill(k, 1);
}

/* Kills that found the server unreachable are parked, not dropped (a query left
 * running once the server is back would run on unbounded); the pool only keeps the
 * list (parked_*), the kill's life decides (here). At most this many per
 * pool, each sent again at most KILL_PARK_RESENDS times once the server answers, and
 * dropped KILL_PARK_WINDOW seconds after it was first parked. While kills are parked,
 * one of them at a time probes the server, every KILL_PROBE_FIRST s doubling to
 * KILL_PROBE_MAX s (a probe that fails is parked again without using a resend: the
 * window bounds it). A user query answered on the pool counts as an answer too. */
#define KILL_PARK_MAX 1024
#define KILL_PARK_RESENDS 2
#define KILL_PARK_WINDOW 120.0
#define KILL_PROBE_FIRST 1.0
#define KILL_PROBE_MAX 8.0

static void drop_kill(chb_pool *p, chb_request *k, const char *why) {
    CHB_POOL_STAT_ADD(p, kills_dropped, 1);
    chb_req_fail(k, ERR_CANCELLED, 0, "KILL QUERY dropped: %s:%d %s", p->cfg.host, p->cfg.port, why);
    chb_req_engine_done(k);
}

static void parked_count(chb_pool *p, int n) {
    p->nparked += n;
    __atomic_store_n(&p->st.kills_parked, (long)p->nparked, __ATOMIC_RELAXED);
}

static void park_timer_cb(evutil_socket_t fd, short what, void *arg);

static void arm_park_timer(chb_pool *p) {
    if (!p->park_timer) {
        if (!(p->park_timer = evtimer_new(chb_loop_base(), park_timer_cb, p))) return;
        p->park_backoff = KILL_PROBE_FIRST;
    }
    if (evtimer_pending(p->park_timer, NULL)) return;
    struct timeval tv = chb_tv(p->park_backoff);
    evtimer_add(p->park_timer, &tv);
}

/* k: a kill not queued anywhere, holding no connection. */
static void park_one(chb_pool *p, chb_request *k, double now) {
    if (!k->kill.parked_at) k->kill.parked_at = now;
    if (k->kill.parks >= KILL_PARK_RESENDS) {
        drop_kill(p, k, "still unreachable after the kill was sent again");
        return;
    }
    if (now - k->kill.parked_at > KILL_PARK_WINDOW) {
        drop_kill(p, k, "unreachable for the whole parking window");
        return;
    }
    if (p->nparked >= KILL_PARK_MAX) {
        drop_kill(p, k, "unreachable, and the parked kills are full");
        return;
    }
    if (k->timer) { /* its deadline starts again when it is sent again */
        event_free(k->timer);
        k->timer = NULL;
    }
    k->kill.probe = 0;
    pthread_mutex_lock(&k->mu);
    k->state = REQ_NEW;
    pthread_mutex_unlock(&k->mu);
    chb_reqq_push(&p->parked_head, &p->parked_tail, k, 0);
    parked_count(p, 1);
    arm_park_timer(p);
}

/* A kill failed because the server looks unreachable (could not connect, no answer,
 * no kill connection in time): it, and the kills queued behind it, are parked, to be
 * sent again once the server answers (or dropped past the bounds). */
static void park_kills(chb_pool *p, chb_request *failed, int queued_too) {
    double now = chb_now();
    chb_request *k = clone_kill(failed);
    if (k) park_one(p, k, now);
    else CHB_POOL_STAT_ADD(p, kills_dropped, 1);
    /* the kills behind it would only fail the same way: parked unsent */
    for (chb_request *q; queued_too && (q = chb_pool_take_kill(p));) park_one(p, q, now);
}

static void resend(chb_pool *p, chb_request *k) {
    CHB_POOL_STAT_ADD(p, kills_resent, 1);
    submit_kill_now(k);
}

/* The server answered a request: parked kills are sent again. */
static void resend_parked(chb_pool *p) {
    if (!p->parked_head) return;
    /* detached first: a kill that fails at once is parked again, not resent in this loop */
    chb_request *k = p->parked_head;
    p->parked_head = p->parked_tail = NULL;
    parked_count(p, -p->nparked);
    p->park_backoff = KILL_PROBE_FIRST;
    while (k) {
        chb_request *next = k->wait_next;
        k->wait_next = NULL;
        k->kill.parks++;
        resend(p, k);
        k = next;
    }
}

static void park_timer_cb(evutil_socket_t fd, short what, void *arg) {
    chb_pool *p = arg;
    double now = chb_now();
    for (chb_request *k = p->parked_head, *next; k; k = next) {
        next = k->wait_next;
        if (now - k->kill.parked_at > KILL_PARK_WINDOW) {
            chb_reqq_unlink(&p->parked_head, &p->parked_tail, k);
            parked_count(p, -1);
            drop_kill(p, k, "unreachable for the whole parking window");
        }
    }
    if (!p->parked_head) {
        p->park_backoff = KILL_PROBE_FIRST;
        return;
    }
    if (!p->kill_probing) {
        chb_request *k = chb_reqq_pop(&p->parked_head, &p->parked_tail);
        parked_count(p, -1);
        k->kill.probe = 1;
        p->kill_probing = 1;
        resend(p, k);
    }
    p->park_backoff = p->park_backoff * 2 > KILL_PROBE_MAX ? KILL_PROBE_MAX : p->park_backoff * 2;
    if (p->parked_head || p->kill_probing) arm_park_timer(p);
}

/* Queue a KILL QUERY request sending a copy of msg after delay seconds. */
static void queue_kill(chb_pool *p, chb_msg *msg, const chb_timeouts *to, const char *query_id, int resends,
                       double delay) {
    chb_request *k = new_kill(p, msg, to, query_id, resends);
    if (!k) return;
    __atomic_add_fetch(&p->st.kills, 1, __ATOMIC_RELAXED);
    if (delay > 0 && (k->timer = evtimer_new(chb_loop_base(), delayed_kill_cb, k))) {
        struct timeval tv = chb_tv(delay);
        evtimer_add(k->timer, &tv);
        return;
    }
    k->timer = NULL;
    delayed_kill_cb(-1, 0, k);
}

/* The KILL QUERY of r's query, queued on pool p. Built now, for the few queries that
 * need one: the client's URL parameters and credentials (not the query's own
 * parameters); Host is written for the connection that carries it, on p. */
static void queue_kill_of(chb_request *r, chb_pool *p, int answered) {
    chb_msg kill;
    chb_buf stmt;
    chb_buf_init(&stmt);
    int ok = chb_wire_kill_statement(&stmt, r->query_id) == 0 && /* a truncated KILL must never be sent */
             chb_msg_query(&kill, r->msg.base, NULL, NULL, NULL, stmt.data, stmt.len) == 0;
    chb_buf_free(&stmt);
    if (!ok) {
        __atomic_add_fetch(&p->st.kills_dropped, 1, __ATOMIC_RELAXED);
        return;
    }
    char qid[128];
    snprintf(qid, sizeof qid, "kill:%.120s", r->query_id);
    /* resent only if the server had not answered: then it may not have registered it yet */
    queue_kill(p, &kill, &r->to, qid, answered ? 0 : KILL_RESENDS, 0);
    chb_msg_free(&kill);
}

void chb_req_send_kill(chb_request *r) {
    stop_draining(r);
    /* a query of a client (the driver's own GETs and kills are never killed), once */
    if (r->kill.sent || r->is_kill || !r->msg.base) return;
    r->kill.sent = 1;
    queue_kill_of(r, r->pool, r->got_response_bytes);
}

/* A read moved away from a host that stopped answering may still run there once it
 * resumes: the KILL QUERY copy goes to that host (parked while it stays silent). */
static void kill_left_behind(chb_request *r, chb_pool *from, int answered) {
    if (r->kill.sent || r->is_kill || !r->msg.base) return;
    queue_kill_of(r, from, answered);
}

int chb_req_in_flight(chb_request *r) {
    chb_req_state s = chb_req_get_state(r);
    return s >= REQ_SENDING && s <= REQ_PAUSED;
}

int chb_req_retry_or_fail(chb_request *r, int reused_conn, chb_err_kind kind, const char *msg) {
    /* A reused keep-alive connection can be closed by the server just as we send:
     * repeat once on a fresh connection, only if nothing came back and the
     * statement is safe to repeat. */
    if (kind == ERR_NETWORK && reused_conn && !r->got_response_bytes && r->retryable && r->attempts == 0 &&
        !r->drain.active) {
        r->attempts++;
        __atomic_add_fetch(&r->pool->st.retries, 1, __ATOMIC_RELAXED);
        r->sent = 0;
        if (r->is_kill) submit_kill(r, 1);
        else chb_pool_acquire(r->pool, r, 1, 1);
        return 1;
    }
    char why[1024];
    snprintf(why, sizeof why, "%s", msg);
    /* no answer, or a read whose answer broke off before any row reached the caller
     * (a block is handed over only whole): the host is unwell (passive health), and
     * another may serve it */
    if (!r->is_kill && !r->drain.active && (kind == ERR_CONNECT || kind == ERR_NETWORK || kind == ERR_TIMEOUT) &&
        (!r->got_response_bytes ||
         (r->retryable && r->mode == MODE_NATIVE && r->resp_status == 200 && r->hosts && chb_hosts_untaken(r)))) {
        int never_sent = chb_req_get_state(r) <= REQ_CONNECTING;
        chb_pool *from = r->pool;
        int ran = kind == ERR_TIMEOUT && chb_req_in_flight(r), answered = r->got_response_bytes;
        chb_health_failed(r->pool, r->hosts);
        r->health_counted = 1;
        if (chb_hosts_failover(r, never_sent, why, sizeof why)) {
            if (ran) kill_left_behind(r, from, answered);
            return 1;
        }
    }
    int in_flight = chb_req_in_flight(r);
    chb_req_fail(r, kind, 0, "%s", why);
    if (in_flight && (kind == ERR_TIMEOUT || r->drain.active)) chb_req_send_kill(r);
    chb_req_engine_done(r);
    return 0;
}

/* Abort r wherever it is (timeout or cancel): its stream or connection cannot carry
 * the rest of the response, and the query is killed on the server. */
static void abort_request(chb_request *r, chb_err_kind kind, const char *msg) {
    if (r->engine_finished) return;
    int in_flight = chb_req_in_flight(r);
    chb_req_fail(r, kind, 0, "%s", msg);
    if (r->conn) r->conn->ops->abort(r->conn, r);
    else chb_pool_forget_waiter(r->pool, r);
    if (in_flight) chb_req_send_kill(r);
    chb_req_engine_done(r);
}

static void query_timeout_cb(evutil_socket_t fd, short what, void *arg) {
    chb_request *r = arg;
    char msg[700];
    chb_req_state s = chb_req_get_state(r);
    if (s <= REQ_WAIT_POOL) {
        /* never had a connection: nothing was sent, nothing to cancel */
        snprintf(msg, sizeof msg,
                 "no connection to %s:%d became free within query_timeout=%gs (pool_size=%d); query %.100s was "
                 "not sent",
                 r->pool->cfg.host, r->pool->cfg.port, r->query_timeout, r->pool->cfg.max_size, r->query_id);
        abort_request(r, ERR_POOL_TIMEOUT, msg);
        return;
    }
    if (s == REQ_CONNECTING)
        snprintf(msg, sizeof msg, "query %.100s exceeded query_timeout=%gs while connecting to %s:%d (not sent)",
                 r->query_id, r->query_timeout, r->pool->cfg.host, r->pool->cfg.port);
    else
        snprintf(msg, sizeof msg, "query %.100s exceeded query_timeout=%gs and was cancelled", r->query_id,
                 r->query_timeout);
    abort_request(r, ERR_TIMEOUT, msg);
}

void chb_req_start_task(void *arg) {
    chb_request *r = arg;
    arm_query_timer(r);
    watch_silence(r);
    r->queued_at = chb_now();
    chb_pool_acquire(r->pool, r, 0, 0);
}

void chb_req_cancel_task(void *arg) {
    chb_request *r = arg;
    abort_request(r, ERR_CANCELLED, "query cancelled");
    chb_req_decref(r); /* the task's own reference */
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg) {
    abort_request(arg, ERR_CANCELLED, "result abandoned");
}

void chb_req_abandon_task(void *arg) {
    chb_request *r = arg;
    if (!r->engine_finished) {
        if (chb_req_get_state(r) < REQ_SENDING || !r->conn) {
            abort_request(r, ERR_CANCELLED, "result abandoned");
        } else {
            /* Most abandoned results are nearly complete (fetchone() of a small
             * result): reading the rest is cheaper than a new connection and a KILL. */
            r->drain.active = 1;
            r->drain.counted = 1;
            r->pool->draining++;
            pthread_mutex_lock(&r->mu);
            chb_block *b = r->blocks.head;
            r->blocks.head = r->blocks.tail = NULL;
            r->blocks.queued = 0;
            int paused = r->state == REQ_PAUSED;
            if (paused) r->state = REQ_STREAMING;
            pthread_mutex_unlock(&r->mu);
            chb_blocks_free(b);
            if (r->timer) event_free(r->timer);
            r->timer = evtimer_new(chb_loop_base(), drain_timeout_cb, r);
            if (r->timer) {
                struct timeval tv = chb_tv(DRAIN_SECONDS);
                evtimer_add(r->timer, &tv);
            }
            if (paused) r->conn->ops->resume(r->conn, r);
        }
    }
    chb_req_decref(r);
}

void chb_req_resume_task(void *arg) {
    chb_request *r = arg;
    if (!r->engine_finished && r->conn) {
        pthread_mutex_lock(&r->mu);
        int paused = r->state == REQ_PAUSED;
        if (paused) r->state = REQ_STREAMING;
        pthread_mutex_unlock(&r->mu);
        if (paused) r->conn->ops->resume(r->conn, r);
    }
    chb_req_decref(r);
}

void chb_req_server_answered(chb_pool *p) {
    resend_parked(p);
    chb_health_answered(p);
}

/* ---- the timers of the host set's requests (verdicts: hosts.c) ---- */

static void check_tick(evutil_socket_t fd, short what, void *arg) {
    chb_hostset *hs = arg;
    if (chb_hosts_checks_unused(hs)) {
        event_free(hs->check_timer);
        hs->check_timer = NULL;
        chb_hosts_unref(hs);
        return;
    }
    for (int i = 0; i < hs->n; i++) {
        chb_request *r = chb_hosts_check_request(hs, i);
        if (r) chb_req_start_task(r); /* the engine's reference: released by chb_req_engine_done */
    }
    struct timeval tv = chb_tv(hs->check_interval);
    evtimer_add(hs->check_timer, &tv);
}

static void start_checks_task(void *arg) {
    chb_hostset *hs = arg;
    if (!(hs->check_timer = evtimer_new(chb_loop_base(), check_tick, hs))) {
        chb_hosts_unref(hs);
        return;
    }
    check_tick(-1, 0, hs);
}

void chb_req_start_checks(chb_hostset *hs) {
    if (!chb_hosts_checks_wanted(hs)) return;
    chb_hosts_ref(hs); /* the timer's */
    if (chb_loop_submit(start_checks_task, hs) != 0) chb_hosts_unref(hs);
}

static void watch_again(chb_request *r, double seconds) {
    struct timeval tv = chb_tv(seconds > 0.001 ? seconds : 0.001);
    evtimer_add(r->probe_timer, &tv);
}

static void silence_cb(evutil_socket_t fd, short what, void *arg) {
    chb_request *r = arg;
    double now = chb_now(), again;
    chb_req_state s = chb_req_get_state(r);
    if (r->engine_finished || chb_req_terminal(s)) return;
    char msg[600];
    int verdict = chb_hosts_silence(r, s, now, &again, msg, sizeof msg);
    if (verdict == CHB_SILENCE_DEAD) {
        r->conn->ops->abort(r->conn, r);
        /* moves it (and kills the copy left behind), or fails it and the engine lets go of it */
        if (chb_req_retry_or_fail(r, 0, ERR_TIMEOUT, msg)) watch_again(r, r->to.connect * CHB_PROBE_AFTER);
        return;
    }
    if (verdict == CHB_SILENCE_HEDGE) {
        chb_pool *to = chb_hosts_hedge_target(r);
        if (to) {
            if (r->conn) r->conn->ops->orphan(r->conn);
            else chb_pool_forget_waiter(r->pool, r);
            chb_hosts_move(r, to); /* never sent: any statement may go */
        }
        again = r->to.connect * CHB_HEDGE_AFTER; /* moved: its new connect; else its own timeout decides */
    }
    if (verdict == CHB_SILENCE_PING) {
        chb_request *k = chb_hosts_ping_request(r);
        if (k) chb_req_submit_ping(k); /* ahead of queued kills: they may be what waits on the silent host */
        again = chb_hosts_ping_wait(r, now);
    }
    watch_again(r, again);
}

/* A multi-host request is watched for a silent host (chb_hosts_silence). */
static void watch_silence(chb_request *r) {
    if (!r->hosts || r->is_check || r->is_kill || r->to.connect <= 0) return;
    r->rx_at = chb_now();
    if ((r->probe_timer = evtimer_new(chb_loop_base(), silence_cb, r)))
        watch_again(r, r->to.connect * (CHB_HEDGE_AFTER < CHB_PROBE_AFTER ? CHB_HEDGE_AFTER : CHB_PROBE_AFTER));
}
