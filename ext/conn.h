/* A pooled connection as the pool and the request life (exchange.c) see it: its
 * state and a table of operations, filled by the protocol that runs it (http1.c,
 * switched to HTTP/2's when ALPN picks h2). The pool never names a protocol: it
 * calls c->ops, and opens connections through the connector it is given. */
#ifndef CHB_CONN_H
#define CHB_CONN_H
#include <event2/bufferevent.h>
#include "httpparse.h"
#include "request.h"
struct chb_pool;
typedef enum { CONN_CONNECTING, CONN_IDLE, CONN_BUSY, CONN_CLOSED } chb_conn_state;

typedef struct chb_conn {
    const struct chb_conn_ops *ops; /* the protocol it speaks now (HTTP/1.1, or h2 after ALPN) */
    struct chb_pool *pool;
    struct bufferevent *bev;
    struct ssl_st *ssl;       /* TLS connections (owned by bev) */
    struct chb_h2 *h2;        /* set when ALPN chose h2 */
    chb_conn_state state;
    hp_parser parser;
    chb_request *req;         /* HTTP/1.1: the request in flight */
    struct event *idle_timer;
    int served;               /* responses completed on this connection */
    int addr_idx;
    unsigned addr_epoch;      /* the pool's address set it was opened from (hosts.c) */
    double keepalive;         /* server's Keep-Alive timeout, 0 if unknown */
    int msg_done;             /* the parser saw the end of the response */
    int clean_close;          /* closed while idle, not because of an error */
    int kill;                 /* carries the driver's KILL QUERY requests only (HTTP/1.1) */
    double connect_timeout;   /* of the request it was opened for */
    double idle_timeout;      /* of the last request it carried */
    double opened_at;         /* chb_now() when its connect began (the connect hedge, hosts.c) */
    struct chb_hostset *orphan_of; /* a hedged connect whose request left (http1.c): its host set */
    struct chb_conn *next;    /* pool list (idle HTTP/1.1, or HTTP/2 connections) */
} chb_conn;

typedef struct chb_conn_ops {
    /* send r (the pool checked capacity first) */
    void (*start)(chb_conn *c, chb_request *r);
    /* how many more requests it takes now (HTTP/1.1: 1 while idle; h2: 0 after GOAWAY) */
    int (*capacity)(chb_conn *c);
    /* take r off c mid-response (cancel, timeout): HTTP/1.1 drops the connection, h2 resets the stream */
    void (*abort)(chb_conn *c, chb_request *r);
    /* r was paused by backpressure and may read again */
    void (*resume)(chb_conn *c, chb_request *r);
    /* became idle: arm the idle timer (closes it before the server's Keep-Alive runs out) */
    void (*park)(chb_conn *c);
    /* politely end an idle connection (h2: GOAWAY) before the pool closes it */
    void (*goodbye)(chb_conn *c);
    void (*close)(chb_conn *c);
    /* the request waiting on this connect went to another host (the connect hedge):
     * the connect goes on without it, for the pool (HTTP/1.1 only: ALPN comes later) */
    void (*orphan)(chb_conn *c);
    int multiplexed;          /* carries many requests at once (kept on the pool's h2 list) */
} chb_conn_ops;

/* Opens a connection of pool p for r (and starts r on it once connected). */
typedef void (*chb_conn_connector)(struct chb_pool *p, chb_request *r);

/* How long an idle connection may stay open: before the server's Keep-Alive
 * timeout, so that we never send on a socket the server is about to close. */
static inline double chb_idle_seconds(const chb_conn *c) {
    double t = c->idle_timeout;
    if (c->keepalive > 0 && (t <= 0 || c->keepalive - 0.5 < t)) t = c->keepalive - 0.5;
    return t <= 0 ? 0.05 : t;
}
#endif
