"""The async cursor on the embedded engine: chDB calls run in a dedicated
executor, the event loop keeps running, cancellation frees the chDB connection."""
import asyncio
import datetime
import ipaddress
import time

import pytest

from tests.embedded_support import EMBEDDED, HAVE_CHDB

pytestmark = pytest.mark.skipif(not HAVE_CHDB, reason="chDB is not installed (pip install .[embedded])")


@pytest.fixture
async def econn():
    import clickhouse_backend.driver as chd

    c = await chd.connect_async(embedded=EMBEDDED)
    yield c
    await c.close()


async def _all(conn, sql, params=None, **kw):
    cur = conn.cursor()
    await cur.execute(sql, params, **kw)
    rows = await cur.fetchall()
    await cur.close()
    return rows


async def test_basic_and_types(econn):
    rows = await _all(econn, "SELECT %s, toDate32('1900-01-01'), toIPv6('::1'), map('a', [1]), "
                             "toDateTime64('2020-01-01 00:00:00', 3, 'UTC'), %s::Int256",
                      ["x'y", -2**200])
    assert rows == [("x'y", datetime.date(1900, 1, 1), ipaddress.IPv6Address("::1"), {"a": [1]},
                     datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc), -2**200)]
    assert await econn.server_version() >= "24"


async def test_aware_datetime64_literal(econn):
    # chDB is a current ClickHouse: an aware datetime with microseconds is a DateTime64
    v = datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert await _all(econn, "SELECT toString(%s, 'UTC')", [v]) == [("2024-01-02 02:04:05.123456",)]
    assert econn._server_version_info >= (20, 1)


async def test_loop_keeps_running_during_a_slow_query(econn):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    try:
        await asyncio.sleep(0)
        t0 = time.monotonic()
        # One slow block: chDB is busy for ~1 s inside a single call.
        rows = await _all(econn, "SELECT sleep(1), 1")
        elapsed = time.monotonic() - t0
    finally:
        task.cancel()
    assert rows == [(0, 1)]
    assert elapsed >= 0.9
    assert ticks >= 50, f"the loop was blocked: only {ticks} ticks in {elapsed:.2f}s"


async def test_concurrent_queries_run_in_parallel(econn):
    t0 = time.monotonic()
    results = await asyncio.gather(*(_all(econn, "SELECT sleep(0.5), %s", [i]) for i in range(4)))
    assert results == [[(0, i)] for i in range(4)]
    assert time.monotonic() - t0 < 1.5  # serialized it would be >= 2 s


async def test_streaming_many_blocks(econn):
    cur = econn.cursor()
    await cur.execute("SELECT number FROM numbers(100000) SETTINGS max_block_size = 1000")
    n = 0
    async for (v,) in cur:
        assert v == n
        n += 1
    assert n == 100000 and cur.rowcount == 100000


async def test_errors_and_codes(econn):
    import clickhouse_backend.driver as chd

    with pytest.raises(chd.ProgrammingError) as ei:
        await _all(econn, "SELECT * FROM no_such_table_async")
    assert ei.value.code == 60
    with pytest.raises(chd.DataError) as ei:
        await _all(econn, "SELECT throwIf(number = 5000) FROM numbers(10000) SETTINGS max_block_size = 100")
    assert ei.value.code == 395


async def test_cancel_frees_the_chdb_connection(econn):
    before = econn.pool_stats()["in_use"]
    cur = econn.cursor()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(
            cur.execute("SELECT sleepEachRow(0.5) FROM numbers(50) SETTINGS max_block_size = 1"), 0.2)
    deadline = time.monotonic() + 5
    while econn.pool_stats()["in_use"] != before:
        assert time.monotonic() < deadline, econn.pool_stats()
        await asyncio.sleep(0.05)
    assert await _all(econn, "SELECT 1") == [(1,)]


async def test_abandoned_result_is_released(econn):
    before = econn.pool_stats()["in_use"]
    cur = econn.cursor()
    await cur.execute("SELECT number FROM numbers(10000000) SETTINGS max_block_size = 1000")
    assert await cur.fetchone() == (0,)
    await cur.close()
    deadline = time.monotonic() + 5
    while econn.pool_stats()["in_use"] != before:
        assert time.monotonic() < deadline, econn.pool_stats()
        await asyncio.sleep(0.05)


async def test_insert_and_settings(econn):
    await _all(econn, "DROP TABLE IF EXISTS emb_async")
    await _all(econn, "CREATE TABLE emb_async (id UInt32, s String) ENGINE = MergeTree ORDER BY id")
    cur = econn.cursor()
    await cur.executemany("INSERT INTO emb_async VALUES (%s, %s)", [(i, f"s{i}") for i in range(100)])
    assert cur.rowcount == 100
    assert await _all(econn, "SELECT count(), max(s) FROM emb_async") == [(100, "s99")]
    assert await _all(econn, "SELECT getSetting('max_threads')", settings={"max_threads": 1}) == [(1,)]
    await _all(econn, "DROP TABLE emb_async")
