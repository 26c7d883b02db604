#include "request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "notifier.h"

chb_request *chb_req_new(void) {
    chb_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->refs = 1;
    r->state = REQ_NEW;
    return r;
}

void chb_blocks_free(chb_block *b) {
    while (b) {
        chb_block *n = b->next;
        free(b->data);
        free(b);
        b = n;
    }
}

void chb_req_incref(chb_request *r) { __atomic_add_fetch(&r->refs, 1, __ATOMIC_ACQ_REL); }

void chb_req_decref(chb_request *r) {
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    CHB_INVARIANT(r->conn == NULL && r->timer == NULL && !r->in_ready_list);
    chb_blocks_free(r->blocks.head);
    chb_msg_free(&r->msg);
    free(r->summary);
    free(r->server_query_id);
    free(r->exception_tag);
    free(r->progress);
    free(r->content_type);
    free(r->err_msg);
    chb_buf_free(&r->raw);
    chb_buf_free(&r->framing.body);
    chb_buf_free(&r->framing.errbody);
    if (r->notifier) chb_notifier_decref(r->notifier);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cond);
    free(r);
}

void chb_req_notify_locked(chb_request *r) {
    pthread_cond_broadcast(&r->cond);
    if (r->notifier && !r->in_ready_list) {
        chb_req_incref(r); /* the ready list's, released by Notifier.dispatch() */
        chb_notifier_push(r->notifier, r);
    }
}

/* A proxy may reflect our request in its error page: credentials never reach a message. */
static void redact(const char *secrets, char *msg) {
    for (const char *s = secrets; s && *s; s += strlen(s) + 1) {
        size_t n = strlen(s);
        if (n < 3) continue;
        for (char *p = strstr(msg, s); p; p = strstr(p + n, s)) memset(p, '*', n);
    }
}

void chb_req_fail(chb_request *r, chb_err_kind kind, int ch_code, const char *fmt, ...) {
    char msg[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    redact(chb_msg_secrets(&r->msg), msg);
    pthread_mutex_lock(&r->mu);
    if (!chb_req_terminal(r->state)) {
        r->state = kind == ERR_CANCELLED ? REQ_CANCELLED : REQ_FAILED;
        r->err = kind;
        r->ch_code = ch_code;
        free(r->err_msg);
        r->err_msg = strdup(msg);
        chb_req_notify_locked(r);
    }
    pthread_mutex_unlock(&r->mu);
}

/* Queues of requests linked by wait_next (user waiters, kills). */
void chb_reqq_push(chb_request **head, chb_request **tail, chb_request *r, int front) {
    r->wait_next = NULL;
    if (front) {
        r->wait_next = *head;
        *head = r;
        if (!*tail) *tail = r;
    } else {
        if (*tail) (*tail)->wait_next = r; else *head = r;
        *tail = r;
    }
}

chb_request *chb_reqq_pop(chb_request **head, chb_request **tail) {
    chb_request *r = *head;
    *head = r->wait_next;
    if (!*head) *tail = NULL;
    r->wait_next = NULL;
    return r;
}

/* 0 if r was not queued. */
int chb_reqq_unlink(chb_request **head, chb_request **tail, chb_request *r) {
    chb_request **pp = head, *prev = NULL;
    while (*pp && *pp != r) { prev = *pp; pp = &(*pp)->wait_next; }
    if (!*pp) return 0;
    *pp = r->wait_next;
    if (*tail == r) *tail = prev;
    r->wait_next = NULL;
    return 1;
}
