/* _engine.Stream: the response of one query as its consumer sees it, block by block
 * (sync: waits on the request's condition variable without the GIL; asyncio: arm()
 * and Notifier.dispatch()). */
#include "py_stream.h"

#include <time.h>

#include "decompress.h"
#include "errors.h"
#include "exchange.h"
#include "loop.h"
#include "native_decode.h"
#include "request.h"

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

PyTypeObject PyStreamType;
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
    return r->blocks.head != NULL;
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
    chb_block *b = r->blocks.head;
    chb_req_state st = r->state;
    int resume = 0;
    if (b || st == REQ_DONE) self->attempt = r->attempt; /* what the consumer sees now comes from it */
    if (b) {
        r->blocks.head = b->next;
        if (!r->blocks.head) r->blocks.tail = NULL;
        r->blocks.queued -= b->len;
        resume = st == REQ_PAUSED && r->blocks.queued <= r->blocks.limit / 2;
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
                : PyUnicode_FromString(r->inflate.encoding == DC_GZIP ? "gzip"
                                       : r->inflate.encoding == DC_ZSTD ? "zstd" : "identity"); break;
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

PyTypeObject PyStreamType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "clickhouse_backend._engine.Stream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Stream_dealloc,
    .tp_methods = Stream_methods,
    .tp_getset = Stream_getset,
    .tp_doc = "The response of one query, decoded block by block.",
};

int py_stream_wake(PyObject *stream) {
    StreamObject *s = (StreamObject *)stream;
    PyObject *fut = s->fut;
    s->fut = NULL;
    int rc = 0;
    if (fut) {
        PyObject *done = PyObject_CallMethod(fut, "done", NULL);
        if (!done) rc = -1;
        else {
            if (!PyObject_IsTrue(done)) {
                PyObject *res = PyObject_CallMethod(fut, "set_result", "O", Py_None);
                rc = res ? 1 : -1;
                Py_XDECREF(res);
            }
            Py_DECREF(done);
        }
    }
    Py_XDECREF(fut);
    return rc;
}

PyObject *py_stream_new(chb_request *r, PyObject *tz, int strings_as_bytes, int columnar) {
    StreamObject *s = (StreamObject *)PyStreamType.tp_alloc(&PyStreamType, 0); /* zeroed */
    if (!s) return NULL;
    s->tz = tz == Py_None ? NULL : Py_NewRef(tz);
    s->strings_as_bytes = strings_as_bytes;
    s->columnar = columnar;
    s->generation = chb_loop_generation();
    memcpy(s->query_id, r->query_id, sizeof s->query_id);
    s->req = r; /* the stream's reference: the caller's */
    return (PyObject *)s;
}

int py_stream_register(PyObject *m) {
    if (PyType_Ready(&PyStreamType) < 0) return -1;
    return PyModule_AddObjectRef(m, "Stream", (PyObject *)&PyStreamType);
}
