/* Python binding of the Native decoder: NativeDecoder(tz=None, strings_as_bytes=False,
 * columnar=False) with feed(bytes-like) and get() -> (names, types, data) | False. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "buf.h"
#include "errors.h"
#include "native_decode.h"
#include "native_scan.h"

typedef struct {
    PyObject_HEAD
    chb_buf buf;
    size_t start;          /* offset of the current (unreturned) block in buf */
    nd_scanner *sc;
    PyObject *tz;
    int strings_as_bytes;
    int columnar;
} NativeDecoder;

static int nd_init(NativeDecoder *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"tz", "strings_as_bytes", "columnar", NULL};
    PyObject *tz = Py_None;
    int sab = 0, col = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|Opi:NativeDecoder", kwlist, &tz, &sab, &col)) return -1;
    if (tz != Py_None && tz != Py_False && !PyObject_HasAttrString(tz, "fromutc")) {
        PyErr_SetString(PyExc_TypeError, "tz must be a tzinfo, None or False (naive)");
        return -1;
    }
    Py_XSETREF(self->tz, tz == Py_None ? NULL : Py_NewRef(tz));
    self->strings_as_bytes = sab;
    self->columnar = col;
    if (!self->sc && !(self->sc = nd_scanner_new())) { PyErr_NoMemory(); return -1; }
    nd_scanner_reset(self->sc);
    chb_buf_free(&self->buf);
    self->start = 0;
    return 0;
}

static int nd_traverse(NativeDecoder *self, visitproc visit, void *arg) {
    Py_VISIT(self->tz);
    return 0;
}

static int nd_clear(NativeDecoder *self) {
    Py_CLEAR(self->tz);
    return 0;
}

static void nd_dealloc(NativeDecoder *self) {
    PyObject_GC_UnTrack(self);
    nd_clear(self);
    nd_scanner_free(self->sc);
    chb_buf_free(&self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *nd_feed(NativeDecoder *self, PyObject *arg) {
    Py_buffer view;
    if (!self->sc) { PyErr_SetString(PyExc_RuntimeError, "NativeDecoder not initialised"); return NULL; }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
    /* Drop returned blocks once they are at least half the buffer (amortised O(1)). */
    if (self->start && self->start >= self->buf.len / 2) {
        chb_buf_consume(&self->buf, self->start);
        self->start = 0;
    }
    /* empty feeds skip chb_buf_append: memcpy into a still-NULL buffer is UB even for 0 bytes */
    int rc = view.len ? chb_buf_append(&self->buf, view.buf, (size_t)view.len) : 0;
    PyBuffer_Release(&view);
    if (rc) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *nd_get_block(NativeDecoder *self, int raw) {
    if (!self->sc) { PyErr_SetString(PyExc_RuntimeError, "NativeDecoder not initialised"); return NULL; }
    size_t avail = self->buf.len - self->start;
    if (avail == 0) Py_RETURN_FALSE;
    const uint8_t *base = self->buf.data + self->start;
    ptrdiff_t r = nd_scan(self->sc, base, avail);
    if (r == 0) Py_RETURN_FALSE;
    if (r < 0) {
        chb_exc_kind k = nd_scanner_error_kind(self->sc) == ND_ERR_UNSUPPORTED ? CHB_EXC_NotSupportedError
                                                                              : CHB_EXC_InterfaceError;
        PyErr_SetString(chb_exc(k), nd_scanner_error(self->sc));
        return NULL;
    }
    nd_options opts = {self->tz, self->strings_as_bytes, self->columnar};
    /* The block is consumed even if conversion fails, so the next one can be read. */
    PyObject *res = raw ? PyBytes_FromStringAndSize((const char *)base, (Py_ssize_t)r)
                        : nd_decode_block(base, (size_t)r, &opts);
    self->start += (size_t)r;
    nd_scanner_reset(self->sc);
    if (self->start == self->buf.len) { self->buf.len = 0; self->start = 0; }
    return res;
}

static PyObject *nd_get(NativeDecoder *self, PyObject *Py_UNUSED(ignored)) { return nd_get_block(self, 0); }
static PyObject *nd_get_raw(NativeDecoder *self, PyObject *Py_UNUSED(ignored)) { return nd_get_block(self, 1); }

/* decode_block(data, tz=None, strings_as_bytes=False, columnar=0): one complete
 * block (as get_raw() returns it) -> (names, types, data). */
static PyObject *py_decode_block(PyObject *mod, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"data", "tz", "strings_as_bytes", "columnar", NULL};
    Py_buffer view;
    PyObject *tz = Py_None;
    int sab = 0, col = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|Opi:decode_block", kwlist, &view, &tz, &sab, &col)) return NULL;
    nd_options opts = {tz == Py_None ? NULL : tz, sab, col};
    PyObject *res = nd_decode_block(view.buf, (size_t)view.len, &opts);
    PyBuffer_Release(&view);
    return res;
}

/* encode_strings(seq) -> bytes: a Native String column (varint length + bytes per
 * value) from str (UTF-8, surrogateescape) / bytes values, for columnar inserts.
 * Raises TypeError naming the first row that is neither (its index in .args[1]). */
static PyObject *py_encode_strings(PyObject *mod, PyObject *arg) {
    PyObject *seq = PySequence_Fast(arg, "encode_strings() takes a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    chb_buf out;
    chb_buf_init(&out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i], *tmp = NULL;
        const char *p;
        Py_ssize_t l;
        if (PyUnicode_Check(v)) {
            p = PyUnicode_AsUTF8AndSize(v, &l);
            if (!p) {  /* lone surrogates: the bytes they stand for (surrogateescape) */
                PyErr_Clear();
                if (!(tmp = PyUnicode_AsEncodedString(v, "utf-8", "surrogateescape"))) goto fail;
                p = PyBytes_AS_STRING(tmp);
                l = PyBytes_GET_SIZE(tmp);
            }
        } else if (PyBytes_Check(v)) {
            p = PyBytes_AS_STRING(v);
            l = PyBytes_GET_SIZE(v);
        } else {
            PyObject *e = Py_BuildValue("(sn)", "a String value must be str or bytes", i);
            if (e) { PyErr_SetObject(PyExc_TypeError, e); Py_DECREF(e); }
            goto fail;
        }
        uint8_t var[10];
        size_t k = 0;
        uint64_t x = (uint64_t)l;
        do { var[k++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0)); x >>= 7; } while (x);
        int rc = chb_buf_append(&out, var, k) || (l && chb_buf_append(&out, p, (size_t)l));
        Py_XDECREF(tmp);
        if (rc) { PyErr_NoMemory(); goto fail; }
    }
    Py_DECREF(seq);
    PyObject *res = PyBytes_FromStringAndSize(out.len ? (const char *)out.data : "", (Py_ssize_t)out.len);
    chb_buf_free(&out);
    return res;
fail:
    Py_DECREF(seq);
    chb_buf_free(&out);
    return NULL;
}

/* encode_string_buffers(data, offsets) -> bytes: the same from Arrow's layout (values
 * data + n+1 offsets, int32 or int64 by the offsets buffer's itemsize): no Python
 * object per value. */
static PyObject *py_encode_string_buffers(PyObject *mod, PyObject *args) {
    Py_buffer data, offs;
    if (!PyArg_ParseTuple(args, "y*y*:encode_string_buffers", &data, &offs)) return NULL;
    PyObject *res = NULL;
    Py_buffer fmt;
    int wide;
    /* the itemsize comes from a second, formatted view of the offsets */
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(args, 1), &fmt, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS)) goto out;
    wide = fmt.itemsize == 8;
    if (fmt.itemsize != 4 && fmt.itemsize != 8) {
        PyBuffer_Release(&fmt);
        PyErr_SetString(PyExc_ValueError, "offsets must be int32 or int64");
        goto out;
    }
    PyBuffer_Release(&fmt);
    Py_ssize_t n = offs.len / (wide ? 8 : 4) - 1;
    if (n < 0) { PyErr_SetString(PyExc_ValueError, "offsets must hold n + 1 values"); goto out; }
    const uint8_t *d = data.buf;
    /* pass 1: check the offsets and size the output (varint + bytes per value), so that
     * pass 2 writes straight into the result: one allocation, no growing buffer */
    int64_t prev = 0;
    size_t total = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        int64_t o;
        if (wide) { memcpy(&o, (const char *)offs.buf + 8 * i, 8); }
        else { int32_t o32; memcpy(&o32, (const char *)offs.buf + 4 * i, 4); o = o32; }
        if (o < prev && i) { PyErr_SetString(PyExc_ValueError, "offsets go backwards"); goto out; }
        if (o > (int64_t)data.len || o < 0) { PyErr_SetString(PyExc_ValueError, "offset past the data"); goto out; }
        if (i) {
            uint64_t l = (uint64_t)(o - prev);
            size_t k = 1;
            while (l > 0x7f) { l >>= 7; k++; }
            total += k + (size_t)(o - prev);
        }
        prev = o;
    }
    if (total > (size_t)PY_SSIZE_T_MAX) { PyErr_NoMemory(); goto out; }
    res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (!res) goto out;
    uint8_t *w = (uint8_t *)PyBytes_AS_STRING(res);
    for (Py_ssize_t i = 1; i <= n; i++) {
        int64_t a, b;
        if (wide) { memcpy(&a, (const char *)offs.buf + 8 * (i - 1), 8); memcpy(&b, (const char *)offs.buf + 8 * i, 8); }
        else {
            int32_t a32, b32;
            memcpy(&a32, (const char *)offs.buf + 4 * (i - 1), 4);
            memcpy(&b32, (const char *)offs.buf + 4 * i, 4);
            a = a32; b = b32;
        }
        uint64_t x = (uint64_t)(b - a);
        do { *w++ = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0)); x >>= 7; } while (x);
        memcpy(w, d + a, (size_t)(b - a));
        w += b - a;
    }
out:
    PyBuffer_Release(&data);
    PyBuffer_Release(&offs);
    return res;
}

static PyMethodDef nd_functions[] = {
    {"encode_string_buffers", (PyCFunction)py_encode_string_buffers, METH_VARARGS,
     "encode_string_buffers(data, offsets) -> bytes: a Native String column from Arrow's buffers"},
    {"encode_strings", (PyCFunction)py_encode_strings, METH_O,
     "encode_strings(seq) -> bytes: a Native String column from str/bytes values"},
    {"decode_block", (PyCFunction)(void (*)(void))py_decode_block, METH_VARARGS | METH_KEYWORDS,
     "decode_block(data, tz=None, strings_as_bytes=False, columnar=0) -> (names, types, data)"},
    {NULL, NULL, 0, NULL},
};

static PyObject *nd_get_buffered(NativeDecoder *self, void *Py_UNUSED(c)) {
    return PyLong_FromSize_t(self->buf.len - self->start);
}

static PyMethodDef nd_methods[] = {
    {"feed", (PyCFunction)nd_feed, METH_O, "feed(data): append bytes received from the server."},
    {"get", (PyCFunction)nd_get, METH_NOARGS,
     "get() -> (names, types, rows_or_columns) for the next complete block, or False."},
    {"get_raw", (PyCFunction)nd_get_raw, METH_NOARGS, "get_raw() -> bytes of the next complete block, or False."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef nd_getset[] = {
    {"buffered", (getter)nd_get_buffered, NULL, "bytes fed but not yet returned as a block", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject NativeDecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "clickhouse_backend._engine.NativeDecoder",
    .tp_basicsize = sizeof(NativeDecoder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "NativeDecoder(tz=None, strings_as_bytes=False, columnar=False): incremental "
              "ClickHouse Native-format decoder (feed()/get(), hiredis style).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)nd_init,
    .tp_dealloc = (destructor)nd_dealloc,
    .tp_traverse = (traverseproc)nd_traverse,
    .tp_clear = (inquiry)nd_clear,
    .tp_methods = nd_methods,
    .tp_getset = nd_getset,
};

int py_native_register(PyObject *m) {
    if (PyType_Ready(&NativeDecoderType) < 0) return -1;
    if (PyModule_AddFunctions(m, nd_functions) < 0) return -1;
    return PyModule_AddObjectRef(m, "NativeDecoder", (PyObject *)&NativeDecoderType);
}
