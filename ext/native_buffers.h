/* ClickHouse Native format, columnar modes 2-4 (docs/columnar.md): a column as raw
 * buffers for NumPy / Arrow instead of one Python value per row. GIL held. */
#ifndef CHB_NATIVE_BUFFERS_H
#define CHB_NATIVE_BUFFERS_H
#include "native_decode.h"

/* The column of n rows at r->p as a buffer tuple (see native_buffers.c); mode is
 * nd_options.columnar (2, 3 or 4). New reference, or NULL with an exception set. */
PyObject *nd_buffer_column(nd_reader *r, const nd_type *t, uint64_t n, int mode);
#endif
