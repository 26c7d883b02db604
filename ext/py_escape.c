/* Python bindings of the literal escaping: quote(), format_query(), format_rows(); and of
 * the typed insert body beside it: native_rows(). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "escape.h"
#include "native_encode.h"

static PyObject *py_quote(PyObject *Py_UNUSED(m), PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"value", "server_version", NULL};
    PyObject *value, *sv = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$O:quote", kwlist, &value, &sv)) return NULL;
    chb_buf b;
    chb_buf_init(&b);
    if (esc_literal(&b, value, sv)) {
        chb_buf_free(&b);
        return NULL;
    }
    PyObject *r = PyUnicode_DecodeUTF8(b.len ? (const char *)b.data : "", (Py_ssize_t)b.len, "strict");
    chb_buf_free(&b);
    return r;
}

static PyObject *py_format_query(PyObject *Py_UNUSED(m), PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"query", "params", "server_version", NULL};
    PyObject *query, *params = Py_None, *sv = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O$O:format_query", kwlist, &query, &params, &sv)) return NULL;
    return esc_format_query(query, params, sv);
}

static PyObject *py_format_rows(PyObject *Py_UNUSED(m), PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"rows", "server_version", "checks", NULL};
    PyObject *rows, *sv = Py_None, *checks = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$OO:format_rows", kwlist, &rows, &sv, &checks)) return NULL;
    return esc_format_rows(rows, sv, checks);
}

static PyObject *py_native_rows(PyObject *Py_UNUSED(m), PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"rows", "columns", "checks", "head", NULL};
    PyObject *rows, *columns, *checks = Py_None, *head = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$OS:native_rows", kwlist, &rows, &columns, &checks, &head))
        return NULL;
    if (!head) {
        PyObject *empty = PyBytes_FromStringAndSize("", 0), *r = empty ? ne_rows(rows, columns, checks, empty) : NULL;
        Py_XDECREF(empty);
        return r;
    }
    return ne_rows(rows, columns, checks, head);
}

#define KW(f) (PyCFunction)(void (*)(void))(f), METH_VARARGS | METH_KEYWORDS
static PyMethodDef esc_methods[] = {
    {"quote", KW(py_quote), "quote(value, *, server_version=None) -> ClickHouse SQL literal (str)"},
    {"format_query", KW(py_format_query),
     "format_query(query, params=None, *, server_version=None) -> str with %s / %(name)s replaced by literals"},
    {"format_rows", KW(py_format_rows),
     "format_rows(rows, *, server_version=None, checks=None) -> b\"(v1,v2),(v1,v2)...\" for INSERT ... VALUES;\n"
     "checks (driver/typecheck.py column_checks()): DataError for a value its column would not store exactly"},
    {"native_rows", KW(py_native_rows),
     "native_rows(rows, columns, *, checks=None, head=b\"\") -> head + a Native block of rows, or None when a\n"
     "value is not one it writes as the VALUES text would be stored (driver/native_insert.py)"},
    {NULL, NULL, 0, NULL},
};

int py_escape_register(PyObject *m) {
    if (esc_init() < 0 || ne_init() < 0) return -1;
    if (PyModule_AddObjectRef(m, "ServerVersionNeeded", esc_ServerVersionNeeded) < 0) return -1;
    return PyModule_AddFunctions(m, esc_methods);
}
