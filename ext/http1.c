#include "http1.h"

#include <errno.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "debug.h"
#include "exchange.h"
#include "http2.h"
#include "loop.h"
#include "pool.h"
#include "response.h"
#include "tls.h"

#define MAX_SINGLE_READ (256 * 1024)

static void conn_readcb(struct bufferevent *bev, void *arg);
static void conn_writecb(struct bufferevent *bev, void *arg);
static void conn_eventcb(struct bufferevent *bev, short what, void *arg);
static void process_input(chb_conn *c);
static const chb_conn_ops H1_OPS, H2_OPS;

/* ------------------------------------------------------------------ */
/* Connection lifecycle                                                 */

static void idle_cb(evutil_socket_t fd, short what, void *arg) { chb_pool_drop_idle(arg); }

static int connect_next(chb_conn *c) {
    chb_pool *p = c->pool;
    for (;;) {
        if (c->bev) {
            bufferevent_free(c->bev);
            c->bev = NULL;
        }
        c->ssl = NULL;
        if (c->addr_idx >= p->naddrs) return -1;
        if (p->cfg.secure) {
            SSL *ssl = chb_tls_ssl_new(p);
            if (!ssl) return -1;
            /* kill connections stay out of the h2 connections that carry user streams */
            if (c->kill) SSL_set_alpn_protos(ssl, (const unsigned char *)"\x08http/1.1", 9);
            /* the bufferevent owns (and frees) the SSL */
            c->bev = bufferevent_openssl_socket_new(chb_loop_base(), -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
            if (!c->bev) {
                SSL_free(ssl);
                return -1;
            }
            /* servers often close without close_notify; HTTP framing tells whether
             * the body is complete */
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
            c->ssl = ssl;
        } else {
            c->bev = bufferevent_socket_new(chb_loop_base(), -1, BEV_OPT_CLOSE_ON_FREE);
            if (!c->bev) return -1;
        }
        bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
        bufferevent_set_max_single_read(c->bev, MAX_SINGLE_READ);
        struct timeval ct = chb_tv(c->connect_timeout);
        /* libevent applies the write timeout to the connect phase */
        bufferevent_set_timeouts(c->bev, p->cfg.secure && c->connect_timeout > 0 ? &ct : NULL,
                                 c->connect_timeout > 0 ? &ct : NULL);
        if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&p->addrs[c->addr_idx],
                                       (int)p->addrlens[c->addr_idx]) == 0)
            return 0;
        c->addr_idx++; /* failed synchronously: no event will come for this attempt */
    }
}

void chb_conn_open(chb_pool *p, chb_request *r) {
    chb_conn *c = calloc(1, sizeof *c);
    if (c) {
        c->pool = p;
        c->ops = &H1_OPS;
        c->state = CONN_CONNECTING;
        c->kill = r->is_kill;
        c->addr_epoch = p->health.addr_epoch;
        c->connect_timeout = r->to.connect;
        c->idle_timeout = r->to.idle;
        c->opened_at = chb_now();
        hp_init(&c->parser, NULL);
        c->idle_timer = evtimer_new(chb_loop_base(), idle_cb, c);
    }
    if (!c || !c->idle_timer) {
        free(c);
        chb_req_fail(r, ERR_INTERNAL, 0, "out of memory opening a connection");
        chb_pool_slot_lost(p, r);
        chb_req_engine_done(r);
        return;
    }
    if (!c->kill) p->connecting++; /* kill connections never hold up user requests awaiting ALPN */
    c->req = r;
    r->conn = c;
    chb_req_set_state(r, REQ_CONNECTING);
    if (connect_next(c) != 0) {
        int err = errno;
        char msg[600];
        snprintf(msg, sizeof msg, "could not connect to %s:%d: %s", p->cfg.host, p->cfg.port,
                 strerror(err ? err : ECONNREFUSED));
        c->req = NULL;
        r->conn = NULL;
        chb_pool_release(c, 0);
        chb_req_retry_or_fail(r, 0, ERR_CONNECT, msg); /* another host, if there are several */
    }
}

static void conn_close(chb_conn *c) {
    if (c->state == CONN_CONNECTING && !c->kill) c->pool->connecting--;
    /* OpenSSL voids the session of a connection freed without a shutdown; a
     * connection we close while idle ended cleanly and its session stays resumable. */
    if (c->ssl && c->clean_close) SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    if (c->h2) chb_h2_free(c);
    if (c->bev) bufferevent_free(c->bev);
    if (c->idle_timer) event_free(c->idle_timer);
    hp_free(&c->parser);
    c->state = CONN_CLOSED;
    free(c);
}

static void conn_park(chb_conn *c) {
    c->state = CONN_IDLE;
    struct timeval tv = chb_tv(chb_idle_seconds(c));
    evtimer_add(c->idle_timer, &tv);
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    bufferevent_enable(c->bev, EV_READ); /* notice the server closing it */
}

static void set_rw_timeouts(chb_conn *c) {
    struct timeval rw = chb_tv(c->req->to.rw);
    int on = c->req->to.rw > 0;
    bufferevent_set_timeouts(c->bev, on ? &rw : NULL, on ? &rw : NULL);
}

/* The request line and headers of m for this connection's host; -1 when out of
 * memory (chb_buf's flag is sticky: checked once, at the end). Sized first and
 * reserved once: this runs for every request, and growing the buffer as it goes
 * cost more than writing it. */
static int write_head(chb_buf *w, const chb_msg *m, const chb_pool *p) {
    chb_hdr hdrs[CHB_MAX_HEADERS];
    int n = chb_msg_headers(m, hdrs, CHB_MAX_HEADERS);
    if (n < 0) return -1;
    char num[24];
    int has_body = strcmp(m->method, "GET") != 0;
    size_t numlen = has_body ? chb_wire_u64(num, m->body_len) : 0;
    size_t mlen = strlen(m->method), tlen = strlen(m->target), alen = strlen(p->authority);
    static const char line_end[] = " HTTP/1.1\r\nHost: ", clen[] = "Content-Length: ";
    size_t total = mlen + 1 + tlen + sizeof line_end - 1 + alen + 2 + 2;
    for (int i = 0; i < n; i++) total += hdrs[i].nlen + 2 + hdrs[i].vlen + 2;
    if (has_body) total += sizeof clen - 1 + numlen + 2;
    chb_buf_reserve(w, total);
    chb_buf_append(w, m->method, mlen);
    chb_buf_putc(w, ' ');
    chb_buf_append(w, m->target, tlen);
    chb_buf_append(w, line_end, sizeof line_end - 1); /* the host it is sent to, also after a failover */
    chb_buf_append(w, p->authority, alen);
    chb_buf_append(w, "\r\n", 2);
    for (int i = 0; i < n; i++) {
        chb_buf_append(w, hdrs[i].name, hdrs[i].nlen);
        chb_buf_append(w, ": ", 2);
        chb_buf_append(w, hdrs[i].value, hdrs[i].vlen);
        chb_buf_append(w, "\r\n", 2);
    }
    if (has_body) {
        chb_buf_append(w, clen, sizeof clen - 1);
        chb_buf_append(w, num, numlen);
        chb_buf_append(w, "\r\n", 2);
    }
    chb_buf_append(w, "\r\n", 2);
    return chb_buf_failed(w) ? -1 : 0;
}

/* evbuffer_add_reference's cleanup of a head handed over with its memory. */
static void free_head(const void *data, size_t len, void *extra) {
    (void)len;
    (void)extra;
    free((void *)data);
}

static chb_request *detach(chb_conn *c, int reusable);

static void h1_start(chb_conn *c, chb_request *r) {
    evtimer_del(c->idle_timer);
    c->state = CONN_BUSY;
    c->req = r;
    c->idle_timeout = r->to.idle;
    c->msg_done = 0;
    r->conn = c;
    chb_resp_begin(r);
    hp_reset(&c->parser);
    chb_req_set_state(r, REQ_SENDING);
    set_rw_timeouts(c);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    chb_buf head;
    chb_buf_init(&head);
    /* the head's memory goes to the socket's buffer as it is (free_head), not copied */
    int ok = write_head(&head, &r->msg, c->pool) == 0 &&
             evbuffer_add_reference(out, head.data, head.len, free_head, NULL) == 0;
    if (ok) chb_buf_init(&head);   /* owned by the evbuffer now */
    chb_buf_free(&head);
    /* the body outlives the connection's use of it: the request is released
     * only after it is detached from the connection */
    ok = ok && (!r->msg.body_len || evbuffer_add_reference(out, r->msg.body, r->msg.body_len, NULL, NULL) == 0);
    if (!ok) {
        chb_req_fail(r, ERR_INTERNAL, 0, "out of memory writing the request");
        detach(c, 0); /* part of it may be queued on the socket */
        chb_req_engine_done(r);
        return;
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Detach the HTTP/1.1 request and give the connection back to the pool. */
static chb_request *detach(chb_conn *c, int reusable) {
    chb_request *r = c->req;
    c->req = NULL;
    r->conn = NULL;
    chb_pool_release(c, reusable);
    return r;
}

static void h1_abort(chb_conn *c, chb_request *r) {
    CHB_INVARIANT(c->req == r);
    detach(c, 0); /* mid-response: the connection cannot be reused */
}

static void h1_resume(chb_conn *c, chb_request *r) {
    bufferevent_enable(c->bev, EV_READ);
    process_input(c); /* bytes already buffered raise no new read event */
}

static int h1_capacity(chb_conn *c) { return c->state == CONN_IDLE && !c->req; }

static void h1_goodbye(chb_conn *c) { (void)c; /* HTTP/1.1 has nothing to say before closing */ }

/* The connect hedge (hosts.c): r went to another host after half its connect_timeout
 * here; the connect goes on without it. Up: the connection is parked for the next
 * request. Timed out or refused: the host is marked down, as if r had waited for it. */
static void h1_orphan(chb_conn *c) {
    chb_request *r = c->req;
    CHB_INVARIANT(c->state == CONN_CONNECTING && r && r->hosts);
    c->req = NULL;
    r->conn = NULL;
    c->orphan_of = r->hosts;
    chb_hosts_ref(c->orphan_of);
    chb_pool_ref(c->pool); /* r's reference leaves with r; the connect keeps the pool */
    chb_pool_orphaned(c->pool);
}

static void orphan_end(chb_conn *c, int up) {
    chb_pool *p = c->pool;
    chb_hostset *hs = c->orphan_of;
    c->orphan_of = NULL;
    if (!up) chb_health_failed(p, hs); /* before the slot frees: its waiters move rather than reopen */
    chb_pool_adopt(c, up);
    chb_hosts_unref(hs);
    chb_pool_unref(p);
}

/* The connection's socket, timers and close are this file's whatever the protocol;
 * after ALPN picks h2 the requests on it are run by http2.c. */
static const chb_conn_ops H1_OPS = {
    .start = h1_start, .capacity = h1_capacity, .abort = h1_abort, .resume = h1_resume,
    .park = conn_park, .goodbye = h1_goodbye, .close = conn_close, .orphan = h1_orphan, .multiplexed = 0,
};
static const chb_conn_ops H2_OPS = {
    .start = chb_h2_submit, .capacity = chb_h2_capacity, .abort = chb_h2_abort, .resume = chb_h2_resume,
    .park = conn_park, .goodbye = chb_h2_goodbye, .close = conn_close, .multiplexed = 1,
};

/* ------------------------------------------------------------------ */
/* HTTP/1.1 response                                                     */

static int on_status(void *ud, int code, const char *reason, size_t reason_len) {
    chb_conn *c = ud;
    chb_resp_status(c->req, code);
    return 0;
}

static int on_header(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
    chb_conn *c = ud;
    double ka = chb_resp_header(c->req, name, nlen, value, vlen);
    if (ka > 0) c->keepalive = ka;
    return 0;
}

static int on_headers_done(void *ud) {
    chb_conn *c = ud;
    return chb_resp_headers_done(c->req);
}

static int on_body(void *ud, const char *data, size_t len) {
    chb_conn *c = ud;
    return chb_resp_body(c->req, data, len);
}

static int on_done(void *ud) {
    chb_conn *c = ud;
    c->msg_done = 1;
    return 0;
}

static const hp_callbacks CALLBACKS = {on_status, on_header, on_headers_done, on_body, on_done};

static void complete_response(chb_conn *c) {
    chb_request *r = c->req;
    chb_resp_end(r);
    int keep = hp_keep_alive(&c->parser) && chb_resp_ok(r);
    if (r->resp_status != 200) keep = hp_keep_alive(&c->parser); /* a complete error answer */
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) keep = 0; /* unexpected extra bytes */
    c->served++;
    /* Give the connection back before the consumer can see the end, so that the
     * next query of the same thread finds it idle. */
    detach(c, keep);
    chb_resp_publish(r);
    chb_req_engine_done(r);
}

static void protocol_error(chb_conn *c, chb_request *r, ptrdiff_t err, const unsigned char *data, size_t len) {
    if (chb_req_terminal(chb_req_get_state(r))) return; /* a callback already recorded why */
    if (err == HP_ERR_CALLBACK) {
        chb_req_fail(r, ERR_INTERNAL, 0, "out of memory while receiving the response");
        return;
    }
    char head[121];
    size_t h = len < 120 ? len : 120;
    for (size_t i = 0; i < h; i++) head[i] = (data[i] >= 0x20 && data[i] < 0x7f) ? (char)data[i] : '.';
    head[h] = 0;
    if (!c->ssl && len && (data[0] == 0x15 || data[0] == 0x16))
        chb_req_fail(r, ERR_PROTOCOL, 0, "%s:%d answered with TLS, not plain HTTP: connect with secure=True",
                     c->pool->cfg.host, c->pool->cfg.port);
    else
        chb_req_fail(r, ERR_PROTOCOL, 0, "not an HTTP/ClickHouse answer from %s:%d (%s); received: %s",
                     c->pool->cfg.host, c->pool->cfg.port, hp_strerror((int)err), head);
}

/* Feed buffered input to the parser until it runs out, the message ends, or the
 * request is paused by backpressure. */
static void process_input(chb_conn *c) {
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->req && evbuffer_get_length(in) > 0) {
        chb_request *r = c->req;
        if (chb_req_get_state(r) == REQ_PAUSED) {
            bufferevent_disable(c->bev, EV_READ);
            return;
        }
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) return;
        r->got_response_bytes = 1;
        ptrdiff_t used = hp_feed(&c->parser, v.iov_base, v.iov_len, &CALLBACKS, c);
        if (used < 0) {
            protocol_error(c, r, used, v.iov_base, v.iov_len);
            int in_flight = r->drain.active;
            detach(c, 0);
            if (in_flight) chb_req_send_kill(r); /* an abandoned result grew too large */
            chb_req_engine_done(r);
            return;
        }
        evbuffer_drain(in, (size_t)used);
        if (c->msg_done) {
            complete_response(c);
            return;
        }
    }
    if (c->req && chb_req_get_state(c->req) == REQ_PAUSED) bufferevent_disable(c->bev, EV_READ);
}

static void conn_readcb(struct bufferevent *bev, void *arg) {
    chb_conn *c = arg;
    c->pool->health.rx_at = chb_now(); /* the host is alive, whatever a /ping says (hosts.c) */
    if (c->h2) {
        chb_h2_read(c);
        return;
    }
    if (c->state == CONN_IDLE) {
        /* An idle connection must stay silent; anything else makes it unusable. */
        chb_pool_drop_idle(c);
        return;
    }
    process_input(c);
}

static void conn_writecb(struct bufferevent *bev, void *arg) {
    chb_conn *c = arg;
    if (c->h2) return;
    if (c->req && c->state == CONN_BUSY) {
        c->req->sent = 1;
        pthread_mutex_lock(&c->req->mu);
        if (c->req->state == REQ_SENDING) c->req->state = REQ_AWAIT_HEADERS;
        pthread_mutex_unlock(&c->req->mu);
    }
}

/* The connection broke (or timed out) with the request in flight. */
static void conn_failed(chb_conn *c, chb_err_kind kind, const char *msg) {
    int reused = c->served > 0;
    chb_request *r = detach(c, 0);
    chb_req_retry_or_fail(r, reused, kind, msg);
}

static void on_connected(chb_conn *c) {
    chb_pool *p = c->pool;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!c->kill) p->connecting--;
    c->state = CONN_BUSY;
    chb_request *r = c->req;
    int h2 = 0;
    if (!r) { /* a hedged connect (h1_orphan) came up: kept for the next request, unless h2 */
        if (c->ssl) chb_tls_handshake_done(p, c->ssl);
        orphan_end(c, !(c->ssl && chb_tls_alpn_h2(c->ssl)));
        return;
    }
    if (c->ssl) {
        chb_tls_handshake_done(p, c->ssl);
        h2 = chb_tls_alpn_h2(c->ssl);
        if (p->cfg.http2 == CHB_H2_REQUIRED && !h2 && !c->kill) {
            chb_req_fail(r, ERR_CONNECT, 0, "http2=True but %s:%d did not offer HTTP/2 (ALPN chose http/1.1)",
                         p->cfg.host, p->cfg.port);
            detach(c, 0);
            chb_req_engine_done(r);
            return;
        }
    }
    if (c->kill) {
        /* the liveness ping's answer also gets two of this link's round trips, which
         * the handshake just timed: a stopped server's kernel completes it at once, a
         * congested link takes the time it needs (hosts.c) */
        if (r->is_ping) r->to.rw += 2 * (chb_now() - c->opened_at);
        h1_start(c, r);
        return;
    }
    chb_pool_learned_protocol(p, h2);
    if (h2) {
        c->req = NULL;
        r->conn = NULL;
        c->ops = &H2_OPS;
        chb_h2_start(c, r);
    } else {
        h1_start(c, r);
    }
}

static void conn_eventcb(struct bufferevent *bev, short what, void *arg) {
    chb_conn *c = arg;
    chb_pool *p = c->pool;
    char msg[600];
    if (what & BEV_EVENT_CONNECTED) {
        on_connected(c);
        return;
    }
    if (c->h2) {
        chb_h2_event(c, what);
        return;
    }
    if (c->state == CONN_CONNECTING && c->orphan_of) { /* a hedged connect failed */
        if ((what & BEV_EVENT_ERROR) && c->addr_idx + 1 < p->naddrs) {
            c->addr_idx++;
            if (connect_next(c) == 0) return;
        }
        orphan_end(c, 0);
        return;
    }
    if (c->state == CONN_IDLE || !c->req) { /* closed by the server while parked */
        chb_pool_drop_idle(c);
        return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    if (c->state == CONN_CONNECTING) {
        if (c->ssl && (what & BEV_EVENT_ERROR) && chb_tls_describe_error(p, bev, c->ssl, msg, sizeof msg)) {
            conn_failed(c, ERR_CONNECT, msg);
            return;
        }
        if ((what & BEV_EVENT_ERROR) && c->addr_idx + 1 < p->naddrs) {
            c->addr_idx++;
            if (connect_next(c) == 0) return;
        }
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        if ((what & BEV_EVENT_TIMEOUT) && c->ssl &&
            getpeername(bufferevent_getfd(bev), (struct sockaddr *)&peer, &plen) == 0)
            /* TCP is up but no TLS answer came: typically a plain HTTP port waiting
             * for a request line that our ClientHello never completes */
            snprintf(msg, sizeof msg,
                     "TLS handshake with %s:%d timed out after connect_timeout=%gs: the server accepted the "
                     "connection but did not answer with TLS (is this a plain HTTP port? use secure=False)",
                     p->cfg.host, p->cfg.port, c->connect_timeout);
        else if (what & BEV_EVENT_TIMEOUT)
            snprintf(msg, sizeof msg, "could not connect to %s:%d: timed out after connect_timeout=%gs",
                     p->cfg.host, p->cfg.port, c->connect_timeout);
        else
            snprintf(msg, sizeof msg, "could not connect to %s:%d: %s", p->cfg.host, p->cfg.port,
                     err ? evutil_socket_error_to_string(err) : "connection failed");
        conn_failed(c, (what & BEV_EVENT_TIMEOUT) ? ERR_TIMEOUT : ERR_CONNECT, msg);
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
        conn_failed(c, ERR_NETWORK, msg);
    } else if (what & BEV_EVENT_TIMEOUT) {
        snprintf(msg, sizeof msg, "no data %s %s:%d for send_receive_timeout=%gs",
                 (what & BEV_EVENT_READING) ? "received from" : "could be sent to", p->cfg.host, p->cfg.port,
                 c->req->to.rw);
        conn_failed(c, ERR_TIMEOUT, msg);
    } else {
        if (!(c->ssl && chb_tls_describe_error(p, bev, c->ssl, msg, sizeof msg)))
            snprintf(msg, sizeof msg, "connection to %s:%d failed: %s%s", p->cfg.host, p->cfg.port,
                     err ? evutil_socket_error_to_string(err) : "network error",
                     /* a TLS port resets a plaintext request on a fresh connection */
                     !c->ssl && c->served == 0 && !c->req->got_response_bytes
                         ? " (before any answer: the server went away, or this is a TLS port and needs secure=True)"
                         : "");
        conn_failed(c, ERR_NETWORK, msg);
    }
}
