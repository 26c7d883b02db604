"""Query progress on the async cursor (issue 19): what tests/test_progress.py
checks on the sync one, with the callback on the loop and the async iterator."""
import asyncio
import threading

import pytest

import clickhouse_backend.driver as chd
from clickhouse_backend.driver.progress import Progress, Summary
from tests.embedded_support import EMBEDDED, requires_chdb
from tests.test_progress import (STEPS, SUMMARY, _h2_fake, assert_killed, delivered_in_order, live_script,
                                 stalled_script)
from tests.fake_http import FakeServer


async def test_async_progress_on_the_loop():
    seen = [threading.Event() for _ in STEPS]
    updates = []
    loop = asyncio.get_running_loop()

    async def on_progress(p):  # a coroutine function is awaited
        assert asyncio.get_running_loop() is loop
        updates.append(p)
        seen[len(updates) - 1].set()

    with FakeServer(live_script(seen)) as srv:
        conn = await chd.connect_async(host="127.0.0.1", port=srv.port)
        cur = conn.cursor()
        await cur.execute("SELECT 1", progress=on_progress)
        assert await cur.fetchall() == [(1,)]
        await conn.close()
    assert updates == [Progress.parse(p) for p in STEPS]
    assert cur.summary.read_rows == 3000000


async def test_async_iterator_of_progress():
    seen = [threading.Event() for _ in STEPS]
    with FakeServer(live_script(seen)) as srv:
        conn = await chd.connect_async(host="127.0.0.1", port=srv.port)
        cur = conn.cursor()
        updates = []
        async for p in cur.execute_progress("SELECT %s", [1]):
            updates.append(p)
            seen[len(updates) - 1].set()
        assert await cur.fetchall() == [(1,)]
        await conn.close()
    assert updates == [Progress.parse(p) for p in STEPS]


async def test_h2_through_nginx_async():
    srv, kw = _h2_fake()
    with srv:
        conn = await chd.connect_async(**kw)
        cur = conn.cursor()
        updates = [p async for p in cur.execute_progress("SELECT 1")]
        assert await cur.fetchall() == [(1,)]
        assert conn.pool_stats()["h2_streams"] >= 1
        await conn.close()
    assert delivered_in_order(updates), updates
    assert cur.summary == Summary.parse(SUMMARY)


@requires_chdb
async def test_embedded_progress_async():
    conn = await chd.connect_async(embedded=EMBEDDED)
    cur = conn.cursor()
    updates = []
    async for p in cur.execute_progress("SELECT max(number * 7 % 1000003) FROM numbers(100000000)",
                                        settings={"max_threads": 1, "interactive_delay": 20000}):
        updates.append(p)
    assert await cur.fetchall() == [(1000002,)]
    # chDB calls back less often when its query runs on the executor's threads
    rows = [u.read_rows for u in updates]
    assert rows and rows == sorted(rows) and 0 < rows[-1] <= 100_000_000
    assert cur.summary.read_rows == 100_000_000
    await conn.close()


@requires_chdb
async def test_embedded_cancel_kills_the_running_query():
    # chDB lists its queries under ids of its own: the driver's query_id is in the
    # text (a trailing comment), and cancelling the task kills the query even while
    # chDB is busy computing it (its fetch call returns only with the next chunk).
    conn = await chd.connect_async(embedded=EMBEDDED)
    cur, check = conn.cursor(), conn.cursor()
    first = asyncio.Event()
    task = asyncio.ensure_future(cur.execute(
        "SELECT count() FROM numbers(2000000000) WHERE NOT ignore(sipHash64(number))",
        query_id="emb-cancel-1", settings={"max_threads": 1}, progress=lambda p: first.set()))
    await asyncio.wait_for(first.wait(), 60)

    async def listed():
        await check.execute("SELECT count() FROM system.processes WHERE query LIKE %s",
                            ["%/* chb:emb-cancel-1 */"])
        return (await check.fetchall())[0][0]

    assert await listed() == 1
    task.cancel()
    await asyncio.wait((task,))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while await listed() and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert await listed() == 0
    assert loop.time() < deadline
    await conn.close()


async def test_async_callback_error_cancels_the_query():
    async def on_progress(p):
        raise ValueError("enough")

    with FakeServer(stalled_script) as srv:
        conn = await chd.connect_async(host="127.0.0.1", port=srv.port)
        cur = conn.cursor()
        with pytest.raises(chd.Error) as ei:
            await cur.execute("SELECT 1", progress=on_progress)
        assert isinstance(ei.value.__cause__, ValueError)
        await asyncio.get_running_loop().run_in_executor(None, assert_killed, srv, cur)
        await conn.close()
