/* ClickHouse Native format: one complete block -> Python values (GIL held). The
 * block was framed by nd_scan (native_scan.h); the type names are parsed again here
 * with nd_parse_type (native_type.h). See docs/types.md for the type mapping. */
#ifndef CHB_NATIVE_DECODE_H
#define CHB_NATIVE_DECODE_H
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include "native_type.h"

typedef struct {
    PyObject *tz;           /* borrowed tzinfo or NULL: for DateTime/DateTime64 columns without their own timezone;
                               Py_False: every DateTime/DateTime64 naive UTC, even with a column timezone */
    int strings_as_bytes;   /* String/FixedString -> bytes instead of str */
    int columnar;           /* 1: list of columns (lists) instead of list of row tuples; 2: each column as
                               buffers for NumPy, 3: for Arrow (strings as data + offsets), 4: for NumPy with
                               String as StringDType arrays (columnar_strings.c), see native_buffers.c */
} nd_options;
/* Decode one complete block (exactly as delimited by nd_scan). Returns a new
 * reference to (names: tuple[str], types: tuple[str], data: list[tuple] | list[list]),
 * or NULL with NotSupportedError (unknown type) / InterfaceError (malformed) set. */
PyObject *nd_decode_block(const uint8_t *buf, size_t len, const nd_options *opts);

/* For native_buffers.c: the read cursor over a block and the row decoder it falls
 * back to for columns that have no buffer form. */
typedef struct {
    const uint8_t *p, *end;
    const nd_options *opts;
    const char *colname;     /* for messages */
} nd_reader;
/* Sets InterfaceError "malformed Native block: <what> (column '<name>')"; returns -1. */
int nd_malformed(nd_reader *r, const char *what);
/* Fills out[0..n) with new references and moves r->p past the column; on failure
 * out holds none. */
int nd_decode_column(nd_reader *r, const nd_type *t, uint64_t n, PyObject **out);
/* A zeroed array for n values, refused (InterfaceError) when the block cannot hold them. */
PyObject **nd_alloc_objs(nd_reader *r, uint64_t n);
void nd_clear_objs(PyObject **out, uint64_t n);

/* For native_block.c (the block driver, above both column decoders). */
int nd_py_init(void);     /* the datetime C API and interned names; -1 with an exception */
int nd_rd_var(nd_reader *r, uint64_t *v); /* a varint at r->p; -1 (malformed) if bad */
/* Whether every value nd_decode_column() makes for t is of a non-GC type. */
int nd_never_gc(const nd_type *t);
#endif
