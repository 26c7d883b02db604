/* ClickHouse Native format: block -> Python values, GIL held (see native_decode.h).
 * One function per type family, reached through a per-kind table; layouts follow
 * ClickHouse's Serialization*.cpp as sent over HTTP (client revision 0). */
#define PY_SSIZE_T_CLEAN
#include "native_decode.h"
#include "native_wire.h"
#include "errors.h"
#include <datetime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int nd_py_init(void) {
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

int nd_malformed(nd_reader *r, const char *what) {
    PyErr_Format(chb_exc(CHB_EXC_InterfaceError), "malformed Native block: %s (column '%s')", what, r->colname);
    return -1;
}

#define RNEED(r, k) do { if ((uint64_t)((r)->end - (r)->p) < (uint64_t)(k)) return nd_malformed(r, "truncated data"); } while (0)

int nd_rd_var(nd_reader *r, uint64_t *v) {
    size_t used;
    int k = nd_rd_varint(r->p, (size_t)(r->end - r->p), v, &used);
    if (k <= 0) return nd_malformed(r, "bad varint");
    r->p += used;
    return 0;
}

void nd_clear_objs(PyObject **out, uint64_t n) {
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

static PyObject *make_date(nd_reader *r, int64_t days) {
    if (days < MIN_DAYS || days > MAX_DAYS) { nd_malformed(r, "date out of range"); return NULL; }
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
static PyObject *make_dt(nd_reader *r, int64_t secs, int us, PyObject *tz, PyObject *fromutc) {
    int64_t days = floordiv(secs, 86400);
    /* checked before days * 86400: near INT64_MIN seconds that product overflows */
    if (days < MIN_DAYS || days > MAX_DAYS) { nd_malformed(r, "datetime out of range"); return NULL; }
    int64_t rem = secs - days * 86400;
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

/* DateTime64/Time64 ticks of 10^-scale s -> whole seconds (floored) + microseconds.
 * The fraction is v % div, not v - secs * div: that product overflows near INT64_MIN. */
static int64_t split_ticks(int64_t v, int scale, int *us) {
    int64_t div = pow10_i64[scale];
    int64_t frac = v % div;
    if (frac < 0) frac += div;
    *us = (int)(scale <= 6 ? frac * pow10_i64[6 - scale] : frac / pow10_i64[scale - 6]);
    return floordiv(v, div);
}

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

/* Array/Map offsets: n cumulative UInt64; returns the pointer to them, total in *total. */
static const uint8_t *read_offsets(nd_reader *r, uint64_t n, uint64_t *total) {
    if (n > (uint64_t)(r->end - r->p) / 8) { nd_malformed(r, "truncated array offsets"); return NULL; }
    const uint8_t *offs = r->p;
    uint64_t prev = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t o = nd_ld_u64(offs + 8 * i);
        if (o < prev || o > ND_MAX_ROWS) { nd_malformed(r, "bad array offsets"); return NULL; }
        prev = o;
    }
    r->p += 8 * n;
    *total = prev;
    return offs;
}

PyObject **nd_alloc_objs(nd_reader *r, uint64_t n) {
    /* every value takes at least one byte, so this bounds allocations by input size */
    if (n > (uint64_t)(r->end - r->p)) { nd_malformed(r, "truncated data"); return NULL; }
    PyObject **a = PyMem_Calloc(n ? (size_t)n : 1, sizeof(PyObject *));
    if (!a) PyErr_NoMemory();
    return a;
}

static int decode_lowcard(nd_reader *r, const nd_type *t, uint64_t n, PyObject **out) {
    const nd_type *dt = nd_lc_dict_type(t);
    int nullable = t->child[0]->kind == K_NULLABLE;
    PyObject **dict = NULL;
    uint64_t nd = 0, done = 0;
    while (done < n) {
        RNEED(r, 8);
        uint64_t flags = nd_ld_u64(r->p);
        r->p += 8;
        if (!nd_lc_flags_ok(flags)) goto bad;
        unsigned w = 1u << (flags & 0xff);
        if (flags & ND_LC_HAS_ADDITIONAL) {
            if (dict) { nd_clear_objs(dict, nd); PyMem_Free(dict); dict = NULL; }
            if ((uint64_t)(r->end - r->p) < 8) goto bad;
            nd = nd_ld_u64(r->p);
            r->p += 8;
            if (nd == 0 || nd > ND_MAX_DICT) goto bad;
            if (!(dict = nd_alloc_objs(r, nd))) goto fail;
            if (nd_decode_column(r, dt, nd, dict)) goto fail;
            if (nullable) { Py_SETREF(dict[0], Py_NewRef(Py_None)); }
        } else if (!dict) {
            goto bad;
        }
        if ((uint64_t)(r->end - r->p) < 8) goto bad;
        uint64_t rows = nd_ld_u64(r->p);
        r->p += 8;
        if (rows == 0 || rows > n - done || rows > (uint64_t)(r->end - r->p) / w) goto bad;
        const uint8_t *ix = r->p;
        for (uint64_t i = 0; i < rows; i++) {
            uint64_t k = nd_lc_index(ix, w, i);
            if (k >= nd) goto bad;
            out[done + i] = Py_NewRef(dict[k]);
        }
        r->p += rows * w;
        done += rows;
    }
    if (dict) { nd_clear_objs(dict, nd); PyMem_Free(dict); }
    return 0;
bad:
    nd_malformed(r, "bad LowCardinality data");
fail:
    if (dict) { nd_clear_objs(dict, nd); PyMem_Free(dict); }
    nd_clear_objs(out, done);
    return -1;
}

/* One function per type family, reached through FAMILY below.
 *
 * Fixed-width families (t->width > 0) make n values from the n * width bytes at p
 * into out[0..n) and return how many they made: n, or fewer with an exception set
 * (-1 when it failed before the first). nd_decode_column checks the bytes are there
 * first, and afterwards moves r->p past them or drops the values made. */
typedef int64_t (*nd_fixed_fn)(nd_reader *r, const nd_type *t, uint64_t n, const uint8_t *p, PyObject **out);
#define FIXED_LOOP(W, EXPR) \
    for (uint64_t i = 0; i < n; i++, p += (W)) { if (!(out[i] = (EXPR))) return (int64_t)i; } \
    return (int64_t)n

static PyObject *bfloat16(const uint8_t *p) {
    uint32_t bits = (uint32_t)nd_ld_u16(p) << 16;
    float f;
    memcpy(&f, &bits, 4);
    return PyFloat_FromDouble(f);
}

static PyObject *float32(const uint8_t *p) { float f; memcpy(&f, p, 4); return PyFloat_FromDouble(f); }
static PyObject *float64(const uint8_t *p) { double d; memcpy(&d, p, 8); return PyFloat_FromDouble(d); }

/* Integers, floats, Bool, Nothing. */
static int64_t dec_numbers(nd_reader *r, const nd_type *t, uint64_t n, const uint8_t *p, PyObject **out) {
    switch (t->kind) {
    case K_INT8:   FIXED_LOOP(1, PyLong_FromLong((int8_t)p[0]));
    case K_UINT8:  FIXED_LOOP(1, PyLong_FromLong(p[0]));
    case K_INT16:  FIXED_LOOP(2, PyLong_FromLong((int16_t)nd_ld_u16(p)));
    case K_UINT16: FIXED_LOOP(2, PyLong_FromLong(nd_ld_u16(p)));
    case K_INT32:  FIXED_LOOP(4, PyLong_FromLong((int32_t)nd_ld_u32(p)));
    case K_UINT32: FIXED_LOOP(4, PyLong_FromUnsignedLong(nd_ld_u32(p)));
    case K_UINT64: FIXED_LOOP(8, PyLong_FromUnsignedLongLong(nd_ld_u64(p)));
    case K_INT128: FIXED_LOOP(16, big_int(p, 16, 1));
    case K_UINT128: FIXED_LOOP(16, big_int(p, 16, 0));
    case K_INT256: FIXED_LOOP(32, big_int(p, 32, 1));
    case K_UINT256: FIXED_LOOP(32, big_int(p, 32, 0));
    case K_FLOAT32: FIXED_LOOP(4, float32(p));
    case K_FLOAT64: FIXED_LOOP(8, float64(p));
    case K_BFLOAT16: FIXED_LOOP(2, bfloat16(p));
    case K_BOOL: FIXED_LOOP(1, Py_NewRef(p[0] ? Py_True : Py_False));
    case K_NOTHING: FIXED_LOOP(1, Py_NewRef(Py_None));
    default:   /* K_INT64, K_INTERVAL */
        FIXED_LOOP(8, PyLong_FromLongLong((int64_t)nd_ld_u64(p)));
    }
}

/* cls(arg), consuming arg (NULL: the error is already set). */
static PyObject *call_consuming(PyObject *cls, PyObject *arg) {
    if (!arg) return NULL;
    PyObject *v = PyObject_CallOneArg(cls, arg);
    Py_DECREF(arg);
    return v;
}

/* Decimal, UUID, IPv4, IPv6: objects of the standard library. */
static int64_t dec_value_objects(nd_reader *r, const nd_type *t, uint64_t n, const uint8_t *p, PyObject **out) {
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
        FIXED_LOOP(4, call_consuming(g_ipv4, PyLong_FromUnsignedLong(nd_ld_u32(p))));
    default:   /* K_IPV6 */
        if (!lazy_attr(&g_ipv6, "ipaddress", "IPv6Address")) return -1;
        FIXED_LOOP(16, call_consuming(g_ipv6, PyBytes_FromStringAndSize((const char *)p, 16)));
    }
}

static PyObject *time64(nd_reader *r, int64_t ticks, int scale) {
    int us;
    int64_t secs = split_ticks(ticks, scale, &us);
    if (secs < -86400LL * 999999999 || secs > 86400LL * 999999999) { nd_malformed(r, "time out of range"); return NULL; }
    int64_t days = floordiv(secs, 86400);
    return PyDelta_FromDSU((int)days, (int)(secs - days * 86400), us);
}

/* Date, Date32, Time, Time64. */
static int64_t dec_dates(nd_reader *r, const nd_type *t, uint64_t n, const uint8_t *p, PyObject **out) {
    switch (t->kind) {
    case K_DATE:   FIXED_LOOP(2, make_date(r, nd_ld_u16(p)));
    case K_DATE32: FIXED_LOOP(4, make_date(r, (int32_t)nd_ld_u32(p)));
    case K_TIME:   FIXED_LOOP(4, PyDelta_FromDSU(0, (int32_t)nd_ld_u32(p), 0));
    default:       FIXED_LOOP(8, time64(r, (int64_t)nd_ld_u64(p), t->scale));   /* K_TIME64 */
    }
}

/* The zone a DateTime/DateTime64 column's values are made in: *tz NULL for naive UTC
 * (tz=False: whatever the column's zone, Django with USE_TZ off; or no zone at all),
 * else a new reference, with *fromutc its bound fromutc unless it is UTC. */
static int column_tz(nd_reader *r, const nd_type *t, PyObject **tz, PyObject **fromutc) {
    *tz = *fromutc = NULL;
    if (r->opts->tz == Py_False) return 0;
    if (t->tz) {
        if (strcmp(t->tz, "UTC") == 0 || strcmp(t->tz, "Etc/UTC") == 0) {
            *tz = Py_NewRef(PyDateTime_TimeZone_UTC);
        } else {
            if (!lazy_attr(&g_zoneinfo, "zoneinfo", "ZoneInfo")) return -1;
            /* ZoneInfo(key) returns its own cached instance for a key */
            *tz = PyObject_CallFunction(g_zoneinfo, "s", t->tz);
            if (!*tz) {
                PyErr_Clear();
                PyErr_Format(chb_exc(CHB_EXC_NotSupportedError),
                             "unknown timezone '%.100s' in column '%s' (is tzdata installed?)", t->tz, r->colname);
                return -1;
            }
        }
    } else if (r->opts->tz && r->opts->tz != Py_None) {
        *tz = Py_NewRef(r->opts->tz);
    }
    if (*tz && *tz != PyDateTime_TimeZone_UTC && !(*fromutc = PyObject_GetAttr(*tz, g_str_fromutc))) {
        Py_CLEAR(*tz);
        return -1;
    }
    return 0;
}

static PyObject *datetime64(nd_reader *r, int64_t ticks, int scale, PyObject *tz, PyObject *fromutc) {
    int us;
    int64_t secs = split_ticks(ticks, scale, &us);
    return make_dt(r, secs, us, tz, fromutc);
}

/* DateTime, DateTime64: aware in the column's zone, or naive UTC (tz=False). */
static int64_t dec_datetimes(nd_reader *r, const nd_type *t, uint64_t n, const uint8_t *p, PyObject **out) {
    PyObject *tz, *fromutc;
    if (column_tz(r, t, &tz, &fromutc)) return -1;
    uint64_t i = 0;
    if (t->kind == K_DATETIME) {
        for (; i < n; i++, p += 4)
            if (!(out[i] = make_dt(r, nd_ld_u32(p), 0, tz, fromutc))) break;
    } else {
        for (; i < n; i++, p += 8)
            if (!(out[i] = datetime64(r, (int64_t)nd_ld_u64(p), t->scale, tz, fromutc))) break;
    }
    Py_XDECREF(fromutc);
    Py_XDECREF(tz);
    return (int64_t)i;
}

/* Enum8, Enum16: the value's name (each name made once per column). */
static int64_t dec_enums(nd_reader *r, const nd_type *t, uint64_t n, const uint8_t *p, PyObject **out) {
    PyObject **names = PyMem_Calloc(t->nenum, sizeof *names);
    if (!names) { PyErr_NoMemory(); return -1; }
    size_t k;
    uint64_t i = 0;
    for (k = 0; k < t->nenum; k++)
        if (!(names[k] = PyUnicode_DecodeUTF8(t->enum_name[k], (Py_ssize_t)t->enum_len[k], "surrogateescape")))
            break;
    if (k == t->nenum) {
        for (; i < n; i++, p += t->width) {
            int32_t v = t->kind == K_ENUM8 ? (int8_t)p[0] : (int16_t)nd_ld_u16(p);
            size_t lo = 0, hi = t->nenum;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (t->enum_val[mid] < v) lo = mid + 1; else hi = mid;
            }
            if (lo == t->nenum || t->enum_val[lo] != v) { nd_malformed(r, "unknown Enum value"); break; }
            out[i] = Py_NewRef(names[lo]);
        }
    }
    for (size_t j = 0; j < k; j++) Py_DECREF(names[j]);
    PyMem_Free(names);
    return k == t->nenum ? (int64_t)i : -1;
}

static PyObject *fixed_string(const uint8_t *p, size_t w, int as_bytes) {
    if (!as_bytes) while (w && p[w - 1] == 0) w--;   /* drop the zero padding */
    return decode_str(p, w, as_bytes);
}

/* FixedString(N): zero padding dropped from text. */
static int64_t dec_fixed_strings(nd_reader *r, const nd_type *t, uint64_t n, const uint8_t *p, PyObject **out) {
    FIXED_LOOP(t->width, fixed_string(p, t->width, r->opts->strings_as_bytes));
}

#undef FIXED_LOOP

/* Variable-width families fill out[0..n) with new references (on failure out holds
 * none) and move r->p past the column themselves. */

/* String, JSON (as text): varint length and bytes. */
static int dec_strings(nd_reader *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    const uint8_t *p = r->p, *end = r->end;
    int as_bytes = t->kind == K_STRING && r->opts->strings_as_bytes;
    for (; i < n; i++) {
        uint64_t l;
        if (nd_rd_strlen(&p, end, &l)) { nd_malformed(r, "bad string length"); goto fail; }
        if (l > (uint64_t)(end - p)) { nd_malformed(r, "truncated string"); goto fail; }
        if (!(out[i] = decode_str(p, (size_t)l, as_bytes))) goto fail;
        p += l;
    }
    r->p = p;
    return 0;
fail:
    nd_clear_objs(out, i);
    return -1;
}

/* Nullable(T): the null map, then T. */
static int dec_nullable(nd_reader *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    if (n > (uint64_t)(r->end - r->p)) return nd_malformed(r, "truncated null map");
    const uint8_t *nulls = r->p;
    r->p += n;
    if (nd_decode_column(r, t->child[0], n, out)) return -1;
    for (i = 0; i < n; i++)
        if (nulls[i]) Py_SETREF(out[i], Py_NewRef(Py_None));
    return 0;
}

/* Array(T), Map(K, V): offsets, then the flattened values. */
static int dec_arrays(nd_reader *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    uint64_t total;
    const uint8_t *offs = read_offsets(r, n, &total);
    if (!offs) return -1;
    size_t nsub = t->nchild;
    PyObject **sub = nd_alloc_objs(r, total * nsub);
    if (!sub) return -1;
    if (nd_decode_column(r, t->child[0], total, sub)) { PyMem_Free(sub); return -1; }
    if (nsub == 2 && nd_decode_column(r, t->child[1], total, sub + total)) {
        nd_clear_objs(sub, total);
        PyMem_Free(sub);
        return -1;
    }
    uint64_t prev = 0;
    int err = 0;
    for (i = 0; i < n && !err; i++) {
        uint64_t o = nd_ld_u64(offs + 8 * i);
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
    nd_clear_objs(sub, total * nsub);
    PyMem_Free(sub);
    if (err) { nd_clear_objs(out, n); return -1; }
    return 0;
}

/* Tuple(T...): each element column in turn. */
static int dec_tuples(nd_reader *r, const nd_type *t, uint64_t n, PyObject **out) {
    uint64_t i = 0;
    size_t k = t->nchild;
    /* each element is at least one byte per row */
    if (n && k > (uint64_t)(r->end - r->p) / n) return nd_malformed(r, "truncated data");
    PyObject **sub = nd_alloc_objs(r, n * k);
    if (!sub) return -1;
    size_t e;
    for (e = 0; e < k; e++)
        if (nd_decode_column(r, t->child[e], n, sub + e * n)) break;
    if (e == k) {
        for (i = 0; i < n; i++) {
            PyObject *tup = PyTuple_New((Py_ssize_t)k);
            if (!tup) break;
            for (size_t j = 0; j < k; j++) { PyTuple_SET_ITEM(tup, (Py_ssize_t)j, sub[j * n + i]); sub[j * n + i] = NULL; }
            out[i] = tup;
        }
    }
    nd_clear_objs(sub, n * e);
    PyMem_Free(sub);
    if (e < k || i < n) { nd_clear_objs(out, n); return -1; }
    return 0;
}

/* Per kind: its family's decoder (fixed-width or not), and whether every value it
 * makes is of a non-GC type (int, float, bool, None, str/bytes, date, timedelta)
 * whatever the data, so that a row tuple of such columns is untracked without a look
 * at each value. */
typedef int (*nd_family_fn)(nd_reader *r, const nd_type *t, uint64_t n, PyObject **out);
static const struct { nd_fixed_fn fixed; nd_family_fn var; uint8_t never_gc; } FAMILY[K__COUNT] = {
#define FIXED(fn, gc) {fn, NULL, gc}
#define VAR(fn, gc) {NULL, fn, gc}
    [K_INT8] = FIXED(dec_numbers, 1),    [K_INT16] = FIXED(dec_numbers, 1),   [K_INT32] = FIXED(dec_numbers, 1),
    [K_INT64] = FIXED(dec_numbers, 1),   [K_UINT8] = FIXED(dec_numbers, 1),   [K_UINT16] = FIXED(dec_numbers, 1),
    [K_UINT32] = FIXED(dec_numbers, 1),  [K_UINT64] = FIXED(dec_numbers, 1),  [K_INT128] = FIXED(dec_numbers, 1),
    [K_INT256] = FIXED(dec_numbers, 1),  [K_UINT128] = FIXED(dec_numbers, 1), [K_UINT256] = FIXED(dec_numbers, 1),
    [K_FLOAT32] = FIXED(dec_numbers, 1), [K_FLOAT64] = FIXED(dec_numbers, 1), [K_BFLOAT16] = FIXED(dec_numbers, 1),
    [K_BOOL] = FIXED(dec_numbers, 1),    [K_NOTHING] = FIXED(dec_numbers, 1), [K_INTERVAL] = FIXED(dec_numbers, 1),
    [K_DECIMAL] = FIXED(dec_value_objects, 0), [K_UUID] = FIXED(dec_value_objects, 0),
    [K_IPV4] = FIXED(dec_value_objects, 0),    [K_IPV6] = FIXED(dec_value_objects, 0),
    [K_DATE] = FIXED(dec_dates, 1),      [K_DATE32] = FIXED(dec_dates, 1),    [K_TIME] = FIXED(dec_dates, 1),
    [K_TIME64] = FIXED(dec_dates, 0),
    [K_DATETIME] = FIXED(dec_datetimes, 0), [K_DATETIME64] = FIXED(dec_datetimes, 0),
    [K_ENUM8] = FIXED(dec_enums, 0),     [K_ENUM16] = FIXED(dec_enums, 0),
    [K_FIXEDSTRING] = FIXED(dec_fixed_strings, 1),
    [K_STRING] = VAR(dec_strings, 1),    [K_JSON] = VAR(dec_strings, 0),
    [K_NULLABLE] = VAR(dec_nullable, 0), [K_ARRAY] = VAR(dec_arrays, 0),  [K_MAP] = VAR(dec_arrays, 0),
    [K_TUPLE] = VAR(dec_tuples, 0),      [K_LOWCARD] = VAR(decode_lowcard, 0),
#undef FIXED
#undef VAR
};

int nd_decode_column(nd_reader *r, const nd_type *t, uint64_t n, PyObject **out) {
    if (!t->width) return FAMILY[t->kind].var(r, t, n, out);
    if (n > (uint64_t)(r->end - r->p) / t->width) return nd_malformed(r, "truncated data");
    int64_t made = FAMILY[t->kind].fixed(r, t, n, r->p, out);
    if (made < (int64_t)n) {
        if (made > 0) nd_clear_objs(out, (uint64_t)made);
        return -1;
    }
    r->p += n * t->width;
    return 0;
}

/* Whether every value nd_decode_column() makes for `t` is of a non-GC type. */
int nd_never_gc(const nd_type *t) {
    if (t->kind == K_NULLABLE || t->kind == K_LOWCARD) return nd_never_gc(t->child[0]);
    return FAMILY[t->kind].never_gc;
}
