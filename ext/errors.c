/* The PEP 249 exception classes handed over from Python, and the factory that
 * builds the exception of an engine error (errors.h). */
#include "errors.h"

PyObject *chb_error_factory;

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
PyObject *chb_set_exceptions(PyObject *self, PyObject *args) {
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
