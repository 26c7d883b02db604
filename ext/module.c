/* clickhouse_backend._engine: module init, the exception classes handed over from
 * Python, and registration of every component's Python types. */
#include <Python.h>

#include "errors.h"
#include "columnar_strings.h"
#include "py_client.h"

int py_native_register(PyObject *m);
int py_escape_register(PyObject *m);
int py_decompress_register(PyObject *m);

static PyObject *exc_classes[CHB_EXC__COUNT];

static const char *EXC_NAMES[CHB_EXC__COUNT] = {
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
    "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError", "PoolTimeout",
};

PyObject *chb_exc(chb_exc_kind kind) {
    if (kind >= 0 && kind < CHB_EXC__COUNT && exc_classes[kind]) return exc_classes[kind];
    return PyExc_RuntimeError;
}

/* set_exceptions(classes: Mapping[str, type], factory) — factory(kind, code, message,
 * http_status, query_id) builds the exception for an engine error. */
static PyObject *set_exceptions(PyObject *self, PyObject *args) {
    PyObject *classes, *factory;
    if (!PyArg_ParseTuple(args, "OO", &classes, &factory)) return NULL;
    if (!PyCallable_Check(factory)) {
        PyErr_SetString(PyExc_TypeError, "factory must be callable");
        return NULL;
    }
    for (int i = 0; i < CHB_EXC__COUNT; i++) {
        PyObject *cls = PyMapping_GetItemString(classes, EXC_NAMES[i]);
        if (!cls) return NULL;
        if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, (PyTypeObject *)PyExc_Exception)) {
            Py_DECREF(cls);
            return PyErr_Format(PyExc_TypeError, "%s must be an Exception subclass", EXC_NAMES[i]);
        }
        Py_XSETREF(exc_classes[i], cls);
    }
    Py_XSETREF(chb_error_factory, Py_NewRef(factory));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"set_exceptions", set_exceptions, METH_VARARGS, "hand the PEP 249 exception classes to the engine"},
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
