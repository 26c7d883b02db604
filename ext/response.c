/* memmem */
#define _GNU_SOURCE
#include "response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decompress.h"
#include "loop.h"
#include "native_scan.h"

#define ERRBODY_LIMIT (64 * 1024)
#define DRAIN_LIMIT (1024 * 1024)
/* Compressed input is decoded in slices; one slice may not expand beyond this
 * (a ratio of 4096): a hostile endpoint cannot make us allocate without bound. */
#define SLICE_IN (16 * 1024)
#define SLICE_OUT_LIMIT (64u * 1024 * 1024)
#define RATIO_MIN_BUFFER (8u * 1024 * 1024)

void chb_resp_begin(chb_request *r) {
    r->resp_status = 0;
    r->inflate.encoding = 0;
    if (r->inflate.dc) { dc_free(r->inflate.dc); r->inflate.dc = NULL; }
    r->got_response_bytes = 0;
    r->rx_at = chb_now(); /* the liveness probe's clock (hosts.c) starts with the attempt */
    chb_buf_free(&r->framing.body);
    chb_buf_free(&r->framing.errbody);
    if (r->framing.scanner) nd_scanner_reset(r->framing.scanner);
}

void chb_resp_status(chb_request *r, int code) {
    r->resp_status = code;
    r->got_response_bytes = 1;
    r->rx_at = chb_now();
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; m && i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return hay + i;
    return NULL;
}

#define HDR_IS(lit) (nlen == sizeof(lit) - 1 && strncasecmp(name, lit, nlen) == 0)

double chb_resp_header(chb_request *r, const char *name, size_t nlen, const char *value, size_t vlen) {
    r->rx_at = chb_now(); /* progress headers: a live query */
    /* Written before headers_ready is published under r->mu, read by the consumer after. */
    if (HDR_IS("X-ClickHouse-Progress")) {
        /* Sent while the query runs, before the body: only the latest is kept. The
         * consumer may be reading it, hence under mu (unlike the headers below). */
        char *text = dup_n(value, vlen), *old;
        pthread_mutex_lock(&r->mu);
        old = r->progress;
        r->progress = text;
        r->progress_seq++;
        if (r->want_progress) chb_req_notify_locked(r);
        pthread_mutex_unlock(&r->mu);
        free(old);
    } else if (HDR_IS("X-ClickHouse-Summary")) {
        free(r->summary);
        r->summary = dup_n(value, vlen);
    } else if (HDR_IS("X-ClickHouse-Query-Id")) {
        free(r->server_query_id);
        r->server_query_id = dup_n(value, vlen);
    } else if (HDR_IS("X-ClickHouse-Exception-Code")) {
        int code = 0;
        for (size_t i = 0; i < vlen && value[i] >= '0' && value[i] <= '9' && i < 9; i++)
            code = code * 10 + (value[i] - '0');
        r->ch_code = code;
    } else if (HDR_IS("X-ClickHouse-Exception-Tag")) {
        free(r->exception_tag);
        r->exception_tag = dup_n(value, vlen);
    } else if (HDR_IS("Content-Encoding")) {
        r->inflate.encoding = dc_kind_from_name(value, vlen);
    } else if (HDR_IS("Content-Type")) {
        free(r->content_type);
        r->content_type = dup_n(value, vlen);
    } else if (HDR_IS("Keep-Alive")) {
        const char *t = find_bytes(value, vlen, "timeout=");
        if (t) {
            double v = 0;
            for (const char *q = t + 8; q < value + vlen && *q >= '0' && *q <= '9'; q++) v = v * 10 + (*q - '0');
            return v;
        }
    }
    return 0;
}

int chb_resp_headers_done(chb_request *r) {
    if (r->inflate.encoding < 0) {
        chb_req_fail(r, ERR_PROTOCOL, 0, "the server answered with a Content-Encoding this driver cannot decode");
        return -1;
    }
    if (r->inflate.encoding > 0 && !(r->inflate.dc = dc_new(r->inflate.encoding, 0, 0))) return -1;
    if (r->resp_status == 200 && r->mode == MODE_NATIVE) {
        if (r->framing.scanner) nd_scanner_reset(r->framing.scanner);
        else r->framing.scanner = nd_scanner_new();
        if (!r->framing.scanner) return -1;
    }
    pthread_mutex_lock(&r->mu);
    r->http_status = r->resp_status;
    r->headers_ready = 1;
    if (!chb_req_terminal(r->state)) r->state = REQ_STREAMING;
    /* No wake-up: waiters wait for a block, the end, an error or progress (ready_locked in
     * py_stream.c), never for the headers; on asyncio a wake costs a loop turn per query. */
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* Find "Code: N" in a ClickHouse exception text (old and new formats). */
static int parse_code(const char *s, size_t n) {
    for (size_t i = 0; i + 6 < n; i++) {
        if (memcmp(s + i, "Code: ", 6) == 0) {
            int code = 0, digits = 0;
            for (size_t j = i + 6; j < n && s[j] >= '0' && s[j] <= '9' && digits < 9; j++, digits++)
                code = code * 10 + (s[j] - '0');
            if (digits) return code;
        }
    }
    return 0;
}

/* Turn a ClickHouse error text into the request's failure. The message keeps the
 * server's own words (trimmed), and the code. */
static void fail_with_text(chb_request *r, int header_code, const char *text, size_t n, int status,
                           const char *where) {
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) n--;
    int code = header_code ? header_code : parse_code(text, n);
    if (n > 4000) n = 4000;
    if (code) {
        chb_req_fail(r, ERR_SERVER, code, "%.*s", (int)n, text);
        return;
    }
    /* Not ClickHouse speaking: a proxy page, a load balancer error... */
    char head[301];
    size_t h = n < 300 ? n : 300;
    for (size_t i = 0; i < h; i++) head[i] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '.';
    head[h] = 0;
    chb_req_fail(r, ERR_PROTOCOL, 0, "HTTP %d %s is not a ClickHouse answer (Content-Type: %s); body starts: %s",
                 status, where, r->content_type ? r->content_type : "none", head);
}

/* The opening marker of a 25.11+ tagged exception, or 0 when the answer has no tag. */
static int tag_open_marker(const chb_request *r, char *out, size_t size) {
    const char *tag = r->exception_tag;
    if (!tag || !tag[0] || strlen(tag) >= 200) return 0;
    snprintf(out, size, "__exception__\r\n%s\r\n", tag);
    return 1;
}

/* Is there a ClickHouse exception written in the middle of a 200 stream? 25.11+
 * frame it as "\r\n__exception__\r\n<tag>\r\n<message>\n<length> <tag>\r\n__exception__\r\n"
 * with the tag announced in X-ClickHouse-Exception-Tag; older servers append the
 * bare text ("Code: N, e.displayText() = ..."). Returns MIDSTREAM_NONE, MIDSTREAM_FAILED
 * (r failed with the server's text) or, before the end of the body (!final),
 * MIDSTREAM_PARTIAL: the text has begun but may not have arrived whole, and failing
 * now would cut the server's message short. */
enum { MIDSTREAM_NONE, MIDSTREAM_FAILED, MIDSTREAM_PARTIAL };
#define MIDSTREAM_TEXT_LIMIT (16 * 1024)

static int midstream_exception(chb_request *r, int final) {
    const char *b = (const char *)r->framing.body.data;
    size_t n = r->framing.body.len;
    char open_marker[256];
    if (tag_open_marker(r, open_marker, sizeof open_marker)) {
        char close_marker[256];
        snprintf(close_marker, sizeof close_marker, " %s\r\n__exception__", r->exception_tag);
        const char *p = find_bytes(b, n, open_marker);
        if (p) {
            const char *start = p + strlen(open_marker);
            size_t rest = n - (size_t)(start - b);
            const char *end = find_bytes(start, rest, close_marker);
            if (!end && !final && rest < MIDSTREAM_TEXT_LIMIT) return MIDSTREAM_PARTIAL;
            size_t len = rest;
            if (end) { /* drop the "\n<length>" line before the closing marker */
                const char *q = end;
                while (q > start && q[-1] >= '0' && q[-1] <= '9') q--;
                if (q > start && q[-1] == '\n') q--;
                len = (size_t)(q - start);
            }
            fail_with_text(r, r->ch_code, start, len, 200, "mid-stream");
            return MIDSTREAM_FAILED;
        }
    }
    const char *start = find_bytes(b, n, "Code: ");
    if (!start) return MIDSTREAM_NONE;
    /* The bare form has no end marker: the end of the body ends the text. */
    if (!final && n - (size_t)(start - b) < MIDSTREAM_TEXT_LIMIT) return MIDSTREAM_PARTIAL;
    fail_with_text(r, r->ch_code, start, n - (size_t)(start - b), 200, "mid-stream");
    return MIDSTREAM_FAILED;
}

/* Move complete Native blocks from r->framing.body to the consumer's queue. */
static int frame_blocks(chb_request *r) {
    while (r->framing.body.len > 0) {
        ptrdiff_t n = nd_scan(r->framing.scanner, r->framing.body.data, r->framing.body.len);
        if (n == 0) {
            /* A block is only usable whole, so backpressure cannot bound it: without
             * this cap an endpoint could make us buffer any amount in one block. */
            if (r->framing.max_block_bytes && r->framing.body.len > r->framing.max_block_bytes) {
                chb_req_fail(r, ERR_LIMIT, 0,
                             "a Native block of the result is larger than max_block_bytes (%zu bytes): "
                             "lower the query's max_block_size or raise max_block_bytes",
                             r->framing.max_block_bytes);
                return -1;
            }
            return 0;
        }
        if (n < 0) {
            int m = midstream_exception(r, 0);
            if (m == MIDSTREAM_FAILED) return -1;
            if (m == MIDSTREAM_PARTIAL) return 0; /* the rest of the text is on its way */
            if (r->content_type && strncasecmp(r->content_type, "text/html", 9) == 0)
                fail_with_text(r, 0, (const char *)r->framing.body.data, r->framing.body.len, 200, "answer");
            else
                chb_req_fail(r, nd_scanner_error_kind(r->framing.scanner) == ND_ERR_UNSUPPORTED ? ERR_UNSUPPORTED
                                                                                       : ERR_MALFORMED,
                             0, "%s", nd_scanner_error(r->framing.scanner));
            return -1;
        }
        /* A tagged exception cut into a block can still scan as a whole block (its
         * text read as column values): never hand such a block out as rows. */
        char marker[256];
        if (tag_open_marker(r, marker, sizeof marker)) {
            const uint8_t *at = memmem(r->framing.body.data, r->framing.body.len, marker, strlen(marker));
            if (at && at - r->framing.body.data < n) return midstream_exception(r, 0) == MIDSTREAM_PARTIAL ? 0 : -1;
        }
        chb_block *b = malloc(sizeof *b);
        if (!b) return -1;
        /* Hand the buffer itself to the consumer (no copy of the block); only the
         * bytes of the next block received so far move to a new buffer. */
        size_t tail = r->framing.body.len - (size_t)n;
        chb_buf rest;
        chb_buf_init(&rest);
        if (tail && chb_buf_append(&rest, r->framing.body.data + n, tail) != 0) {
            free(b);
            return -1;
        }
        b->data = r->framing.body.data;
        b->len = (size_t)n;
        b->next = NULL;
        r->framing.body = rest;
        r->inflate.zin_block = 0;
        nd_scanner_reset(r->framing.scanner);
        if (r->drain.active) { /* nobody wants it: count and drop */
            r->drain.bytes += b->len;
            free(b->data);
            free(b);
            if (r->drain.bytes > DRAIN_LIMIT) {
                chb_req_fail(r, ERR_CANCELLED, 0, "result abandoned");
                return -1;
            }
            continue;
        }
        pthread_mutex_lock(&r->mu);
        if (r->blocks.tail) r->blocks.tail->next = b; else r->blocks.head = b;
        r->blocks.tail = b;
        r->blocks.queued += b->len;
        if (r->blocks.queued >= r->blocks.limit && r->state == REQ_STREAMING) r->state = REQ_PAUSED;
        chb_req_notify_locked(r);
        pthread_mutex_unlock(&r->mu);
    }
    return 0;
}

static int plain_body(chb_request *r, const char *data, size_t len);

static int on_decoded(void *ud, const uint8_t *data, size_t n) {
    chb_request *r = ud;
    r->inflate.slice_out += n;
    if (r->inflate.slice_out > SLICE_OUT_LIMIT) {
        chb_req_fail(r, ERR_PROTOCOL, 0,
                     "refusing a response that decompresses %u KiB into more than %u MiB (compression bomb?)",
                     SLICE_IN / 1024, SLICE_OUT_LIMIT >> 20);
        return -1;
    }
    if (plain_body(r, (const char *)data, n)) return -1;
    /* Memory a hostile endpoint can make us hold is the unfinished block: bound how
     * much it may grow per compressed byte. */
    if (r->inflate.max_ratio > 0 && r->framing.body.len > RATIO_MIN_BUFFER &&
        (double)r->framing.body.len > r->inflate.max_ratio * (double)(r->inflate.zin_block ? r->inflate.zin_block : 1)) {
        chb_req_fail(r, ERR_PROTOCOL, 0,
                     "refusing a response whose data decompresses more than %g times (compression bomb?); "
                     "raise max_decompression_ratio if this result is legitimate", r->inflate.max_ratio);
        return -1;
    }
    return 0;
}

int chb_resp_body(chb_request *r, const char *data, size_t len) {
    r->got_response_bytes = 1;
    r->rx_at = chb_now();
    if (!r->inflate.dc) return plain_body(r, data, len);
    while (len) {
        size_t n = len < SLICE_IN ? len : SLICE_IN;
        r->inflate.slice_out = 0;
        r->inflate.zin_block += n;
        int rc = dc_feed(r->inflate.dc, (const uint8_t *)data, n, on_decoded, r);
        if (rc == DC_ERR) {
            chb_req_fail(r, ERR_PROTOCOL, 0, "corrupt compressed response: %s", dc_error(r->inflate.dc));
            return -1;
        }
        if (rc != 0) return -1;
        data += n;
        len -= n;
    }
    return 0;
}

int chb_resp_end(chb_request *r) {
    if (r->inflate.dc && dc_finish(r->inflate.dc) != 0) {
        chb_req_fail(r, ERR_PROTOCOL, 0, "compressed response ended early: %s (result incomplete)", dc_error(r->inflate.dc));
        return -1;
    }
    return 0;
}

static int plain_body(chb_request *r, const char *data, size_t len) {
    if (r->resp_status != 200) {
        size_t room = r->framing.errbody.len < ERRBODY_LIMIT ? ERRBODY_LIMIT - r->framing.errbody.len : 0;
        if (len > room) len = room;
        return chb_buf_append(&r->framing.errbody, data, len) ? -1 : 0;
    }
    if (r->mode == MODE_RAW) {
        pthread_mutex_lock(&r->mu);
        int rc = chb_buf_append(&r->raw, data, len);
        pthread_mutex_unlock(&r->mu);
        return rc;
    }
    if (chb_buf_append(&r->framing.body, data, len) != 0) return -1;
    return frame_blocks(r);
}

int chb_resp_ok(const chb_request *r) {
    return r->resp_status == 200 && !(r->mode == MODE_NATIVE && r->framing.body.len > 0);
}

void chb_resp_publish(chb_request *r) {
    if (chb_resp_ok(r)) {
        pthread_mutex_lock(&r->mu);
        if (!chb_req_terminal(r->state)) {
            r->state = REQ_DONE;
            chb_req_notify_locked(r);
        }
        pthread_mutex_unlock(&r->mu);
    } else if (r->resp_status != 200) {
        fail_with_text(r, r->ch_code, (const char *)r->framing.errbody.data, r->framing.errbody.len, r->resp_status, "answer");
    } else if (midstream_exception(r, 1) == MIDSTREAM_FAILED) {
    } else if (r->content_type && strncasecmp(r->content_type, "application/octet-stream", 24) != 0) {
        /* a 200 page that is not Native at all: a proxy, a captive portal... */
        fail_with_text(r, 0, (const char *)r->framing.body.data, r->framing.body.len, r->resp_status, "answer");
    } else {
        chb_req_fail(r, ERR_MALFORMED, 0,
                     "response ended inside a Native block (%zu bytes left over): result is incomplete",
                     r->framing.body.len);
    }
}
