/* What a request is made of before any protocol carries it (pure C, no Python):
 * the message (target, header pairs, credentials, body), the KILL QUERY statement
 * that cancels it, and random query ids. Serialising it is the protocols' job. */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
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

static void url_escape_str(chb_buf *b, const char *s) { url_escape(b, s, strlen(s)); }

void chb_pairs_add(chb_pairs *p, const char *name, const char *value) {
    chb_buf_append(&p->b, name, strlen(name) + 1);
    chb_buf_append(&p->b, value, strlen(value) + 1);
    p->n++;
}

const char *chb_pairs_next(const chb_pairs *p, const char *at, const char **value) {
    const char *end = (const char *)p->b.data + p->b.len;
    const char *name = at ? *value + strlen(*value) + 1 : (const char *)p->b.data;
    if (!name || name >= end) return NULL;
    *value = name + strlen(name) + 1;
    return name;
}

/* name=value&... of pairs, URL-escaped, after sep when there is anything before. */
static void put_params(chb_buf *out, const chb_pairs *p, int first) {
    const char *v = NULL;
    for (const char *k = chb_pairs_next(p, NULL, &v); k; k = chb_pairs_next(p, k, &v)) {
        if (!first) chb_buf_putc(out, '&');
        first = 0;
        url_escape_str(out, k);
        chb_buf_putc(out, '=');
        url_escape_str(out, v);
    }
}

static void base64(chb_buf *out, const uint8_t *s, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        char q[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63], i + 1 < n ? tab[v >> 6 & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
        chb_buf_append(out, q, 4);
    }
}

static void copy_pairs(chb_pairs *dst, const chb_pairs *src) {
    chb_pairs_init(dst);
    if (src) {
        chb_buf_append(&dst->b, src->b.data, src->b.len);
        dst->n = src->n;
    }
}

chb_msg_base *chb_msg_base_new(const chb_pairs *params, const chb_pairs *headers, chb_auth auth, const char *user,
                               const char *password) {
    chb_msg_base *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->refs = 1;
    chb_buf q, basic;
    chb_buf_init(&q);
    chb_buf_init(&basic);
    put_params(&q, params, 1);
    chb_buf_putc(&q, 0);
    copy_pairs(&b->headers, headers);
    chb_pairs_init(&b->auth);
    chb_buf_init(&b->secrets);
    /* the values we put on the wire are the ones blanked out of messages */
    if (auth == CHB_AUTH_BASIC) {
        chb_buf up;
        chb_buf_init(&up);
        chb_buf_puts(&up, user);
        chb_buf_putc(&up, ':');
        chb_buf_puts(&up, password);
        chb_buf_puts(&basic, "Basic ");
        base64(&basic, up.data, up.len);
        chb_buf_putc(&basic, 0);
        if (up.failed) basic.failed = 1;
        chb_buf_free(&up);
        if (!basic.failed) {
            chb_pairs_add(&b->auth, "Authorization", (const char *)basic.data);
            chb_buf_puts(&b->secrets, (const char *)basic.data + 6);
            chb_buf_putc(&b->secrets, 0);
        }
    } else if (auth == CHB_AUTH_HEADERS) {
        chb_pairs_add(&b->auth, "X-ClickHouse-User", user);
        if (*password) {
            chb_pairs_add(&b->auth, "X-ClickHouse-Key", password);
            chb_buf_append(&b->secrets, password, strlen(password) + 1);
        }
    }
    if (password && *password && auth == CHB_AUTH_BASIC) chb_buf_append(&b->secrets, password, strlen(password) + 1);
    chb_buf_putc(&b->secrets, 0);
    b->params = (char *)q.data;
    /* every append above, checked once */
    int failed = q.failed || basic.failed || b->headers.b.failed || b->auth.b.failed || b->secrets.failed;
    chb_buf_free(&basic);
    if (failed) {
        chb_msg_base_decref(b);
        return NULL;
    }
    return b;
}

void chb_msg_base_incref(chb_msg_base *b) { __atomic_add_fetch(&b->refs, 1, __ATOMIC_ACQ_REL); }

void chb_msg_base_decref(chb_msg_base *b) {
    if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    free(b->params);
    chb_pairs_free(&b->headers);
    chb_pairs_free(&b->auth);
    chb_buf_free(&b->secrets);
    free(b);
}

int chb_msg_query(chb_msg *m, chb_msg_base *base, const char *query_id, const chb_pairs *params,
                  const chb_pairs *headers, const void *body, size_t body_len) {
    chb_buf t;
    chb_buf_init(&t);
    memset(m, 0, sizeof *m);
    m->method = "POST";
    chb_buf_puts(&t, "/?");
    chb_buf_puts(&t, base->params);
    int first = base->params[0] == 0;
    if (query_id && *query_id) {
        if (!first) chb_buf_putc(&t, '&');
        first = 0;
        chb_buf_puts(&t, "query_id=");
        url_escape_str(&t, query_id);
    }
    if (params) put_params(&t, params, first);
    chb_buf_putc(&t, 0);
    m->target = (char *)t.data;
    copy_pairs(&m->headers, headers);
    m->body = body_len ? malloc(body_len) : NULL;
    if (m->body) memcpy(m->body, body, body_len);
    m->body_len = body_len;
    m->base = base;
    chb_msg_base_incref(base);
    if (t.failed || m->headers.b.failed || (body_len && !m->body)) {
        chb_msg_free(m);
        return -1;
    }
    return 0;
}

int chb_msg_get(chb_msg *m, const char *path) {
    memset(m, 0, sizeof *m);
    m->method = "GET";
    m->target = strdup(path);
    chb_pairs_add(&m->headers, "User-Agent", "clickhouse_backend");
    if (!m->target || m->headers.b.failed) {
        chb_msg_free(m);
        return -1;
    }
    return 0;
}

int chb_msg_copy(chb_msg *dst, const chb_msg *src) {
    memset(dst, 0, sizeof *dst);
    dst->method = src->method;
    dst->target = strdup(src->target);
    copy_pairs(&dst->headers, &src->headers);
    dst->body = src->body_len ? malloc(src->body_len) : NULL;
    if (dst->body) memcpy(dst->body, src->body, src->body_len);
    dst->body_len = src->body_len;
    dst->base = src->base;
    if (dst->base) chb_msg_base_incref(dst->base);
    if (!dst->target || dst->headers.b.failed || (src->body_len && !dst->body)) {
        chb_msg_free(dst);
        return -1;
    }
    return 0;
}

void chb_msg_free(chb_msg *m) {
    free(m->target);
    free(m->body);
    chb_pairs_free(&m->headers);
    if (m->base) chb_msg_base_decref(m->base);
    memset(m, 0, sizeof *m);
}

static int add_hdrs(const chb_pairs *p, chb_hdr *out, int k, int max) {
    const char *v = NULL;
    for (const char *name = chb_pairs_next(p, NULL, &v); name; name = chb_pairs_next(p, name, &v)) {
        if (k >= max) return -1;
        out[k++] = (chb_hdr){name, v, strlen(name), strlen(v)};
    }
    return k;
}

int chb_msg_headers(const chb_msg *m, chb_hdr *out, int max) {
    int k = 0;
    if (m->base && ((k = add_hdrs(&m->base->headers, out, k, max)) < 0 || (k = add_hdrs(&m->base->auth, out, k, max)) < 0))
        return -1;
    return add_hdrs(&m->headers, out, k, max);
}

void chb_wire_authority(const char *host, int port, char *out, size_t n) {
    snprintf(out, n, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

size_t chb_wire_u64(char *out, uint64_t v) {
    char tmp[20];
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < k; i++) out[i] = tmp[k - 1 - i];
    out[k] = 0;
    return k;
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
