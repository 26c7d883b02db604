/* Wakes an asyncio loop from the engine thread: requests with news are put on a
 * ready list and one eventfd write wakes the loop, which drains the whole list
 * (one wake-up may complete many futures). */
#ifndef CHB_NOTIFIER_H
#define CHB_NOTIFIER_H
#include <pthread.h>
#include "request.h"

typedef struct chb_notifier {
    int efd;
    pthread_mutex_t mu;
    chb_request *head;
    int refs;
} chb_notifier;

chb_notifier *chb_notifier_new(void);
void chb_notifier_incref(chb_notifier *n);
void chb_notifier_decref(chb_notifier *n);
/* engine thread, r->mu held: queue r (if not queued yet) with a reference the caller took */
void chb_notifier_push(chb_notifier *n, chb_request *r);
/* consumer: detach the ready list (each entry holds a request reference). */
chb_request *chb_notifier_take(chb_notifier *n);
#endif
