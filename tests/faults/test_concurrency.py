"""Many users of one pool at once: 1,000 asyncio queries on 16 connections with
random cancellations, 32 threads, fork after use. Afterwards every slot is back,
no file descriptor is left open (the count may only drop: idle connections of
earlier tests' pools expire meanwhile), and the results that completed are exact."""
import asyncio
import os
import random
import threading
import time
import uuid

import clickhouse_backend.driver as chd
from tests.faults.conftest import open_fds


def unique_pool():
    return "cc-" + uuid.uuid4().hex[:10]


def wait_closed(conn, timeout=10):
    """Idle connections expire after idle_timeout: wait until the pool holds none,
    the KILL QUERY connections of cancelled queries included (their own budget),
    and no kill is parked (it would open a connection later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = conn.pool_stats()
        if st["open"] == 0 and st["in_use"] == 0 and st["kill_open"] == 0 and st["kills_parked"] == 0:
            return st
        time.sleep(0.05)
    return conn.pool_stats()


def fds_back_to(fds, timeout=10):
    """open_fds() once it is back to ``fds`` (a pool of an earlier test may still
    close its last sockets, e.g. a parked kill's probe); what stays open is a leak."""
    deadline = time.monotonic() + timeout
    while open_fds() > fds and time.monotonic() < deadline:
        time.sleep(0.05)
    return open_fds()


def test_1000_async_queries_pool_16_random_cancellations(server_params):
    rnd = random.Random(20240611)
    loop_errors = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: loop_errors.append(ctx))
        # warm up this loop's notifier (one eventfd per loop, kept while the loop lives)
        warm = await chd.connect_async(**server_params, pool_name=unique_pool(), idle_timeout=0.2)
        await (await _execute(warm.cursor(), "SELECT 1")).fetchall()
        wait_closed(warm)
        fds = open_fds()

        conn = await chd.connect_async(**server_params, pool_name=unique_pool(), pool_size=16,
                                       idle_timeout=0.3, pool_timeout=60)
        kinds = {}

        async def one(i):
            cur = conn.cursor()
            kind = rnd.choice(["small", "small", "stream", "sleep", "error"])
            kinds[i] = kind
            if kind == "small":
                await cur.execute("SELECT %s, toString(%s)", [i, i])
                return await cur.fetchall() == [(i, str(i))]
            if kind == "stream":
                await cur.execute("SELECT number FROM numbers(%s)", [20000 + i])
                rows = await cur.fetchall()
                return len(rows) == 20000 + i and rows[-1] == (20000 + i - 1,)
            if kind == "sleep":
                await cur.execute("SELECT sleep(0.05), %s", [i])
                return (await cur.fetchall())[0][1] == i
            try:
                await cur.execute("SELECT * FROM no_such_table_%s" % i)
            except chd.ProgrammingError as e:
                return e.code == 60
            return False

        tasks = [asyncio.create_task(one(i)) for i in range(1000)]
        # cancel ~300 at random moments: waiting for a slot, connecting, mid-stream
        victims = rnd.sample(range(1000), 300)
        for k, i in enumerate(victims):
            if k % 25 == 0:
                await asyncio.sleep(rnd.random() * 0.05)
            tasks[i].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        ok = cancelled = 0
        for i, r in enumerate(results):
            if isinstance(r, asyncio.CancelledError):
                assert i in victims
                cancelled += 1
            else:
                assert r is True, (i, kinds[i], r)
                ok += 1
        assert ok + cancelled == 1000 and cancelled > 0 and ok > 600

        # KILL QUERY requests for cancelled queries are fire-and-forget: let them finish
        st = wait_closed(conn)
        assert st["in_use"] == 0 and st["waiting"] == 0 and st["open"] == 0, st
        assert 0 < st["peak_open"] <= 16, st
        assert fds_back_to(fds) <= fds, "file descriptors leaked"
        # the pool still serves
        cur = conn.cursor()
        await cur.execute("SELECT 1")
        assert await cur.fetchall() == [(1,)]

    asyncio.run(main())
    assert not loop_errors, loop_errors


async def _execute(cur, sql):
    await cur.execute(sql)
    return cur


def test_32_threads_share_the_pool(server_params):
    conn = chd.connect(**server_params, pool_name=unique_pool(), pool_size=16, idle_timeout=0.3, pool_timeout=60)
    conn.cursor().execute("SELECT 1").fetchall()
    wait_closed(conn)
    fds = open_fds()
    failures = []
    start = threading.Barrier(32)

    def worker(t):
        rnd = random.Random(t)
        try:
            start.wait()
            for k in range(25):
                cur = conn.cursor()
                pick = rnd.random()
                if pick < 0.5:
                    assert cur.execute("SELECT %s * 1000 + %s", [t, k]).fetchone() == (t * 1000 + k,)
                elif pick < 0.7:  # read part of a large result, then walk away
                    cur.execute("SELECT number FROM numbers(1000000)")
                    assert cur.fetchmany(10) == [(i,) for i in range(10)]
                    cur.close()
                elif pick < 0.85:
                    rows = cur.execute("SELECT number FROM numbers(50000)").fetchall()
                    assert len(rows) == 50000 and rows[-1] == (49999,)
                else:
                    try:
                        cur.execute("SELEC %s" % t)
                    except chd.ProgrammingError as e:
                        assert e.code == 62
                    else:
                        raise AssertionError("syntax error not raised")
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append((t, repr(e)))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(32)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not failures, failures[:5]
    st = wait_closed(conn)
    assert st["in_use"] == 0 and st["waiting"] == 0 and st["open"] == 0, st
    assert 1 < st["peak_open"] <= 16, st
    assert fds_back_to(fds) <= fds, "file descriptors leaked"


def test_fork_while_other_threads_are_mid_query(server_params):
    """fork() with the engine busy on other threads' queries: the child gets a new
    engine and pool (sync and asyncio work), the parent's queries finish untouched."""
    conn = chd.connect(**server_params, pool_name=unique_pool(), pool_size=8)
    assert conn.cursor().execute("SELECT 1").fetchall() == [(1,)]
    results, stop = [], threading.Event()

    def busy(t):
        cur = conn.cursor()
        while not stop.is_set():
            rows = cur.execute("SELECT number FROM numbers(200000)").fetchall()
            results.append(len(rows) == 200000)

    threads = [threading.Thread(target=busy, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    time.sleep(0.3)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            cur = conn.cursor()
            ok = cur.execute("SELECT 40 + 2").fetchone() == (42,)
            fresh = conn.pool_stats()["created"] == 1  # the child's pool starts empty

            async def amain():
                ac = await chd.connect_async(**server_params)
                c = ac.cursor()
                await c.execute("SELECT count() FROM numbers(1000)")
                return await c.fetchall() == [(1000,)]

            aok = asyncio.run(amain())
            os.write(w, b"%d%d%d" % (ok, fresh, aok))
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    out = os.read(r, 10)
    os.close(r)
    stop.set()
    for th in threads:
        th.join(60)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert out == b"111", out
    assert results and all(results)
    deadline = time.monotonic() + 5
    while conn.pool_stats()["in_use"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert conn.pool_stats()["in_use"] == 0
