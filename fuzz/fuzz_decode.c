/* libFuzzer harness for the Native block decoder (nd_decode_block, GIL held), on the
 * blocks the framing scanner accepts: embeds CPython (pyembed.h). fuzz_native and
 * fuzz_type cover the pure-C scanner and type parser without an interpreter.
 *
 * Oracle: decoding a framed block returns (names, types, data) or raises
 * InterfaceError / NotSupportedError, never anything else and never NULL without an
 * exception; ASan/UBSan catch the rest (e.g. signed overflow in date arithmetic). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pyembed.h"
#include "native_decode.h"
#include "native_scan.h"

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
    /* byte 0: options (bit 0 strings as bytes, bit 1 columnar with bits 3-4 picking
     * mode 1-4, bit 2 tz=UTC; bits 3-7 are fuzz_native's prefix step), then Native
     * bytes: the seeds are shared with fuzz_native (corpus/fuzz_native). */
    if (size < 1) return 0;
    uint8_t o = data[0];
    const uint8_t *buf = data + 1;
    size_t len = size - 1;

    nd_scanner *s = nd_scanner_new();
    if (!s) return 0;
    ptrdiff_t whole = nd_scan(s, buf, len);
    if (whole > (ptrdiff_t)len) abort();

    nd_scanner_free(s);

    if (whole > 0) {
        PyObject *tz = NULL;
        if (o & 4) tz = utc;
        int columnar = (o & 2) ? 1 + ((o >> 3) & 3) : 0;
        nd_options opts = {tz, o & 1, columnar};
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
