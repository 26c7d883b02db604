"""The async twin of tests/test_native_insert.py: the async cursor's executemany()
sends the same Native body (the same steps generator) and stores, and refuses,
what the VALUES text stores and refuses."""
import datetime
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb

UTC = datetime.timezone.utc
TYPES = ["Int8", "UInt64", "Float32", "Float64", "String", "FixedString(3)", "Date", "DateTime",
         "DateTime('Europe/Berlin')", "UUID", "Nullable(Int32)", "Nullable(String)"]
U = uuid.UUID("e3e70682-c209-4cac-629f-6fbed82c07cd")
GOOD = [
    (-128, 2 ** 64 - 1, 0.1, float("inf"), "x\x00\udcff", b"ab", datetime.date(1970, 1, 1),
     datetime.datetime(2105, 12, 31, 23, 59, 59), datetime.datetime(2020, 6, 1, 12), U, None, None),
    (127, 0, -0.0, 1e-310, b"\xff\x00", "abc", datetime.date(2105, 12, 31),
     datetime.datetime(2020, 1, 1, tzinfo=UTC), datetime.datetime(2020, 1, 1, tzinfo=UTC), U, -2 ** 31, "y"),
]
# each replaces the first row's value of its column: the refusal (or the fallback) is the same
BAD = [(0, 128), (1, -1), (6, datetime.date(1969, 12, 31)), (7, datetime.datetime(2020, 1, 1, 0, 0, 0, 5)),
       (8, datetime.datetime(2020, 3, 29, 2, 30)), (5, "abcd"), (10, 2 ** 31)]


async def outcome(cur, table, rows):
    await cur.execute(f"TRUNCATE TABLE {table}")
    cols = ", ".join(f"c{i}" for i in range(len(TYPES)))
    try:
        await cur.executemany(f"INSERT INTO {table} (id, {cols}) VALUES (%s{', %s' * len(TYPES)})",
                              [(i, *r) for i, r in enumerate(rows)])
    except chd.NotSupportedError:
        raise
    except chd.Error as e:
        return type(e).__name__, str(e) if getattr(e, "kind", None) == "client" else None
    await cur.execute(f"SELECT * FROM {table} ORDER BY id")
    return await cur.fetchall()


async def check(connect, table):
    native, values = [(await connect(insert_format=f)).cursor() for f in ("auto", "values")]
    await native.execute(f"DROP TABLE IF EXISTS {table}")
    await native.execute(f"CREATE TABLE {table} (id UInt32, {', '.join(f'c{i} {t}' for i, t in enumerate(TYPES))}) "
                         "ENGINE = Memory")
    assert await outcome(native, table, GOOD) == await outcome(values, table, GOOD)
    for col, bad in BAD:
        rows = [GOOD[0][:col] + (bad,) + GOOD[0][col + 1:], GOOD[1]]
        assert await outcome(native, table, rows) == await outcome(values, table, rows), (col, bad)
    strict = (await connect(insert_format="native")).cursor()
    await outcome(strict, table, GOOD)  # every value of GOOD goes as Native
    with pytest.raises(chd.NotSupportedError, match="insert_format='native'"):
        await outcome(strict, table, [GOOD[0][:8] + (datetime.datetime(2020, 3, 29, 2, 30),) + GOOD[0][9:]])


async def test_server_native_insert_stores_what_values_store(server_params, scratch_db):
    async def connect(**kw):
        return await chd.connect_async(**server_params, pool_name="native-" + scratch_db, **kw)

    await check(connect, f"{scratch_db}.n")


@requires_chdb
async def test_embedded_native_insert_stores_what_values_store():
    async def connect(**kw):
        return await chd.connect_async(embedded=EMBEDDED, **kw)

    await check(connect, "default.async_native_insert")
