"""The asyncio surface against the real server: concurrency through the shared
pool, no thread per request, cancellation that frees the slot and kills the query."""
import asyncio
import datetime
import os
import threading
import time
import uuid

import pytest

import clickhouse_backend.driver as chd


async def aconnect(server_params, **kw):
    kw.setdefault("pool_name", uuid.uuid4().hex[:16])
    return await chd.connect_async(**server_params, **kw)


async def wait_idle(conn, timeout=5):
    deadline = time.monotonic() + timeout
    while conn.pool_stats()["in_use"] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return conn.pool_stats()


async def test_basic_fetch_surface(server_params):
    conn = await aconnect(server_params)
    async with conn.cursor() as cur:
        await cur.execute("SELECT number, toString(number) FROM numbers(5)")
        assert cur.description[0][:2] == ("number", "UInt64")
        assert await cur.fetchone() == (0, "0")
        assert await cur.fetchmany(2) == [(1, "1"), (2, "2")]
        assert await cur.fetchall() == [(3, "3"), (4, "4")]
        assert await cur.fetchone() is None
        await cur.execute("SELECT %(a)s, %(b)s", {"a": "x'y", "b": None})
        assert [row async for row in cur] == [("x'y", None)]
    await conn.close()


async def test_description_of_empty_select(server_params):
    conn = await aconnect(server_params)
    async with conn.cursor() as cur:
        await cur.execute("SELECT number AS n, toString(number) AS s FROM numbers(3) WHERE n > %s", [10])
        assert [col[:2] for col in await cur.describe()] == [("n", "UInt64"), ("s", "String")]
        assert cur.rowcount == 0
        assert await cur.fetchall() == []
    assert (await wait_idle(conn))["in_use"] == 0
    await conn.close()


async def test_async_results_equal_sync_results(server_params):
    sql = "SELECT number, toString(number), toDate('2024-01-01') + number, [number, 1] FROM numbers(50000)"
    sync_rows = chd.connect(**server_params).cursor().execute(sql).fetchall()
    conn = await aconnect(server_params)
    cur = conn.cursor()
    await cur.execute(sql)
    assert [r async for r in cur] == sync_rows
    assert cur.rowcount == 50000


async def test_200_concurrent_queries_pool_16(server_params):
    conn = await aconnect(server_params, pool_size=16)
    peak = 0

    async def one(i):
        nonlocal peak
        async with conn.cursor() as cur:
            await cur.execute("SELECT %s, sleep(0.01)", [i])
            peak = max(peak, conn.pool_stats()["in_use"])
            return (await cur.fetchall())[0][0]

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert results == list(range(200))
    st = await wait_idle(conn)
    assert st["created"] <= 16 and st["peak_open"] <= 16
    assert peak <= 16
    assert st["in_use"] == 0 and st["waiting"] == 0


def os_threads():
    """Every thread of the process, native ones included (threading sees only its own)."""
    return len(os.listdir("/proc/self/task"))


async def test_no_thread_per_request(server_params):
    conn = await aconnect(server_params, pool_size=16)
    cur = conn.cursor()
    await cur.execute("SELECT 1")  # the engine thread exists from here on
    await cur.fetchall()
    before = os_threads()
    peak = before
    in_flight = 0

    async def sample():
        nonlocal peak
        while True:
            peak = max(peak, os_threads())
            await asyncio.sleep(0.005)

    async def one(i):
        nonlocal in_flight
        cur = conn.cursor()
        in_flight += 1
        # sleep: requests overlap, so a thread per request would be alive while sampled
        await cur.execute("SELECT %s, sleep(0.05)", [i])
        rows = await cur.fetchall()
        in_flight -= 1
        return rows

    sampler = asyncio.create_task(sample())
    results = await asyncio.gather(*(one(i) for i in range(300)))
    sampler.cancel()
    assert [r[0][0] for r in results] == list(range(300))
    assert conn.pool_stats()["peak_open"] > 1  # the requests did overlap
    assert peak == before and os_threads() == before, (before, peak)


async def test_os_thread_count_sees_native_threads():
    # the oracle above can fail: a C thread that `threading` does not know is counted
    import ctypes

    libc = ctypes.CDLL(None)
    listed, before = threading.active_count(), os_threads()
    tid = ctypes.c_ulong()
    # pthread_create(&tid, NULL, sleep, (void *)1): a native thread sleeping one second
    assert libc.pthread_create(ctypes.byref(tid), None, ctypes.cast(libc.sleep, ctypes.c_void_p),
                               ctypes.c_void_p(1)) == 0
    try:
        assert os_threads() == before + 1 and threading.active_count() == listed
    finally:
        libc.pthread_join(tid, None)
    assert os_threads() == before


async def test_queries_overlap_on_the_server(server_params):
    conn = await aconnect(server_params, pool_size=8)

    async def one():
        cur = conn.cursor()
        await cur.execute("SELECT sleep(0.5)")
        await cur.fetchall()

    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(8)))
    # serial execution would take 4 s
    assert time.monotonic() - t0 < 2.5


def ticker():
    """A task counting the loop's turns it gets: (task, [count])."""
    ticks = [0]

    async def tick():
        while True:
            await asyncio.sleep(0)
            ticks[0] += 1

    return asyncio.create_task(tick()), ticks


async def test_loop_stays_responsive_while_waiting(server_params):
    """While a query waits for the server, the loop runs other tasks and timers:
    they take their turns while a query that ends only when cancelled is pending.
    No clock: a loop blocked in execute() would let them run only once the query
    had failed (its query_timeout bounds that failure), and the check fails."""
    conn = await aconnect(server_params, query_timeout=60)
    cur = conn.cursor()
    query = asyncio.create_task(cur.execute("SELECT count() FROM system.numbers"))
    for _ in range(100):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)  # a timer fires too
    assert not query.done(), query
    query.cancel()
    with pytest.raises(asyncio.CancelledError):
        await query
    await conn.close()


async def test_a_stream_ready_in_memory_still_lets_other_tasks_run(server_params):
    """Blocks already buffered need no wait; of two in a row the second yields to
    the loop, so iterating a fast result cannot starve the other tasks."""
    conn = await aconnect(server_params)
    cur = conn.cursor()
    await cur.execute("SELECT number FROM numbers(100000)", settings={"max_block_size": 1000})
    await asyncio.sleep(0.5)  # the whole result arrives meanwhile (0.8 MB)
    t, ticks = ticker()
    await asyncio.sleep(0)
    ticks[0] = 0
    n = 0
    async for _ in cur:
        n += 1
    t.cancel()
    assert n == 100000
    assert ticks[0] >= 45  # 100 blocks: at least one turn of the loop per two blocks


async def test_cancellation_frees_the_slot_and_kills_the_query(server_params):
    conn = await aconnect(server_params, pool_size=4)
    qid = "cancel-" + uuid.uuid4().hex

    async def slow():
        cur = conn.cursor()
        await cur.execute("SELECT count() FROM system.numbers", query_id=qid)

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.3)
    assert conn.pool_stats()["in_use"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    check = chd.connect(**server_params).cursor()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        check.execute("SELECT count() FROM system.processes WHERE query_id = %s", [qid])
        if check.fetchone()[0] == 0:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("cancelled query still running on the server")
    st = await wait_idle(conn)
    assert st["in_use"] == 0 and st["waiting"] == 0


async def test_random_cancellations_leak_nothing(server_params):
    import random

    conn = await aconnect(server_params, pool_size=16)
    rnd = random.Random(7)

    async def one(i):
        cur = conn.cursor()
        await cur.execute("SELECT %s, sleep(%s)", [i, rnd.choice([0, 0.01, 0.05])])
        return await cur.fetchall()

    tasks = [asyncio.create_task(one(i)) for i in range(400)]
    await asyncio.sleep(0.05)
    cancelled = set(rnd.sample(range(400), 150))
    for i in cancelled:
        tasks[i].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for i, r in enumerate(results):
        if isinstance(r, asyncio.CancelledError):
            assert i in cancelled
        else:
            assert r[0][0] == i
    st = await wait_idle(conn)
    assert st["in_use"] == 0 and st["waiting"] == 0
    # cancelled requests close their connection (it is mid-response), so more than
    # 16 were created over time, but never more than 16 at once
    assert st["peak_open"] <= 16
    assert st["open"] == st["idle"]
    # the pool still works afterwards
    cur = conn.cursor()
    await cur.execute("SELECT 1")
    assert await cur.fetchall() == [(1,)]


async def test_errors_are_raised_in_execute(server_params):
    conn = await aconnect(server_params)
    cur = conn.cursor()
    with pytest.raises(chd.ProgrammingError) as ei:
        await cur.execute("SELECT * FROM no_such_table_async")
    assert ei.value.code == 60
    await cur.execute("SELECT 2")
    assert await cur.fetchall() == [(2,)]


async def test_executemany_insert_is_one_request(server_params, scratch_db):
    conn = await aconnect(server_params, database=scratch_db)
    cur = conn.cursor()
    await cur.execute("CREATE TABLE t (a UInt32, s String) ENGINE = Memory")
    before = conn.pool_stats()["requests"]
    rows = [(i, f"s{i}'\\") for i in range(10000)]
    await cur.executemany("INSERT INTO t (a, s) VALUES (%s, %s)", rows[:1])
    # the first INSERT into a table also asks its column types (DESCRIBE, cached)
    assert conn.pool_stats()["requests"] - before == 2
    await cur.execute("TRUNCATE TABLE t")
    before = conn.pool_stats()["requests"]
    await cur.executemany("INSERT INTO t (a, s) VALUES (%s, %s)", rows)
    assert cur.rowcount == 10000
    assert conn.pool_stats()["requests"] - before == 1
    await cur.execute("SELECT a, s FROM t ORDER BY a")
    assert await cur.fetchall() == rows


async def test_two_event_loops_share_the_pool(server_params):
    name = uuid.uuid4().hex[:16]

    def in_other_loop():
        async def main():
            c = await chd.connect_async(**server_params, pool_name=name)
            cur = c.cursor()
            await cur.execute("SELECT 11")
            return await cur.fetchall()

        return asyncio.run(main())

    result = await asyncio.get_running_loop().run_in_executor(None, in_other_loop)
    assert result == [(11,)]
    conn = await chd.connect_async(**server_params, pool_name=name)
    cur = conn.cursor()
    await cur.execute("SELECT 12")
    assert await cur.fetchall() == [(12,)]
    assert conn.pool_stats()["created"] == 1


async def test_nextset_is_none(server_params):
    conn = await aconnect(server_params)
    cur = conn.cursor()
    await cur.execute("SELECT 9")
    # PEP 249: None = no more result sets (ClickHouse sends one per statement)
    assert cur.nextset() is None
    assert await cur.fetchall() == [(9,)]
    await cur.close()
    with pytest.raises(chd.InterfaceError):
        cur.nextset()


AWARE_US = datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))


async def test_aware_datetime_bound_for_the_server(server_params, server_version):
    # the async twin of tests/test_escape.py::test_cursor_binds_aware_datetimes_for_its_server
    conn = await aconnect(server_params)
    cur = conn.cursor()
    await cur.execute("SELECT toString(%s, 'UTC')", [AWARE_US.replace(microsecond=0)])
    assert await cur.fetchall() == [("2024-01-02 02:04:05",)]
    assert conn._server_version_info == ()  # nothing needed the version yet
    if server_version >= (20, 1):
        await cur.execute("SELECT toString(%s, 'UTC')", [AWARE_US])
        assert await cur.fetchall() == [("2024-01-02 02:04:05.123456",)]
    else:
        with pytest.raises(chd.NotSupportedError, match=r"ClickHouse 18\.16\.\d+ has no DateTime64.*microseconds"):
            await cur.execute("SELECT toString(%s, 'UTC')", [AWARE_US])
        with pytest.raises(chd.NotSupportedError, match="has no DateTime64"):
            await cur.executemany("INSERT INTO nowhere VALUES (%s)", [(AWARE_US,)])
    assert conn._server_version_info == server_version


async def test_headers_alone_do_not_wake_the_loop():
    """A wake-up of the loop costs every async query a loop turn: the engine wakes it
    for a block, the end, an error or progress, not for the response's headers (which
    no waiter waits for: 3 wake-ups per small query became 2)."""
    from clickhouse_backend.driver import async_connection
    from tests.fake_http import NATIVE_SELECT_1, FakeServer, http_response

    headers_sent, go_on = threading.Event(), threading.Event()

    def script(conn, request, n):
        whole = http_response(NATIVE_SELECT_1, chunked=True)
        head, _, body = whole.partition(b"\r\n\r\n")
        conn.sendall(head + b"\r\n\r\n")
        headers_sent.set()
        go_on.wait(10)
        conn.sendall(body)
        return "close"

    loop = asyncio.get_running_loop()
    notifier, wakes = async_connection._notifier(loop), []
    loop.add_reader(notifier.fileno(), lambda: wakes.append(notifier.dispatch()))  # counting its wake-ups
    try:
        with FakeServer(script) as srv:
            conn = await chd.connect_async(host="127.0.0.1", port=srv.port)
            cur = conn.cursor()
            task = asyncio.ensure_future(cur.execute("SELECT 1"))
            assert await loop.run_in_executor(None, headers_sent.wait, 10)
            await asyncio.sleep(0.3)  # the engine has read the headers by now
            assert wakes == [] and not task.done()
            go_on.set()
            await task
            assert await cur.fetchall() == [(1,)]
            assert wakes  # the block woke it
            await conn.close()
    finally:
        go_on.set()
        loop.add_reader(notifier.fileno(), notifier.dispatch)
