"""The async twin of tests/test_dropin_cursor.py (issue 13 §1's driver-level API)."""
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb
from tests.test_dropin_cursor import SELECT


@pytest.fixture(params=["server", pytest.param("embedded", marks=requires_chdb)])
async def target(request, server_params, scratch_db):
    if request.param == "server":
        return await chd.connect_async(**server_params, pool_name=uuid.uuid4().hex[:12]), scratch_db
    conn = await chd.connect_async(embedded=EMBEDDED)
    await conn.cursor().execute("CREATE DATABASE IF NOT EXISTS dropin")
    return conn, "dropin"


async def test_columnar_and_numpy_results(target):
    conn, _ = target
    cur = conn.cursor()
    cur.set_query_execution_args(columnar=True)
    await cur.execute(SELECT, [4], settings={"max_block_size": 3})
    assert await cur.fetchall() == [(0, 1, 2, 3), ("0", "1", "2", "3"), (-2, -1, 0, 1)]
    np = pytest.importorskip("numpy")
    cur.set_query_execution_args(columnar=True, use_numpy=True)
    await cur.execute(SELECT, [3])
    n, s, i = await cur.fetchall()
    assert n.dtype == np.uint64 and n.tolist() == [0, 1, 2] and i.tolist() == [-2, -1, 0]


async def test_connections_min_max_as_in_databases_options():
    assert (await chd.connect_async(connections_min=1, connections_max=3))._options.pool_size == 3


async def test_insert_values_with_rows_and_columns(target):
    conn, db = target
    cur = conn.cursor()
    await cur.execute(f"DROP TABLE IF EXISTS {db}.ains")
    await cur.execute(f"CREATE TABLE {db}.ains (a Int64, b String) ENGINE = Memory")
    await cur.execute(f"INSERT INTO {db}.ains (a, b) VALUES", [(1, "x"), (2, "y")])
    cur.set_query_execution_args(columnar=True)
    await cur.execute(f"INSERT INTO {db}.ains (a, b) VALUES", [(3, 4), ("z", "w")])
    with pytest.raises(chd.DataError, match="row 0, column 'a'"):
        await cur.execute(f"INSERT INTO {db}.ains (a, b) VALUES", [(2 ** 63,), ("p",)])
    cur.set_query_execution_args()
    await cur.execute(f"SELECT a, b FROM {db}.ains ORDER BY a")
    assert await cur.fetchall() == [(1, "x"), (2, "y"), (3, "z"), (4, "w")]
