/* One query: shared by the consumer (a Python thread or an asyncio loop) and the
 * engine thread. Fields under "shared" are guarded by mu; fields under "engine"
 * are touched only on the engine thread. */
#ifndef CHB_REQUEST_H
#define CHB_REQUEST_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

#include "buf.h"
#include "wire.h"

struct chb_pool;
struct chb_hostset;
struct chb_conn;
struct chb_notifier;
struct nd_scanner;

typedef enum {
    REQ_NEW,           /* built, not yet handed to the engine */
    REQ_WAIT_POOL,     /* waiting for a pool slot */
    REQ_CONNECTING,    /* a fresh connection is being opened for it */
    REQ_SENDING,       /* request bytes being written */
    REQ_AWAIT_HEADERS, /* sent; waiting for the status line and headers */
    REQ_STREAMING,     /* receiving the body */
    REQ_PAUSED,        /* body reading stopped: the consumer is behind (backpressure) */
    REQ_DONE,          /* whole response received (blocks may still be queued) */
    REQ_FAILED,        /* error recorded */
    REQ_CANCELLED,     /* cancelled by the consumer */
} chb_req_state;

static inline int chb_req_terminal(chb_req_state s) { return s >= REQ_DONE; }

typedef enum {
    ERR_NONE,
    ERR_SERVER,        /* ClickHouse reported an exception (code/message) */
    ERR_CONNECT,       /* could not connect / resolve */
    ERR_NETWORK,       /* connection dropped or reset */
    ERR_TIMEOUT,       /* connect, send/receive or query timeout */
    ERR_POOL_TIMEOUT,  /* no pool slot within pool_timeout */
    ERR_PROTOCOL,      /* not a ClickHouse answer (HTML page, bad HTTP, ...) */
    ERR_MALFORMED,     /* Native data could not be framed */
    ERR_UNSUPPORTED,   /* a type this driver cannot decode */
    ERR_CANCELLED,
    ERR_INTERNAL,      /* out of memory, engine start failure */
    ERR_LIMIT,         /* a client-side resource limit (max_block_bytes) */
} chb_err_kind;

typedef enum { MODE_NATIVE, MODE_RAW } chb_body_mode;

/* Timeouts travel with each request, so that they never split pools. Seconds; 0 = none. */
typedef struct {
    double pool;              /* max wait for a slot */
    double connect;
    double rw;                /* send/receive inactivity */
    double idle;              /* keep the connection idle this long after the request */
} chb_timeouts;

typedef struct chb_block {
    uint8_t *data;     /* malloc'd; the block is data[0..len) */
    size_t len;
    struct chb_block *next;
} chb_block;

/* Frees a list of blocks (taken off a request under its lock). */
void chb_blocks_free(chb_block *b);

/* The parts of a request each layer owns (the struct below holds one of each). */

/* Blocks decoded and queued for the consumer (shared: under the request's mu). */
typedef struct {
    chb_block *head, *tail;
    size_t queued;            /* bytes of queued blocks */
    size_t limit;             /* backpressure high-water mark (bytes of queued blocks) */
} chb_req_blocks;

/* Native framing of the body (response.c, engine thread). */
typedef struct {
    chb_buf body;             /* Native bytes not yet framed into a block */
    struct nd_scanner *scanner;
    size_t max_block_bytes;   /* largest Native block we agree to hold unfinished (0 = no limit) */
    chb_buf errbody;          /* body of a non-200 answer */
} chb_req_framing;

/* Content-Encoding of the answer (response.c, engine thread). */
typedef struct {
    int encoding;             /* DC_GZIP / DC_ZSTD, 0 identity, -1 unknown */
    struct dc_stream *dc;     /* decoder of a compressed body */
    double max_ratio;         /* max decoded/encoded bytes of one block (0 = off) */
    size_t slice_out;         /* decoded bytes from the current compressed slice */
    size_t zin_block;         /* compressed bytes fed since the current block began */
} chb_req_inflate;

/* Reading the rest of an abandoned result to keep its connection (exchange.c). */
typedef struct {
    int active;               /* consumer gone: read the rest and discard it */
    int counted;              /* counted in pool->draining */
    size_t bytes;             /* bytes discarded while draining */
} chb_req_drain;

/* KILL QUERY: a query's own (sent once), or, for a kill request, its resends and
 * parking (exchange.c, pool.c). */
typedef struct {
    int sent;                 /* this query's KILL QUERY was made (once, when needed) */
    int resends;              /* a kill that matched nothing may be sent again this many times */
    int parks;                /* times it was sent again from the parked list (server back) */
    double parked_at;         /* chb_now() when first parked (0: never) */
    int probe;                /* sent from the parked list to see whether the server answers */
} chb_req_kill;

/* One HTTP/2 stream (http2.c). */
typedef struct {
    struct chb_request *next; /* requests of one HTTP/2 connection */
    int32_t stream_id;        /* 0 when not on a stream */
    int end_stream;           /* the server ended the stream (END_STREAM seen) */
    size_t unconsumed;        /* DATA bytes not yet acknowledged (paused stream) */
    size_t body_off;          /* request body bytes handed to nghttp2 */
} chb_req_h2;

typedef struct chb_request {
    /* ---- immutable after submit ---- */
    struct chb_pool *pool;    /* engine thread may move it to another host (hosts.c) */
    struct chb_hostset *hosts; /* several endpoints: referenced; NULL for one */
    uint64_t tried;           /* engine thread: bit i set once hosts->pools[i] failed it */
    chb_msg msg;              /* what is sent: each protocol serialises it for its connection */
    char query_id[128];
    int retryable;            /* safe to send again on a fresh connection */
    chb_body_mode mode;
    double query_timeout;     /* seconds, 0 = none */
    chb_timeouts to;
    int is_kill;              /* the driver's own KILL QUERY: separate budget, never a user slot */
    chb_req_kill kill;        /* engine thread */
    int is_check;             /* an active health check of its pool's host (hosts.c) */
    int health_counted;       /* engine: its failure already marked the host (passive health) */
    int want_progress;        /* the consumer reads progress: wake it on each X-ClickHouse-Progress */

    /* ---- shared (mu) ---- */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int refs;                 /* consumer + engine (+ notifier ready list) */
    chb_req_state state;
    int headers_ready;
    int http_status;
    int ch_code;              /* X-ClickHouse-Exception-Code or parsed from the body */
    char *summary;            /* X-ClickHouse-Summary (JSON text) */
    char *server_query_id;    /* X-ClickHouse-Query-Id */
    char *exception_tag;      /* X-ClickHouse-Exception-Tag (25.11+) */
    char *progress;           /* the latest X-ClickHouse-Progress (JSON text), NULL before one */
    unsigned progress_seq;    /* counts the X-ClickHouse-Progress headers received */
    char *content_type;
    /* A read may move to another host until its consumer hands a row to the caller
     * (rows_delivered, set by Stream.deliver()); each move is a new attempt, and the
     * consumer drops what it buffered of an earlier one (see cursor.py _on_block). */
    int rows_delivered;
    unsigned attempt;
    chb_req_blocks blocks;
    chb_buf raw;              /* MODE_RAW body */
    chb_err_kind err;
    char *err_msg;
    struct chb_notifier *notifier;
    void *armed;              /* consumer's wake-up token (owned by the consumer side) */
    int in_ready_list;
    struct chb_request *ready_next;

    /* ---- engine thread only ---- */
    struct chb_conn *conn;
    struct event *timer;      /* query timeout */
    struct event *wait_timer; /* pool wait timeout */
    int attempts;
    chb_req_drain drain;
    chb_req_framing framing;
    chb_req_inflate inflate;
    chb_req_h2 h2;
    int engine_finished;      /* chb_req_engine_done ran: the engine let go of it */
    int got_response_bytes;
    int resp_status;          /* HTTP status of the response being read */
    int sent;                 /* request fully written: the server may be running it */
    struct chb_request *wait_next; /* pool waiter queue */
    double wait_deadline;
    /* multi-host liveness probe (exchange.c watch_silence, verdicts from hosts.c) */
    struct event *probe_timer; /* checks the host's silence every connect_timeout */
    double rx_at;             /* chb_now() when this attempt was started or last received bytes */
    double queued_at;         /* chb_now() when it began waiting for its current host (the connect hedge) */
    int is_ping;              /* the probe's own GET /ping (sent on the kill budget, never parked) */
} chb_request;

chb_request *chb_req_new(void);
/* FIFO queues of requests linked by wait_next (pool waiters, kills, parked kills). */
void chb_reqq_push(chb_request **head, chb_request **tail, chb_request *r, int front);
chb_request *chb_reqq_pop(chb_request **head, chb_request **tail);
int chb_reqq_unlink(chb_request **head, chb_request **tail, chb_request *r); /* 0: r was not queued */
void chb_req_incref(chb_request *r);
void chb_req_decref(chb_request *r);

/* State under the request's lock (set never leaves a terminal state). */
static inline chb_req_state chb_req_get_state(chb_request *r) {
    pthread_mutex_lock(&r->mu);
    chb_req_state s = r->state;
    pthread_mutex_unlock(&r->mu);
    return s;
}
static inline void chb_req_set_state(chb_request *r, chb_req_state s) {
    pthread_mutex_lock(&r->mu);
    if (!chb_req_terminal(r->state)) r->state = s;
    pthread_mutex_unlock(&r->mu);
}

/* Engine thread: record a terminal state (first one wins), wake the consumer. */
void chb_req_fail(chb_request *r, chb_err_kind kind, int ch_code, const char *fmt, ...);
/* Engine thread, mu held: wake whoever waits on r (condvar and/or notifier). */
void chb_req_notify_locked(chb_request *r);
#endif
