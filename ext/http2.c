#include "http2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "debug.h"
#include "exchange.h"
#include "loop.h"
#include "pool.h"
#include "response.h"

#define STREAM_WINDOW (1 << 20)      /* unacknowledged bytes per stream: the backpressure unit */
#define CONN_WINDOW (64 << 20)
#define MAX_STREAMS_CAP 256          /* our own ceiling; the peer's SETTINGS usually set a lower one */

typedef struct chb_h2 {
    nghttp2_session *session;
    chb_request *reqs;   /* attached requests, linked by h2_next */
    int streams;         /* attached requests */
    int goaway;          /* peer sent GOAWAY (or we did): no new streams */
    int in_recv;         /* inside nghttp2_session_mem_recv: sending must wait */
} chb_h2;

static void flush(chb_conn *c) {
    if (c->h2->in_recv) return; /* sent after the receive loop */
    int rv = nghttp2_session_send(c->h2->session);
    (void)rv; /* a fatal session error shows up as want_read == want_write == 0 */
}

static void link_req(chb_h2 *h, chb_request *r) {
    r->h2.next = h->reqs;
    h->reqs = r;
    h->streams++;
}

static void unlink_req(chb_h2 *h, chb_request *r) {
    for (chb_request **pp = &h->reqs; *pp; pp = &(*pp)->h2.next) {
        if (*pp == r) {
            *pp = r->h2.next;
            r->h2.next = NULL;
            h->streams--;
            return;
        }
    }
}

/* The connection has no stream: keep it for the idle timeout, unless it is going away. */
static void maybe_idle(chb_conn *c) {
    if (c->h2->streams > 0) return;
    if (c->h2->goaway) {
        chb_pool_drop_h2(c);
        return;
    }
    c->state = CONN_IDLE;
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    struct timeval tv = chb_tv(chb_idle_seconds(c));
    evtimer_add(c->idle_timer, &tv);
}

/* Take r off the connection (its stream is over or reset) and free its slot. */
static void detach(chb_conn *c, chb_request *r) {
    unlink_req(c->h2, r);
    r->conn = NULL;
    r->h2.stream_id = 0;
    chb_pool_stream_done(c->pool);
}

/* ------------------------------------------------------------------ */
/* nghttp2 callbacks                                                    */

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud) {
    chb_conn *c = ud;
    if (bufferevent_write(c->bev, data, len) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

static chb_request *stream_req(nghttp2_session *s, int32_t sid) {
    return sid ? nghttp2_session_get_stream_user_data(s, sid) : NULL;
}

static int on_header_cb(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t nlen,
                        const uint8_t *value, size_t vlen, uint8_t flags, void *ud) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    chb_request *r = stream_req(s, frame->hd.stream_id);
    if (!r) return 0;
    if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
        int code = 0;
        for (size_t i = 0; i < vlen && i < 3; i++) code = code * 10 + (value[i] - '0');
        if (code >= 200) chb_resp_status(r, code); /* 1xx are interim */
    } else if (r->resp_status >= 200) {
        chb_resp_header(r, (const char *)name, nlen, (const char *)value, vlen);
    }
    return 0;
}

static int on_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *frame, void *ud) {
    chb_conn *c = ud;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
        chb_request *r = stream_req(s, frame->hd.stream_id);
        if (!r) break;
        if (r->resp_status >= 200 && !r->headers_ready) {
            if (chb_resp_headers_done(r) != 0)
                nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_INTERNAL_ERROR);
        }
        break;
    }
    case NGHTTP2_SETTINGS:
        chb_pool_kick(c->pool); /* the stream limit may have changed */
        break;
    case NGHTTP2_GOAWAY:
        /* Streams above last_stream_id were not processed: nghttp2 closes them with
         * REFUSED_STREAM and they are retried elsewhere. The rest finish here. */
        c->h2->goaway = 1;
        chb_pool_kick(c->pool);
        break;
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)) {
        chb_request *r = stream_req(s, frame->hd.stream_id);
        if (r) r->h2.end_stream = 1;
    }
    return 0;
}

static int on_data_cb(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *ud) {
    chb_conn *c = ud;
    chb_request *r = stream_req(s, sid);
    if (!r) { /* a stream we gave up on: keep the connection window open */
        nghttp2_session_consume(s, sid, len);
        return 0;
    }
    if (chb_resp_body(r, (const char *)data, len) != 0) {
        /* failed (recorded) or out of memory: reset the stream, free its slot */
        if (!chb_req_terminal(r->state)) chb_req_fail(r, ERR_INTERNAL, 0, "out of memory while receiving the response");
        nghttp2_session_set_stream_user_data(s, sid, NULL);
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
        nghttp2_session_consume(s, sid, len);
        nghttp2_session_consume_connection(s, r->h2.unconsumed);
        int draining = r->drain.active;
        detach(c, r);
        if (draining) chb_req_send_kill(r);
        chb_req_engine_done(r);
        return 0;
    }
    pthread_mutex_lock(&r->mu);
    int paused = r->state == REQ_PAUSED;
    pthread_mutex_unlock(&r->mu);
    /* Withholding WINDOW_UPDATE is how a paused stream tells the server to wait. */
    if (paused) r->h2.unconsumed += len;
    else nghttp2_session_consume(s, sid, len);
    return 0;
}

static int on_stream_close_cb(nghttp2_session *s, int32_t sid, uint32_t error_code, void *ud) {
    chb_conn *c = ud;
    chb_request *r = stream_req(s, sid);
    if (!r) return 0; /* aborted earlier */
    nghttp2_session_set_stream_user_data(s, sid, NULL);
    if (r->h2.unconsumed) nghttp2_session_consume_connection(s, r->h2.unconsumed);
    r->h2.unconsumed = 0;
    int complete = error_code == NGHTTP2_NO_ERROR && r->h2.end_stream;
    if (complete) chb_resp_end(r); /* a failure it finds is recorded; publish keeps it */
    detach(c, r); /* slot back before the consumer sees the end */
    if (complete) {
        chb_resp_publish(r);
        chb_req_engine_done(r);
    } else if (error_code == NGHTTP2_REFUSED_STREAM && !r->got_response_bytes) {
        /* never processed by the server (GOAWAY or stream limit): safe to send
         * again, even an INSERT */
        r->sent = 0;
        chb_pool_acquire(r->pool, r, 1, 0);
    } else {
        char msg[512];
        snprintf(msg, sizeof msg, "HTTP/2 stream to %s:%d %s: %s", c->pool->cfg.host, c->pool->cfg.port,
                 r->got_response_bytes ? "ended before the response was complete" : "was reset before answering",
                 nghttp2_http2_strerror(error_code));
        chb_req_retry_or_fail(r, 1, ERR_NETWORK, msg);
    }
    return 0; /* maybe_idle() runs after the receive loop, never inside nghttp2 */
}

static ssize_t body_read_cb(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length, uint32_t *flags,
                            nghttp2_data_source *src, void *ud) {
    chb_request *r = stream_req(s, sid);
    if (!r) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t total = r->msg.body_len;
    size_t left = total - r->h2.body_off;
    size_t n = left < length ? left : length;
    memcpy(buf, r->msg.body + r->h2.body_off, n);
    r->h2.body_off += n;
    if (r->h2.body_off == total) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        r->sent = 1;
    }
    return (ssize_t)n;
}

/* ------------------------------------------------------------------ */

static nghttp2_session_callbacks *callbacks(void) {
    static nghttp2_session_callbacks *cbs; /* engine thread only */
    if (!cbs && nghttp2_session_callbacks_new(&cbs) == 0) {
        nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv_cb);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_cb);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close_cb);
    }
    return cbs;
}

void chb_h2_start(chb_conn *c, chb_request *r) {
    chb_h2 *h = calloc(1, sizeof *h);
    nghttp2_option *opt = NULL;
    nghttp2_session_callbacks *cbs = callbacks();
    if (h && cbs && nghttp2_option_new(&opt) == 0) {
        /* we acknowledge DATA ourselves, as the consumer takes it */
        nghttp2_option_set_no_auto_window_update(opt, 1);
        if (nghttp2_session_client_new2(&h->session, cbs, c, opt) != 0) h->session = NULL;
        nghttp2_option_del(opt);
    }
    if (!h || !h->session) {
        free(h);
        chb_req_fail(r, ERR_INTERNAL, 0, "could not start an HTTP/2 session");
        r->conn = NULL;
        chb_pool_release(c, 0);
        chb_req_engine_done(r);
        return;
    }
    c->h2 = h;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0}, /* the server opens none */
    };
    nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    chb_pool_add_h2(c);
    chb_h2_submit(c, r);
    chb_pool_kick(c->pool); /* waiters can become streams on this connection */
}

int chb_h2_capacity(chb_conn *c) {
    chb_h2 *h = c->h2;
    if (h->goaway || !nghttp2_session_want_read(h->session)) return 0;
    uint32_t max = nghttp2_session_get_remote_settings(h->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    if (max > MAX_STREAMS_CAP) max = MAX_STREAMS_CAP;
    return (int)max - h->streams;
}

/* The request's pseudo-headers and headers as nghttp2 pairs (names lowercased into
 * lower), :authority naming this connection's host. */
static int build_nv(const chb_msg *m, chb_conn *c, nghttp2_nv *nv, int *n, char *lower, size_t lower_len,
                    char *num) {
    chb_hdr hdrs[CHB_MAX_HEADERS];
    int nh = chb_msg_headers(m, hdrs, CHB_MAX_HEADERS);
    if (nh < 0) return -1;
    int k = 0;
#define NV(nm, nl, v, vl) (nv[k].name = (uint8_t *)(nm), nv[k].namelen = (nl), nv[k].value = (uint8_t *)(v), \
                           nv[k].valuelen = (vl), nv[k].flags = NGHTTP2_NV_FLAG_NONE, k++)
    NV(":method", 7, m->method, strlen(m->method));
    NV(":scheme", 7, "https", 5);
    NV(":path", 5, m->target, strlen(m->target));
    NV(":authority", 10, c->pool->authority, strlen(c->pool->authority));
    size_t used = 0;
    for (int i = 0; i < nh; i++) {
        if (used + hdrs[i].nlen > lower_len) return -1;
        for (size_t j = 0; j < hdrs[i].nlen; j++) {
            char ch = hdrs[i].name[j];
            lower[used + j] = (char)((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
        }
        NV(lower + used, hdrs[i].nlen, hdrs[i].value, hdrs[i].vlen);
        used += hdrs[i].nlen;
    }
    if (strcmp(m->method, "GET") != 0) {
        size_t numlen = chb_wire_u64(num, m->body_len);
        NV("content-length", 14, num, numlen);
    }
#undef NV
    *n = k;
    return 0;
}

void chb_h2_submit(chb_conn *c, chb_request *r) {
    chb_h2 *h = c->h2;
    nghttp2_nv nv[CHB_MAX_HEADERS + 5];
    char lower[1024], num[24];
    int n = 0;
    evtimer_del(c->idle_timer);
    c->state = CONN_BUSY;
    chb_resp_begin(r);
    r->h2.end_stream = 0;
    r->h2.unconsumed = 0;
    r->h2.body_off = 0;
    __atomic_add_fetch(&c->pool->st.h2_streams, 1, __ATOMIC_RELAXED);
    nghttp2_data_provider prd = {.source.ptr = r, .read_callback = body_read_cb};
    int32_t sid = -1;
    /* nghttp2 copies the pairs into its own frame */
    if (build_nv(&r->msg, c, nv, &n, lower, sizeof lower, num) == 0)
        sid = nghttp2_submit_request(h->session, NULL, nv, (size_t)n, r->msg.body_len ? &prd : NULL, r);
    r->conn = c;
    link_req(h, r);
    if (sid < 0) {
        chb_req_fail(r, ERR_INTERNAL, 0, "could not submit the HTTP/2 request: %s",
                     sid == -1 ? "too many headers" : nghttp2_strerror(sid));
        detach(c, r);
        chb_req_engine_done(r);
        maybe_idle(c);
        return;
    }
    r->h2.stream_id = sid;
    if (!r->msg.body_len) r->sent = 1;
    chb_req_set_state(r, REQ_SENDING);
    /* the connection's inactivity timeout is the latest request's */
    struct timeval rw = chb_tv(r->to.rw);
    int on = r->to.rw > 0;
    c->idle_timeout = r->to.idle;
    bufferevent_set_timeouts(c->bev, on ? &rw : NULL, on ? &rw : NULL);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    flush(c);
    chb_req_set_state(r, REQ_AWAIT_HEADERS);
}

void chb_h2_abort(chb_conn *c, chb_request *r) {
    nghttp2_session *s = c->h2->session;
    if (r->h2.stream_id > 0) {
        nghttp2_session_set_stream_user_data(s, r->h2.stream_id, NULL);
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, r->h2.stream_id, NGHTTP2_CANCEL);
    }
    if (r->h2.unconsumed) nghttp2_session_consume_connection(s, r->h2.unconsumed);
    r->h2.unconsumed = 0;
    detach(c, r);
    flush(c);
    maybe_idle(c);
}

void chb_h2_resume(chb_conn *c, chb_request *r) {
    if (r->h2.unconsumed && r->h2.stream_id > 0) {
        nghttp2_session_consume(c->h2->session, r->h2.stream_id, r->h2.unconsumed);
        r->h2.unconsumed = 0;
    }
    flush(c);
}

/* The connection is gone: every stream on it fails (or is retried when nothing came back). */
static void fail_all(chb_conn *c, const char *msg) {
    chb_h2 *h = c->h2;
    while (h->reqs) {
        chb_request *r = h->reqs;
        if (r->h2.stream_id > 0) nghttp2_session_set_stream_user_data(h->session, r->h2.stream_id, NULL);
        detach(c, r);
        chb_req_retry_or_fail(r, 1, ERR_NETWORK, msg);
    }
    h->goaway = 1;
    chb_pool_drop_h2(c);
}

void chb_h2_read(chb_conn *c) {
    chb_h2 *h = c->h2;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
        h->in_recv = 1;
        ssize_t rv = nghttp2_session_mem_recv(h->session, v.iov_base, v.iov_len);
        h->in_recv = 0;
        if (rv < 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "HTTP/2 protocol error from %s:%d: %s", c->pool->cfg.host, c->pool->cfg.port,
                     nghttp2_strerror((int)rv));
            fail_all(c, msg);
            return;
        }
        evbuffer_drain(in, (size_t)rv);
    }
    flush(c);
    if (!nghttp2_session_want_read(h->session) && !nghttp2_session_want_write(h->session)) {
        fail_all(c, "HTTP/2 session ended");
        return;
    }
    maybe_idle(c);
}

void chb_h2_event(chb_conn *c, short what) {
    char msg[512];
    snprintf(msg, sizeof msg, "HTTP/2 connection to %s:%d %s", c->pool->cfg.host, c->pool->cfg.port,
             (what & BEV_EVENT_EOF) ? "was closed by the server"
             : (what & BEV_EVENT_TIMEOUT) ? "timed out (send_receive_timeout)" : "failed");
    if (what & BEV_EVENT_TIMEOUT) {
        /* a silent connection: every query on it has waited rw_timeout for data */
        chb_h2 *h = c->h2;
        while (h->reqs) {
            chb_request *r = h->reqs;
            nghttp2_session_set_stream_user_data(h->session, r->h2.stream_id, NULL);
            detach(c, r);
            chb_req_retry_or_fail(r, 0, ERR_TIMEOUT, msg);
        }
        h->goaway = 1;
        chb_pool_drop_h2(c);
        return;
    }
    fail_all(c, msg);
}

void chb_h2_goodbye(chb_conn *c) {
    if (!c->h2) return;
    nghttp2_session_terminate_session(c->h2->session, NGHTTP2_NO_ERROR);
    flush(c);
}

void chb_h2_free(chb_conn *c) {
    CHB_INVARIANT(c->h2->reqs == NULL);
    nghttp2_session_del(c->h2->session);
    free(c->h2);
    c->h2 = NULL;
}
