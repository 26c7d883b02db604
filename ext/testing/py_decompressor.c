/* Test binding of the streaming decoders (ext/decompress.c), in _engine_testing.
 *
 *   d = Decompressor("gzip" | "deflate" | "zstd", max_output=0, max_ratio=0)
 *   d.feed(data) -> bytes      # decoded so far; ValueError on corrupt data or a limit
 *   d.finish()                 # ValueError if the stream was truncated
 *   d.total_in, d.total_out
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "py_decompress.h"

typedef struct {
    PyObject_HEAD
    dc_stream *d;
} DCObject;

static int dc_obj_init(DCObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"kind", "max_output", "max_ratio", NULL};
    const char *kind;
    unsigned long long max_output = 0;
    double max_ratio = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|Kd", kwlist, &kind, &max_output, &max_ratio)) return -1;
    int k = chb_py_dc_kind(kind);
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
    .tp_name = "clickhouse_backend._engine_testing.Decompressor",
    .tp_basicsize = sizeof(DCObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "streaming gzip/deflate/zstd decoder (test binding of ext/decompress.c)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)dc_obj_init,
    .tp_dealloc = (destructor)dc_obj_dealloc,
    .tp_methods = dc_methods,
    .tp_getset = dc_getset,
};

int py_decompressor_register(PyObject *m) {
    if (PyType_Ready(&DCType) < 0) return -1;
    return PyModule_AddObjectRef(m, "Decompressor", (PyObject *)&DCType);
}
