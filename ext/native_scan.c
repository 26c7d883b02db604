/* ClickHouse Native format: resumable framing scanner (see native_scan.h). Pure C,
 * engine thread: it walks a block's columns with an explicit frame stack so that a
 * block arriving in pieces is scanned once, not once per piece. */
#include "native_scan.h"
#include "native_wire.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const nd_type *t;
    uint64_t n;        /* values of t to skip */
    uint64_t done;     /* String: values done; LowCardinality: rows done */
    uint64_t dict;     /* LowCardinality: current dictionary size */
    uint32_t stage;
    uint32_t idx;      /* Tuple: next element */
    uint8_t have_dict;
} nd_frame;

enum { S_HEADER, S_NAME, S_TYPE, S_PREFIX, S_DATA, S_DONE, S_ERROR };

struct nd_scanner {
    int state;
    size_t pos;              /* offset of the next unread byte in the block */
    uint64_t ncols, nrows, col;
    nd_arena arena;
    const nd_type *type;     /* current column */
    nd_frame stack[ND_MAX_FRAMES];
    int depth;
    uint64_t work;
    nd_err_kind err;
    char msg[256];
};

nd_scanner *nd_scanner_new(void) {
    nd_scanner *s = calloc(1, sizeof *s);
    return s;
}

void nd_scanner_free(nd_scanner *s) {
    if (!s) return;
    nd_arena_free(&s->arena);
    free(s);
}

void nd_scanner_reset(nd_scanner *s) {
    nd_arena_free(&s->arena);
    uint64_t work = s->work;
    memset(s, 0, sizeof *s);
    s->work = work;
}

nd_err_kind nd_scanner_error_kind(const nd_scanner *s) { return s->err; }
const char *nd_scanner_error(const nd_scanner *s) { return s->msg; }
uint64_t nd_scanner_work(const nd_scanner *s) { return s->work; }

static ptrdiff_t sc_fail(nd_scanner *s, nd_err_kind kind, const char *fmt, ...) {
    s->state = S_ERROR;
    s->err = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int sc_push(nd_scanner *s, const nd_type *t, uint64_t n) {
    if (s->depth >= ND_MAX_FRAMES) return -1;   /* unreachable: depth bounded by the parser */
    nd_frame *f = &s->stack[s->depth++];
    memset(f, 0, sizeof *f);
    f->t = t;
    f->n = n;
    return 0;
}

#define NEED(k) do { if (len - s->pos < (uint64_t)(k)) return 0; } while (0)

/* Advances over column data using the frame stack. 1 = column complete,
 * 0 = need more bytes (state kept), -1 = error. */
static int sc_data(nd_scanner *s, const uint8_t *buf, size_t len) {
    while (s->depth > 0) {
        nd_frame *f = &s->stack[s->depth - 1];
        const nd_type *t = f->t;
        s->work++;
        switch (t->kind) {
        case K_STRING:
        case K_JSON:
            while (f->done < f->n) {
                uint64_t l;
                size_t used;
                int r = nd_rd_varint(buf + s->pos, len - s->pos, &l, &used);
                if (r == 0) return 0;
                if (r < 0 || l > ND_MAX_STRING) {
                    sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: bad string length in column %llu",
                            (unsigned long long)s->col);
                    return -1;
                }
                NEED(used + l);
                s->pos += used + l;
                f->done++;
                s->work++;
            }
            s->depth--;
            break;
        case K_NULLABLE:
            if (f->stage == 0) {
                NEED(f->n);
                s->pos += f->n;
                f->stage = 1;
                if (sc_push(s, t->child[0], f->n)) return -1;
            } else {
                s->depth--;
            }
            break;
        case K_ARRAY:
        case K_MAP:
            if (f->stage == 0) {
                if (f->n > (len - s->pos) / 8) return 0;
                const uint8_t *p = buf + s->pos;
                uint64_t prev = 0;
                for (uint64_t i = 0; i < f->n; i++) {
                    uint64_t o = nd_ld_u64(p + 8 * i);
                    if (o < prev || o > ND_MAX_ROWS) {
                        sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: bad array offsets in column %llu",
                                (unsigned long long)s->col);
                        return -1;
                    }
                    prev = o;
                }
                s->work += f->n / 64;
                s->pos += 8 * f->n;
                f->done = prev;           /* total nested values */
                f->stage = 1;
            }
            if (f->stage <= t->nchild) {
                uint32_t k = f->stage++ - 1;
                if (sc_push(s, t->child[k], f->done)) return -1;
            } else {
                s->depth--;
            }
            break;
        case K_TUPLE:
            if (f->idx < t->nchild) {
                uint32_t k = f->idx++;
                if (sc_push(s, t->child[k], f->n)) return -1;
            } else {
                s->depth--;
            }
            break;
        case K_LOWCARD:
            if (f->stage == 0) {
                if (f->done == f->n) { s->depth--; break; }
                NEED(8);
                uint64_t flags = nd_ld_u64(buf + s->pos);
                if (!nd_lc_flags_ok(flags) || (!(flags & ND_LC_HAS_ADDITIONAL) && !f->have_dict)) {
                    sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: bad LowCardinality flags in column %llu",
                            (unsigned long long)s->col);
                    return -1;
                }
                s->pos += 8;
                f->idx = 1u << (flags & 0xff);   /* index width in bytes */
                f->stage = (flags & ND_LC_HAS_ADDITIONAL) ? 1 : 2;
            } else if (f->stage == 1) {
                NEED(8);
                uint64_t nk = nd_ld_u64(buf + s->pos);
                if (nk == 0 || nk > ND_MAX_DICT) {
                    sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: bad LowCardinality dictionary size in column %llu",
                            (unsigned long long)s->col);
                    return -1;
                }
                s->pos += 8;
                f->dict = nk;
                f->have_dict = 1;
                f->stage = 2;
                if (sc_push(s, nd_lc_dict_type(t), nk)) return -1;
            } else {
                NEED(8);
                uint64_t rows = nd_ld_u64(buf + s->pos);
                if (rows == 0 || rows > f->n - f->done) {
                    sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: bad LowCardinality row count in column %llu",
                            (unsigned long long)s->col);
                    return -1;
                }
                uint32_t w = f->idx;
                if (rows > (len - s->pos - 8) / w) return 0;
                const uint8_t *p = buf + s->pos + 8;
                for (uint64_t i = 0; i < rows; i++) {
                    uint64_t ix = nd_lc_index(p, w, i);
                    if (ix >= f->dict) {
                        sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: LowCardinality index out of range in column %llu",
                                (unsigned long long)s->col);
                        return -1;
                    }
                }
                s->work += rows / 64;
                s->pos += 8 + rows * w;
                f->done += rows;
                f->stage = 0;
            }
            break;
        default: {
            /* fixed width: f->n <= ND_MAX_ROWS and width <= 2^24, so no overflow */
            uint64_t need = f->n * t->width;
            NEED(need);
            s->pos += need;
            s->depth--;
            break;
        }
        }
    }
    return 1;
}

ptrdiff_t nd_scan(nd_scanner *s, const uint8_t *buf, size_t len) {
    if (s->state == S_DONE) return (ptrdiff_t)s->pos;
    if (s->state == S_ERROR) return -1;
    if (len < s->pos) return sc_fail(s, ND_ERR_MALFORMED, "Native scan: buffer shrank");
    for (;;) {
        s->work++;
        switch (s->state) {
        case S_HEADER: {
            uint64_t nc, nr;
            size_t u1, u2;
            int r = nd_rd_varint(buf, len, &nc, &u1);
            if (r == 0) return 0;
            if (r > 0) r = nd_rd_varint(buf + u1, len - u1, &nr, &u2);
            if (r == 0) return 0;
            if (r < 0 || nc > ND_MAX_COLS || nr > ND_MAX_ROWS || (nc == 0 && nr != 0))
                return sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: bad block header");
            s->ncols = nc;
            s->nrows = nr;
            s->pos = u1 + u2;
            s->col = 0;
            s->state = S_NAME;
            break;
        }
        case S_NAME:
        case S_TYPE: {
            if (s->state == S_NAME && s->col == s->ncols) {
                s->state = S_DONE;
                return (ptrdiff_t)s->pos;
            }
            uint64_t l;
            size_t used;
            int r = nd_rd_varint(buf + s->pos, len - s->pos, &l, &used);
            if (r == 0) return 0;
            if (r < 0 || l > (s->state == S_NAME ? ND_MAX_NAME : ND_MAX_TYPE) || (s->state == S_TYPE && l == 0))
                return sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: bad column %s length",
                               s->state == S_NAME ? "name" : "type");
            if (len - s->pos - used < l) return 0;
            if (s->state == S_NAME) {
                s->pos += used + l;
                s->state = S_TYPE;
                break;
            }
            nd_arena_free(&s->arena);
            nd_err_kind ek = ND_ERR_NONE;
            char msg[256];
            s->type = nd_parse_type(&s->arena, buf + s->pos + used, l, &ek, msg, sizeof msg);
            if (!s->type) return sc_fail(s, ek, "%s", msg);
            s->work += l / 64;
            s->pos += used + l;
            s->state = S_PREFIX;
            break;
        }
        case S_PREFIX: {
            if (s->nrows == 0) { s->col++; s->state = S_NAME; break; }   /* no data at all for 0 rows */
            size_t np = nd_count_prefixes(s->type);
            if ((len - s->pos) / 8 < np) return 0;
            const uint8_t *p = buf + s->pos;
            nd_err_kind ek = ND_ERR_NONE;
            char msg[256];
            if (nd_check_prefixes(s->type, &p, &ek, msg, sizeof msg)) return sc_fail(s, ek, "%s", msg);
            s->pos += 8 * np;
            s->depth = 0;
            sc_push(s, s->type, s->nrows);
            s->state = S_DATA;
            break;
        }
        case S_DATA: {
            int r = sc_data(s, buf, len);
            if (r == 0) return 0;
            if (r < 0) {
                if (s->state != S_ERROR) sc_fail(s, ND_ERR_MALFORMED, "malformed Native block");
                return -1;
            }
            s->col++;
            s->state = S_NAME;
            break;
        }
        default:
            return -1;
        }
    }
}