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

static int read_len(const uint8_t **pp, const uint8_t *end, uint64_t *l) {
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) { *l = *p; *pp = p + 1; return 0; }
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end) return -1;
        uint8_t b = *p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *l = x; *pp = p; return 0; }
    }
    return -1;
}

PyObject *chb_np_strings(const uint8_t **pp, const uint8_t *end, uint64_t n, const uint8_t *nulls,
                         const char *colname, const char **malformed) {
    *malformed = NULL;
    if (np_init()) return NULL;
    if (n > (uint64_t)(end - *pp)) { *malformed = "truncated data"; return NULL; }  /* >= 1 byte per value */
    PyObject *arr = PyObject_CallFunction(np_api.empty, "(KO)", (unsigned long long)n,
                                          nulls ? np_api.dtype_na : np_api.dtype);
    if (!arr) return NULL;
    /* the array's own descriptor: NumPy gives each array a copy holding its allocator */
    PyObject *descr = PyObject_GetAttrString(arr, "dtype");
    if (!descr) { Py_DECREF(arr); return NULL; }
    char *data = ((np_array_head *)arr)->data;
    const size_t stride = 2 * sizeof(size_t);
    const uint8_t *p = *pp;
    const char *bad = NULL;
    uint64_t bad_row = 0;
    int failed = 0;
    npy_string_allocator *alloc = np_api.acquire(descr);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l;
        if (read_len(&p, end, &l)) { bad = "bad string length"; break; }
        if (l > (uint64_t)(end - p)) { bad = "truncated string"; break; }
        npy_packed_static_string *slot = (npy_packed_static_string *)(data + i * stride);
        if (nulls && nulls[i]) {
            if (np_api.pack_null(alloc, slot) < 0) { failed = 1; break; }
        } else {
            if (chb_utf8_invalid_at(p, (size_t)l) >= 0) { bad_row = i; failed = 2; break; }
            if (np_api.pack(alloc, slot, (const char *)p, (size_t)l) < 0) { failed = 1; break; }
        }
        p += l;
    }
    np_api.release(alloc);
    Py_DECREF(descr);
    if (bad || failed) {
        Py_DECREF(arr);
        if (bad) { *malformed = bad; return NULL; }
        if (failed == 2)
            PyErr_Format(chb_exc(CHB_EXC_InterfaceError),
                         "column '%s', row %llu of the block: a String value is not UTF-8, which a NumPy "
                         "StringDType array cannot hold: fetch with strings='object' (str with "
                         "surrogateescape, as the row path) or connect with strings_as_bytes=True",
                         colname, (unsigned long long)bad_row);
        else if (!PyErr_Occurred())
            PyErr_NoMemory();
        return NULL;
    }
    *pp = p;
    return arr;
}
