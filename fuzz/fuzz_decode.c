/* libFuzzer harness for the Native format: the framing scanner (nd_scan, pure C,
 * runs on the engine thread) and the block decoder (nd_decode_block, GIL held).
 *
 * Oracles: (1) scanning the input whole and scanning growing prefixes of it (the
 * way bytes arrive from the socket) agree on the outcome and the block length;
 * (2) a framed block never claims more bytes than it was given; (3) decoding a
 * framed block returns rows or raises InterfaceError / NotSupportedError, never
 * anything else and never NULL without an exception. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pyembed.h"
#include "native.h"

static PyObject *utc;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_python_init();
    PyObject *dt = PyImport_ImportModule("datetime");
    PyObject *tzcls = dt ? PyObject_GetAttrString(dt, "timezone") : NULL;
    utc = tzcls ? PyObject_GetAttrString(tzcls, "utc") : NULL;
    if (!utc) fz_die("datetime.timezone.utc");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* byte 0: decoder options and the prefix step; the rest: Native bytes */
    if (size < 1) return 0;
    uint8_t o = data[0];
    const uint8_t *buf = data + 1;
    size_t len = size - 1;

    nd_scanner *s = nd_scanner_new();
    if (!s) return 0;
    ptrdiff_t whole = nd_scan(s, buf, len);
    if (whole > (ptrdiff_t)len) abort();

    nd_scanner_reset(s);
    size_t step = (size_t)(o >> 3) + 1;
    ptrdiff_t inc = 0;
    for (size_t have = step < len ? step : len;; have = have + step < len ? have + step : len) {
        inc = nd_scan(s, buf, have);
        if (inc > (ptrdiff_t)have) abort();
        if (inc != 0 || have == len) break;
    }
    if ((whole > 0) != (inc > 0) || (whole < 0) != (inc < 0) || (whole > 0 && whole != inc)) {
        fprintf(stderr, "whole scan %td, incremental scan %td (step %zu)\n", whole, inc, step);
        abort();
    }
    nd_scanner_free(s);

    if (whole > 0) {
        PyObject *tz = NULL;
        if (o & 4) tz = utc;
        nd_options opts = {tz, o & 1, (o >> 1) & 1};
        PyObject *r = nd_decode_block(buf, (size_t)whole, &opts);
        if (r) {
            if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 3) abort();
            Py_DECREF(r);
        } else {
            fz_expect_error(fz_interface_error, fz_not_supported, "nd_decode_block");
        }
    }
    return 0;
}
