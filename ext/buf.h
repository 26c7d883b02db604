/* Growable byte buffer shared by the C components (no Python, no I/O). */
#ifndef CHB_BUF_H
#define CHB_BUF_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    /* Sticky: set by any failed growth and kept until chb_buf_free, so that code
     * appending many pieces (a request) checks once, at the end, with chb_buf_failed,
     * and throws the whole buffer away (a piece missing from the middle is never sent). */
    int failed;
} chb_buf;

static inline void chb_buf_init(chb_buf *b) { b->data = NULL; b->len = 0; b->cap = 0; b->failed = 0; }
static inline void chb_buf_free(chb_buf *b) { free(b->data); chb_buf_init(b); }
static inline int chb_buf_failed(const chb_buf *b) { return b->failed; }

/* Make room for `extra` more bytes; returns 0, or -1 when out of memory. */
static inline int chb_buf_reserve(chb_buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    if (extra > SIZE_MAX / 2 - b->len) { b->failed = 1; return -1; }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) { b->failed = 1; return -1; }
    b->data = p;
    b->cap = cap;
    return 0;
}
static inline int chb_buf_append(chb_buf *b, const void *src, size_t n) {
    if (n == 0) return 0; /* memcpy from/to NULL is undefined even for 0 bytes */
    if (chb_buf_reserve(b, n)) return -1;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}
static inline int chb_buf_putc(chb_buf *b, uint8_t c) { return chb_buf_append(b, &c, 1); }
static inline int chb_buf_puts(chb_buf *b, const char *s) { return chb_buf_append(b, s, strlen(s)); }
/* Drop the first n bytes. */
static inline void chb_buf_consume(chb_buf *b, size_t n) {
    if (n >= b->len) { b->len = 0; return; }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
#endif
