/* Native String columns as NumPy StringDType arrays (NumPy >= 2), built from the
 * block's bytes without a Python object per value. See columnar_strings.c. */
#ifndef CHB_COLUMNAR_STRINGS_H
#define CHB_COLUMNAR_STRINGS_H
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

/* Registers np_strings_pack(parts, na, column) on the module: a result's String
 * column, given as the decoder's columnar-3 buffers of each block, packed once into one
 * StringDType array. */
int py_columnar_strings_register(PyObject *m);

/* Strict UTF-8 (what Python's decoder accepts: no surrogates, no overlong forms,
 * nothing past U+10FFFF). Returns -1 if valid, else the offset of the first bad byte. */
ptrdiff_t chb_utf8_invalid_at(const uint8_t *s, size_t len);
#endif
