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
#include "native_wire.h"

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
    int direct;           /* short strings and NULLs written here, not by NpyString_pack (see below) */
} np_api;

/* A value of at most SHORT_MAX bytes lives in its slot (NumPy's "short
 * string": the bytes, then a size-and-flags byte last on little-endian hosts). Packing
 * it needs no allocator, so it is written here straight into the zeroed slot: the
 * per-value call into NpyString_pack was the larger part of packing a column of short
 * strings. The layout is NumPy's private business, so it is not assumed: np_init packs
 * probes of every short length, and a NULL, with NpyString_pack itself and turns this
 * on only if every slot matches what short_slot()/null_slot() write, byte for byte;
 * otherwise every value goes through NpyString_pack as before. */
#define SLOT_BYTES (2 * sizeof(size_t))   /* checked against the dtype's itemsize in np_init */
#define SHORT_MAX (SLOT_BYTES - 1)
#define SHORT_FLAGS 0x60   /* initialized | outside the arena */
#define NULL_FLAGS 0x80    /* missing */

/* Returns 1 if the value was not ASCII (the caller then checks it is UTF-8). */
static inline int short_slot(char *slot, const char *s, size_t l, size_t avail) {
    if (avail >= 16 && SLOT_BYTES == 16) {
        /* two 8-byte loads (the bytes past the value masked off): no byte-wise copy
         * into a temporary that a 16-byte read then stalls on */
        uint64_t lo, hi;
        memcpy(&lo, s, 8);
        memcpy(&hi, s + 8, 8);
        if (l < 8) {
            lo &= l ? ~0ull >> (64 - 8 * l) : 0;
            hi = 0;
        } else {
            hi &= l > 8 ? ~0ull >> (64 - 8 * (l - 8)) : 0;
        }
        int high = ((lo | hi) & 0x8080808080808080ull) != 0;
        if (l) hi |= (uint64_t)(SHORT_FLAGS | l) << 56;
        memcpy(slot, &lo, 8);
        memcpy(slot + 8, &hi, 8);
        return high;
    }
    char tmp[2 * sizeof(size_t)] = {0};
    if (l) {  /* an empty string on a fresh slot is all zero bytes, as NpyString_pack leaves it */
        memcpy(tmp, s, l);
        tmp[SLOT_BYTES - 1] = (char)(SHORT_FLAGS | l);
    }
    memcpy(slot, tmp, SLOT_BYTES);
    return 1;
}

static inline void null_slot(char *slot) {
    char tmp[2 * sizeof(size_t)] = {0};
    tmp[SLOT_BYTES - 1] = (char)NULL_FLAGS;
    memcpy(slot, tmp, SLOT_BYTES);
}

static int probe_direct(void) {
    enum { PROBES = 2 * (SHORT_MAX + 1) + 1 };
    PyObject *arr = PyObject_CallFunction(np_api.empty, "(nO)", (Py_ssize_t)PROBES, np_api.dtype_na);
    if (!arr) return -1;
    PyObject *descr = PyObject_GetAttrString(arr, "dtype");
    if (!descr) { Py_DECREF(arr); return -1; }
    char *slots = ((np_array_head *)arr)->data;
    char want[2 * sizeof(size_t)], text[2 * sizeof(size_t)];
    int same = 1;
    npy_string_allocator *alloc = np_api.acquire(descr);
    for (int k = 0; k < PROBES - 1 && same; k++) {
        size_t l = (size_t)(k / 2);
        /* bytes after the value (read, then masked off, by the 8-byte loads) not zero */
        for (size_t i = 0; i < sizeof text; i++) text[i] = (char)(i >= l ? 0x5a : k % 2 ? 0xff - 13 * i : 'a' + i);
        char *slot = slots + (size_t)k * SLOT_BYTES;
        if (np_api.pack(alloc, (npy_packed_static_string *)slot, text, l) < 0) same = 0;
        /* both ways short_slot writes: from a buffer that ends with the value, and not */
        short_slot(want, text, l, l);
        same = same && memcmp(slot, want, SLOT_BYTES) == 0;
        short_slot(want, text, l, sizeof text);
        same = same && memcmp(slot, want, SLOT_BYTES) == 0;
    }
    char *last = slots + (size_t)(PROBES - 1) * SLOT_BYTES;
    if (same && np_api.pack_null(alloc, (npy_packed_static_string *)last) < 0) same = 0;
    null_slot(want);
    same = same && memcmp(last, want, SLOT_BYTES) == 0;
    np_api.release(alloc);
    Py_DECREF(descr);
    Py_DECREF(arr);
    PyErr_Clear();  /* a failed probe only means the fallback */
    return same;
}

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
    {
        int d = probe_direct();
        if (d < 0) goto out;
        np_api.direct = d;
    }
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

/* One part of a result's String column, from row `start`, with an optional null map
 * (1 = NULL): either n values as the wire has them (mode 4's ('S', native, n): a
 * varint length before each value) or Arrow-style data + n+1 int64 offsets. */
typedef struct {
    Py_buffer data, offs, nulls;
    int has_nulls, native;
    uint64_t n, start;
} str_part;

static void part_close(str_part *p) {
    PyBuffer_Release(&p->data);
    if (!p->native) PyBuffer_Release(&p->offs);
    if (p->has_nulls) PyBuffer_Release(&p->nulls);
}

static void parts_release(str_part *ps, Py_ssize_t k) {
    for (Py_ssize_t i = 0; i < k; i++) part_close(&ps[i]);
}

/* Reads and checks one (native, n, nulls | None, start) or (data, offsets, nulls | None,
 * start) tuple. A native part's lengths are checked as it is packed. */
static int part_open(PyObject *t, str_part *ps) {
    PyObject *data, *offs, *nulls;
    unsigned long long start;
    if (!PyArg_ParseTuple(t, "OOOK", &data, &offs, &nulls, &start)) return -1;
    ps->native = PyLong_Check(offs);
    if (ps->native) {
        ps->n = PyLong_AsUnsignedLongLong(offs);
        if (ps->n == (uint64_t)-1 && PyErr_Occurred()) return -1;
    }
    if (PyObject_GetBuffer(data, &ps->data, PyBUF_SIMPLE)) return -1;
    if (!ps->native && PyObject_GetBuffer(offs, &ps->offs, PyBUF_SIMPLE)) { PyBuffer_Release(&ps->data); return -1; }
    ps->has_nulls = nulls != Py_None;
    if (ps->has_nulls && PyObject_GetBuffer(nulls, &ps->nulls, PyBUF_SIMPLE)) {
        PyBuffer_Release(&ps->data);
        if (!ps->native) PyBuffer_Release(&ps->offs);
        return -1;
    }
    int ok;
    if (ps->native) {  /* each value takes one byte at least */
        ok = ps->n <= (uint64_t)ps->data.len;
    } else {
        ok = ps->offs.len >= 8 && ps->offs.len % 8 == 0;
        ps->n = ok ? (uint64_t)ps->offs.len / 8 - 1 : 0;
        const int64_t *o = ps->offs.buf;
        ok = ok && o[0] == 0 && (uint64_t)o[ps->n] == (uint64_t)ps->data.len;
        for (uint64_t i = 0; ok && i < ps->n; i++) ok = o[i] <= o[i + 1];
    }
    ok = ok && start <= ps->n && (!ps->has_nulls || (uint64_t)ps->nulls.len == ps->n);
    if (!ok) {
        part_close(ps);
        PyErr_SetString(PyExc_ValueError, "inconsistent string buffers");
        return -1;
    }
    ps->start = start;
    return 0;
}

/* The next native value at *pp (before end): its bytes and length; -1 if cut. */
static inline int native_next(const uint8_t **pp, const uint8_t *end, const char **s, size_t *len) {
    uint64_t l;
    if (nd_rd_strlen(pp, end, &l) || l > (uint64_t)(end - *pp)) return -1;
    *s = (const char *)*pp;
    *len = (size_t)l;
    *pp += l;
    return 0;
}

enum { PACK_OK, PACK_NOMEM, PACK_NOT_UTF8, PACK_INCONSISTENT };

/* One value (one NULL) into a zeroed slot of the array whose allocator is held. */
/* One value into a zeroed slot of the array whose allocator is held, if it is UTF-8
 * (avail: the bytes readable from s, at least l): PACK_OK, PACK_NOT_UTF8 (the slot
 * may hold it, still a valid packed string) or PACK_NOMEM. */
static inline int pack_value(npy_string_allocator *alloc, char *slot, const char *s, size_t l, size_t avail,
                             int direct) {
    if (direct && l <= SHORT_MAX) {
        if (short_slot(slot, s, l, avail) && chb_utf8_invalid_at((const uint8_t *)s, l) >= 0) return PACK_NOT_UTF8;
        return PACK_OK;
    }
    if (chb_utf8_invalid_at((const uint8_t *)s, l) >= 0) return PACK_NOT_UTF8;
    return np_api.pack(alloc, (npy_packed_static_string *)slot, s, l) < 0 ? PACK_NOMEM : PACK_OK;
}

static inline int pack_null(npy_string_allocator *alloc, char *slot, int direct) {
    if (direct) {
        null_slot(slot);
        return 0;
    }
    return np_api.pack_null(alloc, (npy_packed_static_string *)slot);
}

/* np_strings_pack(parts, na, column) -> one StringDType array of every part's values
 * from its start row: a result's blocks packed once into one allocator (joining one
 * array per block would pack every string a second time), in one pass over each
 * part's bytes (a native part is read, checked and packed value by value). */
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
    const size_t stride = SLOT_BYTES;
    uint64_t row = 0, bad_row = 0;
    int failed = PACK_OK;
    const int direct = np_api.direct;
    npy_string_allocator *alloc = np_api.acquire(descr);
    for (Py_ssize_t j = 0; j < k && !failed; j++) {
        const str_part *p = &ps[j];
        const char *nl = p->has_nulls ? p->nulls.buf : NULL;
        const char *s;
        size_t l;
        if (p->native) {
            const uint8_t *q = p->data.buf, *end = q + p->data.len;
            uint64_t i = 0;
            for (; i < p->start; i++)
                if (native_next(&q, end, &s, &l)) { failed = PACK_INCONSISTENT; break; }
            for (; i < p->n && !failed; i++, row++, slot += stride) {
                if (native_next(&q, end, &s, &l)) { failed = PACK_INCONSISTENT; break; }
                if (nl && nl[i]) {
                    if (pack_null(alloc, slot, direct) < 0) failed = PACK_NOMEM;
                    continue;
                }
                if ((failed = pack_value(alloc, slot, s, l, (size_t)(end - (const uint8_t *)s), direct))) bad_row = row;
            }
            if (!failed && q != end) failed = PACK_INCONSISTENT;
            continue;
        }
        const int64_t *o = p->offs.buf;
        const char *d = p->data.buf, *dend = d + p->data.len;
        for (uint64_t i = p->start; i < p->n; i++, row++, slot += stride) {
            if (nl && nl[i]) {
                if (pack_null(alloc, slot, direct) < 0) { failed = PACK_NOMEM; break; }
                continue;
            }
            s = d + o[i];
            l = (size_t)(o[i + 1] - o[i]);
            if ((failed = pack_value(alloc, slot, s, l, (size_t)(dend - s), direct))) { bad_row = row; break; }
        }
    }
    np_api.release(alloc);
    if (failed) {
        Py_CLEAR(arr);  /* unpacked slots are zero: an empty string to NumPy's free */
        if (failed == PACK_NOT_UTF8)
            PyErr_Format(chb_exc(CHB_EXC_InterfaceError),
                         "column '%s', row %llu: a String value is not UTF-8, which a NumPy "
                         "StringDType array cannot hold: fetch with strings='object' (str with "
                         "surrogateescape, as the row path) or connect with strings_as_bytes=True",
                         colname, (unsigned long long)bad_row);
        else if (failed == PACK_INCONSISTENT)
            PyErr_SetString(PyExc_ValueError, "inconsistent string buffers");
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

/* np_strings_direct(on=None) -> whether short strings and NULLs are written directly
 * (after the probe in np_init); on=False/True turns it off, or back on if the probe
 * passed: for the tests comparing both ways. */
static PyObject *np_strings_direct(PyObject *self, PyObject *args) {
    PyObject *on = Py_None;
    if (!PyArg_ParseTuple(args, "|O", &on)) return NULL;
    if (np_init()) return NULL;
    static int probed = -1;
    if (probed < 0) probed = np_api.direct;
    if (on != Py_None) {
        int v = PyObject_IsTrue(on);
        if (v < 0) return NULL;
        np_api.direct = v && probed;
    }
    return PyBool_FromLong(np_api.direct);
}

static PyMethodDef methods[] = {
    {"np_strings_direct", np_strings_direct, METH_VARARGS,
     "np_strings_direct(on=None): whether short strings are packed without NpyString_pack (tests)"},
    {"np_strings_pack", np_strings_pack, METH_VARARGS,
     "np_strings_pack(parts, na, column): [(native, n, nulls|None, start) | (data, offsets, nulls|None, start)] "
     "-> one StringDType array"},
    {NULL},
};

int py_columnar_strings_register(PyObject *m) {
    return PyModule_AddFunctions(m, methods);
}
