/* Several endpoints behind one connection: load balancing, passive health and
 * failover. Each host keeps its own chb_pool (connections, caps, kills): a host set
 * only chooses which pool a request goes to, and moves a request that failed before
 * the server could have run it (or a read that got no answer) to another host. */
#ifndef CHB_HOSTS_H
#define CHB_HOSTS_H
#include <stddef.h>
#include <stdint.h>

#include "request.h"

struct chb_pool;

#define CHB_MAX_HOSTS 64 /* tried hosts are a bit mask per request */

/* Active checks (hosts.py: HEALTH_CHECKS): none, GET /ping, GET /replicas_status?verbose=1
 * (up when it answers 200 and no table's absolute delay exceeds max_replica_delay). */
enum { CHB_CHECK_NONE, CHB_CHECK_PING, CHB_CHECK_REPLICAS };

/* ClickHouse's load_balancing names, in this order (hosts.py maps them). */
enum { CHB_LB_RANDOM, CHB_LB_IN_ORDER, CHB_LB_FIRST_OR_RANDOM, CHB_LB_ROUND_ROBIN, CHB_LB_NEAREST_HOSTNAME };

/* Per-endpoint health, inside its chb_pool, so every client of the endpoint shares
 * what one of them learned. Written on the engine thread, read anywhere (atomics). */
typedef struct {
    int64_t down_until_us;   /* CLOCK_MONOTONIC microseconds; 0: up */
    long failures;           /* connect errors, resets and timeouts before an answer */
    long failovers;          /* requests moved from this host to another */
    int streak;              /* failures since the last answer: the backoff exponent */
    int64_t probe_until_us;  /* a request is out testing a host whose backoff ended (claim expiry) */
    int checking;            /* engine thread: an active check is out */
    long checks, check_failures; /* active checks sent, and those that found it unwell */
    double resolved_at;      /* chb_now() of the last resolution (engine thread, and creation) */
    int resolving;           /* atomic: a refresh is running */
    unsigned addr_epoch;     /* engine thread: bumped when the address set changed */
    /* liveness probe of a silent host (engine thread): a GET /ping is out since
     * ping_sent_at; alive_at: its last answer; dead_at: when the last unanswered one was sent */
    int pinging;
    double ping_sent_at, alive_at, dead_at;
    double rx_at; /* engine thread: the host's last bytes on any connection (http1.c) */
    long pings, pings_unanswered; /* atomic: probes sent, and those that got no answer */
} chb_health;

typedef struct chb_hostset {
    int refs;                /* atomic: the client and its requests */
    int n;
    int policy;
    unsigned rr;             /* atomic: round_robin position */
    double backoff, backoff_max;
    double dns_refresh;      /* re-resolve names this often (seconds; 0: never) */
    int check;               /* CHB_CHECK_* */
    double check_interval, max_delay, connect_timeout;
    struct event *check_timer; /* engine thread; holds a reference to the set */
    int distance[CHB_MAX_HOSTS]; /* nearest_hostname: characters differing from ours */
    struct chb_pool *pools[CHB_MAX_HOSTS]; /* each referenced */
} chb_hostset;

/* Build a host set over pools already referenced (ownership of the references moves
 * to the set). hostnames: for nearest_hostname. */
chb_hostset *chb_hosts_new(struct chb_pool **pools, int n, int policy, double backoff, double backoff_max,
                           double dns_refresh);
/* This layer holds the host set's data and verdicts only; the requests it asks for
 * (active checks, the liveness probe) are started and timed by exchange.c. */
/* Whether hs wants active checks (hs->check every hs->check_interval seconds). */
int chb_hosts_checks_wanted(chb_hostset *hs);
/* engine thread: only the check timer still refers to hs (the checks stop). */
int chb_hosts_checks_unused(chb_hostset *hs);
/* engine thread: the active check of hs->pools[i], not started (the caller starts it
 * with chb_req_start_task); NULL if one is out already (or out of memory). */
chb_request *chb_hosts_check_request(chb_hostset *hs, int i);
/* engine thread: a check request ended (from chb_req_engine_done) */
void chb_hosts_check_done(chb_request *r);
void chb_hosts_ref(chb_hostset *hs);
void chb_hosts_unref(chb_hostset *hs);
/* A host for a new request, by policy, skipping hosts marked down (all down: the one
 * that comes back first) and, while others have room, hosts at their connection cap.
 * Any thread. */
struct chb_pool *chb_hosts_pick(chb_hostset *hs, uint64_t tried);
int chb_hosts_index(chb_hostset *hs, struct chb_pool *p);

/* engine thread */
/* hs: the set the failed request came through (its backoff); NULL: count only */
void chb_health_failed(struct chb_pool *p, const chb_hostset *hs);
void chb_health_answered(struct chb_pool *p);
/* r failed on its pool before any answer (kind: connect, network, timeout); with
 * never_sent, the server cannot have run it. Moves r to another host and returns 1
 * when that is safe (never sent, or a retryable read) and a host is left within the
 * query's deadline; else returns 0 and may rewrite msg to say why it was not moved. */
int chb_hosts_failover(chb_request *r, int never_sent, char *msg, size_t msglen);
/* Every failover fits in connect_timeout (CT), the retry on the next host included:
 * a connect still pending after CHB_HEDGE_AFTER x CT moves its request to another host
 * (the connect goes on for the pool); a host silent for CHB_PROBE_AFTER x CT is asked
 * one GET /ping, which has CHB_PROBE_WAIT x CT to answer. */
#define CHB_HEDGE_AFTER 0.5
#define CHB_PROBE_AFTER 0.5
#define CHB_PROBE_WAIT 0.25
/* engine thread: the watch of a multi-host request (timed by exchange.c). Its connect
 * pending for CHB_HEDGE_AFTER x CT: HEDGE (chb_hosts_hedge). On a connection, after
 * CHB_PROBE_AFTER x CT without a byte from its host, one GET /ping goes to that host on
 * a kill connection; unanswered within CHB_PROBE_WAIT x CT, the host is marked down and
 * the request fails over (or fails, if it may not be repeated). s: r's state now.
 * WAIT: look again in *again seconds; PING: a ping is due (chb_hosts_ping_request,
 * then look again after chb_hosts_ping_wait); DEAD: the host is silent, msg says why. */
enum { CHB_SILENCE_WAIT, CHB_SILENCE_PING, CHB_SILENCE_DEAD, CHB_SILENCE_HEDGE };
int chb_hosts_silence(chb_request *r, chb_req_state s, double now, double *again, char *msg, size_t msglen);
/* engine thread: the host r's pending connect should give way to (up, not tried yet),
 * or NULL: nowhere better, r waits for its connect. */
struct chb_pool *chb_hosts_hedge_target(chb_request *r);
/* engine thread: r (never sent, off any connection and queue) goes to host to. */
void chb_hosts_move(chb_request *r, struct chb_pool *to);
/* The liveness probe of r's host, not started (on the kill budget, ahead of queued
 * kills: chb_req_submit_ping); NULL if one is out already (or out of memory). */
chb_request *chb_hosts_ping_request(chb_request *r);
double chb_hosts_ping_wait(chb_request *r, double now);
/* engine thread: the liveness probe r (is_ping) ended (from chb_req_engine_done);
 * 1 if the host answered it. */
int chb_hosts_ping_done(chb_request *r);
/* engine thread: 1 if the consumer took no block of r yet; then the blocks queued
 * for it are dropped (the next host sends the whole result again). */
int chb_hosts_untaken(chb_request *r);
#endif
