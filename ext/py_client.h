/* _engine.Client: one endpoint (or several) with its credentials; its requests share
 * the endpoint's pool. Registers Stream and Notifier (py_stream.c, py_notifier.c) too. */
#ifndef CHB_PY_CLIENT_H
#define CHB_PY_CLIENT_H
#include <Python.h>

int py_client_register(PyObject *m);
#endif
