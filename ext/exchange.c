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

static void queue_kill(chb_pool *p, uint8_t *wire, size_t wire_len, size_t body_off, int owned,
                       const chb_timeouts *to, const char *query_id, int resends, double delay);

/* The drain of an abandoned result is over (done, failed or killed): requests that
 * waited for its connection may open their own. */
static void stop_draining(chb_request *r) {
    if (!r->drain_counted) return;
    r->drain_counted = 0;
    r->pool->draining--;
    chb_pool_kick(r->pool);
}

void chb_req_engine_done(chb_request *r) {
    CHB_INVARIANT(r->conn == NULL && !r->engine_finished);
    if (r->timer) { event_free(r->timer); r->timer = NULL; }
    if (r->wait_timer) { event_free(r->wait_timer); r->wait_timer = NULL; }
    if (r->scanner) { nd_scanner_free(r->scanner); r->scanner = NULL; }
    if (r->dc) { dc_free(r->dc); r->dc = NULL; }
    chb_buf_free(&r->body);
    chb_buf_free(&r->errbody);
    stop_draining(r);
    if (r->probe_timer) { event_free(r->probe_timer); r->probe_timer = NULL; }
    chb_pool *p = r->pool;
    if (r->is_ping) chb_hosts_ping_done(r); /* never resent nor parked: a verdict on the host */
    else if (r->is_kill && r->kill_resends > 0) {
        pthread_mutex_lock(&r->mu);
        int matched_nothing = r->state == REQ_DONE && r->raw.len == 0;
        pthread_mutex_unlock(&r->mu);
        if (matched_nothing)
            queue_kill(p, r->wire, r->wire_len, r->body_off, 0, &r->to, r->query_id, r->kill_resends - 1,
                       0.1 * (1 << (KILL_RESENDS - r->kill_resends)));
    }
    if (r->is_kill && !r->is_ping) {
        /* A kill that could not connect, got no answer or no kill connection in time:
         * the server looks unreachable; the kill is parked until it answers. */
        pthread_mutex_lock(&r->mu);
        chb_req_state state = r->state;
        chb_err_kind err = state == REQ_FAILED ? r->err : ERR_NONE;
        pthread_mutex_unlock(&r->mu);
        if (r->kill_probe) p->kill_probing = 0;
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

/* A KILL QUERY request (wire bytes copied unless owned is set), not yet queued. */
static chb_request *new_kill(chb_pool *p, uint8_t *wire, size_t wire_len, size_t body_off, int owned,
                             const chb_timeouts *to, const char *query_id, int resends) {
    chb_request *k = chb_req_new();
    if (k && !owned) {
        uint8_t *copy = malloc(wire_len);
        if (copy) memcpy(copy, wire, wire_len);
        wire = copy;
    }
    if (!k || !wire) {
        if (owned || wire) free(wire);
        if (k) chb_req_decref(k);
        return NULL;
    }
    k->pool = p;
    chb_pool_ref(p);
    k->is_kill = 1;
    k->kill_resends = resends;
    k->to = *to;
    if (k->to.connect <= 0 || k->to.connect > KILL_SECONDS) k->to.connect = KILL_SECONDS;
    if (k->to.rw <= 0 || k->to.rw > KILL_SECONDS) k->to.rw = KILL_SECONDS;
    k->query_timeout = KILL_SECONDS; /* from when it is queued: waiting for the kill budget counts too */
    k->wire = wire;
    k->wire_len = wire_len;
    k->body_off = body_off;
    k->mode = MODE_RAW;
    k->retryable = 1;
    snprintf(k->query_id, sizeof k->query_id, "%.127s", query_id);
    return k;
}

chb_request *chb_req_clone_kill(chb_request *r) {
    chb_request *k = new_kill(r->pool, r->wire, r->wire_len, r->body_off, 0, &r->to, r->query_id, 0);
    if (k) {
        k->kill_parks = r->kill_parks;
        k->kill_parked_at = r->kill_parked_at;
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

/* Queue a KILL QUERY request (wire bytes copied unless owned is set) after delay seconds. */
static void queue_kill(chb_pool *p, uint8_t *wire, size_t wire_len, size_t body_off, int owned,
                       const chb_timeouts *to, const char *query_id, int resends, double delay) {
    chb_request *k = new_kill(p, wire, wire_len, body_off, owned, to, query_id, resends);
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

void chb_req_send_kill(chb_request *r) {
    stop_draining(r);
    if (!r->kill_wire) return;
    char qid[128];
    snprintf(qid, sizeof qid, "kill:%.120s", r->query_id);
    uint8_t *wire = r->kill_wire;
    r->kill_wire = NULL;
    /* resent only if the server had not answered: then it may not have registered it yet */
    queue_kill(r->pool, wire, r->kill_wire_len, r->kill_body_off, 1, &r->to, qid,
               r->got_response_bytes ? 0 : KILL_RESENDS, 0);
}

/* A read moved away from a host that stopped answering may still run there once it
 * resumes: the KILL QUERY copy goes to that host (parked while it stays silent). */
static void kill_left_behind(chb_request *r, chb_pool *from, int answered) {
    if (!r->kill_wire) return;
    char qid[128];
    snprintf(qid, sizeof qid, "kill:%.120s", r->query_id);
    queue_kill(from, r->kill_wire, r->kill_wire_len, r->kill_body_off, 0, &r->to, qid, answered ? 0 : KILL_RESENDS, 0);
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
        !r->draining) {
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
    if (!r->is_kill && !r->draining && (kind == ERR_CONNECT || kind == ERR_NETWORK || kind == ERR_TIMEOUT) &&
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
    if (in_flight && (kind == ERR_TIMEOUT || r->draining)) chb_req_send_kill(r);
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
            r->draining = 1;
            r->drain_counted = 1;
            r->pool->draining++;
            pthread_mutex_lock(&r->mu);
            chb_block *b = r->blocks_head;
            r->blocks_head = r->blocks_tail = NULL;
            r->queued_bytes = 0;
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
