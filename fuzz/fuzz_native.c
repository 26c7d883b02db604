/* libFuzzer harness for the Native framing scanner (nd_scan): pure C, runs on the
 * engine thread. Links ext/native_scan.c and ext/native_type.c only, no interpreter
 * (fuzz_decode covers the CPython decoder).
 *
 * Oracles: (1) scanning the input whole and scanning growing prefixes of it (the
 * way bytes arrive from the socket) agree on the outcome and the block length;
 * (2) a framed block never claims more bytes than it was given; (3) a framed block
 * is self-delimiting: scanning exactly its bytes frames it again, same length;
 * (4) a failure always says why (error kind and message set). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native_scan.h"

static void fail(const char *what, ptrdiff_t a, ptrdiff_t b, size_t step) {
    fprintf(stderr, "%s: %td vs %td (step %zu)\n", what, a, b, step);
    abort();
}

static void check_error(const nd_scanner *s) {
    if (nd_scanner_error_kind(s) == ND_ERR_NONE || !nd_scanner_error(s)[0]) {
        fprintf(stderr, "nd_scan failed without saying why\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* byte 0: the prefix step (bits 3-7, as fuzz_decode reads it); the rest: Native bytes */
    if (size < 1) return 0;
    uint8_t o = data[0];
    const uint8_t *buf = data + 1;
    size_t len = size - 1;
    size_t step = (size_t)(o >> 3) + 1;

    nd_scanner *s = nd_scanner_new();
    if (!s) return 0;
    ptrdiff_t whole = nd_scan(s, buf, len);
    if (whole > (ptrdiff_t)len) fail("block longer than the input", whole, (ptrdiff_t)len, 0);
    if (whole < 0) check_error(s);
    if (nd_scan(s, buf, len) != whole) fail("a finished scan changed its answer", whole, -2, 0);

    nd_scanner_reset(s);
    ptrdiff_t inc = 0;
    for (size_t have = step < len ? step : len;; have = have + step < len ? have + step : len) {
        inc = nd_scan(s, buf, have);
        if (inc > (ptrdiff_t)have) fail("block longer than the prefix", inc, (ptrdiff_t)have, step);
        if (inc != 0 || have == len) break;
    }
    if ((whole > 0) != (inc > 0) || (whole < 0) != (inc < 0) || (whole > 0 && whole != inc))
        fail("whole scan vs incremental scan", whole, inc, step);

    if (whole > 0) {
        nd_scanner_reset(s);
        ptrdiff_t again = nd_scan(s, buf, (size_t)whole);
        if (again != whole) fail("block not self-delimiting", whole, again, 0);
    }
    nd_scanner_free(s);
    return 0;
}
