"""The async shell of the cursors' one step machine (clickhouse_backend/driver/cursor.py):
the same behaviour as the sync shell (tests/test_cursor_twins.py), on the server and
on the embedded engine."""
import asyncio
import gc
import time
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb
from tests.test_cursor_twins import (BAD_CALLS, EMPTY_SQL, ENDLESS, SHARED_SQL, count_logged, record, running,
                                     shared_query)


async def aconnect(server_params, **kw):
    kw.setdefault("pool_name", uuid.uuid4().hex[:16])
    return await chd.connect_async(**server_params, **kw)


async def test_empty_select_costs_one_query_unless_described(server_params, _admin_conn):
    marker = uuid.uuid4().hex
    conn = await aconnect(server_params, settings={"log_queries": 1})
    async with conn.cursor() as cur:
        await cur.execute(EMPTY_SQL % marker, [10])
        assert await cur.fetchall() == []
        assert cur.rowcount == 0
    assert count_logged(_admin_conn, marker, 1) == 1          # no DESCRIBE
    async with conn.cursor() as cur:
        await cur.execute(EMPTY_SQL % marker, [10])
        with pytest.raises(chd.ProgrammingError, match="describe"):
            cur.description  # noqa: B018 - a property cannot await: it says what to do
        assert [c[:2] for c in await cur.describe()] == [("n", "UInt64"), ("s", "String")]
        assert [c[:2] for c in cur.description] == [("n", "UInt64"), ("s", "String")]
        assert await cur.describe() == cur.description  # resolved once: no further query
    assert count_logged(_admin_conn, marker, 3) == 3          # the second SELECT and one DESCRIBE
    await conn.close()


async def test_describe_needs_no_query_when_columns_came_with_rows(server_params, scratch_db):
    conn = await aconnect(server_params)
    async with conn.cursor() as cur:
        await cur.execute("SELECT 1 AS a")
        before = conn.pool_stats()["requests"]
        assert [c[:2] for c in await cur.describe()] == [("a", "UInt8")]
        await cur.execute(f"CREATE TABLE {scratch_db}.t (x UInt8) ENGINE = Memory")
        assert await cur.describe() is None and cur.description is None
        assert conn.pool_stats()["requests"] == before + 1


async def test_error_ends_the_result_like_the_sync_cursor(server_params):
    # the async cursor used to mark its result done on any error, the sync one did not
    conn = await aconnect(server_params)
    async with conn.cursor() as cur:
        with pytest.raises(chd.DatabaseError):
            await cur.execute("SELECT throwIf(number = 70000) FROM numbers(1000000)",
                              settings={"max_block_size": 100})
        with pytest.raises(chd.ProgrammingError, match="ended early"):
            await cur.fetchall()
        await cur.execute("SELECT 1")
        assert await cur.fetchall() == [(1,)]


@requires_chdb
async def test_embedded_empty_select_is_one_request():
    conn = await chd.connect_async(embedded=EMBEDDED)
    async with conn.cursor() as cur:
        before = conn.pool_stats()["requests"]
        await cur.execute("SELECT number AS n, toString(number) AS s FROM numbers(3) WHERE n > %s", [10])
        assert await cur.fetchall() == [] and cur.rowcount == 0
        assert conn.pool_stats()["requests"] == before + 1
        assert [c[:2] for c in await cur.describe()] == [("n", "UInt64"), ("s", "String")]
    await conn.close()


async def await_until(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return predicate()


# --- issue 14 §3: a cursor shared by tasks refuses, never answers wrongly -------

async def test_cursor_shared_by_32_tasks_refuses_and_never_returns_wrong_rows(server_params):
    conn = await aconnect(server_params)
    cur = conn.cursor()
    outcome = {"right": 0, "refused": 0, "wrong": []}

    async def worker(k):
        for i in range(200):
            params, expected = shared_query(k, i)
            try:
                await cur.execute(SHARED_SQL, params)
                rows = await cur.fetchall()
            except chd.ProgrammingError:
                rows = None
            record(outcome, expected, rows)

    await asyncio.gather(*(worker(k) for k in range(32)))
    assert outcome["wrong"] == []
    assert outcome["right"] + outcome["refused"] == 32 * 200
    assert outcome["refused"] > 0 and outcome["right"] > 0


async def test_helper_tasks_may_execute_and_fetch_for_their_awaiter(server_params):
    # asyncio.wait_for runs its coroutine in a task of its own before Python 3.12
    cur = (await aconnect(server_params)).cursor()
    await asyncio.wait_for(cur.execute("SELECT number FROM numbers(3)"), 10)
    assert await asyncio.wait_for(cur.fetchone(), 10) == (0,)
    assert await cur.fetchone() == (1,)
    assert await cur.fetchall() == [(2,)]
    await cur.execute("SELECT 1")
    other = asyncio.create_task(cur.fetchall())  # nobody awaits it: not its result
    await asyncio.sleep(0.05)
    with pytest.raises(chd.ProgrammingError, match="another task"):
        other.result()
    assert await cur.fetchall() == [(1,)]


# --- §4: closing closes; a cancelled iteration frees the slot -----------------------

async def test_connection_close_closes_open_results(server_params, _admin_conn):
    conn = await aconnect(server_params, pool_size=2, pool_timeout=2)
    cur = conn.cursor()
    await cur.execute(ENDLESS)
    assert await cur.fetchone() == (0,)
    assert running(_admin_conn, cur.query_id) == 1
    await conn.close()
    assert await await_until(lambda: running(_admin_conn, cur.query_id) == 0)
    assert await await_until(lambda: conn.pool_stats()["in_use"] == 0)
    with pytest.raises(chd.InterfaceError):
        await cur.fetchone()


async def test_connection_close_fails_a_waiting_reader(server_params):
    conn = await aconnect(server_params)
    cur = conn.cursor()
    reader = asyncio.create_task(cur.execute("SELECT sleep(3), number FROM numbers(10)"))
    await asyncio.sleep(0.5)
    start = time.monotonic()
    await conn.close()
    with pytest.raises(chd.InterfaceError, match="closed"):
        await asyncio.wait_for(reader, 2)
    assert time.monotonic() - start < 2
    assert await await_until(lambda: conn.pool_stats()["in_use"] == 0)


async def test_cancelled_iteration_frees_the_slot(server_params, _admin_conn):
    # asyncio.run() turns Ctrl-C into cancelling the main task: the same path
    conn = await aconnect(server_params, pool_size=1, pool_timeout=2)
    cur = conn.cursor()
    started = asyncio.Event()

    async def consume():
        await cur.execute(ENDLESS)
        async for row in cur:
            if row[0] == 100_000:
                started.set()
                await asyncio.sleep(60)  # cancelled here, in the loop's body

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gc.collect()  # the async generator's finaliser (aclose) runs as a task
    assert await await_until(lambda: running(_admin_conn, cur.query_id) == 0)
    async with conn.cursor() as other:
        await other.execute("SELECT 1")  # the only slot is free again: no PoolTimeout
        assert await other.fetchall() == [(1,)]


# --- §5: every error a PEP 249 one, with the original as __cause__ -----------------

@pytest.mark.parametrize("args, kwargs, cls, cause", BAD_CALLS)
async def test_errors_are_dbapi_errors(server_params, args, kwargs, cls, cause):
    cur = (await aconnect(server_params)).cursor()
    with pytest.raises(cls) as info:
        await cur.execute(*args, **kwargs)
    assert cause is None or type(info.value.__cause__) is cause
    await cur.execute("SELECT 1")
    assert await cur.fetchall() == [(1,)]


@requires_chdb
@pytest.mark.parametrize("args, kwargs, cls, cause", BAD_CALLS)
async def test_embedded_errors_are_dbapi_errors(args, kwargs, cls, cause):
    cur = (await chd.connect_async(embedded=EMBEDDED)).cursor()
    with pytest.raises(cls) as info:
        await cur.execute(*args, **kwargs)
    assert cause is None or type(info.value.__cause__) is cause


async def test_bad_connect_options_are_interface_errors():
    with pytest.raises(chd.InterfaceError):
        await chd.connect_async(port="x")
