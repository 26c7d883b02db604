/* Python row tuples -> one ClickHouse Native block, for executemany() INSERTs sent as
 * `INSERT INTO t (cols) FORMAT Native` instead of VALUES text (issue 14 §6): typed
 * binary, so nothing is printed by the client and parsed again by the server.
 * Which column types it takes, and every timezone, are decided in Python
 * (driver/native_insert.py); the per-value work runs here. GIL held. */
#ifndef CHB_NATIVE_ENCODE_H
#define CHB_NATIVE_ENCODE_H
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

/* Pure helpers (no Python). */
/* ClickHouse's VarUInt (LEB128) of v at p (at most 10 bytes); returns the bytes written. */
size_t ne_varint(uint8_t *p, uint64_t v);
/* The low `size` bytes of v, little-endian, at p. */
void ne_le(uint8_t *p, uint64_t v, int size);

/* Import what the encoder needs (datetime C API, uuid.UUID); 0, or -1 with an exception. */
int ne_init(void);
/* head + the Native block of rows (a list or tuple of tuples/lists).
 * columns: one (name, type_name, base, nullable, arg, zone) per column: base one of Int8..Int64,
 * UInt8..UInt64, Float32, Float64, Bool, String, FixedString (arg: its N), Date, Date32,
 * DateTime, DateTime64 (arg: its precision), UUID; nullable: Nullable(base); zone: the tzinfo
 * a naive datetime is read in (None: UTC).
 * checks: as esc_format_rows's (typecheck.h): each value is checked first, in row order, and
 * a value that does not fit raises the same DataError as the VALUES text would.
 * Returns the bytes; Py_None when a value is not one this encoder writes exactly as the VALUES
 * text would be stored (a str into an Int column, a naive time a DST change skips or repeats,
 * a row of another width...): the caller then sends VALUES text; NULL with an exception. */
PyObject *ne_rows(PyObject *rows, PyObject *columns, PyObject *checks, PyObject *head);
#endif
