/* HTTP/1.1 client connection: writes one request at a time, feeds the response to
 * the I/O-free parser (httpparse.c) and the Native framing scanner (native.c). */
#ifndef CHB_HTTP1_H
#define CHB_HTTP1_H
#include <event2/bufferevent.h>
#include "httpparse.h"
#include "request.h"

typedef enum { CONN_CONNECTING, CONN_IDLE, CONN_BUSY, CONN_CLOSED } chb_conn_state;

typedef struct chb_conn {
    struct chb_pool *pool;
    struct bufferevent *bev;
    chb_conn_state state;
    hp_parser parser;
    chb_request *req;
    struct event *idle_timer;
    int served;               /* responses completed on this connection */
    int addr_idx;
    double keepalive;         /* server's Keep-Alive timeout, 0 if unknown */
    int status;               /* HTTP status of the response being read */
    int msg_done;             /* the parser saw the end of the response */
    struct chb_conn *next;    /* idle list */
} chb_conn;

/* engine thread */
void chb_conn_open(struct chb_pool *p, chb_request *r);
void chb_conn_start(chb_conn *c, chb_request *r);
void chb_conn_close(chb_conn *c);
void chb_conn_park(chb_conn *c);   /* became idle: arm the idle timer */

/* Engine-thread entry points for a request (scheduled with chb_loop_submit). */
void chb_req_start_task(void *req);
void chb_req_cancel_task(void *req);
void chb_req_resume_task(void *req);
/* The consumer let go of an unfinished result: drain a small rest to keep the
 * connection, else abort (close, KILL QUERY). */
void chb_req_abandon_task(void *req);
/* Engine thread: r reached a terminal state and is detached; release engine-side resources. */
void chb_req_engine_done(chb_request *r);
#endif
