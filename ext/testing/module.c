/* clickhouse_backend._engine_testing: bindings of the engine's I/O-free parsers that
 * only the tests use (the HTTP/1.1 response parser, the streaming decompressors, the
 * Native framing scanner). Built only with CHB_TEST_EXT=1 (setup.py), never shipped
 * in the product module clickhouse_backend._engine. */
#include <Python.h>

int py_httpparse_register(PyObject *m);
int py_decompressor_register(PyObject *m);
int py_native_scanner_register(PyObject *m);

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "clickhouse_backend._engine_testing",
    "test bindings of clickhouse_backend's C parsers (built with CHB_TEST_EXT=1)", -1, NULL,
};

PyMODINIT_FUNC PyInit__engine_testing(void) {
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    if (py_httpparse_register(m) < 0 || py_decompressor_register(m) < 0 || py_native_scanner_register(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
