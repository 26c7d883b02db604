#include "hosts.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "loop.h"
#include "conn.h"
#include "pool.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* Per-thread xorshift: picks run on caller threads and the engine thread. */
static unsigned rnd(void) {
    static __thread uint64_t s;
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)(uintptr_t)&s) ^ 0x9e3779b97f4a7c15ull;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (unsigned)(s >> 32);
}

static int64_t now_us(void) { return (int64_t)(chb_now() * 1e6); }

/* ClickHouse's nearest_hostname: characters that differ position by position, the
 * length difference counting as differing characters. */
static int hostname_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
    int d = (int)(la > lb ? la - lb : lb - la);
    for (size_t i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

chb_hostset *chb_hosts_new(chb_pool **pools, int n, int policy, double backoff, double backoff_max,
                           double dns_refresh) {
    chb_hostset *hs = calloc(1, sizeof *hs);
    if (!hs) return NULL;
    hs->refs = 1;
    hs->n = n;
    hs->policy = policy;
    hs->backoff = backoff;
    hs->backoff_max = backoff_max < backoff ? backoff : backoff_max;
    hs->dns_refresh = dns_refresh;
    char me[256] = "";
    gethostname(me, sizeof me - 1);
    for (int i = 0; i < n; i++) {
        hs->pools[i] = pools[i];
        hs->distance[i] = hostname_distance(me, pools[i]->cfg.host);
    }
    return hs;
}

void chb_hosts_ref(chb_hostset *hs) { __atomic_add_fetch(&hs->refs, 1, __ATOMIC_RELAXED); }

void chb_hosts_unref(chb_hostset *hs) {
    if (__atomic_sub_fetch(&hs->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    for (int i = 0; i < hs->n; i++) chb_pool_unref(hs->pools[i]);
    free(hs);
}

int chb_hosts_index(chb_hostset *hs, chb_pool *p) {
    for (int i = 0; i < hs->n; i++)
        if (hs->pools[i] == p) return i;
    return -1;
}

/* A host whose backoff ran out gets one request to test it (the others keep going
 * elsewhere), so a node that is still gone costs one request a connect timeout, not
 * every request that arrives at that moment. The claim expires after PROBE_SECONDS:
 * a probe that ends without a verdict (cancelled, timed out by its query_timeout)
 * must not leave the host unused for good. */
#define PROBE_SECONDS 5.0
static int usable(chb_pool *p, int64_t now, int claim) {
    int64_t until = LOAD(p->health.down_until_us);
    if (until == 0) return 1;
    if (until > now) return 0;
    int64_t probe = LOAD(p->health.probe_until_us);
    if (!claim) return probe <= now;
    return probe <= now && __atomic_compare_exchange_n(&p->health.probe_until_us, &probe,
                                                       now + (int64_t)(PROBE_SECONDS * 1e6), 0, __ATOMIC_ACQ_REL,
                                                       __ATOMIC_RELAXED);
}

static int has_room(chb_pool *p) { return LOAD(p->st.in_use) < p->cfg.max_size; }

/* ---- re-resolution: a name's address set may change (Kubernetes, cloud endpoints) ---- */

typedef struct {
    chb_pool *pool;
    struct sockaddr_storage addrs[CHB_MAX_ADDRS];
    socklen_t lens[CHB_MAX_ADDRS];
    int n;
} refresh_job;

/* engine thread: adopt the new set; idle connections to the old one close now, busy
 * ones when their request ends (addr_epoch), so no request is cut short. */
static void refresh_apply(void *arg) {
    refresh_job *j = arg;
    chb_pool *p = j->pool;
    if (j->n > 0) {
        int same = j->n == p->naddrs;
        for (int i = 0; same && i < j->n; i++)
            same = j->lens[i] == p->addrlens[i] && memcmp(&j->addrs[i], &p->addrs[i], j->lens[i]) == 0;
        if (!same) {
            memcpy(p->addrs, j->addrs, sizeof p->addrs);
            memcpy(p->addrlens, j->lens, sizeof p->addrlens);
            p->naddrs = j->n;
            p->health.addr_epoch++;
            while (p->idle) chb_pool_drop_idle(p->idle);
            /* a host that was down under its old addresses gets a fresh chance */
            chb_health_answered(p);
        }
    }
    double t = chb_now();
    __atomic_store(&p->health.resolved_at, &t, __ATOMIC_RELAXED);
    STORE(p->health.resolving, 0);
    chb_pool_unref(p);
    free(j);
}

static void *refresh_thread(void *arg) {
    refresh_job *j = arg;
    char err[300];
    j->n = chb_resolve(j->pool->cfg.host, j->pool->cfg.port, j->addrs, j->lens, err, sizeof err);
    /* a failed lookup keeps the old addresses (n <= 0): DNS trouble is not a host failure */
    if (chb_loop_submit(refresh_apply, j) != 0) {
        STORE(j->pool->health.resolving, 0);
        free(j);
    }
    return NULL;
}

/* Any thread: start a background lookup of p's name if its addresses are older than
 * the set's dns_refresh (never blocks the caller: DNS may be slow). */
static void maybe_refresh(chb_hostset *hs, chb_pool *p, double now) {
    double at;
    __atomic_load(&p->health.resolved_at, &at, __ATOMIC_RELAXED);
    if (hs->dns_refresh <= 0 || now - at < hs->dns_refresh) return;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&p->health.resolving, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return;
    refresh_job *j = calloc(1, sizeof *j);
    pthread_t t;
    pthread_attr_t attr;
    int ok = j && pthread_attr_init(&attr) == 0;
    if (ok) {
        j->pool = p;
        chb_pool_ref(p);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&t, &attr, refresh_thread, j) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) chb_pool_unref(p);
    }
    if (!ok) {
        free(j);
        STORE(p->health.resolving, 0);
    }
}

chb_pool *chb_hosts_pick(chb_hostset *hs, uint64_t tried) {
    int64_t now = now_us();
    for (int i = 0; i < hs->n; i++) maybe_refresh(hs, hs->pools[i], now / 1e6);
    int cand[CHB_MAX_HOSTS], nc = 0;
    /* pass 0: up and below the cap; pass 1: up (every up host is at its cap) */
    for (int pass = 0; pass < 2 && nc == 0; pass++) {
        for (int i = 0; i < hs->n; i++) {
            chb_pool *p = hs->pools[i];
            if ((tried >> i) & 1) continue;
            if (!usable(p, now, 0)) continue;
            if (pass == 0 && !has_room(p)) continue;
            cand[nc++] = i;
        }
    }
    int pick = -1;
    if (nc == 0) {
        /* every host left is down: the one that comes back first */
        int64_t best = 0;
        for (int i = 0; i < hs->n; i++) {
            if ((tried >> i) & 1) continue;
            int64_t until = LOAD(hs->pools[i]->health.down_until_us);
            if (pick < 0 || until < best) pick = i, best = until;
        }
        return pick < 0 ? NULL : hs->pools[pick];
    }
    switch (hs->policy) {
    case CHB_LB_IN_ORDER:
        pick = cand[0];
        break;
    case CHB_LB_FIRST_OR_RANDOM:
        pick = cand[0] == 0 ? 0 : cand[rnd() % nc];
        break;
    case CHB_LB_ROUND_ROBIN: {
        unsigned start = __atomic_fetch_add(&hs->rr, 1, __ATOMIC_RELAXED) % (unsigned)hs->n;
        pick = cand[0];
        for (int k = 0; k < nc; k++) /* the first candidate at or after start, wrapping */
            if ((unsigned)cand[k] >= start) { pick = cand[k]; break; }
        break;
    }
    case CHB_LB_NEAREST_HOSTNAME: {
        int best = -1, ties = 0;
        for (int k = 0; k < nc; k++) {
            int d = hs->distance[cand[k]];
            if (best < 0 || d < hs->distance[best]) best = cand[k], ties = 1;
            else if (d == hs->distance[best] && rnd() % (unsigned)++ties == 0) best = cand[k];
        }
        pick = best;
        break;
    }
    default:
        pick = cand[rnd() % nc];
    }
    chb_pool *p = hs->pools[pick];
    /* a host past its backoff: this request is its probe (another thread may have
     * claimed it meanwhile: then it still goes there, as one more probe) */
    if (LOAD(p->health.down_until_us)) usable(p, now, 1);
    return p;
}

static void move_request(chb_request *r, chb_pool *from, chb_pool *to) {
    __atomic_add_fetch(&from->health.failovers, 1, __ATOMIC_RELAXED);
    chb_pool_ref(to);
    r->pool = to;
    r->queued_at = chb_now();
    r->sent = 0;
    r->attempts = 0;
    chb_pool_acquire(to, r, 0, 0);
    chb_pool_unref(from); /* the request's reference moved with it */
}

chb_pool *chb_hosts_hedge_target(chb_request *r) {
    chb_hostset *hs = r->hosts;
    if (!hs || r->is_kill || r->is_check || r->drain.active) return NULL;
    int i = chb_hosts_index(hs, r->pool);
    chb_pool *to = chb_hosts_pick(hs, r->tried | (i >= 0 ? 1ull << i : 0));
    return !to || to == r->pool || LOAD(to->health.down_until_us) ? NULL : to;
}

void chb_hosts_move(chb_request *r, chb_pool *to) {
    int i = chb_hosts_index(r->hosts, r->pool);
    if (i >= 0) r->tried |= 1ull << i; /* each host at most once per query */
    move_request(r, r->pool, to);
}

/* p was just marked down: requests queued for one of its connections (never sent)
 * go to another host now, rather than wait for connections that will fail too. */
static void move_waiters(chb_pool *p) {
    chb_request *r = p->waiters_head, *next;
    for (; r; r = next) {
        next = r->wait_next;
        if (!r->hosts) continue;
        int i = chb_hosts_index(r->hosts, p);
        uint64_t tried = r->tried | (i >= 0 ? 1ull << i : 0);
        chb_pool *to = chb_hosts_pick(r->hosts, tried);
        if (!to || to == p || LOAD(to->health.down_until_us)) continue; /* nowhere better */
        chb_pool_forget_waiter(p, r);
        r->tried = tried;
        move_request(r, p, to);
    }
}

void chb_health_failed(chb_pool *p, const chb_hostset *hs) {
    chb_health *h = &p->health;
    __atomic_add_fetch(&h->failures, 1, __ATOMIC_RELAXED);
    if (!hs || hs->backoff <= 0) return; /* a lone endpoint has nowhere else to go */
    /* exponential backoff with jitter: hosts that failed together come back apart */
    int e = h->streak < 30 ? h->streak : 30;
    double d = hs->backoff * (double)(1u << e);
    if (d > hs->backoff_max) d = hs->backoff_max;
    d *= 0.5 + (rnd() % 1000) / 2000.0;
    h->streak++;
    STORE(h->down_until_us, now_us() + (int64_t)(d * 1e6));
    STORE(h->probe_until_us, 0);
    move_waiters(p);
}

void chb_health_answered(chb_pool *p) {
    chb_health *h = &p->health;
    if (!LOAD(h->down_until_us) && !h->streak) return;
    h->streak = 0;
    STORE(h->down_until_us, 0);
    STORE(h->probe_until_us, 0);
}

/* ---- active checks ---- */

/* A GET of path to p's host (raw body), its failure counted against hs's backoff:
 * the active checks and the liveness probe. */
static chb_request *new_get(chb_hostset *hs, chb_pool *p, const char *path) {
    chb_request *r = chb_req_new();
    if (!r || chb_msg_get(&r->msg, path) != 0) {
        if (r) chb_req_decref(r);
        return NULL;
    }
    r->pool = p;
    chb_pool_ref(p);
    r->hosts = hs; /* its backoff; never moved to another host (chb_hosts_failover) */
    chb_hosts_ref(hs);
    r->mode = MODE_RAW;
    r->retryable = 1;
    return r;
}

chb_request *chb_hosts_check_request(chb_hostset *hs, int i) {
    static const char *paths[] = {[CHB_CHECK_PING] = "/ping", [CHB_CHECK_REPLICAS] = "/replicas_status?verbose=1"};
    chb_pool *p = hs->pools[i];
    if (p->health.checking) return NULL; /* one check per host at a time */
    chb_request *r = new_get(hs, p, paths[hs->check]);
    if (!r) return NULL;
    r->is_check = 1;
    r->to.connect = hs->connect_timeout;
    r->to.rw = r->to.pool = r->query_timeout = hs->check_interval;
    r->to.idle = hs->check_interval * 2; /* its connection stays for the next check */
    snprintf(r->query_id, sizeof r->query_id, "health-check");
    p->health.checking = 1;
    __atomic_add_fetch(&p->health.checks, 1, __ATOMIC_RELAXED);
    return r;
}

/* The largest "Absolute delay: N" of a /replicas_status?verbose=1 body. */
static double max_absolute_delay(const char *body, size_t len) {
    static const char key[] = "Absolute delay: ";
    double worst = 0;
    for (size_t i = 0; i + sizeof key - 1 < len; i++) {
        if (memcmp(body + i, key, sizeof key - 1) != 0) continue;
        double v = 0;
        for (size_t j = i + sizeof key - 1; j < len && body[j] >= '0' && body[j] <= '9'; j++) v = v * 10 + (body[j] - '0');
        if (v > worst) worst = v;
    }
    return worst;
}

void chb_hosts_check_done(chb_request *r) {
    chb_pool *p = r->pool;
    p->health.checking = 0;
    pthread_mutex_lock(&r->mu);
    int ok = r->state == REQ_DONE;
    if (ok && r->hosts->check == CHB_CHECK_REPLICAS)
        ok = max_absolute_delay((const char *)r->raw.data, r->raw.len) <= r->hosts->max_delay;
    pthread_mutex_unlock(&r->mu);
    if (ok) {
        chb_health_answered(p);
        return;
    }
    __atomic_add_fetch(&p->health.check_failures, 1, __ATOMIC_RELAXED);
    /* no answer was counted already (passive); an answer that says unwell is counted here */
    if (!r->health_counted) chb_health_failed(p, r->hosts);
}

int chb_hosts_checks_unused(chb_hostset *hs) {
    return __atomic_load_n(&hs->refs, __ATOMIC_ACQUIRE) == 1; /* only the checks still use it */
}

int chb_hosts_checks_wanted(chb_hostset *hs) { return hs->check != CHB_CHECK_NONE && hs->check_interval > 0; }

int chb_hosts_failover(chb_request *r, int never_sent, char *msg, size_t msglen) {
    chb_hostset *hs = r->hosts;
    chb_pool *from = r->pool;
    if (!hs || r->is_kill || r->is_check || r->drain.active) return 0;
    int i = chb_hosts_index(hs, from);
    if (i >= 0) r->tried |= 1ull << i;
    if (!never_sent && !r->retryable) {
        /* sent, and no answer: the server may have applied it; repeating it elsewhere
         * could apply it twice */
        size_t len = strlen(msg);
        snprintf(msg + len, msglen - len,
                 "; the statement was sent to %s:%d and may have been applied there: it was not retried on "
                 "another host (only reads are, and with retry_replicated_inserts INSERTs into Replicated tables)",
                 from->cfg.host, from->cfg.port);
        return 0;
    }
    chb_pool *to = chb_hosts_pick(hs, r->tried);
    if (!to) {
        size_t len = strlen(msg);
        if (hs->n > 1) snprintf(msg + len, msglen - len, " (every one of the %d hosts failed this query)", hs->n);
        return 0;
    }
    /* the broken answer's headers are forgotten (under mu: the consumer reads them
     * only while headers_ready is set); the next host's replace them */
    pthread_mutex_lock(&r->mu);
    r->headers_ready = 0;
    pthread_mutex_unlock(&r->mu);
    move_request(r, from, to);
    return 1;
}

int chb_hosts_untaken(chb_request *r) {
    pthread_mutex_lock(&r->mu);
    int untaken = !r->rows_delivered;
    chb_block *b = NULL;
    if (untaken) {
        b = r->blocks.head;
        r->blocks.head = r->blocks.tail = NULL;
        r->blocks.queued = 0;
        r->attempt++; /* what the consumer took so far belongs to the abandoned attempt */
    }
    pthread_mutex_unlock(&r->mu);
    chb_blocks_free(b);
    return untaken;
}

/* ---- liveness probe: a host that accepts connections but never answers ----
 * A stopped process (SIGSTOP, a hung server) still completes TCP handshakes in the
 * kernel and takes our bytes: only silence shows it. A request whose host sent
 * nothing for CHB_PROBE_AFTER x connect_timeout (since the request was started on its
 * connection, or since its last byte) asks the host one GET /ping on a fresh kill
 * connection (its own budget: the pool's slots may all be stuck on that host). No
 * answer within CHB_PROBE_WAIT x connect_timeout: the host is marked down and the
 * request fails over, 3/4 of connect_timeout after its last byte, which leaves the
 * rest for the next host to serve it. An answer (a slow query on a live host: a /ping
 * on a fresh connection is answered in milliseconds even while queries run): the
 * request waits on, and the clock starts again. One ping per host at a time, whatever
 * the number of silent requests on it. */

#define PING_GRACE 0.005 /* look at a ping's verdict just after its deadline */

chb_request *chb_hosts_ping_request(chb_request *r) {
    chb_pool *p = r->pool;
    if (p->health.pinging) return NULL; /* one ping per host at a time */
    chb_request *k = new_get(r->hosts, p, "/ping");
    if (!k) return NULL;
    k->is_kill = k->is_ping = 1;
    k->to = r->to;
    /* a connect that does not complete in the rest of connect_timeout: the host is
     * cut off; once connected, CHB_PROBE_WAIT x CT (plus the link's round trips) to answer */
    k->to.connect = r->to.connect * (1 - CHB_PROBE_AFTER);
    k->to.rw = r->to.connect * CHB_PROBE_WAIT;
    k->query_timeout = r->to.connect;
    snprintf(k->query_id, sizeof k->query_id, "liveness-ping");
    p->health.pinging = 1;
    p->health.ping_sent_at = chb_now();
    __atomic_add_fetch(&p->health.pings, 1, __ATOMIC_RELAXED);
    return k;
}

int chb_hosts_ping_done(chb_request *k) {
    chb_pool *p = k->pool;
    chb_health *h = &p->health;
    h->pinging = 0;
    if (chb_req_get_state(k) == REQ_DONE) {
        h->alive_at = chb_now();
        chb_health_answered(p);
        return 1;
    }
    if (h->rx_at > h->ping_sent_at) {
        /* no answer in time, but the host sent bytes meanwhile: a slow or congested
         * link (the ping queued behind a large result), not a stopped server */
        h->alive_at = h->rx_at;
        return 1;
    }
    __atomic_add_fetch(&h->pings_unanswered, 1, __ATOMIC_RELAXED);
    h->dead_at = h->ping_sent_at;
    chb_health_failed(p, k->hosts);
    return 0;
}

int chb_hosts_silence(chb_request *r, chb_req_state s, double now, double *again, char *msg, size_t msglen) {
    chb_pool *p = r->pool;
    chb_health *h = &p->health;
    double ct = r->to.connect, after = ct * CHB_PROBE_AFTER;
    if (s == REQ_CONNECTING && r->conn && r->conn->state == CONN_CONNECTING && !r->drain.active) {
        /* its connect is pending (dropped SYNs: a host cut off): past half of
         * connect_timeout, it goes to another host, which then has the other half */
        double hedge_at = r->conn->opened_at + ct * CHB_HEDGE_AFTER;
        r->rx_at = now;
        if (now >= hedge_at) return CHB_SILENCE_HEDGE;
        *again = hedge_at - now;
        return CHB_SILENCE_WAIT;
    }
    if (s == REQ_WAIT_POOL && !r->conn && p->connecting > 0 && !r->drain.active) {
        /* queued behind the host's pending connects: the same hedge */
        double hedge_at = r->queued_at + ct * CHB_HEDGE_AFTER;
        r->rx_at = now;
        if (now >= hedge_at) return CHB_SILENCE_HEDGE;
        *again = hedge_at - now;
        return CHB_SILENCE_WAIT;
    }
    if (s < REQ_SENDING || s == REQ_PAUSED || r->drain.active || !r->conn) {
        /* not on a connection yet (its queue and connect are watched above and by
         * pool_timeout), or not reading on purpose: the consumer is behind, or the
         * result was abandoned */
        r->rx_at = now;
        *again = after;
        return CHB_SILENCE_WAIT;
    }
    double last = r->rx_at > h->alive_at ? r->rx_at : h->alive_at;
    if (now - last < after) {
        *again = last + after - now;
        return CHB_SILENCE_WAIT;
    }
    if (h->dead_at >= last && !h->pinging) {
        /* a ping sent after this request's last byte got no answer */
        snprintf(msg, msglen,
                 "no data received from %s:%d for %.2fs, and it did not answer a /ping within %gs "
                 "(connect_timeout=%gs)",
                 p->cfg.host, p->cfg.port, now - r->rx_at, ct * CHB_PROBE_WAIT, ct);
        return CHB_SILENCE_DEAD;
    }
    return CHB_SILENCE_PING;
}

double chb_hosts_ping_wait(chb_request *r, double now) {
    chb_health *h = &r->pool->health;
    double ct = r->to.connect;
    if (!h->pinging) return ct * CHB_PROBE_AFTER;
    double due = h->ping_sent_at + ct * CHB_PROBE_WAIT + PING_GRACE - now;
    return due > 0.01 ? due : 0.01; /* its deadline may stretch: look again soon */
}
