/* The compression-kind argument of the Python bindings of ext/decompress.c
 * (compress() in _engine, Decompressor in _engine_testing). */
#ifndef CHB_PY_DECOMPRESS_H
#define CHB_PY_DECOMPRESS_H
#include <Python.h>
#include <string.h>
#include "decompress.h"

/* dc kind for "gzip" / "deflate" / "zstd" (case-insensitive); -1 with ValueError set. */
static inline int chb_py_dc_kind(const char *name) {
    int k = dc_kind_from_name(name, strlen(name));
    if (k <= 0) {
        PyErr_Format(PyExc_ValueError, "unknown compression kind '%s' (use 'gzip', 'deflate' or 'zstd')", name);
        return -1;
    }
    return k;
}
#endif
