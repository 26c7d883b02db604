/* The engine thread: one libevent event_base on a dedicated native thread,
 * started lazily, re-created in a child after fork(). */
#ifndef CHB_LOOP_H
#define CHB_LOOP_H
#include <event2/event.h>

typedef void (*chb_task_fn)(void *arg);

/* Run fn(arg) on the engine thread (thread-safe, any thread; starts the engine on
 * first use). Returns 0, or -1 if the engine could not be started. */
int chb_loop_submit(chb_task_fn fn, void *arg);
/* The event_base; only to be used on the engine thread. */
struct event_base *chb_loop_base(void);
/* Bumped in a child process after fork(): objects from an older generation belong
 * to the parent's engine and must not be used. */
unsigned chb_loop_generation(void);
int chb_loop_on_thread(void);
#include <sys/time.h>
static inline struct timeval chb_tv(double secs) {
    struct timeval tv;
    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    return tv;
}
/* Monotonic clock in seconds. */
double chb_now(void);
#endif
