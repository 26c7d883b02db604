#include "py_client.h"

#include <math.h>
#include <stdio.h>

#include "errors.h"
#include "exchange.h"
#include "http1.h"
#include "loop.h"
#include "notifier.h"
#include "pool.h"
#include "py_notifier.h"
#include "py_stream.h"
#include "request.h"
#include "tls.h"
#include "wire.h"

/* ------------------------------------------------------------------ */
/* Client                                                                */

typedef struct {
    PyObject_HEAD
    chb_pool_cfg cfg;         /* the pool key */
    chb_timeouts to;          /* given to each request */
    chb_pool *pool;           /* referenced while set */
    unsigned generation;
    int closed;
    chb_msg_base *base;       /* URL parameters, headers and credentials of every request */
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
    chb_msg_base_decref(self->base);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A name or value of pairs: str, or an int/float (its str()); bool as 0/1. */
static PyObject *pair_text(PyObject *v) {
    if (PyBool_Check(v)) return PyUnicode_FromString(v == Py_True ? "1" : "0");
    if (PyUnicode_Check(v)) return Py_NewRef(v);
    if (PyLong_Check(v) || PyFloat_Check(v)) return PyObject_Str(v);
    PyErr_Format(PyExc_TypeError, "expected str, int or float, not %.100s", Py_TYPE(v)->tp_name);
    return NULL;
}

/* URL parameters (a dict, or pairs) or headers (pairs) into out; header names and
 * values are checked, since they are written as they are. */
static int py_pairs(PyObject *o, chb_pairs *out, int header) {
    if (!o || o == Py_None) return 0;
    PyObject *items = PyDict_Check(o) ? PyDict_Items(o) : PySequence_Fast(o, "expected a dict or (name, value) pairs");
    if (!items) return -1;
    PyObject *seq = PySequence_Fast(items, "expected (name, value) pairs");
    Py_DECREF(items);
    if (!seq) return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i), *k = NULL, *v = NULL;
        rc = -1;
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "expected (name, value) pairs");
        } else if ((k = pair_text(PyTuple_GET_ITEM(item, 0))) && (v = pair_text(PyTuple_GET_ITEM(item, 1)))) {
            Py_ssize_t kl, vl;
            const char *ks = PyUnicode_AsUTF8AndSize(k, &kl), *vs = ks ? PyUnicode_AsUTF8AndSize(v, &vl) : NULL;
            if (vs) {
                int bad = (size_t)kl != strlen(ks) || (size_t)vl != strlen(vs) || kl == 0;
                if (header) bad = bad || strpbrk(ks, "\r\n: \t") || strpbrk(vs, "\r\n");
                if (bad)
                    PyErr_Format(PyExc_ValueError, "bad %s %R: empty name, NUL%s", header ? "header" : "parameter",
                                 item, header ? ", CR/LF, or a colon or blank in the name" : "");
                else {
                    chb_pairs_add(out, ks, vs);
                    rc = 0;
                }
            }
        }
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    Py_DECREF(seq);
    if (rc == 0 && out->b.failed) {
        PyErr_NoMemory();
        rc = -1;
    }
    return rc;
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
    chb_req_start_checks(hs);
    return hs;
}

static int Client_init(ClientObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"host", "port", "params", "headers", "user", "password", "auth", "pool_size",
                             "pool_timeout", "idle_timeout",
                             "connect_timeout", "send_receive_timeout", "pool_name", "secure", "verify",
                             "ca_certs", "certfile", "keyfile", "server_hostname", "http2", "ciphers",
                             "alt_hosts", "load_balancing", "host_backoff", "host_backoff_max", "dns_refresh",
                             "health_check", "health_check_interval", "max_replica_delay", NULL};
    /* the host options too have their defaults in the driver (driver/hosts.py) */
    int health_check = -1, lb_policy = -1;
    double health_check_interval = NAN, max_replica_delay = NAN;
    PyObject *alt_hosts = NULL;
    double host_backoff = NAN, host_backoff_max = NAN, dns_refresh = NAN;
    const char *host, *pool_name = "", *user = "", *password = "";
    PyObject *params = NULL, *headers = NULL;
    int auth = CHB_AUTH_BASIC;
    const char *ca_certs = "", *certfile = "", *keyfile = "", *server_hostname = "", *ciphers = "";
    int secure = 0, verify = 1, http2 = -1;
    /* No defaults here: they are defined once, in driver/config.py (Options), and the
     * driver passes every one; a missing one is a caller's mistake, said plainly. */
    int port, pool_size = -1;
    double pool_timeout = NAN, idle_timeout = NAN, connect_timeout = NAN, rw_timeout = NAN;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "si|OOssiiddddsppssssisOidddidd", kwlist, &host, &port, &params,
                                     &headers, &user, &password, &auth, &pool_size, &pool_timeout, &idle_timeout, &connect_timeout, &rw_timeout,
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
    if (lb_policy == -1 || health_check == -1 || isnan(host_backoff) || isnan(host_backoff_max) ||
        isnan(dns_refresh) || isnan(health_check_interval) || isnan(max_replica_delay)) {
        PyErr_SetString(PyExc_TypeError, "Client() needs load_balancing, host_backoff, host_backoff_max, dns_refresh, "
                                         "health_check, health_check_interval and max_replica_delay (defaults: "
                                         "driver/config.py Options)");
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
    if (auth != CHB_AUTH_NONE && auth != CHB_AUTH_BASIC && auth != CHB_AUTH_HEADERS) {
        PyErr_SetString(PyExc_ValueError, "auth must be AUTH_NONE, AUTH_BASIC or AUTH_HEADERS");
        return -1;
    }
    if (auth == CHB_AUTH_HEADERS && (strpbrk(user, "\r\n") || strpbrk(password, "\r\n"))) {
        PyErr_SetString(chb_exc(CHB_EXC_InterfaceError), "user and password must not contain CR, LF or NUL");
        return -1;
    }
    chb_pairs pp, hp;
    chb_pairs_init(&pp);
    chb_pairs_init(&hp);
    chb_msg_base *base = NULL;
    if (py_pairs(params, &pp, 0) == 0 && py_pairs(headers, &hp, 1) == 0 &&
        !(base = chb_msg_base_new(&pp, &hp, (chb_auth)auth, user, password)))
        PyErr_NoMemory();
    chb_pairs_free(&pp);
    chb_pairs_free(&hp);
    if (!base) return -1;
    chb_msg_base_decref(self->base);
    self->base = base;
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
    self->pool = NULL;
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
    const char *qid_in = NULL;
    int retryable = 0, raw = 0, sab = 0, columnar = 0, progress = 0;
    PyObject *notifier = Py_None, *tz = Py_None, *params = NULL, *headers = NULL;
    double query_timeout = 0, max_ratio = NAN;
    Py_ssize_t buffer_limit = -1, max_block_bytes = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|OzppOdnOpiOdnp", kwlist, &body, &params, &qid_in, &retryable, &raw,
                                     &notifier, &query_timeout, &buffer_limit, &tz, &sab, &columnar, &headers,
                                     &max_ratio, &max_block_bytes, &progress))
        return NULL;
    PyObject *s = NULL;
    chb_request *r = NULL;
    chb_pairs pp, hp;
    chb_pairs_init(&pp);
    chb_pairs_init(&hp);
    chb_hdr all[CHB_MAX_HEADERS];
    /* No defaults for the limits: the driver passes its Options' (driver/config.py). */
    if (buffer_limit < 0 || max_block_bytes < 0 || isnan(max_ratio)) {
        PyErr_SetString(PyExc_TypeError, "request() needs buffer_limit, max_ratio and max_block_bytes (>= 0; "
                                         "defaults: driver/config.py Options)");
        goto fail;
    }
    chb_notifier *n = py_notifier_get(notifier);
    if (!n && PyErr_Occurred()) goto fail;
    if (py_pairs(params, &pp, 0) != 0 || py_pairs(headers, &hp, 1) != 0) goto fail;
    chb_pool *pool = client_pool(self);
    if (!pool) goto fail;
    r = chb_req_new();
    if (!r) {
        PyErr_NoMemory();
        goto fail;
    }
    if (qid_in && *qid_in) {
        if (strlen(qid_in) >= sizeof r->query_id) {
            PyErr_SetString(chb_exc(CHB_EXC_ProgrammingError), "query_id too long (max 127 bytes)");
            goto fail;
        }
        snprintf(r->query_id, sizeof r->query_id, "%s", qid_in);
    } else {
        chb_random_query_id(r->query_id, sizeof r->query_id);
    }
    if (chb_msg_query(&r->msg, self->base, r->query_id, &pp, &hp, body.buf, (size_t)body.len) != 0) {
        PyErr_NoMemory();
        goto fail;
    }
    if (chb_msg_headers(&r->msg, all, CHB_MAX_HEADERS) < 0) {
        PyErr_Format(PyExc_ValueError, "more than %d headers", CHB_MAX_HEADERS);
        goto fail;
    }
    s = py_stream_new(r, tz, sab, columnar);
    if (!s) goto fail;
    if (self->hs) { /* several endpoints: the balancer chooses; the request may move on failure */
        r->hosts = self->hs;
        chb_hosts_ref(self->hs);
        pool = chb_hosts_pick(self->hs, 0);
    }
    r->pool = pool;
    chb_pool_ref(pool); /* released when the engine is done with the request */
    r->to = self->to;
    r->retryable = retryable;
    r->want_progress = progress;
    r->inflate.max_ratio = max_ratio > 0 ? max_ratio : 0;
    r->framing.max_block_bytes = (size_t)max_block_bytes;
    r->mode = raw ? MODE_RAW : MODE_NATIVE;
    r->query_timeout = query_timeout > 0 ? query_timeout : 0;
    r->blocks.limit = (size_t)buffer_limit;
    if (n) {
        r->notifier = n;
        chb_notifier_incref(n);
    }
    PyBuffer_Release(&body);
    chb_pairs_free(&pp);
    chb_pairs_free(&hp);
    /* the stream holds the consumer's reference (taken over from chb_req_new); one more for the engine */
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
    return s;
fail:
    PyBuffer_Release(&body);
    chb_pairs_free(&pp);
    chb_pairs_free(&hp);
    if (s) Py_DECREF(s); /* releases r */
    else if (r) chb_req_decref(r);
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
    static const chb_pool_upcalls upcalls = {chb_conn_open, chb_req_engine_done, chb_req_server_answered};
    chb_pool_set_upcalls(&upcalls);
    if (py_notifier_register(m) < 0 || py_stream_register(m) < 0 || PyType_Ready(&ClientType) < 0) return -1;
    if (PyModule_AddObjectRef(m, "Client", (PyObject *)&ClientType) < 0 ||
        PyModule_AddFunctions(m, module_functions) < 0)
        return -1;
    /* Client(http2=...): the pool's enum, named on both sides */
    if (PyModule_AddIntConstant(m, "HTTP2_OFF", CHB_H2_OFF) < 0 ||
        PyModule_AddIntConstant(m, "HTTP2_AUTO", CHB_H2_AUTO) < 0 ||
        PyModule_AddIntConstant(m, "HTTP2_REQUIRED", CHB_H2_REQUIRED) < 0)
        return -1;
    /* Client(load_balancing=..., health_check=...): hosts.h's enums, by name (driver/hosts.py) */
    static const struct { const char *name; int value; } named[] = {
        {"LB_RANDOM", CHB_LB_RANDOM}, {"LB_IN_ORDER", CHB_LB_IN_ORDER}, {"LB_FIRST_OR_RANDOM", CHB_LB_FIRST_OR_RANDOM},
        {"LB_ROUND_ROBIN", CHB_LB_ROUND_ROBIN}, {"LB_NEAREST_HOSTNAME", CHB_LB_NEAREST_HOSTNAME},
        {"CHECK_NONE", CHB_CHECK_NONE}, {"CHECK_PING", CHB_CHECK_PING}, {"CHECK_REPLICAS_STATUS", CHB_CHECK_REPLICAS},
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (PyModule_AddIntConstant(m, named[i].name, named[i].value) < 0) return -1;
    /* Client(auth=...): how credentials travel (wire.h) */
    if (PyModule_AddIntConstant(m, "AUTH_NONE", CHB_AUTH_NONE) < 0 ||
        PyModule_AddIntConstant(m, "AUTH_BASIC", CHB_AUTH_BASIC) < 0 ||
        PyModule_AddIntConstant(m, "AUTH_HEADERS", CHB_AUTH_HEADERS) < 0)
        return -1;
    return 0;
}

