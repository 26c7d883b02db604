/* libFuzzer harness for client-side binding (ext/escape.c): the literal escaper,
 * format_query and format_rows (with the range checks of ext/typecheck.c).
 *
 * Oracles: (1) any str (including lone surrogates from surrogateescape) and any
 * bytes value can be sent: esc_literal never fails for them; (2) the literal is
 * valid UTF-8 (it goes into the query text), is one quoted token with no bare
 * quote inside, and un-escaping it with ClickHouse's rules gives back exactly the
 * original bytes -- so no value can end the literal early (no injection);
 * (3) format_query on an arbitrary query string returns a str or raises
 * ProgrammingError, nothing else. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pyembed.h"
#include "buf.h"
#include "escape.h"

static PyObject *mk_values; /* Python helper: bytes -> list of assorted parameter values */
static PyObject *mk_checks; /* n -> range checks of n columns (ext/typecheck.c) */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_python_init();
    if (esc_init() < 0) fz_die("esc_init");
    /* Values of every type the escaper knows, derived from the input: numbers from its
     * bytes (any double: NaN, inf, subnormals; ints of any size), Decimals and dates
     * parsed from it, containers nesting the strings. */
    static const char code[] =
        "import datetime, decimal, ipaddress, struct, uuid\n"
        "def mk_values(b):\n"
        "    s = b.decode('utf-8', 'surrogateescape')\n"
        "    p = (b + bytes(16))[:16]\n"
        "    out = [struct.unpack('<d', p[:8])[0], int.from_bytes(b[:64], 'little', signed=True),\n"
        "           bool(p[0] & 1), uuid.UUID(bytes=p), ipaddress.IPv4Address(p[:4]), ipaddress.IPv6Address(p),\n"
        "           [s, b, None, [s]], (s,), (s, b), {s: b, 1: [None]}, bytearray(b), memoryview(b)]\n"
        "    try:\n"
        "        out.append(decimal.Decimal(s))\n"
        "    except Exception:\n"
        "        pass\n"
        "    y, mo, d, h, mi, se, us = struct.unpack('<HBBBBBI', p[:11])\n"
        "    try:\n"
        "        tz = datetime.timezone(datetime.timedelta(minutes=(p[11] - 128) * 11)) if p[12] & 1 else None\n"
        "        dt = datetime.datetime(1 + y % 9999, 1 + mo % 12, 1 + d % 28, h % 24, mi % 60, se % 60, us % 1000000, tz)\n"
        "        out += [dt, dt.date(), dt.time()]\n"
        "    except Exception:\n"
        "        pass\n"
        "    return out\n"
        /* one range check per column, cycling over every kind (driver/typecheck.py's spec) */
        "SPECS = [('int', -128, 127, ' out of range'), ('int', 0, 2**64 - 1, ' out of range'),\n"
        "         ('decimal', 7, 2, ' range', ' places', ' not finite'),\n"
        "         ('date', datetime.date(1970, 1, 1), datetime.date(2105, 12, 31), ' out of range'),\n"
        "         ('datetime', None, 0, 4291747199 * 10**6, 6, ' out of range', None),\n"
        "         ('datetime', datetime.timezone(datetime.timedelta(hours=9)), -2208988800 * 10**6, 10413791999999999,\n"
        "          3, ' out of range', ' digits'),\n"
        "         ('nullable', ('int', -2**31, 2**31 - 1, ' out of range')), ('array', ('nullable', ('decimal', 3, 3, 'a', 'b', 'c')))]\n"
        "def mk_checks(n):\n"
        "    return [(f'c{i}', 'T', SPECS[i % len(SPECS)]) for i in range(n)]\n";
    PyObject *g = PyDict_New();
    PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins());
    PyObject *r = PyRun_String(code, Py_file_input, g, g);
    if (!r) fz_die("mk_values");
    Py_DECREF(r);
    mk_values = PyDict_GetItemString(g, "mk_values");
    Py_INCREF(mk_values);
    mk_checks = PyDict_GetItemString(g, "mk_checks");
    Py_INCREF(mk_checks);
    return 0;
}

/* Any value: a literal that is valid UTF-8, or a DB-API error. */
static void check_any(PyObject *value) {
    chb_buf b;
    chb_buf_init(&b);
    if (esc_literal(&b, value, NULL) == 0) {
        PyObject *u = PyUnicode_DecodeUTF8(b.len ? (const char *)b.data : "", (Py_ssize_t)b.len, "strict");
        if (!u) {
            fprintf(stderr, "literal for a %s is not valid UTF-8\n", Py_TYPE(value)->tp_name);
            abort();
        }
        Py_DECREF(u);
    } else {
        /* ProgrammingError: unsupported value; DataError: a value out of range */
        fz_expect_error(fz_programming_error, fz_data_error, "esc_literal");
    }
    chb_buf_free(&b);
}

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* ClickHouse's reading of a '...' literal (readQuotedString), limited to the
 * escapes the server understands. Returns the decoded length, or -1 when the
 * literal is not exactly one well-formed quoted string. */
static ptrdiff_t unquote(const uint8_t *s, size_t n, uint8_t *out) {
    if (n < 2 || s[0] != '\'' || s[n - 1] != '\'') return -1;
    size_t o = 0;
    for (size_t i = 1; i < n - 1; i++) {
        uint8_t c = s[i];
        if (c == '\'') return -1; /* a bare quote would end the literal early */
        if (c != '\\') { out[o++] = c; continue; }
        if (++i >= n - 1) return -1; /* backslash escaping the closing quote */
        switch (s[i]) {
        case '0': out[o++] = 0; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case 'x': {
            if (i + 2 >= n - 1) return -1;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) return -1;
            out[o++] = (uint8_t)(h * 16 + l);
            i += 2;
            break;
        }
        default: return -1;
        }
    }
    return (ptrdiff_t)o;
}

static void check_literal(PyObject *value, const uint8_t *expect, size_t elen) {
    chb_buf b;
    chb_buf_init(&b);
    if (esc_literal(&b, value, NULL) != 0) {
        fprintf(stderr, "esc_literal failed for a %s value\n", Py_TYPE(value)->tp_name);
        PyErr_Print();
        abort();
    }
    PyObject *u = PyUnicode_DecodeUTF8((const char *)b.data, (Py_ssize_t)b.len, "strict");
    if (!u) {
        fprintf(stderr, "literal is not valid UTF-8\n");
        abort();
    }
    Py_DECREF(u);
    uint8_t *dec = malloc(b.len + 1);
    ptrdiff_t dlen = unquote(b.data, b.len, dec);
    if (dlen < 0 || (size_t)dlen != elen || (elen && memcmp(dec, expect, elen) != 0)) {
        fprintf(stderr, "literal does not round-trip (%td vs %zu bytes): %.*s\n", dlen, elen, (int)b.len, b.data);
        abort();
    }
    free(dec);
    chb_buf_free(&b);
}

static void check_format(PyObject *query, PyObject *params) {
    PyObject *r = esc_format_query(query, params, NULL);
    if (r) {
        if (!PyUnicode_Check(r)) abort();
        Py_DECREF(r);
    } else {
        fz_expect_error(fz_programming_error, fz_data_error, "esc_format_query");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    PyObject *s = PyUnicode_DecodeUTF8((const char *)data, (Py_ssize_t)size, "surrogateescape");
    PyObject *b = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
    if (!s || !b) abort();
    check_literal(b, data, size);
    /* a str is sent as its UTF-8 bytes; surrogate-escaped bytes as the original bytes */
    check_literal(s, data, size);

    PyObject *seq = Py_BuildValue("(OOiO)", s, b, 7, Py_None);
    PyObject *map = Py_BuildValue("{sOsO}", "a", s, "b", b);
    /* the query text itself may hold lone surrogates too */
    PyObject *q = Py_NewRef(s);
    check_format(q, seq);
    check_format(q, map);
    Py_DECREF(q);
    Py_XDECREF(seq);
    Py_XDECREF(map);
    PyObject *vals = PyObject_CallOneArg(mk_values, b);
    if (!vals) fz_die("mk_values call");
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(vals); i++) check_any(PyList_GET_ITEM(vals, i));
    PyObject *rows = Py_BuildValue("[OO]", vals, vals);
    PyObject *fr = rows ? esc_format_rows(rows, NULL, NULL) : NULL;
    if (fr) Py_DECREF(fr);
    else fz_expect_error(fz_programming_error, fz_data_error, "esc_format_rows");
    /* with range checks: the same bytes, or DataError for a value out of its column's range */
    PyObject *checks = PyObject_CallFunction(mk_checks, "n", PyList_GET_SIZE(vals));
    if (!checks) fz_die("mk_checks call");
    PyObject *fc = rows ? esc_format_rows(rows, NULL, checks) : NULL;
    if (fc) Py_DECREF(fc);
    else fz_expect_error(fz_programming_error, fz_data_error, "esc_format_rows(checks)");
    Py_DECREF(checks);
    Py_XDECREF(rows);
    Py_DECREF(vals);
    Py_DECREF(s);
    Py_DECREF(b);
    return 0;
}
