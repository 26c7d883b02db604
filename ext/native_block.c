/* ClickHouse Native format: one whole block -> (names, types, data), GIL held (see
 * native_decode.h). Above both column decoders: the row one (native_decode.c) and the
 * buffer one (native_buffers.c, which falls back to the row one), so neither calls
 * back into the other. */
#define PY_SSIZE_T_CLEAN
#include "native_decode.h"
#include "native_buffers.h"
#include "native_wire.h"
#include "errors.h"
#include <stdio.h>

static int prefix_error(nd_reader *r, nd_err_kind ek, const char *msg) {
    PyErr_Format(chb_exc(ek == ND_ERR_UNSUPPORTED ? CHB_EXC_NotSupportedError : CHB_EXC_InterfaceError),
                 "%s (column '%s')", msg, r->colname);
    return -1;
}

PyObject *nd_decode_block(const uint8_t *buf, size_t len, const nd_options *opts) {
    if (nd_py_init()) return NULL;
    nd_reader r = {buf, buf + len, opts, ""};
    uint64_t ncols, nrows;
    if (nd_rd_var(&r, &ncols) || nd_rd_var(&r, &nrows)) return NULL;
    if (ncols > ND_MAX_COLS || nrows > ND_MAX_ROWS || (ncols == 0 && nrows)) {
        nd_malformed(&r, "bad block header");
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
        if (nd_rd_var(&r, &l)) goto out;
        if (l > ND_MAX_NAME || l > (uint64_t)(r.end - r.p)) { nd_malformed(&r, "bad column name"); goto out; }
        PyObject *name = PyUnicode_DecodeUTF8((const char *)r.p, (Py_ssize_t)l, "surrogateescape");
        if (!name) goto out;
        PyTuple_SET_ITEM(names, (Py_ssize_t)c, name);
        snprintf(namebuf, sizeof namebuf, "%.*s", (int)(l > 100 ? 100 : l), (const char *)r.p);
        r.colname = namebuf;
        r.p += l;
        if (nd_rd_var(&r, &l)) goto out;
        if (l == 0 || l > ND_MAX_TYPE || l > (uint64_t)(r.end - r.p)) { nd_malformed(&r, "bad column type"); goto out; }
        PyObject *tname = PyUnicode_DecodeUTF8((const char *)r.p, (Py_ssize_t)l, "surrogateescape");
        if (!tname) goto out;
        PyTuple_SET_ITEM(types, (Py_ssize_t)c, tname);
        nd_arena_free(&arena);
        nd_err_kind ek = ND_ERR_NONE;
        char msg[256];
        const nd_type *t = nd_parse_type(&arena, r.p, (size_t)l, &ek, msg, sizeof msg);
        if (!t) { prefix_error(&r, ek, msg); goto out; }
        r.p += l;
        if (nrows) {
            size_t np = nd_count_prefixes(t);
            if ((uint64_t)(r.end - r.p) / 8 < np) { nd_malformed(&r, "truncated data"); goto out; }
            if (nd_check_prefixes(t, &r.p, &ek, msg, sizeof msg)) { prefix_error(&r, ek, msg); goto out; }
            if (opts->columnar >= 2) {
                PyObject *col = nd_buffer_column(&r, t, nrows, opts->columnar);
                if (!col) goto out;
                PyList_SET_ITEM(data, (Py_ssize_t)c, col);
                continue;
            }
            if (nd_decode_column(&r, t, nrows, opts->columnar ? vals : vals + c * nrows)) goto out;
        }
        if (opts->columnar >= 2) {
            PyObject *col = Py_BuildValue("(sN)", "o", PyList_New(0));
            if (!col) goto out;
            PyList_SET_ITEM(data, (Py_ssize_t)c, col);
        } else if (opts->columnar) {
            PyObject *col = PyList_New((Py_ssize_t)nrows);
            if (!col) { nd_clear_objs(vals, nrows); goto out; }
            for (uint64_t i = 0; i < nrows; i++) { PyList_SET_ITEM(col, (Py_ssize_t)i, vals[i]); vals[i] = NULL; }
            PyList_SET_ITEM(data, (Py_ssize_t)c, col);
        } else {
            decoded = c + 1;
            if (!nd_never_gc(t)) { maybe_gc[c] = 1; look_first = c + 1; }
        }
    }
    if (r.p != r.end) { r.colname = ""; nd_malformed(&r, "trailing bytes after block"); goto out; }
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
    nd_arena_free(&arena);
    if (decoded) nd_clear_objs(vals, decoded * nrows);
    PyMem_Free(vals);
    PyMem_Free(maybe_gc);
    Py_XDECREF(names);
    Py_XDECREF(types);
    Py_XDECREF(data);
    if (gc_was_enabled) PyGC_Enable();
    return result;
}