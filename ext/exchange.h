/* The life of one request on the engine thread, whatever the protocol: start,
 * query timeout, cancel, abandon (drain), resume after backpressure, KILL QUERY,
 * and the end. Scheduled from consumers with chb_loop_submit. */
#ifndef CHB_EXCHANGE_H
#define CHB_EXCHANGE_H
#include "request.h"

struct chb_pool;
struct chb_hostset;

void chb_req_start_task(void *req);
void chb_req_cancel_task(void *req);
void chb_req_resume_task(void *req);
/* The consumer let go of an unfinished result: drain a small rest to keep the
 * connection, else abort (KILL QUERY). */
void chb_req_abandon_task(void *req);

/* Engine thread: r reached a terminal state and is detached; release engine-side resources. */
void chb_req_engine_done(chb_request *r);
/* Fire-and-forget KILL QUERY for r's query_id (once). */
void chb_req_send_kill(chb_request *r);
/* the liveness probe's GET /ping (hosts.c): on the kill budget, ahead of queued kills */
void chb_req_submit_ping(chb_request *k);
/* Was r (possibly) received by the server and not finished? */
int chb_req_in_flight(chb_request *r);
/* A protocol-level failure of r while attached to a connection that is being dropped:
 * retry once on a fresh connection when that is safe, else fail. Returns 1 if retried.
 * The caller has already detached r from the connection. */
int chb_req_retry_or_fail(chb_request *r, int reused_conn, chb_err_kind kind, const char *msg);
/* A whole answer came back on p (the pool's upcall): parked kills are sent again and
 * the host counts as healthy. */
void chb_req_server_answered(struct chb_pool *p);
/* Start the active checks of hs every hs->check_interval seconds, on the engine
 * thread; they stop once only they still refer to the set. Any thread. */
void chb_req_start_checks(struct chb_hostset *hs);
#endif
