/* ClickHouse Native format: resumable block framing (pure C) and block -> Python
 * conversion. Layout: HTTP interface flavour (client revision 0): no block info,
 * no per-column custom-serialization byte. See docs/types.md for the type mapping. */
#ifndef CHB_NATIVE_H
#define CHB_NATIVE_H
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nd_scanner nd_scanner;            /* opaque, heap-allocated */
nd_scanner *nd_scanner_new(void);
void nd_scanner_free(nd_scanner *s);
void nd_scanner_reset(nd_scanner *s);            /* before a new block */
/* buf/len: every byte received so far from the start of the current block; the next
 * call passes the same prefix plus more bytes (the buffer may move: offsets are kept,
 * not pointers). Returns 0 = need more bytes; >0 = byte length of the complete block
 * at buf[0..ret); -1 = error (see nd_scanner_error*). Once finished (>0 or -1) the
 * same result is returned until nd_scanner_reset(). No Python API, no GIL needed. */
ptrdiff_t nd_scan(nd_scanner *s, const uint8_t *buf, size_t len);
typedef enum { ND_ERR_NONE, ND_ERR_MALFORMED, ND_ERR_UNSUPPORTED } nd_err_kind;
nd_err_kind nd_scanner_error_kind(const nd_scanner *s);
const char *nd_scanner_error(const nd_scanner *s);
/* Scanning steps done since nd_scanner_new() (not reset per block); lets tests check
 * that incremental feeding stays linear. */
uint64_t nd_scanner_work(const nd_scanner *s);

typedef struct {
    PyObject *tz;           /* borrowed tzinfo or NULL: for DateTime/DateTime64 columns without their own timezone;
                               Py_False: every DateTime/DateTime64 naive UTC, even with a column timezone */
    int strings_as_bytes;   /* String/FixedString -> bytes instead of str */
    int columnar;           /* 1: list of columns (lists) instead of list of row tuples; 2: each column as
                               buffers for NumPy, 3: for Arrow (strings as data + offsets), 4: for NumPy with
                               String as StringDType arrays (columnar_strings.c), see native.c */
} nd_options;
/* GIL held. Decode one complete block (exactly as delimited by nd_scan). Returns a new
 * reference to (names: tuple[str], types: tuple[str], data: list[tuple] | list[list]),
 * or NULL with NotSupportedError (unknown type) / InterfaceError (malformed) set. */
PyObject *nd_decode_block(const uint8_t *buf, size_t len, const nd_options *opts);
#endif
