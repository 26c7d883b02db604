/* What a request is made of before any protocol carries it (pure C, no Python). */
#ifndef CHB_WIRE_H
#define CHB_WIRE_H
#include <stddef.h>
#include "buf.h"

/* The request's HTTP/1.1 bytes into w (*body_off: where the body starts); -1 when out of
 * memory (checked once: chb_buf's flag is sticky). */
int chb_wire_build(chb_buf *w, const char *static_params, const char *host_header, const char *headers,
                   const char *qid, const char *extra, const char *xheaders, const char *body, size_t body_len,
                   size_t *body_off);
/* KILL QUERY ... ASYNC for query_id; -1 when out of memory. */
int chb_wire_kill_statement(chb_buf *out, const char *query_id);
/* A random (version 4) UUID as text, for query ids. */
void chb_random_query_id(char *out, size_t n);
/* The values of the credential headers (Authorization, X-ClickHouse-Key) in CRLF-separated
 * header text: NUL-separated, double-NUL ended, for redaction; -1 when out of memory. */
int chb_wire_secrets(const char *headers, chb_buf *out);
#endif
