/* Thin Python binding of the streaming decoders and the body compressor, for tests.
 *
 *   d = Decompressor("gzip" | "deflate" | "zstd", max_output=0, max_ratio=0)
 *   d.feed(data) -> bytes      # decoded so far; ValueError on corrupt data or a limit
 *   d.finish()                 # ValueError if the stream was truncated
 *   d.total_in, d.total_out
 *   compress("gzip" | "zstd", data, level=0) -> bytes
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "decompress.h"

typedef struct {
    PyObject_HEAD
    dc_stream *d;
} DCObject;

static int kind_arg(const char *name) {
    int k = dc_kind_from_name(name, strlen(name));
    if (k <= 0) {
        PyErr_Format(PyExc_ValueError, "unknown compression kind '%s' (use 'gzip', 'deflate' or 'zstd')", name);
        return -1;
    }
    return k;
}

static int dc_obj_init(DCObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"kind", "max_output", "max_ratio", NULL};
    const char *kind;
    unsigned long long max_output = 0;
    double max_ratio = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|Kd", kwlist, &kind, &max_output, &max_ratio)) return -1;
    int k = kind_arg(kind);
    if (k < 0) return -1;
    if (!(max_ratio >= 0)) {
        PyErr_SetString(PyExc_ValueError, "max_ratio must be >= 0");
        return -1;
    }
    dc_stream *d = dc_new(k, (uint64_t)max_output, max_ratio);
    if (!d) {
        PyErr_NoMemory();
        return -1;
    }
    dc_free(self->d); /* __init__ may run twice */
    self->d = d;
    return 0;
}

static void dc_obj_dealloc(DCObject *self) {
    dc_free(self->d);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int collect(void *ud, const uint8_t *data, size_t n) {
    return chb_buf_append(ud, data, n) ? -2 : 0;
}

static PyObject *raise_dc(DCObject *self, int rc) {
    if (rc == -2) return PyErr_NoMemory();
    PyErr_SetString(PyExc_ValueError, dc_error(self->d));
    return NULL;
}

static int ready(DCObject *self) {
    if (self->d) return 1;
    PyErr_SetString(PyExc_RuntimeError, "Decompressor.__init__ was not called");
    return 0;
}

static PyObject *dc_obj_feed(DCObject *self, PyObject *arg) {
    if (!ready(self)) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    chb_buf out;
    chb_buf_init(&out);
    int rc = dc_feed(self->d, view.buf, (size_t)view.len, collect, &out);
    PyBuffer_Release(&view);
    PyObject *res = rc ? raise_dc(self, rc) : PyBytes_FromStringAndSize((const char *)out.data, (Py_ssize_t)out.len);
    chb_buf_free(&out);
    return res;
}

static PyObject *dc_obj_finish(DCObject *self, PyObject *Py_UNUSED(ignored)) {
    if (!ready(self)) return NULL;
    int rc = dc_finish(self->d);
    if (rc) return raise_dc(self, rc);
    Py_RETURN_NONE;
}

static PyObject *dc_obj_total_in(DCObject *self, void *Py_UNUSED(c)) {
    return ready(self) ? PyLong_FromUnsignedLongLong(dc_total_in(self->d)) : NULL;
}
static PyObject *dc_obj_total_out(DCObject *self, void *Py_UNUSED(c)) {
    return ready(self) ? PyLong_FromUnsignedLongLong(dc_total_out(self->d)) : NULL;
}

static PyMethodDef dc_methods[] = {
    {"feed", (PyCFunction)dc_obj_feed, METH_O, "feed(data) -> decoded bytes"},
    {"finish", (PyCFunction)dc_obj_finish, METH_NOARGS, "end of input; ValueError if truncated"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef dc_getset[] = {
    {"total_in", (getter)dc_obj_total_in, NULL, "encoded bytes consumed", NULL},
    {"total_out", (getter)dc_obj_total_out, NULL, "decoded bytes produced", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject DCType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "clickhouse_backend._engine.Decompressor",
    .tp_basicsize = sizeof(DCObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "streaming gzip/deflate/zstd decoder (test binding of ext/decompress.c)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)dc_obj_init,
    .tp_dealloc = (destructor)dc_obj_dealloc,
    .tp_methods = dc_methods,
    .tp_getset = dc_getset,
};

static PyObject *py_compress(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"kind", "data", "level", NULL};
    const char *kind;
    Py_buffer view;
    int level = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sy*|i", kwlist, &kind, &view, &level)) return NULL;
    int k = kind_arg(kind);
    chb_buf out;
    chb_buf_init(&out);
    int rc = 0;
    if (k > 0) {
        Py_BEGIN_ALLOW_THREADS
        rc = dc_compress(k, view.buf, (size_t)view.len, &out, level);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&view);
    PyObject *res = NULL;
    if (k < 0) {
        /* error already set */
    } else if (rc == -1) {
        PyErr_NoMemory();
    } else if (rc) {
        PyErr_Format(PyExc_ValueError, "%s (kind %s, level %d)", dc_compress_strerror(rc), kind, level);
    } else {
        res = PyBytes_FromStringAndSize((const char *)out.data, (Py_ssize_t)out.len);
    }
    chb_buf_free(&out);
    return res;
}

static PyMethodDef functions[] = {
    {"compress", (PyCFunction)(void (*)(void))py_compress, METH_VARARGS | METH_KEYWORDS,
     "compress(kind, data, level=0) -> bytes: one gzip member / zstd frame"},
    {NULL, NULL, 0, NULL},
};

int py_decompress_register(PyObject *m) {
    if (PyType_Ready(&DCType) < 0) return -1;
    Py_INCREF(&DCType);
    if (PyModule_AddObject(m, "Decompressor", (PyObject *)&DCType) < 0) {
        Py_DECREF(&DCType);
        return -1;
    }
    return PyModule_AddFunctions(m, functions);
}
