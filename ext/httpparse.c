/* I/O-free HTTP/1.1 response parser. See httpparse.h. */
#include "httpparse.h"
#include <stdlib.h>
#include <string.h>

enum {
    S_STATUS,        /* waiting for / inside the status line */
    S_HEADER,        /* header lines until the empty line */
    S_BODY_LEN,      /* Content-Length body */
    S_BODY_CLOSE,    /* read until the peer closes */
    S_CHUNK_SIZE,    /* hex digits of a chunk-size line */
    S_CHUNK_WS,      /* whitespace after the size */
    S_CHUNK_EXT,     /* ;extension up to the end of the line */
    S_CHUNK_SIZE_LF, /* CR seen at the end of the size line */
    S_CHUNK_DATA,
    S_CHUNK_DATA_CR, /* CRLF after chunk data */
    S_CHUNK_DATA_LF,
    S_TRAILER,       /* trailer lines after the last chunk */
    S_DONE_PENDING,  /* message complete, on_done not called yet */
    S_CLOSED,        /* after hp_eof */
};

/* TE states */
enum { TE_NONE, TE_CHUNKED, TE_IDENTITY };

static const char HTTP_PREFIX[] = "HTTP/1.";

void hp_init(hp_parser *p, const hp_limits *limits) {
    memset(p, 0, sizeof *p);
    if (limits) {
        p->lim = *limits;
    } else {
        p->lim.max_status_line = 8 * 1024;
        p->lim.max_header_line = 16 * 1024;
        p->lim.max_headers_size = 64 * 1024;
        p->lim.max_headers = 128;
    }
    p->state = S_STATUS;
}

static void reset_message(hp_parser *p) {
    p->state = S_STATUS;
    p->status = 0;
    p->http_minor = 0;
    p->chunked = 0;
    p->has_length = 0;
    p->conn_close = 0;
    p->conn_keep_alive = 0;
    p->te_state = TE_NONE;
    p->content_length = 0;
    p->remaining = 0;
    p->nheaders = 0;
    p->header_bytes = 0;
    p->chunk_line = 0;
    p->chunk_digits = 0;
    p->llen = 0;
}

void hp_reset(hp_parser *p) {
    reset_message(p);
    p->err = 0;
    p->keep_alive = 0;
    p->no_body_next = 0;
    p->started = 0;
    p->consumed = 0;
}

void hp_free(hp_parser *p) {
    free(p->lbuf);
    p->lbuf = NULL;
    p->llen = p->lcap = 0;
}

void hp_expect_no_body(hp_parser *p) { p->no_body_next = 1; }
size_t hp_consumed(const hp_parser *p) { return p->consumed; }
int hp_keep_alive(const hp_parser *p) { return p->keep_alive; }

const char *hp_strerror(int err) {
    switch (err) {
    case HP_OK: return "ok";
    case HP_ERR_CALLBACK: return "stopped by callback";
    case HP_ERR_BAD_STATUS: return "invalid HTTP status line (not an HTTP/1.x server?)";
    case HP_ERR_STATUS_TOO_LONG: return "HTTP status line too long";
    case HP_ERR_BAD_HEADER: return "invalid HTTP header line";
    case HP_ERR_HEADER_TOO_LONG: return "HTTP header line too long";
    case HP_ERR_HEADERS_TOO_LARGE: return "HTTP response headers too large";
    case HP_ERR_TOO_MANY_HEADERS: return "too many HTTP response headers";
    case HP_ERR_BAD_CONTENT_LENGTH: return "invalid Content-Length";
    case HP_ERR_BAD_TRANSFER_ENCODING: return "unsupported Transfer-Encoding";
    case HP_ERR_BAD_CHUNK: return "invalid chunked encoding";
    case HP_ERR_CHUNK_TOO_LARGE: return "chunk size too large";
    case HP_ERR_TRUNCATED: return "connection closed in the middle of an HTTP response";
    case HP_ERR_NO_RESPONSE: return "connection closed before any response";
    case HP_ERR_UPGRADE: return "unexpected 101 Switching Protocols";
    case HP_ERR_NOMEM: return "out of memory";
    case HP_ERR_CLOSED: return "data after the end of a connection-delimited response";
    default: return "unknown HTTP parser error";
    }
}

/* --- character classes ------------------------------------------------- */

static int is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

/* Control bytes other than HTAB are not allowed in field values / reasons. */
static int is_bad_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }
static int is_ows(char c) { return c == ' ' || c == '\t'; }

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Case-insensitive compare of s[0..n) with the lowercase literal lit. */
static int ieq(const char *s, size_t n, const char *lit) {
    size_t m = strlen(lit);
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != lit[i]) return 0;
    return 1;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* --- line assembly ----------------------------------------------------- */

static int lbuf_append(hp_parser *p, const char *src, size_t n) {
    if (n == 0) return 0;
    if (p->llen + n > p->lcap) {
        size_t cap = p->lcap ? p->lcap : 128;
        while (cap < p->llen + n) cap *= 2;
        char *nb = realloc(p->lbuf, cap);
        if (!nb) return -1;
        p->lbuf = nb;
        p->lcap = cap;
    }
    memcpy(p->lbuf + p->llen, src, n);
    p->llen += n;
    return 0;
}

/* Get one complete line (terminator stripped; LF or CRLF). Returns 1 with line, n and raw
 * (raw = bytes including the terminator), 0 when all input was buffered and more is
 * needed, or a negative error. *line may point into p->lbuf: it stays valid until the
 * next append, and p->llen is already reset. */
static int take_line(hp_parser *p, const char *data, size_t len, size_t *pos, size_t max, int toolong,
                     const char **line, size_t *n, size_t *raw) {
    const char *start = data + *pos;
    size_t avail = len - *pos;
    const char *nl = memchr(start, '\n', avail);
    if (!nl) {
        /* +1: the buffered tail may be a CR that belongs to the terminator */
        if (p->llen + avail > max + 1) return toolong;
        if (lbuf_append(p, start, avail)) return HP_ERR_NOMEM;
        *pos = len;
        return 0;
    }
    size_t seg = (size_t)(nl - start);
    const char *l;
    size_t ln;
    if (p->llen) {
        if (p->llen + seg > max + 1) return toolong;
        if (lbuf_append(p, start, seg)) return HP_ERR_NOMEM;
        l = p->lbuf;
        ln = p->llen;
    } else {
        l = start;
        ln = seg;
    }
    *raw = ln + 1;
    if (ln && l[ln - 1] == '\r') ln--;
    if (ln > max) return toolong;
    *pos += seg + 1;
    p->llen = 0;
    *line = l;
    *n = ln;
    return 1;
}

/* --- line parsers ------------------------------------------------------ */

static int parse_status(hp_parser *p, const char *l, size_t n, const char **reason, size_t *rlen) {
    /* HTTP/1.x SP 3DIGIT [SP reason] */
    if (n < 12 || memcmp(l, HTTP_PREFIX, 7) != 0) return HP_ERR_BAD_STATUS;
    if (l[7] < '0' || l[7] > '9' || l[8] != ' ') return HP_ERR_BAD_STATUS;
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9') return HP_ERR_BAD_STATUS;
        code = code * 10 + (l[i] - '0');
    }
    if (code < 100) return HP_ERR_BAD_STATUS;
    if (n > 12 && l[12] != ' ') return HP_ERR_BAD_STATUS;
    for (size_t i = 13; i < n; i++)
        if (is_bad_ctl((unsigned char)l[i])) return HP_ERR_BAD_STATUS;
    p->status = code;
    p->http_minor = l[7] == '0' ? 0 : 1;
    *reason = n > 13 ? l + 13 : l + n;
    *rlen = n > 13 ? n - 13 : 0;
    return 0;
}

/* Split "Name: value" with OWS trimmed around the value. */
static int split_header(const char *l, size_t n, size_t *name_len, const char **value, size_t *vlen) {
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)l[i])) i++;
    /* no whitespace before ':' (RFC 9112 5.1); a leading SP/HTAB is obs-fold: rejected */
    if (i == 0 || i == n || l[i] != ':') return HP_ERR_BAD_HEADER;
    *name_len = i;
    size_t b = i + 1, e = n;
    while (b < e && is_ows(l[b])) b++;
    while (e > b && is_ows(l[e - 1])) e--;
    for (size_t k = b; k < e; k++)
        if (is_bad_ctl((unsigned char)l[k])) return HP_ERR_BAD_HEADER;
    *value = l + b;
    *vlen = e - b;
    return 0;
}

static int note_content_length(hp_parser *p, const char *v, size_t n) {
    if (n == 0) return HP_ERR_BAD_CONTENT_LENGTH;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return HP_ERR_BAD_CONTENT_LENGTH;
        unsigned d = (unsigned)(v[i] - '0');
        if (x > (UINT64_MAX - d) / 10) return HP_ERR_BAD_CONTENT_LENGTH;
        x = x * 10 + d;
    }
    /* repeated Content-Length must agree, or the framing is ambiguous */
    if (p->has_length && p->content_length != x) return HP_ERR_BAD_CONTENT_LENGTH;
    p->has_length = 1;
    p->content_length = x;
    return 0;
}

/* Calls fn(p, token, len) for each comma-separated token, OWS trimmed, empties skipped. */
static int each_token(hp_parser *p, const char *v, size_t n, int (*fn)(hp_parser *, const char *, size_t)) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',') j++;
        size_t b = i, e = j;
        while (b < e && is_ows(v[b])) b++;
        while (e > b && is_ows(v[e - 1])) e--;
        if (e > b) {
            int r = fn(p, v + b, e - b);
            if (r) return r;
        }
        i = j + 1;
    }
    return 0;
}

static int te_token(hp_parser *p, const char *t, size_t n) {
    if (ieq(t, n, "chunked")) {
        if (p->te_state == TE_CHUNKED) return HP_ERR_BAD_TRANSFER_ENCODING; /* chunked twice */
        p->te_state = TE_CHUNKED;
        return 0;
    }
    /* anything after chunked, or a real coding (gzip...), cannot be framed/decoded here */
    if (ieq(t, n, "identity") && p->te_state != TE_CHUNKED) {
        p->te_state = TE_IDENTITY;
        return 0;
    }
    return HP_ERR_BAD_TRANSFER_ENCODING;
}

static int conn_token(hp_parser *p, const char *t, size_t n) {
    if (ieq(t, n, "close")) p->conn_close = 1;
    else if (ieq(t, n, "keep-alive")) p->conn_keep_alive = 1;
    return 0;
}

static int note_header(hp_parser *p, const char *name, size_t nl, const char *v, size_t vl) {
    if (ieq(name, nl, "content-length")) return note_content_length(p, v, vl);
    if (ieq(name, nl, "transfer-encoding")) return each_token(p, v, vl, te_token);
    if (ieq(name, nl, "connection")) return each_token(p, v, vl, conn_token);
    return 0;
}

static int count_line(hp_parser *p, size_t raw) {
    if (++p->nheaders > p->lim.max_headers) return HP_ERR_TOO_MANY_HEADERS;
    p->header_bytes += raw;
    if (p->header_bytes > p->lim.max_headers_size) return HP_ERR_HEADERS_TOO_LARGE;
    return 0;
}

/* --- main loop --------------------------------------------------------- */

#define FAIL(e) do { p->err = (e); p->consumed = pos; return p->err; } while (0)
#define CALL(expr) do { if (expr) { p->consumed = pos; return HP_ERR_CALLBACK; } } while (0)

static const hp_callbacks NO_CALLBACKS = {NULL, NULL, NULL, NULL, NULL};

ptrdiff_t hp_feed(hp_parser *p, const char *data, size_t len, const hp_callbacks *cb, void *ud) {
    size_t pos = 0;
    if (!cb) cb = &NO_CALLBACKS;
    p->consumed = 0;
    if (p->err) return p->err;
    if (p->state == S_CLOSED) { if (len) FAIL(HP_ERR_CLOSED); return 0; }
    for (;;) {
        if (p->state == S_DONE_PENDING) {
            reset_message(p);
            p->started = 0;
            p->no_body_next = 0;
            p->consumed = pos;
            if (cb->on_done && cb->on_done(ud)) return HP_ERR_CALLBACK;
            /* stop after one message so the caller sees the leftover bytes */
            return (ptrdiff_t)pos;
        }
        if (pos >= len) break;
        switch (p->state) {
        case S_STATUS: {
            p->started = 1;
            /* reject garbage early: the first bytes must spell "HTTP/1." */
            for (size_t i = 0; p->llen + i < 7 && pos + i < len; i++)
                if (data[pos + i] != HTTP_PREFIX[p->llen + i]) FAIL(HP_ERR_BAD_STATUS);
            const char *l, *reason;
            size_t n, raw, rlen;
            int r = take_line(p, data, len, &pos, p->lim.max_status_line, HP_ERR_STATUS_TOO_LONG, &l, &n, &raw);
            if (r < 0) FAIL(r);
            if (r == 0) break;
            if ((r = parse_status(p, l, n, &reason, &rlen))) FAIL(r);
            if (p->status == 101) FAIL(HP_ERR_UPGRADE);
            p->state = S_HEADER;
            if (p->status >= 200 && cb->on_status) CALL(cb->on_status(ud, p->status, reason, rlen));
            break;
        }
        case S_HEADER:
        case S_TRAILER: {
            const char *l, *v;
            size_t n, raw, nl, vl;
            int r = take_line(p, data, len, &pos, p->lim.max_header_line, HP_ERR_HEADER_TOO_LONG, &l, &n, &raw);
            if (r < 0) FAIL(r);
            if (r == 0) break;
            if (n == 0) {
                if (p->state == S_TRAILER) {
                    p->state = S_DONE_PENDING;
                    break;
                }
                if (p->status < 200) { /* interim 1xx: skip it, the real response follows */
                    reset_message(p);
                    break;
                }
                /* framing of the final response (RFC 9112 6.3) */
                int ka = p->http_minor >= 1 ? !p->conn_close : (p->conn_keep_alive && !p->conn_close);
                if (p->no_body_next || p->status == 204 || p->status == 304) {
                    p->state = S_DONE_PENDING;
                } else if (p->te_state == TE_CHUNKED) {
                    if (p->has_length) ka = 0; /* both given: smuggling risk, don't reuse */
                    p->chunked = 1;
                    p->has_length = 0;
                    p->state = S_CHUNK_SIZE;
                } else if (p->has_length) {
                    p->remaining = p->content_length;
                    p->state = p->remaining ? S_BODY_LEN : S_DONE_PENDING;
                } else {
                    ka = 0;
                    p->state = S_BODY_CLOSE;
                }
                p->keep_alive = ka;
                if (cb->on_headers_done) CALL(cb->on_headers_done(ud));
                break;
            }
            if ((r = split_header(l, n, &nl, &v, &vl))) FAIL(r);
            /* ClickHouse repeats X-ClickHouse-Progress every 100 ms while a query runs:
             * a long query sends thousands, each kept only until the next one, so they
             * do not count against the limits of the header section. */
            if (!ieq(l, nl, "x-clickhouse-progress") && (r = count_line(p, raw))) FAIL(r);
            if (p->state == S_TRAILER) break; /* trailers are validated and dropped */
            if ((r = note_header(p, l, nl, v, vl))) FAIL(r);
            if (p->status >= 200 && cb->on_header) CALL(cb->on_header(ud, l, nl, v, vl));
            break;
        }
        case S_BODY_LEN:
        case S_CHUNK_DATA: {
            size_t n = len - pos;
            if ((uint64_t)n > p->remaining) n = (size_t)p->remaining;
            const char *d = data + pos;
            pos += n;
            p->remaining -= n;
            if (p->remaining == 0) p->state = p->state == S_BODY_LEN ? S_DONE_PENDING : S_CHUNK_DATA_CR;
            if (cb->on_body) CALL(cb->on_body(ud, d, n));
            break;
        }
        case S_BODY_CLOSE: {
            const char *d = data + pos;
            size_t n = len - pos;
            pos = len;
            if (cb->on_body) CALL(cb->on_body(ud, d, n));
            break;
        }
        case S_CHUNK_SIZE:
        case S_CHUNK_WS:
        case S_CHUNK_EXT:
        case S_CHUNK_SIZE_LF: {
            /* byte-wise: the size line is short and needs no buffering */
            unsigned char c = (unsigned char)data[pos++];
            if (++p->chunk_line > p->lim.max_header_line + 2) FAIL(HP_ERR_HEADER_TOO_LONG);
            int end = 0;
            if (p->state == S_CHUNK_SIZE_LF) {
                if (c != '\n') FAIL(HP_ERR_BAD_CHUNK);
                end = 1;
            } else if (c == '\r' || c == '\n') {
                if (p->chunk_digits == 0) FAIL(HP_ERR_BAD_CHUNK);
                if (c == '\r') p->state = S_CHUNK_SIZE_LF;
                else end = 1;
            } else if (p->state == S_CHUNK_EXT) {
                if (is_bad_ctl(c)) FAIL(HP_ERR_BAD_CHUNK);
            } else if (c == ';') {
                if (p->chunk_digits == 0) FAIL(HP_ERR_BAD_CHUNK);
                p->state = S_CHUNK_EXT;
            } else if (is_ows((char)c)) {
                if (p->chunk_digits == 0) FAIL(HP_ERR_BAD_CHUNK);
                p->state = S_CHUNK_WS;
            } else {
                int h = hexval(c);
                if (h < 0 || p->state == S_CHUNK_WS) FAIL(HP_ERR_BAD_CHUNK);
                if (p->remaining > (UINT64_MAX >> 4)) FAIL(HP_ERR_CHUNK_TOO_LARGE);
                p->remaining = (p->remaining << 4) | (uint64_t)h;
                p->chunk_digits++;
            }
            if (end) {
                p->chunk_line = 0;
                p->chunk_digits = 0;
                p->state = p->remaining ? S_CHUNK_DATA : S_TRAILER;
            }
            break;
        }
        case S_CHUNK_DATA_CR:
        case S_CHUNK_DATA_LF: {
            char c = data[pos++];
            if (p->state == S_CHUNK_DATA_CR && c == '\r') {
                p->state = S_CHUNK_DATA_LF;
            } else if (c == '\n') {
                p->state = S_CHUNK_SIZE;
            } else {
                FAIL(HP_ERR_BAD_CHUNK);
            }
            break;
        }
        default:
            FAIL(HP_ERR_CLOSED);
        }
    }
    p->consumed = pos;
    return (ptrdiff_t)pos;
}

int hp_eof(hp_parser *p, const hp_callbacks *cb, void *ud) {
    if (!cb) cb = &NO_CALLBACKS;
    if (p->err) return p->err;
    switch (p->state) {
    case S_BODY_CLOSE:
    case S_DONE_PENDING:
        reset_message(p);
        p->state = S_CLOSED;
        p->started = 0;
        if (cb->on_done && cb->on_done(ud)) return HP_ERR_CALLBACK;
        return 0;
    case S_CLOSED:
        return HP_ERR_CLOSED;
    case S_STATUS:
        if (!p->started && p->llen == 0) {
            p->state = S_CLOSED;
            return p->err = HP_ERR_NO_RESPONSE;
        }
        /* fallthrough */
    default:
        p->state = S_CLOSED;
        return p->err = HP_ERR_TRUNCATED;
    }
}
