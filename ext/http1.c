#include "http1.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>

#include "debug.h"
#include "loop.h"
#include "native.h"
#include "pool.h"

#define MAX_SINGLE_READ (256 * 1024)
#define ERRBODY_LIMIT (64 * 1024)
#define DRAIN_LIMIT (1024 * 1024)
#define DRAIN_SECONDS 0.05 /* also bounds how long a new query may wait for it */

static void conn_readcb(struct bufferevent *bev, void *arg);
static void conn_writecb(struct bufferevent *bev, void *arg);
static void conn_eventcb(struct bufferevent *bev, short what, void *arg);
static void process_input(chb_conn *c);

static struct timeval tv_of(double secs) {
    struct timeval tv;
    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    return tv;
}

static void set_state(chb_request *r, chb_req_state s) {
    pthread_mutex_lock(&r->mu);
    if (!chb_req_terminal(r->state)) r->state = s;
    pthread_mutex_unlock(&r->mu);
}

static chb_req_state get_state(chb_request *r) {
    pthread_mutex_lock(&r->mu);
    chb_req_state s = r->state;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* ------------------------------------------------------------------ */
/* Connection lifecycle                                                 */

static void idle_cb(evutil_socket_t fd, short what, void *arg) {
    chb_conn *c = arg;
    chb_pool_drop_idle(c);
}

static int connect_next(chb_conn *c) {
    chb_pool *p = c->pool;
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->addr_idx >= p->naddrs) return -1;
    c->bev = bufferevent_socket_new(chb_loop_base(), -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) return -1;
    bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
    bufferevent_set_max_single_read(c->bev, MAX_SINGLE_READ);
    struct timeval ct = tv_of(p->cfg.connect_timeout);
    /* libevent applies the write timeout to the connect phase */
    bufferevent_set_timeouts(c->bev, NULL, p->cfg.connect_timeout > 0 ? &ct : NULL);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&p->addrs[c->addr_idx],
                                   (int)p->addrlens[c->addr_idx]) != 0) {
        /* failed synchronously: the event callback will not run for this attempt */
        c->addr_idx++;
        return connect_next(c);
    }
    return 0;
}

void chb_conn_open(chb_pool *p, chb_request *r) {
    chb_conn *c = calloc(1, sizeof *c);
    if (c) {
        c->pool = p;
        c->state = CONN_CONNECTING;
        hp_init(&c->parser, NULL);
        c->idle_timer = evtimer_new(chb_loop_base(), idle_cb, c);
    }
    if (!c || !c->idle_timer) {
        free(c);
        chb_req_fail(r, ERR_INTERNAL, 0, "out of memory opening a connection");
        chb_pool_slot_lost(p);
        chb_req_engine_done(r);
        return;
    }
    c->req = r;
    r->conn = c;
    set_state(r, REQ_CONNECTING);
    if (connect_next(c) != 0) {
        chb_req_fail(r, ERR_CONNECT, 0, "could not connect to %s:%d: %s", p->cfg.host, p->cfg.port,
                     strerror(errno ? errno : ECONNREFUSED));
        c->req = NULL;
        r->conn = NULL;
        chb_pool_release(c, 0);
        chb_req_engine_done(r);
    }
}

void chb_conn_close(chb_conn *c) {
    if (c->bev) bufferevent_free(c->bev);
    if (c->idle_timer) event_free(c->idle_timer);
    hp_free(&c->parser);
    c->state = CONN_CLOSED;
    free(c);
}

void chb_conn_park(chb_conn *c) {
    c->state = CONN_IDLE;
    /* Close before the server's Keep-Alive timeout so that we never send on a socket
     * the server is about to close. */
    double t = c->pool->cfg.idle_timeout;
    if (c->keepalive > 0 && (t <= 0 || c->keepalive - 0.5 < t)) t = c->keepalive - 0.5;
    if (t <= 0) t = 0.05;
    struct timeval tv = tv_of(t);
    evtimer_add(c->idle_timer, &tv);
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    bufferevent_enable(c->bev, EV_READ); /* notice the server closing it */
}

void chb_conn_start(chb_conn *c, chb_request *r) {
    evtimer_del(c->idle_timer);
    c->state = CONN_BUSY;
    c->req = r;
    c->msg_done = 0;
    c->status = 0;
    r->conn = c;
    r->got_response_bytes = 0;
    hp_reset(&c->parser);
    set_state(r, REQ_SENDING);
    struct timeval rw = tv_of(c->pool->cfg.rw_timeout);
    bufferevent_set_timeouts(c->bev, c->pool->cfg.rw_timeout > 0 ? &rw : NULL,
                             c->pool->cfg.rw_timeout > 0 ? &rw : NULL);
    /* The wire bytes outlive the connection's use of them: the request is released
     * only after it is detached from the connection. */
    evbuffer_add_reference(bufferevent_get_output(c->bev), r->wire, r->wire_len, NULL, NULL);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    /* Data may already be buffered (an early error answer): nothing to do until read. */
}

/* ------------------------------------------------------------------ */
/* Request completion                                                    */

void chb_req_engine_done(chb_request *r) {
    CHB_INVARIANT(r->conn == NULL && !r->engine_finished);
    if (r->timer) { event_free(r->timer); r->timer = NULL; }
    if (r->wait_timer) { event_free(r->wait_timer); r->wait_timer = NULL; }
    if (r->scanner) { nd_scanner_free(r->scanner); r->scanner = NULL; }
    chb_buf_free(&r->body);
    chb_buf_free(&r->errbody);
    if (r->draining) r->pool->draining--;
    r->engine_finished = 1;
    chb_req_decref(r);
}

/* Detach r from its connection and give the connection back to the pool. */
static void finish(chb_conn *c, int reusable) {
    chb_request *r = c->req;
    c->req = NULL;
    r->conn = NULL;
    chb_pool_release(c, reusable);
    chb_req_engine_done(r);
}

/* Fire-and-forget KILL QUERY for a query the server may still be running. */
static void send_kill(chb_request *r) {
    if (!r->kill_wire) return;
    chb_request *k = chb_req_new();
    if (!k) return;
    k->pool = r->pool;
    k->wire = r->kill_wire;
    k->wire_len = r->kill_wire_len;
    r->kill_wire = NULL;
    k->mode = MODE_RAW;
    k->retryable = 1;
    snprintf(k->query_id, sizeof k->query_id, "kill:%s", r->query_id);
    /* head of the queue: freeing server resources beats starting new work */
    chb_pool_acquire(k->pool, k, 1, 0);
}

static int was_sent(chb_request *r) {
    chb_req_state s = get_state(r);
    return s >= REQ_SENDING && s <= REQ_PAUSED;
}

/* Abort r wherever it is (timeout or cancel): the connection cannot be reused
 * mid-response, so it is closed; the query is killed on the server. */
static void abort_request(chb_request *r, chb_err_kind kind, const char *msg) {
    if (r->engine_finished) return;
    int sent = was_sent(r);
    chb_req_fail(r, kind, 0, "%s", msg);
    if (r->conn) {
        chb_conn *c = r->conn;
        c->req = NULL;
        r->conn = NULL;
        chb_pool_release(c, 0);
    } else {
        chb_pool_forget_waiter(r->pool, r);
    }
    if (sent) send_kill(r);
    chb_req_engine_done(r);
}

static void query_timeout_cb(evutil_socket_t fd, short what, void *arg) {
    chb_request *r = arg;
    char msg[160];
    snprintf(msg, sizeof msg, "query %s exceeded query_timeout=%gs and was cancelled", r->query_id,
             r->query_timeout);
    abort_request(r, ERR_TIMEOUT, msg);
}

void chb_req_start_task(void *arg) {
    chb_request *r = arg;
    if (r->query_timeout > 0) {
        r->timer = evtimer_new(chb_loop_base(), query_timeout_cb, r);
        if (r->timer) {
            struct timeval tv = tv_of(r->query_timeout);
            evtimer_add(r->timer, &tv);
        }
    }
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
        chb_req_state st = get_state(r);
        if (st < REQ_SENDING || !r->conn) {
            abort_request(r, ERR_CANCELLED, "result abandoned");
        } else {
            /* Most abandoned results are nearly complete (fetchone() of a small
             * result): reading the rest is cheaper than a new connection and a KILL. */
            r->draining = 1;
            r->pool->draining++;
            pthread_mutex_lock(&r->mu);
            chb_block *b = r->blocks_head;
            r->blocks_head = r->blocks_tail = NULL;
            r->queued_bytes = 0;
            if (r->state == REQ_PAUSED) r->state = REQ_STREAMING;
            pthread_mutex_unlock(&r->mu);
            while (b) {
                chb_block *n = b->next;
                free(b->data);
                free(b);
                b = n;
            }
            if (r->timer) event_free(r->timer);
            r->timer = evtimer_new(chb_loop_base(), drain_timeout_cb, r);
            if (r->timer) {
                struct timeval tv = tv_of(DRAIN_SECONDS);
                evtimer_add(r->timer, &tv);
            }
            chb_conn *c = r->conn;
            bufferevent_enable(c->bev, EV_READ);
            process_input(c);
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
        if (paused) {
            chb_conn *c = r->conn;
            bufferevent_enable(c->bev, EV_READ);
            process_input(c); /* bytes already buffered raise no new read event */
        }
    }
    chb_req_decref(r);
}

/* Find "Code: N" in a ClickHouse exception text (old and new formats). */
static int parse_code(const char *s, size_t n) {
    for (size_t i = 0; i + 6 < n; i++) {
        if (memcmp(s + i, "Code: ", 6) == 0) {
            int code = 0, digits = 0;
            for (size_t j = i + 6; j < n && s[j] >= '0' && s[j] <= '9' && digits < 9; j++, digits++)
                code = code * 10 + (s[j] - '0');
            if (digits) return code;
        }
    }
    return 0;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; m && i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return hay + i;
    return NULL;
}

/* Turn a ClickHouse error text into the request's failure. The message keeps the
 * server's own words (trimmed), and the code. */
static void fail_with_text(chb_request *r, int header_code, const char *text, size_t n, int status,
                           const char *where) {
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) n--;
    int code = header_code ? header_code : parse_code(text, n);
    if (n > 4000) n = 4000;
    if (code) {
        chb_req_fail(r, ERR_SERVER, code, "%.*s", (int)n, text);
        return;
    }
    /* Not ClickHouse speaking: a proxy page, a load balancer error... */
    char head[301];
    size_t h = n < 300 ? n : 300;
    for (size_t i = 0; i < h; i++) head[i] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '.';
    head[h] = 0;
    chb_req_fail(r, ERR_PROTOCOL, 0, "HTTP %d %s is not a ClickHouse answer (Content-Type: %s); body starts: %s",
                 status, where, r->content_type ? r->content_type : "none", head);
}

/* The body of a 200 answer ended, or framing failed: is there a ClickHouse exception
 * written in the middle of the stream (old servers append the text; 25.11+ mark it
 * with the X-ClickHouse-Exception-Tag value)? */
static int midstream_exception(chb_request *r) {
    const char *b = (const char *)r->body.data;
    size_t n = r->body.len;
    const char *p = NULL;
    if (r->exception_tag && r->exception_tag[0]) p = find_bytes(b, n, r->exception_tag);
    if (!p) p = find_bytes(b, n, "Code: ");
    if (!p) return 0;
    const char *start = find_bytes(p, n - (size_t)(p - b), "Code: ");
    if (!start) start = p;
    size_t len = n - (size_t)(start - b);
    /* strip a trailing tag marker if present */
    if (r->exception_tag && r->exception_tag[0]) {
        const char *t = find_bytes(start + 1, len - 1, r->exception_tag);
        if (t) len = (size_t)(t - start);
    }
    fail_with_text(r, r->ch_code, start, len, 200, "mid-stream");
    return 1;
}

static void complete_response(chb_conn *c) {
    chb_request *r = c->req;
    int keep = hp_keep_alive(&c->parser);
    int ok = c->status == 200 && !(r->mode == MODE_NATIVE && r->body.len > 0);
    c->served++;
    if (r->mode == MODE_NATIVE && r->body.len > 0) keep = 0;
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) keep = 0; /* unexpected extra bytes */
    int status = c->status;
    /* Give the connection back before the consumer can see the end, so that the
     * next query of the same thread finds it idle. */
    c->req = NULL;
    r->conn = NULL;
    chb_pool_release(c, keep);
    if (ok) {
        pthread_mutex_lock(&r->mu);
        if (!chb_req_terminal(r->state)) {
            r->state = REQ_DONE;
            chb_req_notify_locked(r);
        }
        pthread_mutex_unlock(&r->mu);
    } else if (status != 200) {
        fail_with_text(r, r->ch_code, (const char *)r->errbody.data, r->errbody.len, status, "answer");
    } else if (midstream_exception(r)) {
    } else if (r->content_type && strncasecmp(r->content_type, "application/octet-stream", 24) != 0) {
        /* a 200 page that is not Native at all: a proxy, a captive portal... */
        fail_with_text(r, 0, (const char *)r->body.data, r->body.len, status, "answer");
    } else {
        chb_req_fail(r, ERR_MALFORMED, 0,
                     "response ended inside a Native block (%zu bytes left over): result is incomplete",
                     r->body.len);
    }
    chb_req_engine_done(r);
}

/* ------------------------------------------------------------------ */
/* Parser callbacks (engine thread)                                      */

static int on_status(void *ud, int code, const char *reason, size_t reason_len) {
    chb_conn *c = ud;
    c->status = code;
    return 0;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

#define HDR_IS(lit) (nlen == sizeof(lit) - 1 && strncasecmp(name, lit, nlen) == 0)

static int on_header(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
    chb_conn *c = ud;
    chb_request *r = c->req;
    /* Written before headers_ready is published under r->mu, read by the consumer after. */
    if (HDR_IS("X-ClickHouse-Summary")) {
        free(r->summary);
        r->summary = dup_n(value, vlen);
    } else if (HDR_IS("X-ClickHouse-Query-Id")) {
        free(r->server_query_id);
        r->server_query_id = dup_n(value, vlen);
    } else if (HDR_IS("X-ClickHouse-Exception-Code")) {
        int code = 0;
        for (size_t i = 0; i < vlen && value[i] >= '0' && value[i] <= '9' && i < 9; i++)
            code = code * 10 + (value[i] - '0');
        r->ch_code = code;
    } else if (HDR_IS("X-ClickHouse-Exception-Tag")) {
        free(r->exception_tag);
        r->exception_tag = dup_n(value, vlen);
    } else if (HDR_IS("Content-Type")) {
        free(r->content_type);
        r->content_type = dup_n(value, vlen);
    } else if (HDR_IS("Keep-Alive")) {
        const char *t = find_bytes(value, vlen, "timeout=");
        if (t) c->keepalive = atof(t + 8); /* header values end at the line end: atof stops */
    }
    return 0;
}

static int on_headers_done(void *ud) {
    chb_conn *c = ud;
    chb_request *r = c->req;
    if (c->status == 200 && r->mode == MODE_NATIVE) {
        if (r->scanner) nd_scanner_reset(r->scanner);
        else r->scanner = nd_scanner_new();
        if (!r->scanner) return -1;
    }
    pthread_mutex_lock(&r->mu);
    r->http_status = c->status;
    r->headers_ready = 1;
    if (!chb_req_terminal(r->state)) r->state = REQ_STREAMING;
    chb_req_notify_locked(r);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* Move complete Native blocks from r->body to the consumer's queue. */
static int frame_blocks(chb_conn *c, chb_request *r) {
    while (r->body.len > 0) {
        ptrdiff_t n = nd_scan(r->scanner, r->body.data, r->body.len);
        if (n == 0) return 0;
        if (n < 0) {
            if (midstream_exception(r)) return -1;
            if (r->content_type && strncasecmp(r->content_type, "text/html", 9) == 0)
                fail_with_text(r, 0, (const char *)r->body.data, r->body.len, 200, "answer");
            else
                chb_req_fail(r, nd_scanner_error_kind(r->scanner) == ND_ERR_UNSUPPORTED ? ERR_UNSUPPORTED
                                                                                       : ERR_MALFORMED,
                             0, "%s", nd_scanner_error(r->scanner));
            return -1;
        }
        chb_block *b = malloc(sizeof *b);
        if (!b) return -1;
        /* Hand the buffer itself to the consumer (no copy of the block); only the
         * bytes of the next block received so far move to a new buffer. */
        size_t tail = r->body.len - (size_t)n;
        chb_buf rest;
        chb_buf_init(&rest);
        if (tail && chb_buf_append(&rest, r->body.data + n, tail) != 0) {
            free(b);
            return -1;
        }
        b->data = r->body.data;
        b->len = (size_t)n;
        b->next = NULL;
        r->body = rest;
        nd_scanner_reset(r->scanner);
        if (r->draining) {
            r->drained += b->len;
            free(b->data);
            free(b);
            if (r->drained > DRAIN_LIMIT) { /* too much left: close and KILL (process_input) */
                chb_req_fail(r, ERR_CANCELLED, 0, "result abandoned");
                return -1;
            }
            continue;
        }
        pthread_mutex_lock(&r->mu);
        if (r->blocks_tail) r->blocks_tail->next = b; else r->blocks_head = b;
        r->blocks_tail = b;
        r->queued_bytes += b->len;
        if (r->queued_bytes >= r->buffer_limit && r->state == REQ_STREAMING) {
            r->state = REQ_PAUSED;
            bufferevent_disable(c->bev, EV_READ);
        }
        chb_req_notify_locked(r);
        pthread_mutex_unlock(&r->mu);
    }
    return 0;
}

static int on_body(void *ud, const char *data, size_t len) {
    chb_conn *c = ud;
    chb_request *r = c->req;
    if (c->status != 200) {
        size_t room = r->errbody.len < ERRBODY_LIMIT ? ERRBODY_LIMIT - r->errbody.len : 0;
        if (len > room) len = room;
        return len && chb_buf_append(&r->errbody, data, len) ? -1 : 0;
    }
    if (r->mode == MODE_RAW) {
        pthread_mutex_lock(&r->mu);
        int rc = chb_buf_append(&r->raw, data, len);
        pthread_mutex_unlock(&r->mu);
        return rc;
    }
    if (chb_buf_append(&r->body, data, len) != 0) return -1;
    return frame_blocks(c, r);
}

static int on_done(void *ud) {
    chb_conn *c = ud;
    c->msg_done = 1;
    return 0;
}

static const hp_callbacks CALLBACKS = {on_status, on_header, on_headers_done, on_body, on_done};

/* Feed buffered input to the parser until it runs out, the message ends, or the
 * request is paused by backpressure. */
static void process_input(chb_conn *c) {
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->req && evbuffer_get_length(in) > 0) {
        chb_request *r = c->req;
        if (get_state(r) == REQ_PAUSED) return;
        r->got_response_bytes = 1;
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) return;
        ptrdiff_t used = hp_feed(&c->parser, v.iov_base, v.iov_len, &CALLBACKS, c);
        if (used < 0) {
            if (!chb_req_terminal(get_state(r))) {
                if (used == HP_ERR_CALLBACK)
                    chb_req_fail(r, ERR_INTERNAL, 0, "out of memory while receiving the response");
                else {
                    char head[121];
                    size_t h = v.iov_len < 120 ? v.iov_len : 120;
                    for (size_t i = 0; i < h; i++) {
                        char ch = ((char *)v.iov_base)[i];
                        head[i] = (ch >= 0x20 && ch < 0x7f) ? ch : '.';
                    }
                    head[h] = 0;
                    chb_req_fail(r, ERR_PROTOCOL, 0, "not an HTTP/ClickHouse answer from %s:%d (%s); received: %s",
                                 c->pool->cfg.host, c->pool->cfg.port, hp_strerror((int)used), head);
                }
            }
            if (r->draining) send_kill(r);
            finish(c, 0);
            return;
        }
        evbuffer_drain(in, (size_t)used);
        if (c->msg_done) {
            complete_response(c);
            return;
        }
    }
}

static void conn_readcb(struct bufferevent *bev, void *arg) {
    chb_conn *c = arg;
    if (c->state == CONN_IDLE) {
        /* An idle connection must stay silent; anything else makes it unusable. */
        chb_pool_drop_idle(c);
        return;
    }
    process_input(c);
}

static void conn_writecb(struct bufferevent *bev, void *arg) {
    chb_conn *c = arg;
    if (c->req && c->state == CONN_BUSY) {
        c->req->sent = 1;
        pthread_mutex_lock(&c->req->mu);
        if (c->req->state == REQ_SENDING) c->req->state = REQ_AWAIT_HEADERS;
        pthread_mutex_unlock(&c->req->mu);
    }
}

static void retry_or_fail(chb_conn *c, chb_err_kind kind, const char *what) {
    chb_request *r = c->req;
    chb_pool *p = c->pool;
    /* A reused keep-alive connection can be closed by the server just as we send:
     * repeat once on a fresh connection, only if nothing came back and the
     * statement is safe to repeat. */
    if (kind == ERR_NETWORK && c->served > 0 && !r->got_response_bytes && r->retryable && r->attempts == 0) {
        r->attempts++;
        __atomic_add_fetch(&p->st.retries, 1, __ATOMIC_RELAXED);
        c->req = NULL;
        r->conn = NULL;
        r->sent = 0;
        chb_pool_release(c, 0);
        chb_pool_acquire(p, r, 1, 1);
        return;
    }
    int sent = was_sent(r);
    chb_req_fail(r, kind, 0, "%s", what);
    finish(c, 0);
    if (sent && kind == ERR_TIMEOUT) send_kill(r);
}

static void conn_eventcb(struct bufferevent *bev, short what, void *arg) {
    chb_conn *c = arg;
    chb_pool *p = c->pool;
    char msg[512];
    if (what & BEV_EVENT_CONNECTED) {
        evutil_socket_t fd = bufferevent_getfd(bev);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        chb_request *r = c->req;
        chb_conn_start(c, r);
        return;
    }
    if (c->state == CONN_IDLE) { /* closed by the server while parked */
        chb_pool_drop_idle(c);
        return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    if (c->state == CONN_CONNECTING) {
        if ((what & BEV_EVENT_ERROR) && c->addr_idx + 1 < p->naddrs) {
            c->addr_idx++;
            if (connect_next(c) == 0) return;
        }
        if (what & BEV_EVENT_TIMEOUT)
            snprintf(msg, sizeof msg, "could not connect to %s:%d: timed out after connect_timeout=%gs",
                     p->cfg.host, p->cfg.port, p->cfg.connect_timeout);
        else
            snprintf(msg, sizeof msg, "could not connect to %s:%d: %s", p->cfg.host, p->cfg.port,
                     err ? evutil_socket_error_to_string(err) : "connection failed");
        chb_req_fail(c->req, (what & BEV_EVENT_TIMEOUT) ? ERR_TIMEOUT : ERR_CONNECT, 0, "%s", msg);
        finish(c, 0);
        return;
    }
    if (!c->req) { /* nothing in flight */
        chb_pool_drop_idle(c);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        /* The peer closed: this may complete a read-until-close body. */
        int rc = hp_eof(&c->parser, &CALLBACKS, c);
        if (rc == 0 && c->msg_done) {
            complete_response(c);
            return;
        }
        snprintf(msg, sizeof msg, "%s:%d closed the connection %s", p->cfg.host, p->cfg.port,
                 c->req->got_response_bytes ? "in the middle of the response (result incomplete)"
                                            : "before answering");
        retry_or_fail(c, ERR_NETWORK, msg);
    } else if (what & BEV_EVENT_TIMEOUT) {
        snprintf(msg, sizeof msg, "no data %s %s:%d for send_receive_timeout=%gs",
                 (what & BEV_EVENT_READING) ? "received from" : "could be sent to", p->cfg.host, p->cfg.port,
                 p->cfg.rw_timeout);
        retry_or_fail(c, ERR_TIMEOUT, msg);
    } else {
        snprintf(msg, sizeof msg, "connection to %s:%d failed: %s", p->cfg.host, p->cfg.port,
                 err ? evutil_socket_error_to_string(err) : "network error");
        retry_or_fail(c, ERR_NETWORK, msg);
    }
}
