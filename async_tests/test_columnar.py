"""The async twin of tests/test_columnar.py: the same values through the async cursor,
server and embedded, including iteration over record batches / NumPy blocks."""
import contextlib
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb
from tests.test_columnar import CASES, canon, column_values, expected, select

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")


@pytest.fixture(params=["server", pytest.param("embedded", marks=requires_chdb)])
async def conn(request, server_params):
    if request.param == "server":
        c = await chd.connect_async(**server_params, pool_name=uuid.uuid4().hex[:12])
    else:
        c = await chd.connect_async(embedded=EMBEDDED)
    c.target = request.param
    yield c
    await c.close()


async def test_every_type_as_the_row_path_gives_it(conn):
    cur = conn.cursor()
    for ctype, exprs, on_server in CASES:
        if conn.target == "server" and not on_server:
            continue  # the 18.16 server has no such type
        sql = select(ctype, exprs, 5)
        settings = {"max_block_size": 2}
        await cur.execute(sql, settings=settings)
        rows = await cur.fetchall()
        for api, fetch in (("numpy", cur.fetchnumpy), ("numpy-object", lambda: cur.fetchnumpy(strings="object")),
                           ("pandas", cur.fetch_df), ("arrow", cur.fetch_arrow_table)):
            await cur.execute(sql, settings=settings)
            assert column_values(api, await fetch(), "c", ctype) == expected(rows, ctype, api), (ctype, api)


async def test_async_iteration_over_batches_and_blocks(conn):
    cur = conn.cursor()
    sql = "SELECT number AS n, toString(number) AS s FROM system.numbers LIMIT 10"
    await cur.execute(sql, settings={"max_block_size": 3})
    assert await cur.fetchone() == (0, "0")
    batches = [b async for b in cur.record_batches()]
    assert max(b.num_rows for b in batches) <= 3
    assert pa.Table.from_batches(batches).column("s").to_pylist() == [str(i) for i in range(1, 10)]
    await cur.execute(sql, settings={"max_block_size": 3})
    blocks = [b async for b in cur.numpy_blocks()]
    assert np.concatenate([b["n"] for b in blocks]).tolist() == list(range(10))
    assert all(b["s"].dtype == np.dtypes.StringDType() for b in blocks)  # strings="str", the default
    assert np.concatenate([b["s"] for b in blocks]).tolist() == [str(i) for i in range(10)]
    await cur.execute(sql, settings={"max_block_size": 3})
    blocks = [b async for b in cur.numpy_blocks(strings="object")]
    assert all(b["s"].dtype == object for b in blocks)
    assert np.concatenate([b["s"] for b in blocks]).tolist() == [str(i) for i in range(10)]
    assert cur.rowcount == 10


async def test_empty_and_leaving_early(conn):
    cur = conn.cursor()
    await cur.execute("SELECT toInt16(1) AS a WHERE 0")
    assert (await cur.fetchnumpy())["a"].dtype == np.int16
    await cur.execute("SELECT number AS n FROM system.numbers LIMIT 100000", settings={"max_block_size": 10})
    async with contextlib.aclosing(cur.record_batches()) as batches:  # an async generator ends when closed
        async for _ in batches:
            break
    with pytest.raises(chd.ProgrammingError, match="ended early"):
        await cur.fetchall()
    await cur.execute("SELECT 1 AS one")
    assert canon((await cur.fetch_df())["one"].tolist()[0]) == 1


async def test_async_inserts_read_back(conn):
    import datetime
    import decimal

    cur = conn.cursor()
    await cur.execute("DROP TABLE IF EXISTS default.acolins")
    await cur.execute("CREATE TABLE default.acolins (i Int32, s Nullable(String), d Decimal(9, 2), "
                      "t DateTime('UTC')) ENGINE = Memory")
    t0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    data = {"i": np.array([1, 2], dtype=np.int32), "s": ["a", None],
            "d": [decimal.Decimal("1.25"), decimal.Decimal("-3")], "t": [t0, t0]}
    await cur.insert_columns("default.acolins", data)
    assert cur.rowcount == 2
    await cur.execute("SELECT * FROM default.acolins ORDER BY i")
    df = await cur.fetch_df()
    await cur.execute("TRUNCATE TABLE default.acolins")
    await cur.insert_df("default.acolins", df)
    await cur.execute("SELECT * FROM default.acolins ORDER BY i")
    table = await cur.fetch_arrow_table()
    await cur.execute("TRUNCATE TABLE default.acolins")
    await cur.insert_arrow("default.acolins", table)
    await cur.execute("SELECT i, s, d, toUnixTimestamp(t) FROM default.acolins ORDER BY i")
    assert await cur.fetchall() == [(1, "a", decimal.Decimal("1.25"), 1704067200),
                                    (2, None, decimal.Decimal("-3"), 1704067200)]
    with pytest.raises(chd.DataError, match="2147483648 is out of range for Int32"):
        await cur.insert_columns("default.acolins", {"i": [2 ** 31], "s": [None], "d": [0], "t": [t0]})
