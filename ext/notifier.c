#include "notifier.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

chb_notifier *chb_notifier_new(void) {
    chb_notifier *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->efd < 0) { free(n); return NULL; }
    pthread_mutex_init(&n->mu, NULL);
    n->refs = 1;
    return n;
}

void chb_notifier_incref(chb_notifier *n) { __atomic_add_fetch(&n->refs, 1, __ATOMIC_ACQ_REL); }

void chb_notifier_decref(chb_notifier *n) {
    if (__atomic_sub_fetch(&n->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    close(n->efd);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

void chb_notifier_push(chb_notifier *n, chb_request *r) {
    if (r->in_ready_list) return;
    r->in_ready_list = 1; /* holding the reference the caller gave for the ready list */
    pthread_mutex_lock(&n->mu);
    int was_empty = n->head == NULL;
    r->ready_next = n->head;
    n->head = r;
    pthread_mutex_unlock(&n->mu);
    if (was_empty) {
        uint64_t one = 1;
        /* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
        ssize_t w = write(n->efd, &one, sizeof one);
        (void)w;
    }
}

chb_request *chb_notifier_take(chb_notifier *n) {
    uint64_t v;
    ssize_t rd = read(n->efd, &v, sizeof v);
    (void)rd;
    pthread_mutex_lock(&n->mu);
    chb_request *head = n->head;
    n->head = NULL;
    pthread_mutex_unlock(&n->mu);
    return head;
}
