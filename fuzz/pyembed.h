/* Embedded CPython for the harnesses whose targets need the Python C API (the
 * Native decoder, the literal escaper). Only the component under test is linked
 * in (instrumented), not the whole extension: the harness supplies chb_exc()
 * itself, backed by the real clickhouse_backend/driver/exceptions.py, so the
 * fuzzer sees exactly the exception classes users see. */
#ifndef CHB_FUZZ_PYEMBED_H
#define CHB_FUZZ_PYEMBED_H
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>

#include "errors.h"

#ifndef REPO_DIR
#error "build with -DREPO_DIR=\"/path/to/repo\""
#endif

static PyObject *fz_classes[CHB_EXC__COUNT];
static PyObject *fz_interface_error, *fz_not_supported, *fz_programming_error, *fz_data_error;

PyObject *chb_exc(chb_exc_kind kind) {
    if (kind >= 0 && kind < CHB_EXC__COUNT && fz_classes[kind]) return fz_classes[kind];
    return PyExc_RuntimeError;
}

static void fz_die(const char *what) {
    fprintf(stderr, "harness init failed: %s\n", what);
    if (PyErr_Occurred()) PyErr_Print();
    abort();
}

static void fz_python_init(void) {
    static const char *names[CHB_EXC__COUNT] = {
        "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
        "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError", "PoolTimeout",
    };
    Py_InitializeEx(0);
    PyObject *util = PyImport_ImportModule("importlib.util");
    if (!util) fz_die("importlib.util");
    PyObject *spec = PyObject_CallMethod(util, "spec_from_file_location", "ss", "chb_exceptions",
                                         REPO_DIR "/clickhouse_backend/driver/exceptions.py");
    PyObject *mod = spec ? PyObject_CallMethod(util, "module_from_spec", "O", spec) : NULL;
    PyObject *loader = spec ? PyObject_GetAttrString(spec, "loader") : NULL;
    PyObject *r = loader ? PyObject_CallMethod(loader, "exec_module", "O", mod) : NULL;
    if (!r) fz_die("loading exceptions.py");
    for (int i = 0; i < CHB_EXC__COUNT; i++)
        if (!(fz_classes[i] = PyObject_GetAttrString(mod, names[i]))) fz_die(names[i]);
    fz_interface_error = fz_classes[CHB_EXC_InterfaceError];
    fz_not_supported = fz_classes[CHB_EXC_NotSupportedError];
    fz_programming_error = fz_classes[CHB_EXC_ProgrammingError];
    fz_data_error = fz_classes[CHB_EXC_DataError];
    Py_DECREF(r);
    Py_DECREF(loader);
    Py_DECREF(spec);
    Py_DECREF(util);
}

/* An exception other than the allowed ones escaping a C entry point is a bug:
 * users must get a PEP 249 error, never SystemError/ValueError/... */
static void fz_expect_error(PyObject *allowed1, PyObject *allowed2, const char *where) {
    if (!PyErr_Occurred()) {
        fprintf(stderr, "%s returned NULL without an exception\n", where);
        abort();
    }
    if (PyErr_ExceptionMatches(allowed1) || (allowed2 && PyErr_ExceptionMatches(allowed2))) {
        PyErr_Clear();
        return;
    }
    fprintf(stderr, "%s raised an unexpected exception type:\n", where);
    PyErr_Print();
    abort();
}
#endif
