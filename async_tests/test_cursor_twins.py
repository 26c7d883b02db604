"""The async shell of the cursors' one step machine (clickhouse_backend/driver/cursor.py):
the same behaviour as the sync shell (tests/test_cursor_twins.py), on the server and
on the embedded engine."""
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb
from tests.test_cursor_twins import EMPTY_SQL, count_logged


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
        with pytest.raises(chd.ProgrammingError, match="failed"):
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
