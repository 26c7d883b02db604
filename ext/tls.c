#include "tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pool.h"

static const char *expected_name(struct chb_pool *p) {
    return p->cfg.server_hostname[0] ? p->cfg.server_hostname : p->cfg.host;
}

static int is_ip_literal(const char *s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void openssl_error(char *err, size_t errlen, const char *what) {
    unsigned long e = ERR_get_error();
    char detail[256] = "unknown error";
    if (e) ERR_error_string_n(e, detail, sizeof detail);
    ERR_clear_error();
    snprintf(err, errlen, "%s: %s", what, detail);
}

/* New TLS 1.3 tickets arrive after the handshake: keep the latest for new connections.
 * Runs on the engine thread (all SSL I/O happens there). */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess) {
    struct chb_pool *p = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (!p) return 0;
    if (p->tls_session) SSL_SESSION_free(p->tls_session);
    p->tls_session = sess;
    return 1; /* we keep the reference */
}

/* The `ciphers` option, as curl and Python's ssl read it: TLS_* names restrict the
 * TLS 1.3 suites, the rest is an OpenSSL cipher list for TLS 1.2; a part not given
 * keeps OpenSSL's defaults. */
static int apply_ciphers(SSL_CTX *ctx, const char *list, char *err, size_t errlen) {
    char v12[1024] = "", v13[1024] = "", item[1024];
    for (const char *s = list; *s;) {
        size_t n = strcspn(s, ":, ");
        if (n && n < sizeof item) {
            memcpy(item, s, n);
            item[n] = 0;
            char *dst = strncmp(item, "TLS_", 4) == 0 ? v13 : v12;
            size_t used = strlen(dst);
            if (used + n + 2 > sizeof v12) break; /* cannot happen: list fits cfg.ciphers */
            if (used) dst[used++] = ':';
            memcpy(dst + used, item, n + 1);
        }
        s += n;
        s += strspn(s, ":, ");
    }
    if (!v12[0] && !v13[0]) {
        snprintf(err, errlen, "ciphers: no cipher named in '%s'", list);
        return -1;
    }
    if (v12[0] && SSL_CTX_set_cipher_list(ctx, v12) != 1) {
        char what[1100];
        snprintf(what, sizeof what, "ciphers: OpenSSL knows no TLS 1.2 cipher in '%s'", v12);
        openssl_error(err, errlen, what);
        return -1;
    }
    if (v13[0] && SSL_CTX_set_ciphersuites(ctx, v13) != 1) {
        char what[1100];
        snprintf(what, sizeof what, "ciphers: OpenSSL knows no TLS 1.3 suite in '%s'", v13);
        openssl_error(err, errlen, what);
        return -1;
    }
    return 0;
}

int chb_tls_check_ciphers(const char *list, char *err, size_t errlen) {
    if (!list[0]) return 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        openssl_error(err, errlen, "could not create a TLS context");
        return -1;
    }
    int rc = apply_ciphers(ctx, list, err, errlen);
    SSL_CTX_free(ctx);
    return rc;
}

SSL_CTX *chb_tls_ctx_new(struct chb_pool *p, char *err, size_t errlen) {
    const chb_pool_cfg *cfg = &p->cfg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        openssl_error(err, errlen, "could not create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (cfg->ciphers[0] && apply_ciphers(ctx, cfg->ciphers, err, errlen) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cfg->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok;
        if (cfg->ca_certs[0]) {
            struct stat st;
            if (stat(cfg->ca_certs, &st) != 0) {
                snprintf(err, errlen, "ca_certs '%s' does not exist", cfg->ca_certs);
                SSL_CTX_free(ctx);
                return NULL;
            }
            ok = S_ISDIR(st.st_mode) ? SSL_CTX_load_verify_locations(ctx, NULL, cfg->ca_certs)
                                     : SSL_CTX_load_verify_locations(ctx, cfg->ca_certs, NULL);
        } else {
            ok = SSL_CTX_set_default_verify_paths(ctx);
        }
        if (ok != 1) {
            openssl_error(err, errlen, "could not load CA certificates");
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (cfg->certfile[0]) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cfg->certfile) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, cfg->keyfile[0] ? cfg->keyfile : cfg->certfile, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            openssl_error(err, errlen, "could not load the client certificate/key");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
    SSL_CTX_set_app_data(ctx, p);
    return ctx;
}

void chb_tls_ctx_free(SSL_CTX *ctx) {
    if (ctx) SSL_CTX_free(ctx);
}

SSL *chb_tls_ssl_new(struct chb_pool *p) {
    SSL *ssl = SSL_new(p->ssl_ctx);
    if (!ssl) return NULL;
    const char *name = expected_name(p);
    int ip = is_ip_literal(name);
    if (!ip) SSL_set_tlsext_host_name(ssl, name); /* SNI carries names only */
    if (p->cfg.verify) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name) != 1 : SSL_set1_host(ssl, name) != 1) {
            SSL_free(ssl);
            return NULL;
        }
    }
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    static const unsigned char h1[] = "\x08http/1.1";
    if (p->cfg.http2 != CHB_H2_OFF) SSL_set_alpn_protos(ssl, both, sizeof both - 1);
    else SSL_set_alpn_protos(ssl, h1, sizeof h1 - 1);
    if (p->tls_session) SSL_set_session(ssl, p->tls_session);
    return ssl;
}

void chb_tls_handshake_done(struct chb_pool *p, SSL *ssl) {
    __atomic_add_fetch(&p->st.tls_handshakes, 1, __ATOMIC_RELAXED);
    if (SSL_session_reused(ssl)) __atomic_add_fetch(&p->st.tls_resumed, 1, __ATOMIC_RELAXED);
}

int chb_tls_alpn_h2(SSL *ssl) {
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &proto, &len);
    return len == 2 && memcmp(proto, "h2", 2) == 0;
}

int chb_tls_describe_error(struct chb_pool *p, struct bufferevent *bev, SSL *ssl, char *out, size_t n) {
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e, last = 0;
    while ((e = bufferevent_get_openssl_error(bev))) last = e;
    char detail[256] = "";
    if (last) ERR_error_string_n(last, detail, sizeof detail);
    ERR_clear_error();
    const char *name = expected_name(p);
    if (vr != X509_V_OK) {
        const char *why = X509_verify_cert_error_string(vr);
        const char *hint = "";
        switch (vr) {
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            hint = " (the certificate is not valid for this name; set server_hostname to the name it carries)";
            break;
        case X509_V_ERR_CERT_HAS_EXPIRED:
            hint = " (the server's certificate has expired)";
            break;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            hint = " (unknown CA: pass ca_certs with the CA that signed the server's certificate)";
            break;
        }
        snprintf(out, n, "TLS certificate verification failed for %s:%d (name '%s'): %s%s", p->cfg.host,
                 p->cfg.port, name, why, hint);
    } else if (strstr(detail, "wrong version number") || strstr(detail, "packet length too long") ||
               strstr(detail, "record layer failure") ||
               (!SSL_is_init_finished(ssl) && (!detail[0] || strstr(detail, "lib(0)")))) {
        /* OpenSSL met non-TLS bytes, or libevent kept only a bare code: either way the
         * handshake never got going */
        snprintf(out, n, "TLS handshake with %s:%d failed: the server did not answer with TLS "
                 "(is this a plain HTTP port? use secure=False) [%s]", p->cfg.host, p->cfg.port, detail);
    } else if (detail[0]) {
        snprintf(out, n, "TLS handshake with %s:%d failed: %s", p->cfg.host, p->cfg.port, detail);
    } else {
        return 0;
    }
    return 1;
}
