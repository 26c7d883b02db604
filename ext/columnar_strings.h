/* Native String columns as NumPy StringDType arrays (NumPy >= 2), built from the
 * block's bytes without a Python object per value. See columnar_strings.c. */
#ifndef CHB_COLUMNAR_STRINGS_H
#define CHB_COLUMNAR_STRINGS_H
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

/* GIL held. The n values of a Native String column at *pp (varint length + bytes
 * each, ending before `end`) as a 1-D numpy StringDType array; with `nulls` (a
 * Nullable's null map, 1 = NULL) the dtype is StringDType(na_object=None) and those
 * rows are NA. Returns a new reference and moves *pp past the column. NULL:
 *   *malformed set (no exception): the data is cut or a length is bad;
 *   else an exception is set: InterfaceError naming the row for a value that is not
 *   UTF-8 (StringDType holds text only), NotSupportedError without NumPy >= 2,
 *   MemoryError. */
PyObject *chb_np_strings(const uint8_t **pp, const uint8_t *end, uint64_t n, const uint8_t *nulls,
                         const char *colname, const char **malformed);

/* Strict UTF-8 (what Python's decoder accepts: no surrogates, no overlong forms,
 * nothing past U+10FFFF). Returns -1 if valid, else the offset of the first bad byte. */
ptrdiff_t chb_utf8_invalid_at(const uint8_t *s, size_t len);
#endif
