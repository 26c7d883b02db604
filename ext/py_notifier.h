/* _engine.Notifier: wakes an asyncio loop from the engine thread; streams created
 * with one resolve their armed future from Notifier.dispatch(). */
#ifndef CHB_PY_NOTIFIER_H
#define CHB_PY_NOTIFIER_H
#include <Python.h>

struct chb_notifier;
extern PyTypeObject PyNotifierType;
/* The engine notifier of o: NULL for None, or NULL with TypeError for another type. */
struct chb_notifier *py_notifier_get(PyObject *o);
int py_notifier_register(PyObject *m);
#endif
