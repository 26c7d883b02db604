/* Python value -> ClickHouse SQL literal, client-side query binding (GIL held). */
#ifndef CHB_ESCAPE_H
#define CHB_ESCAPE_H
#include <Python.h>
#include "buf.h"

/* Import datetime/decimal/uuid/ipaddress and cache their classes. Called once by
 * py_escape_register(); 0, or -1 with an exception. */
int esc_init(void);
/* The server a literal is written for, `sv` below: NULL or None -> a current server; a tuple
 * of ints -> that version (before 20.1, an aware datetime with microseconds raises
 * NotSupportedError naming it: there is no DateTime64); () -> not known yet: such a
 * datetime raises esc_ServerVersionNeeded, so the caller can ask the server and retry. */
extern PyObject *esc_ServerVersionNeeded;
/* Append the ClickHouse SQL literal for a Python value to out. 0, or -1 with a Python exception set
 * (chb_exc(CHB_EXC_ProgrammingError) for an unsupported type, naming it). */
int esc_literal(chb_buf *out, PyObject *value, PyObject *sv);
/* Client-side binding. params None -> query returned unchanged (no % processing). A sequence -> paramstyle
 * 'format' (%s); a mapping -> 'pyformat' (%(name)s). '%%' -> '%'. Wrong count / missing key / bad
 * placeholder -> ProgrammingError with a clear message. Returns a new str, or NULL with exception. */
PyObject *esc_format_query(PyObject *query, PyObject *params, PyObject *sv);
/* For executemany INSERT: rows (iterable of sequences) -> bytes "(l1,l2),(l1,l2),..." in one buffer.
 * checks: NULL/None, or one entry per column (typecheck.h): a value its column would not store
 * exactly raises DataError naming its row and column, and nothing is returned. */
PyObject *esc_format_rows(PyObject *rows, PyObject *sv, PyObject *checks);
#endif
