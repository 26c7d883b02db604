/* ClickHouse Native format: type-name parser, resumable framing scanner (pure C,
 * engine thread) and block decoder (GIL held). Layouts follow ClickHouse's
 * Serialization*.cpp as sent over HTTP (client revision 0). */
#define PY_SSIZE_T_CLEAN
#include "native.h"
#include "errors.h"
#include <datetime.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "native.c assumes a little-endian host (Native is little-endian on the wire)"
#endif

/* Sanity bounds: real servers stay far below them; garbage trips them early. */
#define ND_MAX_COLS      (1u << 20)
#define ND_MAX_ROWS      ((uint64_t)INT32_MAX)      /* also bounds nested element counts */
#define ND_MAX_NAME      (1u << 20)
#define ND_MAX_TYPE      (1u << 24)                 /* big Enum16 type names are long */
#define ND_MAX_STRING    ((uint64_t)1 << 30)        /* ClickHouse's own String limit */
#define ND_MAX_FIXED     (1u << 24)
#define ND_MAX_DEPTH     32
#define ND_MAX_FRAMES    (ND_MAX_DEPTH * 2 + 4)
#define ND_MAX_DICT      ((uint64_t)INT32_MAX)

/* ------------------------------------------------------------------ arena */

typedef struct nd_chunk { struct nd_chunk *next; size_t used, cap; } nd_chunk;
typedef struct { nd_chunk *head; } nd_arena;

static void arena_free(nd_arena *a) {
    nd_chunk *c = a->head;
    while (c) { nd_chunk *n = c->next; free(c); c = n; }
    a->head = NULL;
}

static void *arena_alloc(nd_arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    nd_chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 8192 ? size : 8192;
        c = malloc(sizeof(nd_chunk) + 16 + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    /* payload starts 16-aligned after the header */
    uint8_t *base = (uint8_t *)c + ((sizeof(nd_chunk) + 15) & ~(size_t)15);
    void *p = base + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

/* ------------------------------------------------------------------ type tree */

typedef enum {
    K_INT8, K_INT16, K_INT32, K_INT64, K_UINT8, K_UINT16, K_UINT32, K_UINT64,
    K_INT128, K_INT256, K_UINT128, K_UINT256,
    K_FLOAT32, K_FLOAT64, K_BFLOAT16, K_BOOL, K_DECIMAL,
    K_STRING, K_FIXEDSTRING, K_UUID, K_IPV4, K_IPV6,
    K_DATE, K_DATE32, K_DATETIME, K_DATETIME64, K_TIME, K_TIME64, K_INTERVAL,
    K_ENUM8, K_ENUM16, K_NOTHING,
    K_NULLABLE, K_ARRAY, K_TUPLE, K_MAP, K_LOWCARD, K_JSON
} nd_kind;

typedef struct nd_type {
    nd_kind kind;
    uint32_t width;            /* bytes per value for fixed-width kinds, else 0 */
    int scale;                 /* Decimal scale, DateTime64/Time64 precision */
    const char *tz;            /* NUL-terminated timezone or NULL */
    size_t nchild;
    struct nd_type **child;
    size_t nenum;              /* Enum: pairs sorted by value */
    int32_t *enum_val;
    const char **enum_name;
    size_t *enum_len;
} nd_type;

typedef struct {
    const char *s;
    size_t n, i;
    nd_arena *a;
    int depth;
    nd_err_kind err;
    char msg[256];
} tparser;

static void tp_fail(tparser *p, nd_err_kind kind, const char *fmt, ...) {
    if (p->err != ND_ERR_NONE) return;
    p->err = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
}

static void tp_malformed(tparser *p) {
    tp_fail(p, ND_ERR_MALFORMED, "malformed Native block: bad type name at offset %zu", p->i);
}

static int is_alpha(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int tp_peek(tparser *p) { return p->i < p->n ? (unsigned char)p->s[p->i] : -1; }
static void tp_ws(tparser *p) { while (tp_peek(p) == ' ') p->i++; }

static int tp_expect(tparser *p, char c) {
    tp_ws(p);
    if (tp_peek(p) != (unsigned char)c) { tp_malformed(p); return -1; }
    p->i++;
    tp_ws(p);
    return 0;
}

static int tp_ident(tparser *p, const char **start, size_t *len) {
    size_t b = p->i;
    if (!is_alpha(tp_peek(p))) { tp_malformed(p); return -1; }
    while (is_alpha(tp_peek(p)) || is_digit(tp_peek(p))) p->i++;
    *start = p->s + b;
    *len = p->i - b;
    return 0;
}

static int tp_int(tparser *p, int64_t lo, int64_t hi, int64_t *out) {
    int neg = 0, nd = 0;
    int64_t v = 0;
    if (tp_peek(p) == '-') { neg = 1; p->i++; }
    while (is_digit(tp_peek(p))) {
        if (++nd > 18) { tp_malformed(p); return -1; }
        v = v * 10 + (tp_peek(p) - '0');
        p->i++;
    }
    if (nd == 0) { tp_malformed(p); return -1; }
    if (neg) v = -v;
    if (v < lo || v > hi) { tp_malformed(p); return -1; }
    *out = v;
    return 0;
}

/* '...' with ClickHouse backslash escapes -> NUL-terminated arena copy. */
static int tp_quoted(tparser *p, char q, const char **out, size_t *outlen) {
    if (tp_peek(p) != (unsigned char)q) { tp_malformed(p); return -1; }
    p->i++;
    size_t b = p->i;
    while (p->i < p->n && p->s[p->i] != q) {
        if (p->s[p->i] == '\\') p->i++;
        p->i++;
    }
    if (p->i >= p->n) { tp_malformed(p); return -1; }
    size_t e = p->i++;
    char *d = arena_alloc(p->a, e - b + 1);
    if (!d) { tp_fail(p, ND_ERR_MALFORMED, "out of memory"); return -1; }
    size_t k = 0;
    for (size_t j = b; j < e; j++) {
        char c = p->s[j];
        if (c == '\\' && j + 1 < e) {
            c = p->s[++j];
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '0': c = '\0'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'a': c = '\a'; break;
            case 'v': c = '\v'; break;
            case 'e': c = 27; break;
            case 'x':
                if (j + 2 < e) {
                    int v = 0, ok = 1;
                    for (int t = 1; t <= 2; t++) {
                        char h = p->s[j + t];
                        if (h >= '0' && h <= '9') v = v * 16 + (h - '0');
                        else if (h >= 'a' && h <= 'f') v = v * 16 + (h - 'a' + 10);
                        else if (h >= 'A' && h <= 'F') v = v * 16 + (h - 'A' + 10);
                        else ok = 0;
                    }
                    if (ok) { c = (char)v; j += 2; }
                }
                break;
            default: break;   /* \\ \' and unknown escapes: the character itself */
            }
        }
        d[k++] = c;
    }
    d[k] = 0;
    *out = d;
    *outlen = k;
    return 0;
}

/* Skip balanced "(...)" of a type we do not decode, checking it is type-like text. */
static int tp_skip_args(tparser *p) {
    int level = 0;
    do {
        int c = tp_peek(p);
        if (c < 0x20 || c > 0x7e) { tp_malformed(p); return -1; }
        if (c == '\'' || c == '`') {
            const char *s; size_t l;
            if (tp_quoted(p, (char)c, &s, &l)) return -1;
            continue;
        }
        if (c == '(') level++;
        else if (c == ')') level--;
        p->i++;
    } while (level > 0);
    return 0;
}

static nd_type *tp_new(tparser *p, nd_kind k, uint32_t width) {
    nd_type *t = arena_alloc(p->a, sizeof *t);
    if (!t) { tp_fail(p, ND_ERR_MALFORMED, "out of memory"); return NULL; }
    t->kind = k;
    t->width = width;
    return t;
}

static int tp_children(tparser *p, nd_type *t, size_t n) {
    t->child = arena_alloc(p->a, n * sizeof *t->child);
    if (!t->child) { tp_fail(p, ND_ERR_MALFORMED, "out of memory"); return -1; }
    t->nchild = n;
    return 0;
}

static nd_type *tp_type(tparser *p);

static nd_type *tp_wrap(tparser *p, nd_kind k, nd_type *inner) {
    if (!inner) return NULL;
    nd_type *t = tp_new(p, k, 0);
    if (!t || tp_children(p, t, 1)) return NULL;
    t->child[0] = inner;
    return t;
}

static nd_type *tp_point(tparser *p) {
    nd_type *t = tp_new(p, K_TUPLE, 0);
    if (!t || tp_children(p, t, 2)) return NULL;
    if (!(t->child[0] = tp_new(p, K_FLOAT64, 8))) return NULL;
    if (!(t->child[1] = tp_new(p, K_FLOAT64, 8))) return NULL;
    return t;
}

static nd_type *tp_geo(tparser *p, int levels) {
    nd_type *t = tp_point(p);
    for (int i = 0; i < levels && t; i++) t = tp_wrap(p, K_ARRAY, t);
    return t;
}

/* Tuple/Nested elements, each "[name ]Type"; names are dropped. */
static nd_type *tp_tuple(tparser *p) {
    nd_type *tmp[256];
    size_t n = 0;
    if (tp_expect(p, '(')) return NULL;
    if (tp_peek(p) == ')') {
        tp_fail(p, ND_ERR_UNSUPPORTED, "unsupported ClickHouse type 'Tuple()'");
        return NULL;
    }
    for (;;) {
        if (n == sizeof tmp / sizeof tmp[0]) {
            tp_fail(p, ND_ERR_UNSUPPORTED, "unsupported ClickHouse type: tuple with more than %zu elements", n);
            return NULL;
        }
        size_t save = p->i;
        if (tp_peek(p) == '`') {
            const char *s; size_t l;
            if (tp_quoted(p, '`', &s, &l)) return NULL;
            if (tp_peek(p) != ' ') { tp_malformed(p); return NULL; }
            tp_ws(p);
        } else {
            const char *s; size_t l;
            if (tp_ident(p, &s, &l)) return NULL;
            if (tp_peek(p) == ' ') tp_ws(p);   /* it was an element name */
            else p->i = save;
        }
        if (!(tmp[n++] = tp_type(p))) return NULL;
        tp_ws(p);
        if (tp_peek(p) == ',') { p->i++; tp_ws(p); continue; }
        if (tp_expect(p, ')')) return NULL;
        break;
    }
    nd_type *t = tp_new(p, K_TUPLE, 0);
    if (!t || tp_children(p, t, n)) return NULL;
    memcpy(t->child, tmp, n * sizeof tmp[0]);
    return t;
}

static int cmp_enum(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static nd_type *tp_enum(tparser *p, int bits) {
    nd_type *t = tp_new(p, bits == 8 ? K_ENUM8 : K_ENUM16, bits / 8);
    if (!t || tp_expect(p, '(')) return NULL;
    size_t cap = 16, n = 0;
    /* (value, index) pairs sorted later; names kept in parse order */
    int64_t *pairs = NULL;
    const char **names = NULL;
    size_t *lens = NULL;
    for (;;) {
        if (n == cap || !pairs) {
            if (pairs) cap *= 2;
            int64_t *np = arena_alloc(p->a, cap * sizeof *np);
            const char **nn = arena_alloc(p->a, cap * sizeof *nn);
            size_t *nl = arena_alloc(p->a, cap * sizeof *nl);
            if (!np || !nn || !nl) { tp_fail(p, ND_ERR_MALFORMED, "out of memory"); return NULL; }
            if (n) { memcpy(np, pairs, n * sizeof *np); memcpy(nn, names, n * sizeof *nn); memcpy(nl, lens, n * sizeof *nl); }
            pairs = np; names = nn; lens = nl;
        }
        int64_t v;
        if (tp_quoted(p, '\'', &names[n], &lens[n])) return NULL;
        if (tp_expect(p, '=')) return NULL;
        if (tp_int(p, bits == 8 ? INT8_MIN : INT16_MIN, bits == 8 ? INT8_MAX : INT16_MAX, &v)) return NULL;
        pairs[n] = (v * 65536) + (int64_t)n;   /* sort key: value, then position */
        n++;
        if (n > 65536) { tp_malformed(p); return NULL; }
        tp_ws(p);
        if (tp_peek(p) == ',') { p->i++; tp_ws(p); continue; }
        if (tp_expect(p, ')')) return NULL;
        break;
    }
    /* sort by value via int32 (value) / index arrays */
    int32_t *vi = arena_alloc(p->a, n * 2 * sizeof *vi);
    t->enum_val = arena_alloc(p->a, n * sizeof *t->enum_val);
    t->enum_name = arena_alloc(p->a, n * sizeof *t->enum_name);
    t->enum_len = arena_alloc(p->a, n * sizeof *t->enum_len);
    if (!vi || !t->enum_val || !t->enum_name || !t->enum_len) { tp_fail(p, ND_ERR_MALFORMED, "out of memory"); return NULL; }
    for (size_t i = 0; i < n; i++) {
        int64_t key = pairs[i];
        int64_t val = (key - (int64_t)i) / 65536;
        vi[2 * i] = (int32_t)val;
        vi[2 * i + 1] = (int32_t)i;
    }
    qsort(vi, n, 2 * sizeof *vi, cmp_enum);
    for (size_t i = 0; i < n; i++) {
        if (i && vi[2 * i] == vi[2 * i - 2]) { tp_malformed(p); return NULL; }
        t->enum_val[i] = vi[2 * i];
        t->enum_name[i] = names[vi[2 * i + 1]];
        t->enum_len[i] = lens[vi[2 * i + 1]];
    }
    t->nenum = n;
    return t;
}

static int name_is(const char *s, size_t l, const char *lit) {
    return strlen(lit) == l && memcmp(s, lit, l) == 0;
}

static const struct { const char *name; nd_kind kind; uint32_t width; } simple_types[] = {
    {"Int8", K_INT8, 1}, {"Int16", K_INT16, 2}, {"Int32", K_INT32, 4}, {"Int64", K_INT64, 8},
    {"UInt8", K_UINT8, 1}, {"UInt16", K_UINT16, 2}, {"UInt32", K_UINT32, 4}, {"UInt64", K_UINT64, 8},
    {"Int128", K_INT128, 16}, {"Int256", K_INT256, 32}, {"UInt128", K_UINT128, 16}, {"UInt256", K_UINT256, 32},
    {"Float32", K_FLOAT32, 4}, {"Float64", K_FLOAT64, 8}, {"BFloat16", K_BFLOAT16, 2}, {"Bool", K_BOOL, 1},
    {"String", K_STRING, 0}, {"UUID", K_UUID, 16}, {"IPv4", K_IPV4, 4}, {"IPv6", K_IPV6, 16},
    {"Date", K_DATE, 2}, {"Date32", K_DATE32, 4}, {"Time", K_TIME, 4}, {"Nothing", K_NOTHING, 1},
    {"IntervalNanosecond", K_INTERVAL, 8}, {"IntervalMicrosecond", K_INTERVAL, 8},
    {"IntervalMillisecond", K_INTERVAL, 8}, {"IntervalSecond", K_INTERVAL, 8},
    {"IntervalMinute", K_INTERVAL, 8}, {"IntervalHour", K_INTERVAL, 8}, {"IntervalDay", K_INTERVAL, 8},
    {"IntervalWeek", K_INTERVAL, 8}, {"IntervalMonth", K_INTERVAL, 8}, {"IntervalQuarter", K_INTERVAL, 8},
    {"IntervalYear", K_INTERVAL, 8},
};

static nd_type *tp_type(tparser *p) {
    if (++p->depth > ND_MAX_DEPTH) {
        tp_fail(p, ND_ERR_UNSUPPORTED, "unsupported ClickHouse type: nested deeper than %d levels", ND_MAX_DEPTH);
        return NULL;
    }
    size_t start = p->i;
    const char *id;
    size_t l;
    nd_type *t = NULL;
    if (tp_ident(p, &id, &l)) return NULL;
    int has_args = tp_peek(p) == '(';
    for (size_t k = 0; k < sizeof simple_types / sizeof simple_types[0]; k++) {
        if (!has_args && name_is(id, l, simple_types[k].name)) {
            t = tp_new(p, simple_types[k].kind, simple_types[k].width);
            goto done;
        }
    }
    if (!has_args && name_is(id, l, "Point")) { t = tp_geo(p, 0); goto done; }
    if (!has_args && (name_is(id, l, "Ring") || name_is(id, l, "LineString"))) { t = tp_geo(p, 1); goto done; }
    if (!has_args && (name_is(id, l, "Polygon") || name_is(id, l, "MultiLineString"))) { t = tp_geo(p, 2); goto done; }
    if (!has_args && name_is(id, l, "MultiPolygon")) { t = tp_geo(p, 3); goto done; }
    if (name_is(id, l, "DateTime")) {
        t = tp_new(p, K_DATETIME, 4);
        if (t && has_args) {
            size_t tl;
            if (tp_expect(p, '(') || tp_quoted(p, '\'', &t->tz, &tl) || tp_expect(p, ')')) return NULL;
        }
        goto done;
    }
    if (name_is(id, l, "JSON")) {
        /* decodable only when the server sends it as String (prefix checked later) */
        t = tp_new(p, K_JSON, 0);
        if (t && has_args && tp_skip_args(p)) return NULL;
        goto done;
    }
    if (has_args) {
        int64_t a, b;
        if (name_is(id, l, "Nullable")) {
            if (tp_expect(p, '(')) return NULL;
            t = tp_wrap(p, K_NULLABLE, tp_type(p));
            if (t && tp_expect(p, ')')) return NULL;
            goto done;
        }
        if (name_is(id, l, "Array")) {
            if (tp_expect(p, '(')) return NULL;
            t = tp_wrap(p, K_ARRAY, tp_type(p));
            if (t && tp_expect(p, ')')) return NULL;
            goto done;
        }
        if (name_is(id, l, "LowCardinality")) {
            if (tp_expect(p, '(')) return NULL;
            t = tp_wrap(p, K_LOWCARD, tp_type(p));
            if (t && tp_expect(p, ')')) return NULL;
            if (t) {
                nd_type *in = t->child[0];
                if (in->kind == K_NULLABLE) in = in->child[0];
                if (in->kind >= K_NULLABLE) {
                    tp_fail(p, ND_ERR_UNSUPPORTED, "unsupported ClickHouse type '%.*s'",
                            (int)(p->i - start > 150 ? 150 : p->i - start), p->s + start);
                    return NULL;
                }
            }
            goto done;
        }
        if (name_is(id, l, "Tuple")) { t = tp_tuple(p); goto done; }
        if (name_is(id, l, "Nested")) { t = tp_wrap(p, K_ARRAY, tp_tuple(p)); goto done; }
        if (name_is(id, l, "Map")) {
            t = tp_new(p, K_MAP, 0);
            if (!t || tp_children(p, t, 2) || tp_expect(p, '(')) return NULL;
            if (!(t->child[0] = tp_type(p)) || tp_expect(p, ',')) return NULL;
            if (!(t->child[1] = tp_type(p)) || tp_expect(p, ')')) return NULL;
            goto done;
        }
        if (name_is(id, l, "FixedString")) {
            if (tp_expect(p, '(') || tp_int(p, 1, ND_MAX_FIXED, &a) || tp_expect(p, ')')) return NULL;
            t = tp_new(p, K_FIXEDSTRING, (uint32_t)a);
            goto done;
        }
        if (name_is(id, l, "Decimal")) {
            if (tp_expect(p, '(') || tp_int(p, 1, 76, &a) || tp_expect(p, ',') ||
                tp_int(p, 0, a, &b) || tp_expect(p, ')'))
                return NULL;
            t = tp_new(p, K_DECIMAL, a <= 9 ? 4 : a <= 18 ? 8 : a <= 38 ? 16 : 32);
            if (t) t->scale = (int)b;
            goto done;
        }
        if (name_is(id, l, "Decimal32") || name_is(id, l, "Decimal64") ||
            name_is(id, l, "Decimal128") || name_is(id, l, "Decimal256")) {
            uint32_t w = id[7] == '3' ? 4 : id[7] == '6' ? 8 : id[8] == '2' ? 16 : 32;
            int maxs = w == 4 ? 9 : w == 8 ? 18 : w == 16 ? 38 : 76;
            if (tp_expect(p, '(') || tp_int(p, 0, maxs, &b) || tp_expect(p, ')')) return NULL;
            t = tp_new(p, K_DECIMAL, w);
            if (t) t->scale = (int)b;
            goto done;
        }
        if (name_is(id, l, "DateTime64")) {
            if (tp_expect(p, '(') || tp_int(p, 0, 9, &a)) return NULL;
            t = tp_new(p, K_DATETIME64, 8);
            if (!t) return NULL;
            t->scale = (int)a;
            tp_ws(p);
            if (tp_peek(p) == ',') {
                size_t tl;
                if (tp_expect(p, ',') || tp_quoted(p, '\'', &t->tz, &tl)) return NULL;
            }
            if (tp_expect(p, ')')) return NULL;
            goto done;
        }
        if (name_is(id, l, "Time64")) {
            if (tp_expect(p, '(') || tp_int(p, 0, 9, &a) || tp_expect(p, ')')) return NULL;
            t = tp_new(p, K_TIME64, 8);
            if (t) t->scale = (int)a;
            goto done;
        }
        if (name_is(id, l, "Enum8")) { t = tp_enum(p, 8); goto done; }
        if (name_is(id, l, "Enum16")) { t = tp_enum(p, 16); goto done; }
        if (name_is(id, l, "SimpleAggregateFunction")) {
            const char *f; size_t fl;
            if (tp_expect(p, '(') || tp_ident(p, &f, &fl)) return NULL;
            if (tp_peek(p) == '(' && tp_skip_args(p)) return NULL;
            if (tp_expect(p, ',')) return NULL;
            t = tp_type(p);   /* stored exactly as the argument type */
            if (t && tp_expect(p, ')')) return NULL;
            goto done;
        }
    }
    /* A family we cannot decode (AggregateFunction, Variant, Dynamic...) or a
     * well-formed name we do not know (a type newer than this driver) is "not
     * supported" and named; text that is not Native at all is caught before
     * this by the HTTP layer (exception text, Content-Type) or by the strict syntax. */
    if (!(id[0] >= 'A' && id[0] <= 'Z')) { /* every ClickHouse type family is capitalised */
        tp_fail(p, ND_ERR_MALFORMED, "malformed Native block: '%.*s' is not a ClickHouse type",
                (int)(l > 150 ? 150 : l), id);
        return NULL;
    }
    if (has_args && tp_skip_args(p)) return NULL;
    tp_fail(p, ND_ERR_UNSUPPORTED, "unsupported ClickHouse type '%.*s' (unknown to this driver)",
            (int)(p->i - start > 150 ? 150 : p->i - start), p->s + start);
    return NULL;
done:
    p->depth--;
    return t;
}

/* Parse a complete column type name; NULL with *err/msg set on failure. */
static nd_type *parse_type_name(nd_arena *a, const uint8_t *s, size_t n, nd_err_kind *err, char *msg, size_t msgcap) {
    tparser p;
    memset(&p, 0, sizeof p);
    p.s = (const char *)s;
    p.n = n;
    p.a = a;
    nd_type *t = tp_type(&p);
    if (t && p.i != n) { t = NULL; tp_malformed(&p); }
    if (!t) {
        if (p.err == ND_ERR_NONE) tp_malformed(&p);
        *err = p.err;
        snprintf(msg, msgcap, "%s", p.msg);
    }
    return t;
}

/* Columns whose state prefix precedes the data (pre-order): LowCardinality key
 * version, JSON serialization version. */
static size_t count_prefixes(const nd_type *t) {
    size_t n = (t->kind == K_LOWCARD || t->kind == K_JSON) ? 1 : 0;
    if (t->kind != K_LOWCARD)
        for (size_t i = 0; i < t->nchild; i++) n += count_prefixes(t->child[i]);
    return n;
}

static uint64_t ld_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t ld_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t ld_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Checks the prefixes at p (8 bytes each, count_prefixes(t) of them). */
static int check_prefixes(const nd_type *t, const uint8_t **p, nd_err_kind *err, char *msg, size_t msgcap) {
    if (t->kind == K_LOWCARD || t->kind == K_JSON) {
        uint64_t v = ld_u64(*p);
        *p += 8;
        if (t->kind == K_LOWCARD && v != 1) {
            *err = ND_ERR_MALFORMED;
            snprintf(msg, msgcap, "malformed Native block: LowCardinality key version %llu", (unsigned long long)v);
            return -1;
        }
        if (t->kind == K_JSON && v != 1) {   /* 1 = JSON sent as String */
            *err = ND_ERR_UNSUPPORTED;
            snprintf(msg, msgcap, "unsupported ClickHouse type 'JSON' in its binary form "
                     "(set output_format_native_write_json_as_string=1)");
            return -1;
        }
        if (t->kind == K_LOWCARD) return 0;
    }
    for (size_t i = 0; i < t->nchild; i++)
        if (check_prefixes(t->child[i], p, err, msg, msgcap)) return -1;
    return 0;
}

/* LowCardinality index_type_and_flags word */
#define LC_NEED_GLOBAL_DICT   (1ull << 8)
#define LC_HAS_ADDITIONAL     (1ull << 9)
#define LC_NEED_UPDATE_DICT   (1ull << 10)

static const nd_type *lc_dict_type(const nd_type *t) {
    const nd_type *in = t->child[0];
    return in->kind == K_NULLABLE ? in->child[0] : in;
}

/* Reads a LEB128 varint: 1 = ok, 0 = need more bytes, -1 = overlong. */
static int rd_varint(const uint8_t *p, size_t avail, uint64_t *out, size_t *used) {
    uint64_t v = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i >= avail) return 0;
        uint8_t b = p[i];
        if (i == 9 && b > 1) return -1;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) { *out = v; *used = i + 1; return 1; }
    }
    return -1;
}

/* ------------------------------------------------------------------ scanner */

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
    arena_free(&s->arena);
    free(s);
}

void nd_scanner_reset(nd_scanner *s) {
    arena_free(&s->arena);
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
                int r = rd_varint(buf + s->pos, len - s->pos, &l, &used);
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
                    uint64_t o = ld_u64(p + 8 * i);
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
                uint64_t flags = ld_u64(buf + s->pos);
                if ((flags & 0xff) > 3 ||
                    (flags & ~(uint64_t)(0xff | LC_NEED_GLOBAL_DICT | LC_HAS_ADDITIONAL | LC_NEED_UPDATE_DICT)) ||
                    (flags & LC_NEED_GLOBAL_DICT) ||
                    (!(flags & LC_HAS_ADDITIONAL) && !f->have_dict)) {
                    sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: bad LowCardinality flags in column %llu",
                            (unsigned long long)s->col);
                    return -1;
                }
                s->pos += 8;
                f->idx = 1u << (flags & 0xff);   /* index width in bytes */
                f->stage = (flags & LC_HAS_ADDITIONAL) ? 1 : 2;
            } else if (f->stage == 1) {
                NEED(8);
                uint64_t nk = ld_u64(buf + s->pos);
                if (nk == 0 || nk > ND_MAX_DICT) {
                    sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: bad LowCardinality dictionary size in column %llu",
                            (unsigned long long)s->col);
                    return -1;
                }
                s->pos += 8;
                f->dict = nk;
                f->have_dict = 1;
                f->stage = 2;
                if (sc_push(s, lc_dict_type(t), nk)) return -1;
            } else {
                NEED(8);
                uint64_t rows = ld_u64(buf + s->pos);
                if (rows == 0 || rows > f->n - f->done) {
                    sc_fail(s, ND_ERR_MALFORMED, "malformed Native block: bad LowCardinality row count in column %llu",
                            (unsigned long long)s->col);
                    return -1;
                }
                uint32_t w = f->idx;
                if (rows > (len - s->pos - 8) / w) return 0;
                const uint8_t *p = buf + s->pos + 8;
                for (uint64_t i = 0; i < rows; i++) {
                    uint64_t ix = w == 1 ? p[i] : w == 2 ? ld_u16(p + 2 * i) : w == 4 ? ld_u32(p + 4 * i) : ld_u64(p + 8 * i);
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
            int r = rd_varint(buf, len, &nc, &u1);
            if (r == 0) return 0;
            if (r > 0) r = rd_varint(buf + u1, len - u1, &nr, &u2);
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
            int r = rd_varint(buf + s->pos, len - s->pos, &l, &used);
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
            arena_free(&s->arena);
            nd_err_kind ek = ND_ERR_NONE;
            char msg[256];
            s->type = parse_type_name(&s->arena, buf + s->pos + used, l, &ek, msg, sizeof msg);
            if (!s->type) return sc_fail(s, ek, "%s", msg);
            s->work += l / 64;
            s->pos += used + l;
            s->state = S_PREFIX;
            break;
        }
        case S_PREFIX: {
            if (s->nrows == 0) { s->col++; s->state = S_NAME; break; }   /* no data at all for 0 rows */
            size_t np = count_prefixes(s->type);
            if ((len - s->pos) / 8 < np) return 0;
            const uint8_t *p = buf + s->pos;
            nd_err_kind ek = ND_ERR_NONE;
            char msg[256];
            if (check_prefixes(s->type, &p, &ek, msg, sizeof msg)) return sc_fail(s, ek, "%s", msg);
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

/* ------------------------------------------------------------------ decoder */

/* Lazily imported Python helpers (one interpreter; kept for the process). */
static PyObject *g_decimal, *g_uuid, *g_safeuuid_unknown, *g_ipv4, *g_ipv6, *g_zoneinfo;
static PyObject *g_str_int, *g_str_is_safe, *g_str_fromutc;

static PyObject *lazy_attr(PyObject **slot, const char *mod, const char *attr) {
    if (*slot) return *slot;
    PyObject *m = PyImport_ImportModule(mod);
    if (!m) return NULL;
    PyObject *a = PyObject_GetAttrString(m, attr);
    Py_DECREF(m);
    *slot = a;
    return a;
}

static int nd_py_init(void) {
    if (!PyDateTimeAPI) {
        PyDateTime_IMPORT;
        if (!PyDateTimeAPI) return -1;
    }
    if (!g_str_int) {
        g_str_int = PyUnicode_InternFromString("int");
        g_str_is_safe = PyUnicode_InternFromString("is_safe");
        g_str_fromutc = PyUnicode_InternFromString("fromutc");
        if (!g_str_int || !g_str_is_safe || !g_str_fromutc) return -1;
    }
    return 0;
}

typedef struct {
    const uint8_t *p, *end;
    const nd_options *opts;
    const char *colname;     /* for messages */
} rd;

static int malformed(rd *r, const char *what) {
    PyErr_Format(chb_exc(CHB_EXC_InterfaceError), "malformed Native block: %s (column '%s')", what, r->colname);
    return -1;
}

#define RNEED(r, k) do { if ((uint64_t)((r)->end - (r)->p) < (uint64_t)(k)) return malformed(r, "truncated data"); } while (0)

static int rd_var(rd *r, uint64_t *v) {
    size_t used;
    int k = rd_varint(r->p, (size_t)(r->end - r->p), v, &used);
    if (k <= 0) return malformed(r, "bad varint");
    r->p += used;
    return 0;
}

static void clear_objs(PyObject **out, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) Py_CLEAR(out[i]);
}

/* days since 1970-01-01 -> civil date (H. Hinnant's algorithm). DateTime columns
 * repeat the same day row after row: the last day converted is kept (per thread). */
static __thread struct { int64_t days; int y, m, d, valid; } last_day;

static void civil_from_days(int64_t z, int *y, int *m, int *d) {
    if (last_day.valid && last_day.days == z) {
        *y = last_day.y; *m = last_day.m; *d = last_day.d;
        return;
    }
    int64_t z0 = z;
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
    last_day.days = z0; last_day.y = *y; last_day.m = *m; last_day.d = *d; last_day.valid = 1;
}

/* 0001-01-01 .. 9999-12-31 in days since epoch */
#define MIN_DAYS (-719162LL)
#define MAX_DAYS (2932896LL)

static PyObject *make_date(rd *r, int64_t days) {
    if (days < MIN_DAYS || days > MAX_DAYS) { malformed(r, "date out of range"); return NULL; }
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    return PyDate_FromDate(y, m, d);
}

static int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b) && ((a < 0) != (b < 0))) q--;
    return q;
}

/* UTC seconds + microseconds -> datetime: naive UTC, or converted with tz.fromutc(). */
static PyObject *make_dt(rd *r, int64_t secs, int us, PyObject *tz, PyObject *fromutc) {
    int64_t days = floordiv(secs, 86400);
    int64_t rem = secs - days * 86400;
    if (days < MIN_DAYS || days > MAX_DAYS) { malformed(r, "datetime out of range"); return NULL; }
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    PyObject *dt = PyDateTimeAPI->DateTime_FromDateAndTime(
        y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), us,
        tz ? tz : Py_None, PyDateTimeAPI->DateTimeType);
    if (!dt || !fromutc) return dt;
    PyObject *res = PyObject_CallOneArg(fromutc, dt);
    Py_DECREF(dt);
    return res;
}

static const int64_t pow10_i64[19] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL,
    1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL,
    100000000000000LL, 1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
    1000000000000000000LL,
};

/* Two's complement little-endian integer of `w` bytes -> decimal text. */
static size_t int_to_dec(const uint8_t *src, size_t w, int is_signed, char *out) {
    uint32_t limb[8];
    size_t nl = w / 4;
    memcpy(limb, src, w);
    int neg = is_signed && (src[w - 1] & 0x80);
    if (neg) {   /* magnitude = ~x + 1 */
        uint64_t carry = 1;
        for (size_t i = 0; i < nl; i++) {
            uint64_t v = (uint64_t)(uint32_t)~limb[i] + carry;
            limb[i] = (uint32_t)v;
            carry = v >> 32;
        }
    }
    char tmp[96];
    size_t k = 0;
    for (;;) {
        int zero = 1;
        uint64_t rem = 0;
        for (size_t i = nl; i-- > 0;) {
            uint64_t cur = (rem << 32) | limb[i];
            limb[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
            if (limb[i]) zero = 0;
        }
        for (int j = 0; j < 9; j++) { tmp[k++] = (char)('0' + rem % 10); rem /= 10; }
        if (zero) break;
    }
    while (k > 1 && tmp[k - 1] == '0') k--;
    size_t o = 0;
    if (neg) out[o++] = '-';
    while (k) out[o++] = tmp[--k];
    return o;
}

static PyObject *big_int(const uint8_t *p, size_t w, int is_signed) {
    /* fast path: fits in 64 bits */
    int fits = 1;
    uint8_t ext = (is_signed && (p[7] & 0x80)) ? 0xff : 0x00;
    for (size_t i = 8; i < w; i++) if (p[i] != ext) { fits = 0; break; }
    if (fits) {
        int64_t v;
        memcpy(&v, p, 8);
        return is_signed ? PyLong_FromLongLong(v) : PyLong_FromUnsignedLongLong((uint64_t)v);
    }
#if PY_VERSION_HEX >= 0x030D0000
    return is_signed ? PyLong_FromNativeBytes(p, w, Py_ASNATIVEBYTES_LITTLE_ENDIAN)
                     : PyLong_FromUnsignedNativeBytes(p, w, Py_ASNATIVEBYTES_LITTLE_ENDIAN);
#else
    return _PyLong_FromByteArray(p, w, 1, is_signed);
#endif
}

static PyObject *make_decimal(const uint8_t *p, size_t w, int scale) {
    char buf[128];
    size_t n = int_to_dec(p, w, 1, buf);
    if (scale) n += (size_t)snprintf(buf + n, sizeof buf - n, "E-%d", scale);
    PyObject *s = PyUnicode_FromStringAndSize(buf, (Py_ssize_t)n);
    if (!s) return NULL;
    PyObject *d = PyObject_CallOneArg(g_decimal, s);
    Py_DECREF(s);
    return d;
}

static PyObject *make_uuid(const uint8_t *p) {
    /* ClickHouse: two little-endian UInt64 halves, high half first */
    uint8_t be[16];
    for (int i = 0; i < 8; i++) { be[i] = p[7 - i]; be[8 + i] = p[15 - i]; }
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *iv = PyLong_FromUnsignedNativeBytes(be, 16, Py_ASNATIVEBYTES_BIG_ENDIAN);
#else
    PyObject *iv = _PyLong_FromByteArray(be, 16, 0, 0);
#endif
    if (!iv) return NULL;
    /* Like UUID.__init__ does, but without the Python-level call per value. */
    PyTypeObject *cls = (PyTypeObject *)g_uuid;
    PyObject *u = cls->tp_alloc(cls, 0);
    if (!u || PyObject_GenericSetAttr(u, g_str_int, iv) ||
        PyObject_GenericSetAttr(u, g_str_is_safe, g_safeuuid_unknown)) {
        Py_XDECREF(u);
        Py_DECREF(iv);
        return NULL;
    }
    Py_DECREF(iv);
    return u;
}

static PyObject *decode_str(const uint8_t *p, size_t l, int as_bytes) {
    if (as_bytes) return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)l);
    return PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)l, "surrogateescape");
}

static int decode_column(rd *r, const nd_type *t, uint64_t n, PyObject **out);

/* Array/Map offsets: n cumulative UInt64; returns the pointer to them, total in *total. */
static const uint8_t *read_offsets(rd *r, uint64_t n, uint64_t *total) {
    if (n > (uint64_t)(r->end - r->p) / 8) { malformed(r, "truncated array offsets"); return NULL; }
    const uint8_t *offs = r->p;
    uint64_t prev = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t o = ld_u64(offs + 8 * i);
        if (o < prev || o > ND_MAX_ROWS) { malformed(r, "bad array offsets"); return NULL; }
        prev = o;
    }
    r->p += 8 * n;
    *total = prev;
    return offs;
}

static PyObject **alloc_objs(rd *r, uint64_t n) {
    /* every value takes at least one byte, so this bounds allocations by input size */
    if (n > (uint64_t)(r->end - r->p)) { malformed(r, "truncated data"); return NULL; }
    PyObject **a = PyMem_Calloc(n ? (size_t)n : 1, sizeof(PyObject *));
    if (!a) PyErr_NoMemory();
    return a;
}

static int decode_lowcard(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    const nd_type *dt = lc_dict_type(t);
    int nullable = t->child[0]->kind == K_NULLABLE;
    PyObject **dict = NULL;
    uint64_t nd = 0, done = 0;
    while (done < n) {
        RNEED(r, 8);
        uint64_t flags = ld_u64(r->p);
        r->p += 8;
        if ((flags & 0xff) > 3 || (flags & LC_NEED_GLOBAL_DICT) ||
            (flags & ~(uint64_t)(0xff | LC_NEED_GLOBAL_DICT | LC_HAS_ADDITIONAL | LC_NEED_UPDATE_DICT)))
            goto bad;
        unsigned w = 1u << (flags & 0xff);
        if (flags & LC_HAS_ADDITIONAL) {
            if (dict) { clear_objs(dict, nd); PyMem_Free(dict); dict = NULL; }
            if ((uint64_t)(r->end - r->p) < 8) goto bad;
            nd = ld_u64(r->p);
            r->p += 8;
            if (nd == 0 || nd > ND_MAX_DICT) goto bad;
            if (!(dict = alloc_objs(r, nd))) goto fail;
            if (decode_column(r, dt, nd, dict)) goto fail;
            if (nullable) { Py_SETREF(dict[0], Py_NewRef(Py_None)); }
        } else if (!dict) {
            goto bad;
        }
        if ((uint64_t)(r->end - r->p) < 8) goto bad;
        uint64_t rows = ld_u64(r->p);
        r->p += 8;
        if (rows == 0 || rows > n - done || rows > (uint64_t)(r->end - r->p) / w) goto bad;
        const uint8_t *ix = r->p;
        for (uint64_t i = 0; i < rows; i++) {
            uint64_t k = w == 1 ? ix[i] : w == 2 ? ld_u16(ix + 2 * i) : w == 4 ? ld_u32(ix + 4 * i) : ld_u64(ix + 8 * i);
            if (k >= nd) goto bad;
            out[done + i] = Py_NewRef(dict[k]);
        }
        r->p += rows * w;
        done += rows;
    }
    if (dict) { clear_objs(dict, nd); PyMem_Free(dict); }
    return 0;
bad:
    malformed(r, "bad LowCardinality data");
fail:
    if (dict) { clear_objs(dict, nd); PyMem_Free(dict); }
    clear_objs(out, done);
    return -1;
}

/* decode_column: one function per type family, each filling out[0..n) with new
 * references (on failure out holds none) and moving r->p past the column. The
 * fixed-width families' size is checked once, in decode_column. */
#define FIXED_LOOP(W, EXPR) for (; i < n; i++, p += (W)) { if (!(out[i] = (EXPR))) goto fail; } break

/* Integers, floats, Bool, Nothing. */
static int dec_numbers(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    const uint8_t *p = r->p;
    switch (t->kind) {
    case K_INT8:   FIXED_LOOP(1, PyLong_FromLong((int8_t)p[0]));
    case K_UINT8:  FIXED_LOOP(1, PyLong_FromLong(p[0]));
    case K_INT16:  FIXED_LOOP(2, PyLong_FromLong((int16_t)ld_u16(p)));
    case K_UINT16: FIXED_LOOP(2, PyLong_FromLong(ld_u16(p)));
    case K_INT32:  FIXED_LOOP(4, PyLong_FromLong((int32_t)ld_u32(p)));
    case K_UINT32: FIXED_LOOP(4, PyLong_FromUnsignedLong(ld_u32(p)));
    case K_INT64:
    case K_INTERVAL: FIXED_LOOP(8, PyLong_FromLongLong((int64_t)ld_u64(p)));
    case K_UINT64: FIXED_LOOP(8, PyLong_FromUnsignedLongLong(ld_u64(p)));
    case K_INT128: FIXED_LOOP(16, big_int(p, 16, 1));
    case K_UINT128: FIXED_LOOP(16, big_int(p, 16, 0));
    case K_INT256: FIXED_LOOP(32, big_int(p, 32, 1));
    case K_UINT256: FIXED_LOOP(32, big_int(p, 32, 0));
    case K_FLOAT32: {
        for (; i < n; i++, p += 4) {
            float f;
            memcpy(&f, p, 4);
            if (!(out[i] = PyFloat_FromDouble(f))) goto fail;
        }
        break;
    }
    case K_FLOAT64: {
        for (; i < n; i++, p += 8) {
            double d;
            memcpy(&d, p, 8);
            if (!(out[i] = PyFloat_FromDouble(d))) goto fail;
        }
        break;
    }
    case K_BFLOAT16: {
        for (; i < n; i++, p += 2) {
            uint32_t bits = (uint32_t)ld_u16(p) << 16;
            float f;
            memcpy(&f, &bits, 4);
            if (!(out[i] = PyFloat_FromDouble(f))) goto fail;
        }
        break;
    }
    case K_BOOL: FIXED_LOOP(1, Py_NewRef(p[0] ? Py_True : Py_False));
    case K_NOTHING: FIXED_LOOP(1, Py_NewRef(Py_None));
    default:
        break;
    }
    r->p = p;
    return 0;
fail:
    clear_objs(out, i);
    return -1;
}

/* Decimal, UUID, IPv4, IPv6: objects of the standard library. */
static int dec_value_objects(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    const uint8_t *p = r->p;
    switch (t->kind) {
    case K_DECIMAL:
        if (!lazy_attr(&g_decimal, "decimal", "Decimal")) return -1;
        FIXED_LOOP(t->width, make_decimal(p, t->width, t->scale));
    case K_UUID:
        if (!lazy_attr(&g_uuid, "uuid", "UUID")) return -1;
        if (!g_safeuuid_unknown) {
            PyObject *su = NULL;
            if (!lazy_attr(&su, "uuid", "SafeUUID")) return -1;
            g_safeuuid_unknown = PyObject_GetAttrString(su, "unknown");
            Py_DECREF(su);
            if (!g_safeuuid_unknown) return -1;
        }
        FIXED_LOOP(16, make_uuid(p));
    case K_IPV4:
        if (!lazy_attr(&g_ipv4, "ipaddress", "IPv4Address")) return -1;
        for (; i < n; i++, p += 4) {
            PyObject *v = PyLong_FromUnsignedLong(ld_u32(p));
            if (!v) goto fail;
            out[i] = PyObject_CallOneArg(g_ipv4, v);
            Py_DECREF(v);
            if (!out[i]) goto fail;
        }
        break;
    case K_IPV6:
        if (!lazy_attr(&g_ipv6, "ipaddress", "IPv6Address")) return -1;
        for (; i < n; i++, p += 16) {
            PyObject *v = PyBytes_FromStringAndSize((const char *)p, 16);
            if (!v) goto fail;
            out[i] = PyObject_CallOneArg(g_ipv6, v);
            Py_DECREF(v);
            if (!out[i]) goto fail;
        }
        break;
    default:
        break;
    }
    r->p = p;
    return 0;
fail:
    clear_objs(out, i);
    return -1;
}

/* Date, Date32, Time, Time64. */
static int dec_dates(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    const uint8_t *p = r->p;
    switch (t->kind) {
    case K_DATE:   FIXED_LOOP(2, make_date(r, ld_u16(p)));
    case K_DATE32: FIXED_LOOP(4, make_date(r, (int32_t)ld_u32(p)));
    case K_TIME:   FIXED_LOOP(4, PyDelta_FromDSU(0, (int32_t)ld_u32(p), 0));
    case K_TIME64: {
        int64_t div = pow10_i64[t->scale];
        for (; i < n; i++, p += 8) {
            int64_t v = (int64_t)ld_u64(p);
            int64_t secs = floordiv(v, div);
            int64_t frac = v - secs * div;
            int64_t us = t->scale <= 6 ? frac * pow10_i64[6 - t->scale] : frac / pow10_i64[t->scale - 6];
            if (secs < -86400LL * 999999999 || secs > 86400LL * 999999999) { malformed(r, "time out of range"); goto fail; }
            if (!(out[i] = PyDelta_FromDSU((int)floordiv(secs, 86400), (int)(secs - floordiv(secs, 86400) * 86400), (int)us)))
                goto fail;
        }
        break;
    }
    default:
        break;
    }
    r->p = p;
    return 0;
fail:
    clear_objs(out, i);
    return -1;
}

/* DateTime, DateTime64: aware in the column's zone, or naive UTC (tz=False). */
static int dec_datetimes(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    const uint8_t *p = r->p;
    switch (t->kind) {
    case K_DATETIME:
    case K_DATETIME64: {
        PyObject *tz = NULL, *fromutc = NULL;
        /* tz False: naive UTC datetimes whatever the column's zone (Django, USE_TZ off) */
        int naive = r->opts->tz == Py_False;
        if (naive) {
        } else if (t->tz) {
            if (strcmp(t->tz, "UTC") == 0 || strcmp(t->tz, "Etc/UTC") == 0) {
                tz = Py_NewRef(PyDateTime_TimeZone_UTC);
            } else {
                if (!lazy_attr(&g_zoneinfo, "zoneinfo", "ZoneInfo")) return -1;
                /* ZoneInfo(key) returns its own cached instance for a key */
                tz = PyObject_CallFunction(g_zoneinfo, "s", t->tz);
                if (!tz) {
                    PyErr_Clear();
                    PyErr_Format(chb_exc(CHB_EXC_NotSupportedError),
                                 "unknown timezone '%.100s' in column '%s' (is tzdata installed?)", t->tz, r->colname);
                    return -1;
                }
            }
        } else if (r->opts->tz && r->opts->tz != Py_None) {
            tz = Py_NewRef(r->opts->tz);
        }
        if (tz && tz != PyDateTime_TimeZone_UTC) {
            fromutc = PyObject_GetAttr(tz, g_str_fromutc);
            if (!fromutc) { Py_DECREF(tz); return -1; }
        }
        if (t->kind == K_DATETIME) {
            for (; i < n; i++, p += 4)
                if (!(out[i] = make_dt(r, ld_u32(p), 0, tz, fromutc))) break;
        } else {
            int64_t div = pow10_i64[t->scale];
            for (; i < n; i++, p += 8) {
                int64_t v = (int64_t)ld_u64(p);
                int64_t secs = floordiv(v, div);
                int64_t frac = v % div; /* not v - secs * div: overflows near INT64_MIN */
                if (frac < 0) frac += div;
                int us = (int)(t->scale <= 6 ? frac * pow10_i64[6 - t->scale] : frac / pow10_i64[t->scale - 6]);
                if (!(out[i] = make_dt(r, secs, us, tz, fromutc))) break;
            }
        }
        Py_XDECREF(fromutc);
        Py_XDECREF(tz);
        if (i < n) goto fail;
        break;
    }
    default:
        break;
    }
    r->p = p;
    return 0;
fail:
    clear_objs(out, i);
    return -1;
}

/* Enum8, Enum16: the value's name. */
static int dec_enums(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    const uint8_t *p = r->p;
    switch (t->kind) {
    case K_ENUM8:
    case K_ENUM16: {
        PyObject **names = PyMem_Calloc(t->nenum, sizeof *names);
        if (!names) { PyErr_NoMemory(); return -1; }
        size_t k;
        for (k = 0; k < t->nenum; k++)
            if (!(names[k] = PyUnicode_DecodeUTF8(t->enum_name[k], (Py_ssize_t)t->enum_len[k], "surrogateescape")))
                break;
        if (k == t->nenum) {
            for (; i < n; i++, p += t->width) {
                int32_t v = t->kind == K_ENUM8 ? (int8_t)p[0] : (int16_t)ld_u16(p);
                size_t lo = 0, hi = t->nenum;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (t->enum_val[mid] < v) lo = mid + 1; else hi = mid;
                }
                if (lo == t->nenum || t->enum_val[lo] != v) { malformed(r, "unknown Enum value"); break; }
                out[i] = Py_NewRef(names[lo]);
            }
        }
        for (size_t j = 0; j < k; j++) Py_DECREF(names[j]);
        PyMem_Free(names);
        if (i < n) goto fail;
        break;
    }
    default:
        break;
    }
    r->p = p;
    return 0;
fail:
    clear_objs(out, i);
    return -1;
}

/* FixedString(N): zero padding dropped from text. */
static int dec_fixed_strings(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    const uint8_t *p = r->p;
    switch (t->kind) {
    case K_FIXEDSTRING: {
        size_t w = t->width;
        int as_bytes = r->opts->strings_as_bytes;
        for (; i < n; i++, p += w) {
            size_t l = w;
            if (!as_bytes) while (l && p[l - 1] == 0) l--;   /* drop the zero padding */
            if (!(out[i] = decode_str(p, l, as_bytes))) goto fail;
        }
        break;
    }
    default:
        break;
    }
    r->p = p;
    return 0;
fail:
    clear_objs(out, i);
    return -1;
}

/* String, JSON (as text): varint length and bytes. */
static int dec_strings(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    const uint8_t *p = r->p, *end = r->end;
    int as_bytes = t->kind == K_STRING && r->opts->strings_as_bytes;
    for (; i < n; i++) {
        uint64_t l;
        if (p < end && *p < 0x80) {
            l = *p++;
        } else {
            size_t used;
            if (rd_varint(p, (size_t)(end - p), &l, &used) <= 0) { malformed(r, "bad string length"); goto fail; }
            p += used;
        }
        if (l > (uint64_t)(end - p)) { malformed(r, "truncated string"); goto fail; }
        if (!(out[i] = decode_str(p, (size_t)l, as_bytes))) goto fail;
        p += l;
    }
    r->p = p;
    return 0;
fail:
    clear_objs(out, i);
    return -1;
}

/* Nullable(T): the null map, then T. */
static int dec_nullable(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    if (n > (uint64_t)(r->end - r->p)) return malformed(r, "truncated null map");
    const uint8_t *nulls = r->p;
    r->p += n;
    if (decode_column(r, t->child[0], n, out)) return -1;
    for (i = 0; i < n; i++)
        if (nulls[i]) Py_SETREF(out[i], Py_NewRef(Py_None));
    return 0;
}

/* Array(T), Map(K, V): offsets, then the flattened values. */
static int dec_arrays(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    uint64_t total;
    const uint8_t *offs = read_offsets(r, n, &total);
    if (!offs) return -1;
    size_t nsub = t->nchild;
    PyObject **sub = alloc_objs(r, total * nsub);
    if (!sub) return -1;
    if (decode_column(r, t->child[0], total, sub)) { PyMem_Free(sub); return -1; }
    if (nsub == 2 && decode_column(r, t->child[1], total, sub + total)) {
        clear_objs(sub, total);
        PyMem_Free(sub);
        return -1;
    }
    uint64_t prev = 0;
    int err = 0;
    for (i = 0; i < n && !err; i++) {
        uint64_t o = ld_u64(offs + 8 * i);
        if (t->kind == K_ARRAY) {
            PyObject *l = PyList_New((Py_ssize_t)(o - prev));
            if (!l) { err = 1; break; }
            for (uint64_t j = prev; j < o; j++) { PyList_SET_ITEM(l, (Py_ssize_t)(j - prev), sub[j]); sub[j] = NULL; }
            out[i] = l;
        } else {
            PyObject *d = PyDict_New();
            if (!d) { err = 1; break; }
            for (uint64_t j = prev; j < o; j++)
                if (PyDict_SetItem(d, sub[j], sub[total + j])) { err = 1; break; }
            out[i] = d;
        }
        prev = o;
    }
    clear_objs(sub, total * nsub);
    PyMem_Free(sub);
    if (err) { clear_objs(out, n); return -1; }
    return 0;
}

/* Tuple(T...): each element column in turn. */
static int dec_tuples(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    size_t k = t->nchild;
    /* each element is at least one byte per row */
    if (n && k > (uint64_t)(r->end - r->p) / n) return malformed(r, "truncated data");
    PyObject **sub = alloc_objs(r, n * k);
    if (!sub) return -1;
    size_t e;
    for (e = 0; e < k; e++)
        if (decode_column(r, t->child[e], n, sub + e * n)) break;
    if (e == k) {
        for (i = 0; i < n; i++) {
            PyObject *tup = PyTuple_New((Py_ssize_t)k);
            if (!tup) break;
            for (size_t j = 0; j < k; j++) { PyTuple_SET_ITEM(tup, (Py_ssize_t)j, sub[j * n + i]); sub[j * n + i] = NULL; }
            out[i] = tup;
        }
    }
    clear_objs(sub, n * e);
    PyMem_Free(sub);
    if (e < k || i < n) { clear_objs(out, n); return -1; }
    return 0;
}

#undef FIXED_LOOP

/* Fills out[0..n) with new references; on failure out holds none. */
static int decode_column(rd *r, const nd_type *t, uint64_t n, PyObject **out) {
    if (t->width) {
        if (n > (uint64_t)(r->end - r->p) / t->width) return malformed(r, "truncated data");
    }
    switch (t->kind) {
    case K_INT8: case K_UINT8: case K_INT16: case K_UINT16: case K_INT32: case K_UINT32:
    case K_INT64: case K_INTERVAL: case K_UINT64: case K_INT128: case K_UINT128:
    case K_INT256: case K_UINT256: case K_FLOAT32: case K_FLOAT64: case K_BFLOAT16:
    case K_BOOL: case K_NOTHING:
        return dec_numbers(r, t, n, out);
    case K_DECIMAL: case K_UUID: case K_IPV4: case K_IPV6:
        return dec_value_objects(r, t, n, out);
    case K_DATE: case K_DATE32: case K_TIME: case K_TIME64:
        return dec_dates(r, t, n, out);
    case K_DATETIME: case K_DATETIME64:
        return dec_datetimes(r, t, n, out);
    case K_ENUM8: case K_ENUM16:
        return dec_enums(r, t, n, out);
    case K_FIXEDSTRING:
        return dec_fixed_strings(r, t, n, out);
    case K_STRING: case K_JSON:
        return dec_strings(r, t, n, out);
    case K_NULLABLE:
        return dec_nullable(r, t, n, out);
    case K_ARRAY: case K_MAP:
        return dec_arrays(r, t, n, out);
    case K_TUPLE:
        return dec_tuples(r, t, n, out);
    case K_LOWCARD:
        return decode_lowcard(r, t, n, out);
    }
    return 0;
}

/* ---------------------------------------------------------- buffer (columnar) mode
 * columnar >= 2: each column as raw buffers for NumPy/Arrow instead of a value per row
 * (docs/columnar.md). A column is a tuple:
 *   ('b', bytes)                          fixed-width little-endian values, copied once
 *   ('s', data, offsets)                  String (columnar 3, Arrow): bytes + n+1 int64 offsets
 *   ('n', nullmap, inner)                 Nullable: one byte per row (1 = NULL), inner column
 *   ('l', dictionary, indexes, width)     LowCardinality with one dictionary in the block
 *   ('o', list)                           Python values, as the row path makes them
 *   ('a', numpy.ndarray)                  the same in a NumPy object array (columnar 2 and 4)
 *   ('t', numpy.ndarray)                  String (columnar 4): a NumPy StringDType array
 * The Python side (driver/columnar.py) knows the dtype from the column's type name. */

static PyObject *g_np_empty, *g_str_object;

/* NumPy mode: the values straight into a new object array's memory (numpy.empty(n,
 * object) through the buffer protocol): no list, no second pass to copy it. NULL with
 * no error set if NumPy is not there (the caller makes a list). */
static PyObject *numpy_objects(rd *r, const nd_type *t, uint64_t n) {
    if (!g_np_empty) {
        PyObject *np = PyImport_ImportModule("numpy");
        if (!np) { PyErr_Clear(); return NULL; }
        g_np_empty = PyObject_GetAttrString(np, "empty");
        Py_DECREF(np);
        if (!g_np_empty) { PyErr_Clear(); return NULL; }
    }
    if (!g_str_object && !(g_str_object = PyUnicode_InternFromString("object"))) { PyErr_Clear(); return NULL; }
    if (n > (uint64_t)(r->end - r->p)) { malformed(r, "truncated data"); return NULL; }
    PyObject *arr = PyObject_CallFunction(g_np_empty, "(KO)", (unsigned long long)n, g_str_object);
    if (!arr) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(arr, &view, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS)) {
        Py_DECREF(arr);
        PyErr_Clear();
        return NULL;
    }
    int ok = view.itemsize == (Py_ssize_t)sizeof(PyObject *) && view.format && strcmp(view.format, "O") == 0 &&
             (uint64_t)view.len == n * sizeof(PyObject *);
    PyObject **slots = view.buf;
    if (!ok) { PyBuffer_Release(&view); Py_DECREF(arr); return NULL; }
    for (uint64_t i = 0; i < n; i++) Py_CLEAR(slots[i]);   /* numpy.empty's Nones */
    /* NULL slots read as None to NumPy, so a failure leaves a valid array to free */
    int rc = decode_column(r, t, n, slots);
    PyBuffer_Release(&view);
    if (rc) { Py_DECREF(arr); return NULL; }
    return Py_BuildValue("(sN)", "a", arr);
}

static PyObject *objects_column(rd *r, const nd_type *t, uint64_t n) {
    if ((r->opts->columnar == 2 || r->opts->columnar == 4) && n) {
        PyObject *a = numpy_objects(r, t, n);
        if (a || PyErr_Occurred()) return a;
    }
    PyObject **vals = alloc_objs(r, n);
    if (!vals) return NULL;
    if (decode_column(r, t, n, vals)) { PyMem_Free(vals); return NULL; }
    PyObject *l = PyList_New((Py_ssize_t)n);
    if (!l) { clear_objs(vals, n); PyMem_Free(vals); return NULL; }
    for (uint64_t i = 0; i < n; i++) PyList_SET_ITEM(l, (Py_ssize_t)i, vals[i]);
    PyMem_Free(vals);
    return Py_BuildValue("(sN)", "o", l);
}

static int is_plain_fixed(nd_kind k) {
    switch (k) {
    case K_INT8: case K_INT16: case K_INT32: case K_INT64: case K_UINT8: case K_UINT16: case K_UINT32:
    case K_UINT64: case K_FLOAT32: case K_FLOAT64: case K_BOOL: case K_DATE: case K_DATE32:
    case K_DATETIME: case K_DATETIME64: case K_INTERVAL:
        return 1;
    default:
        return 0;
    }
}

static PyObject *buffer_column(rd *r, const nd_type *t, uint64_t n, int mode) {
    if (is_plain_fixed(t->kind)) {
        if (n > (uint64_t)(r->end - r->p) / t->width) { malformed(r, "truncated data"); return NULL; }
        PyObject *b = PyBytes_FromStringAndSize((const char *)r->p, (Py_ssize_t)(n * t->width));
        if (!b) return NULL;
        r->p += n * t->width;
        return Py_BuildValue("(sN)", "b", b);
    }
    /* mode 4 too: its String columns are packed into StringDType once per result
     * (np_strings_pack in columnar_strings.c), not once per block and again to join */
    if (t->kind == K_STRING && (mode == 3 || mode == 4)) {
        /* pass 1: lengths -> offsets; pass 2: copy the bytes (no Python object per value) */
        if (n > (uint64_t)(r->end - r->p)) { malformed(r, "truncated data"); return NULL; }
        PyObject *offs = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * 8));
        if (!offs) return NULL;
        int64_t *o = (int64_t *)PyBytes_AS_STRING(offs);
        const uint8_t *p = r->p, *end = r->end;
        uint64_t total = 0;
        o[0] = 0;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t l;
            if (p < end && *p < 0x80) {
                l = *p++;
            } else {
                size_t used;
                if (rd_varint(p, (size_t)(end - p), &l, &used) <= 0) { Py_DECREF(offs); malformed(r, "bad string length"); return NULL; }
                p += used;
            }
            if (l > (uint64_t)(end - p)) { Py_DECREF(offs); malformed(r, "truncated string"); return NULL; }
            p += l;
            total += l;
            o[i + 1] = (int64_t)total;
        }
        PyObject *data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
        if (!data) { Py_DECREF(offs); return NULL; }
        char *d = PyBytes_AS_STRING(data);
        p = r->p;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t l = (uint64_t)(o[i + 1] - o[i]);
            if (*p < 0x80) p++; else { size_t used = 0; rd_varint(p, (size_t)(end - p), &l, &used); p += used; }
            memcpy(d + o[i], p, (size_t)l);
            p += l;
        }
        r->p = p;
        return Py_BuildValue("(sNN)", "s", data, offs);
    }
    if (t->kind == K_NULLABLE) {
        if (n > (uint64_t)(r->end - r->p)) { malformed(r, "truncated null map"); return NULL; }
        PyObject *nulls = PyBytes_FromStringAndSize((const char *)r->p, (Py_ssize_t)n);
        if (!nulls) return NULL;
        r->p += n;
        PyObject *inner = buffer_column(r, t->child[0], n, mode);
        if (!inner) { Py_DECREF(nulls); return NULL; }
        return Py_BuildValue("(sNN)", "n", nulls, inner);
    }
    if (t->kind == K_LOWCARD && n) {
        /* One dictionary for the whole block (what ClickHouse sends over HTTP): its
         * values once and the indexes as they are. Several: Python values. */
        const uint8_t *start = r->p;
        if ((uint64_t)(r->end - r->p) < 16) { malformed(r, "bad LowCardinality data"); return NULL; }
        uint64_t flags = ld_u64(r->p);
        if ((flags & 0xff) <= 3 && (flags & LC_HAS_ADDITIONAL) && !(flags & LC_NEED_GLOBAL_DICT) &&
            !(flags & ~(uint64_t)(0xff | LC_NEED_GLOBAL_DICT | LC_HAS_ADDITIONAL | LC_NEED_UPDATE_DICT))) {
            unsigned w = 1u << (flags & 0xff);
            uint64_t nd = ld_u64(r->p + 8);
            r->p += 16;
            if (nd == 0 || nd > ND_MAX_DICT) { malformed(r, "bad LowCardinality data"); return NULL; }
            PyObject *dict = buffer_column(r, lc_dict_type(t), nd, mode);
            if (!dict) return NULL;
            uint64_t rows;
            if ((uint64_t)(r->end - r->p) >= 8 && (rows = ld_u64(r->p)) == n &&
                rows <= (uint64_t)(r->end - r->p - 8) / w) {
                const uint8_t *ix = r->p + 8;
                for (uint64_t i = 0; i < n; i++) {
                    uint64_t k = w == 1 ? ix[i] : w == 2 ? ld_u16(ix + 2 * i) : w == 4 ? ld_u32(ix + 4 * i) : ld_u64(ix + 8 * i);
                    if (k >= nd) { Py_DECREF(dict); malformed(r, "bad LowCardinality data"); return NULL; }
                }
                PyObject *idx = PyBytes_FromStringAndSize((const char *)ix, (Py_ssize_t)(n * w));
                if (!idx) { Py_DECREF(dict); return NULL; }
                r->p = ix + n * w;
                return Py_BuildValue("(sNNI)", "l", dict, idx, w);
            }
            Py_DECREF(dict);
        }
        r->p = start;
    }
    return objects_column(r, t, n);
}

static int prefix_error(rd *r, nd_err_kind ek, const char *msg) {
    PyErr_Format(chb_exc(ek == ND_ERR_UNSUPPORTED ? CHB_EXC_NotSupportedError : CHB_EXC_InterfaceError),
                 "%s (column '%s')", msg, r->colname);
    return -1;
}

/* Whether every value decode_column() makes for `t` is of a non-GC type (int,
 * float, bool, None, str/bytes, date, timedelta), whatever the data: such columns
 * need no per-value look when deciding whether a row tuple can be untracked. */
static int values_never_gc(const nd_type *t) {
    switch (t->kind) {
    case K_INT8: case K_INT16: case K_INT32: case K_INT64: case K_UINT8: case K_UINT16:
    case K_UINT32: case K_UINT64: case K_INT128: case K_INT256: case K_UINT128: case K_UINT256:
    case K_FLOAT32: case K_FLOAT64: case K_BFLOAT16: case K_BOOL: case K_NOTHING:
    case K_STRING: case K_FIXEDSTRING: case K_DATE: case K_DATE32: case K_TIME: case K_INTERVAL:
        return 1;
    case K_NULLABLE: case K_LOWCARD:
        return values_never_gc(t->child[0]);
    default:
        return 0;
    }
}

PyObject *nd_decode_block(const uint8_t *buf, size_t len, const nd_options *opts) {
    if (nd_py_init()) return NULL;
    rd r = {buf, buf + len, opts, ""};
    uint64_t ncols, nrows;
    if (rd_var(&r, &ncols) || rd_var(&r, &nrows)) return NULL;
    if (ncols > ND_MAX_COLS || nrows > ND_MAX_ROWS || (ncols == 0 && nrows)) {
        malformed(&r, "bad block header");
        return NULL;
    }
    /* Millions of fresh tuples would trigger many useless GC passes. */
    int gc_was_enabled = PyGC_Disable();
    PyObject *names = PyTuple_New((Py_ssize_t)ncols);
    PyObject *types = PyTuple_New((Py_ssize_t)ncols);
    PyObject *data = PyList_New(opts->columnar ? (Py_ssize_t)ncols : (Py_ssize_t)nrows);
    /* Row mode decodes every column into its slice of `vals` (column-major), then
     * makes each row's tuple in one go: one pass over memory per row instead of one
     * per column. Columnar mode needs one column at a time. */
    uint64_t nslots = opts->columnar >= 2 ? 0 : opts->columnar ? nrows : nrows * ncols;
    PyObject **vals = nslots ? PyMem_Calloc((size_t)nslots, sizeof(PyObject *)) : NULL;
    PyObject *result = NULL;
    nd_arena arena = {NULL};
    char namebuf[128];
    uint64_t decoded = 0; /* columns whose values sit in vals (row mode) */
    uint64_t look_first = 0; /* row mode: columns 0..look_first-1 may hold GC-tracked types */
    unsigned char *maybe_gc = ncols ? PyMem_Calloc((size_t)ncols, 1) : NULL;
    if (!names || !types || !data || (nslots && !vals) || (ncols && !maybe_gc)) {
        if ((nslots && !vals) || (ncols && !maybe_gc)) PyErr_NoMemory();
        goto out;
    }
    for (uint64_t c = 0; c < ncols; c++) {
        uint64_t l;
        r.colname = "";
        if (rd_var(&r, &l)) goto out;
        if (l > ND_MAX_NAME || l > (uint64_t)(r.end - r.p)) { malformed(&r, "bad column name"); goto out; }
        PyObject *name = PyUnicode_DecodeUTF8((const char *)r.p, (Py_ssize_t)l, "surrogateescape");
        if (!name) goto out;
        PyTuple_SET_ITEM(names, (Py_ssize_t)c, name);
        snprintf(namebuf, sizeof namebuf, "%.*s", (int)(l > 100 ? 100 : l), (const char *)r.p);
        r.colname = namebuf;
        r.p += l;
        if (rd_var(&r, &l)) goto out;
        if (l == 0 || l > ND_MAX_TYPE || l > (uint64_t)(r.end - r.p)) { malformed(&r, "bad column type"); goto out; }
        PyObject *tname = PyUnicode_DecodeUTF8((const char *)r.p, (Py_ssize_t)l, "surrogateescape");
        if (!tname) goto out;
        PyTuple_SET_ITEM(types, (Py_ssize_t)c, tname);
        arena_free(&arena);
        nd_err_kind ek = ND_ERR_NONE;
        char msg[256];
        const nd_type *t = parse_type_name(&arena, r.p, (size_t)l, &ek, msg, sizeof msg);
        if (!t) { prefix_error(&r, ek, msg); goto out; }
        r.p += l;
        if (nrows) {
            size_t np = count_prefixes(t);
            if ((uint64_t)(r.end - r.p) / 8 < np) { malformed(&r, "truncated data"); goto out; }
            if (check_prefixes(t, &r.p, &ek, msg, sizeof msg)) { prefix_error(&r, ek, msg); goto out; }
            if (opts->columnar >= 2) {
                PyObject *col = buffer_column(&r, t, nrows, opts->columnar);
                if (!col) goto out;
                PyList_SET_ITEM(data, (Py_ssize_t)c, col);
                continue;
            }
            if (decode_column(&r, t, nrows, opts->columnar ? vals : vals + c * nrows)) goto out;
        }
        if (opts->columnar >= 2) {
            PyObject *col = Py_BuildValue("(sN)", "o", PyList_New(0));
            if (!col) goto out;
            PyList_SET_ITEM(data, (Py_ssize_t)c, col);
        } else if (opts->columnar) {
            PyObject *col = PyList_New((Py_ssize_t)nrows);
            if (!col) { clear_objs(vals, nrows); goto out; }
            for (uint64_t i = 0; i < nrows; i++) { PyList_SET_ITEM(col, (Py_ssize_t)i, vals[i]); vals[i] = NULL; }
            PyList_SET_ITEM(data, (Py_ssize_t)c, col);
        } else {
            decoded = c + 1;
            if (!values_never_gc(t)) { maybe_gc[c] = 1; look_first = c + 1; }
        }
    }
    if (r.p != r.end) { r.colname = ""; malformed(&r, "trailing bytes after block"); goto out; }
    if (!opts->columnar) {
        for (uint64_t i = 0; i < nrows; i++) {
            PyObject *tup = PyTuple_New((Py_ssize_t)ncols);
            if (!tup) goto out;
            int atomic = 1;
            for (uint64_t c = 0; c < ncols; c++) {
                PyObject *v = vals[c * nrows + i];
                vals[c * nrows + i] = NULL;
                if (c < look_first && maybe_gc[c] && PyType_IS_GC(Py_TYPE(v))) atomic = 0;
                PyTuple_SET_ITEM(tup, (Py_ssize_t)c, v);
            }
            /* What the GC would do on its first pass (_PyTuple_MaybeUntrack): a tuple
             * of values of non-GC types (numbers, strings, datetimes...) is never in a
             * cycle. */
            if (atomic) PyObject_GC_UnTrack(tup);
            PyList_SET_ITEM(data, (Py_ssize_t)i, tup);
        }
        decoded = 0;
    }
    result = PyTuple_Pack(3, names, types, data);
out:
    arena_free(&arena);
    if (decoded) clear_objs(vals, decoded * nrows);
    PyMem_Free(vals);
    PyMem_Free(maybe_gc);
    Py_XDECREF(names);
    Py_XDECREF(types);
    Py_XDECREF(data);
    if (gc_was_enabled) PyGC_Enable();
    return result;
}
