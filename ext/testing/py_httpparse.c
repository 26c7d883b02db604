/* Test binding of the HTTP response parser (ext/httpparse.c), in _engine_testing.
 *
 *   p = HTTPResponseParser(max_status_line=..., max_header_line=..., max_headers_size=...,
 *                          max_headers=..., pause_on=("body",))
 *   p.feed(data) -> [("status", 200, "OK"), ("header", b"Name", b"value"), ("headers_done",),
 *                    ("body", b"..."), ("done",)]      # feeds everything (resumes after pauses)
 *   p.feed_once(data) -> (consumed, events)            # exactly one hp_feed call
 *   p.eof() -> events;  p.keep_alive;  p.reset();  p.expect_no_body()
 * Parser errors raise ValueError(hp_strerror(err)).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "httpparse.h"

enum { EV_STATUS = 1, EV_HEADER = 2, EV_HEADERS_DONE = 4, EV_BODY = 8, EV_DONE = 16 };

typedef struct {
    PyObject_HEAD
    hp_parser p;
    int pause_mask;
} HPObject;

typedef struct {
    PyObject *events;
    int pause_mask;
    int failed;    /* a Python error is set */
} hp_ctx;

static int push(hp_ctx *c, PyObject *ev, int kind) {
    if (!ev || PyList_Append(c->events, ev) < 0) {
        Py_XDECREF(ev);
        c->failed = 1;
        return 1;
    }
    Py_DECREF(ev);
    return (c->pause_mask & kind) ? 1 : 0;
}

static int cb_status(void *ud, int code, const char *r, size_t n) {
    /* reasons may hold obs-text: latin-1 never fails */
    return push(ud, Py_BuildValue("(siN)", "status", code, PyUnicode_DecodeLatin1(r, (Py_ssize_t)n, NULL)),
                EV_STATUS);
}
static int cb_header(void *ud, const char *n, size_t nl, const char *v, size_t vl) {
    return push(ud, Py_BuildValue("(sy#y#)", "header", n, (Py_ssize_t)nl, v, (Py_ssize_t)vl), EV_HEADER);
}
static int cb_headers_done(void *ud) { return push(ud, Py_BuildValue("(s)", "headers_done"), EV_HEADERS_DONE); }
static int cb_body(void *ud, const char *d, size_t n) {
    return push(ud, Py_BuildValue("(sy#)", "body", d, (Py_ssize_t)n), EV_BODY);
}
static int cb_done(void *ud) { return push(ud, Py_BuildValue("(s)", "done"), EV_DONE); }

static const hp_callbacks CALLBACKS = {cb_status, cb_header, cb_headers_done, cb_body, cb_done};

static int hp_obj_init(HPObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"max_status_line", "max_header_line", "max_headers_size", "max_headers",
                             "pause_on", NULL};
    hp_limits lim;
    hp_free(&self->p); /* __init__ may run twice; the object starts zeroed */
    hp_init(&self->p, NULL);
    lim = self->p.lim;
    Py_ssize_t a = (Py_ssize_t)lim.max_status_line, b = (Py_ssize_t)lim.max_header_line,
               c = (Py_ssize_t)lim.max_headers_size, d = (Py_ssize_t)lim.max_headers;
    PyObject *pause_on = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|nnnnO", kwlist, &a, &b, &c, &d, &pause_on)) return -1;
    if (a < 0 || b < 0 || c < 0 || d < 0) {
        PyErr_SetString(PyExc_ValueError, "limits must be >= 0");
        return -1;
    }
    self->pause_mask = 0;
    if (pause_on) {
        PyObject *it = PyObject_GetIter(pause_on), *item;
        if (!it) return -1;
        while ((item = PyIter_Next(it))) {
            const char *s = PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : NULL;
            int k = !s ? 0 : !strcmp(s, "status") ? EV_STATUS : !strcmp(s, "header") ? EV_HEADER
                  : !strcmp(s, "headers_done") ? EV_HEADERS_DONE : !strcmp(s, "body") ? EV_BODY
                  : !strcmp(s, "done") ? EV_DONE : 0;
            Py_DECREF(item);
            if (!k) {
                Py_DECREF(it);
                PyErr_SetString(PyExc_ValueError, "pause_on: unknown event name");
                return -1;
            }
            self->pause_mask |= k;
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) return -1;
    }
    lim.max_status_line = (size_t)a;
    lim.max_header_line = (size_t)b;
    lim.max_headers_size = (size_t)c;
    lim.max_headers = (size_t)d;
    hp_init(&self->p, &lim);
    return 0;
}

static void hp_obj_dealloc(HPObject *self) {
    hp_free(&self->p);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *raise_hp(int err) {
    PyErr_SetString(PyExc_ValueError, hp_strerror(err));
    return NULL;
}

/* One hp_feed call. Returns consumed (>= 0) or -1 with a Python error. */
static Py_ssize_t feed_one(HPObject *self, hp_ctx *c, const char *d, size_t n, int *paused) {
    ptrdiff_t r = hp_feed(&self->p, d, n, &CALLBACKS, c);
    *paused = 0;
    if (c->failed) return -1;
    if (r == HP_ERR_CALLBACK) {
        *paused = 1;
        return (Py_ssize_t)hp_consumed(&self->p);
    }
    if (r < 0) {
        raise_hp((int)r);
        return -1;
    }
    return (Py_ssize_t)r;
}

static PyObject *hp_obj_feed(HPObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    hp_ctx c = {PyList_New(0), self->pause_mask, 0};
    if (!c.events) goto fail;
    const char *d = view.buf;
    size_t n = (size_t)view.len, off = 0;
    int paused;
    /* hp_feed stops after each message and each pause: resume until all is used and a
     * pause did not leave an event (e.g. on_done) pending */
    do {
        Py_ssize_t r = feed_one(self, &c, d + off, n - off, &paused);
        if (r < 0) goto fail;
        off += (size_t)r;
    } while (off < n || paused);
    PyBuffer_Release(&view);
    return c.events;
fail:
    PyBuffer_Release(&view);
    Py_XDECREF(c.events);
    return NULL;
}

static PyObject *hp_obj_feed_once(HPObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    hp_ctx c = {PyList_New(0), self->pause_mask, 0};
    Py_ssize_t r = -1;
    int paused;
    if (c.events) r = feed_one(self, &c, view.buf, (size_t)view.len, &paused);
    (void)paused;
    PyBuffer_Release(&view);
    if (r < 0) {
        Py_XDECREF(c.events);
        return NULL;
    }
    return Py_BuildValue("(nN)", r, c.events);
}

static PyObject *hp_obj_eof(HPObject *self, PyObject *Py_UNUSED(ignored)) {
    hp_ctx c = {PyList_New(0), 0, 0};
    if (!c.events) return NULL;
    int r = hp_eof(&self->p, &CALLBACKS, &c);
    if (c.failed || (r < 0 && r != HP_ERR_CALLBACK)) {
        Py_DECREF(c.events);
        return c.failed ? NULL : raise_hp(r);
    }
    return c.events;
}

static PyObject *hp_obj_reset(HPObject *self, PyObject *Py_UNUSED(ignored)) {
    hp_reset(&self->p);
    Py_RETURN_NONE;
}

static PyObject *hp_obj_expect_no_body(HPObject *self, PyObject *Py_UNUSED(ignored)) {
    hp_expect_no_body(&self->p);
    Py_RETURN_NONE;
}

static PyObject *hp_obj_keep_alive(HPObject *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(hp_keep_alive(&self->p));
}

static PyMethodDef hp_methods[] = {
    {"feed", (PyCFunction)hp_obj_feed, METH_O, "feed(data) -> list of events"},
    {"feed_once", (PyCFunction)hp_obj_feed_once, METH_O, "feed_once(data) -> (consumed, events)"},
    {"eof", (PyCFunction)hp_obj_eof, METH_NOARGS, "eof() -> list of events"},
    {"reset", (PyCFunction)hp_obj_reset, METH_NOARGS, "reset for a new connection"},
    {"expect_no_body", (PyCFunction)hp_obj_expect_no_body, METH_NOARGS, "next response answers HEAD"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef hp_getset[] = {
    {"keep_alive", (getter)hp_obj_keep_alive, NULL, "connection reusable after this response", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject HPType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "clickhouse_backend._engine_testing.HTTPResponseParser",
    .tp_basicsize = sizeof(HPObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "I/O-free HTTP/1.1 response parser (test/fuzz binding)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)hp_obj_init,
    .tp_dealloc = (destructor)hp_obj_dealloc,
    .tp_methods = hp_methods,
    .tp_getset = hp_getset,
};

int py_httpparse_register(PyObject *m) {
    if (PyType_Ready(&HPType) < 0) return -1;
    Py_INCREF(&HPType);
    if (PyModule_AddObject(m, "HTTPResponseParser", (PyObject *)&HPType) < 0) {
        Py_DECREF(&HPType);
        return -1;
    }
    return 0;
}
