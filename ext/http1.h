/* A pooled connection and HTTP/1.1 on it: one request at a time, the response fed
 * to the I/O-free parser (httpparse.c). After ALPN picks h2 the connection is run
 * by http2.c instead. Engine thread only. */
#ifndef CHB_HTTP1_H
#define CHB_HTTP1_H
#include <event2/bufferevent.h>
#include "httpparse.h"
#include "request.h"

typedef enum { CONN_CONNECTING, CONN_IDLE, CONN_BUSY, CONN_CLOSED } chb_conn_state;

typedef struct chb_conn {
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
    struct chb_conn *next;    /* pool list (idle HTTP/1.1, or HTTP/2 connections) */
} chb_conn;

void chb_conn_open(struct chb_pool *p, chb_request *r);
void chb_conn_start(chb_conn *c, chb_request *r);
void chb_conn_close(chb_conn *c);
/* became idle: arm the idle timer (closes it before the server's Keep-Alive runs out) */
void chb_conn_park(chb_conn *c);
/* take r off c mid-response (cancel, timeout): HTTP/1.1 drops the connection, h2 resets the stream */
void chb_conn_abort(chb_conn *c, chb_request *r);
/* r was paused by backpressure and may read again */
void chb_conn_resume(chb_conn *c, chb_request *r);
double chb_idle_seconds(chb_conn *c);
#endif
