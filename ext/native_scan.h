/* ClickHouse Native format: resumable block framing. Pure C (no Python.h): runs on
 * the engine thread without the GIL, and the fuzzers link it without an interpreter.
 * Layout: HTTP interface flavour (client revision 0): no block info, no per-column
 * custom-serialization byte. */
#ifndef CHB_NATIVE_SCAN_H
#define CHB_NATIVE_SCAN_H
#include <stddef.h>
#include <stdint.h>
#include "native_type.h"

typedef struct nd_scanner nd_scanner;            /* opaque, heap-allocated */
nd_scanner *nd_scanner_new(void);
void nd_scanner_free(nd_scanner *s);
void nd_scanner_reset(nd_scanner *s);            /* before a new block */
/* buf/len: every byte received so far from the start of the current block; the next
 * call passes the same prefix plus more bytes (the buffer may move: offsets are kept,
 * not pointers). Returns 0 = need more bytes; >0 = byte length of the complete block
 * at buf[0..ret); -1 = error (see nd_scanner_error*). Once finished (>0 or -1) the
 * same result is returned until nd_scanner_reset(). */
ptrdiff_t nd_scan(nd_scanner *s, const uint8_t *buf, size_t len);
nd_err_kind nd_scanner_error_kind(const nd_scanner *s);
const char *nd_scanner_error(const nd_scanner *s);
/* Scanning steps done since nd_scanner_new() (not reset per block); lets tests check
 * that incremental feeding stays linear. */
uint64_t nd_scanner_work(const nd_scanner *s);
#endif
