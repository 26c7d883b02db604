"""The async twin of tests/test_insert_ranges.py: executemany() refuses what a
column would wrap, before sending anything; boundary values are stored exactly."""
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb
from tests.test_insert_ranges import COMMON, MODERN, SPELLINGS


async def check_columns(cur, table, types):
    for type_name, (goods, bads) in types.items():
        await cur.execute(f"DROP TABLE IF EXISTS {table}")
        await cur.execute(f"CREATE TABLE {table} (id UInt32, v {type_name}) ENGINE = Memory")
        rows = list(enumerate(goods))
        for bad in bads:
            with pytest.raises(chd.DataError, match=rf"row {len(rows)}, column 'v' \("):
                await cur.executemany(f"INSERT INTO {table} (id, v) VALUES (%s, %s)", rows + [(len(rows), bad)])
        await cur.execute(f"SELECT count() FROM {table}")
        assert await cur.fetchone() == (0,)
        await cur.executemany(f"INSERT INTO {table} (id, v) VALUES (%s, %s)", rows)
        await cur.execute(f"SELECT v FROM {table} ORDER BY id")
        got = [r[0] for r in await cur.fetchall()]
        if type_name.startswith("DateTime"):
            got = [g.replace(tzinfo=None) for g in got]
            goods = [g.replace(tzinfo=None) for g in goods]
        assert got == goods, type_name


async def test_server_refuses_what_it_would_wrap(server_params, scratch_db):
    conn = await chd.connect_async(**server_params, pool_name=uuid.uuid4().hex[:12])
    await check_columns(conn.cursor(), f"{scratch_db}.r", {**COMMON, **SPELLINGS})


@requires_chdb
async def test_embedded_refuses_what_it_would_wrap():
    conn = await chd.connect_async(embedded=EMBEDDED)
    await check_columns(conn.cursor(), "default.async_insert_ranges", {**COMMON, **MODERN, **SPELLINGS})
