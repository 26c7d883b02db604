/* What a request is made of before any protocol carries it (pure C, no Python): a
 * structured message (method, target, header pairs, credentials, body) that http1.c
 * writes as HTTP/1.1 bytes and http2.c as nghttp2 name/value pairs, each for the
 * host of the connection it is sent on. Also the KILL QUERY statement, random query
 * ids and URL escaping. */
#ifndef CHB_WIRE_H
#define CHB_WIRE_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

/* How credentials travel; the same numbers are _engine.AUTH_* in Python. */
typedef enum { CHB_AUTH_NONE = 0, CHB_AUTH_BASIC = 1, CHB_AUTH_HEADERS = 2 } chb_auth;

/* Header (or URL parameter) name/value pairs, stored "name\0value\0..." in one buffer. */
typedef struct {
    chb_buf b;
    int n;
} chb_pairs;

static inline void chb_pairs_init(chb_pairs *p) { chb_buf_init(&p->b); p->n = 0; }
static inline void chb_pairs_free(chb_pairs *p) { chb_buf_free(&p->b); p->n = 0; }
/* Appends one pair (failure: the buffer's sticky flag, checked once by the builder). */
void chb_pairs_add(chb_pairs *p, const char *name, const char *value);
/* Walks the pairs: start with at = NULL; returns the next name (NULL at the end) and
 * sets *value. */
const char *chb_pairs_next(const chb_pairs *p, const char *at, const char **value);

/* What every request of one client shares, and its KILL QUERY requests too: built
 * once, immutable, reference-counted (consumer threads and the engine thread). */
typedef struct chb_msg_base {
    int refs;
    char *params;       /* the client's URL parameters, URL-encoded ("database=x&default_format=Native") */
    chb_pairs headers;  /* the client's headers (User-Agent, Accept-Encoding...) */
    chb_pairs auth;     /* credential headers, made here from user and password */
    chb_buf secrets;    /* the credential values: NUL-separated, double-NUL ended, for redaction */
} chb_msg_base;

/* params and headers as pairs; user/password per auth. NULL when out of memory. */
chb_msg_base *chb_msg_base_new(const chb_pairs *params, const chb_pairs *headers, chb_auth auth, const char *user,
                               const char *password);
void chb_msg_base_incref(chb_msg_base *b);
void chb_msg_base_decref(chb_msg_base *b);

/* One request. Header order on the wire: the base's, its credentials, the request's own. */
typedef struct chb_msg {
    const char *method;   /* static: "POST", "GET" */
    char *target;         /* path and URL-encoded query string */
    chb_msg_base *base;   /* referenced; NULL for the driver's own GETs (health checks) */
    chb_pairs headers;    /* this request's own (Content-Encoding) */
    uint8_t *body;        /* malloc'd */
    size_t body_len;
} chb_msg;

/* A query: POST <path>?<base params>&query_id=<qid>&<params>, with body (copied).
 * -1 when out of memory (m is then empty). */
int chb_msg_query(chb_msg *m, chb_msg_base *base, const char *query_id, const chb_pairs *params,
                  const chb_pairs *headers, const void *body, size_t body_len);
/* A body-less GET of path (health checks); -1 when out of memory. */
int chb_msg_get(chb_msg *m, const char *path);
/* dst = a deep copy of src (the base is shared); -1 when out of memory. */
int chb_msg_copy(chb_msg *dst, const chb_msg *src);
void chb_msg_free(chb_msg *m);

/* The most headers one request carries (checked when it is built, so that sending never fails on it). */
#define CHB_MAX_HEADERS 32

typedef struct {
    const char *name, *value;
    size_t nlen, vlen;
} chb_hdr;
/* Every header of m in wire order (Host/:authority and Content-Length excepted:
 * the protocol adds them); the count, or -1 when there are more than max. */
int chb_msg_headers(const chb_msg *m, chb_hdr *out, int max);
/* The credential values of m (NUL-separated, double-NUL ended), or NULL. */
static inline const char *chb_msg_secrets(const chb_msg *m) {
    return m->base && m->base->secrets.len ? (const char *)m->base->secrets.data : NULL;
}
/* "host:port" ("[v6]:port") for Host / :authority (made once per pool: chb_pool.authority). */
void chb_wire_authority(const char *host, int port, char *out, size_t n);
/* v in decimal into out (at least 21 bytes), NUL-terminated; returns its length.
 * For Content-Length on every request: snprintf costs more than the rest of the head. */
size_t chb_wire_u64(char *out, uint64_t v);

/* KILL QUERY ... ASYNC for query_id; -1 when out of memory. */
int chb_wire_kill_statement(chb_buf *out, const char *query_id);
/* A random (version 4) UUID as text, for query ids. */
void chb_random_query_id(char *out, size_t n);
#endif
