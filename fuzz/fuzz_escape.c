/* libFuzzer harness for client-side binding (ext/escape.c): the literal escaper
 * and format_query.
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

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_python_init();
    if (esc_init() < 0) fz_die("esc_init");
    return 0;
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
    if (esc_literal(&b, value) != 0) {
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
    PyObject *r = esc_format_query(query, params);
    if (r) {
        if (!PyUnicode_Check(r)) abort();
        Py_DECREF(r);
    } else {
        fz_expect_error(fz_programming_error, NULL, "esc_format_query");
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
    /* The query text itself: lone surrogates in it are a known gap (UnicodeEncodeError
     * instead of ProgrammingError, see tests/test_security.py), so it is decoded
     * with "replace" and only the values carry surrogates. */
    PyObject *q = PyUnicode_DecodeUTF8((const char *)data, (Py_ssize_t)size, "replace");
    if (!q) abort();
    check_format(q, seq);
    check_format(q, map);
    Py_DECREF(q);
    Py_XDECREF(seq);
    Py_XDECREF(map);
    Py_DECREF(s);
    Py_DECREF(b);
    return 0;
}
