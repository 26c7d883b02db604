/* Python value -> ClickHouse SQL literal, client-side query binding (GIL held). */
#ifndef CHB_ESCAPE_H
#define CHB_ESCAPE_H
#include <Python.h>
#include "buf.h"

/* Import datetime/decimal/uuid/ipaddress and cache their classes. Called once by
 * py_escape_register(); 0, or -1 with an exception. */
int esc_init(void);
/* Append the ClickHouse SQL literal for a Python value to out. 0, or -1 with a Python exception set
 * (chb_exc(CHB_EXC_ProgrammingError) for an unsupported type, naming it). */
int esc_literal(chb_buf *out, PyObject *value);
/* Client-side binding. params None -> query returned unchanged (no % processing). A sequence -> paramstyle
 * 'format' (%s); a mapping -> 'pyformat' (%(name)s). '%%' -> '%'. Wrong count / missing key / bad
 * placeholder -> ProgrammingError with a clear message. Returns a new str, or NULL with exception. */
PyObject *esc_format_query(PyObject *query, PyObject *params);
/* For executemany INSERT: rows (iterable of sequences) -> bytes "(l1,l2),(l1,l2),..." in one buffer. */
PyObject *esc_format_rows(PyObject *rows);
#endif
