/* A pooled connection and HTTP/1.1 on it: one request at a time, the response fed
 * to the I/O-free parser (httpparse.c). After ALPN picks h2 the connection is run
 * by http2.c instead. Engine thread only. */
#ifndef CHB_HTTP1_H
#define CHB_HTTP1_H
#include "conn.h"



/* The connector given to the pool: a new connection (TCP, TLS) that starts r. */
void chb_conn_open(struct chb_pool *p, chb_request *r);
#endif
