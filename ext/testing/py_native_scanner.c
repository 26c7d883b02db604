/* Test binding of the Native framing scanner (ext/native_scan.c), in _engine_testing:
 * the pure-C scanner as the engine thread drives it, without the decoder.
 *
 *   s = NativeScanner()
 *   s.scan(data) -> 0 (need more bytes) | block length; data is every byte of the
 *                   current block received so far; ValueError on a bad block
 *   s.reset()      before the next block
 *   s.work         scanning steps so far (for linearity tests)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "native_scan.h"

typedef struct {
    PyObject_HEAD
    nd_scanner *sc;
} NSObject;

static int ns_init(NSObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, ":NativeScanner", kwlist)) return -1;
    if (!self->sc && !(self->sc = nd_scanner_new())) { PyErr_NoMemory(); return -1; }
    nd_scanner_reset(self->sc);
    return 0;
}

static void ns_dealloc(NSObject *self) {
    nd_scanner_free(self->sc);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(NSObject *self) {
    if (self->sc) return 1;
    PyErr_SetString(PyExc_RuntimeError, "NativeScanner.__init__ was not called");
    return 0;
}

static PyObject *ns_scan(NSObject *self, PyObject *arg) {
    if (!ready(self)) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    ptrdiff_t r = nd_scan(self->sc, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (r < 0) {
        PyErr_Format(PyExc_ValueError, "%s%s", nd_scanner_error_kind(self->sc) == ND_ERR_UNSUPPORTED ? "unsupported: " : "",
                     nd_scanner_error(self->sc));
        return NULL;
    }
    return PyLong_FromSsize_t(r);
}

static PyObject *ns_reset(NSObject *self, PyObject *Py_UNUSED(ignored)) {
    if (!ready(self)) return NULL;
    nd_scanner_reset(self->sc);
    Py_RETURN_NONE;
}

static PyObject *ns_work(NSObject *self, void *Py_UNUSED(c)) {
    return ready(self) ? PyLong_FromUnsignedLongLong(nd_scanner_work(self->sc)) : NULL;
}

static PyMethodDef ns_methods[] = {
    {"scan", (PyCFunction)ns_scan, METH_O, "scan(data) -> 0 (need more) | block length; ValueError on a bad block"},
    {"reset", (PyCFunction)ns_reset, METH_NOARGS, "before the next block"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ns_getset[] = {
    {"work", (getter)ns_work, NULL, "scanning steps so far (not reset per block)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject NSType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "clickhouse_backend._engine_testing.NativeScanner",
    .tp_basicsize = sizeof(NSObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "resumable Native block framing (test binding of ext/native_scan.c)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ns_init,
    .tp_dealloc = (destructor)ns_dealloc,
    .tp_methods = ns_methods,
    .tp_getset = ns_getset,
};

int py_native_scanner_register(PyObject *m) {
    if (PyType_Ready(&NSType) < 0) return -1;
    return PyModule_AddObjectRef(m, "NativeScanner", (PyObject *)&NSType);
}
