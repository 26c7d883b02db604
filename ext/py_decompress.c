/* Python binding of the body compressor (ext/decompress.c): compress() for request
 * bodies. The streaming Decompressor is a test binding (ext/testing/py_decompressor.c).
 *
 *   compress("gzip" | "zstd", data, level=0) -> bytes
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "py_decompress.h"

static PyObject *py_compress(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"kind", "data", "level", NULL};
    const char *kind;
    Py_buffer view;
    int level = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sy*|i", kwlist, &kind, &view, &level)) return NULL;
    int k = chb_py_dc_kind(kind);
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
    return PyModule_AddFunctions(m, functions);
}
