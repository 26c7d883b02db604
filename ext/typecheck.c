/* Per-value range checks of executemany() INSERTs. See typecheck.h; the spec of each
 * column, and the words of every message, come from clickhouse_backend/driver/typecheck.py. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <limits.h>
#include "typecheck.h"
#include "errors.h"

enum { TC_NONE, TC_INT, TC_DECIMAL, TC_DATE, TC_DATETIME, TC_NULLABLE, TC_ARRAY };

struct tc_check {
    int kind;
    PyObject *name, *type_name;  /* owned: the column's, for the message (top level only) */
    PyObject *spec;              /* owned: keeps every borrowed object below alive */
    /* TC_INT: [lo, hi]; lo_ll/hi_ll are them clamped to long long, for values that fit one */
    PyObject *lo, *hi;
    long long lo_ll, hi_ll;
    /* TC_DECIMAL: at most `digits` integer digits and `scale` decimal places */
    long long digits, scale;
    /* TC_DATE: [lo_ymd, hi_ymd] as y * 10000 + m * 100 + d */
    long lo_ymd, hi_ymd;
    /* TC_DATETIME: microseconds since 1970 UTC in [lo_us, hi_us], at most `precision`
     * fractional digits; a naive value is in `zone` (None: UTC) */
    PyObject *zone;
    long long lo_us, hi_us;
    int precision;
    /* the message after the value: out of range; decimal places / fractional digits; not finite */
    PyObject *tail, *tail2, *tail3;
    struct tc_check *inner;      /* TC_NULLABLE, TC_ARRAY */
};

static PyObject *DecimalType, *Utc;

int tc_init(void) {
    if (DecimalType) return 0;
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) return -1;
    Utc = PyDateTime_TimeZone_UTC;
    PyObject *m = PyImport_ImportModule("decimal");
    if (!m) return -1;
    DecimalType = PyObject_GetAttrString(m, "Decimal");
    Py_DECREF(m);
    return DecimalType ? 0 : -1;
}

/* ---------------------------------------------------------------- compiling */

static void clear(tc_check *c) {
    if (c->inner) {
        clear(c->inner);
        PyMem_Free(c->inner);
    }
    Py_XDECREF(c->spec);
    Py_XDECREF(c->name);
    Py_XDECREF(c->type_name);
    memset(c, 0, sizeof *c);
}

void tc_free(tc_check *checks, Py_ssize_t n) {
    if (!checks) return;
    for (Py_ssize_t i = 0; i < n; i++) clear(&checks[i]);
    PyMem_Free(checks);
}

static int bad_spec(PyObject *spec) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "malformed column check %R", spec);
    return -1;
}

static long long as_ll(PyObject *o) {
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow) return overflow < 0 ? LLONG_MIN : LLONG_MAX;
    return x;
}

static long ymd(PyObject *d) {
    return PyDateTime_GET_YEAR(d) * 10000L + PyDateTime_GET_MONTH(d) * 100L + PyDateTime_GET_DAY(d);
}

/* One spec tuple -> *c (zeroed by the caller). */
static int compile_spec(tc_check *c, PyObject *spec) {
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 2 || !PyUnicode_Check(PyTuple_GET_ITEM(spec, 0)))
        return bad_spec(spec);
    c->spec = Py_NewRef(spec);
    Py_ssize_t n = PyTuple_GET_SIZE(spec);
    PyObject *kind = PyTuple_GET_ITEM(spec, 0);
#define ITEM(i) PyTuple_GET_ITEM(spec, (i))
    if (!PyUnicode_CompareWithASCIIString(kind, "int") && n == 4 && PyLong_Check(ITEM(1)) && PyLong_Check(ITEM(2))) {
        c->kind = TC_INT;
        c->lo = ITEM(1);
        c->hi = ITEM(2);
        c->lo_ll = as_ll(c->lo);
        c->hi_ll = as_ll(c->hi);
        c->tail = ITEM(3);
    } else if (!PyUnicode_CompareWithASCIIString(kind, "decimal") && n == 6) {
        c->kind = TC_DECIMAL;
        c->digits = PyLong_AsLongLong(ITEM(1));
        c->scale = PyLong_AsLongLong(ITEM(2));
        if (PyErr_Occurred()) return bad_spec(spec);
        c->tail = ITEM(3);
        c->tail2 = ITEM(4);
        c->tail3 = ITEM(5);
    } else if (!PyUnicode_CompareWithASCIIString(kind, "date") && n == 4 && PyDate_Check(ITEM(1)) &&
               PyDate_Check(ITEM(2))) {
        c->kind = TC_DATE;
        c->lo_ymd = ymd(ITEM(1));
        c->hi_ymd = ymd(ITEM(2));
        c->tail = ITEM(3);
    } else if (!PyUnicode_CompareWithASCIIString(kind, "datetime") && n == 7) {
        c->kind = TC_DATETIME;
        c->zone = ITEM(1) == Py_None ? NULL : ITEM(1);
        c->lo_us = PyLong_AsLongLong(ITEM(2));
        c->hi_us = PyLong_AsLongLong(ITEM(3));
        c->precision = (int)PyLong_AsLong(ITEM(4));
        if (PyErr_Occurred()) return bad_spec(spec);
        c->tail = ITEM(5);
        c->tail2 = ITEM(6);
    } else if ((!PyUnicode_CompareWithASCIIString(kind, "nullable") ||
                !PyUnicode_CompareWithASCIIString(kind, "array")) && n == 2) {
        c->kind = PyUnicode_CompareWithASCIIString(kind, "array") ? TC_NULLABLE : TC_ARRAY;
        if (!(c->inner = PyMem_Calloc(1, sizeof *c->inner))) {
            PyErr_NoMemory();
            return -1;
        }
        return compile_spec(c->inner, ITEM(1));
    } else {
        return bad_spec(spec);
    }
#undef ITEM
    if (!PyUnicode_Check(c->tail) || (c->tail2 && c->tail2 != Py_None && !PyUnicode_Check(c->tail2)) ||
        (c->tail3 && !PyUnicode_Check(c->tail3)))
        return bad_spec(spec);
    return 0;
}

tc_check *tc_compile(PyObject *checks, Py_ssize_t *n) {
    PyObject *seq = PySequence_Fast(checks, "checks must be a sequence");
    if (!seq) return NULL;
    *n = PySequence_Fast_GET_SIZE(seq);
    tc_check *out = PyMem_Calloc((size_t)(*n ? *n : 1), sizeof *out);
    if (!out) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        PyObject *col = PySequence_Fast_GET_ITEM(seq, i);
        if (col == Py_None) continue;
        if (!PyTuple_Check(col) || PyTuple_GET_SIZE(col) != 3 || !PyUnicode_Check(PyTuple_GET_ITEM(col, 0)) ||
            !PyUnicode_Check(PyTuple_GET_ITEM(col, 1)) || compile_spec(&out[i], PyTuple_GET_ITEM(col, 2))) {
            bad_spec(col);
            tc_free(out, *n);
            Py_DECREF(seq);
            return NULL;
        }
        out[i].name = Py_NewRef(PyTuple_GET_ITEM(col, 0));
        out[i].type_name = Py_NewRef(PyTuple_GET_ITEM(col, 1));
    }
    Py_DECREF(seq);
    return out;
}

/* ---------------------------------------------------------------- checking */

/* Each check: 0 (fits), 1 with *problem a new str (what is wrong), -1 with an exception. */
static int check(const tc_check *c, PyObject *v, PyObject **problem);

/* f"{v}{tail}": the value as Python's f-string shows it. */
static int said(PyObject *v, PyObject *tail, PyObject **problem) {
    PyObject *text = PyObject_Format(v, NULL);
    if (!text) return -1;
    *problem = PyUnicode_Concat(text, tail);
    Py_DECREF(text);
    return *problem ? 1 : -1;
}

static int check_int(const tc_check *c, PyObject *v, PyObject **problem) {
    if (!PyLong_Check(v)) return 0; /* the server refuses what is not a number */
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) return -1;
    if (!overflow) {
        /* lo_ll/hi_ll are clamped only where the true bound is beyond long long */
        if (x >= c->lo_ll && x <= c->hi_ll) return 0;
    } else {
        int ge = PyObject_RichCompareBool(v, c->lo, Py_GE);
        if (ge < 0) return -1;
        int le = ge ? PyObject_RichCompareBool(v, c->hi, Py_LE) : 0;
        if (le < 0) return -1;
        if (ge && le) return 0;
    }
    return said(v, c->tail, problem);
}

/* The places of a decimal number's text (repr of a float, str of a Decimal:
 * [-]digits[.digits][E[+-]digits]) as powers of ten: of its first and of its
 * last non-zero digit. 0: finite and zero, 1: finite, not zero, -1: not finite. */
static int decimal_places(const char *s, long long *first, long long *last) {
    if (*s == '-' || *s == '+') s++;
    if (!((*s >= '0' && *s <= '9') || *s == '.')) return -1; /* NaN, sNaN, Infinity, inf, nan */
    long long point = -1, j = 0, k = -1, l = -1; /* digits before the point; digit index; first/last non-zero */
    for (; (*s >= '0' && *s <= '9') || *s == '.'; s++) {
        if (*s == '.') {
            point = j;
            continue;
        }
        if (*s != '0') {
            if (k < 0) k = j;
            l = j;
        }
        j++;
    }
    if (point < 0) point = j;
    long long e = 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        int neg = *s == '-';
        if (*s == '-' || *s == '+') s++;
        /* saturate: no text is long enough for a larger exponent to change the answer */
        for (; *s >= '0' && *s <= '9'; s++)
            if (e < 100000000000000000LL) e = e * 10 + (*s - '0');
        if (neg) e = -e;
    }
    if (k < 0) return 0;
    /* digit j stands for 10 ** (point + e - 1 - j) */
    *first = point + e - 1 - k;
    *last = point + e - 1 - l;
    return 1;
}

static int check_decimal(const tc_check *c, PyObject *v, PyObject **problem) {
    if (PyBool_Check(v)) return 0;
    if (PyLong_Check(v)) {
        /* |v| < 10 ** digits */
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred()) return -1;
        int fits;
        if (!overflow) {
            if (c->digits >= 19) return 0;
            long long limit = 1;
            for (long long i = 0; i < c->digits; i++) limit *= 10;
            fits = x > -limit && x < limit;
        } else {
            PyObject *text = PyNumber_ToBase(v, 10);
            if (!text) return -1;
            Py_ssize_t len = PyUnicode_GET_LENGTH(text) - (overflow < 0);
            Py_DECREF(text);
            fits = len <= c->digits;
        }
        return fits ? 0 : said(v, c->tail, problem);
    }
    PyObject *text, *shown = NULL; /* the number as Decimal(repr(v)) shows it, for the message */
    int r;
    if (PyFloat_Check(v)) {
        double d = PyFloat_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) return -1;
        char *s = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL); /* repr(v) */
        if (!s) return -1;
        text = PyUnicode_FromString(s);
        PyMem_Free(s);
        if (!text) return -1;
    } else {
        if (Py_TYPE(v) != (PyTypeObject *)DecimalType) {
            r = PyObject_IsInstance(v, DecimalType);
            if (r <= 0) return r; /* not a number the server would wrap: its refusal says what */
        }
        /* Decimal's own str, not a subclass's: its digits and exponent */
        text = ((PyTypeObject *)DecimalType)->tp_str(v);
        if (!text) return -1;
        shown = Py_NewRef(v);
    }
    const char *s = PyUnicode_AsUTF8(text);
    long long first = 0, last = 0;
    PyObject *tail = NULL;
    if (!s) {
        r = -1;
        goto done;
    }
    r = decimal_places(s, &first, &last);
    if (r < 0) tail = c->tail3;
    else if (r && last < -c->scale) tail = c->tail2;
    else if (r && first >= c->digits) tail = c->tail;
    r = 0;
    if (tail) {
        if (!shown) shown = PyObject_CallOneArg(DecimalType, text);
        r = shown ? said(shown, tail, problem) : -1;
    }
done:
    Py_DECREF(text);
    Py_XDECREF(shown);
    return r;
}

static int check_date(const tc_check *c, PyObject *v, PyObject **problem) {
    if (!PyDate_Check(v)) return 0;
    long d = ymd(v);
    if (d >= c->lo_ymd && d <= c->hi_ymd) return 0;
    if (!PyDateTime_Check(v)) return said(v, c->tail, problem);
    PyObject *date = PyObject_CallMethod(v, "date", NULL); /* the message shows the day checked */
    if (!date) return -1;
    int r = said(date, c->tail, problem);
    Py_DECREF(date);
    return r;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
long long tc_days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

long long tc_epoch_us(PyObject *dt) {
    long long days = tc_days_from_civil(PyDateTime_GET_YEAR(dt), PyDateTime_GET_MONTH(dt), PyDateTime_GET_DAY(dt));
    long long s = days * 86400 + PyDateTime_DATE_GET_HOUR(dt) * 3600 + PyDateTime_DATE_GET_MINUTE(dt) * 60 +
                  PyDateTime_DATE_GET_SECOND(dt);
    return s * 1000000 + PyDateTime_DATE_GET_MICROSECOND(dt);
}

/* v.replace(tzinfo=zone) */
static PyObject *with_zone(PyObject *v, PyObject *zone) {
    PyObject *replace = PyObject_GetAttrString(v, "replace"), *empty = PyTuple_New(0), *r = NULL;
    PyObject *kw = Py_BuildValue("{sO}", "tzinfo", zone);
    if (replace && empty && kw) r = PyObject_Call(replace, empty, kw);
    Py_XDECREF(replace);
    Py_XDECREF(empty);
    Py_XDECREF(kw);
    return r;
}

static int check_datetime(const tc_check *c, PyObject *v, PyObject **problem) {
    if (!PyDateTime_Check(v)) return 0;
    PyObject *tz = PyDateTime_DATE_GET_TZINFO(v);
    long long us;
    if (tz == Utc || (tz == Py_None && !c->zone)) {
        us = tc_epoch_us(v); /* UTC already: no Python call */
    } else {
        /* the server's reading: a naive value is in the column's zone; then to UTC */
        PyObject *aware = tz == Py_None ? with_zone(v, c->zone) : Py_NewRef(v);
        PyObject *utc = aware ? PyObject_CallMethod(aware, "astimezone", "O", Utc) : NULL;
        Py_XDECREF(aware);
        if (!utc) return -1;
        us = tc_epoch_us(utc);
        Py_DECREF(utc);
    }
    if (us < c->lo_us || us > c->hi_us) return said(v, c->tail, problem);
    if (c->precision < 6) {
        int step = 1;
        for (int i = c->precision; i < 6; i++) step *= 10;
        if (PyDateTime_DATE_GET_MICROSECOND(v) % step) return said(v, c->tail2, problem);
    }
    return 0;
}

static int check_array(const tc_check *c, PyObject *v, PyObject **problem) {
    if (!PyList_Check(v) && !PyTuple_Check(v)) return 0;
    if (Py_EnterRecursiveCall(" while checking an Array value")) return -1;
    int r = 0;
    /* re-read the size each time: a check may run Python code */
    for (Py_ssize_t i = 0; !r && i < PySequence_Fast_GET_SIZE(v); i++) {
        PyObject *item = Py_NewRef(PySequence_Fast_GET_ITEM(v, i));
        PyObject *inner = NULL;
        r = check(c->inner, item, &inner);
        Py_DECREF(item);
        if (r > 0) {
            *problem = PyUnicode_FromFormat("element %zd: %U", i, inner);
            Py_DECREF(inner);
            if (!*problem) r = -1;
        }
    }
    Py_LeaveRecursiveCall();
    return r;
}

static int check(const tc_check *c, PyObject *v, PyObject **problem) {
    switch (c->kind) {
    case TC_INT: return check_int(c, v, problem);
    case TC_DECIMAL: return check_decimal(c, v, problem);
    case TC_DATE: return check_date(c, v, problem);
    case TC_DATETIME: return check_datetime(c, v, problem);
    case TC_NULLABLE: return v == Py_None ? 0 : check(c->inner, v, problem);
    case TC_ARRAY: return check_array(c, v, problem);
    default: return 0;
    }
}

int tc_value(const tc_check *checks, Py_ssize_t n, Py_ssize_t col, PyObject *v, Py_ssize_t row) {
    if (col >= n || checks[col].kind == TC_NONE) return 0;
    const tc_check *c = &checks[col];
    PyObject *problem = NULL;
    int r = check(c, v, &problem);
    if (r <= 0) return r;
    PyObject *msg = PyUnicode_FromFormat("row %zd, column %R (%U): %U; nothing was inserted", row, c->name,
                                         c->type_name, problem);
    Py_DECREF(problem);
    if (!msg) return -1;
    /* kind="client": refused here, not by the server (see driver/exceptions.py) */
    PyObject *args = PyTuple_Pack(1, msg), *kw = Py_BuildValue("{ss}", "kind", "client"), *e = NULL;
    if (args && kw) e = PyObject_Call(chb_exc(CHB_EXC_DataError), args, kw);
    if (e) PyErr_SetObject((PyObject *)Py_TYPE(e), e);
    Py_XDECREF(e);
    Py_XDECREF(args);
    Py_XDECREF(kw);
    Py_DECREF(msg);
    return -1;
}
