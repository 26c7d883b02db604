/* Python value -> ClickHouse SQL literal. See escape.h and docs/architecture.md ("Escaping"). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include "escape.h"
#include "errors.h"
#include "typecheck.h"

/* Cached at esc_init(): looked up on every value, so no per-call imports. */
static PyObject *DecimalType, *UUIDType, *IPv4Type, *IPv6Type, *FmtF;
static PyObject *Datetime64Since; /* (20, 1): the first server with DateTime64 */
PyObject *esc_ServerVersionNeeded;

/* Escape tables: 0 = copy the byte, else the character after the backslash ('x' = \xHH). */
static unsigned char STR_ESC[256], BYTES_ESC[256];
static const char HEX[] = "0123456789ABCDEF";

static void init_tables(void) {
    for (int c = 0; c < 256; c++) {
        STR_ESC[c] = (c < 0x20 || c == 0x7f) ? 'x' : 0;
        BYTES_ESC[c] = (c < 0x20 || c >= 0x7f) ? 'x' : 0;
    }
    STR_ESC['\\'] = BYTES_ESC['\\'] = '\\';
    STR_ESC['\''] = BYTES_ESC['\''] = '\'';
    STR_ESC[0] = '0';
    STR_ESC['\b'] = 'b';
    STR_ESC['\f'] = 'f';
    STR_ESC['\n'] = 'n';
    STR_ESC['\r'] = 'r';
    STR_ESC['\t'] = 't';
}

static PyObject *get_attr_of(const char *module, const char *name) {
    PyObject *m = PyImport_ImportModule(module);
    if (!m) return NULL;
    PyObject *r = PyObject_GetAttrString(m, name);
    Py_DECREF(m);
    return r;
}

int esc_init(void) {
    if (FmtF) return 0;
    if (tc_init()) return -1;
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) return -1;
    init_tables();
    if (!(DecimalType = get_attr_of("decimal", "Decimal"))) return -1;
    if (!(UUIDType = get_attr_of("uuid", "UUID"))) return -1;
    if (!(IPv4Type = get_attr_of("ipaddress", "IPv4Address"))) return -1;
    if (!(IPv6Type = get_attr_of("ipaddress", "IPv6Address"))) return -1;
    if (!(Datetime64Since = Py_BuildValue("(ii)", 20, 1))) return -1;
    if (!(esc_ServerVersionNeeded = PyErr_NewException("clickhouse_backend._engine.ServerVersionNeeded",
                                                       NULL, NULL)))
        return -1;
    if (!(FmtF = PyUnicode_FromString("f"))) return -1;
    return 0;
}

static int nomem(void) {
    PyErr_NoMemory();
    return -1;
}

#define PUT(b, s, n) do { if (chb_buf_append((b), (s), (n))) return nomem(); } while (0)
#define PUTC(b, c) do { if (chb_buf_putc((b), (uint8_t)(c))) return nomem(); } while (0)
#define PUTS(b, s) PUT((b), (s), sizeof(s) - 1)

/* '...' with the table's escapes; runs of plain bytes are copied at once. */
static int put_quoted(chb_buf *out, const unsigned char *s, size_t n, const unsigned char *tbl) {
    if (chb_buf_reserve(out, n + 2)) return nomem();
    out->data[out->len++] = '\'';
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && !tbl[s[j]]) j++;
        PUT(out, s + i, j - i);
        if (j == n) break;
        unsigned char c = s[j], e = tbl[c];
        if (chb_buf_reserve(out, 4)) return nomem();
        uint8_t *d = out->data + out->len;
        d[0] = '\\';
        if (e == 'x') {
            d[1] = 'x';
            d[2] = (uint8_t)HEX[c >> 4];
            d[3] = (uint8_t)HEX[c & 15];
            out->len += 4;
        } else {
            d[1] = e;
            out->len += 2;
        }
        i = j + 1;
    }
    PUTC(out, '\'');
    return 0;
}

static int put_str(chb_buf *out, PyObject *v) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(v, &n);
    if (s) return put_quoted(out, (const unsigned char *)s, (size_t)n, STR_ESC);
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
    PyErr_Clear();
    /* Lone surrogates (e.g. from surrogateescape decoding) -> the original bytes. They are
     * not valid UTF-8, so escape every non-ASCII byte: the query text stays valid UTF-8. */
    PyObject *b = PyUnicode_AsEncodedString(v, "utf-8", "surrogateescape");
    if (!b) {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        PyErr_NormalizeException(&et, &ev, &tb);
        PyErr_Format(chb_exc(CHB_EXC_ProgrammingError), "cannot encode str parameter as UTF-8: %S", ev);
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(tb);
        return -1;
    }
    int r = put_quoted(out, (const unsigned char *)PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b),
                       BYTES_ESC);
    Py_DECREF(b);
    return r;
}

static int put_buffer(chb_buf *out, PyObject *v) {
    Py_buffer view;
    if (PyObject_GetBuffer(v, &view, PyBUF_SIMPLE) < 0) return -1;
    int r = put_quoted(out, view.buf, (size_t)view.len, BYTES_ESC);
    PyBuffer_Release(&view);
    return r;
}

static int put_u64(chb_buf *out, unsigned long long u, int neg) {
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg) *--p = '-';
    PUT(out, p, (size_t)(e - p));
    return 0;
}

static int put_int(chb_buf *out, PyObject *v) {
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) return -1;
    if (!overflow) return put_u64(out, x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x, x < 0);
    /* arbitrary size; PyNumber_ToBase ignores a subclass's __str__/__repr__ */
    PyObject *s = PyNumber_ToBase(v, 10);
    if (!s) return -1;
    Py_ssize_t n;
    const char *t = PyUnicode_AsUTF8AndSize(s, &n);
    int r = t ? (chb_buf_append(out, t, (size_t)n) ? nomem() : 0) : -1;
    Py_DECREF(s);
    return r;
}

static int put_double(chb_buf *out, double d) {
    if (isnan(d)) { PUTS(out, "nan"); return 0; }
    if (isinf(d)) {
        if (d < 0) PUTS(out, "-inf");
        else PUTS(out, "inf");
        return 0;
    }
    if (d != 0 && fabs(d) < DBL_MIN) {
        /* Subnormal: older servers reject such literals (strtod ERANGE). m * 2^-1022 / 2^52 is
         * exact in binary64 and constant-folded, so send the bits that way. */
        char tmp[80];
        long long m = (long long)ldexp(d, 1074);
        int k = snprintf(tmp, sizeof tmp, "(%lld * 2.2250738585072014e-308 / 4503599627370496)", m);
        PUT(out, tmp, (size_t)k);
        return 0;
    }
    /* repr: shortest text that round-trips; ".0" keeps it a Float64 literal */
    char *s = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (!s) return -1;
    int r = chb_buf_puts(out, s) ? nomem() : 0;
    PyMem_Free(s);
    return r;
}

static int put_decimal(chb_buf *out, PyObject *v) {
    /* format 'f' never uses an exponent: Decimal('1E+3') -> '1000' */
    PyObject *s = PyObject_Format(v, FmtF);
    if (!s) return -1;
    Py_ssize_t n;
    const char *t = PyUnicode_AsUTF8AndSize(s, &n);
    int r = -1;
    if (t) {
        const char *d = t + (n > 0 && t[0] == '-');
        if (*d < '0' || *d > '9')
            PyErr_Format(chb_exc(CHB_EXC_ProgrammingError), "Decimal %R cannot be sent to ClickHouse", v);
        else
            r = chb_buf_append(out, t, (size_t)n) ? nomem() : 0;
    }
    Py_DECREF(s);
    return r;
}

static char *fmt_digits(char *p, int v, int width) {
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

static char *fmt_date(char *p, int y, int m, int d) {
    p = fmt_digits(p, y, 4);
    *p++ = '-';
    p = fmt_digits(p, m, 2);
    *p++ = '-';
    return fmt_digits(p, d, 2);
}

/* hh:mm:ss[.ffffff] */
static char *fmt_time(char *p, int h, int mi, int s, int us, int force_us) {
    p = fmt_digits(p, h, 2);
    *p++ = ':';
    p = fmt_digits(p, mi, 2);
    *p++ = ':';
    p = fmt_digits(p, s, 2);
    if (us || force_us) {
        *p++ = '.';
        p = fmt_digits(p, us, 6);
    }
    return p;
}

/* An aware datetime with microseconds, or outside DateTime's 1970-2105, is
 * toDateTime64(..., 6, 'UTC'); servers before
 * DateTime64 existed (20.1) get a clear refusal instead of "Unknown function" or a
 * value cut to the second. sv: see escape.h. Returns 0 (go on), -1 with an exception. */
static int check_datetime64(PyObject *v, PyObject *sv) {
    if (sv == NULL || sv == Py_None) return 0;
    if (!PyTuple_Check(sv)) {
        PyErr_Format(PyExc_TypeError, "server_version must be a tuple of ints or None, not %s",
                     Py_TYPE(sv)->tp_name);
        return -1;
    }
    if (PyTuple_GET_SIZE(sv) == 0) {
        PyErr_SetString(esc_ServerVersionNeeded, "an aware datetime with microseconds or outside 1970-2105: "
                                                 "the literal depends on the server version");
        return -1;
    }
    int older = PyObject_RichCompareBool(sv, Datetime64Since, Py_LT);
    if (older <= 0) return older;
    PyObject *dot = PyUnicode_FromString("."), *parts = PySequence_List(sv), *text = NULL;
    for (Py_ssize_t i = 0; parts && i < PyList_GET_SIZE(parts); i++) {
        PyObject *p = PyObject_Str(PyList_GET_ITEM(parts, i));
        if (!p) Py_CLEAR(parts);
        else PyList_SetItem(parts, i, p);
    }
    if (dot && parts) text = PyUnicode_Join(dot, parts);
    if (text)
        PyErr_Format(chb_exc(CHB_EXC_NotSupportedError),
                     "ClickHouse %U has no DateTime64 (it came in 20.1): the timezone-aware datetime %R "
                     "has microseconds or lies outside 1970-2105, which DateTime would drop or wrap",
                     text, v);
    Py_XDECREF(dot);
    Py_XDECREF(parts);
    Py_XDECREF(text);
    return -1;
}

static int put_datetime(chb_buf *out, PyObject *v, PyObject *sv) {
    PyObject *tz = PyDateTime_DATE_GET_TZINFO(v), *utc = NULL, *given = v;
    if (tz != Py_None) {
        PyObject *off = PyObject_CallMethod(v, "utcoffset", NULL);
        if (!off) return -1;
        int aware = off != Py_None;
        Py_DECREF(off);
        if (aware) {
            utc = PyObject_CallMethod(v, "astimezone", "O", PyDateTime_TimeZone_UTC);
            if (!utc) {
                /* year 1 or 9999 shifted out of the calendar: bad input, say so in DB-API terms */
                if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                    PyErr_Clear();
                    PyErr_SetString(chb_exc(CHB_EXC_DataError),
                                    "datetime parameter out of range once converted to UTC");
                }
                return -1;
            }
            if (!PyDateTime_Check(utc)) {
                Py_DECREF(utc);
                PyErr_SetString(PyExc_TypeError, "astimezone() did not return a datetime");
                return -1;
            }
            v = utc;
        }
    }
    char tmp[96], *p = tmp;
    int us = PyDateTime_DATE_GET_MICROSECOND(v);
    /* DateTime holds whole seconds of 1970-2105 only: toDateTime() of anything else
     * is cut or wrapped (a 1900 value would be stored as 1970). */
    int year = PyDateTime_GET_YEAR(v);
    int wide = us || year < 1970 || year > 2105;
    if (utc && wide && check_datetime64(given, sv)) {
        Py_DECREF(utc);
        return -1;
    }
    if (utc) p += wide ? sprintf(p, "toDateTime64('") : sprintf(p, "toDateTime('");
    else *p++ = '\'';
    p = fmt_date(p, PyDateTime_GET_YEAR(v), PyDateTime_GET_MONTH(v), PyDateTime_GET_DAY(v));
    *p++ = ' ';
    p = fmt_time(p, PyDateTime_DATE_GET_HOUR(v), PyDateTime_DATE_GET_MINUTE(v), PyDateTime_DATE_GET_SECOND(v),
                 us, 0);
    *p++ = '\'';
    if (utc) p += wide ? sprintf(p, ", 6, 'UTC')") : sprintf(p, ", 'UTC')");
    Py_XDECREF(utc);
    PUT(out, tmp, (size_t)(p - tmp));
    return 0;
}

static int put_date(chb_buf *out, PyObject *v) {
    char tmp[16], *p = tmp;
    *p++ = '\'';
    p = fmt_date(p, PyDateTime_GET_YEAR(v), PyDateTime_GET_MONTH(v), PyDateTime_GET_DAY(v));
    *p++ = '\'';
    PUT(out, tmp, (size_t)(p - tmp));
    return 0;
}

static int put_time(chb_buf *out, PyObject *v) {
    char tmp[24], *p = tmp;
    *p++ = '\'';
    p = fmt_time(p, PyDateTime_TIME_GET_HOUR(v), PyDateTime_TIME_GET_MINUTE(v), PyDateTime_TIME_GET_SECOND(v),
                 PyDateTime_TIME_GET_MICROSECOND(v), 0);
    *p++ = '\'';
    PUT(out, tmp, (size_t)(p - tmp));
    return 0;
}

/* UUID / ipaddress: their str() is the ClickHouse text form. */
static int put_str_of(chb_buf *out, PyObject *v) {
    PyObject *s = PyObject_Str(v);
    if (!s) return -1;
    int r = put_str(out, s);
    Py_DECREF(s);
    return r;
}

static int put_items(chb_buf *out, PyObject *seq, const char *open, const char *close, PyObject *sv) {
    PUT(out, open, strlen(open));
    /* re-read the size each time: formatting an item may run Python code */
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        if (i) PUTS(out, ", ");
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        Py_INCREF(item);
        int r = esc_literal(out, item, sv);
        Py_DECREF(item);
        if (r) return -1;
    }
    PUT(out, close, strlen(close));
    return 0;
}

static int put_tuple(chb_buf *out, PyObject *v, PyObject *sv) {
    Py_ssize_t n = PyTuple_GET_SIZE(v);
    /* (x) would just be x in SQL */
    return put_items(out, v, n <= 1 ? "tuple(" : "(", ")", sv);
}

static int put_dict(chb_buf *out, PyObject *v, PyObject *sv) {
    PyObject *items = PyDict_Items(v); /* snapshot: key formatting may run Python code */
    if (!items) return -1;
    int r = 0;
    if (chb_buf_puts(out, "map(")) r = nomem();
    for (Py_ssize_t i = 0; !r && i < PyList_GET_SIZE(items); i++) {
        PyObject *kv = PyList_GET_ITEM(items, i);
        if ((i && chb_buf_puts(out, ", ")) ) { r = nomem(); break; }
        if (esc_literal(out, PyTuple_GET_ITEM(kv, 0), sv) || chb_buf_puts(out, ", ") ||
            esc_literal(out, PyTuple_GET_ITEM(kv, 1), sv)) {
            if (!PyErr_Occurred()) PyErr_NoMemory();
            r = -1;
        }
    }
    if (!r && chb_buf_putc(out, ')')) r = nomem();
    Py_DECREF(items);
    return r;
}

static int put_container(chb_buf *out, PyObject *v, int kind, PyObject *sv) {
    if (Py_EnterRecursiveCall(" while formatting a query parameter")) return -1;
    int r;
    if (kind == 0) r = put_items(out, v, "[", "]", sv);
    else if (kind == 1) r = put_tuple(out, v, sv);
    else r = put_dict(out, v, sv);
    Py_LeaveRecursiveCall();
    return r;
}

static int isinst(PyObject *v, PyObject *cls) {
    return PyObject_IsInstance(v, cls);
}

int esc_literal(chb_buf *out, PyObject *v, PyObject *sv) {
    PyTypeObject *t = Py_TYPE(v);
    /* exact types first: the common case costs one pointer compare */
    if (t == &PyUnicode_Type) return put_str(out, v);
    if (t == &PyLong_Type) return put_int(out, v);
    if (t == &PyFloat_Type) return put_double(out, PyFloat_AS_DOUBLE(v));
    if (v == Py_None) { PUTS(out, "NULL"); return 0; }
    if (v == Py_True) { PUTC(out, '1'); return 0; }
    if (v == Py_False) { PUTC(out, '0'); return 0; }
    if (t == &PyBytes_Type)
        return put_quoted(out, (const unsigned char *)PyBytes_AS_STRING(v), (size_t)PyBytes_GET_SIZE(v), BYTES_ESC);
    if (t == PyDateTimeAPI->DateTimeType) return put_datetime(out, v, sv);
    if (t == PyDateTimeAPI->DateType) return put_date(out, v);
    if ((PyObject *)t == DecimalType) return put_decimal(out, v);
    if (t == &PyList_Type) return put_container(out, v, 0, sv);
    if (t == &PyTuple_Type) return put_container(out, v, 1, sv);
    if (t == &PyDict_Type) return put_container(out, v, 2, sv);
    if ((PyObject *)t == UUIDType || (PyObject *)t == IPv4Type || (PyObject *)t == IPv6Type)
        return put_str_of(out, v);
    /* subclasses (bool cannot be subclassed, so int subclasses are numbers) */
    if (PyLong_Check(v)) return put_int(out, v);
    if (PyUnicode_Check(v)) return put_str(out, v);
    if (PyFloat_Check(v)) {
        double d = PyFloat_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) return -1;
        return put_double(out, d);
    }
    if (PyBytes_Check(v) || PyByteArray_Check(v) || PyMemoryView_Check(v)) return put_buffer(out, v);
    if (PyDateTime_Check(v)) return put_datetime(out, v, sv);
    if (PyDate_Check(v)) return put_date(out, v);
    if (PyTime_Check(v)) return put_time(out, v);
    if (PyList_Check(v)) return put_container(out, v, 0, sv);
    if (PyTuple_Check(v)) return put_container(out, v, 1, sv);
    if (PyDict_Check(v)) return put_container(out, v, 2, sv);
    PyObject *str_classes[] = {UUIDType, IPv4Type, IPv6Type};
    int r = isinst(v, DecimalType);
    if (r < 0) return -1;
    if (r) return put_decimal(out, v);
    for (size_t i = 0; i < sizeof str_classes / sizeof *str_classes; i++) {
        r = isinst(v, str_classes[i]);
        if (r < 0) return -1;
        if (r) return put_str_of(out, v);
    }
    PyErr_Format(chb_exc(CHB_EXC_ProgrammingError), "unsupported parameter type %s", t->tp_name);
    return -1;
}

/* ---------------------------------------------------------------------- */

/* Literal for a placeholder. After a '-' in the query a negative literal would make
 * "--", a comment: separate them with a space. */
static int put_param(chb_buf *out, PyObject *v, PyObject *sv) {
    if (out->len && out->data[out->len - 1] == '-') {
        size_t start = out->len;
        if (esc_literal(out, v, sv)) return -1;
        if (out->len > start && out->data[start] == '-') {
            if (chb_buf_reserve(out, 1)) return nomem();
            memmove(out->data + start + 1, out->data + start, out->len - start);
            out->data[start] = ' ';
            out->len++;
        }
        return 0;
    }
    return esc_literal(out, v, sv);
}

/* Characters (not bytes) before byte offset i of UTF-8 text, for error messages. */
static Py_ssize_t char_index(const char *s, size_t i) {
    Py_ssize_t n = 0;
    for (size_t k = 0; k < i; k++)
        if (((unsigned char)s[k] & 0xC0) != 0x80) n++;
    return n;
}

/* Number of %s placeholders in q (for the "not enough parameters" message). */
static Py_ssize_t count_placeholders(const char *q, size_t n) {
    Py_ssize_t c = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (q[i] != '%') continue;
        if (q[i + 1] == 's') c++;
        i++;
    }
    return c;
}

PyObject *esc_format_query(PyObject *query, PyObject *params, PyObject *sv) {
    if (params == Py_None) return Py_NewRef(query);
    PyObject *PE = chb_exc(CHB_EXC_ProgrammingError);
    if (!PyUnicode_Check(query)) {
        PyErr_Format(PE, "query must be str, not %s", Py_TYPE(query)->tp_name);
        return NULL;
    }

    PyObject *seq = NULL, *map = NULL;
    if (PyTuple_Check(params) || PyList_Check(params)) {
        seq = Py_NewRef(params);
    } else if (PyDict_Check(params)) {
        map = params;
    } else if (PyUnicode_Check(params) || PyBytes_Check(params) || PyByteArray_Check(params)) {
        PyErr_Format(PE, "query parameters must be a sequence or a mapping, not %s (did you mean (value,)?)",
                     Py_TYPE(params)->tp_name);
        return NULL;
    } else {
        int has_keys = PyObject_HasAttrString(params, "keys");
        if (has_keys) {
            map = params;
        } else if (PySequence_Check(params)) {
            seq = PySequence_Fast(params, "query parameters must be a sequence or a mapping");
            if (!seq) return NULL;
        } else {
            PyErr_Format(PE, "query parameters must be a sequence or a mapping, not %s",
                         Py_TYPE(params)->tp_name);
            return NULL;
        }
    }

    /* surrogateescape both ways: a query holding lone surrogates (bytes smuggled
     * through str) keeps them, like the cursor's own encoding of the query */
    PyObject *qbytes = PyUnicode_AsEncodedString(query, "utf-8", "surrogateescape");
    if (!qbytes) {
        Py_XDECREF(seq);
        return NULL;
    }
    Py_ssize_t qn = PyBytes_GET_SIZE(qbytes);
    const char *q = PyBytes_AS_STRING(qbytes);

    chb_buf out;
    chb_buf_init(&out);
    if (chb_buf_reserve(&out, (size_t)qn + 64)) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_ssize_t used = 0;
    size_t i = 0, n = (size_t)qn;
    while (i < n) {
        const char *pct = memchr(q + i, '%', n - i);
        size_t j = pct ? (size_t)(pct - q) : n;
        if (chb_buf_append(&out, q + i, j - i)) { PyErr_NoMemory(); goto fail; }
        if (!pct) break;
        if (j + 1 >= n) {
            PyErr_Format(PE, "incomplete format: '%%' at the end of the query (use '%%%%' for a literal %%)");
            goto fail;
        }
        char c = q[j + 1];
        if (c == '%') {
            if (chb_buf_putc(&out, '%')) { PyErr_NoMemory(); goto fail; }
            i = j + 2;
        } else if (c == 's') {
            if (!seq) {
                PyErr_Format(PE, "query uses %%s placeholders but the parameters are a mapping "
                                 "(use %%(name)s, or pass a sequence)");
                goto fail;
            }
            if (used >= PySequence_Fast_GET_SIZE(seq)) {
                PyErr_Format(PE, "not enough parameters: the query has %zd %%s placeholders, %zd given",
                             count_placeholders(q, n), PySequence_Fast_GET_SIZE(seq));
                goto fail;
            }
            PyObject *v = PySequence_Fast_GET_ITEM(seq, used);
            used++;
            Py_INCREF(v);
            int r = put_param(&out, v, sv);
            Py_DECREF(v);
            if (r) goto fail;
            i = j + 2;
        } else if (c == '(') {
            const char *close = memchr(q + j + 2, ')', n - j - 2);
            if (!close || (size_t)(close - q) + 1 >= n || close[1] != 's') {
                PyErr_Format(PE, "bad placeholder at index %zd: expected %%(name)s", char_index(q, j));
                goto fail;
            }
            if (!map) {
                PyErr_Format(PE, "query uses %%(name)s placeholders but the parameters are a sequence "
                                 "(use %%s, or pass a mapping)");
                goto fail;
            }
            /* the query was encoded with surrogateescape: decode the name the same way */
            PyObject *key = PyUnicode_DecodeUTF8(q + j + 2, close - (q + j + 2), "surrogateescape");
            if (!key) goto fail;
            PyObject *v;
            if (PyDict_Check(map)) {
                v = PyDict_GetItemWithError(map, key);
                Py_XINCREF(v);
            } else {
                v = PyObject_GetItem(map, key);
                if (!v && PyErr_ExceptionMatches(PyExc_KeyError)) PyErr_Clear();
            }
            if (!v) {
                if (!PyErr_Occurred()) PyErr_Format(PE, "missing query parameter %R", key);
                Py_DECREF(key);
                goto fail;
            }
            Py_DECREF(key);
            int r = put_param(&out, v, sv);
            Py_DECREF(v);
            if (r) goto fail;
            i = (size_t)(close - q) + 2;
        } else {
            PyErr_Format(PE, "unsupported format character '%c' (0x%x) at index %zd "
                             "(placeholders are %%s and %%(name)s; use %%%% for a literal %%)",
                         (c >= 0x20 && c < 0x7f) ? c : '?', (unsigned char)c, char_index(q, j + 1));
            goto fail;
        }
    }
    if (seq && used != PySequence_Fast_GET_SIZE(seq)) {
        PyErr_Format(PE, "not all parameters were used: the query has %zd %%s placeholders, %zd given", used,
                     PySequence_Fast_GET_SIZE(seq));
        goto fail;
    }
    Py_XDECREF(seq);
    PyObject *res = PyUnicode_DecodeUTF8((const char *)out.data, (Py_ssize_t)out.len, "surrogateescape");
    chb_buf_free(&out);
    Py_DECREF(qbytes);
    return res;
fail:
    Py_XDECREF(seq);
    chb_buf_free(&out);
    Py_DECREF(qbytes);
    return NULL;
}

static int put_row(chb_buf *out, PyObject *row, PyObject *sv, const tc_check *checks, Py_ssize_t nchecks,
                   Py_ssize_t index) {
    PyObject *seq;
    if (PyTuple_Check(row) || PyList_Check(row)) {
        seq = Py_NewRef(row);
    } else if (PyUnicode_Check(row) || PyBytes_Check(row) || PyDict_Check(row) || !PySequence_Check(row)) {
        PyErr_Format(chb_exc(CHB_EXC_ProgrammingError), "each row must be a sequence of values, not %s",
                     Py_TYPE(row)->tp_name);
        return -1;
    } else if (!(seq = PySequence_Fast(row, "each row must be a sequence of values"))) {
        return -1;
    }
    int r = 0;
    if (chb_buf_putc(out, '(')) r = nomem();
    for (Py_ssize_t i = 0; !r && i < PySequence_Fast_GET_SIZE(seq); i++) {
        if (i && chb_buf_putc(out, ',')) { r = nomem(); break; }
        PyObject *v = PySequence_Fast_GET_ITEM(seq, i);
        Py_INCREF(v);
        r = tc_value(checks, nchecks, i, v, index) || esc_literal(out, v, sv) ? -1 : 0;
        Py_DECREF(v);
    }
    if (!r && chb_buf_putc(out, ')')) r = nomem();
    Py_DECREF(seq);
    return r;
}

PyObject *esc_format_rows(PyObject *rows, PyObject *sv, PyObject *checks) {
    chb_buf out;
    chb_buf_init(&out);
    PyObject *it = NULL;
    Py_ssize_t nchecks = 0;
    tc_check *tc = NULL;
    if (checks && checks != Py_None && !(tc = tc_compile(checks, &nchecks))) return NULL;
    if (PyList_Check(rows) || PyTuple_Check(rows)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(rows);
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(rows); i++) {
            if (i && chb_buf_putc(&out, ',')) { PyErr_NoMemory(); goto fail; }
            PyObject *row = PySequence_Fast_GET_ITEM(rows, i);
            Py_INCREF(row);
            int r = put_row(&out, row, sv, tc, nchecks, i);
            Py_DECREF(row);
            if (r) goto fail;
            /* guess the total size from the first row to avoid repeated doubling copies */
            if (i == 0 && n > 1 && out.len < ((size_t)256 << 20) / (size_t)n &&
                chb_buf_reserve(&out, (out.len + 1) * (size_t)(n - 1))) {
                PyErr_NoMemory();
                goto fail;
            }
        }
    } else {
        it = PyObject_GetIter(rows);
        if (!it) goto fail;
        PyObject *row;
        Py_ssize_t i = 0;
        while ((row = PyIter_Next(it))) {
            int r = (i && chb_buf_putc(&out, ',')) ? nomem() : put_row(&out, row, sv, tc, nchecks, i);
            Py_DECREF(row);
            if (r) goto fail;
            i++;
        }
        if (PyErr_Occurred()) goto fail;
        Py_CLEAR(it);
    }
    PyObject *res = PyBytes_FromStringAndSize(out.len ? (const char *)out.data : "", (Py_ssize_t)out.len);
    chb_buf_free(&out);
    tc_free(tc, nchecks);
    return res;
fail:
    Py_XDECREF(it);
    chb_buf_free(&out);
    tc_free(tc, nchecks);
    return NULL;
}
