#include "loop.h"

#include <event2/thread.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct task {
    chb_task_fn fn;
    void *arg;
    struct task *next;
} task;

/* Everything here is process-global: the engine is shared by every thread and
 * every asyncio loop of the process. */
static struct {
    pthread_mutex_t mu;
    int started;
    struct event_base *base;
    struct event *wake;      /* reads `efd`: drains the task queue */
    int efd;                 /* eventfd written by submitters (no libevent lock taken) */
    int wake_pending;
    pthread_t thread;
    task *head, *tail;
    unsigned generation;
} L = {PTHREAD_MUTEX_INITIALIZER, 0, NULL, NULL, -1, 0, 0, NULL, NULL, 0};

static __thread int on_engine_thread;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

double chb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void drain_tasks(evutil_socket_t fd, short what, void *arg) {
    (void)what; (void)arg;
    uint64_t n;
    /* reset the eventfd before taking the queue: a later submit writes it again */
    while (read(fd, &n, sizeof n) < 0 && errno == EINTR) {}
    for (;;) {
        pthread_mutex_lock(&L.mu);
        task *t = L.head;
        L.head = L.tail = NULL;
        L.wake_pending = 0;
        pthread_mutex_unlock(&L.mu);
        if (!t) return;
        while (t) {
            task *next = t->next;
            t->fn(t->arg);
            free(t);
            t = next;
        }
    }
}

static void *engine_main(void *arg) {
    (void)arg;
    on_engine_thread = 1;
    event_base_loop(L.base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* In a forked child the engine thread does not exist. Forget the parent's engine
 * (its memory is leaked on purpose: freeing it could touch sockets the parent still
 * uses) and start a fresh one on first use. */
static void atfork_child(void) {
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    L.mu = fresh;
    L.started = 0;
    L.base = NULL;
    L.wake = NULL;
    L.efd = -1;
    L.wake_pending = 0;
    L.head = L.tail = NULL;
    L.generation++;
}

static void register_atfork(void) { pthread_atfork(NULL, NULL, atfork_child); }

static int start_locked(void) {
    if (L.started) return 0;
    pthread_once(&atfork_once, register_atfork);
    static int threads_enabled;
    if (!threads_enabled) {
        if (evthread_use_pthreads() != 0) return -1;
        threads_enabled = 1;
    }
    struct event_config *cfg = event_config_new();
    if (!cfg) return -1;
    L.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!L.base) return -1;
    /* Submitters wake the engine through an eventfd, not event_active(): that takes
     * libevent's base lock, which the engine thread holds while it runs, so a
     * submitting thread (holding the GIL: an asyncio loop) waited for it, ~0.2 ms
     * per query on a busy machine. */
    L.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (L.efd < 0) goto fail;
    L.wake = event_new(L.base, L.efd, EV_READ | EV_PERSIST, drain_tasks, NULL);
    if (!L.wake || event_add(L.wake, NULL) != 0) goto fail;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Keep the engine thread's signal mask: Python handles signals on the main thread
     * anyway, and libevent registers no signal events here. */
    int rc = pthread_create(&L.thread, &attr, engine_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) goto fail;
    L.started = 1;
    return 0;
fail:
    if (L.wake) event_free(L.wake);
    if (L.efd >= 0) close(L.efd);
    event_base_free(L.base);
    L.wake = NULL;
    L.efd = -1;
    L.base = NULL;
    return -1;
}

int chb_loop_submit(chb_task_fn fn, void *arg) {
    task *t = malloc(sizeof *t);
    if (!t) return -1;
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&L.mu);
    if (start_locked() != 0) {
        pthread_mutex_unlock(&L.mu);
        free(t);
        return -1;
    }
    if (L.tail) L.tail->next = t; else L.head = t;
    L.tail = t;
    int wake = !L.wake_pending;
    L.wake_pending = 1;
    int efd = L.efd;
    pthread_mutex_unlock(&L.mu);
    /* One wake-up drains any number of queued tasks. */
    if (wake) {
        uint64_t one = 1;
        while (write(efd, &one, sizeof one) < 0 && errno == EINTR) {}
    }
    return 0;
}

struct event_base *chb_loop_base(void) { return L.base; }
unsigned chb_loop_generation(void) { return L.generation; }
int chb_loop_on_thread(void) { return on_engine_thread; }
