"""The server dies (SIGKILL) or freezes (SIGSTOP) under a running query: the
driver raises a clear OperationalError within the configured timeout, never
hangs, never returns a partial result as complete, and the pool heals once the
server is back. Runs against a private server started for this module."""
import threading
import time

import pytest

import clickhouse_backend.driver as chd
from tests.faults.conftest import open_fds, unique_pool as pool, wait_for


def kill_later(server, delay):
    t = threading.Timer(delay, server.kill)
    t.start()
    return t


def test_sigkill_mid_query_then_the_pool_heals(private_server):
    conn = chd.connect(**private_server.params(**pool(send_receive_timeout=10, pool_size=4)))
    cur = conn.cursor()
    assert cur.execute("SELECT 1").fetchall() == [(1,)]  # a pooled keep-alive connection exists
    fds = open_fds()

    # 1. a query that sends nothing for a long time (no bytes before it ends)
    t = kill_later(private_server, 0.5)
    t0 = time.monotonic()
    with pytest.raises(chd.OperationalError) as ei:
        cur.execute("SELECT count() FROM numbers(100000000000)")
    elapsed = time.monotonic() - t0
    t.join()
    assert elapsed < 5, f"error took {elapsed:.1f}s, the server was killed at 0.5s"
    msg = str(ei.value)
    assert f"127.0.0.1:{private_server.port}" in msg, msg
    # A reused connection that died before any answer byte is retried once for a
    # SELECT (and the new connection is refused, or reset by the dying server); had
    # the query gone out on a fresh connection, the reset is reported without a retry.
    if conn.pool_stats()["retries"]:
        assert conn.pool_stats()["retries"] == 1, conn.pool_stats()
        assert "refused" in msg.lower() or "reset" in msg, msg
    else:
        assert "reset" in msg or "closed" in msg, msg

    # 2. while it is down: refused at once, not after a timeout
    t0 = time.monotonic()
    with pytest.raises(chd.OperationalError) as ei:
        cur.execute("SELECT 1")
    assert time.monotonic() - t0 < 2 and "refused" in str(ei.value).lower()
    assert conn.pool_stats()["in_use"] == 0

    # 3. back on the same port: the same Connection works again, nothing leaked
    private_server.restart()
    assert cur.execute("SELECT 2").fetchall() == [(2,)]
    st = conn.pool_stats()
    assert st["in_use"] == 0 and st["waiting"] == 0 and st["open"] <= 1, st
    assert open_fds() <= fds


def test_sigkill_while_streaming_never_looks_complete(private_server):
    if not private_server.ping():
        private_server.restart()
    conn = chd.connect(**private_server.params(**pool(send_receive_timeout=10, stream_buffer_bytes=1 << 16)))
    cur = conn.cursor()
    cur.execute("SELECT number FROM numbers(50000000)")
    got = len(cur.fetchmany(1000))
    private_server.kill()
    with pytest.raises(chd.OperationalError) as ei:
        while True:
            rows = cur.fetchmany(100000)
            if not rows:
                break  # the result ended: would be a silently partial result
            got += len(rows)
    assert got < 50000000
    assert any(w in str(ei.value) for w in ("incomplete", "closed", "reset")), str(ei.value)
    assert wait_for(lambda: conn.pool_stats()["in_use"] == 0)
    private_server.restart()
    assert cur.execute("SELECT count() FROM numbers(10)").fetchall() == [(10,)]


def test_async_sigkill_mid_query(private_server):
    import asyncio

    if not private_server.ping():
        private_server.restart()

    async def main():
        conn = await chd.connect_async(**private_server.params(**pool(send_receive_timeout=10)))
        cur = conn.cursor()
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, private_server.kill)
        t0 = time.monotonic()
        with pytest.raises(chd.OperationalError):
            await cur.execute("SELECT count() FROM numbers(100000000000)")
        assert time.monotonic() - t0 < 5
        await asyncio.sleep(0)
        private_server.restart()
        await cur.execute("SELECT 3")
        assert await cur.fetchall() == [(3,)]
        assert conn.pool_stats()["in_use"] == 0

    asyncio.run(main())


@pytest.mark.parametrize("timeout_kind", ["send_receive_timeout", "query_timeout"])
def test_sigstop_the_timeout_fires(private_server, timeout_kind):
    if not private_server.ping():
        private_server.restart()
    conn = chd.connect(**private_server.params(**pool(**{timeout_kind: 1.0})))
    cur = conn.cursor()
    assert cur.execute("SELECT 1").fetchall() == [(1,)]  # a reused connection: connect() cannot fail fast
    private_server.freeze()
    try:
        t0 = time.monotonic()
        with pytest.raises(chd.OperationalError) as ei:
            cur.execute("SELECT 1")
        elapsed = time.monotonic() - t0
        assert 0.9 < elapsed < 3, elapsed
        assert timeout_kind in str(ei.value), str(ei.value)
        # a fresh connection to a stopped server: the kernel accepts it, nobody answers
        other = chd.connect(**private_server.params(**pool(**{timeout_kind: 1.0})))
        t0 = time.monotonic()
        with pytest.raises(chd.OperationalError):
            other.cursor().execute("SELECT 1")
        assert time.monotonic() - t0 < 3
    finally:
        private_server.thaw()
    # the KILL QUERY sent for the timed-out query and the pool recover once it runs again
    assert cur.execute("SELECT 4").fetchall() == [(4,)]
    assert wait_for(lambda: conn.pool_stats()["in_use"] == 0)


def test_sigstop_mid_stream_times_out(private_server):
    if not private_server.ping():
        private_server.restart()
    conn = chd.connect(**private_server.params(**pool(send_receive_timeout=1.0, stream_buffer_bytes=1 << 16)))
    cur = conn.cursor()
    cur.execute("SELECT number FROM numbers(100000000)")
    cur.fetchmany(10)
    private_server.freeze()
    try:
        t0 = time.monotonic()
        with pytest.raises(chd.OperationalError) as ei:
            while cur.fetchmany(100000):
                pass
        # buffered blocks drain first, then the inactivity timeout fires
        assert time.monotonic() - t0 < 5
        assert "send_receive_timeout" in str(ei.value)
    finally:
        private_server.thaw()
    assert wait_for(lambda: conn.pool_stats()["in_use"] == 0)
