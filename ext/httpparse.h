/* I/O-free HTTP/1.1 response parser (pure C, no globals, no Python).
 *
 * Feed it the bytes read from a socket; it calls back with the status line, each
 * header, the end of the headers, de-chunked body slices (zero-copy pointers into
 * the fed buffer) and the end of the message. Only partial status/header lines are
 * copied (into a small heap buffer bounded by the limits), so release it with
 * hp_free() when the connection goes away.
 */
#ifndef CHB_HTTPPARSE_H
#define CHB_HTTPPARSE_H
#include <stddef.h>
#include <stdint.h>

enum hp_err {
    HP_OK = 0,
    HP_ERR_CALLBACK = -1,          /* a callback returned non-zero (see hp_consumed) */
    HP_ERR_BAD_STATUS = -2,        /* not an HTTP/1.x status line (garbage, TLS, SSH...) */
    HP_ERR_STATUS_TOO_LONG = -3,
    HP_ERR_BAD_HEADER = -4,
    HP_ERR_HEADER_TOO_LONG = -5,
    HP_ERR_HEADERS_TOO_LARGE = -6,
    HP_ERR_TOO_MANY_HEADERS = -7,
    HP_ERR_BAD_CONTENT_LENGTH = -8,
    HP_ERR_BAD_TRANSFER_ENCODING = -9, /* a coding other than chunked: we cannot decode it */
    HP_ERR_BAD_CHUNK = -10,
    HP_ERR_CHUNK_TOO_LARGE = -11,  /* chunk size does not fit in 64 bits */
    HP_ERR_TRUNCATED = -12,        /* EOF inside headers or a framed body */
    HP_ERR_NO_RESPONSE = -13,      /* EOF before any byte of a response (idle close) */
    HP_ERR_UPGRADE = -14,          /* 101 Switching Protocols: never requested */
    HP_ERR_NOMEM = -15,
    HP_ERR_CLOSED = -16,           /* bytes after a read-until-close body ended, or feed after eof */
};

typedef struct hp_limits {
    size_t max_status_line;   /* bytes, without the line terminator; default 8 KiB */
    size_t max_header_line;   /* one header / chunk-size / trailer line; default 16 KiB */
    size_t max_headers_size;  /* all header lines of one response; default 64 KiB */
    size_t max_headers;       /* number of header lines; default 128 */
} hp_limits;

typedef struct hp_callbacks {
    int (*on_status)(void *ud, int code, const char *reason, size_t reason_len);
    int (*on_header)(void *ud, const char *name, size_t name_len, const char *value, size_t value_len);
    int (*on_headers_done)(void *ud);     /* after the final (non-1xx) response's headers */
    int (*on_body)(void *ud, const char *data, size_t len);   /* de-chunked body bytes, zero-copy slices of the input */
    int (*on_done)(void *ud);             /* message complete; parser is then ready for the next response (keep-alive) */
} hp_callbacks;   /* cb itself and any callback may be NULL. A callback returning non-zero pauses: hp_feed returns at once
                   * with HP_ERR_CALLBACK; the event was fully processed, hp_consumed() tells how many bytes
                   * of that feed were used, and feeding the rest later resumes exactly where it stopped. */

/* Public so it can be embedded; fields marked (ro) may be read after on_headers_done. */
typedef struct hp_parser {
    hp_limits lim;
    int state;
    int err;                  /* sticky error (0 = none) */
    int status;               /* (ro) status code of the current response */
    int http_minor;           /* (ro) 0 or 1 */
    int keep_alive;           /* (ro) see hp_keep_alive */
    int chunked;              /* (ro) body is chunked */
    int has_length;           /* (ro) Content-Length given (and used) */
    int conn_close, conn_keep_alive, te_state, no_body_next, started;
    uint64_t content_length;  /* (ro) value of Content-Length */
    uint64_t remaining;       /* body / chunk bytes left */
    size_t nheaders, header_bytes, chunk_line, chunk_digits;
    size_t consumed;          /* bytes used by the last hp_feed (also on HP_ERR_CALLBACK) */
    char *lbuf;               /* partial line; capacity lcap */
    size_t llen, lcap;
} hp_parser;

void hp_init(hp_parser *p, const hp_limits *limits /* NULL = defaults */);
/* Back to the initial state for a new connection (keeps the limits and the line buffer). */
void hp_reset(hp_parser *p);
/* Release the line buffer; the parser may be hp_init'ed again afterwards. */
void hp_free(hp_parser *p);
/* The next response answers a HEAD request: it has no body whatever the headers say. */
void hp_expect_no_body(hp_parser *p);
/* Feed bytes. Returns the number of bytes consumed (== len, or less when a message completed:
 * it stops right after on_done so leftover bytes are visible to the caller), or a negative
 * hp_err. Errors other than HP_ERR_CALLBACK are sticky until hp_reset. */
ptrdiff_t hp_feed(hp_parser *p, const char *data, size_t len, const hp_callbacks *cb, void *ud);
/* The peer closed the connection: completes a read-until-close body (calls on_done, returns 0) or
 * returns an error (HP_ERR_TRUNCATED, HP_ERR_NO_RESPONSE when nothing of a response arrived). */
int hp_eof(hp_parser *p, const hp_callbacks *cb, void *ud);
/* Bytes consumed by the last hp_feed call (useful after HP_ERR_CALLBACK). */
size_t hp_consumed(const hp_parser *p);
const char *hp_strerror(int err);
/* After headers: may the connection be reused (HTTP/1.1 default yes, Connection: close no,
 * HTTP/1.0 no unless keep-alive, read-until-close body no). */
int hp_keep_alive(const hp_parser *p);
#endif
