/* _engine.Notifier: wakes an asyncio loop from the engine thread (one per loop). */
#include "py_notifier.h"

#include "notifier.h"
#include "py_stream.h"
#include "request.h"

typedef struct {
    PyObject_HEAD
    chb_notifier *n;
} NotifierObject;

static PyObject *Notifier_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    NotifierObject *self = (NotifierObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->n = chb_notifier_new();
    if (!self->n) {
        Py_DECREF(self);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return (PyObject *)self;
}

static void Notifier_dealloc(NotifierObject *self) {
    if (self->n) chb_notifier_decref(self->n);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Notifier_fileno(NotifierObject *self, PyObject *unused) { return PyLong_FromLong(self->n->efd); }

/* Called by the asyncio loop when the eventfd is readable: wake every armed stream
 * whose request has news. */
static PyObject *Notifier_dispatch(NotifierObject *self, PyObject *unused) {
    chb_request *r = chb_notifier_take(self->n);
    long woken = 0;
    int failed = 0;
    while (r) {
        chb_request *next = r->ready_next;
        pthread_mutex_lock(&r->mu);
        r->in_ready_list = 0;
        r->ready_next = NULL;
        PyObject *s = r->armed;
        r->armed = NULL;
        pthread_mutex_unlock(&r->mu);
        if (s) {
            int rc = failed ? 0 : py_stream_wake(s);
            if (rc < 0) failed = 1;
            woken += rc > 0;
            Py_DECREF(s); /* reference taken by arm() */
        }
        chb_req_decref(r); /* the ready list's reference */
        r = next;
    }
    if (failed) return NULL;
    return PyLong_FromLong(woken);
}

static PyMethodDef Notifier_methods[] = {
    {"fileno", (PyCFunction)Notifier_fileno, METH_NOARGS, "eventfd to register with loop.add_reader()"},
    {"dispatch", (PyCFunction)Notifier_dispatch, METH_NOARGS, "wake the futures of ready streams"},
    {NULL},
};

PyTypeObject PyNotifierType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "clickhouse_backend._engine.Notifier",
    .tp_basicsize = sizeof(NotifierObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Notifier_new,
    .tp_dealloc = (destructor)Notifier_dealloc,
    .tp_methods = Notifier_methods,
    .tp_doc = "Wakes an asyncio loop from the engine thread (one per loop).",
};

chb_notifier *py_notifier_get(PyObject *o) {
    if (o == Py_None) return NULL;
    if (!PyObject_TypeCheck(o, &PyNotifierType)) {
        PyErr_SetString(PyExc_TypeError, "notifier must be a Notifier");
        return NULL;
    }
    return ((NotifierObject *)o)->n;
}

int py_notifier_register(PyObject *m) {
    if (PyType_Ready(&PyNotifierType) < 0) return -1;
    return PyModule_AddObjectRef(m, "Notifier", (PyObject *)&PyNotifierType);
}
