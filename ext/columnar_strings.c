/* Native String columns -> NumPy StringDType arrays (NumPy >= 2) without a Python
 * object per value: each value is packed by NumPy's own NpyString_pack into the
 * array's allocator (short strings inline, longer ones in its arena).
 *
 * NumPy is an optional extra, so the extension is not built against its headers: the
 * C API table is read at run time from the `_ARRAY_API` capsule, exactly what
 * numpy's import_array() does, and the few entries used here are called by their
 * slot numbers. NumPy guarantees that table's order never changes (its ABI);
 * tests/test_columnar_strings.py checks the slots and signatures below against the
 * installed numpy/__multiarray_api.h. */
#define PY_SSIZE_T_CLEAN
#include "columnar_strings.h"
#include <string.h>
#include "errors.h"

/* numpy/__multiarray_api.h (NumPy 2.x): PyArray_API[...] */
#define SLOT_GetNDArrayCVersion 0
#define SLOT_GetNDArrayCFeatureVersion 211
#define SLOT_NpyString_pack 314
#define SLOT_NpyString_pack_null 315
#define SLOT_NpyString_acquire_allocator 316
#define SLOT_NpyString_release_allocator 318
#define NPY_2_0_API_VERSION 0x00000012
#define NPY_2_ABI_VERSION 0x02000000

typedef struct npy_string_allocator npy_string_allocator;
typedef struct npy_packed_static_string npy_packed_static_string;
typedef int (*pack_fn)(npy_string_allocator *, npy_packed_static_string *, const char *, size_t);
typedef int (*pack_null_fn)(npy_string_allocator *, npy_packed_static_string *);
typedef npy_string_allocator *(*acquire_fn)(PyObject *descr);
typedef void (*release_fn)(npy_string_allocator *);

/* The start of numpy's PyArrayObject_fields (ndarraytypes.h): the data pointer follows
 * the object header in every NumPy version. */
typedef struct {
    PyObject_HEAD
    char *data;
} np_array_head;

static struct {
    int ready;
    pack_fn pack;
    pack_null_fn pack_null;
    acquire_fn acquire;
    release_fn release;
    PyObject *empty;      /* numpy.empty */
    PyObject *dtype;      /* StringDType() */
    PyObject *dtype_na;   /* StringDType(na_object=None) */
} np_api;

static int np_init(void) {
    if (np_api.ready) return 0;
    PyObject *um = NULL, *cap = NULL, *np = NULL, *dtypes = NULL, *cls = NULL, *kw = NULL, *size = NULL;
    int rc = -1;
    np = PyImport_ImportModule("numpy");
    if (!np) goto out;
    um = PyImport_ImportModule("numpy._core._multiarray_umath");
    if (!um) {
        PyErr_Clear();
        PyErr_SetString(chb_exc(CHB_EXC_NotSupportedError), "NumPy StringDType arrays need NumPy >= 2");
        goto out;
    }
    cap = PyObject_GetAttrString(um, "_ARRAY_API");
    void **api = cap && PyCapsule_CheckExact(cap) ? PyCapsule_GetPointer(cap, NULL) : NULL;
    if (!api) {
        PyErr_Clear();
        PyErr_SetString(chb_exc(CHB_EXC_NotSupportedError), "NumPy's C API table is not available");
        goto out;
    }
    unsigned abi = ((unsigned (*)(void))api[SLOT_GetNDArrayCVersion])();
    unsigned feature = ((unsigned (*)(void))api[SLOT_GetNDArrayCFeatureVersion])();
    if (abi < NPY_2_ABI_VERSION || feature < NPY_2_0_API_VERSION) {
        PyErr_Format(chb_exc(CHB_EXC_NotSupportedError),
                     "NumPy StringDType arrays need NumPy >= 2 (C ABI %x, API %x)", abi, feature);
        goto out;
    }
    if (!(dtypes = PyObject_GetAttrString(np, "dtypes")) || !(cls = PyObject_GetAttrString(dtypes, "StringDType")) ||
        !(np_api.empty = PyObject_GetAttrString(np, "empty")) || !(np_api.dtype = PyObject_CallNoArgs(cls)) ||
        !(kw = Py_BuildValue("{sO}", "na_object", Py_None)))
        goto out;
    {   /* na_object=None: the row path's NULL */
        PyObject *noargs = PyTuple_New(0);
        if (!noargs) goto out;
        np_api.dtype_na = PyObject_Call(cls, noargs, kw);
        Py_DECREF(noargs);
        if (!np_api.dtype_na) goto out;
    }
    /* the packed string is two size_t wide (ndarraytypes.h); checked, since it is the stride */
    if (!(size = PyObject_GetAttrString(np_api.dtype, "itemsize"))) goto out;
    if (PyLong_AsSsize_t(size) != (Py_ssize_t)(2 * sizeof(size_t))) {
        if (!PyErr_Occurred())
            PyErr_SetString(chb_exc(CHB_EXC_NotSupportedError), "unexpected StringDType item size");
        goto out;
    }
    np_api.pack = (pack_fn)api[SLOT_NpyString_pack];
    np_api.pack_null = (pack_null_fn)api[SLOT_NpyString_pack_null];
    np_api.acquire = (acquire_fn)api[SLOT_NpyString_acquire_allocator];
    np_api.release = (release_fn)api[SLOT_NpyString_release_allocator];
    np_api.ready = 1;
    rc = 0;
out:
    if (rc) {
        Py_CLEAR(np_api.empty);
        Py_CLEAR(np_api.dtype);
        Py_CLEAR(np_api.dtype_na);
    }
    Py_XDECREF(um);
    Py_XDECREF(cap);
    Py_XDECREF(np);
    Py_XDECREF(dtypes);
    Py_XDECREF(cls);
    Py_XDECREF(kw);
    Py_XDECREF(size);
    return rc;
}

ptrdiff_t chb_utf8_invalid_at(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        /* ASCII runs 8 bytes at a time */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= len) break;
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) need = 1;
        else if (c == 0xe0) { need = 2; lo = 0xa0; }
        else if (c == 0xed) { need = 2; hi = 0x9f; }         /* no surrogates */
        else if (c >= 0xe1 && c <= 0xef) need = 2;
        else if (c == 0xf0) { need = 3; lo = 0x90; }
        else if (c >= 0xf1 && c <= 0xf3) need = 3;
        else if (c == 0xf4) { need = 3; hi = 0x8f; }         /* <= U+10FFFF */
        else return (ptrdiff_t)i;
        if (need >= len - i) return (ptrdiff_t)i;   /* cut short */
        if (s[i + 1] < lo || s[i + 1] > hi) return (ptrdiff_t)i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80) return (ptrdiff_t)i;
        i += need + 1;
    }
    return -1;
}

/* One part of a result's String column: its n values as Arrow-style data + n+1 int64
 * offsets (the decoder's columnar-3 buffers), from row `start`, with an optional
 * null map (1 = NULL). */
typedef struct {
    Py_buffer data, offs, nulls;
    int has_nulls;
    uint64_t n, start;
} str_part;

static void parts_release(str_part *ps, Py_ssize_t k) {
    for (Py_ssize_t i = 0; i < k; i++) {
        PyBuffer_Release(&ps[i].data);
        PyBuffer_Release(&ps[i].offs);
        if (ps[i].has_nulls) PyBuffer_Release(&ps[i].nulls);
    }
}

/* Reads and checks one (data, offsets, nulls | None, start) tuple. */
static int part_open(PyObject *t, str_part *ps) {
    PyObject *data, *offs, *nulls;
    unsigned long long start;
    if (!PyArg_ParseTuple(t, "OOOK", &data, &offs, &nulls, &start)) return -1;
    if (PyObject_GetBuffer(data, &ps->data, PyBUF_SIMPLE)) return -1;
    if (PyObject_GetBuffer(offs, &ps->offs, PyBUF_SIMPLE)) { PyBuffer_Release(&ps->data); return -1; }
    ps->has_nulls = nulls != Py_None;
    if (ps->has_nulls && PyObject_GetBuffer(nulls, &ps->nulls, PyBUF_SIMPLE)) {
        PyBuffer_Release(&ps->data);
        PyBuffer_Release(&ps->offs);
        return -1;
    }
    int ok = ps->offs.len >= 8 && ps->offs.len % 8 == 0;
    ps->n = ok ? (uint64_t)ps->offs.len / 8 - 1 : 0;
    const int64_t *o = ps->offs.buf;
    ok = ok && start <= ps->n && o[0] == 0 && (uint64_t)o[ps->n] == (uint64_t)ps->data.len &&
         (!ps->has_nulls || (uint64_t)ps->nulls.len == ps->n);
    for (uint64_t i = 0; ok && i < ps->n; i++) ok = o[i] <= o[i + 1];
    if (!ok) {
        PyBuffer_Release(&ps->data);
        PyBuffer_Release(&ps->offs);
        if (ps->has_nulls) PyBuffer_Release(&ps->nulls);
        PyErr_SetString(PyExc_ValueError, "inconsistent string buffers");
        return -1;
    }
    ps->start = start;
    return 0;
}

/* np_strings_pack(parts, na, column) -> one StringDType array of every part's values
 * from its start row: a result's blocks packed once into one allocator (joining one
 * array per block would pack every string a second time). */
static PyObject *np_strings_pack(PyObject *self, PyObject *args) {
    PyObject *seq;
    int na;
    const char *colname;
    if (!PyArg_ParseTuple(args, "Ops", &seq, &na, &colname)) return NULL;
    if (np_init()) return NULL;
    PyObject *fast = PySequence_Fast(seq, "parts must be a sequence");
    if (!fast) return NULL;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(fast), opened = 0;
    str_part *ps = PyMem_Calloc(k ? (size_t)k : 1, sizeof *ps);
    PyObject *arr = NULL, *descr = NULL;
    if (!ps) { PyErr_NoMemory(); goto out; }
    uint64_t total = 0;
    for (; opened < k; opened++) {
        if (part_open(PySequence_Fast_GET_ITEM(fast, opened), &ps[opened])) goto out;
        total += ps[opened].n - ps[opened].start;
    }
    if (!(arr = PyObject_CallFunction(np_api.empty, "(KO)", (unsigned long long)total,
                                      na ? np_api.dtype_na : np_api.dtype)))
        goto out;
    /* the array's own descriptor: NumPy gives each array a copy holding its allocator */
    if (!(descr = PyObject_GetAttrString(arr, "dtype"))) { Py_CLEAR(arr); goto out; }
    char *slot = ((np_array_head *)arr)->data;
    const size_t stride = 2 * sizeof(size_t);
    uint64_t row = 0, bad_row = 0;
    int failed = 0;
    npy_string_allocator *alloc = np_api.acquire(descr);
    for (Py_ssize_t j = 0; j < k && !failed; j++) {
        const str_part *p = &ps[j];
        const int64_t *o = p->offs.buf;
        const char *d = p->data.buf, *nl = p->has_nulls ? p->nulls.buf : NULL;
        for (uint64_t i = p->start; i < p->n; i++, row++, slot += stride) {
            npy_packed_static_string *s = (npy_packed_static_string *)slot;
            if (nl && nl[i]) {
                if (np_api.pack_null(alloc, s) < 0) { failed = 1; break; }
                continue;
            }
            size_t l = (size_t)(o[i + 1] - o[i]);
            if (chb_utf8_invalid_at((const uint8_t *)d + o[i], l) >= 0) { bad_row = row; failed = 2; break; }
            if (np_api.pack(alloc, s, d + o[i], l) < 0) { failed = 1; break; }
        }
    }
    np_api.release(alloc);
    if (failed) {
        Py_CLEAR(arr);  /* unpacked slots are zero: an empty string to NumPy's free */
        if (failed == 2)
            PyErr_Format(chb_exc(CHB_EXC_InterfaceError),
                         "column '%s', row %llu: a String value is not UTF-8, which a NumPy "
                         "StringDType array cannot hold: fetch with strings='object' (str with "
                         "surrogateescape, as the row path) or connect with strings_as_bytes=True",
                         colname, (unsigned long long)bad_row);
        else if (!PyErr_Occurred())
            PyErr_NoMemory();
    }
out:
    Py_XDECREF(descr);
    if (ps) parts_release(ps, opened);
    PyMem_Free(ps);
    Py_DECREF(fast);
    return arr;
}

static PyMethodDef methods[] = {
    {"np_strings_pack", np_strings_pack, METH_VARARGS,
     "np_strings_pack(parts, na, column): [(data, offsets, nulls|None, start)] -> one StringDType array"},
    {NULL},
};

int py_columnar_strings_register(PyObject *m) {
    return PyModule_AddFunctions(m, methods);
}
