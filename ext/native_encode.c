/* Python row tuples -> one ClickHouse Native block. See native_encode.h; the column plan comes
 * from clickhouse_backend/driver/native_insert.py, the checks from driver/typecheck.py. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include "native_encode.h"
#include "buf.h"
#include "typecheck.h"

/* ------------------------------------------------------------ pure helpers */

size_t ne_varint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

void ne_le(uint8_t *p, uint64_t v, int size) {
    for (int i = 0; i < size; i++, v >>= 8) p[i] = (uint8_t)v;
}

/* ------------------------------------------------------------ columns */

enum { NE_INT, NE_UINT, NE_FLOAT32, NE_FLOAT64, NE_BOOL, NE_STRING, NE_FIXED, NE_DATE, NE_DATE32,
       NE_DATETIME, NE_DATETIME64, NE_UUID };

static const struct {
    const char *base;
    int kind, size;
} BASES[] = {
    {"Int8", NE_INT, 1},         {"Int16", NE_INT, 2},       {"Int32", NE_INT, 4},     {"Int64", NE_INT, 8},
    {"UInt8", NE_UINT, 1},       {"UInt16", NE_UINT, 2},     {"UInt32", NE_UINT, 4},   {"UInt64", NE_UINT, 8},
    {"Float32", NE_FLOAT32, 4},  {"Float64", NE_FLOAT64, 8}, {"Bool", NE_BOOL, 1},     {"String", NE_STRING, 0},
    {"FixedString", NE_FIXED, 0}, {"Date", NE_DATE, 2},      {"Date32", NE_DATE32, 4}, {"DateTime", NE_DATETIME, 4},
    {"DateTime64", NE_DATETIME64, 8}, {"UUID", NE_UUID, 16},
};

typedef struct {
    int kind, size, nullable;
    long long arg;            /* FixedString: N; DateTime64: precision */
    long long lo, hi;         /* integers: the range (UInt64's upper half: see put_int) */
    long long scale;          /* DateTime64: 10 ** |precision - 6| */
    PyObject *zone;           /* borrowed (the plan outlives the call); NULL: UTC */
    const char *name, *type;  /* UTF-8 of the plan's str objects */
    Py_ssize_t name_len, type_len;
    chb_buf nulls, data;
} ne_col;

static PyObject *UUIDType, *Sixty4;

int ne_init(void) {
    if (UUIDType) return 0;
    if (tc_init()) return -1;
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) return -1;
    PyObject *m = PyImport_ImportModule("uuid");
    if (!m) return -1;
    UUIDType = PyObject_GetAttrString(m, "UUID");
    Py_DECREF(m);
    if (!UUIDType) return -1;
    return (Sixty4 = PyLong_FromLong(64)) ? 0 : -1;
}

static int bad_plan(PyObject *col) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "malformed native column plan %R", col);
    return -1;
}

static int compile_col(ne_col *c, PyObject *col) {
    if (!PyTuple_Check(col) || PyTuple_GET_SIZE(col) != 6) return bad_plan(col);
    PyObject *name = PyTuple_GET_ITEM(col, 0), *type = PyTuple_GET_ITEM(col, 1), *base = PyTuple_GET_ITEM(col, 2);
    PyObject *zone = PyTuple_GET_ITEM(col, 5);
    if (!PyUnicode_Check(name) || !PyUnicode_Check(type) || !PyUnicode_Check(base)) return bad_plan(col);
    if (!(c->name = PyUnicode_AsUTF8AndSize(name, &c->name_len)) ||
        !(c->type = PyUnicode_AsUTF8AndSize(type, &c->type_len)))
        return -1;
    size_t i = 0;
    for (; i < sizeof BASES / sizeof *BASES; i++)
        if (!PyUnicode_CompareWithASCIIString(base, BASES[i].base)) break;
    if (i == sizeof BASES / sizeof *BASES) return bad_plan(col);
    c->kind = BASES[i].kind;
    c->size = BASES[i].size;
    if ((c->nullable = PyObject_IsTrue(PyTuple_GET_ITEM(col, 3))) < 0) return -1;
    c->arg = PyLong_AsLongLong(PyTuple_GET_ITEM(col, 4));
    if (c->arg == -1 && PyErr_Occurred()) return bad_plan(col);
    c->zone = zone == Py_None ? NULL : zone;
    int bits = c->size * 8;
    if (c->kind == NE_INT) {
        c->hi = (long long)((1ULL << (bits - 1)) - 1);
        c->lo = -c->hi - 1;
    } else if (c->kind == NE_UINT) {
        c->lo = 0;
        c->hi = bits == 64 ? LLONG_MAX : (long long)((1ULL << bits) - 1);
    } else if (c->kind == NE_FIXED) {
        if (c->arg < 1 || c->arg > (1 << 30)) return bad_plan(col);
        c->size = (int)c->arg;
    } else if (c->kind == NE_DATETIME64) {
        if (c->arg < 0 || c->arg > 9) return bad_plan(col);
        c->scale = 1;
        for (long long k = c->arg < 6 ? 6 - c->arg : c->arg - 6; k > 0; k--) c->scale *= 10;
    }
    return 0;
}

/* ------------------------------------------------------------ values
 * Each put_*: 0 written, 1 not a value written here exactly as the VALUES text would be
 * stored (the caller falls back to the text), -1 with an exception. */

static int room(chb_buf *b, size_t n) {
    if (chb_buf_reserve(b, n)) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static int put_le(ne_col *c, uint64_t v, int size) {
    if (room(&c->data, (size_t)size)) return -1;
    ne_le(c->data.data + c->data.len, v, size);
    c->data.len += (size_t)size;
    return 0;
}

static int put_int(ne_col *c, PyObject *v) {
    if (!PyLong_Check(v)) return 1; /* bool too: the text is 1 or 0 */
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) return -1;
    uint64_t u;
    if (overflow) {
        if (c->kind != NE_UINT || c->size != 8 || overflow < 0) return 1;
        u = PyLong_AsUnsignedLongLong(v); /* 2**63 .. 2**64 - 1 */
        if (u == (uint64_t)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 1;
        }
    } else {
        if (x < c->lo || x > c->hi) return 1; /* never wrapped: the check said why, or the text will */
        u = (uint64_t)x;
    }
    return put_le(c, u, c->size);
}

static int put_float(ne_col *c, PyObject *v) {
    double d;
    if (PyFloat_Check(v)) {
        d = PyFloat_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) return -1;
    } else if (PyLong_Check(v)) {
        /* an integer literal is parsed into the float exactly only up to 2**53 */
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred()) return -1;
        if (overflow || x > (1LL << 53) || x < -(1LL << 53)) return 1;
        d = (double)x;
    } else {
        return 1;
    }
    uint64_t bits;
    if (c->kind == NE_FLOAT32) {
        if (isfinite(d) && fabs(d) > FLT_MAX) return 1; /* the narrowing would be undefined */
        if (d != 0 && fabs(d) < DBL_MIN) return 1;      /* subnormal: its text is an expression 18.16 refuses */
        float f = (float)d;
        uint32_t b32;
        memcpy(&b32, &f, 4);
        bits = b32;
    } else {
        memcpy(&bits, &d, 8);
    }
    return put_le(c, bits, c->size);
}

/* The bytes of a String value: str as UTF-8 (lone surrogates from surrogateescape back to
 * their bytes, as the text sends them), bytes-like as they are. tmp and view: to release. */
static int string_of(PyObject *v, const char **s, Py_ssize_t *n, PyObject **tmp, Py_buffer *view) {
    if (PyUnicode_Check(v)) {
        if ((*s = PyUnicode_AsUTF8AndSize(v, n))) return 0;
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
        PyErr_Clear();
        if (!(*tmp = PyUnicode_AsEncodedString(v, "utf-8", "surrogateescape"))) {
            PyErr_Clear(); /* the text path says what is wrong with it */
            return 1;
        }
        *s = PyBytes_AS_STRING(*tmp);
        *n = PyBytes_GET_SIZE(*tmp);
        return 0;
    }
    if (PyBytes_Check(v)) {
        *s = PyBytes_AS_STRING(v);
        *n = PyBytes_GET_SIZE(v);
        return 0;
    }
    if (PyByteArray_Check(v) || PyMemoryView_Check(v)) {
        if (PyObject_GetBuffer(v, view, PyBUF_SIMPLE) < 0) {
            PyErr_Clear();
            return 1;
        }
        *s = view->buf;
        *n = view->len;
        return 0;
    }
    return 1;
}

static int put_string(ne_col *c, PyObject *v) {
    const char *s;
    Py_ssize_t n;
    PyObject *tmp = NULL;
    Py_buffer view = {0};
    int r = string_of(v, &s, &n, &tmp, &view);
    if (r) return r;
    if (c->kind == NE_FIXED && n > c->size) {
        r = 1; /* too long: the server's refusal says so */
    } else if (!(r = room(&c->data, (size_t)n + 10 + (size_t)c->size))) {
        uint8_t *p = c->data.data + c->data.len;
        if (c->kind == NE_STRING) p += ne_varint(p, (uint64_t)n);
        if (n) memcpy(p, s, (size_t)n);
        p += n;
        if (c->kind == NE_FIXED) { /* the server pads a shorter literal with NULs */
            memset(p, 0, (size_t)(c->size - n));
            p += c->size - n;
        }
        c->data.len = (size_t)(p - c->data.data);
    }
    Py_XDECREF(tmp);
    if (view.obj) PyBuffer_Release(&view);
    return r;
}

static int put_date(ne_col *c, PyObject *v) {
    if (!PyDate_Check(v) || PyDateTime_Check(v)) return 1;
    long long days = tc_days_from_civil(PyDateTime_GET_YEAR(v), PyDateTime_GET_MONTH(v), PyDateTime_GET_DAY(v));
    if (c->kind == NE_DATE ? days < 0 || days > 0xFFFF : days < INT32_MIN || days > INT32_MAX) return 1;
    return put_le(c, (uint64_t)days, c->size);
}

static long long delta_us(PyObject *d) {
    return ((long long)PyDateTime_DELTA_GET_DAYS(d) * 86400 + PyDateTime_DELTA_GET_SECONDS(d)) * 1000000 +
           PyDateTime_DELTA_GET_MICROSECONDS(d);
}

/* zone.utcoffset(the wall time of v with that fold) in µs: 0, 1 (not a timedelta), -1. */
static int offset_at(PyObject *zone, PyObject *v, int fold, long long *us) {
    PyObject *wall = PyDateTimeAPI->DateTime_FromDateAndTimeAndFold(
        PyDateTime_GET_YEAR(v), PyDateTime_GET_MONTH(v), PyDateTime_GET_DAY(v), PyDateTime_DATE_GET_HOUR(v),
        PyDateTime_DATE_GET_MINUTE(v), PyDateTime_DATE_GET_SECOND(v), PyDateTime_DATE_GET_MICROSECOND(v), Py_None,
        fold, PyDateTimeAPI->DateTimeType);
    if (!wall) return -1;
    PyObject *off = PyObject_CallMethod(zone, "utcoffset", "O", wall);
    Py_DECREF(wall);
    if (!off) return -1;
    int r = PyDelta_Check(off) ? 0 : 1;
    if (!r) *us = delta_us(off);
    Py_DECREF(off);
    return r;
}

/* The instant of a datetime in µs since 1970 UTC, as the server stores the VALUES text:
 * an aware value is its instant, a naive one the wall time in c->zone. */
static int instant_us(ne_col *c, PyObject *v, long long *us) {
    if (!PyDateTime_Check(v)) return 1;
    PyObject *tz = PyDateTime_DATE_GET_TZINFO(v);
    long long off = 0;
    if (tz != Py_None && tz != PyDateTime_TimeZone_UTC) {
        PyObject *o = PyObject_CallMethod(v, "utcoffset", NULL);
        if (!o) return -1;
        int aware = o != Py_None, r = aware && !PyDelta_Check(o);
        if (aware && !r) off = delta_us(o);
        Py_DECREF(o);
        if (r) return 1;
        if (!aware) tz = Py_None; /* the text is its wall time, like a naive value's */
    }
    if (tz == Py_None && c->zone) {
        /* a wall time a DST change skips or repeats: the server picks its own reading */
        long long off1 = 0;
        int r = offset_at(c->zone, v, 0, &off);
        if (!r) r = offset_at(c->zone, v, 1, &off1);
        if (r) return r;
        if (off != off1) return 1;
    }
    *us = tc_epoch_us(v) - off;
    return 0;
}

static int put_datetime(ne_col *c, PyObject *v) {
    long long us;
    int r = instant_us(c, v, &us);
    if (r) return r;
    if (c->kind == NE_DATETIME) {
        if (us % 1000000 || us < 0 || us / 1000000 > (long long)UINT32_MAX) return 1;
        return put_le(c, (uint64_t)(us / 1000000), 4);
    }
    long long ticks;
    if (c->arg <= 6) {
        if (us % c->scale) return 1; /* more digits than the type keeps: the check refused it */
        ticks = us / c->scale;
    } else {
        if (us > LLONG_MAX / c->scale || us < LLONG_MIN / c->scale) return 1;
        ticks = us * c->scale;
    }
    return put_le(c, (uint64_t)ticks, 8);
}

static int put_uuid(ne_col *c, PyObject *v) {
    if ((PyObject *)Py_TYPE(v) != UUIDType) return 1; /* a subclass's str() may differ */
    PyObject *i = PyObject_GetAttrString(v, "int");
    if (!i) return -1;
    PyObject *high = PyLong_Check(i) ? PyNumber_Rshift(i, Sixty4) : NULL;
    int r = -1;
    if (high) {
        /* two little-endian UInt64 halves, the high one first */
        uint64_t hi = PyLong_AsUnsignedLongLongMask(high), lo = PyLong_AsUnsignedLongLongMask(i);
        if (!PyErr_Occurred() && !(r = put_le(c, hi, 8))) r = put_le(c, lo, 8);
        Py_DECREF(high);
    } else if (!PyErr_Occurred()) {
        r = 1;
    }
    Py_DECREF(i);
    return r;
}

static int put_value(ne_col *c, PyObject *v) {
    if (c->nullable) {
        if (room(&c->nulls, 1)) return -1;
        c->nulls.data[c->nulls.len++] = v == Py_None;
        if (v == Py_None) { /* the slot under a NULL: the type's zero */
            size_t n = c->kind == NE_STRING ? 1 : (size_t)c->size;
            if (room(&c->data, n)) return -1;
            memset(c->data.data + c->data.len, 0, n);
            c->data.len += n;
            return 0;
        }
    } else if (v == Py_None) {
        return 1; /* NULL into a column that is not Nullable: the server's refusal */
    }
    switch (c->kind) {
    case NE_INT:
    case NE_UINT: return put_int(c, v);
    case NE_FLOAT32:
    case NE_FLOAT64: return put_float(c, v);
    case NE_BOOL:
        if (v != Py_True && v != Py_False) return 1;
        return put_le(c, v == Py_True, 1);
    case NE_STRING:
    case NE_FIXED: return put_string(c, v);
    case NE_DATE:
    case NE_DATE32: return put_date(c, v);
    case NE_DATETIME:
    case NE_DATETIME64: return put_datetime(c, v);
    case NE_UUID: return put_uuid(c, v);
    }
    return 1;
}

/* ------------------------------------------------------------ the block */

static PyObject *assemble(ne_col *cols, Py_ssize_t ncols, Py_ssize_t nrows, PyObject *head) {
    uint8_t tmp[10];
    size_t total = (size_t)PyBytes_GET_SIZE(head) + ne_varint(tmp, (uint64_t)ncols) + ne_varint(tmp, (uint64_t)nrows);
    for (Py_ssize_t i = 0; i < ncols; i++)
        total += ne_varint(tmp, (uint64_t)cols[i].name_len) + (size_t)cols[i].name_len +
                 ne_varint(tmp, (uint64_t)cols[i].type_len) + (size_t)cols[i].type_len + cols[i].nulls.len +
                 cols[i].data.len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (!out) return NULL;
    uint8_t *p = (uint8_t *)PyBytes_AS_STRING(out);
    memcpy(p, PyBytes_AS_STRING(head), (size_t)PyBytes_GET_SIZE(head));
    p += PyBytes_GET_SIZE(head);
    p += ne_varint(p, (uint64_t)ncols);
    p += ne_varint(p, (uint64_t)nrows);
    for (Py_ssize_t i = 0; i < ncols; i++) {
        ne_col *c = &cols[i];
        p += ne_varint(p, (uint64_t)c->name_len);
        memcpy(p, c->name, (size_t)c->name_len);
        p += c->name_len;
        p += ne_varint(p, (uint64_t)c->type_len);
        memcpy(p, c->type, (size_t)c->type_len);
        p += c->type_len;
        if (c->nulls.len) memcpy(p, c->nulls.data, c->nulls.len);
        p += c->nulls.len;
        if (c->data.len) memcpy(p, c->data.data, c->data.len);
        p += c->data.len;
    }
    return out;
}

/* One row into the columns: 0, 1 (fall back), -1. */
static int put_row(ne_col *cols, Py_ssize_t ncols, PyObject *row, Py_ssize_t index, const tc_check *tc,
                   Py_ssize_t ntc) {
    if (!PyTuple_Check(row) && !PyList_Check(row)) return 1;
    int r = 0;
    for (Py_ssize_t i = 0; !r && i < ncols; i++) {
        /* re-read the size each time: a check or a utcoffset() may run Python code */
        if (PySequence_Fast_GET_SIZE(row) != ncols) return 1;
        PyObject *v = Py_NewRef(PySequence_Fast_GET_ITEM(row, i));
        r = tc_value(tc, ntc, i, v, index) ? -1 : put_value(&cols[i], v);
        Py_DECREF(v);
    }
    return r;
}

PyObject *ne_rows(PyObject *rows, PyObject *columns, PyObject *checks, PyObject *head) {
    if (!PyBytes_Check(head)) {
        PyErr_SetString(PyExc_TypeError, "head must be bytes");
        return NULL;
    }
    if (!PyList_Check(rows) && !PyTuple_Check(rows)) Py_RETURN_NONE;
    PyObject *plan = PySequence_Fast(columns, "columns must be a sequence");
    if (!plan) return NULL;
    Py_ssize_t ncols = PySequence_Fast_GET_SIZE(plan), ntc = 0, nrows = 0;
    ne_col *cols = PyMem_Calloc((size_t)(ncols ? ncols : 1), sizeof *cols);
    tc_check *tc = NULL;
    PyObject *res = NULL;
    int r = 0;
    if (!cols) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < ncols; i++)
        if (compile_col(&cols[i], PySequence_Fast_GET_ITEM(plan, i))) goto done;
    if (checks && checks != Py_None && !(tc = tc_compile(checks, &ntc))) goto done;
    Py_ssize_t hint = PySequence_Fast_GET_SIZE(rows);
    for (Py_ssize_t i = 0; i < ncols; i++) {
        ne_col *c = &cols[i];
        size_t width = c->kind == NE_STRING ? 16 : (size_t)c->size; /* a guess for String */
        if ((c->nullable && room(&c->nulls, (size_t)hint)) || room(&c->data, width * (size_t)hint)) goto done;
    }
    /* re-read the length each time: Python code run by a value may change the list */
    for (; nrows < PySequence_Fast_GET_SIZE(rows); nrows++) {
        PyObject *row = Py_NewRef(PySequence_Fast_GET_ITEM(rows, nrows));
        r = put_row(cols, ncols, row, nrows, tc, ntc);
        Py_DECREF(row);
        if (r) break;
    }
    if (r < 0) goto done;
    res = r ? Py_NewRef(Py_None) : assemble(cols, ncols, nrows, head);
done:
    if (cols)
        for (Py_ssize_t i = 0; i < ncols; i++) {
            chb_buf_free(&cols[i].nulls);
            chb_buf_free(&cols[i].data);
        }
    PyMem_Free(cols);
    tc_free(tc, ntc);
    Py_DECREF(plan);
    return res;
}
