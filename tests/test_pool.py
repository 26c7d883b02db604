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


# --- pools are freed (issue 14 §2) -------------------------------------------

from clickhouse_backend import _engine  # noqa: E402

LINGER = 1.0      # ext/pool.c LINGER_SECONDS: an unused pool is freed after this
LINGER_MAX = 8    # ext/pool.c: at most this many unused pools linger at once
SLACK = 4         # pools whose last reference just went, before the engine thread sees it


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def settle_pools(expected=None, timeout=LINGER + 3):
    """Engine figures once no unused pool lingers any more (and, given expected, once
    no more than that many pools are live: the engine thread may not have dropped a
    finished request's reference yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = _engine.engine_stats()
        if not st["lingering"] and (expected is None or st["pools"] <= expected):
            break
        time.sleep(0.05)
    return _engine.engine_stats()


def churn(server_params, n, each):
    """n connections opened, used once and closed; peak live pools and sockets."""
    peak_pools = peak_fds = 0
    for i in range(n):
        conn = chd.connect(**dict(server_params, **each(i)))
        assert conn.cursor().execute("SELECT %s", [i]).fetchone() == (i,)
        conn.close()
        if i % 50 == 0:
            peak_pools = max(peak_pools, _engine.engine_stats()["pools"])
            peak_fds = max(peak_fds, open_fds())
    return peak_pools, peak_fds


def test_timeouts_do_not_split_pools(server_params):
    name = uuid.uuid4().hex[:16]
    keep = chd.connect(**server_params, pool_name=name)  # holds the pool for the counters
    keep.pool_stats()  # (the pool is made on first use)
    before = settle_pools()["pools"]
    peak_pools, _ = churn(server_params, 2000, lambda i: dict(
        pool_name=name, send_receive_timeout=100 + i / 7, connect_timeout=5 + i / 11,
        pool_timeout=20 + i / 13, idle_timeout=9 + i / 1000, query_timeout=60 + i / 3))
    assert peak_pools <= before, (peak_pools, before)  # one pool for every timeout
    st = keep.pool_stats()
    # and one socket, give or take a keep-alive expiry on a loaded machine
    assert st["requests"] == 2000 and st["created"] <= 3 and st["peak_open"] == 1, st
    keep.close()


def test_unused_pools_are_freed(server_params):
    def distinct(i):
        return dict(pool_name=f"churn-{uuid.uuid4().hex[:12]}", send_receive_timeout=100 + i / 7)

    churn(server_params, 100, distinct)  # warm-up: allocator arenas, code paths
    base = settle_pools()
    assert base["lingering"] == 0, base
    fds0, rss0 = open_fds(), rss_kb()
    peak_pools, peak_fds = churn(server_params, 2000, distinct)
    # churning pool names: the live pools stay within the lingering cap
    assert peak_pools <= base["pools"] + LINGER_MAX + SLACK, (peak_pools, base)
    assert peak_fds <= fds0 + LINGER_MAX + SLACK, (peak_fds, fds0)
    # (<=: a pool of an earlier test may go meanwhile, e.g. once its parked kills are done)
    st = settle_pools(base["pools"])
    assert st["pools"] <= base["pools"] and st["lingering"] == 0, (st, base)
    assert open_fds() <= fds0
    # 2,000 pools kept alive grew RSS by ~10 MB; freed, the process stays flat
    grown = rss_kb() - rss0
    assert grown < 2048, f"RSS grew {grown} kB over 2000 connections"


def test_closed_connection_releases_its_sockets_promptly(server_params):
    warm = chd.connect(**server_params)  # the engine thread's own descriptors exist before fds0
    warm.cursor().execute("SELECT 1").fetchall()
    warm.close()
    base = settle_pools()["pools"]
    fds0 = open_fds()
    name = uuid.uuid4().hex[:16]
    conn = chd.connect(**server_params, pool_name=name, idle_timeout=600, pool_size=4)
    threads = [threading.Thread(target=lambda: conn.cursor().execute("SELECT sleep(0.2)").fetchall())
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert conn.pool_stats()["idle"] == 4
    assert open_fds() >= fds0 + 4
    conn.close()
    t0 = time.monotonic()
    st = settle_pools(base)
    # freed after the short linger, not at idle_timeout=600 (<=: a pool of an earlier
    # test may go meanwhile, once its parked kills are done)
    assert st["pools"] <= base and time.monotonic() - t0 < LINGER + 1.5, st
    assert open_fds() <= fds0
    assert conn.pool_stats()["open"] == 0  # a closed connection's stats: its pool is gone
    again = chd.connect(**server_params, pool_name=name, idle_timeout=600, pool_size=4)
    assert again.pool_stats()["requests"] == 0  # a new pool under that name, not the old one
    again.close()
    with pytest.raises(chd.InterfaceError):
        conn.cursor()


def test_pool_reused_by_a_connection_opened_within_the_linger(server_params):
    name = uuid.uuid4().hex[:16]
    a = chd.connect(**server_params, pool_name=name)
    a.cursor().execute("SELECT 1").fetchall()
    a.close()
    b = chd.connect(**server_params, pool_name=name)
    b.cursor().execute("SELECT 2").fetchall()
    st = b.pool_stats()
    assert st["created"] == 1 and st["reused"] == 1, st  # the keep-alive socket survived
    b.close()


def test_result_being_read_keeps_its_pool_after_close(server_params):
    base = settle_pools()["pools"]
    name = uuid.uuid4().hex[:16]
    conn = chd.connect(**server_params, pool_name=name, stream_buffer_bytes=1 << 16)
    cur = conn.cursor()
    cur.execute("SELECT number FROM numbers(2000000)")
    first = cur.fetchmany(10)
    conn._client.close()  # the engine's part of Connection.close(): the request holds the pool
    time.sleep(LINGER + 0.5)
    rest = cur.fetchall()
    assert [r[0] for r in first + rest] == list(range(2000000))
    # freed once read (<=: a pool of an earlier test may go meanwhile); a new
    # connection under that name then gets a new pool, with no request made yet
    assert settle_pools(base)["pools"] <= base
    again = chd.connect(**server_params, pool_name=name, stream_buffer_bytes=1 << 16)
    assert again.pool_stats()["requests"] == 0
    again.close()


def test_async_closed_connections_free_their_pools(server_params):
    import asyncio

    async def main():
        base = settle_pools()["pools"]
        fds0 = open_fds()
        peak = 0
        for i in range(300):
            conn = await chd.connect_async(**server_params, pool_name=f"achurn-{uuid.uuid4().hex[:12]}")
            cur = conn.cursor()
            await cur.execute("SELECT %s", [i])
            assert await cur.fetchone() == (i,)
            await conn.close()
            peak = max(peak, _engine.engine_stats()["pools"])
        assert peak <= base + LINGER_MAX + SLACK, (peak, base)
        return base, fds0

    base, fds0 = asyncio.run(main())
    assert settle_pools(base)["pools"] <= base  # (an earlier test's pool may go meanwhile)
    assert open_fds() <= fds0 + 2  # (the event loop's own descriptors are gone with it)


def test_concurrent_first_use_takes_one_pool_reference(server_params):
    # Threads that use a new connection for the first time at once all look up its
    # pool (the lookup lets go of the GIL): each lookup is a reference, and the client
    # must keep exactly one, or the pool outlives close() for good.
    base = settle_pools()["pools"]
    for _ in range(20):
        conn = chd.connect(**server_params, pool_name=uuid.uuid4().hex[:16], pool_size=8)
        start = threading.Barrier(8)

        def first_use():
            start.wait()
            conn.cursor().execute("SELECT 1").fetchall()

        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        conn.close()
    st = settle_pools(base)
    assert st["pools"] <= base, st  # (an earlier test's pool may go meanwhile; a leak here is 20)
