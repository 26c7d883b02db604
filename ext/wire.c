/* What a request is made of before any protocol carries it (pure C, no Python):
 * its HTTP/1.1 bytes, the KILL QUERY statement that cancels it, random query ids,
 * and the credential values to redact from error messages. */
#include "wire.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

static void url_escape(chb_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '_' || ch == '.' || ch == '~')
            chb_buf_putc(b, ch);
        else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            chb_buf_append(b, e, 3);
        }
    }
}

int chb_wire_build(chb_buf *w, const char *static_params, const char *host_header, const char *headers,
                   const char *qid, const char *extra, const char *xheaders, const char *body, size_t body_len,
                   size_t *body_off) {
    char num[32];
    chb_buf_puts(w, "POST /?");
    chb_buf_puts(w, static_params);
    if (qid && *qid) {
        if (static_params[0]) chb_buf_putc(w, '&');
        chb_buf_puts(w, "query_id=");
        url_escape(w, qid, strlen(qid));
    }
    if (extra && *extra) {
        chb_buf_putc(w, '&');
        chb_buf_puts(w, extra);
    }
    chb_buf_puts(w, " HTTP/1.1\r\nHost: ");
    chb_buf_puts(w, host_header);
    chb_buf_puts(w, "\r\n");
    chb_buf_puts(w, headers);
    if (xheaders) chb_buf_puts(w, xheaders);
    snprintf(num, sizeof num, "%zu", body_len);
    chb_buf_puts(w, "Content-Length: ");
    chb_buf_puts(w, num);
    chb_buf_puts(w, "\r\n\r\n");
    *body_off = w->len;
    chb_buf_append(w, body, body_len);
    return chb_buf_failed(w) ? -1 : 0; /* any append above that ran out of memory */
}

void chb_random_query_id(char *out, size_t n) {
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof b; i++) b[i] = (unsigned char)((ts.tv_nsec >> (i % 8)) ^ (i * 131) ^ rand());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, n, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int chb_wire_kill_statement(chb_buf *out, const char *query_id) {
    /* the id is quoted as a ClickHouse literal */
    chb_buf_puts(out, "KILL QUERY WHERE query_id = '");
    for (const char *q = query_id; *q; q++) {
        if (*q == '\'' || *q == '\\') chb_buf_putc(out, '\\');
        chb_buf_putc(out, (uint8_t)*q);
    }
    chb_buf_puts(out, "' ASYNC");
    return chb_buf_failed(out) ? -1 : 0;
}

int chb_wire_secrets(const char *headers, chb_buf *out) {
    static const char *names[] = {"Authorization:", "X-ClickHouse-Key:"};
    for (const char *line = headers; *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        for (size_t k = 0; k < 2; k++) {
            size_t nl = strlen(names[k]);
            if (len > nl && strncasecmp(line, names[k], nl) == 0) {
                const char *v = line + nl;
                while (*v == ' ') v++;
                if (strncasecmp(v, "Basic ", 6) == 0) v += 6;
                chb_buf_append(out, v, (size_t)(line + len - v));
                chb_buf_putc(out, 0);
            }
        }
        line += len + (eol ? 2 : 0);
    }
    chb_buf_putc(out, 0);
    return chb_buf_failed(out) ? -1 : 0; /* every append above, checked once */
}
