/* clickhouse_backend._engine: module init and registration of every component's
 * Python types (the exception classes are errors.c's). */
#include <Python.h>

#include "errors.h"
#include "columnar_strings.h"
#include "py_client.h"

int py_native_register(PyObject *m);
int py_escape_register(PyObject *m);
int py_decompress_register(PyObject *m);

static PyMethodDef module_methods[] = {
    {"set_exceptions", chb_set_exceptions, METH_VARARGS, "hand the PEP 249 exception classes to the engine"},
    {NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "clickhouse_backend._engine",
    "libevent engine, HTTP client, Native decoder and escaping for clickhouse_backend.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__engine(void) {
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    if (py_client_register(m) < 0 || py_native_register(m) < 0 || py_escape_register(m) < 0 ||
        py_decompress_register(m) < 0 || py_columnar_strings_register(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#ifdef CHB_DEBUG
    PyModule_AddIntConstant(m, "DEBUG", 1);
#else
    PyModule_AddIntConstant(m, "DEBUG", 0);
#endif
    return m;
}
