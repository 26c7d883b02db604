/* TLS with OpenSSL: one SSL_CTX per pool (peer and hostname verification, SNI,
 * ALPN h2/http1.1, client certificates, TLS 1.2 minimum, session resumption). */
#ifndef CHB_TLS_H
#define CHB_TLS_H
#include <stddef.h>
#include <openssl/ssl.h>

struct chb_pool;
struct bufferevent;

/* Build the pool's context (reads CA files: call without the GIL). NULL + err on failure. */
SSL_CTX *chb_tls_ctx_new(struct chb_pool *p, char *err, size_t errlen);
void chb_tls_ctx_free(SSL_CTX *ctx);
/* 0 if OpenSSL can use the cipher list (the `ciphers` option), else -1 + err. */
int chb_tls_check_ciphers(const char *list, char *err, size_t errlen);
/* A new SSL for one connection of p: SNI, expected name, ALPN, cached session. */
SSL *chb_tls_ssl_new(struct chb_pool *p);
/* After the handshake: count it, and whether the session was resumed. */
void chb_tls_handshake_done(struct chb_pool *p, SSL *ssl);
/* 1 if ALPN chose h2. */
int chb_tls_alpn_h2(SSL *ssl);
/* Explain a failed handshake or TLS I/O error in words. Returns 0 when OpenSSL
 * reported nothing (a plain TCP failure such as a refused connection). */
int chb_tls_describe_error(struct chb_pool *p, struct bufferevent *bev, SSL *ssl, char *out, size_t n);
#endif
