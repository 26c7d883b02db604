/* Per-endpoint connection pool. Every operation except chb_pool_get/stats runs on
 * the engine thread, so the pool itself needs no lock. */
#ifndef CHB_POOL_H
#define CHB_POOL_H
#include <sys/socket.h>
#include "conn.h"
#include "hosts.h"
#include "request.h"

#define CHB_MAX_ADDRS 8
#define CHB_POOL_STAT_ADD(p, field, n) __atomic_add_fetch(&(p)->st.field, (n), __ATOMIC_RELAXED)

typedef struct {
    char host[256];
    int port;
    char name[64];           /* pools with different names never share connections */
    int max_size;
    /* Timeouts are not part of the key: they travel with each request (chb_timeouts). */
    /* TLS (secure = 1). The struct is zeroed before filling: pools compare it bytewise. */
    int secure;
    int verify;              /* verify the peer certificate and name (default on) */
    int http2;               /* CHB_H2_OFF, CHB_H2_AUTO, CHB_H2_REQUIRED */
    char ca_certs[1024];     /* CA file or directory; empty: the system store */
    char certfile[1024];     /* client certificate chain (mutual TLS) */
    char keyfile[1024];
    char server_hostname[256]; /* name for SNI and verification; empty: host */
    char ciphers[1024];      /* OpenSSL cipher list; TLS_* names are TLS 1.3 suites; empty: defaults */
} chb_pool_cfg;

enum { CHB_H2_OFF = 0, CHB_H2_AUTO = 1, CHB_H2_REQUIRED = 2 };

typedef struct {
    long in_use, idle, waiting, created, closed, reused, retries, requests, open, peak_open;
    long tls_handshakes, tls_resumed, h2_connections, h2_streams;
    long kills, kills_dropped, kill_open;  /* KILL QUERY requests: sent, dropped unsent, their connections */
    long kills_parked, kills_resent;       /* kills waiting for an unreachable server; sent again from there */
} chb_pool_stats;

/* Process-wide figures (chb_engine_stats). */
typedef struct {
    long pools;              /* live pools of this process */
    long open;               /* their connections, user and kill */
    long lingering;          /* pools without a reference, about to be freed */
} chb_engine_stats;

typedef struct chb_pool {
    chb_pool_cfg cfg;
    char authority[300];                   /* "host:port" for Host / :authority, made once (per request it was a snprintf) */
    struct ssl_ctx_st *ssl_ctx;            /* secure pools */
    struct ssl_session_st *tls_session;    /* last session ticket: resumed by new connections */
    unsigned generation;
    struct sockaddr_storage addrs[CHB_MAX_ADDRS];
    socklen_t addrlens[CHB_MAX_ADDRS];
    int naddrs;
    /* engine thread */
    struct chb_conn *idle;                 /* most recently used first */
    chb_request *waiters_head, *waiters_tail;
    int total;                             /* connections open or opening */
    int draining;                          /* connections reading the rest of an abandoned result */
    int nwaiters;
    int connecting;                        /* connections not yet usable (TCP/TLS handshake) */
    int proto;                             /* 0 unknown, 1 HTTP/1.1, 2 h2 (what ALPN chose last) */
    int kicking;                           /* inside chb_pool_kick */
    struct chb_conn *h2conns;              /* HTTP/2 connections (streams multiplexed) */
    /* KILL QUERY requests: their own small budget of connections and queue, so they
     * never take a slot from, or go before, a user query (engine thread) */
    chb_request *kills_head, *kills_tail;
    int nkills;
    int kill_total;                        /* kill connections open or opening */
    struct chb_conn *kill_idle;
    int kill_kicking;
    /* kills that found the server unreachable, kept to be sent again when it answers
     * (bounded: see KILL_PARK_* in exchange.c) */
    chb_request *parked_head, *parked_tail;
    int nparked;
    int kill_probing;                      /* a parked kill is out, testing the server */
    double park_backoff;
    struct event *park_timer;
    chb_pool_stats st;                     /* written on the engine thread, read atomically */
    chb_health health;                     /* hosts.c: passive health of this endpoint */
    /* registry_mu */
    int refs;                              /* Client objects and requests not yet done */
    int pending_linger;                    /* linger tasks submitted, not yet run */
    double linger_since;                   /* when its last reference went */
    struct event *linger_timer;            /* engine thread */
    struct chb_pool *next;
} chb_pool;

/* Find or create the pool for cfg and take a reference (thread-safe; resolves the
 * host: call without the GIL). Returns NULL and fills err on failure. A pool whose
 * last reference is dropped lingers briefly (a Connection opened right after another
 * closed reuses its sockets), then is freed: idle sockets closed, DNS forgotten. */
chb_pool *chb_pool_get(const chb_pool_cfg *cfg, char *err, size_t errlen);
/* What the pool calls above itself, set once at module init before any pool is used.
 * A table rather than calls because these are true upcalls: the pool sits below the
 * protocols (which open connections) and below the request's life and the host set
 * (exchange.c, hosts.c), yet its own timer ends a waiting request and its release
 * sees a whole answer. */
typedef struct {
    chb_conn_connector open;                 /* open a connection for r (http1.c's chb_conn_open) */
    void (*request_done)(chb_request *r);    /* a waiter failed its pool_timeout (chb_req_engine_done) */
    void (*answered)(struct chb_pool *p);    /* a whole answer on p (chb_req_server_answered) */
} chb_pool_upcalls;
void chb_pool_set_upcalls(const chb_pool_upcalls *u);
/* Addresses of host:port (at most CHB_MAX_ADDRS, IPv4 first); -1 and err on failure. */
int chb_resolve(const char *host, int port, struct sockaddr_storage *addrs, socklen_t *lens, char *err,
                size_t errlen);
void chb_pool_ref(chb_pool *p);
void chb_pool_unref(chb_pool *p);
void chb_pool_read_stats(chb_pool *p, chb_pool_stats *out);
/* Stats of the live pool for cfg without referencing it; 0 if there is none. */
int chb_pool_peek_stats(const chb_pool_cfg *cfg, chb_pool_stats *out);
void chb_engine_read_stats(chb_engine_stats *out);

/* engine thread */
void chb_pool_acquire(chb_pool *p, chb_request *r, int front, int fresh);
/* Queue a KILL QUERY request on the pool's kill budget (front: a retry). -1: the
 * queue is full, k was failed (not queued) and the caller ends it. */
int chb_pool_submit_kill(chb_pool *p, chb_request *k, int front);
/* The first kill queued on the budget, unlinked; NULL if none (parking, exchange.c). */
chb_request *chb_pool_take_kill(chb_pool *p);
void chb_pool_release(struct chb_conn *c, int reusable);
void chb_pool_forget_waiter(chb_pool *p, chb_request *r);
/* A connect whose request left (the connect hedge, http1.c) goes on without it. */
void chb_pool_orphaned(chb_pool *p);
/* That connect ended: keep, the connection is parked idle; else it is closed. */
void chb_pool_adopt(struct chb_conn *c, int keep);
/* An idle connection closed or expired: unlink and free it. */
void chb_pool_drop_idle(struct chb_conn *c);
/* A slot taken for a connection that could not even be allocated. */
void chb_pool_slot_lost(chb_pool *p, chb_request *r);
/* Give free capacity (h2 streams, idle connections, room to open) to waiters. */
void chb_pool_kick(chb_pool *p);
/* ALPN result of a new connection: decides whether waiters wait for it or open more. */
void chb_pool_learned_protocol(chb_pool *p, int h2);
void chb_pool_add_h2(struct chb_conn *c);
void chb_pool_drop_h2(struct chb_conn *c);
/* An h2 stream ended: its slot is free. */
void chb_pool_stream_done(chb_pool *p);
#endif
