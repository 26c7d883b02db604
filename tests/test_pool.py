"""The C connection pool against the real server: reuse, limits, FIFO waiting,
pool timeouts, counters, threads, fork, and the one safe retry."""
import os
import threading
import time
import uuid

import pytest

import clickhouse_backend.driver as chd


def fresh(make_conn, **kw):
    """A connection with a pool of its own, so counters start at zero."""
    return make_conn(pool_name=uuid.uuid4().hex[:16], **kw)


def test_sequential_queries_use_one_connection(make_conn):
    conn = fresh(make_conn)
    cur = conn.cursor()
    for i in range(1000):
        cur.execute("SELECT %s", [i])
        assert cur.fetchall() == [(i,)]
    st = conn.pool_stats()
    assert st["created"] == 1
    assert st["requests"] == 1000
    assert st["reused"] == 999
    assert st["in_use"] == 0 and st["idle"] == 1 and st["waiting"] == 0


def test_pool_shared_between_connection_objects(make_conn):
    name = uuid.uuid4().hex[:16]
    a = make_conn(pool_name=name)
    b = make_conn(pool_name=name)
    a.cursor().execute("SELECT 1").fetchall()
    b.cursor().execute("SELECT 2").fetchall()
    assert a.pool_stats()["created"] == 1
    assert b.pool_stats()["requests"] == 2


def test_threads_share_the_pool_within_its_limit(make_conn):
    conn = fresh(make_conn, pool_size=4)
    errors = []
    results = []

    def worker(k):
        try:
            cur = conn.cursor()
            for i in range(25):
                cur.execute("SELECT %s + sleepEachRow(0.001)", [k * 100 + i])
                results.append(cur.fetchall()[0][0])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(results) == sorted(k * 100 + i for k in range(32) for i in range(25))
    st = conn.pool_stats()
    assert st["created"] <= 4
    assert st["in_use"] == 0 and st["waiting"] == 0


def test_pool_timeout_is_an_operational_error(make_conn):
    conn = fresh(make_conn, pool_size=1, pool_timeout=0.3)
    busy = conn.cursor()
    busy.execute("SELECT number FROM system.numbers LIMIT 100000000")  # holds the only slot
    other = conn.cursor()
    t0 = time.monotonic()
    with pytest.raises(chd.PoolTimeout) as ei:
        other.execute("SELECT 1")
    assert isinstance(ei.value, chd.OperationalError)
    assert 0.25 < time.monotonic() - t0 < 5
    assert "pool_timeout" in str(ei.value)
    busy.close()
    # the slot comes back: the abandoned stream is cancelled and its connection dropped
    deadline = time.monotonic() + 5
    while conn.pool_stats()["in_use"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert conn.pool_stats()["in_use"] == 0
    assert conn.cursor().execute("SELECT 7").fetchone() == (7,)


def test_waiters_are_served_in_fifo_order(make_conn):
    conn = fresh(make_conn, pool_size=1)
    order = []
    first = conn.cursor()
    first.execute("SELECT number FROM system.numbers LIMIT 100000000")  # holds the only slot
    lock = threading.Lock()

    def worker(k):
        cur = conn.cursor()
        # 50 ms each on the one connection: thread wake-up jitter cannot reorder them
        cur.execute("SELECT %s, sleep(0.05)", [k])
        with lock:
            order.append(cur.fetchone()[0])

    threads = []
    for k in range(5):
        t = threading.Thread(target=worker, args=(k,))
        t.start()
        threads.append(t)
        # make the submission order deterministic
        deadline = time.monotonic() + 5
        while conn.pool_stats()["waiting"] < k + 1 and time.monotonic() < deadline:
            time.sleep(0.005)
    first.close()  # too much left to drain: cancelled, slot handed to the first waiter
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3, 4]


def test_idle_connections_are_closed_before_keepalive_expires(make_conn):
    conn = fresh(make_conn, idle_timeout=0.2)
    conn.cursor().execute("SELECT 1").fetchall()
    assert conn.pool_stats()["idle"] == 1
    time.sleep(0.6)
    st = conn.pool_stats()
    assert st["idle"] == 0 and st["closed"] == 1
    assert conn.cursor().execute("SELECT 2").fetchone() == (2,)
    assert conn.pool_stats()["created"] == 2


def test_abandoned_small_result_keeps_the_connection(make_conn):
    conn = fresh(make_conn)
    for i in range(50):
        cur = conn.cursor()
        cur.execute("SELECT number FROM numbers(100)")
        cur.fetchone()
        cur.close()  # 99 rows unread: drained, not a new connection
    time.sleep(0.1)
    st = conn.pool_stats()
    assert st["created"] == 1, st


def test_child_process_after_fork_gets_a_fresh_engine(make_conn):
    conn = fresh(make_conn)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchall() == [(1,)]
    stale = conn.cursor()
    stale.execute("SELECT number FROM numbers(1000000)")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not reuse anything of the parent's engine
        code = 1
        try:
            c2 = conn.cursor()
            c2.execute("SELECT 40 + 2")
            ok = c2.fetchone() == (42,)
            try:
                list(stale)
                stale_ok = False
            except chd.InterfaceError as e:
                stale_ok = "fork" in str(e)
            os.write(w, b"%d%d" % (ok, stale_ok))
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    out = os.read(r, 10)
    os.close(r)
    assert os.WEXITSTATUS(status) == 0
    assert out == b"11"
    assert len(list(stale)) == 1000000  # the parent's stream is untouched
    assert conn.cursor().execute("SELECT 3").fetchone() == (3,)
