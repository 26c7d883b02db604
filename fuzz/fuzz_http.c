/* libFuzzer harness for the HTTP/1.1 response parser (ext/httpparse.c).
 *
 * Built twice: as fuzz_http (whole responses) and, with -DCHUNKED_ONLY, as
 * fuzz_chunked (the input is the body of a "Transfer-Encoding: chunked" answer,
 * so every mutation lands in the chunk decoder).
 *
 * Oracle, beyond "no crash / no ASan report": the parser is I/O-free and
 * resumable, so the same bytes fed in one piece and fed in fuzzer-chosen pieces
 * (with pauses from the callbacks) must give the same transcript: status codes,
 * headers, de-chunked body bytes, message ends and the final error. Any
 * difference is a resumption bug (a state not saved across a feed boundary). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpparse.h"

/* FNV-1a over the event stream: cheap, and enough to tell two transcripts apart. */
typedef struct {
    uint64_t h;
    size_t body;       /* body bytes delivered */
    int messages;
    int pause_every;   /* 0: never pause; n: every n-th callback returns 1 */
    int calls;
} transcript;

static void mix(transcript *t, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) t->h = (t->h ^ s[i]) * 0x100000001b3ULL;
}
static void tag(transcript *t, char c) { mix(t, &c, 1); }
static int maybe_pause(transcript *t) { return t->pause_every && ++t->calls % t->pause_every == 0; }

static int on_status(void *ud, int code, const char *r, size_t n) {
    transcript *t = ud;
    tag(t, 'S');
    mix(t, &code, sizeof code);
    mix(t, r, n);
    return maybe_pause(t);
}
static int on_header(void *ud, const char *n, size_t nl, const char *v, size_t vl) {
    transcript *t = ud;
    tag(t, 'H');
    mix(t, n, nl);
    tag(t, ':');
    mix(t, v, vl);
    return maybe_pause(t);
}
static int on_headers_done(void *ud) {
    transcript *t = ud;
    tag(t, 'E');
    return maybe_pause(t);
}
/* Body slices are hashed byte by byte with no separator: slicing may differ
 * between feeding modes, the bytes may not. */
static int on_body(void *ud, const char *d, size_t n) {
    transcript *t = ud;
    mix(t, d, n);
    t->body += n;
    return maybe_pause(t);
}
static int on_done(void *ud) {
    transcript *t = ud;
    tag(t, 'D');
    t->messages++;
    return maybe_pause(t);
}
static const hp_callbacks CB = {on_status, on_header, on_headers_done, on_body, on_done};

/* Feed data[0..len) in pieces of the given sizes (cycled); a completed message
 * returns early and the rest is fed again (keep-alive); a pause resumes after
 * hp_consumed(). Returns the final error (0 = none) after hp_eof. */
static int run(const hp_limits *lim, int head_only, const uint8_t *data, size_t len,
               const uint8_t *sizes, size_t nsizes, transcript *t) {
    hp_parser p;
    hp_init(&p, lim);
    if (head_only) hp_expect_no_body(&p);
    size_t off = 0, k = 0;
    int err = 0;
    while (off < len && !err) {
        size_t piece = len - off;
        if (nsizes) {
            size_t s = (size_t)sizes[k++ % nsizes] % 17 + 1;
            if (s < piece) piece = s;
        }
        size_t done = 0;
        int idle = 0; /* calls in a row that consumed nothing */
        while (done < piece) {
            ptrdiff_t r = hp_feed(&p, (const char *)data + off + done, piece - done, &CB, t);
            size_t used;
            if (r == HP_ERR_CALLBACK) {
                used = hp_consumed(&p);
            } else if (r < 0) {
                err = (int)r;
                break;
            } else {
                used = (size_t)r;
            }
            if (used > piece - done) abort(); /* consumed more than it was given */
            done += used;
            /* A zero-byte step is legal (a pause or on_done of an empty body); the
             * parser stuck without progress and without an error is a hang. */
            idle = used ? 0 : idle + 1;
            if (idle > 8) abort();
        }
        off += done;
    }
    if (!err) {
        /* A pause right where a message ended leaves on_done pending: an empty feed
         * delivers it, so both runs meet EOF in the same state. */
        ptrdiff_t f = hp_feed(&p, "", 0, &CB, t);
        if (f < 0 && f != HP_ERR_CALLBACK) err = (int)f;
    }
    if (!err) {
        /* a pause in on_done: the event was processed, the message is complete */
        int r = hp_eof(&p, &CB, t);
        err = r == HP_ERR_CALLBACK ? 0 : r;
    }
    tag(t, 'X');
    mix(t, &err, sizeof err);
    hp_free(&p);
    return err;
}

#ifdef CHUNKED_ONLY
static const char PREFIX[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* byte 0: limits and HEAD; bytes 1..8: piece sizes for the split run; the rest: the response */
    if (size < 9) return 0;
    hp_limits lim = {8 * 1024, 16 * 1024, 64 * 1024, 128};
    if (data[0] & 1) lim = (hp_limits){64, 64, 256, 4}; /* tiny limits reach the limit paths */
    int head_only = (data[0] & 6) == 6;
    const uint8_t *sizes = data + 1;
    const uint8_t *msg = data + 9;
    size_t mlen = size - 9;
#ifdef CHUNKED_ONLY
    uint8_t *buf = malloc(sizeof PREFIX - 1 + mlen);
    if (!buf) return 0;
    memcpy(buf, PREFIX, sizeof PREFIX - 1);
    if (mlen) memcpy(buf + sizeof PREFIX - 1, msg, mlen);
    msg = buf;
    mlen += sizeof PREFIX - 1;
    head_only = 0;
#endif
    transcript whole = {0xcbf29ce484222325ULL, 0, 0, 0, 0};
    transcript split = {0xcbf29ce484222325ULL, 0, 0, (data[0] >> 3) % 4, 0};
    int e1 = run(&lim, head_only, msg, mlen, NULL, 0, &whole);
    int e2 = run(&lim, head_only, msg, mlen, sizes, 8, &split);
    if (whole.h != split.h || e1 != e2) {
        fprintf(stderr, "transcripts differ: whole err=%d body=%zu msgs=%d, split err=%d body=%zu msgs=%d\n", e1,
                whole.body, whole.messages, e2, split.body, split.messages);
        abort();
    }
    if (whole.body > mlen) abort(); /* de-chunking never produces bytes out of nothing */
#ifdef CHUNKED_ONLY
    free(buf);
#endif
    return 0;
}
