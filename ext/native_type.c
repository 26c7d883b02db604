/* ClickHouse Native type names -> type tree (see native_type.h). Pure C. Layouts
 * follow ClickHouse's DataTypeFactory / Serialization*.cpp as sent over HTTP. */
#include "native_type.h"
#include "native_wire.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ arena */

void nd_arena_free(nd_arena *a) {
    nd_chunk *c = a->head;
    while (c) { nd_chunk *n = c->next; free(c); c = n; }
    a->head = NULL;
}

void *nd_arena_alloc(nd_arena *a, size_t size) {
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

/* ------------------------------------------------------------------ type names */

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
    char *d = nd_arena_alloc(p->a, e - b + 1);
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
    nd_type *t = nd_arena_alloc(p->a, sizeof *t);
    if (!t) { tp_fail(p, ND_ERR_MALFORMED, "out of memory"); return NULL; }
    t->kind = k;
    t->width = width;
    return t;
}

static int tp_children(tparser *p, nd_type *t, size_t n) {
    t->child = nd_arena_alloc(p->a, n * sizeof *t->child);
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
            int64_t *np = nd_arena_alloc(p->a, cap * sizeof *np);
            const char **nn = nd_arena_alloc(p->a, cap * sizeof *nn);
            size_t *nl = nd_arena_alloc(p->a, cap * sizeof *nl);
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
    int32_t *vi = nd_arena_alloc(p->a, n * 2 * sizeof *vi);
    t->enum_val = nd_arena_alloc(p->a, n * sizeof *t->enum_val);
    t->enum_name = nd_arena_alloc(p->a, n * sizeof *t->enum_name);
    t->enum_len = nd_arena_alloc(p->a, n * sizeof *t->enum_len);
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

nd_type *nd_parse_type(nd_arena *a, const uint8_t *s, size_t n, nd_err_kind *err, char *msg, size_t msgcap) {
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

size_t nd_count_prefixes(const nd_type *t) {
    size_t n = (t->kind == K_LOWCARD || t->kind == K_JSON) ? 1 : 0;
    if (t->kind != K_LOWCARD)
        for (size_t i = 0; i < t->nchild; i++) n += nd_count_prefixes(t->child[i]);
    return n;
}

int nd_check_prefixes(const nd_type *t, const uint8_t **p, nd_err_kind *err, char *msg, size_t msgcap) {
    if (t->kind == K_LOWCARD || t->kind == K_JSON) {
        uint64_t v = nd_ld_u64(*p);
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
        if (nd_check_prefixes(t->child[i], p, err, msg, msgcap)) return -1;
    return 0;
}
