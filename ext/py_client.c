#include "py_client.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "buf.h"
#include "decompress.h"
#include "errors.h"
#include "exchange.h"
#include "http1.h"
#include "loop.h"
#include "native_decode.h"
#include "notifier.h"
#include "pool.h"
#include "request.h"
#include "tls.h"
#include "wire.h"

PyObject *chb_error_factory;

#define DEFAULT_BUFFER_LIMIT (8u * 1024 * 1024)

static const char *ERR_NAMES[] = {
    [ERR_NONE] = "none",           [ERR_SERVER] = "server",       [ERR_CONNECT] = "connect",
    [ERR_NETWORK] = "network",     [ERR_TIMEOUT] = "timeout",     [ERR_POOL_TIMEOUT] = "pool_timeout",
    [ERR_PROTOCOL] = "protocol",   [ERR_MALFORMED] = "malformed", [ERR_UNSUPPORTED] = "unsupported",
    [ERR_CANCELLED] = "cancelled", [ERR_INTERNAL] = "internal",   [ERR_LIMIT] = "limit",
};

static const char *STATE_NAMES[] = {
    [REQ_NEW] = "new",           [REQ_WAIT_POOL] = "wait_pool", [REQ_CONNECTING] = "connecting",
    [REQ_SENDING] = "sending",   [REQ_AWAIT_HEADERS] = "await_headers", [REQ_STREAMING] = "streaming",
    [REQ_PAUSED] = "paused",     [REQ_DONE] = "done",           [REQ_FAILED] = "failed",
    [REQ_CANCELLED] = "cancelled",
};

/* Raise the PEP 249 exception for a failed request (called with the GIL, r->mu not held). */
static void raise_request_error(chb_request *r, const char *query_id) {
    pthread_mutex_lock(&r->mu);
    chb_err_kind kind = r->err;
    int code = r->ch_code, status = r->http_status;
    PyObject *msg = PyUnicode_DecodeUTF8(r->err_msg ? r->err_msg : "unknown error",
                                         r->err_msg ? (Py_ssize_t)strlen(r->err_msg) : 13, "replace");
    pthread_mutex_unlock(&r->mu);
    if (!msg) return;
    if (!chb_error_factory) {
        PyErr_SetObject(PyExc_RuntimeError, msg);
        Py_DECREF(msg);
        return;
    }
    PyObject *exc = PyObject_CallFunction(chb_error_factory, "siOis", ERR_NAMES[kind], code, msg, status,
                                          query_id);
    Py_DECREF(msg);
    if (!exc) return;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
}

/* ------------------------------------------------------------------ */
/* Notifier                                                              */

typedef struct {
    PyObject_HEAD
    chb_notifier *n;
} NotifierObject;

typedef struct {
    PyObject_HEAD
    chb_request *req;
    PyObject *fut;          /* armed future (async consumers) */
    PyObject *tz;
    int strings_as_bytes;
    int columnar;           /* nd_options.columnar; settable between blocks (fetchnumpy() after execute()) */
    chb_block *last;        /* the last block handed out, kept raw until the next one for redecode() */
    int finished;           /* end of result returned to the consumer */
    unsigned generation;
    unsigned attempt;       /* the request's attempt when the last block was taken */
    unsigned progress_seen; /* progress_seq delivered by next_block_progress() */
    char query_id[128];
} StreamObject;

static PyTypeObject StreamType;

static PyObject *Notifier_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    NotifierObject *self = (NotifierObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->n = chb_notifier_new();
    if (!self->n) {
        Py_DECREF(self);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return (PyObject *)self;
}

static void Notifier_dealloc(NotifierObject *self) {
    if (self->n) chb_notifier_decref(self->n);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Notifier_fileno(NotifierObject *self, PyObject *unused) { return PyLong_FromLong(self->n->efd); }

/* Called by the asyncio loop when the eventfd is readable: wake every armed stream
 * whose request has news. */
static PyObject *Notifier_dispatch(NotifierObject *self, PyObject *unused) {
    chb_request *r = chb_notifier_take(self->n);
    long woken = 0;
    int failed = 0;
    while (r) {
        chb_request *next = r->ready_next;
        pthread_mutex_lock(&r->mu);
        r->in_ready_list = 0;
        r->ready_next = NULL;
        StreamObject *s = r->armed;
        r->armed = NULL;
        pthread_mutex_unlock(&r->mu);
        if (s) {
            PyObject *fut = s->fut;
            s->fut = NULL;
            if (fut && !failed) {
                PyObject *done = PyObject_CallMethod(fut, "done", NULL);
                if (!done) failed = 1;
                else {
                    if (!PyObject_IsTrue(done)) {
                        PyObject *res = PyObject_CallMethod(fut, "set_result", "O", Py_None);
                        if (!res) failed = 1;
                        Py_XDECREF(res);
                        woken++;
                    }
                    Py_DECREF(done);
                }
            }
            Py_XDECREF(fut);
            Py_DECREF(s); /* reference taken by arm() */
        }
        chb_req_decref(r); /* the ready list's reference */
        r = next;
    }
    if (failed) return NULL;
    return PyLong_FromLong(woken);
}

static PyMethodDef Notifier_methods[] = {
    {"fileno", (PyCFunction)Notifier_fileno, METH_NOARGS, "eventfd to register with loop.add_reader()"},
    {"dispatch", (PyCFunction)Notifier_dispatch, METH_NOARGS, "wake the futures of ready streams"},
    {NULL},
};

static PyTypeObject NotifierType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "clickhouse_backend._engine.Notifier",
    .tp_basicsize = sizeof(NotifierObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Notifier_new,
    .tp_dealloc = (destructor)Notifier_dealloc,
    .tp_methods = Notifier_methods,
    .tp_doc = "Wakes an asyncio loop from the engine thread (one per loop).",
};

/* ------------------------------------------------------------------ */
/* Stream                                                                */

static int stream_check_generation(StreamObject *self) {
    if (self->generation != chb_loop_generation()) {
        PyErr_SetString(chb_exc(CHB_EXC_InterfaceError),
                        "this result belongs to the parent process; it cannot be used after fork()");
        return -1;
    }
    return 0;
}

static void stream_cancel_request_with(StreamObject *self, chb_task_fn task) {
    chb_request *r = self->req;
    if (!r || self->generation != chb_loop_generation()) return;
    /* A terminal state is always followed by the engine letting go on its own. */
    pthread_mutex_lock(&r->mu);
    int terminal = chb_req_terminal(r->state);
    pthread_mutex_unlock(&r->mu);
    if (terminal) return;
    chb_req_incref(r);
    if (chb_loop_submit(task, r) != 0) chb_req_decref(r);
}

static void stream_cancel_request(StreamObject *self) { stream_cancel_request_with(self, chb_req_cancel_task); }

static void stream_disarm(StreamObject *self) {
    chb_request *r = self->req;
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    int was = r->armed == (void *)self;
    if (was) r->armed = NULL;
    pthread_mutex_unlock(&r->mu);
    if (was) Py_DECREF(self);
    Py_CLEAR(self->fut);
}

static void stream_drop_last(StreamObject *self);

static void Stream_dealloc(StreamObject *self) {
    stream_drop_last(self);
    if (self->req) {
        if (!self->finished) stream_cancel_request_with(self, chb_req_abandon_task);
        chb_req_decref(self->req);
        self->req = NULL;
    }
    Py_CLEAR(self->fut);
    Py_CLEAR(self->tz);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

typedef enum { WAIT_BLOCK, WAIT_BLOCK_OR_PROGRESS } wait_what;

static int ready_locked(chb_request *r, wait_what what, unsigned progress_seen) {
    if (chb_req_terminal(r->state)) return 1;
    if (what == WAIT_BLOCK_OR_PROGRESS && r->progress_seq != progress_seen) return 1;
    return r->blocks_head != NULL;
}

/* Block (without the GIL) until r has what we wait for. Ctrl-C cancels the query. */
static int wait_for(StreamObject *self, wait_what what) {
    chb_request *r = self->req;
    unsigned seen = self->progress_seen;
    for (;;) {
        int ready;
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&r->mu);
        if (!ready_locked(r, what, seen)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&r->cond, &r->mu, &ts);
        }
        ready = ready_locked(r, what, seen);
        pthread_mutex_unlock(&r->mu);
        Py_END_ALLOW_THREADS
        if (ready) return 0;
        if (PyErr_CheckSignals() != 0) {
            stream_cancel_request(self);
            return -1;
        }
    }
}

static void stream_drop_last(StreamObject *self) {
    if (self->last) {
        free(self->last->data);
        free(self->last);
        self->last = NULL;
    }
}

/* Next item without waiting: a block tuple, Py_None at the end, Py_False when nothing is ready. */
static PyObject *stream_take(StreamObject *self) {
    chb_request *r = self->req;
    if (self->finished) Py_RETURN_NONE;
    pthread_mutex_lock(&r->mu);
    chb_block *b = r->blocks_head;
    chb_req_state st = r->state;
    int resume = 0;
    if (b || st == REQ_DONE) self->attempt = r->attempt; /* what the consumer sees now comes from it */
    if (b) {
        r->blocks_head = b->next;
        if (!r->blocks_head) r->blocks_tail = NULL;
        r->queued_bytes -= b->len;
        resume = st == REQ_PAUSED && r->queued_bytes <= r->buffer_limit / 2;
    }
    pthread_mutex_unlock(&r->mu);
    if (resume) {
        chb_req_incref(r);
        if (chb_loop_submit(chb_req_resume_task, r) != 0) chb_req_decref(r);
    }
    if (b) {
        nd_options opts = {self->tz, self->strings_as_bytes, self->columnar};
        PyObject *block = nd_decode_block(b->data, b->len, &opts);
        stream_drop_last(self);
        self->last = b;
        if (!block) stream_cancel_request(self); /* the rest of the result is useless now */
        return block;
    }
    if (st == REQ_DONE) {
        self->finished = 1;
        Py_RETURN_NONE;
    }
    if (st == REQ_FAILED || st == REQ_CANCELLED) {
        self->finished = 1;
        raise_request_error(r, self->query_id);
        return NULL;
    }
    Py_RETURN_FALSE;
}

/* The last block handed out, decoded again in the current `columnar` mode (None if
 * there is none): the cursor's first block is decoded as rows by execute(); a
 * columnar fetch right after wants it as buffers. */
static PyObject *Stream_redecode(StreamObject *self, PyObject *unused) {
    if (!self->last) Py_RETURN_NONE;
    nd_options opts = {self->tz, self->strings_as_bytes, self->columnar};
    return nd_decode_block(self->last->data, self->last->len, &opts);
}

static PyObject *Stream_get_columnar(StreamObject *self, void *unused) { return PyLong_FromLong(self->columnar); }

static int Stream_set_columnar(StreamObject *self, PyObject *v, void *unused) {
    long c = v ? PyLong_AsLong(v) : -1;
    if (c == -1 && (!v || PyErr_Occurred())) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "columnar cannot be deleted");
        return -1;
    }
    if (c < 0 || c > 4) { PyErr_SetString(PyExc_ValueError, "columnar must be 0..4"); return -1; }
    self->columnar = (int)c;
    return 0;
}

static PyObject *Stream_next_block(StreamObject *self, PyObject *unused) {
    if (stream_check_generation(self)) return NULL;
    for (;;) {
        PyObject *item = stream_take(self);
        if (item != Py_False) return item;
        Py_DECREF(item);
        if (wait_for(self, WAIT_BLOCK)) return NULL;
    }
}

/* The latest X-ClickHouse-Progress text if it is newer than `*seen` (which is
 * updated), else NULL without an exception. */
static PyObject *stream_new_progress(StreamObject *self, unsigned *seen) {
    chb_request *r = self->req;
    PyObject *text = NULL;
    pthread_mutex_lock(&r->mu);
    if (r->progress_seq != *seen) {
        *seen = r->progress_seq;
        if (r->progress) /* NULL only if its copy failed (out of memory): skip it */
            text = PyUnicode_DecodeUTF8(r->progress, (Py_ssize_t)strlen(r->progress), "replace");
    }
    pthread_mutex_unlock(&r->mu);
    return text;
}

/* next_block(), calling progress(json_text) on this thread with each newer
 * X-ClickHouse-Progress while it waits (updates that come faster are coalesced). An
 * exception of the callback cancels the query and propagates. */
static PyObject *Stream_next_block_progress(StreamObject *self, PyObject *callback) {
    if (stream_check_generation(self)) return NULL;
    for (;;) {
        /* progress first: the updates that came before a block are not skipped */
        PyObject *text = stream_new_progress(self, &self->progress_seen);
        if (!text && PyErr_Occurred()) return NULL;
        if (text) {
            PyObject *res = PyObject_CallOneArg(callback, text);
            Py_DECREF(text);
            if (!res) {
                stream_cancel_request(self);
                return NULL;
            }
            Py_DECREF(res);
        }
        PyObject *item = stream_take(self);
        if (item != Py_False) return item;
        Py_DECREF(item);
        if (wait_for(self, WAIT_BLOCK_OR_PROGRESS)) return NULL;
    }
}

static PyObject *Stream_poll(StreamObject *self, PyObject *unused) {
    if (stream_check_generation(self)) return NULL;
    return stream_take(self);
}

static PyObject *Stream_arm(StreamObject *self, PyObject *fut) {
    chb_request *r = self->req;
    if (stream_check_generation(self)) return NULL;
    if (!r->notifier) {
        PyErr_SetString(PyExc_RuntimeError, "stream was created without a notifier");
        return NULL;
    }
    stream_disarm(self);
    Py_INCREF(fut);
    self->fut = fut;
    Py_INCREF(self); /* the armed request holds the stream until dispatch */
    pthread_mutex_lock(&r->mu);
    r->armed = self;
    pthread_mutex_unlock(&r->mu);
    Py_RETURN_NONE;
}

static PyObject *Stream_cancel(StreamObject *self, PyObject *unused) {
    stream_disarm(self);
    if (!self->finished) stream_cancel_request(self);
    self->finished = 1;
    Py_RETURN_NONE;
}

static PyObject *Stream_close(StreamObject *self, PyObject *unused) {
    stream_disarm(self);
    if (!self->finished) stream_cancel_request_with(self, chb_req_abandon_task);
    self->finished = 1;
    stream_drop_last(self);
    Py_RETURN_NONE;
}

static PyObject *str_or_none(const char *s) {
    if (!s) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

/* Which field a Stream_getset entry reads (its closure). */
typedef enum {
    INFO_HTTP_STATUS, INFO_SUMMARY, INFO_STATE, INFO_RAW, INFO_SERVER_QUERY_ID, INFO_CONTENT_TYPE,
    INFO_CONTENT_ENCODING, INFO_PROGRESS, INFO_PROGRESS_SEQ
} stream_info;

static PyObject *Stream_get_info(StreamObject *self, void *which) {
    chb_request *r = self->req;
    PyObject *v = NULL;
    pthread_mutex_lock(&r->mu);
    switch ((stream_info)(intptr_t)which) {
    case INFO_HTTP_STATUS: v = r->headers_ready ? PyLong_FromLong(r->http_status) : (Py_INCREF(Py_None), Py_None); break;
    case INFO_SUMMARY: v = r->headers_ready ? str_or_none(r->summary) : (Py_INCREF(Py_None), Py_None); break;
    case INFO_STATE: v = PyUnicode_FromString(STATE_NAMES[r->state]); break;
    case INFO_RAW: v = r->state == REQ_DONE ? PyBytes_FromStringAndSize((char *)r->raw.data, (Py_ssize_t)r->raw.len)
                                     : (Py_INCREF(Py_None), Py_None); break;
    case INFO_SERVER_QUERY_ID: v = r->headers_ready ? str_or_none(r->server_query_id) : (Py_INCREF(Py_None), Py_None); break;
    case INFO_CONTENT_TYPE: v = r->headers_ready ? str_or_none(r->content_type) : (Py_INCREF(Py_None), Py_None); break;
    case INFO_PROGRESS: v = str_or_none(r->progress); break;
    case INFO_PROGRESS_SEQ: v = PyLong_FromUnsignedLong(r->progress_seq); break;
    case INFO_CONTENT_ENCODING: v = !r->headers_ready ? (Py_INCREF(Py_None), Py_None)
                : PyUnicode_FromString(r->content_encoding == DC_GZIP ? "gzip"
                                       : r->content_encoding == DC_ZSTD ? "zstd" : "identity"); break;
    }
    pthread_mutex_unlock(&r->mu);
    return v;
}

static PyObject *Stream_get_query_id(StreamObject *self, void *unused) { return PyUnicode_FromString(self->query_id); }

/* The consumer is about to hand rows to the caller: from now on the read stays on its
 * host. False if it moved since the last block taken (those rows are stale: read the
 * result again from the new attempt's first block). */
static PyObject *Stream_deliver(StreamObject *self, PyObject *unused) {
    chb_request *r = self->req;
    if (!r) Py_RETURN_TRUE;
    pthread_mutex_lock(&r->mu);
    int fresh = r->attempt == self->attempt;
    if (fresh) r->rows_delivered = 1;
    pthread_mutex_unlock(&r->mu);
    return PyBool_FromLong(fresh);
}

static PyObject *Stream_get_attempt(StreamObject *self, void *unused) { return PyLong_FromUnsignedLong(self->attempt); }

static PyMethodDef Stream_methods[] = {
    {"redecode", (PyCFunction)Stream_redecode, METH_NOARGS, "the last block again, in the current columnar mode"},
    {"next_block", (PyCFunction)Stream_next_block, METH_NOARGS, "block until the next decoded block; None at the end"},
    {"next_block_progress", (PyCFunction)Stream_next_block_progress, METH_O,
     "next_block(), calling the argument with each newer progress JSON text while waiting"},
    {"poll", (PyCFunction)Stream_poll, METH_NOARGS, "next block, None at the end, False if nothing is ready"},
    {"arm", (PyCFunction)Stream_arm, METH_O, "resolve this future (set_result(None)) on the next news"},
    {"close", (PyCFunction)Stream_close, METH_NOARGS, "let go of the rest of the result (drained if small, else cancelled)"},
    {"cancel", (PyCFunction)Stream_cancel, METH_NOARGS, "abort the request, free its slot, KILL QUERY on the server"},
    {"deliver", (PyCFunction)Stream_deliver, METH_NOARGS,
     "rows are about to reach the caller: no more host moves; False if the blocks taken are stale"},
    {NULL},
};

static PyGetSetDef Stream_getset[] = {
    {"http_status", (getter)Stream_get_info, NULL, "HTTP status (None before headers)", (void *)INFO_HTTP_STATUS},
    {"summary", (getter)Stream_get_info, NULL, "X-ClickHouse-Summary JSON text", (void *)INFO_SUMMARY},
    {"state", (getter)Stream_get_info, NULL, "request state name", (void *)INFO_STATE},
    {"raw", (getter)Stream_get_info, NULL, "raw body (raw mode, when done)", (void *)INFO_RAW},
    {"server_query_id", (getter)Stream_get_info, NULL, "X-ClickHouse-Query-Id", (void *)INFO_SERVER_QUERY_ID},
    {"content_type", (getter)Stream_get_info, NULL, "Content-Type of the answer", (void *)INFO_CONTENT_TYPE},
    {"content_encoding", (getter)Stream_get_info, NULL, "gzip/zstd/identity (deflate counts as gzip)", (void *)INFO_CONTENT_ENCODING},
    {"query_id", (getter)Stream_get_query_id, NULL, "query_id sent to the server", NULL},
    {"attempt", (getter)Stream_get_attempt, NULL, "the attempt (host move count) the last block taken came from", NULL},
    {"columnar", (getter)Stream_get_columnar, (setter)Stream_set_columnar, "decoding mode of the next blocks (0..4)", NULL},
    {"progress", (getter)Stream_get_info, NULL, "latest X-ClickHouse-Progress JSON text (None before one)", (void *)INFO_PROGRESS},
    {"progress_seq", (getter)Stream_get_info, NULL, "number of X-ClickHouse-Progress headers received", (void *)INFO_PROGRESS_SEQ},
    {NULL},
};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "clickhouse_backend._engine.Stream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Stream_dealloc,
    .tp_methods = Stream_methods,
    .tp_getset = Stream_getset,
    .tp_doc = "The response of one query, decoded block by block.",
};

/* ------------------------------------------------------------------ */
/* Client                                                                */

typedef struct {
    PyObject_HEAD
    chb_pool_cfg cfg;         /* the pool key */
    chb_timeouts to;          /* given to each request */
    chb_pool *pool;           /* referenced while set */
    unsigned generation;
    int closed;
    char *static_params;   /* URL query string shared by every request */
    char *headers;         /* header lines, each ending in \r\n */
    char host_header[300];
    char *secrets;         /* credential values in headers, NUL-separated, double-NUL ended */
    size_t secrets_len;
    /* several endpoints (alt_hosts): hosts.c balances and fails over between them */
    int nalt;
    struct { char host[256]; int port; } alt[CHB_MAX_HOSTS - 1];
    int lb_policy;
    double host_backoff, host_backoff_max, dns_refresh;
    int health_check;
    double health_check_interval, max_replica_delay;
    chb_hostset *hs;          /* referenced while set (same generation as pool) */
} ClientObject;

/* Let go of the pool: freed after a short linger if no one else uses it. */
static void client_release_pool(ClientObject *self) {
    if (self->pool && self->generation == chb_loop_generation()) {
        chb_pool_unref(self->pool);
        if (self->hs) chb_hosts_unref(self->hs);
    }
    self->pool = NULL;
    self->hs = NULL;
}

static void Client_dealloc(ClientObject *self) {
    client_release_pool(self);
    PyMem_Free(self->secrets);
    PyMem_Free(self->static_params);
    PyMem_Free(self->headers);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static char *pystrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = PyMem_Malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* The values of the credential headers (wire.c), kept to blank them out of error messages. */
static int extract_secrets(ClientObject *self) {
    chb_buf out;
    chb_buf_init(&out);
    if (chb_wire_secrets(self->headers, &out) != 0) {
        chb_buf_free(&out);
        PyErr_NoMemory();
        return -1;
    }
    PyMem_Free(self->secrets);
    self->secrets = PyMem_Malloc(out.len);
    if (!self->secrets) {
        chb_buf_free(&out);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(self->secrets, out.data, out.len);
    self->secrets_len = out.len;
    chb_buf_free(&out);
    return 0;
}

/* alt_hosts: a sequence of (host, port) besides the first. */
static int client_parse_alt(ClientObject *self, PyObject *alt_hosts) {
    self->nalt = 0;
    if (!alt_hosts || alt_hosts == Py_None) return 0;
    PyObject *seq = PySequence_Fast(alt_hosts, "alt_hosts must be a sequence of (host, port)");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > CHB_MAX_HOSTS - 1) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "at most %d hosts", CHB_MAX_HOSTS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *h;
        int port;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "si;alt_hosts items are (host, port)", &h, &port)) {
            Py_DECREF(seq);
            return -1;
        }
        if (strlen(h) >= sizeof self->alt[0].host || port < 1 || port > 65535) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "alt_hosts: host too long or port out of 1..65535");
            return -1;
        }
        snprintf(self->alt[i].host, sizeof self->alt[i].host, "%s", h);
        self->alt[i].port = port;
    }
    self->nalt = (int)n;
    Py_DECREF(seq);
    return 0;
}

/* The host set over the first endpoint's pool p and the alternates' (without the GIL). */
static chb_hostset *client_hostset(ClientObject *self, chb_pool *p, char *err, size_t errlen) {
    chb_pool *pools[CHB_MAX_HOSTS];
    int n = 0;
    chb_pool_ref(p);
    pools[n++] = p;
    for (int i = 0; i < self->nalt; i++) {
        chb_pool_cfg cfg = self->cfg; /* same options and pool name, another endpoint */
        memset(cfg.host, 0, sizeof cfg.host);
        snprintf(cfg.host, sizeof cfg.host, "%s", self->alt[i].host);
        cfg.port = self->alt[i].port;
        chb_pool *q = chb_pool_get(&cfg, err, errlen);
        if (!q) {
            while (n > 0) chb_pool_unref(pools[--n]);
            return NULL;
        }
        pools[n++] = q;
    }
    chb_hostset *hs =
        chb_hosts_new(pools, n, self->lb_policy, self->host_backoff, self->host_backoff_max, self->dns_refresh);
    if (!hs) {
        snprintf(err, errlen, "out of memory");
        while (n > 0) chb_pool_unref(pools[--n]);
        return NULL;
    }
    hs->check = self->health_check;
    hs->check_interval = self->health_check_interval;
    hs->max_delay = self->max_replica_delay;
    hs->connect_timeout = self->to.connect;
    chb_hosts_start_checks(hs);
    return hs;
}

static int Client_init(ClientObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"host", "port", "params", "headers", "pool_size", "pool_timeout", "idle_timeout",
                             "connect_timeout", "send_receive_timeout", "pool_name", "secure", "verify",
                             "ca_certs", "certfile", "keyfile", "server_hostname", "http2", "ciphers",
                             "alt_hosts", "load_balancing", "host_backoff", "host_backoff_max", "dns_refresh",
                             "health_check", "health_check_interval", "max_replica_delay", NULL};
    int health_check = CHB_CHECK_NONE;
    double health_check_interval = 5, max_replica_delay = 300;
    PyObject *alt_hosts = NULL;
    int lb_policy = CHB_LB_RANDOM;
    double host_backoff = 1, host_backoff_max = 60, dns_refresh = 0;
    const char *host, *params = "", *headers = "", *pool_name = "";
    const char *ca_certs = "", *certfile = "", *keyfile = "", *server_hostname = "", *ciphers = "";
    int secure = 0, verify = 1, http2 = -1;
    /* No defaults here: they are defined once, in driver/config.py (Options), and the
     * driver passes every one; a missing one is a caller's mistake, said plainly. */
    int port, pool_size = -1;
    double pool_timeout = NAN, idle_timeout = NAN, connect_timeout = NAN, rw_timeout = NAN;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "si|ssiddddsppssssisOidddidd", kwlist, &host, &port, &params, &headers,
                                     &pool_size, &pool_timeout, &idle_timeout, &connect_timeout, &rw_timeout,
                                     &pool_name, &secure, &verify, &ca_certs, &certfile, &keyfile,
                                     &server_hostname, &http2, &ciphers, &alt_hosts, &lb_policy, &host_backoff,
                                     &host_backoff_max, &dns_refresh, &health_check, &health_check_interval,
                                     &max_replica_delay))
        return -1;
    if (pool_size == -1 || isnan(pool_timeout) || isnan(idle_timeout) || isnan(connect_timeout) ||
        isnan(rw_timeout) || http2 == -1) {
        PyErr_SetString(PyExc_TypeError, "Client() needs pool_size, pool_timeout, idle_timeout, connect_timeout, "
                                         "send_receive_timeout and http2 (defaults: driver/config.py Options)");
        return -1;
    }
    if (http2 != CHB_H2_OFF && http2 != CHB_H2_AUTO && http2 != CHB_H2_REQUIRED) {
        PyErr_SetString(PyExc_ValueError, "http2 must be HTTP2_OFF, HTTP2_AUTO or HTTP2_REQUIRED");
        return -1;
    }
    if (lb_policy < CHB_LB_RANDOM || lb_policy > CHB_LB_NEAREST_HOSTNAME || host_backoff < 0 ||
        host_backoff_max < 0 || dns_refresh < 0 || health_check < CHB_CHECK_NONE ||
        health_check > CHB_CHECK_REPLICAS || health_check_interval < 0 || max_replica_delay < 0) {
        PyErr_SetString(PyExc_ValueError, "load_balancing or health_check out of range, or a negative interval, backoff or delay");
        return -1;
    }
    if (client_parse_alt(self, alt_hosts) != 0) return -1;
    self->lb_policy = lb_policy;
    self->host_backoff = host_backoff;
    self->host_backoff_max = host_backoff_max;
    self->dns_refresh = dns_refresh;
    self->health_check = health_check;
    self->health_check_interval = health_check_interval;
    self->max_replica_delay = max_replica_delay;
    if (strlen(host) >= sizeof self->cfg.host || strlen(pool_name) >= sizeof self->cfg.name ||
        strlen(ca_certs) >= sizeof self->cfg.ca_certs || strlen(certfile) >= sizeof self->cfg.certfile ||
        strlen(keyfile) >= sizeof self->cfg.keyfile || strlen(server_hostname) >= sizeof self->cfg.server_hostname ||
        strlen(ciphers) >= sizeof self->cfg.ciphers) {
        PyErr_SetString(PyExc_ValueError, "host, pool name, path, server_hostname or ciphers too long");
        return -1;
    }
    if (pool_size < 1 || port < 1 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "pool_size must be >= 1 and port in 1..65535");
        return -1;
    }
    for (const char *h = headers; *h; h++) {
        if (*h == '\n' && (h == headers || h[-1] != '\r')) {
            PyErr_SetString(PyExc_ValueError, "header lines must end in CRLF");
            return -1;
        }
    }
    client_release_pool(self);
    self->closed = 0;
    memset(&self->cfg, 0, sizeof self->cfg);
    snprintf(self->cfg.host, sizeof self->cfg.host, "%s", host);
    self->cfg.port = port;
    snprintf(self->cfg.name, sizeof self->cfg.name, "%s", pool_name);
    self->cfg.max_size = pool_size;
    self->to.pool = pool_timeout;
    self->to.idle = idle_timeout;
    self->to.connect = connect_timeout;
    self->to.rw = rw_timeout;
    self->cfg.secure = secure;
    self->cfg.verify = secure ? verify : 0;
    self->cfg.http2 = secure ? http2 : CHB_H2_OFF; /* h2 is negotiated by ALPN, over TLS only */
    if (secure) {
        snprintf(self->cfg.ca_certs, sizeof self->cfg.ca_certs, "%s", ca_certs);
        snprintf(self->cfg.certfile, sizeof self->cfg.certfile, "%s", certfile);
        snprintf(self->cfg.keyfile, sizeof self->cfg.keyfile, "%s", keyfile);
        snprintf(self->cfg.server_hostname, sizeof self->cfg.server_hostname, "%s", server_hostname);
        snprintf(self->cfg.ciphers, sizeof self->cfg.ciphers, "%s", ciphers);
        /* a list OpenSSL cannot use is a configuration error: say so at connect() */
        char err[512] = "";
        if (chb_tls_check_ciphers(ciphers, err, sizeof err) != 0) {
            PyErr_SetString(chb_exc(CHB_EXC_InterfaceError), err);
            return -1;
        }
    }
    int v6 = strchr(host, ':') != NULL;
    snprintf(self->host_header, sizeof self->host_header, v6 ? "[%s]:%d" : "%s:%d", host, port);
    PyMem_Free(self->static_params);
    PyMem_Free(self->headers);
    self->static_params = pystrdup(params);
    self->headers = pystrdup(headers);
    self->pool = NULL;
    if (self->headers && extract_secrets(self) != 0) return -1;
    if (!self->static_params || !self->headers) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The pool for this client in this process (re-resolved after fork). */
static chb_pool *client_pool(ClientObject *self) {
    unsigned gen = chb_loop_generation();
    if (self->closed) {
        PyErr_SetString(chb_exc(CHB_EXC_InterfaceError), "the client is closed");
        return NULL;
    }
    if (self->pool && self->generation == gen) return self->pool;
    char err[512] = "";
    chb_pool *p;
    chb_hostset *hs = NULL;
    Py_BEGIN_ALLOW_THREADS
    p = chb_pool_get(&self->cfg, err, sizeof err);
    /* a host set also for one name that is re-resolved: hosts.c refreshes through it */
    if (p && (self->nalt > 0 || self->dns_refresh > 0 || self->health_check) &&
        !(hs = client_hostset(self, p, err, sizeof err))) {
        chb_pool_unref(p);
        p = NULL;
    }
    Py_END_ALLOW_THREADS
    if (!p) {
        PyErr_SetString(chb_exc(CHB_EXC_OperationalError), err);
        return NULL;
    }
    /* Other threads may have looked the pool up (or closed the client) while the GIL
     * was released: the client holds exactly one reference, or the pool never dies. */
    if (self->closed || (self->pool && self->generation == gen)) {
        chb_pool_unref(p);
        if (hs) chb_hosts_unref(hs);
        if (self->closed) {
            PyErr_SetString(chb_exc(CHB_EXC_InterfaceError), "the client is closed");
            return NULL;
        }
        return self->pool;
    }
    self->pool = p;
    self->hs = hs;
    self->generation = gen;
    return p;
}

static PyObject *Client_request(ClientObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"body", "params", "query_id", "retryable", "raw", "notifier", "query_timeout",
                             "buffer_limit", "tz", "strings_as_bytes", "columnar", "headers", "max_ratio",
                             "max_block_bytes", "progress", NULL};
    Py_buffer body;
    const char *extra = "", *qid_in = NULL, *xheaders = "";
    int retryable = 0, raw = 0, sab = 0, columnar = 0, progress = 0;
    PyObject *notifier = Py_None, *tz = Py_None;
    double query_timeout = 0, max_ratio = 1000;
    Py_ssize_t buffer_limit = 0, max_block_bytes = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|szppOdnOpisdnp", kwlist, &body, &extra, &qid_in, &retryable, &raw,
                                     &notifier, &query_timeout, &buffer_limit, &tz, &sab, &columnar, &xheaders,
                                     &max_ratio, &max_block_bytes, &progress))
        return NULL;
    StreamObject *s = NULL;
    chb_request *r = NULL;
    chb_buf w, kw_buf, kbody;
    chb_buf_init(&w);
    chb_buf_init(&kw_buf);
    chb_buf_init(&kbody);
    if (notifier != Py_None && !PyObject_TypeCheck(notifier, &NotifierType)) {
        PyErr_SetString(PyExc_TypeError, "notifier must be a Notifier");
        goto fail;
    }
    chb_pool *pool = client_pool(self);
    if (!pool) goto fail;
    r = chb_req_new();
    s = (StreamObject *)StreamType.tp_alloc(&StreamType, 0); /* zeroed */
    if (!r || !s) {
        PyErr_NoMemory();
        goto fail;
    }
    s->tz = tz == Py_None ? NULL : Py_NewRef(tz);
    s->strings_as_bytes = sab;
    s->columnar = columnar;
    s->finished = 0;
    s->generation = chb_loop_generation();
    if (qid_in && *qid_in) {
        if (strlen(qid_in) >= sizeof r->query_id) {
            PyErr_SetString(chb_exc(CHB_EXC_ProgrammingError), "query_id too long (max 127 bytes)");
            goto fail;
        }
        snprintf(r->query_id, sizeof r->query_id, "%s", qid_in);
    } else {
        chb_random_query_id(r->query_id, sizeof r->query_id);
    }
    memcpy(s->query_id, r->query_id, sizeof s->query_id);
    for (const char *h = xheaders; *h; h++) {
        if (*h == '\n' && (h == xheaders || h[-1] != '\r')) {
            PyErr_SetString(PyExc_ValueError, "header lines must end in CRLF");
            goto fail;
        }
    }
    if (chb_wire_build(&w, self->static_params, self->host_header, self->headers, r->query_id, extra, xheaders,
                       body.buf, (size_t)body.len, &r->body_off) != 0) {
        PyErr_NoMemory();
        goto fail;
    }
    /* KILL QUERY for cancellation/timeouts */
    if (chb_wire_kill_statement(&kbody, r->query_id) != 0 || /* a truncated KILL must never be sent */
        chb_wire_build(&kw_buf, self->static_params, self->host_header, self->headers, NULL, NULL, NULL,
                       (const char *)kbody.data, kbody.len, &r->kill_body_off) != 0) {
        PyErr_NoMemory();
        goto fail;
    }
    chb_buf_free(&kbody);
    if (self->hs) { /* several endpoints: the balancer chooses; the request may move on failure */
        r->hosts = self->hs;
        chb_hosts_ref(self->hs);
        pool = chb_hosts_pick(self->hs, 0);
    }
    r->pool = pool;
    chb_pool_ref(pool); /* released when the engine is done with the request */
    r->to = self->to;
    r->wire = w.data;
    r->wire_len = w.len;
    r->kill_wire = kw_buf.data;
    r->kill_wire_len = kw_buf.len;
    chb_buf_init(&w);
    chb_buf_init(&kw_buf);
    r->retryable = retryable;
    r->want_progress = progress;
    r->max_ratio = max_ratio > 0 ? max_ratio : 0;
    r->max_block_bytes = max_block_bytes > 0 ? (size_t)max_block_bytes : 0;
    if (self->secrets && (r->secrets = malloc(self->secrets_len)))
        memcpy(r->secrets, self->secrets, self->secrets_len);
    r->mode = raw ? MODE_RAW : MODE_NATIVE;
    r->query_timeout = query_timeout > 0 ? query_timeout : 0;
    r->buffer_limit = buffer_limit > 0 ? (size_t)buffer_limit : DEFAULT_BUFFER_LIMIT;
    if (notifier != Py_None) {
        r->notifier = ((NotifierObject *)notifier)->n;
        chb_notifier_incref(r->notifier);
    }
    PyBuffer_Release(&body);
    /* one reference for the stream (consumer), one for the engine */
    s->req = r;
    chb_req_incref(r);
    if (chb_loop_submit(chb_req_start_task, r) != 0) {
        if (r->hosts) chb_hosts_unref(r->hosts);
        r->hosts = NULL;
        chb_req_decref(r);
        Py_DECREF(s);
        chb_pool_unref(pool);
        PyErr_SetString(chb_exc(CHB_EXC_InternalError), "could not start the I/O engine thread");
        return NULL;
    }
    return (PyObject *)s;
fail:
    PyBuffer_Release(&body);
    chb_buf_free(&w);
    chb_buf_free(&kw_buf);
    chb_buf_free(&kbody);
    if (s) {
        s->req = NULL;
        Py_DECREF(s);
    }
    if (r) chb_req_decref(r);
    return NULL;
}

static PyObject *Client_pool_stats(ClientObject *self, PyObject *unused) {
    chb_pool_stats st;
    if (self->closed) {
        /* a closed client holds no pool: others may still use it (zeros once it is freed) */
        if (!chb_pool_peek_stats(&self->cfg, &st)) memset(&st, 0, sizeof st);
    } else {
        chb_pool *p = client_pool(self);
        if (!p) return NULL;
        chb_pool_read_stats(p, &st);
    }
    return Py_BuildValue("{sl,sl,sl,sl,sl,sl,sl,sl,sl,sl,sl,sl,sl,sl,sl,sl,sl,sl,sl,si}", "in_use", st.in_use, "idle", st.idle,
                         "waiting", st.waiting, "created", st.created, "closed", st.closed, "reused", st.reused,
                         "retries", st.retries, "requests", st.requests, "open", st.open, "peak_open",
                         st.peak_open, "tls_handshakes", st.tls_handshakes, "tls_resumed", st.tls_resumed,
                         "h2_connections", st.h2_connections, "h2_streams", st.h2_streams, "kills", st.kills,
                         "kills_dropped", st.kills_dropped, "kill_open", st.kill_open, "kills_parked",
                         st.kills_parked, "kills_resent", st.kills_resent, "max_size",
                         self->cfg.max_size);
}

/* Per-host figures of a client with several endpoints (one entry with one). */
static PyObject *Client_host_stats(ClientObject *self, PyObject *unused) {
    chb_pool *p = client_pool(self);
    if (!p) return NULL;
    chb_pool *one[1] = {p};
    chb_pool **pools = self->hs ? self->hs->pools : one;
    int n = self->hs ? self->hs->n : 1;
    double now = chb_now();
    PyObject *out = PyList_New(n);
    if (!out) return NULL;
    for (int i = 0; i < n; i++) {
        chb_pool *q = pools[i];
        chb_pool_stats st;
        chb_pool_read_stats(q, &st);
        int64_t until = __atomic_load_n(&q->health.down_until_us, __ATOMIC_RELAXED);
        double down_for = until ? until / 1e6 - now : 0;
        PyObject *d = Py_BuildValue(
            "{ss,si,sl,sl,sl,sl,sl,sl,sl,sl,sd,si,si,sl,sl,sl,sl}", "host", q->cfg.host, "port", q->cfg.port, "in_use",
            st.in_use, "idle", st.idle, "waiting", st.waiting, "open", st.open, "requests", st.requests, "failures",
            __atomic_load_n(&q->health.failures, __ATOMIC_RELAXED), "failovers",
            __atomic_load_n(&q->health.failovers, __ATOMIC_RELAXED), "peak_open", st.peak_open, "down_for",
            down_for > 0 ? down_for : 0.0, "max_size", q->cfg.max_size, "addresses", q->naddrs, "checks",
            __atomic_load_n(&q->health.checks, __ATOMIC_RELAXED), "check_failures",
            __atomic_load_n(&q->health.check_failures, __ATOMIC_RELAXED), "pings",
            __atomic_load_n(&q->health.pings, __ATOMIC_RELAXED), "pings_unanswered",
            __atomic_load_n(&q->health.pings_unanswered, __ATOMIC_RELAXED));
        if (!d) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, d);
    }
    return out;
}

/* Drop this client's reference to the pool (idempotent): once no client and no
 * request uses it, its idle sockets are closed after a short linger. Results still
 * being read keep working. */
static PyObject *Client_close(ClientObject *self, PyObject *unused) {
    client_release_pool(self);
    self->closed = 1;
    Py_RETURN_NONE;
}

static PyObject *engine_stats(PyObject *mod, PyObject *unused) {
    chb_engine_stats st;
    chb_engine_read_stats(&st);
    return Py_BuildValue("{sl,sl,sl}", "pools", st.pools, "open", st.open, "lingering", st.lingering);
}

static PyMethodDef module_functions[] = {
    {"engine_stats", engine_stats, METH_NOARGS, "process-wide pool figures: live pools, open connections"},
    {NULL},
};

static PyMethodDef Client_methods[] = {
    {"request", (PyCFunction)(void (*)(void))Client_request, METH_VARARGS | METH_KEYWORDS,
     "send one query; returns a Stream"},
    {"pool_stats", (PyCFunction)Client_pool_stats, METH_NOARGS, "counters of this endpoint's pool"},
    {"host_stats", (PyCFunction)Client_host_stats, METH_NOARGS,
     "per host: in_use, idle, open, requests, failures, failovers, down_for (seconds), pings, pings_unanswered"},
    {"close", (PyCFunction)Client_close, METH_NOARGS, "let go of the pool (idempotent)"},
    {NULL},
};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "clickhouse_backend._engine.Client",
    .tp_basicsize = sizeof(ClientObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Client_init,
    .tp_dealloc = (destructor)Client_dealloc,
    .tp_methods = Client_methods,
    .tp_doc = "One ClickHouse HTTP endpoint with its credentials; requests share the endpoint's pool.",
};

int py_client_register(PyObject *m) {
    chb_pool_set_connector(chb_conn_open);
    if (PyType_Ready(&NotifierType) < 0 || PyType_Ready(&StreamType) < 0 || PyType_Ready(&ClientType) < 0)
        return -1;
    if (PyModule_AddObjectRef(m, "Notifier", (PyObject *)&NotifierType) < 0 ||
        PyModule_AddObjectRef(m, "Stream", (PyObject *)&StreamType) < 0 ||
        PyModule_AddObjectRef(m, "Client", (PyObject *)&ClientType) < 0 ||
        PyModule_AddFunctions(m, module_functions) < 0)
        return -1;
    /* Client(http2=...): the pool's enum, named on both sides */
    if (PyModule_AddIntConstant(m, "HTTP2_OFF", CHB_H2_OFF) < 0 ||
        PyModule_AddIntConstant(m, "HTTP2_AUTO", CHB_H2_AUTO) < 0 ||
        PyModule_AddIntConstant(m, "HTTP2_REQUIRED", CHB_H2_REQUIRED) < 0)
        return -1;
    return 0;
}
