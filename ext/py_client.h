/* Python types over the engine: Client (one endpoint + credentials), Stream (one
 * query's response), Notifier (wakes an asyncio loop). */
#ifndef CHB_PY_CLIENT_H
#define CHB_PY_CLIENT_H
#include <Python.h>

int py_client_register(PyObject *m);
/* Set by _engine.set_exceptions(): builds the PEP 249 exception for an engine error. */
extern PyObject *chb_error_factory;
#endif
