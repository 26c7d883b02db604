/* PEP 249 exception classes. They are defined in Python
 * (clickhouse_backend/driver/exceptions.py) and handed to the extension once at
 * import through _engine.set_exceptions(); C code raises them through chb_exc(). */
#ifndef CHB_ERRORS_H
#define CHB_ERRORS_H
#include <Python.h>

typedef enum {
    CHB_EXC_Warning,
    CHB_EXC_Error,
    CHB_EXC_InterfaceError,
    CHB_EXC_DatabaseError,
    CHB_EXC_DataError,
    CHB_EXC_OperationalError,
    CHB_EXC_IntegrityError,
    CHB_EXC_InternalError,
    CHB_EXC_ProgrammingError,
    CHB_EXC_NotSupportedError,
    CHB_EXC_PoolTimeout,
    CHB_EXC__COUNT
} chb_exc_kind;

/* Borrowed reference to the class; RuntimeError until set_exceptions() ran. */
PyObject *chb_exc(chb_exc_kind kind);
/* _engine.set_exceptions(classes, factory) */
PyObject *chb_set_exceptions(PyObject *self, PyObject *args);
/* Set by _engine.set_exceptions(): factory(kind, code, message, http_status, query_id)
 * builds the PEP 249 exception for an engine error. */
extern PyObject *chb_error_factory;
#endif
