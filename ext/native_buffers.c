/* ClickHouse Native format, columnar modes 2-4 (see native_buffers.h): fixed-width
 * columns copied once into bytes, Strings as data + offsets
 * (Arrow) or as their wire bytes (mode 4: StringDType arrays are packed from them per
 * result, columnar_strings.c), the rest as Python values from nd_decode_column. */
#define PY_SSIZE_T_CLEAN
#include "native_buffers.h"
#include "native_wire.h"
#include <string.h>

/* columnar >= 2: each column as raw buffers for NumPy/Arrow instead of a value per row
 * (docs/columnar.md). A column is a tuple:
 *   ('b', bytes)                          fixed-width little-endian values, copied once
 *   ('s', data, offsets)                  String (columnar 3): bytes + n+1 int64 offsets
 *   ('S', native, n)                      String (columnar 4): the wire bytes, a varint length before
 *                                         each value, copied in one piece
 *   ('n', nullmap, inner)                 Nullable: one byte per row (1 = NULL), inner column
 *   ('l', dictionary, indexes, width)     LowCardinality with one dictionary in the block
 *   ('o', list)                           Python values, as the row path makes them
 *   ('a', numpy.ndarray)                  the same in a NumPy object array (columnar 2 and 4)
 * The Python side (driver/columnar.py) knows the dtype from the column's type name. */

static PyObject *g_np_empty, *g_str_object;

/* NumPy mode: the values straight into a new object array's memory (numpy.empty(n,
 * object) through the buffer protocol): no list, no second pass to copy it. NULL with
 * no error set if NumPy is not there (the caller makes a list). */
static PyObject *numpy_objects(nd_reader *r, const nd_type *t, uint64_t n) {
    if (!g_np_empty) {
        PyObject *np = PyImport_ImportModule("numpy");
        if (!np) { PyErr_Clear(); return NULL; }
        g_np_empty = PyObject_GetAttrString(np, "empty");
        Py_DECREF(np);
        if (!g_np_empty) { PyErr_Clear(); return NULL; }
    }
    if (!g_str_object && !(g_str_object = PyUnicode_InternFromString("object"))) { PyErr_Clear(); return NULL; }
    if (n > (uint64_t)(r->end - r->p)) { nd_malformed(r, "truncated data"); return NULL; }
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
    int rc = nd_decode_column(r, t, n, slots);
    PyBuffer_Release(&view);
    if (rc) { Py_DECREF(arr); return NULL; }
    return Py_BuildValue("(sN)", "a", arr);
}

static PyObject *objects_column(nd_reader *r, const nd_type *t, uint64_t n) {
    if ((r->opts->columnar == 2 || r->opts->columnar == 4) && n) {
        PyObject *a = numpy_objects(r, t, n);
        if (a || PyErr_Occurred()) return a;
    }
    PyObject **vals = nd_alloc_objs(r, n);
    if (!vals) return NULL;
    if (nd_decode_column(r, t, n, vals)) { PyMem_Free(vals); return NULL; }
    PyObject *l = PyList_New((Py_ssize_t)n);
    if (!l) { nd_clear_objs(vals, n); PyMem_Free(vals); return NULL; }
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

/* ('b', bytes): a fixed-width column copied once. */
static PyObject *fixed_buffer(nd_reader *r, const nd_type *t, uint64_t n) {
    if (n > (uint64_t)(r->end - r->p) / t->width) { nd_malformed(r, "truncated data"); return NULL; }
    PyObject *b = PyBytes_FromStringAndSize((const char *)r->p, (Py_ssize_t)(n * t->width));
    if (!b) return NULL;
    r->p += n * t->width;
    return Py_BuildValue("(sN)", "b", b);
}

/* ('S', native, n), columnar 4: the column's n values as they are on the wire (a
 * varint length before each), a view of the block or one copy. np_strings_pack
 * (columnar_strings.c) packs a result's String columns from these into one StringDType
 * array in a single pass, with no data + offsets copy in between. */
static PyObject *native_strings(nd_reader *r, uint64_t n) {
    if (n > (uint64_t)(r->end - r->p)) { nd_malformed(r, "truncated data"); return NULL; }
    const uint8_t *p = r->p, *end = r->end;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l;
        if (nd_rd_strlen(&p, end, &l)) { nd_malformed(r, "bad string length"); return NULL; }
        if (l > (uint64_t)(end - p)) { nd_malformed(r, "truncated string"); return NULL; }
        p += l;
    }
    PyObject *b = PyBytes_FromStringAndSize((const char *)r->p, (Py_ssize_t)(p - r->p));
    if (!b) return NULL;
    r->p = p;
    return Py_BuildValue("(sNK)", "S", b, (unsigned long long)n);
}

/* ('s', data, offsets), columnar 3 (Arrow): pass 1 lengths -> offsets, pass 2 copies
 * the bytes; no Python object per value. */
static PyObject *string_buffers(nd_reader *r, uint64_t n) {
    if (n > (uint64_t)(r->end - r->p)) { nd_malformed(r, "truncated data"); return NULL; }
    PyObject *offs = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * 8));
    if (!offs) return NULL;
    int64_t *o = (int64_t *)PyBytes_AS_STRING(offs);
    const uint8_t *p = r->p, *end = r->end;
    uint64_t total = 0;
    o[0] = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l;
        if (nd_rd_strlen(&p, end, &l)) { Py_DECREF(offs); nd_malformed(r, "bad string length"); return NULL; }
        if (l > (uint64_t)(end - p)) { Py_DECREF(offs); nd_malformed(r, "truncated string"); return NULL; }
        p += l;
        total += l;
        o[i + 1] = (int64_t)total;
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (!data) { Py_DECREF(offs); return NULL; }
    char *d = PyBytes_AS_STRING(data);
    p = r->p;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = 0;
        nd_rd_strlen(&p, end, &l);   /* checked by pass 1 */
        memcpy(d + o[i], p, (size_t)l);
        p += l;
    }
    r->p = p;
    return Py_BuildValue("(sNN)", "s", data, offs);
}

/* ('n', nullmap, inner) */
static PyObject *nullable_buffers(nd_reader *r, const nd_type *t, uint64_t n, int mode) {
    if (n > (uint64_t)(r->end - r->p)) { nd_malformed(r, "truncated null map"); return NULL; }
    PyObject *nulls = PyBytes_FromStringAndSize((const char *)r->p, (Py_ssize_t)n);
    if (!nulls) return NULL;
    r->p += n;
    PyObject *inner = nd_buffer_column(r, t->child[0], n, mode);
    if (!inner) { Py_DECREF(nulls); return NULL; }
    return Py_BuildValue("(sNN)", "n", nulls, inner);
}

/* ('l', dictionary, indexes, width) when the block has one dictionary (what ClickHouse
 * sends over HTTP): its values once and the indexes as they are. NULL with no error
 * set and r->p unmoved for any other layout (the caller makes Python values). */
static PyObject *lowcard_buffers(nd_reader *r, const nd_type *t, uint64_t n, int mode) {
    const uint8_t *start = r->p;
    if ((uint64_t)(r->end - r->p) < 16) { nd_malformed(r, "bad LowCardinality data"); return NULL; }
    uint64_t flags = nd_ld_u64(r->p);
    if (!nd_lc_flags_ok(flags) || !(flags & ND_LC_HAS_ADDITIONAL)) return NULL;
    unsigned w = 1u << (flags & 0xff);
    uint64_t nd = nd_ld_u64(r->p + 8);
    r->p += 16;
    if (nd == 0 || nd > ND_MAX_DICT) { nd_malformed(r, "bad LowCardinality data"); return NULL; }
    PyObject *dict = nd_buffer_column(r, nd_lc_dict_type(t), nd, mode);
    if (!dict) return NULL;
    uint64_t rows;
    if ((uint64_t)(r->end - r->p) >= 8 && (rows = nd_ld_u64(r->p)) == n &&
        rows <= (uint64_t)(r->end - r->p - 8) / w) {
        const uint8_t *ix = r->p + 8;
        for (uint64_t i = 0; i < n; i++) {
            if (nd_lc_index(ix, w, i) >= nd) { Py_DECREF(dict); nd_malformed(r, "bad LowCardinality data"); return NULL; }
        }
        PyObject *idx = PyBytes_FromStringAndSize((const char *)ix, (Py_ssize_t)(n * w));
        if (!idx) { Py_DECREF(dict); return NULL; }
        r->p = ix + n * w;
        return Py_BuildValue("(sNNI)", "l", dict, idx, w);
    }
    Py_DECREF(dict);
    r->p = start;
    return NULL;
}

PyObject *nd_buffer_column(nd_reader *r, const nd_type *t, uint64_t n, int mode) {
    if (is_plain_fixed(t->kind)) return fixed_buffer(r, t, n);
    if (t->kind == K_STRING && mode == 3) return string_buffers(r, n);
    if (t->kind == K_STRING && mode == 4) return native_strings(r, n);
    if (t->kind == K_NULLABLE) return nullable_buffers(r, t, n, mode);
    if (t->kind == K_LOWCARD && n) {
        PyObject *col = lowcard_buffers(r, t, n, mode);
        if (col || PyErr_Occurred()) return col;
    }
    return objects_column(r, t, n);
}
