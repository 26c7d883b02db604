/* I/O-free streaming decoders for HTTP Content-Encoding (gzip/deflate, zstd) and
 * one-shot encoders for request bodies. Pure C (zlib, libzstd), no Python, no
 * globals: runs on the engine thread.
 *
 *   dc_stream *d = dc_new(DC_GZIP, max_output, max_ratio);
 *   dc_feed(d, body_piece, n, on_data, ud);   ...as the body arrives, pieces of any size
 *   dc_finish(d);                              at the end of the body: -1 if truncated
 *   dc_free(d);
 *
 * Output goes to `out` in pieces of at most DC_CHUNK bytes as soon as it is
 * decoded (never the whole body in memory). Memory: one DC_CHUNK buffer plus
 * the codec's window (deflate 32 KiB; zstd at most 2^DC_ZSTD_WINDOW_LOG_MAX).
 */
#ifndef CHB_DECOMPRESS_H
#define CHB_DECOMPRESS_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

enum {
    DC_GZIP = 1, /* gzip (RFC 1952), concatenated members; also zlib (RFC 1950) and raw
                  * deflate (RFC 1951), told apart by the first two bytes: HTTP "deflate"
                  * is zlib by the RFC but raw in some servers */
    DC_ZSTD = 2, /* zstd frames (RFC 8878), concatenated and skippable frames */
};

enum { DC_CHUNK = 64 * 1024 };
/* max_ratio is only enforced once the output passes this: a tiny body that expands
 * a lot (a 30-byte gzip of 100 KB of spaces) is not a bomb. */
enum { DC_RATIO_MIN_OUTPUT = 1024 * 1024 };
/* zstd frames asking for a larger window are refused (128 MiB, zstd's own default). */
enum { DC_ZSTD_WINDOW_LOG_MAX = 27 };

enum dc_err {
    DC_OK = 0,
    DC_ERR = -1,       /* see dc_error(): corrupt or truncated data, a limit, out of memory */
    /* any other value: returned by the out callback, passed through unchanged */
};

typedef struct dc_stream dc_stream;

/* kind: DC_GZIP or DC_ZSTD. max_output: total decoded bytes allowed (0 = no limit).
 * max_ratio: decoded/encoded bytes allowed (0 = no limit), checked continuously
 * once the output exceeds DC_RATIO_MIN_OUTPUT, so one feed of n bytes never
 * produces much more than max(n * max_ratio, DC_RATIO_MIN_OUTPUT) before failing.
 * NULL when out of memory or kind is unknown. */
dc_stream *dc_new(int kind, uint64_t max_output, double max_ratio);

/* Decode `len` more bytes. For each decoded piece, out(ud, data, n) is called
 * (n > 0, data valid only during the call); a non-zero return stops decoding and
 * is returned by dc_feed (the stream is then unusable, like after an error).
 * Returns DC_OK, DC_ERR (message in dc_error; every later call fails the same
 * way), or the callback's value. */
int dc_feed(dc_stream *d, const uint8_t *in, size_t len,
            int (*out)(void *ud, const uint8_t *data, size_t n), void *ud);

/* End of the encoded body. DC_ERR if it stopped inside a gzip member / zstd frame
 * (truncated) or an error happened earlier. A stream fed no byte at all is fine
 * (an empty body with a Content-Encoding header). */
int dc_finish(dc_stream *d);

/* The last error message ("" when none). Valid until dc_free. */
const char *dc_error(const dc_stream *d);

uint64_t dc_total_in(const dc_stream *d);   /* encoded bytes consumed so far */
uint64_t dc_total_out(const dc_stream *d);  /* decoded bytes produced so far */

void dc_free(dc_stream *d);

/* HTTP content-coding token -> DC_GZIP/DC_ZSTD ("gzip", "x-gzip", "deflate",
 * "zstd", case-insensitive); 0 for "identity"; -1 for anything else. */
int dc_kind_from_name(const char *name, size_t len);

/* One-shot compression of a request body, appended to *out: DC_GZIP makes a gzip
 * member (what ClickHouse accepts as Content-Encoding: gzip), DC_ZSTD a zstd frame.
 * level: 0 = the codec's default (gzip 6, zstd 3); gzip 1..9, zstd 1..22 (zstd
 * also accepts negative "fast" levels).
 * Returns 0, -1 out of memory, -2 bad kind or level, -3 codec failure. */
int dc_compress(int kind, const uint8_t *in, size_t len, chb_buf *out, int level);
const char *dc_compress_strerror(int rc);
#endif
