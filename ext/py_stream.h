/* _engine.Stream: one query's response as its consumer reads it. */
#ifndef CHB_PY_STREAM_H
#define CHB_PY_STREAM_H
#include <Python.h>
#include "request.h"

/* A stream over r, taking the caller's reference to r. */
PyObject *py_stream_new(chb_request *r, PyObject *tz, int strings_as_bytes, int columnar);
/* Notifier.dispatch(): resolve the stream's armed future; 1 if woken, 0 if none, -1 on error. */
int py_stream_wake(PyObject *stream);
int py_stream_register(PyObject *m);
#endif
