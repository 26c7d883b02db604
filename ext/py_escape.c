/* Python bindings of the literal escaping: quote(), format_query(), format_rows(). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "escape.h"

static PyObject *py_quote(PyObject *Py_UNUSED(m), PyObject *value) {
    chb_buf b;
    chb_buf_init(&b);
    if (esc_literal(&b, value)) {
        chb_buf_free(&b);
        return NULL;
    }
    PyObject *r = PyUnicode_DecodeUTF8(b.len ? (const char *)b.data : "", (Py_ssize_t)b.len, "strict");
    chb_buf_free(&b);
    return r;
}

static PyObject *py_format_query(PyObject *Py_UNUSED(m), PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"query", "params", NULL};
    PyObject *query, *params = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:format_query", kwlist, &query, &params)) return NULL;
    return esc_format_query(query, params);
}

static PyObject *py_format_rows(PyObject *Py_UNUSED(m), PyObject *rows) { return esc_format_rows(rows); }

static PyMethodDef esc_methods[] = {
    {"quote", (PyCFunction)py_quote, METH_O, "quote(value) -> ClickHouse SQL literal (str)"},
    {"format_query", (PyCFunction)(void (*)(void))py_format_query, METH_VARARGS | METH_KEYWORDS,
     "format_query(query, params=None) -> str with %s / %(name)s replaced by literals"},
    {"format_rows", (PyCFunction)py_format_rows, METH_O,
     "format_rows(rows) -> b\"(v1,v2),(v1,v2)...\" for INSERT ... VALUES"},
    {NULL, NULL, 0, NULL},
};

int py_escape_register(PyObject *m) {
    if (esc_init() < 0) return -1;
    return PyModule_AddFunctions(m, esc_methods);
}
