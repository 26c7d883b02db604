/* Protocol-independent handling of one response, shared by HTTP/1.1 and HTTP/2:
 * status and headers, the body framed into Native blocks (or kept raw), and the
 * final outcome. Engine thread only. */
#ifndef CHB_RESPONSE_H
#define CHB_RESPONSE_H
#include <stddef.h>
#include "request.h"

/* A new response begins (also on a retry). */
void chb_resp_begin(chb_request *r);
void chb_resp_status(chb_request *r, int code);
/* Returns the Keep-Alive timeout if this header carries one, else 0. */
double chb_resp_header(chb_request *r, const char *name, size_t nlen, const char *value, size_t vlen);
int chb_resp_headers_done(chb_request *r);
/* Body bytes. -1: the request failed (already recorded) or out of memory. After it
 * returns, the request may be REQ_PAUSED: the protocol must stop reading it. */
int chb_resp_body(chb_request *r, const char *data, size_t len);
/* The body ended (before ok/publish): finishes decompression; -1 if that failed
 * (recorded on the request). */
int chb_resp_end(chb_request *r);
/* The response ended: is it complete and successful? (Decide before releasing the
 * connection; publish after.) */
int chb_resp_ok(const chb_request *r);
/* Record DONE or the failure the response carries, and wake the consumer. */
void chb_resp_publish(chb_request *r);
#endif
