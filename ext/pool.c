#include "pool.h"

#include <netdb.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "conn.h"
#include "loop.h"
#include "tls.h"

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static chb_pool *registry;

#define STAT_ADD CHB_POOL_STAT_ADD

static void total_add(chb_pool *p, int n) {
    p->total += n;
    __atomic_store_n(&p->st.open, (long)p->total, __ATOMIC_RELAXED);
    if (p->total > p->st.peak_open) __atomic_store_n(&p->st.peak_open, (long)p->total, __ATOMIC_RELAXED);
}

/* Callers zero the cfg before filling it, so padding and string tails compare equal. */
static int cfg_equal(const chb_pool_cfg *a, const chb_pool_cfg *b) { return memcmp(a, b, sizeof *a) == 0; }

/* Resolve host:port, IPv4 first: a server listening on 127.0.0.1 only must not be
 * missed because "localhost" resolves to ::1 first. Any thread; returns the count. */
int chb_resolve(const char *host, int port, struct sockaddr_storage *addrs, socklen_t *lens, char *err,
                size_t errlen) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "could not resolve host '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    int n = 0;
    for (int family_pass = 0; family_pass < 2; family_pass++) {
        for (struct addrinfo *ai = res; ai && n < CHB_MAX_ADDRS; ai = ai->ai_next) {
            if ((family_pass == 0) != (ai->ai_family == AF_INET)) continue;
            memset(&addrs[n], 0, sizeof addrs[n]);
            memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
            lens[n++] = ai->ai_addrlen;
        }
    }
    freeaddrinfo(res);
    if (n == 0) {
        snprintf(err, errlen, "host '%s' has no usable address", host);
        return -1;
    }
    return n;
}

static int resolve(chb_pool *p, char *err, size_t errlen) {
    int n = chb_resolve(p->cfg.host, p->cfg.port, p->addrs, p->addrlens, err, errlen);
    if (n < 0) return -1;
    p->naddrs = n;
    p->health.resolved_at = chb_now();
    return 0;
}

/* A pool without references lingers this long before it is freed. */
#define LINGER_SECONDS 1.0
#define LINGER_MAX 8
/* KILL QUERY budget per endpoint, beside pool_size: connections, and queued kills
 * (more are dropped: the server is far behind, or unreachable). */
#define KILL_CONNS 2
#define KILL_QUEUE_MAX 1024
static chb_pool *find_locked(const chb_pool_cfg *cfg, unsigned gen) {
    for (chb_pool *p = registry; p; p = p->next)
        if (p->generation == gen && cfg_equal(&p->cfg, cfg)) return p;
    return NULL;
}

/* What the pool calls above itself (chb_pool_upcalls in pool.h), set at module init:
 * the pool knows connections by their operations table only, never a protocol by
 * name, and never calls the request's life or the host set directly. */
static chb_pool_upcalls up;

void chb_pool_set_upcalls(const chb_pool_upcalls *u) { up = *u; }

chb_pool *chb_pool_get(const chb_pool_cfg *cfg, char *err, size_t errlen) {
    unsigned gen = chb_loop_generation();
    pthread_mutex_lock(&registry_mu);
    chb_pool *q = find_locked(cfg, gen);
    if (q) q->refs++;
    pthread_mutex_unlock(&registry_mu);
    if (q) return q;
    /* Resolve outside the lock: DNS may be slow, and other endpoints must not wait. */
    chb_pool *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    chb_wire_authority(cfg->host, cfg->port, p->authority, sizeof p->authority);
    p->generation = gen;
    if (resolve(p, err, errlen) != 0) {
        free(p);
        return NULL;
    }
    if (cfg->secure && !(p->ssl_ctx = chb_tls_ctx_new(p, err, errlen))) {
        free(p);
        return NULL;
    }
    pthread_mutex_lock(&registry_mu);
    if ((q = find_locked(cfg, gen))) { /* lost a race */
        q->refs++;
        pthread_mutex_unlock(&registry_mu);
        chb_tls_ctx_free(p->ssl_ctx);
        free(p);
        return q;
    }
    p->refs = 1;
    p->next = registry;
    registry = p;
    pthread_mutex_unlock(&registry_mu);
    return p;
}

void chb_pool_ref(chb_pool *p) {
    pthread_mutex_lock(&registry_mu);
    p->refs++;
    pthread_mutex_unlock(&registry_mu);
}

/* Engine thread: close what the pool still holds (idle sockets only: nothing refers
 * to it, so nothing is in flight) and free it. */
static void pool_free(chb_pool *p) {
    CHB_INVARIANT(!p->waiters_head && !p->kills_head && !p->parked_head && p->st.in_use == 0);
    while (p->idle) chb_pool_drop_idle(p->idle);
    while (p->kill_idle) chb_pool_drop_idle(p->kill_idle);
    while (p->h2conns) chb_pool_drop_idle(p->h2conns);
    if (p->linger_timer) event_free(p->linger_timer);
    if (p->park_timer) event_free(p->park_timer);
    if (p->tls_session) SSL_SESSION_free(p->tls_session);
    chb_tls_ctx_free(p->ssl_ctx);
    free(p);
}

static void linger_cb(evutil_socket_t fd, short what, void *arg) {
    chb_pool *p = arg;
    pthread_mutex_lock(&registry_mu);
    int dead = p->refs == 0 && p->pending_linger == 0;
    if (dead) {
        /* unlinked under the lock: no chb_pool_get can find it any more */
        for (chb_pool **pp = &registry; *pp; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&registry_mu);
    if (dead) pool_free(p);
}

/* Unlink (under the lock) the unreferenced pool that began lingering first, if more
 * than LINGER_MAX linger: churning pool names must not pile up pools and sockets. */
static chb_pool *evict_locked(void) {
    int n = 0;
    chb_pool **oldest = NULL;
    unsigned gen = chb_loop_generation();
    for (chb_pool **pp = &registry; *pp; pp = &(*pp)->next) {
        chb_pool *q = *pp;
        if (q->generation != gen || q->refs != 0 || q->pending_linger != 0) continue;
        n++;
        if (!oldest || q->linger_since < (*oldest)->linger_since) oldest = pp;
    }
    if (n <= LINGER_MAX) return NULL;
    chb_pool *q = *oldest;
    *oldest = q->next;
    return q;
}

static void linger_task(void *arg) {
    chb_pool *p = arg;
    if (!p->linger_timer) p->linger_timer = evtimer_new(chb_loop_base(), linger_cb, p);
    pthread_mutex_lock(&registry_mu);
    p->pending_linger--; /* while a task is pending, the pool cannot be freed */
    p->linger_since = chb_now();
    pthread_mutex_unlock(&registry_mu);
    if (p->linger_timer) {
        struct timeval tv = chb_tv(LINGER_SECONDS);
        evtimer_add(p->linger_timer, &tv);
    }
    for (;;) {
        pthread_mutex_lock(&registry_mu);
        chb_pool *q = evict_locked();
        pthread_mutex_unlock(&registry_mu);
        if (!q) break;
        pool_free(q);
    }
}

void chb_pool_unref(chb_pool *p) {
    if (p->generation != chb_loop_generation()) return; /* the parent's engine owns it */
    pthread_mutex_lock(&registry_mu);
    int last = --p->refs == 0;
    if (last) p->pending_linger++;
    pthread_mutex_unlock(&registry_mu);
    if (last && chb_loop_submit(linger_task, p) != 0) {
        pthread_mutex_lock(&registry_mu);
        p->pending_linger--; /* no engine: the pool stays, as before */
        pthread_mutex_unlock(&registry_mu);
    }
}

void chb_pool_read_stats(chb_pool *p, chb_pool_stats *out) {
    long *src = (long *)&p->st, *dst = (long *)out;
    for (size_t i = 0; i < sizeof *out / sizeof(long); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

int chb_pool_peek_stats(const chb_pool_cfg *cfg, chb_pool_stats *out) {
    pthread_mutex_lock(&registry_mu);
    chb_pool *p = find_locked(cfg, chb_loop_generation());
    if (p) chb_pool_read_stats(p, out);
    pthread_mutex_unlock(&registry_mu);
    return p != NULL;
}

void chb_engine_read_stats(chb_engine_stats *out) {
    memset(out, 0, sizeof *out);
    unsigned gen = chb_loop_generation();
    pthread_mutex_lock(&registry_mu);
    for (chb_pool *p = registry; p; p = p->next) {
        if (p->generation != gen) continue;
        out->pools++;
        out->open += __atomic_load_n(&p->st.open, __ATOMIC_RELAXED) + __atomic_load_n(&p->st.kill_open, __ATOMIC_RELAXED);
        if (p->refs == 0) out->lingering++;
    }
    pthread_mutex_unlock(&registry_mu);
}

static void waiter_timeout(evutil_socket_t fd, short what, void *arg) {
    chb_request *r = arg;
    event_free(r->wait_timer);
    r->wait_timer = NULL;
    chb_pool_forget_waiter(r->pool, r);
    chb_req_fail(r, ERR_POOL_TIMEOUT, 0,
                 "no connection to %s:%d became free within pool_timeout=%gs (pool_size=%d)",
                 r->pool->cfg.host, r->pool->cfg.port, r->to.pool, r->pool->cfg.max_size);
    up.request_done(r);
}

static void enqueue_waiter(chb_pool *p, chb_request *r, int front) {
    chb_reqq_push(&p->waiters_head, &p->waiters_tail, r, front);
    STAT_ADD(p, waiting, 1);
    p->nwaiters++;
    pthread_mutex_lock(&r->mu);
    r->state = REQ_WAIT_POOL;
    pthread_mutex_unlock(&r->mu);
    /* The pool wait has its own deadline; the query timeout (if any) keeps running too. */
    if (r->to.pool > 0 && !r->wait_timer) {
        r->wait_timer = evtimer_new(chb_loop_base(), waiter_timeout, r);
        if (r->wait_timer) {
            struct timeval tv = chb_tv(r->to.pool);
            evtimer_add(r->wait_timer, &tv);
        }
    }
}

void chb_pool_forget_waiter(chb_pool *p, chb_request *r) {
    if (r->is_kill) {
        if (chb_reqq_unlink(&p->kills_head, &p->kills_tail, r)) p->nkills--;
        return;
    }
    if (!chb_reqq_unlink(&p->waiters_head, &p->waiters_tail, r)) return;
    if (r->wait_timer) { event_free(r->wait_timer); r->wait_timer = NULL; }
    STAT_ADD(p, waiting, -1);
    p->nwaiters--;
}

/* While the first connection of an endpoint that may speak h2 is still in its
 * handshake, new requests wait for it: one h2 connection may carry them all. */
static int await_alpn(chb_pool *p) {
    return p->cfg.http2 != CHB_H2_OFF && p->proto != 1 && p->connecting > 0;
}

/* pool_size bounds requests in flight, whatever the protocol: h2 carries them over
 * fewer connections, it does not multiply what the server must run at once. */
static chb_conn *h2_with_capacity(chb_pool *p) {
    if (p->st.in_use >= p->cfg.max_size) return NULL;
    for (chb_conn *c = p->h2conns; c; c = c->next)
        if (c->ops->capacity(c) > 0) return c;
    return NULL;
}

static chb_conn *pop_idle(chb_pool *p) {
    chb_conn *c = p->idle;
    if (c) {
        p->idle = c->next;
        c->next = NULL;
        STAT_ADD(p, idle, -1);
        STAT_ADD(p, reused, 1);
    }
    return c;
}

/* Start r on whatever capacity there is now; 0 if none (r untouched). */
static int try_start(chb_pool *p, chb_request *r, int fresh, int allow_open) {
    chb_conn *c;
    if (!fresh && (c = h2_with_capacity(p))) {
        STAT_ADD(p, in_use, 1);
        c->ops->start(c, r);
        return 1;
    }
    if (!fresh && (c = pop_idle(p))) {
        STAT_ADD(p, in_use, 1);
        c->ops->start(c, r);
        return 1;
    }
    if (allow_open && p->total < p->cfg.max_size && p->st.in_use < p->cfg.max_size && (fresh || !await_alpn(p))) {
        total_add(p, 1);
        STAT_ADD(p, in_use, 1);
        STAT_ADD(p, created, 1);
        up.open(p, r);
        return 1;
    }
    return 0;
}

void chb_pool_acquire(chb_pool *p, chb_request *r, int front, int fresh) {
    STAT_ADD(p, requests, 1);
    /* A connection finishing an abandoned result (bounded to a few ms) is about to
     * be free: waiting for it beats opening a new one. */
    int allow_open = fresh || p->draining <= p->nwaiters;
    if ((front || !p->waiters_head) && try_start(p, r, fresh, allow_open)) return;
    enqueue_waiter(p, r, front);
}

static chb_request *pop_waiter(chb_pool *p) {
    chb_request *r = chb_reqq_pop(&p->waiters_head, &p->waiters_tail);
    STAT_ADD(p, waiting, -1);
    p->nwaiters--;
    if (r->wait_timer) { event_free(r->wait_timer); r->wait_timer = NULL; }
    return r;
}

/* Debug builds: the pool's books must balance after every change. */
static void check_pool(chb_pool *p) {
#ifdef CHB_DEBUG
    int idle = 0, waiters = 0;
    for (chb_conn *c = p->idle; c; c = c->next) idle++;
    for (chb_request *r = p->waiters_head; r; r = r->wait_next) waiters++;
    CHB_INVARIANT(p->total >= 0 && p->total <= p->cfg.max_size);
    CHB_INVARIANT(idle == p->st.idle && waiters == p->nwaiters && waiters == p->st.waiting);
    CHB_INVARIANT(p->st.in_use >= 0 && p->connecting >= 0 && p->draining >= 0);
#else
    (void)p;
#endif
}

void chb_pool_kick(chb_pool *p) {
    /* Starting a request may fail at once and release, which kicks again: the outer
     * loop re-checks, so a nested kick of the same pool has nothing to add. */
    if (p->kicking) return;
    p->kicking = 1;
    while (p->waiters_head) {
        chb_request *r = p->waiters_head;
        chb_conn *c;
        if ((c = h2_with_capacity(p))) {
            pop_waiter(p);
            STAT_ADD(p, in_use, 1);
            c->ops->start(c, r);
        } else if ((c = pop_idle(p))) {
            pop_waiter(p);
            STAT_ADD(p, in_use, 1);
            c->ops->start(c, r);
        } else if (p->total < p->cfg.max_size && p->st.in_use < p->cfg.max_size && !await_alpn(p)) {
            pop_waiter(p);
            total_add(p, 1);
            STAT_ADD(p, in_use, 1);
            STAT_ADD(p, created, 1);
            up.open(p, r);
        } else {
            break;
        }
    }
    p->kicking = 0;
    check_pool(p);
}

static void kill_total_add(chb_pool *p, int n) {
    p->kill_total += n;
    __atomic_store_n(&p->st.kill_open, (long)p->kill_total, __ATOMIC_RELAXED);
}

static chb_request *pop_kill(chb_pool *p) {
    p->nkills--;
    return chb_reqq_pop(&p->kills_head, &p->kills_tail);
}

/* Start queued kills on the kill budget. */
static void kick_kills(chb_pool *p) {
    if (p->kill_kicking) return;
    p->kill_kicking = 1;
    while (p->kills_head) {
        chb_conn *c = p->kill_idle;
        if (c) {
            p->kill_idle = c->next;
            c->next = NULL;
            c->ops->start(c, pop_kill(p));
        } else if (p->kill_total < KILL_CONNS) {
            kill_total_add(p, 1);
            up.open(p, pop_kill(p));
        } else {
            break;
        }
    }
    p->kill_kicking = 0;
}

int chb_pool_submit_kill(chb_pool *p, chb_request *k, int front) {
    if (p->nkills >= KILL_QUEUE_MAX) {
        STAT_ADD(p, kills_dropped, 1);
        chb_req_fail(k, ERR_CANCELLED, 0, "KILL QUERY dropped: %d already queued", p->nkills);
        return -1;
    }
    chb_reqq_push(&p->kills_head, &p->kills_tail, k, front);
    p->nkills++;
    pthread_mutex_lock(&k->mu);
    k->state = REQ_WAIT_POOL;
    pthread_mutex_unlock(&k->mu);
    kick_kills(p);
    return 0;
}

chb_request *chb_pool_take_kill(chb_pool *p) { return p->kills_head ? pop_kill(p) : NULL; }

static void release_kill_conn(chb_conn *c, int reusable) {
    chb_pool *p = c->pool;
    if (!reusable) {
        c->ops->close(c);
        kill_total_add(p, -1);
    } else {
        c->next = p->kill_idle;
        p->kill_idle = c;
        c->ops->park(c);
    }
    kick_kills(p);
}

void chb_pool_release(chb_conn *c, int reusable) {
    chb_pool *p = c->pool;
    if (c->kill) {
        release_kill_conn(c, reusable);
        return;
    }
    STAT_ADD(p, in_use, -1);
    if (reusable && c->addr_epoch != p->health.addr_epoch) reusable = 0; /* the name moved: drain */
    if (!reusable) {
        c->ops->close(c);
        total_add(p, -1);
        STAT_ADD(p, closed, 1);
    } else {
        c->next = p->idle;
        p->idle = c;
        STAT_ADD(p, idle, 1);
        c->ops->park(c);
        up.answered(p); /* a whole answer: the server is reachable */
    }
    chb_pool_kick(p);
}

void chb_pool_orphaned(chb_pool *p) {
    STAT_ADD(p, in_use, -1); /* still opening: counted in total until it ends */
    chb_pool_kick(p);
}

void chb_pool_adopt(chb_conn *c, int keep) {
    chb_pool *p = c->pool;
    if (keep && c->addr_epoch == p->health.addr_epoch) {
        c->next = p->idle;
        p->idle = c;
        STAT_ADD(p, idle, 1);
        c->ops->park(c); /* not an answer: a stopped server completes handshakes too */
    } else {
        c->ops->close(c);
        total_add(p, -1);
        STAT_ADD(p, closed, 1);
    }
    chb_pool_kick(p);
}

void chb_pool_drop_idle(chb_conn *c) {
    c->clean_close = 1;
    if (c->ops->multiplexed) {
        c->ops->goodbye(c);
        chb_pool_drop_h2(c);
        return;
    }
    chb_pool *p = c->pool;
    if (c->kill) {
        for (chb_conn **kp = &p->kill_idle; *kp; kp = &(*kp)->next) {
            if (*kp == c) {
                *kp = c->next;
                break;
            }
        }
        release_kill_conn(c, 0);
        return;
    }
    chb_conn **pp = &p->idle;
    while (*pp && *pp != c) pp = &(*pp)->next;
    if (*pp) {
        *pp = c->next;
        STAT_ADD(p, idle, -1);
    } else {
        STAT_ADD(p, in_use, -1); /* a busy connection that lost its request */
    }
    c->ops->close(c);
    total_add(p, -1);
    STAT_ADD(p, closed, 1);
    chb_pool_kick(p);
}

void chb_pool_learned_protocol(chb_pool *p, int h2) {
    p->proto = h2 ? 2 : 1;
    if (!h2) chb_pool_kick(p); /* HTTP/1.1: waiters need connections of their own */
}

void chb_pool_add_h2(chb_conn *c) {
    chb_pool *p = c->pool;
    c->next = p->h2conns;
    p->h2conns = c;
    STAT_ADD(p, h2_connections, 1);
    /* the connection's first request stays counted in in_use as its stream */
}

void chb_pool_drop_h2(chb_conn *c) {
    chb_pool *p = c->pool;
    for (chb_conn **pp = &p->h2conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    c->ops->close(c);
    total_add(p, -1);
    STAT_ADD(p, closed, 1);
    chb_pool_kick(p);
}

void chb_pool_stream_done(chb_pool *p) {
    STAT_ADD(p, in_use, -1);
    chb_pool_kick(p);
}

void chb_pool_slot_lost(chb_pool *p, chb_request *r) {
    if (r->is_kill) {
        kill_total_add(p, -1);
        return;
    }
    total_add(p, -1);
    STAT_ADD(p, in_use, -1);
}
