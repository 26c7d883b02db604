/* HTTP/2 (nghttp2) on a pooled TLS connection whose ALPN chose h2: many requests
 * as concurrent streams, per-stream flow control as backpressure, RST_STREAM on
 * cancel, GOAWAY survived by finishing in-flight streams and retrying refused ones.
 * Engine thread only. */
#ifndef CHB_HTTP2_H
#define CHB_HTTP2_H
#include "conn.h"

/* The connection just negotiated h2: set up the session and send r as its first stream. */
void chb_h2_start(chb_conn *c, chb_request *r);
/* Another request on an established h2 connection (the pool checked its capacity). */
void chb_h2_submit(chb_conn *c, chb_request *r);
/* How many more streams this connection takes now (0 after GOAWAY). */
int chb_h2_capacity(chb_conn *c);
void chb_h2_abort(chb_conn *c, chb_request *r);
void chb_h2_resume(chb_conn *c, chb_request *r);
void chb_h2_read(chb_conn *c);
void chb_h2_event(chb_conn *c, short what);
/* Politely end an idle session (GOAWAY) before the pool closes the connection. */
void chb_h2_goodbye(chb_conn *c);
void chb_h2_free(chb_conn *c);
#endif
