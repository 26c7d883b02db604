/* Streaming gzip/deflate and zstd decoders, one-shot encoders. See decompress.h. */
#include "decompress.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "debug.h"

enum { ST_START, ST_HEADER, ST_BODY, ST_BETWEEN }; /* gzip member state */
enum { FMT_NONE, FMT_GZIP, FMT_ZLIB, FMT_RAW };

/* zlib counts in uInt: feed it at most this much per call */
#define ZCHUNK_MAX ((size_t)1 << 30)

struct dc_stream {
    int kind;
    int failed;
    uint64_t max_output;
    double max_ratio;
    uint64_t total_in, total_out;
    char err[200];
    /* gzip */
    z_stream z;
    int z_ready;     /* inflateInit2 done */
    int state;       /* ST_* */
    int fmt;         /* FMT_*, fixed by the first member */
    uint8_t hdr[2];  /* first bytes of a member, held until the format is known */
    int hdr_len;
    /* zstd */
    ZSTD_DStream *zs;
    size_t zhint;    /* last ZSTD_decompressStream result: 0 = at a frame boundary */
    int zbytes;      /* some byte was fed */
    uint8_t out[DC_CHUNK];
};

static int fail(dc_stream *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof d->err, fmt, ap);
    va_end(ap);
    d->failed = 1;
    return DC_ERR;
}

static const char *fmt_name(int fmt) {
    return fmt == FMT_ZLIB ? "zlib" : fmt == FMT_RAW ? "deflate" : "gzip";
}

dc_stream *dc_new(int kind, uint64_t max_output, double max_ratio) {
    if (kind != DC_GZIP && kind != DC_ZSTD) return NULL;
    if (!(max_ratio >= 0)) return NULL; /* also rejects NaN */
    dc_stream *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->kind = kind;
    d->max_output = max_output;
    d->max_ratio = max_ratio;
    if (kind == DC_ZSTD) {
        d->zs = ZSTD_createDStream();
        if (!d->zs || ZSTD_isError(ZSTD_DCtx_setParameter(d->zs, ZSTD_d_windowLogMax, DC_ZSTD_WINDOW_LOG_MAX))) {
            dc_free(d);
            return NULL;
        }
    }
    return d;
}

void dc_free(dc_stream *d) {
    if (!d) return;
    if (d->z_ready) inflateEnd(&d->z);
    if (d->zs) ZSTD_freeDStream(d->zs);
    free(d);
}

const char *dc_error(const dc_stream *d) { return d->err; }
uint64_t dc_total_in(const dc_stream *d) { return d->total_in; }
uint64_t dc_total_out(const dc_stream *d) { return d->total_out; }

/* Hands decoded bytes to the caller after the limit checks. d->total_in must
 * already count the input that produced them. */
static int emit(dc_stream *d, size_t n, int (*out)(void *, const uint8_t *, size_t), void *ud) {
    if (n == 0) return DC_OK;
    d->total_out += n;
    if (d->max_output && d->total_out > d->max_output)
        return fail(d, "decompressed response exceeds max_output (%llu bytes)",
                    (unsigned long long)d->max_output);
    if (d->max_ratio > 0 && d->total_out > DC_RATIO_MIN_OUTPUT &&
        (double)d->total_out > d->max_ratio * (double)d->total_in)
        return fail(d, "compression ratio exceeds max_ratio %g (%llu bytes decoded from %llu): "
                       "refusing a possible decompression bomb",
                    d->max_ratio, (unsigned long long)d->total_out, (unsigned long long)d->total_in);
    int rc = out(ud, d->out, n);
    if (rc != 0) {
        d->failed = 1;
        if (!d->err[0]) snprintf(d->err, sizeof d->err, "stopped by the output callback (%d)", rc);
    }
    return rc;
}

/* ---- gzip / zlib / raw deflate -------------------------------------------- */

static int sniff(const uint8_t h[2]) {
    if (h[0] == 0x1f && h[1] == 0x8b) return FMT_GZIP;
    /* RFC 1950: CM = 8 (deflate), CINFO <= 7, header is a multiple of 31 */
    if ((h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0) return FMT_ZLIB;
    return FMT_RAW;
}

/* Inflates src[0..n) (n <= ZCHUNK_MAX) until it is used up or the member ends;
 * *used = bytes taken. count: src is caller input (else the held header bytes,
 * already counted). */
static int inflate_some(dc_stream *d, const uint8_t *src, size_t n, size_t *used, int count,
                        int (*out)(void *, const uint8_t *, size_t), void *ud) {
    z_stream *z = &d->z;
    z->next_in = (Bytef *)src;
    z->avail_in = (uInt)n;
    *used = 0;
    for (;;) {
        z->next_out = d->out;
        z->avail_out = DC_CHUNK;
        size_t before = z->avail_in;
        int r = inflate(z, Z_NO_FLUSH);
        if (count) d->total_in += before - z->avail_in;
        *used = n - z->avail_in;
        if (r == Z_NEED_DICT) return fail(d, "corrupt %s data: needs a preset dictionary", fmt_name(d->fmt));
        if (r == Z_DATA_ERROR)
            return fail(d, "corrupt %s data: %s", fmt_name(d->fmt), z->msg ? z->msg : "invalid data");
        if (r == Z_MEM_ERROR) return fail(d, "out of memory in the %s decoder", fmt_name(d->fmt));
        if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
            return fail(d, "%s decoder error %d", fmt_name(d->fmt), r);
        int rc = emit(d, DC_CHUNK - z->avail_out, out, ud);
        if (rc) return rc;
        if (r == Z_STREAM_END) {
            d->state = ST_BETWEEN;
            return DC_OK;
        }
        /* Z_BUF_ERROR: no progress possible, i.e. all input used and nothing pending */
        if (r == Z_BUF_ERROR || (z->avail_in == 0 && z->avail_out != 0)) return DC_OK;
        /* the output buffer was full: there may be more to flush */
    }
}

/* The first two bytes of a member are known: pick the format, (re)start inflate
 * and run the two bytes through it. */
static int start_member(dc_stream *d, int (*out)(void *, const uint8_t *, size_t), void *ud) {
    int fmt = sniff(d->hdr);
    if (d->fmt == FMT_NONE) {
        d->fmt = fmt;
    } else if (fmt != d->fmt || fmt != FMT_GZIP) {
        /* only gzip defines members back to back (RFC 1952 2.2) */
        return fail(d, "corrupt %s data: unexpected bytes after the end of the compressed stream",
                    fmt_name(d->fmt));
    }
    int wbits = fmt == FMT_GZIP ? 16 + MAX_WBITS : fmt == FMT_ZLIB ? MAX_WBITS : -MAX_WBITS;
    if (!d->z_ready) {
        int r = inflateInit2(&d->z, wbits);
        if (r != Z_OK) return fail(d, r == Z_MEM_ERROR ? "out of memory in the gzip decoder" : "inflateInit2 failed");
        d->z_ready = 1;
    } else if (inflateReset2(&d->z, wbits) != Z_OK) {
        return fail(d, "inflateReset2 failed");
    }
    d->state = ST_BODY;
    size_t used;
    int rc = inflate_some(d, d->hdr, 2, &used, 0, out, ud);
    /* a 2-byte member (raw "03 00") that ends here leaves nothing unused */
    if (rc == DC_OK && used != 2) return fail(d, "corrupt %s data: member too short", fmt_name(d->fmt));
    return rc;
}

static int gz_feed(dc_stream *d, const uint8_t *in, size_t len,
                   int (*out)(void *, const uint8_t *, size_t), void *ud) {
    size_t pos = 0;
    while (pos < len) {
        int rc;
        switch (d->state) {
        case ST_START:
        case ST_BETWEEN:
            d->state = ST_HEADER;
            d->hdr_len = 0;
            /* fall through */
        case ST_HEADER:
            while (d->hdr_len < 2 && pos < len) {
                d->hdr[d->hdr_len++] = in[pos++];
                d->total_in++;
            }
            if (d->hdr_len < 2) return DC_OK;
            rc = start_member(d, out, ud);
            if (rc) return rc;
            break;
        default: { /* ST_BODY */
            size_t n = len - pos < ZCHUNK_MAX ? len - pos : ZCHUNK_MAX, used;
            rc = inflate_some(d, in + pos, n, &used, 1, out, ud);
            if (rc) return rc;
            pos += used;
            CHB_INVARIANT(used == n || d->state == ST_BETWEEN);
        }
        }
    }
    return DC_OK;
}

/* ---- zstd ------------------------------------------------------------------- */

static int zs_feed(dc_stream *d, const uint8_t *in, size_t len,
                   int (*out)(void *, const uint8_t *, size_t), void *ud) {
    ZSTD_inBuffer ib = {in, len, 0};
    if (len) d->zbytes = 1;
    do {
        ZSTD_outBuffer ob = {d->out, DC_CHUNK, 0};
        size_t before = ib.pos;
        size_t r = ZSTD_decompressStream(d->zs, &ob, &ib);
        d->total_in += ib.pos - before;
        if (ZSTD_isError(r)) {
            if (ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge)
                return fail(d, "zstd frame needs a window larger than %u MiB (refused)",
                            1u << (DC_ZSTD_WINDOW_LOG_MAX - 20));
            return fail(d, "corrupt zstd data: %s", ZSTD_getErrorName(r));
        }
        d->zhint = r;
        int rc = emit(d, ob.pos, out, ud);
        if (rc) return rc;
        /* a full output buffer may hide more decoded data inside the decoder */
        if (ib.pos == ib.size && ob.pos < ob.size) break;
    } while (1);
    return DC_OK;
}

/* ---- public ---------------------------------------------------------------- */

int dc_feed(dc_stream *d, const uint8_t *in, size_t len,
            int (*out)(void *ud, const uint8_t *data, size_t n), void *ud) {
    if (d->failed) return DC_ERR;
    if (len == 0) return DC_OK;
    return d->kind == DC_GZIP ? gz_feed(d, in, len, out, ud) : zs_feed(d, in, len, out, ud);
}

int dc_finish(dc_stream *d) {
    if (d->failed) return DC_ERR;
    if (d->kind == DC_GZIP) {
        if (d->state == ST_HEADER || d->state == ST_BODY)
            return fail(d, "truncated %s data: the body ended inside a compressed %s",
                        fmt_name(d->fmt == FMT_NONE ? FMT_GZIP : d->fmt),
                        d->fmt == FMT_GZIP || d->fmt == FMT_NONE ? "member" : "stream");
    } else if (d->zbytes && d->zhint != 0) {
        return fail(d, "truncated zstd data: the body ended inside a zstd frame");
    }
    return DC_OK;
}

int dc_kind_from_name(const char *name, size_t len) {
    static const struct { const char *n; int kind; } names[] = {
        {"gzip", DC_GZIP}, {"x-gzip", DC_GZIP}, {"deflate", DC_GZIP}, {"zstd", DC_ZSTD}, {"identity", 0},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t k = strlen(names[i].n);
        if (k != len) continue;
        size_t j = 0;
        while (j < len && tolower((unsigned char)name[j]) == names[i].n[j]) j++;
        if (j == len) return names[i].kind;
    }
    return -1;
}

static int gzip_compress(const uint8_t *in, size_t len, chb_buf *out, int level) {
    if (level == 0) level = Z_DEFAULT_COMPRESSION;
    else if (level < 1 || level > 9) return -2;
    z_stream z;
    memset(&z, 0, sizeof z);
    int r = deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    if (r != Z_OK) return r == Z_MEM_ERROR ? -1 : -3;
    size_t start = out->len;
    /* deflateBound: usually one pass, no regrowth */
    if (chb_buf_reserve(out, (size_t)deflateBound(&z, (uLong)len))) {
        deflateEnd(&z);
        return -1;
    }
    size_t pos = 0;
    int rc = 0;
    for (;;) {
        size_t in_n = len - pos < ZCHUNK_MAX ? len - pos : ZCHUNK_MAX;
        if (out->cap == out->len && chb_buf_reserve(out, 64 * 1024)) { rc = -1; break; }
        size_t room = out->cap - out->len < ZCHUNK_MAX ? out->cap - out->len : ZCHUNK_MAX;
        z.next_in = (Bytef *)(in + pos);
        z.avail_in = (uInt)in_n;
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)room;
        r = deflate(&z, pos + in_n == len ? Z_FINISH : Z_NO_FLUSH);
        pos += in_n - z.avail_in;
        out->len += room - z.avail_out;
        if (r == Z_STREAM_END) break;
        if (r != Z_OK && r != Z_BUF_ERROR) { rc = -3; break; }
    }
    deflateEnd(&z);
    if (rc) out->len = start;
    return rc;
}

static int zstd_compress(const uint8_t *in, size_t len, chb_buf *out, int level) {
    if (level == 0) level = ZSTD_CLEVEL_DEFAULT;
    else if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) return -2;
    size_t bound = ZSTD_compressBound(len);
    if (ZSTD_isError(bound)) return -1; /* input too large for one frame */
    if (chb_buf_reserve(out, bound)) return -1;
    size_t r = ZSTD_compress(out->data + out->len, bound, in, len, level);
    if (ZSTD_isError(r)) return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? -1 : -3;
    out->len += r;
    return 0;
}

int dc_compress(int kind, const uint8_t *in, size_t len, chb_buf *out, int level) {
    if (kind == DC_GZIP) return gzip_compress(in, len, out, level);
    if (kind == DC_ZSTD) return zstd_compress(in, len, out, level);
    return -2;
}

const char *dc_compress_strerror(int rc) {
    switch (rc) {
    case 0: return "ok";
    case -1: return "out of memory while compressing";
    case -2: return "unknown compression kind or level out of range";
    default: return "compressor failure";
    }
}
