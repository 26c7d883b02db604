#include "exchange.h"

#include <stdio.h>
#include <stdlib.h>

#include "debug.h"
#include "decompress.h"
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
    if (r->is_ping) chb_hosts_ping_done(r); /* never resent nor parked: a verdict on the host */
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
            chb_pool_park_kills(p, r, err != ERR_POOL_TIMEOUT);
        else if (state == REQ_DONE)
            chb_pool_server_answered(p);
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
    chb_pool_submit_kill(k->pool, k, 0);
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

chb_request *chb_req_clone_kill(chb_request *r) {
    chb_request *k = new_kill(r->pool, &r->msg, &r->to, r->query_id, 0);
    if (k) {
        k->kill.parks = r->kill.parks;
        k->kill.parked_at = r->kill.parked_at;
    }
    return k;
}

void chb_req_submit_kill(chb_request *k) {
    delayed_kill_cb(-1, 0, k);
}

void chb_req_submit_ping(chb_request *k) {
    arm_query_timer(k);
    chb_pool_submit_kill(k->pool, k, 1);
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
        if (r->is_kill) chb_pool_submit_kill(r->pool, r, 1);
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
    chb_hosts_watch(r);
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
